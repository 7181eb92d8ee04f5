/**
 * The embedded Store: SQLite through better-sqlite3 (12.x) and Kysely's SqliteDialect. WAL journal, foreign keys on,
 * a busy timeout so a second process (the CLI beside a running server) waits instead of failing.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { kyselyStore, migrate, type Database } from './kysely-store.ts';
import type { Store } from './store.ts';

export async function openSqliteStore(file: string): Promise<Store> {
  return (await openSqliteDatabase(file)).store;
}

/** The Store and the Kysely instance under it (for repositories that live beside the Store, like the factory's). */
export async function openSqliteDatabase(file: string): Promise<{ store: Store; db: Kysely<Database> }> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrate(db);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return { store: kyselyStore(db), db };
}
