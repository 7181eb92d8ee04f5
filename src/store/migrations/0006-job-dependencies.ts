/**
 * Job dependencies: a job may wait for others to succeed before it starts (a fine-tune of a base model still
 * pretraining; the DPO stage of an experiment after its SFT job). A JSON list of job ids; null when none.
 */
import type { Kysely, Migration } from 'kysely';

export const jobDependencies: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').addColumn('depends_on', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').dropColumn('depends_on').execute();
  },
};
