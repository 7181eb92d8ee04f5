/** Control: human feedback on answers, the response log the guard writes per request, named guard policies. Times are epoch milliseconds. */
import type { Kysely, Migration } from 'kysely';

export const control: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createTable('feedback')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('seq', 'integer', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('response_id', 'text')
      .addColumn('model', 'text')
      .addColumn('source', 'text', (c) => c.notNull())
      /** The conversation before the answer (JSON array of {role, content}). */
      .addColumn('prompt', 'text', (c) => c.notNull())
      .addColumn('answer', 'text')
      .addColumn('label', 'text')
      .addColumn('rating', 'integer')
      .addColumn('correction', 'text')
      /** {response_id_a, response_id_b, answer_a, answer_b, choice} (JSON) */
      .addColumn('preferred', 'text')
      .addColumn('annotator', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('reviewer', 'text')
      .addColumn('reviewed_at', 'bigint')
      .addColumn('note', 'text')
      .execute();
    await db.schema.createIndex('feedback_status').on('feedback').columns(['status', 'seq']).execute();
    await db.schema.createIndex('feedback_response').on('feedback').columns(['response_id']).execute();

    await db.schema.createTable('control_responses')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('model', 'text')
      .addColumn('prompt', 'text', (c) => c.notNull())
      .addColumn('answer', 'text', (c) => c.notNull())
      /** Guard verdicts of the request (JSON array), [] when no guard ran. */
      .addColumn('guard', 'text', (c) => c.notNull())
      .execute();

    await db.schema.createTable('guard_policies')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('policy', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('guard_policies').execute();
    await db.schema.dropTable('control_responses').execute();
    await db.schema.dropTable('feedback').execute();
  },
};
