/**
 * The Ray runner, against a real Ray head (scripts/ray-head.sh: PyPI's ray, started by scripts/setup-test-env.sh):
 * the entrypoint it hands Ray; the Runner conformance suite (start, exit codes, stop, adoption by a second runner);
 * and a job of the factory trained as a Ray job. Skipped where no head answers, except under MODELFAB_REQUIRE_RAY=1
 * (CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RayRunner, rayEntrypoint, rayExit } from '../../src/factory/ray-runner.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';
import { createServer } from '../../src/api/server.ts';
import { tinyBaseAndData } from './server-helpers.ts';
import { FAKE_WORKER, runnerSuite } from './runner-suite.ts';

const ADDRESS = process.env.MODELFAB_RAY_ADDRESS ?? 'http://127.0.0.1:8265';
const up = await fetch(`${ADDRESS}/api/version`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
const noRay = up || process.env.MODELFAB_REQUIRE_RAY === '1' ? undefined : `no Ray head answers at ${ADDRESS} (bash scripts/ray-head.sh starts one)`;

const spec = (over: Partial<JobSpec> = {}): JobSpec => ({
  version: 1, id: 'ftjob-r1', name: 'x', stage: 'sft', base: { kind: 'engine', path: 'models/tiny' }, method: { type: 'full' },
  data: { train: { path: 'data/t.jsonl', kind: 'sft' } }, hyperparameters: { batchSize: 2, lr: 1e-3, seqLen: 32 }, seed: 0,
  outputDir: 'jobs/ftjob-r1', threads: 2, ...over,
});

test('the entrypoint: into the shared folder, threads pinned, the trainer exec\'d with its output in worker.log', () => {
  const e = rayEntrypoint(spec({ trainer: 'torch' }), { cwd: '/cluster/modelfab', torchPython: '/opt/venv/bin/python', env: { HF_HOME: '/cluster/hf cache' } }, 'modelfab-ftjob-r1-x');
  assert.equal(e, "cd /cluster/modelfab && echo \"--- $(date -Is) modelfab ray runner: starting the worker for ftjob-r1 as Ray job modelfab-ftjob-r1-x on $(hostname)\" >> /cluster/modelfab/jobs/ftjob-r1/worker.log"
    + " && exec env OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 HF_HOME='/cluster/hf cache' /opt/venv/bin/python -m modelfab_torch jobs/ftjob-r1/job.json >> /cluster/modelfab/jobs/ftjob-r1/worker.log 2>&1");
  assert.deepEqual(rayExit({ status: 'FAILED', driver_exit_code: 2 }), { code: 2, signal: null });
  assert.deepEqual(rayExit({ status: 'SUCCEEDED' }), { code: 0, signal: null });
  assert.deepEqual(rayExit({ status: 'STOPPED' }), { code: null, signal: 'SIGTERM' });
  assert.deepEqual(rayExit(null), { code: null, signal: null });
  assert.throws(() => new RayRunner({ address: 'file:///etc/passwd' }), /must be http/);
});

runnerSuite({
  name: 'ray', skip: noRay, make: (mode, cwd) => new RayRunner({ address: ADDRESS, cwd, entry: FAKE_WORKER, nodeArgs: [], env: { FAKE_MODE: mode }, pollMs: 200 }),
  // Ray keeps no exit code for a run it stopped: SIGTERM, and the trainer's last event tells the rest (runners.ts)
  stopped: { code: null, signal: 'SIGTERM' }, killed: { code: null, signal: 'SIGTERM' }, adoptedExit: { code: null, signal: 'SIGTERM' },
});

test('a factory job trained as a Ray job', { skip: noRay, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-ray-'));
  const srv = await createServer({ dataDir: dir, adminKey: 'sk-mf-ray-test-key-0123456789abcdef', factory: { runner: new RayRunner({ address: ADDRESS, cwd: dir, pollMs: 300 }) } });
  try {
    await tinyBaseAndData(srv, dir, 12);
    const job = await srv.factory.factory.createJob({ model: 'tiny', dataset: 'qa' }, { hyperparameters: { maxSteps: 20, seqLen: 64, checkpointEvery: 10 } });
    const done = await srv.factory.scheduler.waitFor(job.id, undefined, 150_000);
    assert.equal(done.status, 'succeeded', `${done.error}\n${readFileSync(join(dir, 'jobs', job.id, 'worker.log'), 'utf8').slice(-1500)}`);
    assert.match(readFileSync(join(dir, 'jobs', job.id, 'worker.log'), 'utf8'), /as Ray job modelfab-/);
    const events = JSON.stringify((await srv.factory.factory.events(job.id, { limit: 100 })).data);
    assert.match(events, /ray:modelfab-/, 'the Ray submission id is recorded with the job');
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
