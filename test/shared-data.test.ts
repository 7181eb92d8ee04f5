/**
 * Tests that read the shared data (../shared/data) skip visibly when it is missing: every file that takes its options
 * from `needsShared` is run against an empty shared folder and must pass with skips that name the missing files,
 * never fail for want of data and never run on a substitute. No other test file builds a path into the shared
 * folder itself. A test file counts as reading the shared data when it imports shared-data.ts, or a helper that makes
 * paths into it with `shared(...)` (test/bots/fixtures.ts, test/knowledge/quality.ts): a test that reads a helper's
 * path without taking `needsShared` options crashes in the run below.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { missingShared, needsShared, shared, SHARED_DATA } from './shared-data.ts';

const ROOT = join(import.meta.dirname, '..');

function walk(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : /\.tsx?$/.test(name) ? [p] : [];
  });
}
const sources = walk(join(ROOT, 'test')).map((p) => ({ rel: relative(ROOT, p), text: readFileSync(p, 'utf8') }));
const importsShared = (text: string) => /from '(\.\.?\/)+shared-data\.ts'/.test(text);
/** The files under test/ that a source imports by a relative path, as paths relative to the repository root. */
const importsOf = (s: { rel: string; text: string }) => [...s.text.matchAll(/from '(\.\.?\/[^']+\.tsx?)'/g)].map((m) => relative(ROOT, join(ROOT, dirname(s.rel), m[1]!)));
// helpers (not tests themselves) that make paths into the shared data for the tests that import them
const helpers = new Set(sources.filter((s) => !s.rel.endsWith('.test.ts') && !s.rel.startsWith('test/shared-data.') && importsShared(s.text) && /\bshared\(/.test(s.text)).map((s) => s.rel));
const readers = sources.filter((s) => s.rel.endsWith('.test.ts') && s.rel !== 'test/shared-data.test.ts' && (importsShared(s.text) || importsOf(s).some((f) => helpers.has(f))));

test('needsShared names every missing file and nothing when all are there', () => {
  assert.deepEqual(missingShared('no/such-file.md', 'no/other.json'), ['no/such-file.md', 'no/other.json']);
  const opts = needsShared('no/such-file.md');
  assert.match(opts.skip!, /^missing shared data: /);
  assert.ok(opts.skip!.includes(shared('no/such-file.md')), opts.skip);
  assert.deepEqual(needsShared(), {});
  assert.equal(shared('laws/x.md'), join(SHARED_DATA, 'laws', 'x.md'));
});

test('no test file builds its own path into the shared data folder', () => {
  const own = sources.filter((s) => !s.rel.startsWith('test/shared-data.') && /shared\/data|'shared', 'data'/.test(s.text.replace(/^\s*(\*|\/\/).*$/gm, '')));
  assert.deepEqual(own.map((s) => s.rel), []);
  assert.ok(readers.some((s) => s.rel === 'test/engine/tokenizer.test.ts'), 'the tokenizer tests read the shared texts through needsShared');
});

test('the statutes\' helpers make their paths with shared(...), so every test that imports them is run without the data', () => {
  assert.ok(helpers.has('test/bots/fixtures.ts') && helpers.has('test/knowledge/quality.ts'), `helpers found: ${[...helpers].join(', ')}`);
  const users = new Set(sources.filter((s) => importsOf(s).some((f) => helpers.has(f))).map((s) => s.rel));
  const run = new Set(readers.map((r) => r.rel));
  for (const f of ['bots/api', 'bots/bot-service', 'bots/filter', 'bots/extract', 'knowledge/ingest', 'knowledge/knowledge-service', 'knowledge/lexicon-sources', 'knowledge/attribution', 'knowledge/search-quality'].map((n) => `test/${n}.test.ts`)) {
    assert.ok(users.has(f) && run.has(f), `${f} reads a statute through a helper and is run without the shared data`);
  }
});

function run(file: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('without the shared data every test that needs it is skipped, naming the file; nothing fails', { timeout: 600_000 }, async () => {
  assert.ok(readers.length >= 10, `test files that read the shared data: ${readers.map((r) => r.rel).join(', ')}`);
  const empty = mkdtempSync(join(tmpdir(), 'mf-noshared-'));
  const env: NodeJS.ProcessEnv = { ...process.env, MODELFAB_SHARED_DATA: empty };
  delete env.MODELFAB_BENCH_DATA;
  delete env.NODE_TEST_CONTEXT; // run as a test process of its own, not as a child of this one
  try {
    const failures: string[] = [];
    const queue = readers.map((r) => r.rel);
    // two at a time: each file is its own process
    await Promise.all([0, 1].map(async () => {
      for (let file = queue.shift(); file; file = queue.shift()) {
        const { code, out } = await run(file, env);
        const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(out)?.[1] ?? NaN);
        const skipped = out.split('\n').filter((l) => / # SKIP /.test(l));
        if (code !== 0 || count('fail') !== 0) failures.push(`${file}: exit ${code}, ${count('fail')} failed\n${out.slice(-3000)}`);
        else if (count('skip') < 1 || skipped.length < 1) failures.push(`${file}: nothing skipped without the shared data`);
        else if (!skipped.every((l) => l.includes('missing') && l.includes(empty))) failures.push(`${file}: a skip that does not name the missing file: ${skipped.find((l) => !l.includes(empty))}`);
      }
    }));
    assert.deepEqual(failures, []);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
