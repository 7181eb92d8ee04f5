/** The Kysely JobRepository passes the same conformance suite as the in-memory one, on SQLite and on PostgreSQL. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrate, stageTables, type Database } from '../../src/store/kysely-store.ts';
import { kyselyJobRepository, type FactoryTables } from '../../src/factory/kysely-jobs.ts';
import { repositorySuite, specFor } from './repository-suite.ts';
import { openPostgresDatabase } from '../../src/store/postgres.ts';
import { openDatabase } from '../../src/store/open-database.ts';
import { freshPostgres, noPostgres, testDatabases } from '../store/test-databases.ts';

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

// The same suite on PostgreSQL, each repository in a schema of its own (dropped after).
const pgDrops: Array<() => Promise<void>> = [];
after(async () => { for (const d of pgDrops) await d(); });
repositorySuite('postgres', async () => {
  const p = await freshPostgres();
  pgDrops.push(p.drop); // dropped even when opening fails
  const { db } = await openPostgresDatabase(p.url, { root: null });
  const jobs = stageTables<FactoryTables>(db);
  dbs.push(jobs);
  return kyselyJobRepository(jobs);
}, { skip: noPostgres });

for (const tdb of testDatabases) {
  test(`${tdb.name}: concurrent creates and events get distinct sequence numbers`, { skip: tdb.skip }, async () => {
    const d = mkdtempSync(join(tmpdir(), 'mf-jobs-c-'));
    const { database, drop } = await tdb.make();
    const { db, store } = await openDatabase(d, database).catch(async (e: unknown) => { await drop(); throw e; });
    try {
      const r = kyselyJobRepository(stageTables<FactoryTables>(db));
      const made = await Promise.all(Array.from({ length: 12 }, (_, i) => r.create({ id: `j${i}`, status: 'queued', priority: 0, experimentId: null, spec: specFor(`j${i}`), estimate: { cpuThreads: 1, memoryMB: 1 } })));
      assert.equal(new Set(made.map((j) => j.seq)).size, 12);
      const evs = await Promise.all(made.map((j) => r.appendEvent({ jobId: j.id, type: 'status', message: 'x' })));
      assert.equal(new Set(evs.map((e) => e.seq)).size, 12);
      assert.deepEqual((await r.list()).map((j) => j.seq), [...made.map((j) => j.seq)].sort((a, b) => a - b));
    } finally {
      await store.close();
      await drop();
      rmSync(d, { recursive: true, force: true });
    }
  });
}
