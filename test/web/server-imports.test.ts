/**
 * The console shares the server's types without bundling server code: every import or re-export in web/src/ that
 * reaches src/ is type-only (`import type` / `export type`), which the build erases. (The Vite config also stops a
 * build that would load a server module; this check is the fast one, without a build.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER = join(ROOT, 'src') + '/';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(n) ? [p] : [];
  });
}

/** Each `import … from '…'` / `export … from '…'` statement: whether it is type-only, and what it names. */
function moduleRefs(source: string): { typeOnly: boolean; spec: string }[] {
  const out: { typeOnly: boolean; spec: string }[] = [];
  for (const m of source.matchAll(/(?:^|[\n;])\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]/g)) out.push({ typeOnly: !!m[2], spec: m[4] });
  for (const m of source.matchAll(/(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]/g)) out.push({ typeOnly: false, spec: m[1] });
  for (const m of source.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ typeOnly: false, spec: m[1] });
  return out;
}

test('server-imports: the parser tells type-only imports from value imports', () => {
  const refs = moduleRefs("import type { A } from '../x.ts';\nimport { b, type C } from \"../y\";\nexport type { D } from '../z';\nexport { e } from '../w';\nimport '../side';\nconst f = import('../lazy');");
  assert.deepEqual(refs.map((r) => `${r.typeOnly ? 'type' : 'value'} ${r.spec}`).sort(),
    ['type ../x.ts', 'type ../z', 'value ../lazy', 'value ../side', 'value ../w', 'value ../y'].sort());
});

test('server-imports: web/src reaches src/ only through type-only imports', () => {
  const bad: string[] = [];
  let typed = 0;
  for (const f of files(join(ROOT, 'web/src'))) {
    for (const r of moduleRefs(readFileSync(f, 'utf8'))) {
      if (!r.spec.startsWith('.')) continue;
      if (!resolve(dirname(f), r.spec).startsWith(SERVER)) continue;
      if (r.typeOnly) typed++;
      else bad.push(`${relative(ROOT, f)}: ${r.spec}`);
    }
  }
  assert.deepEqual(bad, [], 'value imports of server modules (use import type)');
  assert.ok(typed > 5, `only ${typed} type-only imports from src/: the console should take its API shapes from there`);
});
