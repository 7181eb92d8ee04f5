// The import rule of ARCHITECTURE.md, checked over the real tree: layers.json lists the layers left to right and
// a file under src/ may import only from its own layer or one to its left. Also keeps every folder listed and
// every code file name unique under src/ (one name, one file: a name found in a log or a stack is unambiguous).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import {
  duplicateNames, findViolations, formatViolation, layerIndex, readImports, targetFolder, unlistedFolders,
} from './import-graph.ts';

const root = new URL('../../', import.meta.url).pathname;
const srcDir = join(root, 'src');
const CODE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function readLayers(): string[][] {
  const parsed = JSON.parse(readFileSync(join(root, 'layers.json'), 'utf8')) as { layers?: unknown };
  assert.ok(Array.isArray(parsed.layers) && parsed.layers.every((l) => Array.isArray(l) && l.every((f) => typeof f === 'string')),
    'layers.json: "layers" is a list of lists of folder names');
  return parsed.layers as string[][];
}

const sourceFiles = new Map<string, string>();
for (const path of walk(srcDir)) {
  if (CODE.test(path)) sourceFiles.set(relative(srcDir, path).split(sep).join('/'), readFileSync(path, 'utf8'));
}

test('every import under src/ goes to its own layer or one to its left', () => {
  const violations = findViolations(sourceFiles, readLayers());
  assert.deepEqual(violations.map(formatViolation), []);
});

test('every folder under src/ is in layers.json', () => {
  const folders = readdirSync(srcDir).filter((name) => statSync(join(srcDir, name)).isDirectory());
  const files = [...sourceFiles.keys(), ...folders.map((f) => `${f}/.`)];
  assert.deepEqual(unlistedFolders(files, readLayers()), []);
});

test('no two code files under src/ share a file name', () => {
  const dups = [...duplicateNames(sourceFiles.keys())].map(([name, paths]) => `${name}: ${paths.join(', ')}`);
  assert.deepEqual(dups, []);
});

// The checker itself, on examples whose answer is known: without these the tests above could pass by reading
// nothing.
const LAYERS = [['util'], ['formats', 'openai'], ['engine'], ['api']];

test('checker: a wrong-way import is named with file, line and both folders', () => {
  const files = new Map([
    ['formats/gguf.ts', "import { x } from '../util/x.ts';\n\nimport { LlamaModel } from '../engine/model.ts';\n"],
    ['engine/model.ts', "import { readGguf } from '../formats/gguf.ts';\n"],
  ]);
  const violations = findViolations(files, LAYERS);
  assert.deepEqual(violations, [{ file: 'formats/gguf.ts', line: 3, from: 'formats', to: 'engine', specifier: '../engine/model.ts' }]);
  assert.equal(formatViolation(violations[0]!),
    "src/formats/gguf.ts:3: formats/ imports engine/ ('../engine/model.ts'), but engine/ is not to the left of formats/");
  // peers of one layer import neither way
  const peers = findViolations(new Map([['openai/wire.ts', "import { h } from '../formats/half.ts';\n"]]), LAYERS);
  assert.deepEqual(peers.map((v) => `${v.from}->${v.to}`), ['openai->formats']);
});

test('checker: every kind of import counts; comments and strings do not', () => {
  const text = [
    "import type { A } from '../api/a.ts';",
    "export { b } from '../api/b.ts';",
    "export * from '../api/c.ts';",
    "const d = await import('../api/d.ts');",
    "type E = import('../api/e.ts').E;",
    "const w = new URL('../api/worker.mjs', import.meta.url);",
    "// import { z } from '../api/z.ts';",
    "const s = \"import { y } from '../api/y.ts'\";",
    "const u = new URL('../api/not-a-module', 'https://example.com/');",
    "import { join } from 'node:path';",
    "import { local } from './same.ts';",
  ].join('\n');
  const refs = readImports('engine/x.ts', text);
  assert.deepEqual(refs.map((r) => [r.kind, r.line]), [
    ['import', 1], ['export', 2], ['export', 3], ['dynamic', 4], ['type', 5], ['url', 6], ['import', 10], ['import', 11],
  ]);
  const violations = findViolations(new Map([['engine/x.ts', text]]), LAYERS);
  assert.deepEqual(violations.map((v) => v.line), [1, 2, 3, 4, 5, 6]);
});

test('checker: resolving specifiers to folders', () => {
  assert.equal(targetFolder('engine/ops/basic.ts', '../../formats/half.ts'), 'formats');
  assert.equal(targetFolder('engine/ops/basic.ts', '../tensor.ts'), 'engine');
  assert.equal(targetFolder('engine/gemm/native.ts', '../../../build/Release/gemm.node'), undefined);
  assert.equal(targetFolder('engine/model.ts', 'node:fs'), undefined);
  assert.equal(targetFolder('engine/model.ts', 'kysely'), undefined);
  assert.equal(targetFolder('main.ts', './engine/model.ts'), 'engine');
});

test('checker: unlisted folders, a folder listed twice, duplicate names', () => {
  assert.deepEqual(unlistedFolders(['engine/a.ts', 'newstage/b.ts', 'top.ts'], LAYERS), ['(src/ itself)', 'newstage']);
  assert.throws(() => layerIndex([['engine'], ['engine']]), /engine twice/);
  assert.deepEqual([...duplicateNames(['engine/model.ts', 'serve/model.ts', 'serve/gateway.ts'])],
    [['model.ts', ['engine/model.ts', 'serve/model.ts']]]);
  // an import of a folder no layer lists is a violation too: the rule cannot place it
  assert.equal(findViolations(new Map([['engine/a.ts', "import '../newstage/b.ts';"]]), LAYERS).length, 1);
});
