/**
 * /v1/experiments end to end over a stand-in trainer (test/factory/fixtures/bench-worker.mjs; nothing trains): every
 * swept value and seed reaches its job's job.json, job and model names carry the sweep point, the leaderboard has a
 * row per fine-tune; an invalid experiment or one that plans no job is a 400 that names every problem, and nothing
 * is created.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { ADMIN_KEY } from './helpers.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';

const worker = new URL('../factory/fixtures/bench-worker.mjs', import.meta.url).pathname;
const config = { vocabSize: 300, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 64 };

async function withServer(f: (s: { srv: ModelfabServer; url: string; dir: string; api: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }> }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mf-exp-'));
  const srv = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, factory: { localRunner: { entry: worker, nodeArgs: [], cpuThreads: 4, memoryMB: 64_000 } } });
  const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: await res.json() };
  };
  try {
    await srv.factory.factory.catalogRegister({ name: 'tiny', kind: 'engine', path: join(dir, 'tiny'), role: 'base', config, createdAt: Date.now() });
    writeFileSync(join(dir, 'qa.jsonl'), supportQA(0).train.slice(0, 24).map((r) => JSON.stringify(r)).join('\n'));
    await srv.service.importDataset({ name: 'qa', source: { path: join(dir, 'qa.jsonl') }, validationSplit: 0.25, seed: 1 });
    await f({ srv, url, dir, api });
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a sweep sweeps: each job.json has its sweep value and seed, names carry them, the leaderboard shows every fine-tune', { timeout: 120_000 }, async () => {
  await withServer(async ({ srv, api }) => {
    const body = {
      name: 'sweep', stage: 'sft', base_models: ['tiny'], datasets: ['qa'],
      methods: [{ name: 'full', spec: { type: 'full' } }, { name: 'lora-r4', spec: { type: 'lora', rank: 4, alpha: 8, targets: ['all'] } }],
      hyperparameters: { epochs: 1, batchSize: 4, seqLen: 32, maxSteps: 2 }, sweep: { lr: [0.001, 0.003] }, seeds: [0, 1],
    };
    const created = await api('POST', '/v1/experiments', body);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.body.jobs.length, 8);
    const done = await Promise.all(created.body.jobs.map((j: { id: string }) => srv.factory.scheduler.waitFor(j.id, undefined, 60_000)));
    for (const j of done) assert.equal(j.status, 'succeeded', `${j.spec.name}: ${j.error}`);
    await srv.factory.factory.idle();
    const specs = done.map((j) => JSON.parse(readFileSync(join(j.spec.outputDir, 'job.json'), 'utf8')) as JobSpec);
    const points = specs.map((s) => `${s.name} | lr ${s.hyperparameters.lr} | seed ${s.seed} | batch ${s.hyperparameters.batchSize}`).sort();
    assert.deepEqual(points, [
      'tiny x qa x full x lr=0.001 x seed=0 | lr 0.001 | seed 0 | batch 4', 'tiny x qa x full x lr=0.001 x seed=1 | lr 0.001 | seed 1 | batch 4',
      'tiny x qa x full x lr=0.003 x seed=0 | lr 0.003 | seed 0 | batch 4', 'tiny x qa x full x lr=0.003 x seed=1 | lr 0.003 | seed 1 | batch 4',
      'tiny x qa x lora-r4 x lr=0.001 x seed=0 | lr 0.001 | seed 0 | batch 4', 'tiny x qa x lora-r4 x lr=0.001 x seed=1 | lr 0.001 | seed 1 | batch 4',
      'tiny x qa x lora-r4 x lr=0.003 x seed=0 | lr 0.003 | seed 0 | batch 4', 'tiny x qa x lora-r4 x lr=0.003 x seed=1 | lr 0.003 | seed 1 | batch 4',
    ]);
    // the fine-tuned models' names differ by their sweep point, not only by job id
    const exp = (await api('GET', `/v1/experiments/${created.body.id}`)).body;
    const models = exp.jobs.map((j: { fine_tuned_model: string }) => j.fine_tuned_model.split(':').slice(0, 3).join(':')).sort();
    assert.deepEqual(models, [
      'ft:tiny:full-lr0.001-seed0', 'ft:tiny:full-lr0.001-seed1', 'ft:tiny:full-lr0.003-seed0', 'ft:tiny:full-lr0.003-seed1',
      'ft:tiny:lora-r4-lr0.001-seed0', 'ft:tiny:lora-r4-lr0.001-seed1', 'ft:tiny:lora-r4-lr0.003-seed0', 'ft:tiny:lora-r4-lr0.003-seed1',
    ]);
    for (const j of exp.jobs) assert.equal(j.hyperparameters.learning_rate_multiplier, j.modelfab.name.includes('lr=0.001') ? 0.001 / (j.hyperparameters.fine_tuning_method === 'full' ? 1e-3 : 3e-3) : 0.003 / (j.hyperparameters.fine_tuning_method === 'full' ? 1e-3 : 3e-3));
    const lb = (await api('GET', `/v1/experiments/${created.body.id}/leaderboard`)).body;
    assert.equal(lb.leaderboard.rows.filter((r: { isBase: boolean }) => !r.isBase).length, 8, lb.text);
    assert.equal(lb.leaderboard.rows.length, 9, lb.text);
    assert.match(lb.text, /tiny x qa x lora-r4 x lr=0\.003 x seed=1/);
  });
});

test('an invalid experiment is a 400 naming every problem by field, a plan without jobs is a 400 with the reasons; nothing is created', { timeout: 60_000 }, async () => {
  await withServer(async ({ api }) => {
    const bad = {
      name: 'bad', stage: 'sfft', base_models: ['tiny'], datasets: ['qa'],
      methods: [{ type: 'lroa', rank: 4, alpha: 8 }], hyperparameters: { epoch: 2, batchsize: 4 },
    };
    for (const path of ['/v1/experiments', '/v1/experiments/plan']) {
      const r = await api('POST', path, bad);
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'invalid_experiment');
      const problems = r.body.error.problems.map((p: { path: string; message: string }) => `${p.path}: ${p.message}`);
      assert.deepEqual(problems, [
        "stage: must be one of pretrain, sft, dpo; got 'sfft' (did you mean 'sft'?)",
        "methods[0].type: must be one of full, freeze, lora, qlora, prefix, prompt; got 'lroa' (did you mean 'lora'?)",
        "hyperparameters.epoch: unknown key 'epoch' (did you mean 'epochs'?)",
        "hyperparameters.batchsize: unknown key 'batchsize' (did you mean 'batchSize'?)",
      ]);
      assert.match(r.body.error.message, /4 problem\(s\)/);
    }
    // DPO over an SFT dataset: every combination is rejected, so the experiment plans no job
    const empty = { name: 'empty', stage: 'dpo', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'full' }, { type: 'lora', rank: 4, alpha: 8 }] };
    for (const path of ['/v1/experiments', '/v1/experiments/plan']) {
      const r = await api('POST', path, empty);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'no_jobs');
      assert.match(r.body.error.message, /plans no job/);
      assert.deepEqual(r.body.error.problems.map((p: { message: string }) => p.message), [
        'tiny x qa x full: DPO needs a preference dataset, but qa is a sft dataset', 'tiny x qa x lora-r4: DPO needs a preference dataset, but qa is a sft dataset',
      ]);
    }
    // packing: several examples a row, which prefix tuning's shared virtual tokens would let see each other
    const packed = await api('POST', '/v1/experiments', { name: 'packed', base_models: ['tiny'], datasets: ['qa'], packing: true, methods: [{ type: 'lora', rank: 4, alpha: 8 }, { type: 'prefix', numVirtualTokens: 4 }] });
    assert.equal(packed.status, 400, JSON.stringify(packed.body));
    assert.equal(packed.body.error.param, 'methods[1]');
    assert.match(packed.body.error.message, /packing does not work with prefix tuning/);
    // every name that is not found, at once, with the nearest registered one
    const names = await api('POST', '/v1/experiments', { name: 'names', base_models: ['tiyn', 'tiny'], datasets: ['qa', 'qaa', 'zzz-unknown'], methods: [{ type: 'full' }] });
    assert.equal(names.status, 404, JSON.stringify(names.body));
    assert.equal(names.body.error.code, 'not_found');
    assert.deepEqual(names.body.error.problems.map((p: { path: string; message: string }) => `${p.path}: ${p.message}`), [
      "base_models[0]: no model named 'tiyn' (did you mean 'tiny'?): list them with modelfab models list",
      "datasets[1]: no dataset named 'qaa' (did you mean 'qa'?): list them with modelfab datasets list",
      "datasets[2]: no dataset named 'zzz-unknown': list them with modelfab datasets list",
    ]);
    assert.deepEqual((await api('GET', '/v1/experiments')).body.data, []);
    assert.deepEqual((await api('GET', '/v1/fine_tuning/jobs')).body.data, []);
  });
});
