// Which database a server opens, and database URLs in messages without their passwords.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { databaseTarget, redactDatabaseUrl } from '../../src/store/database-url.ts';
import { openDatabase } from '../../src/store/open-database.ts';

test('databaseTarget: nothing is SQLite, postgres URLs with an optional schema, anything else a clear error', () => {
  assert.deepEqual(databaseTarget(undefined), { kind: 'sqlite' });
  assert.deepEqual(databaseTarget('  '), { kind: 'sqlite' });
  assert.deepEqual(databaseTarget('postgres://u:p@h:5433/db?schema=team_a&sslmode=require'), { kind: 'postgres', url: 'postgres://u:p@h:5433/db?sslmode=require', schema: 'team_a' });
  assert.equal(databaseTarget('postgresql://h/db').kind, 'postgres');
  assert.throws(() => databaseTarget('mysql://u:secret@h/db'), (e: Error) => /only postgres:\/\//.test(e.message) && !e.message.includes('secret'));
  assert.throws(() => databaseTarget('not a url secret'), (e: Error) => /expected a postgres:\/\/ URL/.test(e.message) && !e.message.includes('secret'));
  assert.throws(() => databaseTarget('postgres://h/db?schema=Robert%27);drop'), /schema must be/);
});

test('redactDatabaseUrl: the password and password parameters are hidden', () => {
  assert.equal(redactDatabaseUrl('postgres://modelfab:s3cret@db.example:5432/mf'), 'postgres://modelfab:***@db.example:5432/mf');
  assert.equal(redactDatabaseUrl('postgres://db/mf?password=s3cret&x=1'), 'postgres://db/mf?password=***&x=1');
  assert.ok(!redactDatabaseUrl('postgres://u:s3cret@[::1/mf').includes('s3cret'));
});

test('a PostgreSQL server that refuses names the database without its password', async () => {
  // port 1 on the loopback: nothing listens, the connection is refused at once
  await assert.rejects(openDatabase('/tmp/unused-data', 'postgres://modelfab:s3cret@127.0.0.1:1/mf'),
    (e: Error) => /cannot open PostgreSQL database postgres:\/\/modelfab:\*\*\*@127\.0\.0\.1:1\/mf/.test(e.message) && !e.message.includes('s3cret'));
});
