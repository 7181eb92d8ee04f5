/**
 * Per-key request counts per minute, shared by every server on the database, so a key's rate limit holds across
 * servers (serve/api-keys.ts KeyPolicy). Rows older than two minutes are of no use and are pruned as they go.
 */
import type { Kysely, Migration } from 'kysely';

export const rateWindows: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createTable('rate_windows')
      .addColumn('key_id', 'text', (c) => c.notNull())
      /** The minute (unix seconds / 60, floored). */
      .addColumn('minute', 'bigint', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('rate_windows_pk', ['key_id', 'minute'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('rate_windows').execute();
  },
};
