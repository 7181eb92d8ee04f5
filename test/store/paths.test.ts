// Paths inside a data folder are stored relative to it and resolved against where it is now: the pure functions,
// the Store's models and dataset versions, and the SQLite job repository's specs, across a renamed folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { isInside, relocate, resolveStored, storedPath, mapJsonStrings } from '../../src/store/paths.ts';
import { openSqliteDatabase } from '../../src/store/sqlite.ts';
import { stageTables } from '../../src/store/kysely-store.ts';
import { kyselyJobRepository, type FactoryTables } from '../../src/factory/kysely-jobs.ts';
import { mapSpecPaths } from '../../src/factory/spec-paths.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';

test('paths: inside the folder relative (with /), outside and relative unchanged; relocate from old locations', () => {
  assert.equal(storedPath('/srv/data', '/srv/data/jobs/a/model'), 'jobs/a/model');
  assert.equal(storedPath('/srv/data/', '/srv/data'), '.');
  assert.equal(storedPath('/srv/data', '/srv/data2/x.gguf'), '/srv/data2/x.gguf', 'a sibling with the same prefix is outside');
  assert.equal(storedPath('/srv/data', '/srv/x.gguf'), '/srv/x.gguf');
  assert.equal(storedPath('/srv/data', '/srv/data/..foo/m.gguf'), '..foo/m.gguf', 'a name starting with .. is inside');
  assert.equal(storedPath('/srv/data', 'jobs/a'), 'jobs/a');
  assert.equal(resolveStored('/mnt/moved', 'jobs/a/model'), '/mnt/moved/jobs/a/model');
  assert.equal(resolveStored('/mnt/moved', '/models/x.gguf'), '/models/x.gguf');
  assert.ok(isInside('/a/b', '/a/b/c') && isInside('/a/b', '/a/b') && !isInside('/a/b', '/a/bc') && !isInside('/a/b', '/a'));
  assert.equal(relocate(['/old', '/old/nested'], '/old/nested/jobs/x'), 'jobs/x', 'the longest old location wins');
  assert.equal(relocate(['/old'], '/elsewhere/x'), '/elsewhere/x');
  assert.equal(relocate(['/old'], 'spruce-s'), 'spruce-s');
  assert.deepEqual(mapJsonStrings({ a: ['/old/x', 1, null], b: { c: '/old' } }, (s) => relocate(['/old'], s)), { a: ['x', 1, null], b: { c: '.' } });
});

const spec = (root: string, outside: string): JobSpec => ({
  version: 1, id: 'ftjob-1', name: 'n', stage: 'sft', base: { kind: 'gguf', path: outside }, method: { type: 'full' },
  data: { train: { path: join(root, 'jobs/ftjob-1/data/train.jsonl'), kind: 'sft' }, validation: { path: join(root, 'jobs/ftjob-1/data/validation.jsonl'), kind: 'sft' } },
  hyperparameters: { batchSize: 1, lr: 1e-3, seqLen: 8 }, seed: 1, outputDir: join(root, 'jobs/ftjob-1'), threads: 1,
  evaluation: { cacheDir: join(root, 'bench-cache'), datasets: [{ name: 'd', path: join(root, 'experiments/e/heldout/d.jsonl') }], limit: 1 },
});

test('store and job repository: rows hold relative paths; a renamed folder reads them where it is now', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mf-paths-'));
  try {
    const first = join(tmp, 'first'), moved = join(tmp, 'moved');
    const outside = join(tmp, 'elsewhere', 'user.gguf');
    mkdirSync(first);
    let { store, db } = await openSqliteDatabase(join(first, 'modelfab.db'));
    await store.models.insert({
      id: 'm1', name: 'adapter', kind: 'gguf', path: null, base_path: outside, adapter_path: join(first, 'serve-cache', 'a.lora.gguf'),
      endpoint: null, chat_template: null, owned_by: 'user', created_at: 1, meta: null,
    });
    await store.models.insert({
      id: 'm2', name: 'ft', kind: 'engine', path: join(first, 'jobs', 'ftjob-1', 'model'), base_path: join(first, 'jobs', 'ftjob-0', 'model'), adapter_path: null,
      endpoint: null, chat_template: null, owned_by: 'user', created_at: 1, meta: null,
    });
    await store.models.update('m2', { path: join(first, 'jobs', 'ftjob-2', 'model') });
    await store.datasets.insert({ id: 'ds-1', name: 'a', stage: 'sft', format: 'openai-chat', created_at: 1, updated_at: 1, latest_version_id: null });
    await store.datasetVersions.insert({
      id: 'dsv-1', dataset_id: 'ds-1', content_hash: 'h', created_at: 1, stage: 'sft', format: 'openai-chat', train_rows: 1, validation_rows: 0,
      source: JSON.stringify({ train: { path: join(first, 'imports', 'a.jsonl') }, validation: { path: outside }, format: 'openai-chat' }),
      stats: '{}', train_key: 'datasets/h/train.jsonl', validation_key: null,
    });
    const jobs = kyselyJobRepository(stageTables<FactoryTables>(db), Date.now, first);
    const created = await jobs.create({ id: 'ftjob-1', status: 'queued', priority: 0, experimentId: null, spec: spec(first, outside), estimate: { cpuThreads: 1, memoryMB: 1 } });
    assert.equal(created.spec.outputDir, join(first, 'jobs/ftjob-1'), 'callers see absolute paths');
    await jobs.update('ftjob-1', { spec: { ...created.spec, data: { train: { path: join(first, 'jobs/ftjob-1/data/other.jsonl'), kind: 'sft' } } } });
    await store.close();

    // what is stored
    const raw = new BetterSqlite3(join(first, 'modelfab.db'), { readonly: true });
    const models = raw.prepare('select id, path, base_path, adapter_path from models order by id').all();
    const storedSpec = JSON.parse((raw.prepare('select spec from jobs').get() as { spec: string }).spec) as JobSpec;
    const source = (raw.prepare('select source from dataset_versions').get() as { source: string }).source;
    raw.close();
    assert.deepEqual(models, [
      { id: 'm1', path: null, base_path: outside, adapter_path: 'serve-cache/a.lora.gguf' },
      { id: 'm2', path: 'jobs/ftjob-2/model', base_path: 'jobs/ftjob-0/model', adapter_path: null },
    ]);
    assert.equal(storedSpec.outputDir, 'jobs/ftjob-1');
    assert.equal(storedSpec.data.train.path, 'jobs/ftjob-1/data/other.jsonl');
    assert.equal(storedSpec.base.kind === 'gguf' && storedSpec.base.path, outside, 'a path outside the folder stays absolute');
    assert.doesNotMatch(source, new RegExp(first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

    // the folder moves
    renameSync(first, moved);
    ({ store, db } = await openSqliteDatabase(join(moved, 'modelfab.db')));
    try {
      const m2 = (await store.models.getByName('ft'))!;
      assert.equal(m2.path, join(moved, 'jobs', 'ftjob-2', 'model'));
      assert.equal(m2.base_path, join(moved, 'jobs', 'ftjob-0', 'model'));
      assert.equal((await store.models.get('m1'))!.base_path, outside);
      assert.equal((await store.models.list()).find((m) => m.id === 'm1')!.adapter_path, join(moved, 'serve-cache', 'a.lora.gguf'));
      const src = JSON.parse((await store.datasetVersions.get('dsv-1'))!.source);
      assert.equal(src.train.path, join(moved, 'imports', 'a.jsonl'));
      assert.equal(src.validation.path, outside);
      const job = (await kyselyJobRepository(stageTables<FactoryTables>(db), Date.now, moved).get('ftjob-1'))!;
      assert.deepEqual(job.spec, mapSpecPaths({ ...spec(first, outside), data: { train: { path: join(first, 'jobs/ftjob-1/data/other.jsonl'), kind: 'sft' } } }, (p) => p.replace(first, moved)));
    } finally {
      await store.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
