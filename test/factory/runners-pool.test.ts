/**
 * Several runners at once: the scheduler places each job on a runner that fits (the same placement functions as
 * one machine), a job bound to a runner runs there, unknown runners are refused; the runners file's checks.
 * Two runners with different capacities stand in for "this machine and a cluster" (no cluster here).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryJobRepository } from '../../src/factory/job-repository.ts';
import { Scheduler, SchedulerError } from '../../src/factory/scheduler.ts';
import { buildRunners, named, parseRunnersFile } from '../../src/factory/runners-file.ts';
import type { PlacingRunner, RefRunHandle, RunExit } from '../../src/factory/runners.ts';
import type { Placement } from '../../src/factory/resources.ts';
import type { JobSpec, Resources } from '../../src/factory/job-spec.ts';
import { specFor } from './repository-suite.ts';

const root = mkdtempSync(join(tmpdir(), 'mf-pool-'));
after(() => rmSync(root, { recursive: true, force: true }));

class CountingRunner implements PlacingRunner {
  readonly started: Array<{ id: string; placement?: Placement }> = [];
  constructor(readonly name: string, private readonly cap: Resources) {}
  capacity(): Resources { return this.cap; }
  start(spec: JobSpec, placement?: Placement): RefRunHandle {
    this.started.push({ id: spec.id, placement });
    return { jobId: spec.id, ref: `${this.name}:${spec.id}`, exited: new Promise<RunExit>(() => {}), stop: () => {} };
  }
}

test('several runners: jobs go where they fit, bound jobs where they are bound, unknown runners are refused', async () => {
  const small = new CountingRunner('here', { cpuThreads: 2, memoryMB: 4000 });
  const big = new CountingRunner('cluster', { cpuThreads: 16, memoryMB: 64000, gpus: 2, gpuMemoryMB: 24000 });
  const s = new Scheduler({ repository: new MemoryJobRepository(), runners: [small, big], defaultMemoryMB: 100 });
  const spec = (id: string, threads = 1) => ({ ...specFor(id, join(root, id)), threads });
  assert.deepEqual(s.runnerNames(), ['here', 'cluster']);
  assert.deepEqual(s.capacity(), { cpuThreads: 16, memoryMB: 64000, gpus: 2, gpuMemoryMB: 24000 });
  await s.submit(spec('wide', 8));
  await s.submit(spec('gpu'), { estimate: { gpus: 1 } });
  await s.submit(spec('pinned'), { runner: 'cluster' });
  await s.submit(spec('tiny'));
  await assert.rejects(s.submit(spec('nowhere'), { runner: 'mars' }), (e: unknown) => e instanceof SchedulerError && /unknown runner "mars"; this server has here, cluster/.test(e.message));
  await assert.rejects(s.submit(spec('too-wide-here', 8), { runner: 'here' }), /8 CPU threads; the runner offers 2/);
  await s.tick();
  assert.deepEqual(big.started.map((x) => x.id), ['wide', 'gpu', 'pinned']);
  assert.deepEqual(small.started.map((x) => x.id), ['tiny'], 'the CPU job prefers the runner without GPUs');
  assert.equal((await s.get('pinned'))!.runner, 'cluster');
  assert.equal((await s.get('tiny'))!.workerRef, 'here:tiny');
});

test('parseRunnersFile: names every bad field with the file; buildRunners names each runner', () => {
  assert.throws(() => parseRunnersFile('{', 'r.json'), /^Error: r\.json: not JSON/);
  assert.throws(() => parseRunnersFile('{"runners": []}', 'r.json'), /at least one runner/);
  const bad = JSON.stringify({ runners: [
    { name: 'a', kind: 'local', gpus: -1 }, { name: 'a', kind: 'slurm', partiton: 'gpu' }, { name: 'r', kind: 'ray', address: 'file:///etc' }, { name: 'k', kind: 'kube' },
  ] });
  assert.throws(() => parseRunnersFile(bad, 'r.json'), (e: Error) =>
    /r\.json: 5 problems/.test(e.message) && /runners\[0\]\.gpus: must be an integer >= 0/.test(e.message) && /runners\[1\]\.name: a is already/.test(e.message) &&
    /runners\[1\]\.partiton: unknown key for a slurm runner/.test(e.message) && /runners\[2\]\.address: must be the head's http/.test(e.message) && /runners\[3\]\.kind: must be local, slurm, ray or kubernetes/.test(e.message));
  const cfg = parseRunnersFile(JSON.stringify({ runners: [{ name: 'here', kind: 'local', cpu_threads: 3, memory_mb: 1000 }, { name: 'gpu-part', kind: 'slurm', partition: 'gpu', gpus: 8, gpu_memory_mb: 80000, cpu_threads: 64, memory_mb: 500000, time_minutes: 60 }] }), 'r.json');
  assert.deepEqual(cfg[1], { name: 'gpu-part', kind: 'slurm', partition: 'gpu', gpus: 8, gpuMemoryMB: 80000, cpuThreads: 64, memoryMB: 500000, timeMinutes: 60 });
  const runners = buildRunners(cfg, root);
  assert.deepEqual(runners.map((r) => r.name), ['here', 'gpu-part']);
  assert.deepEqual(runners[0].capacity(), { cpuThreads: 3, memoryMB: 1000, gpus: 0, gpuMemoryMB: 0 });
  assert.equal(typeof (runners[0] as { adopt?: unknown }).adopt, 'function', 'a renamed local runner still adopts');
  const plain = new CountingRunner('x', { cpuThreads: 1, memoryMB: 1 });
  assert.equal((named(plain, 'y') as { adopt?: unknown }).adopt, undefined, 'and a runner that cannot adopt does not pretend to');
});
