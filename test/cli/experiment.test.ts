/**
 * The CLI against a running server: `modelfab experiment plan` and `modelfab experiment run FILE` (YAML), which
 * submits the grid, follows it to the end and prints the results table; `jobs list --json`; `models list`.
 * [slow: starts a server and trains small models in worker processes]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_KEY, startServer } from '../api/helpers.ts';
import { cli } from './helpers.ts';
import { ensureBaseModels } from '../../src/factory/bases.ts';
import { writeDemoDatasets } from '../../src/demo/datasets.ts';


test('[slow] modelfab experiment plan / run / jobs / models against a server', { timeout: 300_000 }, async () => {
  const { srv, url, dir, stop } = await startServer();
  try {
    const bases = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: dir, quick: true });
    assert.equal((await srv.factory.scheduler.waitFor(bases[0].id, undefined, 240_000)).status, 'succeeded');
    await srv.factory.factory.idle();
    const ds = join(dir, 'ds');
    writeDemoDatasets(ds);
    await srv.service.importDataset({ name: 'identity', source: { path: join(ds, 'identity.json') }, validation: { path: join(ds, 'identity.val.json') } });
    const file = join(dir, 'exp.yaml');
    writeFileSync(file, [
      'name: cli-grid', 'stage: sft', 'base_models: [spruce-s]', 'datasets: [identity]',
      'methods:', '  - {name: full, spec: {type: full}}', '  - {name: lora, spec: {type: lora, rank: 4, alpha: 8}}', '  - {name: bad, spec: {type: full, rank: 4}}',
      'hyperparameters: {epochs: 1, batchSize: 8, seqLen: 64, maxSteps: 4}',
    ].join('\n'));
    const env = { MODELFAB_URL: url, MODELFAB_API_KEY: ADMIN_KEY };
    const plan = await cli(['experiment', 'plan', file], env);
    assert.equal(plan.code, 0, plan.out);
    assert.match(plan.out, /2 jobs/);
    assert.match(plan.out, /rejected: spruce-s x identity x bad: rank is a LoRA option, but the method is full/);
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
