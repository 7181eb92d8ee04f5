/**
 * The apps on the factory: Magic Writer's documents and Emoti Coach's scenarios and practice sessions. Portable SQL
 * (text, integer, bigint, double precision only); structured parts are JSON in text columns. Times are epoch ms.
 */
import type { Kysely, Migration } from 'kysely';

export const apps: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createTable('writer_documents')
      .addColumn('id', 'text', (c) => c.primaryKey())
      /** The API key that wrote it (null: a document made by an admin tool). */
      .addColumn('key_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('knowledge', 'text')
      /** {tone, length, audience, language} (JSON). */
      .addColumn('style', 'text', (c) => c.notNull())
      /** writing | completed | failed */
      .addColumn('status', 'text', (c) => c.notNull())
      /** [{heading, text, citations, ...}] (JSON). */
      .addColumn('sections', 'text', (c) => c.notNull())
      /** [{prompt, b64_json | url}] (JSON). */
      .addColumn('images', 'text', (c) => c.notNull())
      .addColumn('error', 'text')
      .execute();
    await db.schema.createIndex('writer_documents_key').on('writer_documents').columns(['key_id', 'created_at']).execute();

    await db.schema.createTable('coach_scenarios')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      /** The scenario as validated (JSON). */
      .addColumn('scenario', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .execute();

    await db.schema.createTable('coach_sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('key_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('scenario_id', 'text', (c) => c.notNull())
      /** The scenario as it was when the session started (JSON), so a later edit does not change old scores. */
      .addColumn('scenario', 'text', (c) => c.notNull())
      .addColumn('persona_model', 'text', (c) => c.notNull())
      .addColumn('judge_model', 'text', (c) => c.notNull())
      /** active | finished */
      .addColumn('status', 'text', (c) => c.notNull())
      /** [{role, content, judgement?}] (JSON). */
      .addColumn('turns', 'text', (c) => c.notNull())
      /** The whole session's judgement (JSON), once finished. */
      .addColumn('judgement', 'text')
      /** The session's overall score (0..100), once finished. */
      .addColumn('score', 'double precision')
      .execute();
    await db.schema.createIndex('coach_sessions_key').on('coach_sessions').columns(['key_id', 'created_at']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('coach_sessions').execute();
    await db.schema.dropTable('coach_scenarios').execute();
    await db.schema.dropTable('writer_documents').execute();
  },
};
