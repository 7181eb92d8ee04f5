/**
 * The request log: every answer the gateway or a bot sends is in `control_responses`; these columns say
 * where it came from and what the guard did, so the log can be listed and filtered (`GET /v1/requests`).
 */
import type { Kysely, Migration } from 'kysely';

export const requestLog: Migration = {
  async up(db: Kysely<unknown>) {
    /** The API key that asked (its id), so a key can read back its own requests. */
    await db.schema.alterTable('control_responses').addColumn('key_id', 'text').execute();
    /** api | bot | playground */
    await db.schema.alterTable('control_responses').addColumn('source', 'text', (c) => c.notNull().defaultTo('api')).execute();
    /** Guard policies applied (comma-separated names), null when none. */
    await db.schema.alterTable('control_responses').addColumn('policy', 'text').execute();
    /** passed | flagged | rewritten | refused; null when no guard ran. */
    await db.schema.alterTable('control_responses').addColumn('outcome', 'text').execute();
    await db.schema.alterTable('control_responses').addColumn('latency_ms', 'real').execute();
    await db.schema.createIndex('control_responses_time').on('control_responses').columns(['created_at']).execute();
    await db.schema.createIndex('control_responses_outcome').on('control_responses').columns(['outcome', 'created_at']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('control_responses_outcome').execute();
    await db.schema.dropIndex('control_responses_time').execute();
    for (const c of ['latency_ms', 'outcome', 'policy', 'source', 'key_id']) await db.schema.alterTable('control_responses').dropColumn(c).execute();
  },
};
