#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) with Node's own test runner, TypeScript through tsx.
// Node 20's runner does not discover .ts files itself, so this script lists them.
// Usage: node scripts/run-tests.mjs [filter...]   (a filter keeps files whose path contains it)
// Files run two at a time (MODELFAB_TEST_CONCURRENCY sets it): most wait on servers, trainers and clusters rather
// than compute, and Node's default on a 2-core machine is one.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = walk(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) { console.error('no test files matched'); process.exit(1); }
const concurrency = Number(process.env.MODELFAB_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) { console.error(`MODELFAB_TEST_CONCURRENCY=${process.env.MODELFAB_TEST_CONCURRENCY}: expected a whole number, 1 or more`); process.exit(2); }
const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files.map((f) => relative(root, f))];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
