/**
 * The CLI against a running server: `modelfab experiment plan` and `modelfab experiment run FILE` (YAML), which
 * submits the grid, follows it to the end and prints the results table; `jobs list --json`; `models list`.
 * [slow: starts a server and trains small models in worker processes]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_KEY, startServer } from '../api/helpers.ts';
import { cli, serverWithIdentity } from './helpers.ts';
import { writeDemoDatasets } from '../../src/demo/demo-datasets.ts';


test('[slow] modelfab experiment plan / run / jobs / models against a server', { timeout: 300_000 }, async () => {
  const { url, dir, stop } = await serverWithIdentity();
  try {
    const file = join(dir, 'exp.yaml');
    writeFileSync(file, [
      'name: cli-grid', 'stage: sft', 'base_models: [spruce-s]', 'datasets: [identity]',
      'methods:', '  - {name: full, spec: {type: full}}', '  - {name: lora, spec: {type: lora, rank: 4, alpha: 8}}', '  - {name: long-prompt, spec: {type: prompt, numVirtualTokens: 4096}}',
      'hyperparameters: {epochs: 1, batchSize: 8, seqLen: 64, maxSteps: 4}',
    ].join('\n'));
    const env = { MODELFAB_URL: url, MODELFAB_API_KEY: ADMIN_KEY };
    const plan = await cli(['experiment', 'plan', file], env);
    assert.equal(plan.code, 0, plan.out);
    assert.match(plan.out, /2 jobs/);
    assert.match(plan.out, /rejected: spruce-s x identity x long-prompt: a soft prompt of 4096 tokens leaves no room in a context of \d+/);
    const run = await cli(['experiment', 'run', file], env);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /spruce-s x identity x full\s+succeeded/);
    assert.match(run.out, /spruce-s x identity x lora\s+succeeded/);
    const jobs = await cli(['jobs', 'list', '--json'], env);
    assert.equal(jobs.code, 0, jobs.out);
    assert.equal(JSON.parse(jobs.out).filter((j: { status: string }) => j.status === 'succeeded').length, 3); // base + 2
    // (never spawnSync here: the server runs in this process and must keep answering)
    const bad = await cli(['jobs', 'list'], { MODELFAB_URL: url, MODELFAB_API_KEY: 'sk-wrong' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /401/);
  } finally {
    await stop();
  }
});

test('experiment plan|run: a bad file lists every problem with line and field and sends nothing; a plan without jobs exits non-zero', { timeout: 120_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mf-cli-exp-'));
  try {
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, [
      'name: bad', 'stage: sfft', 'base_models: [spruce-s]', 'datasets: [identity]',
      'methods:', '  - {type: lroa, rank: 4, alpha: 8}', 'hyperparameters: {epoch: 1, batchsize: 8}',
    ].join('\n'));
    // no server listens there: the file is refused before any request
    const env = { MODELFAB_URL: 'http://127.0.0.1:9', MODELFAB_API_KEY: ADMIN_KEY };
    for (const cmd of ['plan', 'run']) {
      const r = await cli(['experiment', cmd, bad], env);
      assert.equal(r.code, 1, r.out);
      assert.doesNotMatch(r.out, /cannot reach/);
      assert.match(r.out, /experiment validation failed with 4 problem\(s\)/);
      assert.match(r.out, /bad\.yaml: line 2: stage: must be one of pretrain, sft, dpo; got 'sfft' \(did you mean 'sft'\?\)/);
      assert.match(r.out, /bad\.yaml: line 6: methods\[0\]\.type: must be one of full, freeze, lora, qlora, prefix, prompt; got 'lroa' \(did you mean 'lora'\?\)/);
      assert.match(r.out, /bad\.yaml: line 7: hyperparameters\.epoch: unknown key 'epoch' \(did you mean 'epochs'\?\)/);
      assert.match(r.out, /bad\.yaml: line 7: hyperparameters\.batchsize: unknown key 'batchsize' \(did you mean 'batchSize'\?\)/);
    }
    const missing = await cli(['experiment', 'plan', join(tmp, 'nope.yaml')], env);
    assert.equal(missing.code, 1);
    assert.match(missing.out, /file not found: \S*nope\.yaml/);
    assert.doesNotMatch(missing.out, /ENOENT/);

    // DPO on an SFT dataset: every combination is rejected; `run` says why and exits instead of waiting forever
    const { srv, url, dir, stop } = await startServer();
    try {
      const config = { vocabSize: 300, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 64 };
      await srv.factory.factory.catalogRegister({ name: 'tiny', kind: 'engine', path: join(dir, 'tiny'), role: 'base', config, createdAt: Date.now() });
      const ds = join(dir, 'ds');
      writeDemoDatasets(ds);
      await srv.service.importDataset({ name: 'identity', source: { path: join(ds, 'identity.json') }, validation: { path: join(ds, 'identity.val.json') } });
      const empty = join(tmp, 'empty.json');
      writeFileSync(empty, JSON.stringify({ name: 'empty', stage: 'dpo', base_models: ['tiny'], datasets: ['identity'], methods: [{ type: 'full' }] }, null, 2));
      const serverEnv = { MODELFAB_URL: url, MODELFAB_API_KEY: ADMIN_KEY };
      for (const cmd of ['plan', 'run']) {
        const r = await cli(['experiment', cmd, empty], serverEnv);
        assert.equal(r.code, 1, r.out);
        assert.match(r.out, /400: experiment empty plans no job/);
        assert.match(r.out, /tiny x identity x full: DPO needs a preference dataset, but identity is a sft dataset/);
      }
      assert.deepEqual(await srv.factory.factory.listExperiments(), []);
    } finally {
      await stop();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
