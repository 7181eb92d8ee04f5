/**
 * The scheduler's storage seam: jobs and their events.
 *
 * Owns: the `JobRecord` and `JobEventRecord` shapes, the `JobRepository` interface, and `MemoryJobRepository`
 * (in memory, optionally mirrored to a JSON file). A SQLite implementation (src/store) implements the same
 * interface; `test/factory/repository-suite.ts` is the conformance suite both must pass.
 * Guarantees (every implementation):
 *   - all methods are async and every field is plain JSON (numbers are epoch milliseconds), so records survive a
 *     round trip through any database or file unchanged;
 *   - `update` is a compare-and-set: with `expect` it changes the record only if the current status (and lease
 *     owner, when given) match, and returns null otherwise; this is how two schedulers, or a scheduler and an
 *     API call, never both move the same job;
 *   - `list` returns jobs in creation order (`seq` ascending); records returned are copies (mutating them changes
 *     nothing stored);
 *   - MemoryJobRepository with `file`: every change is written to the file atomically before the promise
 *     resolves (src/util/atomic-write.ts), so a process killed at any point leaves the last completed change on disk.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write.ts';
import type { Placement } from './resources.ts';
import type { JobSpec, JobStatus, Resources } from './job-spec.ts';
import { StatusError } from '../util/status-error.ts';

/** What a job needs to run: its resources, and the runner it must run on when it names one. Plain JSON. */
export interface JobNeeds extends Resources {
  runner?: string;
}

/** Why a running job's worker is being stopped (persisted, so a restarted server still knows). */
export type StopRequest = 'pause' | 'cancel' | 'requeue';

export interface JobRecord {
  id: string;
  status: JobStatus;
  /** Higher runs first. */
  priority: number;
  /** Jobs of one experiment share a fair share of the queue with other experiments. */
  experimentId: string | null;
  /** Jobs that must succeed before this one starts (a fine-tune of a base still pretraining; DPO after SFT). */
  dependsOn: string[];
  spec: JobSpec;
  /** What the job holds while it runs (and the runner it is bound to, if any). */
  estimate: JobNeeds;
  /** Runs lost so far (worker died, lease expired); the job fails when this reaches the scheduler's maxAttempts. */
  attempts: number;
  /** Times a worker was started for this job. */
  runs: number;
  /** Creation order (assigned by the repository). */
  seq: number;
  createdAt: number;
  updatedAt: number;
  /** When the job last entered 'queued'. */
  queuedAt: number | null;
  /** First start. */
  startedAt: number | null;
  finishedAt: number | null;
  /** The scheduler instance holding the job while it runs ("host/pid/nonce"), and until when. */
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  /** Runner name and the runner's reference to the trainer (e.g. "local:<pid>"). */
  runner: string | null;
  workerRef: string | null;
  placement: Placement | null;
  stopRequest: StopRequest | null;
  /** Last training step seen in metrics.jsonl. */
  step: number | null;
  error: string | null;
}

/** What `create` needs; every other field starts empty (null / 0). */
export type NewJob = Pick<JobRecord, 'id' | 'status' | 'priority' | 'experimentId' | 'spec' | 'estimate'> & Partial<Pick<JobRecord, 'queuedAt' | 'dependsOn'>>;

/** Fields `update` may change (not id, seq, createdAt; updatedAt is set by the repository). */
export type JobPatch = Partial<Omit<JobRecord, 'id' | 'seq' | 'createdAt' | 'updatedAt' | 'dependsOn'>>;

export interface JobExpectation {
  status?: JobStatus | readonly JobStatus[];
  leaseOwner?: string | null;
}

export interface JobFilter {
  status?: JobStatus | readonly JobStatus[];
  experimentId?: string;
}

export interface JobEventRecord {
  /** Order of events across all jobs (assigned by the repository). */
  seq: number;
  jobId: string;
  at: number;
  /** 'submitted', 'status', 'started', 'exited', 'requeued', 'adopted', ... */
  type: string;
  message: string;
  data?: unknown;
}

export type NewJobEvent = Omit<JobEventRecord, 'seq' | 'at'> & { at?: number };

export interface JobRepository {
  /** Throws if a job with this id exists. */
  create(job: NewJob): Promise<JobRecord>;
  get(id: string): Promise<JobRecord | null>;
  list(filter?: JobFilter): Promise<JobRecord[]>;
  /** Throws if the job does not exist; returns null (changing nothing) if `expect` does not match. */
  update(id: string, patch: JobPatch, expect?: JobExpectation): Promise<JobRecord | null>;
  appendEvent(event: NewJobEvent): Promise<JobEventRecord>;
  /** A job's events in order, optionally only those after `afterSeq`. */
  events(jobId: string, opts?: { afterSeq?: number }): Promise<JobEventRecord[]>;
}

export class JobNotFoundError extends StatusError {
  constructor(public readonly jobId: string) { super(404, `job ${jobId} not found`, { code: 'not_found' }); }
}

export function matchesStatus(status: JobStatus, want: JobStatus | readonly JobStatus[] | undefined): boolean {
  if (want === undefined) return true;
  return typeof want === 'string' ? status === want : want.includes(status);
}

interface Snapshot {
  version: 1;
  seq: number;
  eventSeq: number;
  jobs: JobRecord[];
  events: JobEventRecord[];
}

export interface MemoryJobRepositoryOptions {
  /** Mirror every change to this JSON file (loaded at construction if it exists). */
  file?: string;
  now?: () => number;
}

export class MemoryJobRepository implements JobRepository {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly eventLog: JobEventRecord[] = [];
  private seq = 0;
  private eventSeq = 0;
  private file: string | null;
  private readonly now: () => number;

  constructor(opts: MemoryJobRepositoryOptions = {}) {
    this.file = opts.file ?? null;
    this.now = opts.now ?? Date.now;
    if (this.file) {
      let text: string | null = null;
      try { text = readFileSync(this.file, 'utf8'); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
      if (text !== null) this.load(JSON.parse(text) as Snapshot);
    }
  }

  /** A repository holding a snapshot made by `toJSON`. */
  static fromJSON(snapshot: unknown, opts: MemoryJobRepositoryOptions = {}): MemoryJobRepository {
    const r = new MemoryJobRepository({ ...opts, file: undefined });
    r.load(snapshot as Snapshot);
    if (opts.file) { r.file = opts.file; r.save(); }
    return r;
  }

  toJSON(): Snapshot {
    return { version: 1, seq: this.seq, eventSeq: this.eventSeq, jobs: [...this.jobs.values()].map(clone), events: this.eventLog.map(clone) };
  }

  private load(s: Snapshot): void {
    if (s.version !== 1) throw new Error(`MemoryJobRepository: unknown snapshot version ${String(s.version)}`);
    this.jobs.clear();
    for (const j of s.jobs) this.jobs.set(j.id, { ...clone(j), dependsOn: j.dependsOn ?? [] });
    this.eventLog.length = 0;
    this.eventLog.push(...s.events.map(clone));
    this.seq = s.seq;
    this.eventSeq = s.eventSeq;
  }

  private save(): void {
    if (this.file) writeFileAtomic(this.file, JSON.stringify(this.toJSON()));
  }

  async create(job: NewJob): Promise<JobRecord> {
    if (this.jobs.has(job.id)) throw new Error(`job ${job.id} already exists`);
    const now = this.now();
    const rec: JobRecord = {
      id: job.id, status: job.status, priority: job.priority, experimentId: job.experimentId, dependsOn: [...(job.dependsOn ?? [])], spec: clone(job.spec), estimate: clone(job.estimate),
      attempts: 0, runs: 0, seq: ++this.seq, createdAt: now, updatedAt: now, queuedAt: job.queuedAt ?? null, startedAt: null, finishedAt: null,
      leaseOwner: null, leaseExpiresAt: null, runner: null, workerRef: null, placement: null, stopRequest: null, step: null, error: null,
    };
    this.jobs.set(rec.id, rec);
    this.save();
    return clone(rec);
  }

  async get(id: string): Promise<JobRecord | null> {
    const j = this.jobs.get(id);
    return j ? clone(j) : null;
  }

  async list(filter: JobFilter = {}): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    for (const j of this.jobs.values()) {
      if (!matchesStatus(j.status, filter.status)) continue;
      if (filter.experimentId !== undefined && j.experimentId !== filter.experimentId) continue;
      out.push(clone(j));
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  async update(id: string, patch: JobPatch, expect?: JobExpectation): Promise<JobRecord | null> {
    const j = this.jobs.get(id);
    if (!j) throw new JobNotFoundError(id);
    if (expect) {
      if (!matchesStatus(j.status, expect.status)) return null;
      if (expect.leaseOwner !== undefined && j.leaseOwner !== expect.leaseOwner) return null;
    }
    const next: JobRecord = { ...j, ...clone(patch), id: j.id, seq: j.seq, createdAt: j.createdAt, updatedAt: this.now() };
    this.jobs.set(id, next);
    this.save();
    return clone(next);
  }

  async appendEvent(event: NewJobEvent): Promise<JobEventRecord> {
    const rec: JobEventRecord = { seq: ++this.eventSeq, jobId: event.jobId, at: event.at ?? this.now(), type: event.type, message: event.message, ...(event.data === undefined ? {} : { data: clone(event.data) }) };
    this.eventLog.push(rec);
    this.save();
    return clone(rec);
  }

  async events(jobId: string, opts: { afterSeq?: number } = {}): Promise<JobEventRecord[]> {
    const after = opts.afterSeq ?? 0;
    return this.eventLog.filter((e) => e.jobId === jobId && e.seq > after).map(clone);
  }
}

function clone<T>(x: T): T {
  return x === undefined ? x : (JSON.parse(JSON.stringify(x)) as T);
}
