/**
 * The factory's scheduler: a queue of training jobs placed on a Runner, one trainer process per job.
 *
 * Owns: job state transitions (queued -> running -> succeeded | failed | cancelled | paused | queued again), the
 * queue order, placement against the runner's capacity, leases, recovery after a crash, progress events, and
 * its own overhead figures. Guarantees:
 *   - Order: highest priority first; within a priority, round-robin across experiments (the experiment served
 *     longest ago goes first; jobs without an experiment share one group); within an experiment, FIFO. A job that
 *     does not fit lets smaller jobs of the same priority start behind it (backfill) until it has waited
 *     `reserveAfterMs`; after that it holds a reservation, and jobs behind it start only with resources it does
 *     not need. A lower priority never starts while a higher one waits without a reservation. A job queued
 *     `agingMs` or longer goes first within its priority, whatever its experiment's share, so its wait is bounded.
 *     (The order and the pass are queue-policy.ts `fairOrder`, `agedFirst` and `planPass`, over placement.ts.)
 *   - Runners: one or several (`runners`: this machine, a Slurm partition, a Ray cluster), each a node of the
 *     pool with its capacity; a job bound to a runner (`SubmitOptions.runner`) runs only there, any other goes
 *     where it fits best (placement.ts). The job records the runner it started on.
 *   - Dependencies: a job submitted `after` other jobs waits in the queue, skipped without holding anything up,
 *     until they have all succeeded; if one of them fails or is cancelled, it is cancelled with that reason (and
 *     so, in turn, are the jobs waiting on it). Dependencies must exist and not have failed at submit.
 *   - Placement: a job starts only if its resources (CPU threads = max(estimate, spec.threads), memory, GPUs with
 *     their memory) fit what is free; threads and memory are never oversubscribed (src/factory/resources.ts).
 *     Jobs that could never fit are refused at submit.
 *   - Several servers on one database (`coordination`, store/coordination.ts): every server takes submissions and
 *     controls, but one at a time leads: it alone places queued jobs and adopts orphans. The others try to take
 *     over every `leaderPollMs`; the leadership of a server that dies is free at once (PostgreSQL releases its
 *     advisory lock with its connection), and its jobs are adopted by the next leader on that pass, because its
 *     presence is gone too (`alive`). A change on a server that does not lead is announced (`notify`), so the
 *     leader places a submitted job at once. A follower keeps renewing the leases of jobs it still runs.
 *     Every server watches the jobs the others run: it tails their metrics.jsonl (the data folder is shared) and
 *     emits their status changes as it sees them, with `observed` set (the holder alone acts on them: the
 *     factory registers a result once), so a client of any server follows any job.
 *   - Leases: a running job is held by one scheduler instance (`leaseOwner` "host/pid/nonce") until
 *     `leaseExpiresAt`, renewed while it runs. Every state change is a compare-and-set in the repository, so no job
 *     is started twice and no exit is applied twice.
 *   - Crashes: a worker that dies (killed, lost) is requeued with attempts+1 and its next run resumes from its
 *     latest checkpoint (the trainer does that from its outputDir); after `maxAttempts` lost runs it fails with the
 *     reason. A worker stopped cleanly (exit 3) without a request from us is requeued without an attempt. At
 *     start-up (`recover`), and on every full pass (each change, and at least every leaseMs/4), running jobs with no live holder are adopted when their trainer is
 *     still alive (runners that can adopt), waited for while their heartbeat is fresh (runners that cannot),
 *     finished from their files when they ended meanwhile (manifest.json), else requeued.
 *   - cancel/pause/resume: queued or paused jobs change at once; running ones get SIGTERM (checkpoint, exit 3)
 *     and SIGKILL after a grace period; the request is stored in the job (stopRequest), so a server restart
 *     in between still ends in the requested state. resume puts a paused job back in the queue, and it continues
 *     from its checkpoint.
 *   - Progress: metrics.jsonl of every running job is tailed (whole lines only) and each record is emitted once
 *     per scheduler as 'metrics' (jobId, record); each status change is emitted as 'status' (jobId, status, job)
 *     and stored as an event in the repository.
 *   - Overhead: time spent deciding (repository passes, ordering, placement, exit handling) and spawning is
 *     measured; `stats().overheadMsPerJob` is their sum per started job (tailing metrics is counted apart).
 */
import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readMetricsFrom, type MetricsRecord } from '../engine/metrics-log.ts';
import { freeResources, neverFits, normalizeResources, type FreeResources, type Placement } from './resources.ts';
import { poolStates, scaleResources } from './placement.ts';
import { agedFirst, fairOrder, planPass, type PassJob } from './queue-policy.ts';
import { canAdopt, machinesOf, nodeOf, runOutcome, type PlacingRunner, type RefRunHandle, type RunExit, type RunOutcome } from './runners.ts';
import type { JobNeeds, JobPatch, JobRecord, JobRepository, StopRequest } from './job-repository.ts';
import type { JobSpec, JobStatus, Resources, Runner } from './job-spec.ts';
import { StatusError } from '../util/status-error.ts';
import { soleCoordination, type Coordination } from '../store/coordination.ts';
import { clearThreadGrant, readThreadGrant, shareIdle, writeThreadGrant } from './thread-grant.ts';

export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

export interface SchedulerOptions {
  repository: JobRepository;
  /** The runner, when there is one. */
  runner?: Runner;
  /** Several runners at once (names unique); the first is the default for jobs recorded without a runner. */
  runners?: readonly Runner[];
  /** Monitoring tick (metrics, exits of adopted trainers); default 200 ms. Scheduling also runs on every change. */
  tickMs?: number;
  /** Lease length; renewed when half of it is left. Default 30 s. */
  leaseMs?: number;
  /** Lost runs after which a job fails. Default 3. */
  maxAttempts?: number;
  /** pause: SIGTERM, then SIGKILL after this (it then resumes from its last periodic checkpoint). Default 30 s. */
  pauseGraceMs?: number;
  /** cancel: SIGTERM, then SIGKILL after this. Default 5 s. */
  cancelGraceMs?: number;
  /** For runners that cannot adopt: an orphan whose files changed less than this ago is still running. Default 60 s. */
  orphanStaleMs?: number;
  /**
   * How far the clocks of the machines that write job folders (cluster nodes, a file server) may be from this
   * one's: added to orphanStaleMs before a silent job is judged gone. Default 30 s.
   */
  clockSkewMs?: number;
  /** A blocked job stops backfill behind it after waiting this long. Default 60 s. */
  reserveAfterMs?: number;
  /** A job queued this long goes first within its priority, whatever its experiment's share (aging). Default 6 h. */
  agingMs?: number;
  /** Memory a job holds when its estimate names none. Default 512 MB. */
  defaultMemoryMB?: number;
  /** Lease owner id (default "host/pid/random"). */
  owner?: string;
  /** Wall clock for leases and timestamps (tests). */
  now?: () => number;
  /** How servers sharing the database agree on who schedules; default: this one alone (soleCoordination). */
  coordination?: Coordination;
  /** A server that does not lead tries to take over this often. Default 1 s. */
  leaderPollMs?: number;
  /**
   * Lend idle cores of a machine to the CPU jobs running on it (a job alone there uses them all), and take them
   * back before another job starts there (thread-grant.ts). Default true.
   */
  lendIdleThreads?: boolean;
}

export interface SubmitOptions {
  priority?: number;
  experimentId?: string | null;
  estimate?: Partial<Resources>;
  /** Jobs that must succeed first; if one fails or is cancelled, this job is cancelled with the reason. */
  after?: readonly string[];
  /** The runner it must run on (by name); unknown names are refused. Default: wherever it fits. */
  runner?: string | null;
}

export type SchedulerErrorCode = 'not_found' | 'conflict' | 'invalid' | 'unplaceable';

/** A scheduler refusal; the code gives the status (not_found 404, conflict 409, invalid and unplaceable 400). */
/** What setPreparer takes: the work a job needs before it can be placed, or null. */
export type Preparer = (job: JobRecord) => (() => Promise<JobSpec>) | null;

export class SchedulerError extends StatusError {
  declare readonly code: SchedulerErrorCode;
  constructor(code: SchedulerErrorCode, message: string) {
    super(code === 'not_found' ? 404 : code === 'conflict' ? 409 : 400, message, { code });
  }
}

export interface SchedulerStats {
  jobsStarted: number;
  jobsFinished: number;
  passes: number;
  /** Deciding: repository passes, ordering, placement, exit handling (ms, total). */
  schedulingMs: number;
  /** runner.start calls (ms, total). */
  spawnMs: number;
  /** Tailing metrics files (ms, total). */
  monitorMs: number;
  /** (schedulingMs + spawnMs) / jobsStarted. */
  overheadMsPerJob: number;
}

export interface RecoveryReport {
  adopted: string[];
  requeued: string[];
  finished: string[];
  failed: string[];
  /** Still held by another live scheduler or a fresh heartbeat: left alone for now. */
  held: string[];
}

interface Active {
  handle: RefRunHandle;
  outputDir: string;
  /** The runner it runs on, and the threads its spec gives it (a loan is on top: `Scheduler.lent`). */
  runner: string;
  threads: number;
  forceTimer: NodeJS.Timeout | null;
  /** The stop request its trainer was signalled for (a request stored by another server is signalled on a pass). */
  signalled: StopRequest | null;
}

/** Key of a job's fair-share group. */
function groupOf(j: JobRecord): string {
  return j.experimentId ?? '';
}

export { fairOrder };

/** The scheduler's events and their arguments. */
export interface SchedulerEvents {
  /** `observed`: a change another server made, seen here (the server that made it emitted it without). */
  status: [jobId: string, status: JobStatus, job: JobRecord, observed?: boolean];
  metrics: [jobId: string, record: MetricsRecord];
  /** Something went wrong in the loop (a repository error...); the scheduler carries on. */
  warning: [error: Error];
}

export class Scheduler extends EventEmitter<SchedulerEvents> {
  readonly owner: string;
  private readonly repo: JobRepository;
  private readonly runners: readonly Runner[];
  private readonly o: Required<Omit<SchedulerOptions, 'repository' | 'runner' | 'runners' | 'owner' | 'now' | 'coordination'>>;
  private readonly coord: Coordination;
  /** Whether this scheduler led at its last look (only a leader places jobs and adopts orphans). */
  private leading = false;
  private nextLeaderTry = 0;
  private noticeQueued = false;
  private readonly now: () => number;
  private readonly active = new Map<string, Active>();
  /** Running jobs another server holds, watched here (shared coordination only), with their folders. */
  private readonly watched = new Map<string, string>();
  private readonly offsets = new Map<string, number>();
  private readonly steps = new Map<string, number>();
  private readonly lastServed = new Map<string, number>();
  private served = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private passQueued = false;
  private dirty = true;
  private nextFullPass = 0;
  private closed = false;
  private readonly st = { jobsStarted: 0, jobsFinished: 0, passes: 0, schedulingMs: 0, spawnMs: 0, monitorMs: 0 };
  private preparer: Preparer | null = null;
  /** Jobs whose preparation runs now (see setPreparer). */
  private readonly preparing = new Set<string>();
  /** Running jobs held here that were lent idle threads: their threads in all (above their spec's). */
  private readonly lent = new Map<string, number>();

  constructor(opts: SchedulerOptions) {
    super();
    this.repo = opts.repository;
    this.runners = opts.runners?.length ? opts.runners : opts.runner ? [opts.runner] : [];
    if (this.runners.length === 0) throw new SchedulerError('invalid', 'the scheduler needs a runner');
    const names = this.runners.map((r) => r.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new SchedulerError('invalid', `two runners are named ${JSON.stringify(twice)}; runner names must be unique`);
    this.now = opts.now ?? Date.now;
    this.owner = opts.owner ?? `${os.hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
    this.o = {
      tickMs: opts.tickMs ?? 200, leaseMs: opts.leaseMs ?? 30_000, maxAttempts: opts.maxAttempts ?? 3,
      pauseGraceMs: opts.pauseGraceMs ?? 30_000, cancelGraceMs: opts.cancelGraceMs ?? 5_000,
      orphanStaleMs: opts.orphanStaleMs ?? 60_000, clockSkewMs: opts.clockSkewMs ?? 30_000, reserveAfterMs: opts.reserveAfterMs ?? 60_000, agingMs: opts.agingMs ?? 6 * 3_600_000,
      defaultMemoryMB: opts.defaultMemoryMB ?? 512, leaderPollMs: opts.leaderPollMs ?? 1000, lendIdleThreads: opts.lendIdleThreads ?? true,
    };
    this.coord = opts.coordination ?? soleCoordination();
    this.coord.onNotice(() => { this.dirty = true; if (this.timer) this.kick(); });
  }

  /** Whether this scheduler leads (places jobs and adopts orphans) now. */
  get leader(): boolean {
    return this.leading;
  }

  // ---------------------------------------------------------------- public API

  /**
   * What the runner offers (GPUs included): the factory sizes a job's request for it. With several runners, the
   * most any one of them offers in each field (or `runner`'s own, by name).
   */
  capacity(runner?: string | null): Resources {
    const caps = (runner ? this.runners.filter((r) => r.name === runner) : this.runners).map((r) => normalizeResources(r.capacity()));
    const most = (f: (c: Required<Resources>) => number) => Math.max(0, ...caps.map(f));
    const out: Resources = { cpuThreads: most((c) => c.cpuThreads), memoryMB: most((c) => c.memoryMB) };
    if (most((c) => c.gpus) > 0) { out.gpus = most((c) => c.gpus); out.gpuMemoryMB = most((c) => c.gpuMemoryMB); }
    return out;
  }

  /** How many machines one job may span: on `runner` (by name), else on the widest runner (1: one machine). */
  machines(runner?: string | null): number {
    return Math.max(1, ...(runner ? this.runners.filter((r) => r.name === runner) : this.runners).map(machinesOf));
  }

  /** The runners' names, in order (the first is the default). */
  runnerNames(): string[] {
    return this.runners.map((r) => r.name);
  }

  /** Queues a job (status 'queued'). `spec.outputDir` is made absolute. Throws SchedulerError('unplaceable') for a job that can never fit. */
  submit(spec: JobSpec, opts: SubmitOptions = {}): Promise<JobRecord> {
    return this.serial(async () => {
      const problem = specProblem(spec);
      if (problem) throw new SchedulerError('invalid', `job spec: ${problem}`);
      if (opts.runner && !this.runners.some((r) => r.name === opts.runner)) {
        throw new SchedulerError('invalid', `job ${spec.id}: unknown runner ${JSON.stringify(opts.runner)}; this server has ${this.runnerNames().join(', ')}`);
      }
      const estimate: JobNeeds = { ...this.resourcesFor(spec, opts.estimate ?? {}), ...(opts.runner ? { runner: opts.runner } : {}) };
      const never = this.neverFitsAnywhere(estimate, machinesOfSpec(spec));
      if (never) throw new SchedulerError('unplaceable', `job ${spec.id} ${never}`);
      if (await this.repo.get(spec.id)) throw new SchedulerError('conflict', `job ${spec.id} already exists`);
      const after = [...new Set(opts.after ?? [])];
      for (const id of after) {
        const dep = await this.repo.get(id);
        if (!dep) throw new SchedulerError('invalid', `job ${spec.id}: it depends on job ${id}, which does not exist`);
        if (dep.status === 'failed' || dep.status === 'cancelled') throw new SchedulerError('invalid', `job ${spec.id}: it depends on job ${id}, which is ${dep.status}`);
      }
      const job = await this.repo.create({
        id: spec.id, status: 'queued', priority: opts.priority ?? 0, experimentId: opts.experimentId ?? null, dependsOn: after,
        spec: { ...spec, outputDir: resolve(spec.outputDir) }, estimate, queuedAt: this.now(),
      });
      await this.event(job.id, 'submitted', `submitted (priority ${job.priority}${job.experimentId ? `, experiment ${job.experimentId}` : ''}${after.length ? `; starts after ${after.join(', ')}` : ''})`, { estimate, after });
      this.emit('status', job.id, job.status, job);
      this.changed();
      return job;
    });
  }

  /** Cancels a job: at once when queued or paused; a running one is stopped (SIGTERM, SIGKILL after cancelGraceMs). */
  cancel(id: string): Promise<JobRecord> {
    return this.serial(async () => {
      const job = await this.must(id);
      switch (job.status) {
        case 'cancelled': return job;
        case 'queued': case 'paused': case 'validating_files': {
          const rec = await this.transition(job, { status: 'cancelled', finishedAt: this.now() }, 'cancelled');
          this.changed(); // jobs waiting on it are cancelled in the next pass
          return rec;
        }
        case 'running': return this.requestStop(job, 'cancel');
        default: throw new SchedulerError('conflict', `job ${id} is ${job.status}; it cannot be cancelled`);
      }
    });
  }

  /** Pauses a job: a queued one at once; a running one checkpoints and stops (SIGTERM; SIGKILL after pauseGraceMs). */
  pause(id: string): Promise<JobRecord> {
    return this.serial(async () => {
      const job = await this.must(id);
      switch (job.status) {
        case 'paused': return job;
        case 'queued': return this.transition(job, { status: 'paused' }, 'paused while queued');
        case 'running':
          if (job.stopRequest === 'cancel') throw new SchedulerError('conflict', `job ${id} is being cancelled`);
          return this.requestStop(job, 'pause');
        default: throw new SchedulerError('conflict', `job ${id} is ${job.status}; it cannot be paused`);
      }
    });
  }

  /** Puts a paused job back in the queue (it continues from its checkpoint); a running job being paused keeps running. */
  resume(id: string): Promise<JobRecord> {
    return this.serial(async () => {
      const job = await this.must(id);
      switch (job.status) {
        case 'queued': return job;
        case 'paused': return this.transition(job, { status: 'queued', queuedAt: this.now() }, 'resumed');
        case 'running': {
          if (job.stopRequest === 'cancel') throw new SchedulerError('conflict', `job ${id} is being cancelled`);
          if (job.stopRequest !== 'pause') return job;
          const a = this.active.get(id);
          if (a?.forceTimer) { clearTimeout(a.forceTimer); a.forceTimer = null; }
          // SIGTERM may already be on its way: then the worker exits 3 and is requeued without an attempt.
          return (await this.repo.update(id, { stopRequest: null }, { status: 'running' })) ?? this.must(id);
        }
        default: throw new SchedulerError('conflict', `job ${id} is ${job.status}; it cannot be resumed`);
      }
    });
  }

  get(id: string): Promise<JobRecord | null> {
    return this.repo.get(id);
  }

  /**
   * Resolves with the job once its status is one of `statuses` (default: terminal); rejects after `timeoutMs`.
   */
  async waitFor(id: string, statuses: readonly JobStatus[] = TERMINAL_STATUSES, timeoutMs = 0): Promise<JobRecord> {
    return new Promise<JobRecord>((resolveWait, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const done = (f: () => void) => { this.off('status', onStatus); if (timer) clearTimeout(timer); f(); };
      const onStatus = (jobId: string, status: JobStatus, job: JobRecord) => { if (jobId === id && statuses.includes(status)) done(() => resolveWait(job)); };
      this.on('status', onStatus);
      if (timeoutMs > 0) timer = setTimeout(() => done(() => reject(new Error(`job ${id}: not ${statuses.join('/')} after ${timeoutMs} ms`))), timeoutMs);
      this.repo.get(id).then((j) => {
        if (!j) done(() => reject(new SchedulerError('not_found', `job ${id} not found`)));
        else if (statuses.includes(j.status)) done(() => resolveWait(j));
      }, (e) => done(() => reject(e)));
    });
  }

  /** Starts the loop: recovers what an earlier server left, then schedules on every change and every tickMs. */
  async start(): Promise<RecoveryReport> {
    if (this.timer) throw new SchedulerError('conflict', 'scheduler already started');
    this.closed = false;
    await this.coord.join(this.owner);
    this.nextLeaderTry = this.now() + this.o.leaderPollMs;
    const report = await this.recover();
    this.timer = setInterval(() => this.kick(), this.o.tickMs);
    this.kick();
    return report;
  }

  /**
   * Stops the loop. `jobs: 'leave'` (default) leaves running trainers running under their lease: a scheduler
   * started later adopts them. `jobs: 'requeue'` stops them (SIGTERM, SIGKILL after graceMs) and puts them back
   * in the queue without counting an attempt; it resolves once they have exited.
   */
  async stop(opts: { jobs?: 'leave' | 'requeue'; graceMs?: number } = {}): Promise<void> {
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
    if (opts.jobs === 'requeue') {
      const exits = [...this.active.values()].map((a) => a.handle.exited);
      await this.serial(async () => {
        for (const [id, a] of this.active) {
          await this.repo.update(id, { stopRequest: 'requeue' }, { status: 'running', leaseOwner: this.owner });
          a.handle.stop(false);
          a.forceTimer = setTimeout(() => a.handle.stop(true), opts.graceMs ?? this.o.pauseGraceMs);
        }
      });
      await Promise.all(exits);
      await this.serial(async () => {}); // their exits are applied
    }
    this.closed = true;
    await this.serial(async () => {});
    if (this.leading) { this.leading = false; await this.coord.resign(); this.coord.notify(); }
    for (const a of this.active.values()) {
      if (a.forceTimer) clearTimeout(a.forceTimer);
      (a.handle as { dispose?: () => void }).dispose?.();
    }
    this.active.clear();
  }

  /**
   * Looks at every running job this scheduler does not hold (after a crash: all of them) and adopts, waits for,
   * finishes or requeues it (see the header). Called by start(); safe to call any time.
   */
  recover(): Promise<RecoveryReport> {
    return this.serial(async () => {
      const t0 = performance.now();
      const report: RecoveryReport = { adopted: [], requeued: [], finished: [], failed: [], held: [] };
      if (!this.leading) this.leading = await this.coord.lead();
      for (const job of await this.repo.list({ status: 'running' })) {
        if (this.active.has(job.id)) continue;
        const r = this.leading ? await this.reconcile(job) : 'held'; // the leader looks after orphans
        report[r].push(job.id);
      }
      this.changed();
      this.st.schedulingMs += performance.now() - t0;
      return report;
    });
  }

  /** One scheduling pass now (tests drive the scheduler with this instead of start()). */
  tick(): Promise<void> {
    this.dirty = true;
    return this.serial(() => this.pass());
  }

  /** Resolves when every call and exit queued so far has been applied. */
  flush(): Promise<void> {
    return this.serial(async () => {});
  }

  stats(): SchedulerStats {
    const s = this.st;
    return { ...s, overheadMsPerJob: s.jobsStarted ? (s.schedulingMs + s.spawnMs) / s.jobsStarted : 0 };
  }

  /** The (first) runner's capacity, what running jobs hold on it, and what is free there. */
  async usage(): Promise<{ capacity: Resources; free: FreeResources; running: number }> {
    const runner = this.runners[0];
    const capacity = runner.capacity();
    const running = (await this.repo.list({ status: 'running' })).filter((j) => (j.runner ?? runner.name) === runner.name);
    return { capacity, free: freeResources(capacity, running.map((j) => ({ resources: j.estimate, placement: j.placement }))), running: running.length };
  }

  // ---------------------------------------------------------------- the loop

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private changed(): void {
    this.dirty = true;
    if (this.timer) setImmediate(() => this.kick());
    // the leader places jobs: a change made here reaches it at once (once per tick of the event loop)
    if (!this.leading) this.announce();
  }

  /** Tells the other servers that jobs changed (once per turn of the event loop), when there are any. */
  private announce(): void {
    if (!this.timer || !this.coord.shared || this.noticeQueued) return;
    this.noticeQueued = true;
    setImmediate(() => { this.noticeQueued = false; this.coord.notify(); });
  }

  private kick(): void {
    if (this.passQueued || this.closed) return;
    this.passQueued = true;
    this.serial(async () => {
      this.passQueued = false;
      if (!this.closed) await this.pass();
    }).catch((e) => this.warn(e));
  }

  private warn(e: unknown): void {
    this.emit('warning', e instanceof Error ? e : new Error(String(e)));
  }

  private async pass(): Promise<void> {
    const t0 = performance.now();
    this.tailAll();
    const tMonitor = performance.now() - t0;
    this.st.monitorMs += tMonitor;
    const now = this.now();
    if (!this.leading && now >= this.nextLeaderTry) {
      this.nextLeaderTry = now + this.o.leaderPollMs;
      if (await this.coord.lead()) { this.leading = true; this.dirty = true; }
    } else if (this.leading && this.dirty && !(await this.coord.lead())) {
      this.leading = false; // its connection was lost: another server may lead now
    }
    if (!this.dirty && now < this.nextFullPass) return;
    this.dirty = false;
    this.nextFullPass = now + Math.max(this.o.tickMs, this.o.leaseMs / 4);
    this.st.passes++;
    const spawnBefore = this.st.spawnMs;
    try {
      const jobs = await this.repo.list({ status: ['running', 'queued'] });
      const running = jobs.filter((j) => j.status === 'running');
      let watching = false, requeued = false;
      for (const job of running) {
        const a = this.active.get(job.id);
        if (a) {
          // a cancel or pause another server stored (it does not hold the trainer): signalled here
          if (job.stopRequest && job.stopRequest !== a.signalled && job.stopRequest !== 'requeue') this.signalStop(job.id, job.stopRequest);
          await this.recordNode(job, a.handle);
          if ((job.leaseExpiresAt ?? 0) - now < this.o.leaseMs / 2) {
            await this.repo.update(job.id, { leaseExpiresAt: now + this.o.leaseMs, step: this.steps.get(job.id) ?? job.step }, { status: 'running', leaseOwner: this.owner });
          }
        } else if (this.leading) {
          const r = await this.reconcile(job);
          if (r === 'held') watching = true;
          if (r === 'requeued') requeued = true;
        }
      }
      if (this.coord.shared) await this.observe(jobs.filter((j) => j.status === 'running' && !this.active.has(j.id)));
      if (!this.leading) { this.reclaimThreads(); return; } // the leader places queued jobs (and lends idle threads)
      if (watching) this.dirty = true; // look again next tick
      await this.placeQueued(requeued ? await this.repo.list({ status: 'queued' }) : jobs.filter((j) => j.status === 'queued'));
      if (this.o.lendIdleThreads) await this.lendIdleThreads();
    } finally {
      this.st.schedulingMs += performance.now() - t0 - tMonitor - (this.st.spawnMs - spawnBefore);
    }
  }

  /**
   * Work some jobs need once their dependencies have succeeded and before they can be placed (a torch job built
   * on another job's result converts that result for its trainer). `prep(job)` returns the work, or null when the
   * job needs none; the work runs outside the scheduling pass and returns the job's new spec, after which the job
   * is placed as any other. Work that fails fails the job with the reason.
   */
  setPreparer(prep: Preparer): void {
    this.preparer = prep;
  }

  private prepare(job: JobRecord, work: () => Promise<JobSpec>): void {
    if (this.preparing.has(job.id)) return;
    this.preparing.add(job.id);
    void work().then(
      (spec) => this.serial(async () => { await this.repo.update(job.id, { spec }, { status: 'queued' }); }),
      (e: unknown) => this.serial(async () => {
        const j = await this.repo.get(job.id);
        const why = `could not be prepared: ${e instanceof Error ? e.message : String(e)}`;
        if (j?.status === 'queued') await this.transition(j, { status: 'failed', finishedAt: this.now(), error: why }, why, { status: 'queued' });
      }),
    ).catch((e) => this.warn(e)).finally(() => { this.preparing.delete(job.id); this.changed(); });
  }

  /**
   * One pass over the queue: dependencies and preparation first (jobs that cannot be placed yet are skipped), then
   * queue-policy.ts `planPass` over the pool of runners decides what starts where, and `launch` starts it.
   */
  private async placeQueued(queued: JobRecord[]): Promise<void> {
    if (queued.length === 0) return;
    const now = this.now();
    const depStatus = new Map<string, JobRecord | null>();
    const ready: JobRecord[] = [];
    for (const job of agedFirst(fairOrder(queued, this.lastServed), (j) => now - (j.queuedAt ?? j.createdAt), this.o.agingMs)) {
      if (job.dependsOn.length) {
        const wait = await this.dependencyState(job, depStatus);
        if (wait === 'waiting') continue;
        if (wait !== 'ready') {
          await this.transition(job, { status: 'cancelled', finishedAt: now, error: wait }, wait);
          this.changed(); // and the jobs waiting on this one
          continue;
        }
      }
      const work = this.preparer?.(job);
      if (work) { this.prepare(job, work); continue; }
      const never = this.neverFitsAnywhere(job.estimate, machinesOfSpec(job.spec));
      if (never) {
        await this.transition(job, { status: 'failed', finishedAt: now, error: `cannot run here: ${never}` }, never);
        continue;
      }
      ready.push(job);
    }
    if (ready.length === 0) return;
    const running = await this.repo.list({ status: 'running' });
    // a runner that spans machines is one node of the pool that stands for them (its capacity their sum)
    const wide = ready.some((j) => machinesOfSpec(j.spec) > 1); // asked only then (a cluster runner may ask its cluster)
    const states = poolStates(this.runners.map((r) => ({ name: r.name, capacity: r.capacity(), ...(wide && machinesOf(r) > 1 ? { machines: machinesOf(r) } : {}) })),
      running.map((j) => ({ node: j.runner ?? this.runners[0].name, resources: heldResources(j), placement: j.placement })));
    const spanning = (n: number) => this.runners.filter((r) => machinesOf(r) >= n).map((r) => r.name);
    const plan = planPass(ready.map((j) => passJob(j, now, spanning)), states, now, { reserveAfterMs: this.o.reserveAfterMs });
    const byId = new Map(ready.map((j) => [j.id, j]));
    for (const start of plan.starts) await this.launch(byId.get(start.id)!, this.runners[start.node], start.placement);
  }

  /** Why a job (of `machines` machines, `needs` on each) fits none of the runners it may use (even all empty), or null. */
  private neverFitsAnywhere(needs: JobNeeds, machines = 1): string | null {
    const runners = needs.runner ? this.runners.filter((r) => r.name === needs.runner) : this.runners;
    if (runners.length === 0) return `names the runner ${JSON.stringify(needs.runner)}, which this server does not have`;
    if (machines > 1) {
      const wide = runners.filter((r) => machinesOf(r) >= machines);
      if (wide.length === 0) {
        return `spans ${machines} machines; ${runners.map((r) => `${r.name} runs a job on ${machinesOf(r) === 1 ? 'one machine' : `at most ${machinesOf(r)}`}`).join(', ')}`;
      }
      const why = wide.map((r) => neverFits(scaleResources(needs, machines), r.capacity()));
      if (why.some((w) => w === null)) return null;
      return wide.map((r, i) => `${r.name}: ${why[i]} (over ${machines} machines)`).join('; ');
    }
    const why = runners.map((r) => neverFits(needs, r.capacity()));
    if (why.some((w) => w === null)) return null;
    return runners.length === 1 ? why[0] : runners.map((r, i) => `${r.name}: ${why[i]}`).join('; ');
  }

  /** 'ready' when every dependency succeeded, 'waiting' while one has not finished, else why the job cannot run. */
  private async dependencyState(job: JobRecord, cache: Map<string, JobRecord | null>): Promise<'ready' | 'waiting' | string> {
    let waiting = false;
    for (const id of job.dependsOn) {
      if (!cache.has(id)) cache.set(id, await this.repo.get(id));
      const dep = cache.get(id);
      if (!dep) return `its dependency ${id} no longer exists`;
      if (dep.status === 'failed' || dep.status === 'cancelled') return `its dependency ${id} (${dep.spec.name}) ${dep.status}${dep.error ? `: ${dep.error}` : ''}`;
      if (dep.status !== 'succeeded') waiting = true;
    }
    return waiting ? 'waiting' : 'ready';
  }

  private async launch(job: JobRecord, runner: Runner, placement: Placement): Promise<boolean> {
    this.reclaimThreads(runner.name); // its placement counted the threads lent there as free
    clearThreadGrant(job.spec.outputDir); // a loan from an earlier run of it is over
    const now = this.now();
    const claimed = await this.repo.update(job.id, {
      status: 'running', leaseOwner: this.owner, leaseExpiresAt: now + this.o.leaseMs, runner: runner.name, workerRef: null,
      placement, runs: job.runs + 1, startedAt: job.startedAt ?? now, stopRequest: null, error: null,
    }, { status: 'queued' });
    if (!claimed) return false;
    this.lastServed.set(groupOf(job), ++this.served);
    let handle: RefRunHandle;
    const t0 = performance.now();
    try {
      handle = (runner as PlacingRunner).start(claimed.spec, placement, resourcesOnly(claimed.estimate));
    } catch (e) {
      this.st.spawnMs += performance.now() - t0;
      await this.applyOutcome(claimed, { kind: 'lost', reason: `the runner could not start it: ${e instanceof Error ? e.message : String(e)}` });
      return false;
    }
    this.st.spawnMs += performance.now() - t0;
    this.st.jobsStarted++;
    this.attach(claimed, handle);
    const node = nodeOf(handle);
    const rec = (await this.repo.update(job.id, { workerRef: handle.ref ?? null, ...(node ? { placement: { ...placement, node } } : {}) }, { status: 'running', leaseOwner: this.owner })) ?? claimed;
    const resumed = claimed.runs > 1 ? ` (run ${claimed.runs}; continues from its checkpoint)` : '';
    await this.event(job.id, 'status', `queued -> running on ${runner.name}${resumed}`, { runner: runner.name, ref: handle.ref ?? null, placement });
    this.emit('status', job.id, 'running', rec);
    this.announce();
    return true;
  }

  /**
   * Lends each machine's idle threads (its runner's capacity less what the running jobs hold) to the CPU jobs
   * this server runs there, shared round robin; a job's total never exceeds the machine's threads. Only runners
   * whose trainers are processes of this machine (hostBound) take part. Placement never counts a loan: the threads
   * lent on a runner are taken back before a job starts there (`reclaimThreads`).
   */
  private async lendIdleThreads(): Promise<void> {
    const running = await this.repo.list({ status: 'running' });
    for (const runner of this.runners) {
      if (runner.hostBound !== true) continue;
      const here = running.filter((j) => (j.runner ?? this.runners[0].name) === runner.name);
      const cap = runner.capacity().cpuThreads;
      const idle = cap - here.reduce((n, j) => n + heldResources(j).cpuThreads, 0);
      const takers = here.filter((j) => this.active.has(j.id) && lendable(j)).sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
      if (takers.length === 0) continue;
      const totals = shareIdle(takers.map((j) => j.spec.threads), idle, cap);
      for (let i = 0; i < takers.length; i++) await this.grantThreads(takers[i], totals[i]);
    }
  }

  private async grantThreads(job: JobRecord, threads: number): Promise<void> {
    const now = this.lent.get(job.id) ?? job.spec.threads;
    if (threads === now) return;
    try {
      writeThreadGrant(job.spec.outputDir, threads);
    } catch (e) {
      this.warn(e);
      return;
    }
    if (threads > job.spec.threads) this.lent.set(job.id, threads); else this.lent.delete(job.id);
    const lentNow = threads - job.spec.threads;
    await this.event(job.id, 'threads', lentNow > 0 ? `${threads} threads: ${lentNow} idle lent to it` : `back to its ${threads} thread(s)`, { threads, lent: lentNow });
  }

  /** Takes back the threads lent to jobs on `runner` (all runners when absent); the trainers follow at their next step. */
  private reclaimThreads(runner?: string): void {
    for (const [id, threads] of this.lent) {
      const a = this.active.get(id);
      if (!a) { this.lent.delete(id); continue; }
      if (runner !== undefined && a.runner !== runner) continue;
      try {
        writeThreadGrant(a.outputDir, a.threads);
      } catch (e) {
        this.warn(e);
        continue;
      }
      this.lent.delete(id);
      void this.event(id, 'threads', `back to its ${a.threads} thread(s) (${threads - a.threads} lent taken back)`, { threads: a.threads, lent: 0 }).catch((e: unknown) => this.warn(e));
    }
  }

  /** Stores the machine a run is on once its runner knows it (a Slurm job placed, a Ray driver started). */
  private async recordNode(job: JobRecord, handle: RefRunHandle): Promise<void> {
    const node = nodeOf(handle);
    if (!node || node === job.placement?.node) return;
    await this.repo.update(job.id, { placement: { gpuIds: job.placement?.gpuIds ?? [], node } }, { status: 'running', leaseOwner: this.owner });
    await this.event(job.id, 'node', `running on ${node}`, { node });
  }

  private attach(job: JobRecord, handle: RefRunHandle): void {
    this.active.set(job.id, { handle, outputDir: job.spec.outputDir, runner: job.runner ?? this.runners[0].name, threads: job.spec.threads, forceTimer: null, signalled: null });
    // an adopted trainer may still follow a loan a server before this one made: it goes back to its own threads
    try {
      const granted = readThreadGrant(job.spec.outputDir);
      if (granted !== null && granted !== job.spec.threads) writeThreadGrant(job.spec.outputDir, job.spec.threads);
    } catch (e) {
      this.warn(e);
    }
    handle.exited.then((exit) => {
      if (this.closed) return;
      this.serial(() => this.onExit(job.id, handle, exit)).catch((e) => this.warn(e));
    });
  }

  private async onExit(id: string, handle: RefRunHandle, exit: RunExit): Promise<void> {
    const t0 = performance.now();
    const a = this.active.get(id);
    if (!a || a.handle !== handle) return;
    if (a.forceTimer) clearTimeout(a.forceTimer);
    this.tail(id, a.outputDir);
    this.active.delete(id);
    if (this.lent.delete(id)) this.dirty = true; // its threads and the ones it was lent are idle now
    const job = await this.repo.get(id);
    if (job && job.status === 'running' && job.leaseOwner === this.owner) await this.applyOutcome(job, runOutcome(exit, job.spec.outputDir));
    this.st.schedulingMs += performance.now() - t0;
    this.changed();
  }

  /** Applies how a run ended to a job still marked running (compare-and-set on the lease). */
  private async applyOutcome(job: JobRecord, out: RunOutcome): Promise<JobRecord> {
    const now = this.now();
    // the machine it ran on stays with the job (where did it run?); its devices are free again
    const ranOn = job.placement?.node;
    const clear: JobPatch = { leaseOwner: null, leaseExpiresAt: null, workerRef: null, placement: ranOn ? { gpuIds: [], node: ranOn } : null, stopRequest: null, step: this.steps.get(job.id) ?? job.step };
    let patch: JobPatch;
    let why = out.reason;
    if (out.kind === 'succeeded') patch = { status: 'succeeded', finishedAt: now, error: null };
    else if (job.stopRequest === 'cancel') patch = { status: 'cancelled', finishedAt: now };
    else if (job.stopRequest === 'pause') patch = { status: 'paused' };
    else if (job.stopRequest === 'requeue') patch = { status: 'queued', queuedAt: now };
    else if (out.kind === 'stopped') patch = { status: 'queued', queuedAt: now };
    else if (out.kind === 'invalid' || out.kind === 'failed') patch = { status: 'failed', finishedAt: now, error: out.reason };
    else {
      const attempts = job.attempts + 1;
      if (attempts >= this.o.maxAttempts) {
        why = `gave up after ${attempts} lost runs; last: ${out.reason}`;
        patch = { status: 'failed', finishedAt: now, attempts, error: why };
      } else {
        why = `${out.reason}; requeued (attempt ${attempts + 1} of ${this.o.maxAttempts}), it continues from its last checkpoint`;
        patch = { status: 'queued', queuedAt: now, attempts };
      }
    }
    if (patch.status !== 'queued' && patch.status !== 'paused') this.st.jobsFinished++;
    const rec = await this.transition(job, { ...clear, ...patch }, why, { status: 'running', leaseOwner: job.leaseOwner });
    if (TERMINAL_STATUSES.includes(rec.status)) { this.offsets.delete(job.id); this.steps.delete(job.id); }
    return rec;
  }

  /** What to do with a running job this scheduler does not hold. */
  private async reconcile(job: JobRecord): Promise<'adopted' | 'requeued' | 'finished' | 'failed' | 'held'> {
    const now = this.now();
    const leaseValid = (job.leaseExpiresAt ?? 0) > now;
    const holder = await this.holderOf(job.leaseOwner);
    if (leaseValid && holder !== 'dead') return 'held';
    const runner = this.runnerOf(job);
    // a local trainer another machine's server started: not adoptable from here, alive while its heartbeat is
    const foreign = runner?.hostBound === true && !!job.placement?.node && job.placement.node !== os.hostname();
    let out: RunOutcome;
    if (runner && canAdopt(runner) && !foreign) {
      const handle = runner.adopt(job.spec, job.workerRef);
      if (handle) {
        const rec = await this.repo.update(job.id, { leaseOwner: this.owner, leaseExpiresAt: now + this.o.leaseMs, workerRef: handle.ref ?? job.workerRef },
          { status: 'running', leaseOwner: job.leaseOwner });
        if (!rec) { (handle as { dispose?: () => void }).dispose?.(); return 'held'; }
        this.attach(rec, handle);
        await this.event(job.id, 'adopted', `adopted the running worker ${handle.ref ?? ''} (previous holder ${job.leaseOwner ?? 'none'} ${holder === 'dead' ? 'is gone' : 'let its lease expire'})`);
        if (rec.stopRequest) this.signalStop(job.id, rec.stopRequest);
        return 'adopted';
      }
      out = runOutcome({ code: null, signal: null }, job.spec.outputDir);
      if (out.kind === 'lost') out = { kind: 'lost', reason: `worker ${job.workerRef ?? ''} gone (holder ${job.leaseOwner ?? 'none'} ${leaseValid ? 'is gone' : 'lease expired'})` };
    } else {
      // the files' times are another machine's clock where a cluster node or a file server wrote them
      const silence = this.o.orphanStaleMs + this.o.clockSkewMs;
      if (now - lastActivity(job.spec.outputDir) < silence) return 'held';
      out = runOutcome({ code: null, signal: null }, job.spec.outputDir);
      if (out.kind === 'lost') out = { kind: 'lost', reason: `lease expired and no heartbeat for ${Math.round(silence / 1000)} s` };
    }
    const rec = await this.applyOutcome(job, out);
    return rec.status === 'queued' || rec.status === 'paused' ? 'requeued' : rec.status === 'failed' ? 'failed' : 'finished';
  }

  /** 'dead' when the lease holder is known to be gone: its presence is (coordination), or holderState says so. */
  private async holderOf(owner: string | null): Promise<'alive' | 'dead' | 'unknown'> {
    if (owner && owner !== this.owner) {
      const present = await this.coord.alive(owner);
      if (present !== undefined) return present ? 'alive' : 'dead';
    }
    return this.holderState(owner);
  }

  /** 'dead' when the lease holder is known to be gone (this instance without the job, or a dead pid on this host). */
  private holderState(owner: string | null): 'alive' | 'dead' | 'unknown' {
    if (!owner) return 'dead';
    if (owner === this.owner) return 'dead'; // ours, but we hold no handle: we lost it
    const [host, pidText] = owner.split('/');
    const pid = Number(pidText);
    if (host !== os.hostname() || !Number.isInteger(pid)) return 'unknown';
    if (pid === process.pid) return 'unknown'; // another scheduler in this process: trust its lease
    try { process.kill(pid, 0); return 'alive'; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead'; }
  }

  private async requestStop(job: JobRecord, why: StopRequest): Promise<JobRecord> {
    const rec = await this.repo.update(job.id, { stopRequest: why }, { status: 'running' });
    if (!rec) return this.must(job.id);
    await this.event(job.id, 'stop', `${why} requested: stopping the worker`);
    this.signalStop(job.id, why);
    return rec;
  }

  private signalStop(id: string, why: StopRequest): void {
    const a = this.active.get(id);
    if (!a) { this.announce(); return; } // held by another server: its next pass signals the trainer
    a.signalled = why;
    a.handle.stop(false);
    if (a.forceTimer) clearTimeout(a.forceTimer);
    a.forceTimer = setTimeout(() => a.handle.stop(true), why === 'cancel' ? this.o.cancelGraceMs : this.o.pauseGraceMs);
    a.forceTimer.unref();
  }

  // ---------------------------------------------------------------- progress

  private tailAll(): void {
    for (const [id, a] of this.active) this.tail(id, a.outputDir);
    for (const [id, dir] of this.watched) this.tail(id, dir);
  }

  /**
   * The running jobs other servers hold (`elsewhere`, as this pass read them): new ones are watched and emitted as
   * running; watched ones that are no longer running elsewhere are read again and their status emitted.
   */
  private async observe(elsewhere: JobRecord[]): Promise<void> {
    const now = new Set(elsewhere.map((j) => j.id));
    for (const j of elsewhere) {
      if (this.watched.has(j.id)) continue;
      this.watched.set(j.id, j.spec.outputDir);
      this.emit('status', j.id, j.status, j, true);
    }
    for (const [id, dir] of this.watched) {
      if (now.has(id)) continue;
      this.watched.delete(id);
      if (this.active.has(id)) continue; // adopted here: this scheduler emits its own changes
      this.tail(id, dir);
      const j = await this.repo.get(id);
      if (j) this.emit('status', id, j.status, j, true);
      if (j && TERMINAL_STATUSES.includes(j.status)) { this.offsets.delete(id); this.steps.delete(id); }
    }
  }

  private tail(id: string, outputDir: string): void {
    let got: { records: MetricsRecord[]; nextOffset: number };
    try {
      got = readMetricsFrom(join(outputDir, 'metrics.jsonl'), this.offsets.get(id) ?? 0);
    } catch (e) {
      this.warn(e);
      return;
    }
    this.offsets.set(id, got.nextOffset);
    for (const r of got.records) {
      this.steps.set(id, r.step);
      this.emit('metrics', id, r);
    }
  }

  // ---------------------------------------------------------------- helpers

  private resourcesFor(spec: JobSpec, e: Partial<Resources>): Resources {
    const r = normalizeResources(e);
    // a data-parallel job runs `processes` copies of the trainer, each with its threads and its own model
    const procs = spec.processes ?? 1;
    const out: Resources = { cpuThreads: Math.max(r.cpuThreads, spec.threads * procs), memoryMB: (r.memoryMB || this.o.defaultMemoryMB) * procs };
    if (r.gpus) { out.gpus = r.gpus; if (r.gpuMemoryMB) out.gpuMemoryMB = r.gpuMemoryMB; }
    return out;
  }

  /** The runner a job was started on (the first one for jobs recorded without a name); undefined if gone. */
  private runnerOf(job: JobRecord): Runner | undefined {
    return job.runner === null ? this.runners[0] : this.runners.find((r) => r.name === job.runner);
  }

  private async must(id: string): Promise<JobRecord> {
    const j = await this.repo.get(id);
    if (!j) throw new SchedulerError('not_found', `job ${id} not found`);
    return j;
  }

  /** Compare-and-set of a status change (expecting the status read), with its event. */
  private async transition(job: JobRecord, patch: JobPatch, reason: string, expect = { status: job.status } as { status: JobStatus; leaseOwner?: string | null }): Promise<JobRecord> {
    const rec = await this.repo.update(job.id, patch, expect);
    if (!rec) return this.must(job.id); // changed meanwhile: nothing applied
    if (rec.status !== job.status) {
      await this.event(job.id, 'status', `${job.status} -> ${rec.status}: ${reason}`, rec.error ? { error: rec.error } : undefined);
      this.emit('status', job.id, rec.status, rec);
      this.announce();
    }
    if (rec.status === 'queued') this.changed();
    return rec;
  }

  private async event(jobId: string, type: string, message: string, data?: unknown): Promise<void> {
    await this.repo.appendEvent({ jobId, type, message, data });
  }
}

/** Machines a job spans (its spec's `nodes`; 1 when absent). */
function machinesOfSpec(spec: JobSpec): number {
  return spec.nodes && spec.nodes > 1 ? spec.nodes : 1;
}

/**
 * Whether a running job follows a thread grant: one trainer process on one machine, on CPUs (the engine, or the
 * torch trainer without GPUs); the retriever stage is short and keeps its threads.
 */
function lendable(j: JobRecord): boolean {
  const s = j.spec;
  return s.stage !== 'retriever' && (s.processes ?? 1) === 1 && machinesOfSpec(s) === 1 && !(j.estimate.gpus ?? 0);
}

/** What a running job holds on its runner: its share on each of its machines. */
function heldResources(j: JobRecord): Resources {
  const n = machinesOfSpec(j.spec);
  return n > 1 ? scaleResources(resourcesOnly(j.estimate), n) : resourcesOnly(j.estimate);
}

/**
 * A queued job as queue-policy.ts sees it (durations are unknown here: a started job is taken to run for ever). A
 * job of several machines may go only to a runner that spans that many (`spanning`), as one part there.
 */
function passJob(j: JobRecord, now: number, spanning: (n: number) => string[]): PassJob {
  const machines = machinesOfSpec(j.spec);
  const nodes = j.estimate.runner ? [j.estimate.runner] : machines > 1 ? spanning(machines) : null;
  return { id: j.id, priority: j.priority, resources: resourcesOnly(j.estimate), waitedMs: now - (j.queuedAt ?? j.createdAt), durationMs: null, nodes, ...(machines > 1 ? { machines } : {}) };
}

/** The resources of a job's needs, without its runner binding (what a runner is asked for). */
function resourcesOnly(n: JobNeeds): Resources {
  const { runner: _bound, ...r } = n;
  return r;
}

/** The few spec fields the scheduler relies on (the trainer validates the rest: worker.ts validateJobSpec). */
function specProblem(s: JobSpec): string | null {
  if (typeof s !== 'object' || s === null) return 'must be an object';
  if (typeof s.id !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(s.id)) return 'id must be 1-128 characters of [A-Za-z0-9._-]';
  if (typeof s.outputDir !== 'string' || !s.outputDir) return 'outputDir is required';
  if (!Number.isInteger(s.threads) || s.threads < 1) return 'threads must be a positive integer';
  return null;
}

/** Newest mtime (ms) of the files a live trainer keeps touching; 0 if none. */
function lastActivity(outputDir: string): number {
  let t = 0;
  for (const f of ['heartbeat', 'metrics.jsonl', 'events.jsonl']) {
    try { t = Math.max(t, statSync(join(outputDir, f)).mtimeMs); } catch { /* not there */ }
  }
  return t;
}
