/**
 * Opens the product's database for a data folder: SQLite at `<data>/modelfab.db` (the default), or PostgreSQL when a
 * `postgres://` URL is given (`--database`, `MODELFAB_DATABASE_URL`). Either way the data folder stays the root for
 * artifacts and job folders, and paths inside it are stored relative to it.
 */
import { join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import { databaseTarget } from './database-url.ts';
import type { Database } from './kysely-store.ts';
import { openPostgresDatabase } from './postgres.ts';
import { openSqliteDatabase } from './sqlite.ts';
import type { Store } from './store.ts';
import { soleCoordination, type Coordination } from './coordination.ts';

export type DatabaseDialect = 'sqlite' | 'postgres';

export interface OpenedDatabase {
  store: Store;
  db: Kysely<Database>;
  root: string | null;
  dialect: DatabaseDialect;
  /** How servers on this database agree on who schedules (SQLite: this one alone); closed by whoever opened it. */
  coordination: Coordination;
}

export async function openDatabase(dataDir: string, database?: string | null): Promise<OpenedDatabase> {
  const target = databaseTarget(database);
  const root = resolve(dataDir);
  if (target.kind === 'postgres') return { ...(await openPostgresDatabase(database!, { root })), dialect: 'postgres' };
  return { ...(await openSqliteDatabase(join(root, 'modelfab.db'))), dialect: 'sqlite', coordination: soleCoordination() };
}
