/**
 * The databases the Store's conformance suites and the HTTP end-to-end tests run on: SQLite in a temporary data
 * folder, and PostgreSQL at MODELFAB_TEST_DATABASE_URL (default: the server scripts/postgres-one-node.sh starts),
 * each test in a schema of its own, dropped after. Where no PostgreSQL answers its tests are skipped with the
 * reason, except under MODELFAB_REQUIRE_POSTGRES=1 (CI), where a missing server fails them.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.MODELFAB_TEST_DATABASE_URL ?? 'postgres://modelfab:modelfab@127.0.0.1:5432/modelfab_test';

async function reachable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('select 1');
    return undefined;
  } catch (e) {
    return `no PostgreSQL answers at MODELFAB_TEST_DATABASE_URL (sudo bash scripts/postgres-one-node.sh starts one): ${(e as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
}

const why = await reachable();
/** Why PostgreSQL tests are skipped here, or undefined when they run (always under MODELFAB_REQUIRE_POSTGRES=1). */
export const noPostgres: string | undefined = why && process.env.MODELFAB_REQUIRE_POSTGRES !== '1' ? why : undefined;

/** A new empty schema in the test database: its URL (`?schema=`) and a function that drops it. */
export async function freshPostgres(): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const schema = `mf_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const u = new URL(TEST_DATABASE_URL);
  u.searchParams.set('schema', schema);
  return {
    url: u.toString(), schema,
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try { await c.query(`drop schema if exists ${schema} cascade`); } finally { await c.end(); }
    },
  };
}

export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  skip: string | undefined;
  /** The `database` a server or `openDatabase` takes (undefined: SQLite in the data folder), and its cleanup. */
  make(): Promise<{ database: string | undefined; drop(): Promise<void> }>;
}

export const testDatabases: readonly TestDatabase[] = [
  { name: 'sqlite', skip: undefined, make: async () => ({ database: undefined, drop: async () => {} }) },
  { name: 'postgres', skip: noPostgres, make: async () => { const p = await freshPostgres(); return { database: p.url, drop: p.drop }; } },
];
