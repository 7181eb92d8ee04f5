#!/usr/bin/env node
// Builds the web console (type-check, then Vite) into dist/web/. `--if-possible` (npm install) turns a failure into
// one line, so installing modelfab never fails because of the console; `npm run build:web` fails loudly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const soft = process.argv.includes('--if-possible');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (p) => fileURLToPath(new URL(`../node_modules/${p}`, import.meta.url));
function fail(msg) {
  if (soft) { console.log(`modelfab: web console not built (${msg}); the API works without it; retry with npm run build:web`); process.exit(0); }
  console.error(`build:web: ${msg}`);
  process.exit(1);
}
if (!existsSync(bin('vite/bin/vite.js')) || !existsSync(bin('typescript/bin/tsc'))) fail('vite or typescript is not installed (npm install --include=dev)');
const run = (args) => spawnSync(process.execPath, args, { cwd: root, stdio: soft ? 'pipe' : 'inherit', encoding: 'utf8' });
const tsc = run([bin('typescript/bin/tsc'), '-p', 'web/tsconfig.json']);
if (tsc.status !== 0) fail(`type errors${soft ? `: ${(tsc.stdout || '').split('\n')[0]}` : ''}`);
const vite = run([bin('vite/bin/vite.js'), 'build', '--config', 'web/vite.config.ts']);
if (vite.status !== 0) fail(`vite build failed${soft ? `: ${((vite.stderr || '') + (vite.stdout || '')).trim().split('\n')[0]}` : ''}`);
if (!soft) console.log('web console built into dist/web/ (served by modelfab serve at /)');
