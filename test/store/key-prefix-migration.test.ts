/**
 * Key prefixes keep at most 4 characters of a key's secret part: new keys (generated or given by
 * MODELFAB_ADMIN_KEY) store `sk-mf-` + 4 or the first 4 characters; the migration cuts the prefixes rows already hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from '../../src/store/migrations/all-migrations.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { ensureAdminKey } from '../../src/api/auth.ts';
import { generateApiKey, hashApiKey, keyPrefix } from '../../src/util/api-key.ts';
import { createKey } from '../../src/serve/api-keys.ts';

test('keyPrefix: sk-mf- and 4 characters, or 4 characters of a key of another form', () => {
  const k = generateApiKey();
  assert.equal(keyPrefix(k), k.slice(0, 10));
  assert.match(keyPrefix(k), /^sk-mf-[A-Za-z0-9]{4}$/);
  assert.equal(keyPrefix('my-admin-secret-0123'), 'my-a');
  assert.equal(keyPrefix('sk-mf-test-admin-key-0123456789abcdef'), 'sk-mf-test');
});

test('new keys store short prefixes: MODELFAB_ADMIN_KEY and generated keys', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-prefix-'));
  try {
    const store = await openSqliteStore(join(dir, 'modelfab.db'));
    const env = 'Adm1nSecretKey16';
    await ensureAdminKey(store, env);
    const admin = await store.apiKeys.getByHash(hashApiKey(env));
    assert.equal(admin?.prefix, 'Adm1');
    const { key, row } = await createKey(store, { name: 'app' });
    assert.equal(row.prefix, key.slice(0, 10));
    assert.equal(row.prefix.length, 10);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('migration 0008 cuts the prefixes stored before it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-prefix-'));
  try {
    const sqlite = new BetterSqlite3(join(dir, 'modelfab.db'));
    const kdb = new Kysely<any>({ dialect: new SqliteDialect({ database: sqlite }) });
    const migrator = new Migrator({ db: kdb, provider: migrationProvider({ dataDir: null }) });
    assert.equal((await migrator.migrateTo('0007-relative-paths')).error, undefined);
    const row = (id: string, prefix: string) => ({ id, name: id, hash: `h-${id}`, prefix, role: 'admin', created_at: 1, last_used_at: null, revoked_at: null });
    await kdb.insertInto('api_keys').values([row('env', 'Adm1nSecre'), row('gen', 'sk-mf-AbCd'), row('short', 'ab')]).execute();
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const got = Object.fromEntries((await kdb.selectFrom('api_keys').select(['id', 'prefix']).execute()).map((r: { id: string; prefix: string }) => [r.id, r.prefix]));
    assert.deepEqual(got, { env: 'Adm1', gen: 'sk-mf-AbCd', short: 'ab' });
    await kdb.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
