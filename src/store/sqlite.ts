/**
 * The embedded Store: SQLite through better-sqlite3 (12.x) and Kysely's SqliteDialect. WAL journal, foreign keys on,
 * a busy timeout so a second process (the CLI beside a running server) waits instead of failing.
 *
 * The database file lives in its data folder (`<data>/modelfab.db`): that folder is the root paths are stored
 * relative to (src/store/paths.ts), so the folder can be moved or copied; `root` overrides it.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { kyselyStore, migrate, type Database } from './kysely-store.ts';
import type { Store } from './store.ts';

export interface SqliteOptions {
  /** The data folder paths are stored relative to (default: the database file's folder; none in memory). */
  root?: string | null;
}

export async function openSqliteStore(file: string, opts: SqliteOptions = {}): Promise<Store> {
  return (await openSqliteDatabase(file, opts)).store;
}

/** The Store and the Kysely instance under it (for repositories that live beside the Store, like the factory's). */
export async function openSqliteDatabase(file: string, opts: SqliteOptions = {}): Promise<{ store: Store; db: Kysely<Database>; root: string | null }> {
  const memory = file === ':memory:' || file === '';
  const root = opts.root !== undefined ? (opts.root === null ? null : resolve(opts.root)) : memory ? null : dirname(resolve(file));
  if (!memory) mkdirSync(dirname(file), { recursive: true });
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrate(db, { dataDir: root });
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return { store: kyselyStore(db, root), db, root };
}
