/**
 * LocalRunner in a data folder (its working directory): job.json names the folder's files relative to it and the
 * trainer runs there, so a trainer keeps working while its folder is renamed, and a runner on the new location
 * adopts it; a runner on another folder (a copy) does not. With the stand-in trainer (fixtures/fake-worker.mjs).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalRunner } from '../../src/factory/local-runner.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';
import { specFor } from './repository-suite.ts';

const FAKE = fileURLToPath(new URL('./fixtures/fake-worker.mjs', import.meta.url));
const runner = (cwd: string) => new LocalRunner({ entry: FAKE, nodeArgs: [], env: { FAKE_MODE: 'wait' }, cwd, pollMs: 20 });
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const waitFor = async (f: () => boolean) => { for (let i = 0; i < 400 && !f(); i++) await new Promise((r) => setTimeout(r, 25)); };

test('a trainer in a data folder: job.json relative to it, adopted after the folder is renamed, not from a copy', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mf-runner-move-'));
  dirs.push(tmp);
  const first = join(tmp, 'first'), moved = join(tmp, 'moved'), other = join(tmp, 'other');
  mkdirSync(first);
  mkdirSync(other);
  const outside = join(tmp, 'base.gguf');
  const spec = (root: string): JobSpec => ({
    ...specFor('ftjob-m', join(root, 'jobs', 'ftjob-m')),
    base: { kind: 'gguf', path: outside },
    data: { train: { path: join(root, 'jobs', 'ftjob-m', 'data', 'train.jsonl'), kind: 'sft' } },
  });
  const h = runner(first).start(spec(first));
  const jobJson = JSON.parse(readFileSync(join(first, 'jobs', 'ftjob-m', 'job.json'), 'utf8')) as JobSpec;
  assert.equal(jobJson.outputDir, 'jobs/ftjob-m');
  assert.equal(jobJson.data.train.path, 'jobs/ftjob-m/data/train.jsonl');
  assert.deepEqual(jobJson.base, { kind: 'gguf', path: outside }, 'a path outside the folder stays absolute');
  // the trainer read its relative job.json from the folder it runs in
  await waitFor(() => { try { return readFileSync(join(first, 'jobs', 'ftjob-m', 'worker.log'), 'utf8').includes('"id":"ftjob-m"'); } catch { return false; } });
  const said = JSON.parse(readFileSync(join(first, 'jobs', 'ftjob-m', 'worker.log'), 'utf8').split('\n')[1]);
  assert.deepEqual(said.argv, ['jobs/ftjob-m/job.json']);

  renameSync(first, moved);
  assert.equal(runner(other).adopt(spec(other), h.ref), null, 'a runner on another folder does not take the trainer');
  const adopted = runner(moved).adopt(spec(moved), h.ref);
  assert.ok(adopted, 'the runner on the new location adopts the trainer running there');
  assert.equal(adopted.pid, h.pid);
  adopted.stop();
  assert.deepEqual(await h.exited, { code: 3, signal: null });
  assert.deepEqual(await adopted.exited, { code: null, signal: null });
});
