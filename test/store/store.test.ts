// The Store (Kysely, migrations, foreign keys) on SQLite and on PostgreSQL, and the local ArtifactStore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/open-database.ts';
import { isUniqueViolation } from '../../src/store/store.ts';
import { testDatabases } from './test-databases.ts';
import { LocalArtifactStore } from '../../src/store/artifacts.ts';
import type { FileRow } from '../../src/store/store.ts';

const file = (id: string, created_at: number): FileRow => ({
  id, bytes: 3, created_at, filename: 'a.jsonl', purpose: 'fine-tune', status: 'processed', status_details: null, sha256: 'x', meta: null,
});

for (const tdb of testDatabases) {
  test(`store on ${tdb.name}: migrations, repositories, pagination, cascade, transactions roll back`, { skip: tdb.skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-store-'));
    const { database, drop } = await tdb.make();
    try {
      let { store } = await openDatabase(dir, database);
      for (let i = 0; i < 5; i++) await store.files.insert(file(`file-${i}`, 100 + i));
      assert.deepEqual((await store.files.list({ limit: 2 })).map((f) => f.id), ['file-4', 'file-3']);
      assert.deepEqual((await store.files.list({ limit: 2, after: 'file-3' })).map((f) => f.id), ['file-2', 'file-1']);
      assert.deepEqual((await store.files.list({ order: 'asc', limit: 1 })).map((f) => f.id), ['file-0']);
      assert.equal(typeof (await store.files.get('file-0'))!.created_at, 'number');
      await store.datasets.insert({ id: 'ds-1', name: 'a', stage: 'sft', format: 'openai-chat', created_at: 1, updated_at: 1, latest_version_id: null });
      await store.datasetVersions.insert({
        id: 'dsv-1', dataset_id: 'ds-1', content_hash: 'h', created_at: 1, stage: 'sft', format: 'openai-chat', train_rows: 1,
        validation_rows: 0, source: '{}', stats: '{}', train_key: 'datasets/h/train.jsonl', validation_key: null,
      });
      assert.equal(await store.datasetVersions.countUsingKey('datasets/h/train.jsonl'), 1);
      const dup = await store.transaction(async (tx) => {
        await tx.datasets.insert({ id: 'ds-2', name: 'b', stage: 'sft', format: 'x', created_at: 1, updated_at: 1, latest_version_id: null });
        await tx.datasets.insert({ id: 'ds-3', name: 'b', stage: 'sft', format: 'x', created_at: 1, updated_at: 1, latest_version_id: null });
      }).then(() => null, (e: unknown) => e);
      assert.ok(isUniqueViolation(dup), `a unique violation, got ${String(dup)}`);
      assert.equal(await store.datasets.getByName('b'), undefined);
      await store.datasets.delete('ds-1');
      assert.equal(await store.datasetVersions.get('dsv-1'), undefined, 'versions cascade');

      // serving: paths inside the data folder stored relative, usage accumulated by upsert, totals as numbers
      await store.models.insert({ id: 'm1', name: 'm', kind: 'engine', path: join(dir, 'models', 'm'), base_path: null, adapter_path: null, endpoint: null, chat_template: null, owned_by: 'me', created_at: 7, meta: null });
      assert.equal((await store.models.getByName('m'))!.path, join(dir, 'models', 'm'));
      await store.usage.add({ key_id: 'k', model: 'm', day: 86400, requests: 1, errors: 0, prompt_tokens: 10, completion_tokens: 5 });
      await store.usage.add({ key_id: 'k', model: 'm', day: 86400, requests: 1, errors: 1, prompt_tokens: 3, completion_tokens: 2 });
      assert.deepEqual(await store.usage.list({ keyId: 'k' }), [{ key_id: 'k', model: 'm', day: 86400, requests: 2, errors: 1, prompt_tokens: 13, completion_tokens: 7 }]);
      assert.equal(await store.usage.totalTokens('k'), 20);
      assert.equal(await store.usage.totalTokens('k', 86401), 0);
      await store.close();
      ({ store } = await openDatabase(dir, database)); // migrations run once
      assert.equal((await store.files.list()).length, 5);
      await store.close();
    } finally {
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('artifacts: atomic put, putFile, list, stream, delete; keys are checked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-art-'));
  try {
    const a = new LocalArtifactStore(dir);
    await a.put('datasets/h1/train.jsonl', 'x\n');
    const t = a.tempFile('up');
    writeFileSync(t, 'hello');
    await a.putFile('files/file-1', t);
    assert.deepEqual(await a.list(), ['datasets/h1/train.jsonl', 'files/file-1']);
    assert.equal((await a.get('files/file-1')).toString(), 'hello');
    assert.deepEqual(await a.stat('files/file-1'), { bytes: 5 });
    let s = '';
    for await (const c of a.stream('files/file-1')) s += c;
    assert.equal(s, 'hello');
    await a.delete('datasets/h1/train.jsonl');
    assert.deepEqual(readdirSync(dir).sort(), ['files', 'tmp']);
    await assert.rejects(a.put('../evil', 'x'), /invalid artifact key/);
    await assert.rejects(a.put('a//b', 'x'), /invalid artifact key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
