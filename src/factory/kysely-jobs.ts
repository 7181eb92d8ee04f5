/**
 * The scheduler's JobRepository (src/factory/job-repository.ts) over Kysely, on SQLite and on PostgreSQL. Passes
 * the same conformance suite as the in-memory repository (test/factory/repository-suite.ts), on both databases.
 * `update` with an expectation is one conditional UPDATE (compare-and-set), so two schedulers, or a scheduler and
 * an API call, never both move the same job. Sequence numbers are assigned inside a transaction, taken again when a
 * concurrent writer (another PostgreSQL connection or server) took the same one first.
 * With `root` (the data folder), a spec's paths inside the folder are stored relative to it and resolved against
 * it when read (src/store/paths.ts), so a moved data folder finds its jobs' files.
 * It lives in factory/, not store/: its records are the factory's job contract (JobSpec, JobRecord), and store/
 * sits to the left of the factory, so it knows tables, never job specs.
 */
import type { Kysely, Transaction } from 'kysely';
import {
  JobNotFoundError, type JobEventRecord, type JobExpectation, type JobFilter, type JobPatch, type JobRecord, type JobRepository,
  type NewJob, type NewJobEvent,
} from './job-repository.ts';
import type { JobSpec, JobStatus } from './job-spec.ts';
import { mapSpecPaths } from './spec-paths.ts';
import { dataPaths, type DataPaths } from '../store/paths.ts';
import { retryOnUniqueViolation } from '../store/store.ts';

export interface JobsTable {
  id: string; seq: number; status: string; priority: number; experiment_id: string | null; spec: string; estimate: string;
  /** JSON list of job ids (migration 0006); null: none. */
  depends_on: string | null;
  attempts: number; runs: number; created_at: number; updated_at: number; queued_at: number | null; started_at: number | null;
  finished_at: number | null; lease_owner: string | null; lease_expires_at: number | null; runner: string | null;
  worker_ref: string | null; placement: string | null; stop_request: string | null; step: number | null; error: string | null;
}
export interface JobEventsTable { seq: number; job_id: string; at: number; type: string; message: string; data: string | null }
export interface ExperimentsTable { id: string; name: string; created_at: number; status: string; spec: string; plan: string }
export interface FactoryTables { jobs: JobsTable; job_events: JobEventsTable; experiments: ExperimentsTable }

type Db = Kysely<FactoryTables> | Transaction<FactoryTables>;

const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function recordOf(r: JobsTable, paths: DataPaths): JobRecord {
  return {
    id: r.id, status: r.status as JobStatus, priority: Number(r.priority), experimentId: r.experiment_id,
    dependsOn: r.depends_on ? (JSON.parse(r.depends_on) as string[]) : [],
    spec: mapSpecPaths(JSON.parse(r.spec) as JobSpec, paths.fromStored), estimate: JSON.parse(r.estimate), attempts: Number(r.attempts), runs: Number(r.runs),
    seq: Number(r.seq), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at), queuedAt: n(r.queued_at),
    startedAt: n(r.started_at), finishedAt: n(r.finished_at), leaseOwner: r.lease_owner, leaseExpiresAt: n(r.lease_expires_at),
    runner: r.runner, workerRef: r.worker_ref, placement: r.placement === null ? null : JSON.parse(r.placement),
    stopRequest: r.stop_request as JobRecord['stopRequest'], step: n(r.step), error: r.error,
  };
}

const COLUMNS: Record<string, keyof JobsTable> = {
  status: 'status', priority: 'priority', experimentId: 'experiment_id', spec: 'spec', estimate: 'estimate', attempts: 'attempts',
  runs: 'runs', queuedAt: 'queued_at', startedAt: 'started_at', finishedAt: 'finished_at', leaseOwner: 'lease_owner',
  leaseExpiresAt: 'lease_expires_at', runner: 'runner', workerRef: 'worker_ref', placement: 'placement', stopRequest: 'stop_request',
  step: 'step', error: 'error',
};
const JSON_FIELDS = new Set(['spec', 'estimate', 'placement']);

function toColumns(patch: JobPatch, paths: DataPaths): Partial<JobsTable> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) {
    const col = COLUMNS[k];
    if (!col || v === undefined) continue;
    const stored = k === 'spec' && v !== null ? mapSpecPaths(v as JobSpec, paths.toStored) : v;
    out[col] = JSON_FIELDS.has(k) ? (stored === null ? null : JSON.stringify(stored)) : stored;
  }
  return out as Partial<JobsTable>;
}

const statuses = (s: JobStatus | readonly JobStatus[]) => (typeof s === 'string' ? [s] : [...s]);

export function kyselyJobRepository(db: Kysely<FactoryTables>, now: () => number = Date.now, root: string | null = null): JobRepository {
  const paths = dataPaths(root);
  const toRecord = (r: JobsTable) => recordOf(r, paths);
  return {
    async create(job: NewJob) {
      return retryOnUniqueViolation(() => db.transaction().execute(async (tx: Db) => {
        if (await tx.selectFrom('jobs').select('id').where('id', '=', job.id).executeTakeFirst()) throw new Error(`job ${job.id} already exists`);
        const last = await tx.selectFrom('jobs').select((eb) => eb.fn.max('seq').as('m')).executeTakeFirst();
        const t = now();
        const row: JobsTable = {
          id: job.id, seq: Number(last?.m ?? 0) + 1, status: job.status, priority: job.priority, experiment_id: job.experimentId,
          depends_on: job.dependsOn?.length ? JSON.stringify(job.dependsOn) : null,
          spec: JSON.stringify(mapSpecPaths(job.spec, paths.toStored)), estimate: JSON.stringify(job.estimate), attempts: 0, runs: 0, created_at: t, updated_at: t,
          queued_at: job.queuedAt ?? null, started_at: null, finished_at: null, lease_owner: null, lease_expires_at: null, runner: null,
          worker_ref: null, placement: null, stop_request: null, step: null, error: null,
        };
        await tx.insertInto('jobs').values(row).execute();
        return toRecord(row);
      }));
    },
    async get(id) {
      const r = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toRecord(r) : null;
    },
    async list(filter: JobFilter = {}) {
      let q = db.selectFrom('jobs').selectAll();
      if (filter.status !== undefined) q = q.where('status', 'in', statuses(filter.status));
      if (filter.experimentId !== undefined) q = q.where('experiment_id', '=', filter.experimentId);
      return (await q.orderBy('seq').execute()).map(toRecord);
    },
    async update(id: string, patch: JobPatch, expect?: JobExpectation) {
      let q = db.updateTable('jobs').set({ ...toColumns(patch, paths), updated_at: now() }).where('id', '=', id);
      if (expect?.status !== undefined) q = q.where('status', 'in', statuses(expect.status));
      if (expect?.leaseOwner !== undefined) q = expect.leaseOwner === null ? q.where('lease_owner', 'is', null) : q.where('lease_owner', '=', expect.leaseOwner);
      const res = await q.executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) {
        if (!(await db.selectFrom('jobs').select('id').where('id', '=', id).executeTakeFirst())) throw new JobNotFoundError(id);
        return null;
      }
      const r = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return toRecord(r);
    },
    async appendEvent(e: NewJobEvent) {
      return retryOnUniqueViolation(() => db.transaction().execute(async (tx: Db) => {
        const last = await tx.selectFrom('job_events').select((eb) => eb.fn.max('seq').as('m')).executeTakeFirst();
        const rec: JobEventRecord = { seq: Number(last?.m ?? 0) + 1, jobId: e.jobId, at: e.at ?? now(), type: e.type, message: e.message, ...(e.data === undefined ? {} : { data: e.data }) };
        await tx.insertInto('job_events').values({ seq: rec.seq, job_id: rec.jobId, at: rec.at, type: rec.type, message: rec.message, data: e.data === undefined ? null : JSON.stringify(e.data) }).execute();
        return JSON.parse(JSON.stringify(rec)) as JobEventRecord;
      }));
    },
    async events(jobId, opts = {}) {
      const rows = await db.selectFrom('job_events').selectAll().where('job_id', '=', jobId).where('seq', '>', opts.afterSeq ?? 0).orderBy('seq').execute();
      return rows.map((r) => ({ seq: Number(r.seq), jobId: r.job_id, at: Number(r.at), type: r.type, message: r.message, ...(r.data === null ? {} : { data: JSON.parse(r.data) }) }));
    },
  };
}

/**
 * Experiments (`experiments`): the request as submitted and its plan (job ids by key, rejected combinations,
 * duplicates), both JSON text; `created_at` in epoch milliseconds. The experiment's status is derived from its jobs
 * by the factory, never stored.
 */
export interface ExperimentRepository {
  create(row: ExperimentsTable): Promise<void>;
  get(id: string): Promise<ExperimentsTable | null>;
  /** Replaces the plan (once its jobs exist). */
  setPlan(id: string, plan: string): Promise<void>;
  /** Every experiment's id, newest first. */
  listIds(): Promise<string[]>;
}

export function kyselyExperimentRepository(db: Kysely<FactoryTables>): ExperimentRepository {
  return {
    async create(row) { await db.insertInto('experiments').values(row).execute(); },
    async get(id) {
      const r = await db.selectFrom('experiments').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? { ...r, created_at: Number(r.created_at) } : null;
    },
    async setPlan(id, plan) { await db.updateTable('experiments').set({ plan }).where('id', '=', id).execute(); },
    async listIds() {
      return (await db.selectFrom('experiments').select('id').orderBy('created_at', 'desc').orderBy('id', 'desc').execute()).map((r) => r.id);
    },
  };
}
