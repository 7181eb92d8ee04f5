/** The SQLite JobRepository passes the same conformance suite as the in-memory one, on a real database file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrate, stageTables, type Database } from '../../src/store/kysely-store.ts';
import { kyselyJobRepository, type FactoryTables } from '../../src/factory/kysely-jobs.ts';
import { repositorySuite } from './repository-suite.ts';

const dir = mkdtempSync(join(tmpdir(), 'mf-jobs-'));
const dbs: Kysely<FactoryTables>[] = [];
after(async () => { for (const d of dbs) await d.destroy(); rmSync(dir, { recursive: true, force: true }); });

let n = 0;
repositorySuite('sqlite', async () => {
  const sqlite = new BetterSqlite3(join(dir, `jobs-${n++}.db`));
  sqlite.pragma('journal_mode = WAL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db);
  const jobs = stageTables<FactoryTables>(db);
  dbs.push(jobs);
  return kyselyJobRepository(jobs);
});
