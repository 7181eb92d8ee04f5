/**
 * The Store on PostgreSQL: Kysely's PostgresDialect over a `pg` pool. The same repositories and migrations as SQLite
 * (`kysely-store.ts`); what differs is here:
 *   - 64-bit integers (`bigint` columns, `count(*)`) come back as JS numbers, like SQLite's: every stored integer is
 *     a unix time, a size or a counter, far below 2^53. The parser is the pool's own, not pg's global one;
 *   - `?schema=<name>` in the URL puts the tables in that schema (created when missing) through the connections'
 *     `search_path`;
 *   - the first connection is tried before migrating, and a failure names the database without its password;
 *   - the migrator's questions about tables are answered for that schema alone (`postgres-introspector.ts`).
 * Several servers may open one database at once: Kysely's migrator takes a lock, so migrations run once.
 */
import pg from 'pg';
import { Kysely, PostgresDialect, type DatabaseIntrospector } from 'kysely';
import { CurrentSchemaIntrospector } from './postgres-introspector.ts';
import { kyselyStore, migrate, type Database } from './kysely-store.ts';
import { databaseTarget, redactDatabaseUrl } from './database-url.ts';
import type { Store } from './store.ts';
import { pgCoordination } from './pg-coordination.ts';
import type { Coordination } from './coordination.ts';

export interface PostgresOptions {
  /** The data folder paths are stored relative to (artifacts and job folders live there; shared by every server). */
  root: string | null;
  /** Connections in the pool (default 10). */
  maxConnections?: number;
}

const INT8 = 20;

/** Kysely's PostgreSQL dialect with the one-schema introspector. */
class SchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector { return new CurrentSchemaIntrospector(db); }
}

/** The pool's type parsers: int8 as a number, everything else as pg parses it. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

/** Thrown when the server cannot be reached or refuses: the URL redacted, pg's own reason kept. */
export class DatabaseConnectError extends Error {
  constructor(url: string, cause: unknown) {
    super(`cannot open PostgreSQL database ${redactDatabaseUrl(url)}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export async function openPostgresDatabase(spec: string, opts: PostgresOptions): Promise<{ store: Store; db: Kysely<Database>; root: string | null; coordination: Coordination }> {
  const target = databaseTarget(spec);
  if (target.kind !== 'postgres') throw new Error('openPostgresDatabase: a postgres:// URL is required');
  const config: pg.PoolConfig = { connectionString: target.url, max: opts.maxConnections ?? 10, types };
  if (target.schema) config.options = `-c search_path=${target.schema}`;
  const pool = new pg.Pool(config);
  // a connection that drops while idle must not crash the process; the next query reconnects
  pool.on('error', () => {});
  try {
    const c = await pool.connect();
    try {
      if (target.schema) await c.query(`create schema if not exists ${target.schema}`);
    } finally { c.release(); }
  } catch (e) {
    await pool.end().catch(() => {});
    throw new DatabaseConnectError(spec, e);
  }
  const db = new Kysely<Database>({ dialect: new SchemaPostgresDialect({ pool }) });
  try {
    await migrate(db, { dataDir: opts.root, dialect: 'postgres' }, target.schema);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return { store: kyselyStore(db, opts.root), db, root: opts.root, coordination: pgCoordination({ connectionString: target.url, schema: target.schema }) };
}
