// The migrator's and `db copy`'s catalog questions concern the connection's own schema only. Kysely's stock
// introspector looked up every table of every schema by name, so a table another server (or test) dropped between
// its catalog scan and the lookup failed an unrelated migration; that window cannot be timed in a test, so this one
// checks the cause: no other schema is read, here while one of its tables is being dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase } from '../../src/store/open-database.ts';
import { freshPostgres, noPostgres, TEST_DATABASE_URL } from './test-databases.ts';

test('postgres: migrations and table listings read their own schema, not one whose table is being dropped', { skip: noPostgres }, async () => {
  const other = await freshPostgres();
  const mine = await freshPostgres();
  const dir = mkdtempSync(join(tmpdir(), 'mf-introspect-'));
  const dropper = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await dropper.connect();
  try {
    await dropper.query(`create schema ${other.schema}; create table ${other.schema}.leaving (id serial primary key, v text)`);
    await dropper.query(`begin; drop table ${other.schema}.leaving`);
    const { store, db } = await openDatabase(dir, mine.url);
    const tables = await db.introspection.getTables();
    assert.ok(tables.some((t) => t.name === 'files'), 'its own tables are listed');
    assert.ok(tables.every((t) => t.schema === mine.schema), `only its own schema: ${[...new Set(tables.map((t) => t.schema))].join(', ')}`);
    assert.ok(!tables.some((t) => t.name.startsWith('kysely_')), 'the migrator tables only when asked for');
    assert.ok((await db.introspection.getTables({ withInternalKyselyTables: true })).some((t) => t.name === 'kysely_migration'));
    const files = tables.find((t) => t.name === 'files')!;
    assert.ok(files.columns.some((c) => c.name === 'id' && !c.isNullable), 'columns are read');
    await dropper.query('commit');
    await store.close();
  } finally {
    await dropper.query('rollback').catch(() => {});
    await dropper.end();
    await mine.drop();
    await other.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});
