#!/usr/bin/env node
// Runs the Python tests (pytest over trainers/torch/tests) with the torch trainer's virtual environment:
// $MODELFAB_TORCH_PYTHON, else .venv-torch/bin/python (made by scripts/setup-test-env.sh).
// Without that environment the tests are skipped with one line saying how to get it, except where
// MODELFAB_REQUIRE_PYTHON_TESTS=1 (CI), where a missing environment is an error.
// Usage: node scripts/run-python-tests.mjs [pytest args...]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const python = process.env.MODELFAB_TORCH_PYTHON || join(root, '.venv-torch', 'bin', 'python');
if (!existsSync(python)) {
  const msg = `python tests: no trainer environment at ${python} (bash scripts/setup-test-env.sh creates it)`;
  if (process.env.MODELFAB_REQUIRE_PYTHON_TESTS === '1') { console.error(`${msg}: required here`); process.exit(1); }
  console.log(`# ${msg}: skipped`);
  process.exit(0);
}
const args = ['-m', 'pytest', '-q', join(root, 'trainers', 'torch', 'tests'), ...process.argv.slice(2)];
const r = spawnSync(python, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
