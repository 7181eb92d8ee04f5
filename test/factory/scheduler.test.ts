/**
 * Scheduler unit tests over a fake runner (no processes): queue order, placement never above capacity, backfill
 * and reservation, cancel/pause/resume, exit outcomes, lost workers and attempt limits, recovery (adopt, requeue,
 * finish from files, held leases, heartbeats), metrics events and overhead figures.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryJobRepository, type JobRecord } from '../../src/factory/job-repository.ts';
import { Scheduler, SchedulerError, fairOrder, type SchedulerOptions } from '../../src/factory/scheduler.ts';
import type { AdoptingRunner, PlacingRunner, RefRunHandle, RunExit } from '../../src/factory/runners.ts';
import type { Placement } from '../../src/factory/resources.ts';
import type { JobSpec, JobStatus, Resources, Runner } from '../../src/factory/job-spec.ts';
import type { MetricsRecord } from '../../src/engine/metrics-log.ts';
import { specFor } from './repository-suite.ts';
import { readThreadGrant, shareIdle, ThreadGrantReader, writeThreadGrant } from '../../src/factory/thread-grant.ts';
import type { Coordination } from '../../src/store/coordination.ts';

const root = mkdtempSync(join(tmpdir(), 'mf-sched-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function spec(id: string, threads = 1): JobSpec {
  return { ...specFor(id, join(root, `${++n}-${id}`)), threads };
}

class FakeHandle implements RefRunHandle {
  readonly ref: string;
  readonly exited: Promise<RunExit>;
  readonly stops: boolean[] = [];
  private resolveExit!: (e: RunExit) => void;
  done = false;
  constructor(readonly jobId: string, readonly spec: JobSpec, readonly placement: Placement | undefined, private readonly runner: FakeRunner, ref?: string) {
    this.ref = ref ?? `fake:${jobId}:${runner.started.length}`;
    this.exited = new Promise((r) => { this.resolveExit = r; });
  }
  stop(force = false): void {
    this.stops.push(force);
    if (force) this.exit(null, 'SIGKILL');
    else if (this.runner.honourSigterm) this.exit(3);
  }
  exit(code: number | null, signal: string | null = null): void {
    if (this.done) return;
    this.done = true;
    mkdirSync(this.spec.outputDir, { recursive: true });
    if (code === 0) writeFileSync(join(this.spec.outputDir, 'manifest.json'), '{"status":"succeeded"}');
    if (code === 1) appendFileSync(join(this.spec.outputDir, 'events.jsonl'), JSON.stringify({ level: 'error', message: 'boom' }) + '\n');
    if (code === 3) appendFileSync(join(this.spec.outputDir, 'events.jsonl'), JSON.stringify({ level: 'info', message: 'stopped at step 5; checkpoint written' }) + '\n');
    this.runner.live.delete(this);
    this.resolveExit({ code, signal });
  }
}

class FakeRunner implements PlacingRunner, AdoptingRunner {
  readonly name = 'fake';
  readonly started: FakeHandle[] = [];
  readonly live = new Set<FakeHandle>();
  /** Trainers of an earlier server still running, by job id. */
  readonly orphans = new Map<string, FakeHandle>();
  honourSigterm = true;
  constructor(public cap: Resources) {}
  capacity(): Resources { return this.cap; }
  start(s: JobSpec, placement?: Placement): FakeHandle {
    const h = new FakeHandle(s.id, s, placement, this);
    this.started.push(h);
    this.live.add(h);
    return h;
  }
  adopt(s: JobSpec): FakeHandle | null {
    const h = this.orphans.get(s.id);
    if (!h || h.done) return null;
    this.live.add(h);
    return h;
  }
  handle(id: string): FakeHandle {
    const h = [...this.live].find((x) => x.jobId === id);
    assert.ok(h, `no live worker for ${id}`);
    return h;
  }
  order(): string[] { return this.started.map((h) => h.jobId); }
}

/** A runner without adopt (like a future cluster runner before it learns to). */
class PlainRunner implements Runner {
  readonly name = 'fake';
  constructor(private readonly inner: FakeRunner) {}
  capacity(): Resources { return this.inner.capacity(); }
  start(s: JobSpec): RefRunHandle { return this.inner.start(s); }
}

function make(cap: Resources, opts: Partial<SchedulerOptions> = {}) {
  const repo = new MemoryJobRepository();
  const runner = new FakeRunner(cap);
  const s = new Scheduler({ repository: repo, runner, defaultMemoryMB: 100, ...opts });
  return { repo, runner, s };
}

/** Lets exits reach the scheduler and be applied. */
async function settle(s: Scheduler): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await s.flush();
}

async function status(s: Scheduler, id: string): Promise<JobStatus> {
  return (await s.get(id))!.status;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('fairOrder: priority first, then round-robin across experiments, then FIFO', () => {
  let seq = 0;
  const j = (id: string, priority: number, experimentId: string | null) => ({ id, priority, experimentId, seq: ++seq }) as JobRecord;
  const q = [j('a1', 0, 'A'), j('a2', 0, 'A'), j('a3', 0, 'A'), j('b1', 0, 'B'), j('hi', 5, 'A'), j('c1', 0, null), j('b2', 0, 'B')];
  assert.deepEqual(fairOrder(q).map((x) => x.id), ['hi', 'a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  // the experiment served most recently goes last in its round
  assert.deepEqual(fairOrder(q, new Map([['A', 2], ['B', 1]])).map((x) => x.id), ['hi', 'c1', 'b1', 'a1', 'b2', 'a2', 'a3']);
});

test('priorities: the highest priority starts first, FIFO within one', async () => {
  const { runner, s } = make({ cpuThreads: 1, memoryMB: 1000 });
  await s.submit(spec('low'), { priority: 0 });
  await s.submit(spec('high'), { priority: 10 });
  await s.submit(spec('mid1'), { priority: 5 });
  await s.submit(spec('mid2'), { priority: 5 });
  for (let i = 0; i < 4; i++) {
    await s.tick();
    runner.started.at(-1)!.exit(0);
    await settle(s);
  }
  assert.deepEqual(runner.order(), ['high', 'mid1', 'mid2', 'low']);
  for (const id of runner.order()) assert.equal(await status(s, id), 'succeeded');
});

test('fairness: experiments take turns; a late experiment is not stuck behind a long one', async () => {
  const { runner, s } = make({ cpuThreads: 1, memoryMB: 1000 });
  for (let i = 1; i <= 4; i++) await s.submit(spec(`a${i}`), { experimentId: 'A' });
  for (let i = 1; i <= 2; i++) await s.submit(spec(`b${i}`), { experimentId: 'B' });
  for (let i = 0; i < 6; i++) {
    await s.tick();
    runner.started.at(-1)!.exit(0);
    await settle(s);
  }
  assert.deepEqual(runner.order(), ['a1', 'b1', 'a2', 'b2', 'a3', 'a4']);
});

test('placement: threads, memory and GPU memory are never oversubscribed; every job runs', async () => {
  const cap: Resources = { cpuThreads: 4, memoryMB: 8000, gpus: 2, gpuMemoryMB: 16000 };
  const { repo, runner, s } = make(cap);
  let seed = 7;
  const rand = (k: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % k; };
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    const threads = 1 + rand(3);
    const gpu = rand(3) === 0 ? { gpus: 1 + rand(2), gpuMemoryMB: [0, 6000, 12000][rand(3)] } : {};
    const id = `j${i}`;
    ids.push(id);
    await s.submit(spec(id, threads), { estimate: { cpuThreads: threads, memoryMB: 500 + rand(4) * 1000, ...gpu }, experimentId: `e${rand(3)}`, priority: rand(2) });
  }
  let peakThreads = 0;
  for (let round = 0; round < 500 && runner.started.length < ids.length || runner.live.size > 0; round++) {
    await s.tick();
    const running = await repo.list({ status: 'running' });
    const sum = (f: (r: Resources) => number) => running.reduce((t, j) => t + f(j.estimate), 0);
    assert.ok(sum((r) => r.cpuThreads) <= cap.cpuThreads, 'threads oversubscribed');
    assert.ok(sum((r) => r.memoryMB) <= cap.memoryMB, 'memory oversubscribed');
    const perGpu = [0, 0];
    for (const j of running) {
      assert.equal(j.placement!.gpuIds.length, j.estimate.gpus ?? 0);
      for (const g of j.placement!.gpuIds) perGpu[g] += j.estimate.gpuMemoryMB || cap.gpuMemoryMB!;
    }
    assert.ok(perGpu.every((m) => m <= cap.gpuMemoryMB!), `GPU memory oversubscribed: ${perGpu}`);
    peakThreads = Math.max(peakThreads, sum((r) => r.cpuThreads));
    const live = [...runner.live];
    if (live.length) live[rand(live.length)].exit(0);
    await settle(s);
  }
  assert.equal(runner.started.length, ids.length);
  for (const id of ids) assert.equal(await status(s, id), 'succeeded');
  assert.equal(peakThreads, cap.cpuThreads, 'the cores were kept busy');
});

test('placement: backfill behind a blocked job, reservation after reserveAfterMs, no lower priority while a higher waits', async () => {
  {
    const { runner, s } = make({ cpuThreads: 4, memoryMB: 10000 });
    await s.submit(spec('first', 3));
    await s.tick();
    await s.submit(spec('big', 4));
    await s.submit(spec('small', 1));
    await s.tick();
    assert.deepEqual(runner.order(), ['first', 'small'], 'small backfills while big cannot fit');
  }
  {
    const { runner, s } = make({ cpuThreads: 4, memoryMB: 10000 }, { reserveAfterMs: 0 });
    await s.submit(spec('first', 3));
    await s.tick();
    await s.submit(spec('big', 4));
    await s.submit(spec('small', 1));
    await s.tick();
    assert.deepEqual(runner.order(), ['first'], 'big has waited long enough: it reserves the machine');
    runner.handle('first').exit(0);
    await settle(s);
    await s.tick();
    assert.deepEqual(runner.order(), ['first', 'big']);
  }
  {
    const { runner, s } = make({ cpuThreads: 4, memoryMB: 10000 });
    await s.submit(spec('first', 3));
    await s.tick();
    await s.submit(spec('urgent', 4), { priority: 9 });
    await s.submit(spec('later', 1), { priority: 0 });
    await s.tick();
    assert.deepEqual(runner.order(), ['first'], 'a lower priority does not pass a waiting higher one');
  }
});

test('submit refuses what can never run, invalid specs and duplicate ids', async () => {
  const { s } = make({ cpuThreads: 2, memoryMB: 1000 });
  await assert.rejects(s.submit(spec('wide', 3)), (e: unknown) => e instanceof SchedulerError && e.code === 'unplaceable' && /3 CPU threads/.test(e.message));
  await assert.rejects(s.submit(spec('gpu'), { estimate: { gpus: 1 } }), (e: unknown) => e instanceof SchedulerError && e.code === 'unplaceable');
  await assert.rejects(s.submit(spec('mem'), { estimate: { memoryMB: 5000 } }), /memory/);
  await assert.rejects(s.submit({ ...spec('x'), id: 'bad id/../' }), (e: unknown) => e instanceof SchedulerError && e.code === 'invalid');
  await s.submit(spec('dup'));
  await assert.rejects(s.submit(spec('dup')), (e: unknown) => e instanceof SchedulerError && e.code === 'conflict');
  const j = (await s.get('dup'))!;
  assert.equal(j.estimate.cpuThreads, 1);
  assert.equal(j.estimate.memoryMB, 100);
  assert.ok(j.spec.outputDir.startsWith('/'));
});

test('a preparer: work a job needs before placement runs outside the pass, its spec replaced; failed work fails the job', async () => {
  const { runner, s } = make({ cpuThreads: 2, memoryMB: 1000 });
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const calls: string[] = [];
  s.setPreparer((job) => (job.spec.name === 'needs' ? async () => { calls.push(job.id); await gate; return { ...job.spec, name: 'ready' }; }
    : job.spec.name === 'broken' ? async () => { throw new Error('the base cannot be converted'); } : null));
  await s.submit(spec('parent'));
  await s.submit({ ...spec('child'), name: 'needs' }, { after: ['parent'] });
  await s.submit({ ...spec('bad'), name: 'broken' });
  await s.tick();
  assert.deepEqual(runner.order(), ['parent']);
  assert.deepEqual(calls, [], 'not prepared while its dependency trains');
  runner.handle('parent').exit(0);
  await settle(s);
  await s.tick();
  await s.tick();
  assert.deepEqual(calls, ['child'], 'prepared once, however many passes run meanwhile');
  assert.deepEqual(runner.order(), ['parent'], 'not placed before its work is done');
  release();
  await sleep(20);
  await settle(s);
  await s.tick();
  assert.deepEqual(runner.order(), ['parent', 'child']);
  assert.equal(runner.handle('child').spec.name, 'ready', 'started with the prepared spec');
  const bad = (await s.get('bad'))!;
  assert.equal(bad.status, 'failed');
  assert.match(bad.error!, /could not be prepared: the base cannot be converted/);
});

test('dependencies: a job waits, without holding others up, until its dependencies succeed; a failed one cancels the chain', async () => {
  const { runner, s } = make({ cpuThreads: 2, memoryMB: 1000 });
  await s.submit(spec('base'));
  await s.submit(spec('ft1'), { after: ['base'] });
  await s.submit(spec('ft2'), { after: ['base'] });
  await s.submit(spec('other'));
  await s.tick();
  assert.deepEqual(runner.order(), ['base', 'other'], 'the waiting jobs are skipped, the one behind them starts');
  assert.deepEqual((await s.get('ft1'))!.dependsOn, ['base']);
  runner.handle('other').exit(0);
  await settle(s);
  await s.tick();
  assert.deepEqual(runner.order(), ['base', 'other'], 'a free core does not start a job whose base is still training');
  runner.handle('base').exit(0);
  await settle(s);
  await s.tick();
  assert.deepEqual(runner.order(), ['base', 'other', 'ft1', 'ft2']);

  // a dependency that fails cancels its dependents, and theirs, with the reason
  await s.submit(spec('sft'));
  await s.submit(spec('dpo'), { after: ['sft'] });
  await s.submit(spec('dpo2'), { after: ['dpo', 'ft1'] });
  runner.handle('ft1').exit(0);
  runner.handle('ft2').exit(0);
  await settle(s);
  await s.tick();
  runner.handle('sft').exit(1);
  await settle(s);
  await s.tick();
  await s.tick();
  const dpo = (await s.get('dpo'))!, dpo2 = (await s.get('dpo2'))!;
  assert.equal(dpo.status, 'cancelled');
  assert.match(dpo.error!, /its dependency sft .* failed/);
  assert.equal(dpo2.status, 'cancelled');
  assert.match(dpo2.error!, /its dependency dpo .* cancelled/);
  assert.ok(!runner.order().includes('dpo'));

  // cancelling a queued dependency cancels its dependents too; unknown or failed dependencies are refused at submit
  await s.submit(spec('p1'), { after: ['base'] });
  await s.submit(spec('blocker'));
  await s.submit(spec('p2'), { after: ['blocker'] });
  await s.cancel('blocker');
  await s.tick();
  assert.equal(await status(s, 'p2'), 'cancelled');
  await assert.rejects(s.submit(spec('x1'), { after: ['nope'] }), (e: unknown) => e instanceof SchedulerError && e.code === 'invalid' && /nope, which does not exist/.test(e.message));
  await assert.rejects(s.submit(spec('x2'), { after: ['sft'] }), /sft, which is failed/);
});

test('cancel: queued at once; running via SIGTERM; a cancelled job never starts; finished jobs refuse', async () => {
  const { runner, s } = make({ cpuThreads: 1, memoryMB: 1000 });
  const statuses: string[] = [];
  s.on('status', (id, st) => statuses.push(`${id}:${st}`));
  await s.submit(spec('run'));
  await s.submit(spec('wait'));
  await s.tick();
  assert.equal((await s.cancel('wait')).status, 'cancelled');
  const r = await s.cancel('run');
  assert.equal(r.status, 'running');
  assert.equal(r.stopRequest, 'cancel');
  assert.deepEqual(runner.started[0].stops, [false]);
  await settle(s);
  assert.equal(await status(s, 'run'), 'cancelled');
  assert.equal((await s.cancel('run')).status, 'cancelled', 'idempotent');
  await s.tick();
  assert.deepEqual(runner.order(), ['run']);
  assert.deepEqual(statuses, ['run:queued', 'wait:queued', 'run:running', 'wait:cancelled', 'run:cancelled']);
  await s.submit(spec('done'));
  await s.tick();
  runner.handle('done').exit(0);
  await settle(s);
  await assert.rejects(s.cancel('done'), (e: unknown) => e instanceof SchedulerError && e.code === 'conflict');
  await assert.rejects(s.cancel('missing'), (e: unknown) => e instanceof SchedulerError && e.code === 'not_found');
});

test('pause and resume: queued and running jobs; a worker that ignores SIGTERM is killed after the grace', async () => {
  const { runner, s } = make({ cpuThreads: 1, memoryMB: 1000 }, { pauseGraceMs: 30 });
  await s.submit(spec('q'), { priority: 0 });
  await s.submit(spec('r'), { priority: 1 });
  assert.equal((await s.pause('q')).status, 'paused');
  await s.tick();
  assert.deepEqual(runner.order(), ['r']);
  await s.pause('r');
  await settle(s);
  let r = (await s.get('r'))!;
  assert.equal(r.status, 'paused');
  assert.equal(r.attempts, 0);
  assert.equal(r.leaseOwner, null);
  await s.tick();
  assert.deepEqual(runner.order(), ['r'], 'paused jobs do not start');
  assert.equal((await s.resume('r')).status, 'queued');
  await s.tick();
  assert.deepEqual(runner.order(), ['r', 'r']);
  r = (await s.get('r'))!;
  assert.equal(r.runs, 2);
  // SIGTERM ignored (the engine's training loop is busy): SIGKILL after pauseGraceMs, still paused, no attempt used
  runner.honourSigterm = false;
  await s.pause('r');
  assert.deepEqual(runner.handle('r').stops, [false]);
  await sleep(80);
  await settle(s);
  r = (await s.get('r'))!;
  assert.equal(r.status, 'paused');
  assert.equal(r.attempts, 0);
  assert.deepEqual(runner.started[1].stops, [false, true]);
  await s.resume('r');
  await s.resume('q');
  await s.tick();
  runner.handle('r').exit(0);
  await settle(s);
  await s.tick();
  runner.handle('q').exit(0);
  await settle(s);
  assert.equal(await status(s, 'r'), 'succeeded');
  assert.equal(await status(s, 'q'), 'succeeded');
  await assert.rejects(s.pause('q'), /cannot be paused/);
  await assert.rejects(s.resume('q'), /cannot be resumed/);
});

test('resume while a pause is still pending keeps the job running', async () => {
  const { runner, s } = make({ cpuThreads: 1, memoryMB: 1000 }, { pauseGraceMs: 20 });
  runner.honourSigterm = false;
  await s.submit(spec('j'));
  await s.tick();
  await s.pause('j');
  const r = await s.resume('j');
  assert.equal(r.status, 'running');
  assert.equal(r.stopRequest, null);
  await sleep(50);
  assert.deepEqual(runner.handle('j').stops, [false], 'the SIGKILL was called off');
  runner.handle('j').exit(3); // the late SIGTERM took effect: requeued, no attempt
  await settle(s);
  const after = (await s.get('j'))!;
  assert.equal(after.status, 'queued');
  assert.equal(after.attempts, 0);
});

test('exit outcomes: 0 with manifest, 0 without, 1, 2, 3 unrequested', async () => {
  const { runner, s } = make({ cpuThreads: 8, memoryMB: 10000 });
  for (const id of ['ok', 'nomanifest', 'err', 'invalid', 'stopped']) await s.submit(spec(id));
  await s.tick();
  runner.handle('ok').exit(0);
  const h = runner.handle('nomanifest'); h.done = true; runner.live.delete(h); (h as unknown as { resolveExit: (e: RunExit) => void }).resolveExit({ code: 0, signal: null });
  runner.handle('err').exit(1);
  runner.handle('invalid').exit(2);
  runner.handle('stopped').exit(3);
  await settle(s);
  assert.equal(await status(s, 'ok'), 'succeeded');
  assert.match((await s.get('nomanifest'))!.error!, /without writing manifest/);
  assert.match((await s.get('err'))!.error!, /boom/);
  assert.equal(await status(s, 'invalid'), 'failed');
  const st = (await s.get('stopped'))!;
  assert.equal(st.status, 'queued');
  assert.equal(st.attempts, 0);
});

test('lost workers are requeued with attempts+1 and fail after maxAttempts with the reason', async () => {
  const { runner, s } = make({ cpuThreads: 1, memoryMB: 1000 }, { maxAttempts: 3 });
  await s.submit(spec('flaky'));
  for (let i = 1; i <= 3; i++) {
    await s.tick();
    runner.handle('flaky').exit(null, 'SIGKILL');
    await settle(s);
    const j = (await s.get('flaky'))!;
    assert.equal(j.attempts, i);
    assert.equal(j.status, i < 3 ? 'queued' : 'failed');
  }
  const j = (await s.get('flaky'))!;
  assert.match(j.error!, /gave up after 3 lost runs; last: worker killed by SIGKILL/);
  assert.equal(runner.started.length, 3);
  const events = await (s as unknown as { repo: MemoryJobRepository }).repo.events('flaky');
  assert.ok(events.some((e) => /requeued \(attempt 2 of 3\)/.test(e.message)));
});

/** A pid that is certainly dead: a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

async function seedRunning(repo: MemoryJobRepository, id: string, patch: Partial<JobRecord>, s: JobSpec = spec(id)): Promise<JobRecord> {
  await repo.create({ id, status: 'queued', priority: 0, experimentId: null, spec: s, estimate: { cpuThreads: 1, memoryMB: 100 } });
  return (await repo.update(id, { status: 'running', runs: 1, startedAt: Date.now(), runner: 'fake', workerRef: `fake:${id}`, placement: { gpuIds: [] }, ...patch }))!;
}

test('recover: adopts live orphans, requeues dead ones, finishes from files, respects live leases', async () => {
  const { repo, runner, s } = make({ cpuThreads: 8, memoryMB: 10000 }, { maxAttempts: 2 });
  const deadOwner = `${os.hostname()}/${deadPid()}/dead`;
  const future = Date.now() + 60_000;
  // a live orphan trainer of a dead server
  const aliveSpec = spec('alive');
  await seedRunning(repo, 'alive', { leaseOwner: deadOwner, leaseExpiresAt: future }, aliveSpec);
  runner.orphans.set('alive', new FakeHandle('alive', aliveSpec, undefined, runner, 'fake:alive'));
  // dead worker, dead server, lease still valid: requeued at once (the worker is gone)
  await seedRunning(repo, 'dead', { leaseOwner: deadOwner, leaseExpiresAt: future });
  // dead worker that had used its last attempt: fails
  await seedRunning(repo, 'last', { leaseOwner: deadOwner, leaseExpiresAt: future, attempts: 1 });
  // finished while the server was down
  const doneSpec = spec('done');
  await seedRunning(repo, 'done', { leaseOwner: deadOwner, leaseExpiresAt: future }, doneSpec);
  mkdirSync(doneSpec.outputDir, { recursive: true });
  writeFileSync(join(doneSpec.outputDir, 'manifest.json'), '{}');
  // was being paused when the server died
  await seedRunning(repo, 'pausing', { leaseOwner: deadOwner, leaseExpiresAt: future, stopRequest: 'pause' });
  // held by a scheduler on another host with a valid lease
  await seedRunning(repo, 'elsewhere', { leaseOwner: 'other-host/1/x', leaseExpiresAt: future });
  // held by a live process on this host (this test's parent process stands in for another server)
  await seedRunning(repo, 'livehost', { leaseOwner: `${os.hostname()}/${process.ppid}/x`, leaseExpiresAt: future });

  const report = await s.recover();
  assert.deepEqual(report, { adopted: ['alive'], requeued: ['dead', 'pausing'], finished: ['done'], failed: ['last'], held: ['elsewhere', 'livehost'] });
  const dead = (await s.get('dead'))!;
  assert.equal(dead.status, 'queued');
  assert.equal(dead.attempts, 1);
  assert.match(dead.error ?? (await repo.events('dead')).at(-1)!.message, /gone/);
  assert.equal(await status(s, 'pausing'), 'paused');
  assert.equal((await s.get('pausing'))!.attempts, 0);
  assert.match((await s.get('last'))!.error!, /gave up after 2 lost runs/);
  assert.equal(await status(s, 'done'), 'succeeded');
  const alive = (await s.get('alive'))!;
  assert.equal(alive.leaseOwner, s.owner);
  // held jobs still hold their resources: 8 threads - 3 running (alive, elsewhere, livehost) = 5 free
  assert.equal((await s.usage()).free.cpuThreads, 5);
  runner.orphans.get('alive')!.exit(null); // an adopted trainer's exit status is unknown: the files decide
  await settle(s);
  assert.equal((await s.get('alive'))!.status, 'queued');
  assert.equal((await s.get('alive'))!.attempts, 1);
});

test('recover: a lease of an unknown holder is respected until it expires, then the job is requeued', async () => {
  let clock = 1_000_000;
  const { repo, s } = make({ cpuThreads: 2, memoryMB: 1000 }, { now: () => clock, leaseMs: 10_000 });
  await seedRunning(repo, 'j', { leaseOwner: 'other-host/1/x', leaseExpiresAt: clock + 5_000 });
  assert.deepEqual((await s.recover()).held, ['j']);
  await s.tick();
  assert.equal(await status(s, 'j'), 'running');
  clock += 6_000;
  await s.tick(); // requeued, then started again by the same pass
  const j = (await s.get('j'))!;
  assert.equal(j.attempts, 1);
  assert.equal(j.runs, 2);
  assert.equal(j.leaseOwner, s.owner);
  assert.equal(j.leaseExpiresAt, clock + 10_000);
});

test('a runner without adopt: an orphan with a fresh heartbeat is waited for, a stale one requeued', async () => {
  const repo = new MemoryJobRepository();
  const inner = new FakeRunner({ cpuThreads: 2, memoryMB: 1000 });
  const s = new Scheduler({ repository: repo, runner: new PlainRunner(inner), orphanStaleMs: 5_000 });
  const deadOwner = `${os.hostname()}/${deadPid()}/dead`;
  const fresh = spec('fresh'), stale = spec('stale');
  for (const sp of [fresh, stale]) { mkdirSync(sp.outputDir, { recursive: true }); writeFileSync(join(sp.outputDir, 'heartbeat'), '{}'); }
  const old = (Date.now() - 60_000) / 1000;
  utimesSync(join(stale.outputDir, 'heartbeat'), old, old);
  await seedRunning(repo, 'fresh', { leaseOwner: deadOwner, leaseExpiresAt: 0 }, fresh);
  await seedRunning(repo, 'stale', { leaseOwner: deadOwner, leaseExpiresAt: 0 }, stale);
  const report = await s.recover();
  assert.deepEqual(report.held, ['fresh']);
  assert.deepEqual(report.requeued, ['stale']);

  // a heartbeat 20 s old is within the clock-skew allowance (30 s by default) beyond orphanStaleMs; without it, gone
  for (const [skew, want] of [[undefined, 'held'], [0, 'requeued']] as const) {
    const r2 = new MemoryJobRepository();
    const s2 = new Scheduler({ repository: r2, runner: new PlainRunner(inner), orphanStaleMs: 5_000, ...(skew === undefined ? {} : { clockSkewMs: skew }) });
    const sp = spec('skewed');
    mkdirSync(sp.outputDir, { recursive: true });
    writeFileSync(join(sp.outputDir, 'heartbeat'), '{}');
    const t = (Date.now() - 20_000) / 1000;
    utimesSync(join(sp.outputDir, 'heartbeat'), t, t);
    await seedRunning(r2, 'skewed', { leaseOwner: deadOwner, leaseExpiresAt: 0 }, sp);
    assert.deepEqual((await s2.recover())[want], ['skewed'], `clockSkewMs ${skew}`);
  }
});

test('metrics: whole lines are emitted once, in order, including the last ones at exit; step is recorded', async () => {
  const { runner, s } = make({ cpuThreads: 1, memoryMB: 1000 });
  const seen: Array<[string, number]> = [];
  s.on('metrics', (id: string, r: MetricsRecord) => seen.push([id, r.step]));
  const sp = spec('m');
  await s.submit(sp);
  await s.tick();
  mkdirSync(sp.outputDir, { recursive: true });
  const file = join(sp.outputDir, 'metrics.jsonl');
  const line = (step: number) => JSON.stringify({ step, loss: 1 / step }) + '\n';
  appendFileSync(file, line(1) + line(2) + '{"step": 3, "lo');
  await s.tick();
  assert.deepEqual(seen, [['m', 1], ['m', 2]]);
  appendFileSync(file, 'ss": 0.3}\n' + line(4));
  runner.handle('m').exit(0);
  await settle(s);
  assert.deepEqual(seen.map((x) => x[1]), [1, 2, 3, 4]);
  assert.equal((await s.get('m'))!.step, 4);
});

test('start/stop loop: event driven; stop({jobs: requeue}) puts running jobs back without an attempt; overhead is measured', async () => {
  const { runner, s } = make({ cpuThreads: 2, memoryMB: 1000 }, { tickMs: 20 });
  await s.start();
  for (let i = 0; i < 6; i++) await s.submit(spec(`L${i}`));
  const done: string[] = [];
  s.on('status', (id, st) => { if (st === 'running' && id !== 'long') setTimeout(() => runner.handle(id).exit(0), 5); if (st === 'succeeded') done.push(id); });
  // those submitted before the listener existed may already be running
  for (const h of [...runner.live]) setTimeout(() => h.exit(0), 5);
  await Promise.all(Array.from({ length: 6 }, (_, i) => s.waitFor(`L${i}`, ['succeeded'], 5000)));
  await s.submit(spec('long'));
  await s.waitFor('long', ['running'], 5000);
  runner.honourSigterm = true;
  s.removeAllListeners('status');
  await s.stop({ jobs: 'requeue', graceMs: 100 });
  const long = (await s.get('long'))!;
  assert.equal(long.status, 'queued');
  assert.equal(long.attempts, 0);
  const st = s.stats();
  assert.equal(st.jobsStarted, 7);
  assert.ok(st.overheadMsPerJob > 0 && st.overheadMsPerJob < 50, `overhead ${st.overheadMsPerJob} ms/job`);
  console.log(`# fake-runner scheduler overhead: ${st.overheadMsPerJob.toFixed(3)} ms/job (${st.passes} passes)`);
});

/** Coordination among schedulers of this process (the PostgreSQL one is tested in test/store/pg-coordination.test.ts). */
function memoryCoordinations() {
  const group = { leader: null as string | null, present: new Set<string>(), listeners: [] as Array<() => void> };
  return (): Coordination & { die(): void } => {
    let me: string | null = null;
    let dead = false;
    return {
      kind: 'memory',
      shared: true,
      async join(owner) { me = owner; group.present.add(owner); },
      async lead() { if (dead) return false; if (!group.leader) group.leader = me; return group.leader === me; },
      async resign() { if (group.leader === me) group.leader = null; },
      async alive(owner) { return group.present.has(owner); },
      notify() { for (const fn of group.listeners) setImmediate(fn); },
      onNotice(fn) { group.listeners.push(fn); },
      async close() {},
      die() { dead = true; group.present.delete(me!); if (group.leader === me) group.leader = null; },
    };
  };
}

test('two schedulers on one repository: the leader places, a follower\'s submit and cancel reach it, a dead leader\'s job is adopted', async () => {
  const repo = new MemoryJobRepository();
  const coordination = memoryCoordinations();
  const ca = coordination(), cb = coordination();
  const ra = new FakeRunner({ cpuThreads: 2, memoryMB: 1000 }), rb = new FakeRunner({ cpuThreads: 2, memoryMB: 1000 });
  const a = new Scheduler({ repository: repo, runner: ra, defaultMemoryMB: 100, coordination: ca, tickMs: 10, leaderPollMs: 20, owner: 'host/1/a' });
  const b = new Scheduler({ repository: repo, runner: rb, defaultMemoryMB: 100, coordination: cb, tickMs: 10, leaderPollMs: 20, owner: 'host/2/b' });
  const seenByB: string[] = [];
  b.on('status', (id, st, _job, observed) => { if (observed) seenByB.push(`${id}:${st}`); });
  try {
    await a.start();
    await b.start();
    await sleep(30);
    assert.equal(a.leader, true);
    assert.equal(b.leader, false);
    // submitted to the follower: placed by the leader, on the leader's runner
    await b.submit(spec('one'), { experimentId: 'x' });
    await b.submit(spec('two'), { experimentId: 'x' });
    await a.waitFor('one', ['running'], 2000);
    await a.waitFor('two', ['running'], 2000);
    assert.deepEqual(ra.order().sort(), ['one', 'two']);
    assert.deepEqual(rb.order(), [], 'the follower starts nothing');
    // a cancel sent to the follower stops the trainer the leader holds
    await b.cancel('two');
    const cancelled = await a.waitFor('two', ['cancelled'], 2000);
    assert.equal(cancelled.status, 'cancelled');
    assert.deepEqual(ra.started.find((h) => h.jobId === 'two')!.stops, [false], 'SIGTERM sent by the leader');
    for (let i = 0; i < 100 && !seenByB.includes('two:cancelled'); i++) await sleep(10);
    assert.deepEqual(seenByB.sort(), ['one:running', 'two:cancelled', 'two:running'], 'the follower follows the jobs the leader runs');
    // the leader dies with its trainer still running: the follower takes over and adopts it
    const orphan = ra.handle('one');
    ca.die();
    await a.stop(); // (its loop ends; a dead process would not resign, and the memory coordination already let go)
    rb.orphans.set('one', orphan);
    for (let i = 0; i < 100 && !b.leader; i++) await sleep(10);
    assert.equal(b.leader, true, 'the follower leads');
    for (let i = 0; i < 100 && !rb.live.has(orphan); i++) await sleep(10);
    assert.ok(rb.live.has(orphan), 'and adopted the running trainer');
    orphan.exit(0);
    const done = await b.waitFor('one', ['succeeded'], 2000);
    assert.equal(done.runs, 1, 'one run: adopted, not restarted');
    assert.match((await repo.events('one')).map((e) => e.message).join('\n'), /adopted the running worker .* \(previous holder host\/1\/a is gone\)/);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a local trainer another machine started is not adopted from here: it is waited for while its heartbeat is fresh', async () => {
  const { repo, runner, s } = make({ cpuThreads: 8, memoryMB: 10000 }, { orphanStaleMs: 60_000, clockSkewMs: 0 });
  Object.assign(runner, { hostBound: true }); // like the local runner: its trainers are processes of one machine
  const deadOwner = `${os.hostname()}/${deadPid()}/dead`;
  const fresh = spec('fresh'), silent = spec('silent');
  await seedRunning(repo, 'fresh', { leaseOwner: deadOwner, leaseExpiresAt: 0, placement: { gpuIds: [], node: 'another-machine' } }, fresh);
  await seedRunning(repo, 'silent', { leaseOwner: deadOwner, leaseExpiresAt: 0, placement: { gpuIds: [], node: 'another-machine' } }, silent);
  // both would be adoptable if they were processes of this machine
  runner.orphans.set('fresh', new FakeHandle('fresh', fresh, undefined, runner, 'fake:fresh'));
  runner.orphans.set('silent', new FakeHandle('silent', silent, undefined, runner, 'fake:silent'));
  for (const [sp, age] of [[fresh, 0], [silent, 120_000]] as const) {
    mkdirSync(sp.outputDir, { recursive: true });
    writeFileSync(join(sp.outputDir, 'heartbeat'), '1');
    const t = (Date.now() - age) / 1000;
    utimesSync(join(sp.outputDir, 'heartbeat'), t, t);
  }
  const report = await s.recover();
  assert.deepEqual(report, { adopted: [], requeued: ['silent'], finished: [], failed: [], held: ['fresh'] });
});

test('idle threads: a job alone on its machine is lent the idle cores, taken back before another job starts there', async () => {
  const { repo, runner, s } = make({ cpuThreads: 2, memoryMB: 10000 });
  Object.assign(runner, { hostBound: true }); // trainers on this machine: the loan is a file in their folders
  const grant = (sp: JobSpec) => readThreadGrant(sp.outputDir);
  const lone = spec('lone'), second = spec('second'), gpu = spec('gpu');
  mkdirSync(lone.outputDir, { recursive: true });
  writeFileSync(join(lone.outputDir, 'threads'), '2\n'); // left by an earlier run: cleared when it starts
  await s.submit(lone);
  await s.tick();
  assert.equal(runner.handle('lone').spec.threads, 1, 'placed on its own share');
  assert.equal(grant(lone), 2, 'and lent the idle core');
  await s.submit(second);
  await s.tick();
  assert.equal(grant(lone), 1, 'taken back before the second job started');
  assert.equal(grant(second), null, 'nothing idle to lend the second');
  runner.handle('second').exit(0);
  await settle(s);
  await s.tick();
  assert.equal(grant(lone), 2, 'idle again: lent again');
  runner.handle('lone').exit(0);
  await settle(s);
  runner.cap = { cpuThreads: 2, memoryMB: 10000, gpus: 1, gpuMemoryMB: 1000 };
  await s.submit(gpu, { estimate: { cpuThreads: 1, memoryMB: 100, gpus: 1, gpuMemoryMB: 100 } });
  await s.tick();
  assert.ok(runner.handle('gpu'));
  assert.equal(grant(gpu), null, 'a GPU job is not lent CPU threads');
  const messages = (await repo.events('lone')).filter((e) => e.type === 'threads').map((e) => e.message);
  assert.deepEqual(messages, ['2 threads: 1 idle lent to it', 'back to its 1 thread(s) (1 lent taken back)', '2 threads: 1 idle lent to it']);
});

test('idle threads: an adopted trainer still following an old server\'s loan goes back to its own threads', async () => {
  const { repo, runner, s } = make({ cpuThreads: 2, memoryMB: 10000 });
  const sp = spec('adopted');
  await seedRunning(repo, 'adopted', { leaseOwner: `${os.hostname()}/${deadPid()}/dead`, leaseExpiresAt: 0 }, sp);
  runner.orphans.set('adopted', new FakeHandle('adopted', sp, undefined, runner, 'fake:adopted'));
  mkdirSync(sp.outputDir, { recursive: true });
  writeThreadGrant(sp.outputDir, 2);
  assert.deepEqual((await s.recover()).adopted, ['adopted']);
  assert.equal(readThreadGrant(sp.outputDir), 1);
});

test('shareIdle: idle threads go round robin, never above the cap', () => {
  assert.deepEqual(shareIdle([1], 1, 2), [2]);
  assert.deepEqual(shareIdle([1, 1], 3, 2), [2, 2]);
  assert.deepEqual(shareIdle([2, 1, 1], 3, 4), [3, 2, 2]);
  assert.deepEqual(shareIdle([1], 0, 8), [1]);
  assert.deepEqual(shareIdle([], 4, 8), []);
});

test('ThreadGrantReader: a change is read once; a malformed grant is ignored', () => {
  const dir = mkdtempSync(join(root, 'grant-'));
  const r = new ThreadGrantReader(dir, 4);
  assert.equal(r.poll(), null, 'no grant yet');
  writeThreadGrant(dir, 2);
  assert.equal(r.poll(), 2);
  assert.equal(r.poll(), null, 'unchanged');
  writeThreadGrant(dir, 16);
  assert.equal(r.poll(), 4, 'capped at the machine');
  writeFileSync(join(dir, 'threads'), 'two');
  assert.equal(r.poll(), null);
  assert.throws(() => writeThreadGrant(dir, 0), /positive integer/);
});
