/**
 * Serving: the models registry, deployments, routes, per-key usage, and API-key policy columns (scopes,
 * expiry, rate limit, token quota, owner). Portable SQL: text ids, integer unix seconds, JSON as text.
 */
import type { Kysely, Migration } from 'kysely';

export const serve: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createTable('models')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('path', 'text')
      .addColumn('base_path', 'text')
      .addColumn('adapter_path', 'text')
      .addColumn('endpoint', 'text')
      .addColumn('chat_template', 'text')
      .addColumn('owned_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('meta', 'text')
      .execute();

    await db.schema.createTable('deployments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('model_id', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('settings', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema.createTable('routes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('policy', 'text', (c) => c.notNull())
      .addColumn('targets', 'text', (c) => c.notNull())
      .addColumn('timeout_ms', 'integer')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema.createTable('usage')
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('day', 'bigint', (c) => c.notNull())
      .addColumn('requests', 'bigint', (c) => c.notNull())
      .addColumn('errors', 'bigint', (c) => c.notNull())
      .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
      .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('usage_pk', ['key_id', 'model', 'day'])
      .execute();

    for (const [col, type] of [['scopes', 'text'], ['expires_at', 'bigint'], ['rate_limit_rpm', 'integer'], ['token_quota', 'bigint'], ['owner', 'text']] as const) {
      await db.schema.alterTable('api_keys').addColumn(col, type).execute();
    }
  },
  async down(db: Kysely<unknown>) {
    for (const col of ['scopes', 'expires_at', 'rate_limit_rpm', 'token_quota', 'owner']) await db.schema.alterTable('api_keys').dropColumn(col).execute();
    for (const t of ['usage', 'routes', 'deployments', 'models']) await db.schema.dropTable(t).execute();
  },
};
