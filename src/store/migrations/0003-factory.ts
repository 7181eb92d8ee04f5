/** The factory: experiments, jobs (the scheduler's JobRecord) and job events. Times are epoch milliseconds here. */
import type { Kysely, Migration } from 'kysely';

export const factory: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createTable('experiments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      /** The experiment as submitted (JSON): it alone reproduces the experiment. */
      .addColumn('spec', 'text', (c) => c.notNull())
      /** The plan (JSON): job ids by key, rejected combinations, duplicates. */
      .addColumn('plan', 'text', (c) => c.notNull())
      .execute();

    await db.schema.createTable('jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('seq', 'bigint', (c) => c.notNull().unique())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('priority', 'integer', (c) => c.notNull())
      .addColumn('experiment_id', 'text')
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('estimate', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('runs', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('queued_at', 'bigint')
      .addColumn('started_at', 'bigint')
      .addColumn('finished_at', 'bigint')
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', 'bigint')
      .addColumn('runner', 'text')
      .addColumn('worker_ref', 'text')
      .addColumn('placement', 'text')
      .addColumn('stop_request', 'text')
      .addColumn('step', 'integer')
      .addColumn('error', 'text')
      .execute();
    await db.schema.createIndex('jobs_status').on('jobs').columns(['status', 'seq']).execute();
    await db.schema.createIndex('jobs_experiment').on('jobs').columns(['experiment_id', 'seq']).execute();

    await db.schema.createTable('job_events')
      .addColumn('seq', 'bigint', (c) => c.primaryKey())
      .addColumn('job_id', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('data', 'text')
      .execute();
    await db.schema.createIndex('job_events_job').on('job_events').columns(['job_id', 'seq']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('job_events').execute();
    await db.schema.dropTable('jobs').execute();
    await db.schema.dropTable('experiments').execute();
  },
};
