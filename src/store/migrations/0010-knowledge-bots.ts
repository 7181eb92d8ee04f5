/**
 * Knowledge bases and bots move from JSON files under the data folder into tables, so several servers share them
 * (the rows are imported from an older folder at start: `knowledge/knowledge-tables.ts`, `bots/bot-tables.ts`).
 * Each entity is one row: its key columns, the columns lists are ordered by, and the record itself as JSON text.
 * Blobs stay in the artifact store (document originals, embedding vectors); rows name them by key.
 * Portable SQL: text keys, integer order and unix-millisecond columns, JSON as text, 0/1 for booleans.
 */
import type { Kysely, Migration } from 'kysely';

export const knowledgeBots: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createTable('knowledge_bases')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('lexicon', 'text')
      /** 1 once chunks were written (an index built, maybe of no chunks); 0 before. */
      .addColumn('chunks_built', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createTable('knowledge_documents')
      .addColumn('kb_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      /** Order of the last put (a document put again moves to the end, as it always did). */
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('original_key', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('knowledge_documents_pk', ['kb_id', 'id'])
      .execute();
    await db.schema.createTable('knowledge_items')
      .addColumn('kb_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('doc_id', 'text', (c) => c.notNull())
      .addColumn('ordinal', 'bigint', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('knowledge_items_pk', ['kb_id', 'id'])
      .execute();
    await db.schema.createTable('knowledge_item_versions')
      .addColumn('kb_id', 'text', (c) => c.notNull())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('item_id', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('knowledge_item_versions_pk', ['kb_id', 'seq'])
      .execute();
    await db.schema.createIndex('knowledge_item_versions_item').on('knowledge_item_versions').columns(['kb_id', 'item_id', 'seq']).execute();
    await db.schema.createTable('knowledge_chunks')
      .addColumn('kb_id', 'text', (c) => c.notNull())
      .addColumn('ordinal', 'bigint', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('knowledge_chunks_pk', ['kb_id', 'ordinal'])
      .execute();
    await db.schema.createTable('knowledge_vectors')
      .addColumn('kb_id', 'text', (c) => c.notNull())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('dims', 'integer', (c) => c.notNull())
      /** The chunk ids the vectors are of, in order (JSON). */
      .addColumn('ids', 'text', (c) => c.notNull())
      /** The float32 vectors, row after row, in the artifact store. */
      .addColumn('blob_key', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('knowledge_vectors_pk', ['kb_id', 'model'])
      .execute();

    await db.schema.createTable('bots')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('data', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createTable('bot_pairs')
      .addColumn('bot', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      /** Order of first creation (an edited pair keeps its place). */
      .addColumn('ordinal', 'bigint', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('bot_pairs_pk', ['bot', 'id'])
      .execute();
    await db.schema.createTable('bot_pair_history')
      .addColumn('bot', 'text', (c) => c.notNull())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('pair_id', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('bot_pair_history_pk', ['bot', 'seq'])
      .execute();
    await db.schema.createIndex('bot_pair_history_pair').on('bot_pair_history').columns(['bot', 'pair_id', 'seq']).execute();
    await db.schema.createTable('bot_versions')
      .addColumn('bot', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('bot_versions_pk', ['bot', 'version'])
      .execute();
    await db.schema.createTable('bot_reports')
      .addColumn('bot', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('bot_reports_pk', ['bot', 'id'])
      .execute();
    await db.schema.createTable('bot_approvals')
      .addColumn('bot', 'text', (c) => c.notNull())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('bot_approvals_pk', ['bot', 'seq'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const t of ['bot_approvals', 'bot_reports', 'bot_versions', 'bot_pair_history', 'bot_pairs', 'bots',
      'knowledge_vectors', 'knowledge_chunks', 'knowledge_item_versions', 'knowledge_items', 'knowledge_documents', 'knowledge_bases']) {
      await db.schema.dropTable(t).execute();
    }
  },
};
