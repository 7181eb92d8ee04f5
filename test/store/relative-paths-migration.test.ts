// Migration 0007: a data folder made before paths were stored relative (absolute paths into where it was made),
// then moved, is migrated forward on open: rows and the job folders' files hold paths relative to the folder,
// read back where the folder is now; paths outside it are kept; nothing else changes; a second open is a no-op.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from '../../src/store/migrations/all-migrations.ts';
import { openSqliteDatabase } from '../../src/store/sqlite.ts';
import { stageTables } from '../../src/store/kysely-store.ts';
import { kyselyJobRepository, type FactoryTables } from '../../src/factory/kysely-jobs.ts';
import { readModelInfo } from '../../src/engine/io.ts';
import { folderOfJob, folderOfModel } from '../../src/store/migrations/0007-relative-paths.ts';

const J = (v: unknown) => JSON.stringify(v);

test('migration: an old folder with absolute paths, moved, works from where it is now', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mf-migrate-'));
  try {
    const old = join(tmp, 'made-here'), now = join(tmp, 'moved', 'data');
    const outside = join(tmp, 'models', 'user.gguf');
    const jobDir = (id: string) => join(old, 'jobs', id);
    // the database as the previous version left it
    mkdirSync(old, { recursive: true });
    const sqlite = new BetterSqlite3(join(old, 'modelfab.db'));
    const kdb = new Kysely<any>({ dialect: new SqliteDialect({ database: sqlite }) });
    const r = await new Migrator({ db: kdb, provider: migrationProvider({ dataDir: null }) }).migrateTo('0006-job-dependencies');
    assert.equal(r.error, undefined);
    const spec = (id: string, base: object) => ({
      version: 1, id, name: id, stage: 'sft', base, method: { type: 'lora', rank: 4 }, seed: 1, threads: 1, outputDir: jobDir(id),
      data: { train: { path: join(jobDir(id), 'data', 'train.jsonl'), kind: 'sft' } }, hyperparameters: { batchSize: 1, lr: 0.001, seqLen: 8 },
      evaluation: { cacheDir: join(old, 'bench-cache'), datasets: [{ name: 'd', path: join(old, 'experiments', 'e', 'heldout', 'd.jsonl') }], limit: 4 },
      meta: { base: 'spruce-s', dataset: 'support', suffix: 'lora-r4' },
    });
    const jobRow = (id: string, seq: number, s: object) => ({
      id, seq, status: 'succeeded', priority: 0, experiment_id: null, spec: J(s), estimate: J({ cpuThreads: 1, memoryMB: 10 }), attempts: 0, runs: 1,
      created_at: seq, updated_at: seq, queued_at: null, started_at: null, finished_at: null, lease_owner: null, lease_expires_at: null, runner: 'local',
      worker_ref: null, placement: null, stop_request: null, step: 6, error: null, depends_on: null,
    });
    await kdb.insertInto('jobs').values(jobRow('ftjob-base', 1, { ...spec('ftjob-base', { kind: 'scratch', config: {}, tokenizer: { path: join(old, 'bases', 'tokenizer.json') } }) })).execute();
    await kdb.insertInto('jobs').values(jobRow('ftjob-ft', 2, spec('ftjob-ft', { kind: 'engine', path: join(jobDir('ftjob-base'), 'model') }))).execute();
    await kdb.insertInto('jobs').values(jobRow('ftjob-gguf', 3, spec('ftjob-gguf', { kind: 'gguf', path: outside }))).execute();
    const model = (id: string, name: string, path: string | null, base: string | null, kind = 'engine') => ({
      id, name, kind, path, base_path: base, adapter_path: null, endpoint: null, chat_template: null, owned_by: 'user', created_at: 1, meta: J({ job: id }),
    });
    await kdb.insertInto('models').values([
      model('m-base', 'spruce-s', join(jobDir('ftjob-base'), 'model'), null),
      model('m-ft', 'ft:spruce-s:lora-r4:ftjob-ft', join(jobDir('ftjob-ft'), 'model'), join(jobDir('ftjob-base'), 'model')),
      model('m-user', 'user-gguf', outside, null, 'gguf'),
    ]).execute();
    await kdb.insertInto('datasets').values({ id: 'ds-1', name: 'support', stage: 'sft', format: 'openai-chat', created_at: 1, updated_at: 1, latest_version_id: 'dsv-1' }).execute();
    await kdb.insertInto('dataset_versions').values({
      id: 'dsv-1', dataset_id: 'ds-1', content_hash: 'h', created_at: 1, stage: 'sft', format: 'openai-chat', train_rows: 3, validation_rows: 0,
      source: J({ train: { path: join(old, 'demo-datasets', 'support.jsonl') }, validation: { path: join(tmp, 'mine', 'val.jsonl') }, format: 'openai-chat' }),
      stats: J({ rows: 3 }), train_key: 'datasets/h/train.jsonl', validation_key: null,
    }).execute();
    await kdb.insertInto('deployments').values({ id: 'dep-1', name: 'assistant', model_id: 'm-ft', version: 1, status: 'active', settings: J({ preset: 'conservative', threads: 1 }), created_at: 1, updated_at: 1 }).execute();
    await kdb.destroy();
    // the job folders' files as the previous trainer wrote them
    for (const id of ['ftjob-base', 'ftjob-ft']) {
      mkdirSync(join(jobDir(id), 'model'), { recursive: true });
      writeFileSync(join(jobDir(id), 'job.json'), J(spec(id, {})) + '\n');
      writeFileSync(join(jobDir(id), 'manifest.json'), J({ status: 'succeeded', job_id: id, model_dir: join(jobDir(id), 'model'), steps: 6 }));
    }
    const config = { hiddenSize: 8, numLayers: 1, numHeads: 2, numKvHeads: 1, ffnSize: 16, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 16, vocabSize: 16 };
    writeFileSync(join(jobDir('ftjob-base'), 'model', 'modelfab.json'), J({ format: 'modelfab-engine', version: 1, config }));
    writeFileSync(join(jobDir('ftjob-ft'), 'model', 'modelfab.json'), J({ format: 'modelfab-engine', version: 1, config, method: { type: 'lora', rank: 4 }, base: join(jobDir('ftjob-base'), 'model') }));
    mkdirSync(join(jobDir('ftjob-ft'), 'merged-base'));
    writeFileSync(join(jobDir('ftjob-ft'), 'merged-base', 'modelfab.json'), J({ format: 'modelfab-engine', version: 1, config, meta: { mergedFrom: join(jobDir('ftjob-base'), 'model') } }));
    writeFileSync(join(old, 'demo-summary.json'), J({ dataDir: old, wallS: 3 }));
    const knowledge = join(old, 'knowledge', 'kb-1', 'kb.json');
    mkdirSync(join(old, 'knowledge', 'kb-1'), { recursive: true });
    writeFileSync(knowledge, J({ id: 'kb-1', name: '法律' }));

    // moved, so the old location does not exist any more
    mkdirSync(join(tmp, 'moved'));
    renameSync(old, now);
    const at = (...p: string[]) => join(now, ...p);

    const { store, db } = await openSqliteDatabase(at('modelfab.db'));
    try {
      // read back where the folder is now
      assert.equal((await store.models.getByName('spruce-s'))!.path, at('jobs', 'ftjob-base', 'model'));
      const ft = (await store.models.getByName('ft:spruce-s:lora-r4:ftjob-ft'))!;
      assert.deepEqual([ft.path, ft.base_path], [at('jobs', 'ftjob-ft', 'model'), at('jobs', 'ftjob-base', 'model')]);
      assert.equal((await store.models.getByName('user-gguf'))!.path, outside, 'a file outside the folder keeps its path');
      const jobs = kyselyJobRepository(stageTables<FactoryTables>(db), Date.now, now);
      const ftJob = (await jobs.get('ftjob-ft'))!;
      assert.equal(ftJob.spec.outputDir, at('jobs', 'ftjob-ft'));
      assert.deepEqual(ftJob.spec.base, { kind: 'engine', path: at('jobs', 'ftjob-base', 'model') });
      assert.equal(ftJob.spec.data.train.path, at('jobs', 'ftjob-ft', 'data', 'train.jsonl'));
      assert.deepEqual(ftJob.spec.evaluation, { cacheDir: at('bench-cache'), datasets: [{ name: 'd', path: at('experiments', 'e', 'heldout', 'd.jsonl') }], limit: 4 });
      assert.deepEqual((ftJob.spec as unknown as { meta: unknown }).meta, { base: 'spruce-s', dataset: 'support', suffix: 'lora-r4' }, 'other fields untouched');
      const base = (await jobs.get('ftjob-base'))!.spec.base;
      assert.deepEqual(base.kind === 'scratch' && base.tokenizer, { path: at('bases', 'tokenizer.json') });
      const gg = (await jobs.get('ftjob-gguf'))!.spec.base;
      assert.equal(gg.kind === 'gguf' && gg.path, outside);
      const src = JSON.parse((await store.datasetVersions.get('dsv-1'))!.source);
      assert.deepEqual([src.train.path, src.validation.path], [at('demo-datasets', 'support.jsonl'), join(tmp, 'mine', 'val.jsonl')]);
      assert.deepEqual(JSON.parse((await store.deployments.getByName('assistant'))!.settings), { preset: 'conservative', threads: 1 });
      // the adapter's base is found through its modelfab.json, relative to the adapter folder
      assert.equal(readModelInfo(at('jobs', 'ftjob-ft', 'model')).base, at('jobs', 'ftjob-base', 'model'));
    } finally {
      await store.close();
    }
    // what is stored: no trace of the old location, in rows or files
    const raw = new BetterSqlite3(at('modelfab.db'), { readonly: true });
    const dump = ['models', 'jobs', 'dataset_versions', 'deployments'].map((t) => J(raw.prepare(`select * from ${t}`).all())).join('\n');
    raw.close();
    assert.ok(!dump.includes(old), 'no row names the old location');
    const files = ['job.json', 'manifest.json', 'model/modelfab.json'].flatMap((f) => ['ftjob-base', 'ftjob-ft'].map((id) => at('jobs', id, f)));
    for (const f of [...files, at('jobs', 'ftjob-ft', 'merged-base', 'modelfab.json'), at('demo-summary.json')]) {
      assert.ok(!readFileSync(f, 'utf8').includes(old), `${f} names the old location`);
    }
    assert.equal(JSON.parse(readFileSync(at('jobs', 'ftjob-ft', 'model', 'modelfab.json'), 'utf8')).base, '../../ftjob-base/model');
    assert.equal(JSON.parse(readFileSync(at('jobs', 'ftjob-ft', 'manifest.json'), 'utf8')).model_dir, 'jobs/ftjob-ft/model');
    assert.equal(JSON.parse(readFileSync(at('jobs', 'ftjob-ft', 'job.json'), 'utf8')).outputDir, 'jobs/ftjob-ft');
    assert.equal(readFileSync(at('knowledge', 'kb-1', 'kb.json'), 'utf8'), J({ id: 'kb-1', name: '法律' }));

    // opening again changes nothing
    const before = readFileSync(at('jobs', 'ftjob-ft', 'model', 'modelfab.json'), 'utf8');
    const again = await openSqliteDatabase(at('modelfab.db'));
    assert.equal((await again.store.models.getByName('spruce-s'))!.path, at('jobs', 'ftjob-base', 'model'));
    await again.store.close();
    assert.equal(readFileSync(at('jobs', 'ftjob-ft', 'model', 'modelfab.json'), 'utf8'), before);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('migration: the old location is where the jobs folder was', () => {
  assert.equal(folderOfJob('/srv/data/jobs/ftjob-1', 'ftjob-1'), '/srv/data');
  assert.equal(folderOfJob('/srv/data/jobs/ftjob-1/', 'ftjob-1'), '/srv/data');
  assert.equal(folderOfJob('/srv/data/other/ftjob-1', 'ftjob-1'), null);
  assert.equal(folderOfJob('/srv/data/jobs/ftjob-2', 'ftjob-1'), null);
  assert.equal(folderOfJob('jobs/ftjob-1', 'ftjob-1'), null, 'already relative');
  assert.equal(folderOfJob(undefined, 'ftjob-1'), null);
  assert.equal(folderOfModel('/srv/data/jobs/ftjob-1/model'), '/srv/data');
  assert.equal(folderOfModel('/srv/data/jobs/ftjob-1/merged-base'), '/srv/data');
  assert.equal(folderOfModel('/srv/models/tiny'), null);
  assert.equal(folderOfModel('jobs/ftjob-1/model'), null);
});

test('migration: a folder whose job rows are gone is found from its models', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mf-migrate-models-'));
  try {
    const old = join(tmp, 'old'), now = join(tmp, 'now');
    mkdirSync(old);
    const sqlite = new BetterSqlite3(join(old, 'modelfab.db'));
    const kdb = new Kysely<any>({ dialect: new SqliteDialect({ database: sqlite }) });
    assert.equal((await new Migrator({ db: kdb, provider: migrationProvider({ dataDir: null }) }).migrateTo('0006-job-dependencies')).error, undefined);
    await kdb.insertInto('models').values({
      id: 'm', name: 'ft', kind: 'engine', path: join(old, 'jobs', 'ftjob-9', 'model'), base_path: join(old, 'models', 'tiny'), adapter_path: null,
      endpoint: null, chat_template: null, owned_by: 'user', created_at: 1, meta: null,
    }).execute();
    await kdb.destroy();
    renameSync(old, now);
    const { store } = await openSqliteDatabase(join(now, 'modelfab.db'));
    const m = (await store.models.getByName('ft'))!;
    await store.close();
    assert.deepEqual([m.path, m.base_path], [join(now, 'jobs', 'ftjob-9', 'model'), join(now, 'models', 'tiny')]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
