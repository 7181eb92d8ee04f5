/**
 * Experiments as pipelines: fine-tunes of a base model that is still pretraining wait for it (job dependencies)
 * instead of the whole experiment waiting, and `then: [{stage: 'dpo', ...}]` trains every SFT result further
 * with DPO (the LoRA adapter continues; a full fine-tune trains on), each job starting as soon as the one it builds
 * on has succeeded. [slow: real trainers in worker processes, ~10 s]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startServer } from '../api/helpers.ts';
import { ensureBaseModels } from '../../src/demo/base-models.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';
import { readModelInfo } from '../../src/engine/io.ts';
import type { Manifest } from '../../src/factory/engine-worker.ts';
import type { ExperimentRequest } from '../../src/factory/factory-service.ts';

test('[slow] an experiment as a pipeline: pretraining -> SFT -> DPO, each job after the one it builds on', { timeout: 300_000 }, async () => {
  const { srv, dir, stop } = await startServer();
  try {
    const factory = srv.factory.factory;
    const [pretrain] = await ensureBaseModels({ factory, data: srv.service, dataDir: dir, quick: true });
    assert.equal(await factory.catalogGet('spruce-s'), null, 'the base model is still being made');

    const rows = supportQA(0).train.slice(0, 32);
    writeFileSync(join(dir, 'sup.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
    writeFileSync(join(dir, 'prefs.jsonl'), rows.map((r) => JSON.stringify({
      input: { messages: r.messages.slice(0, -1) }, preferred_output: [r.messages.at(-1)], non_preferred_output: [{ role: 'assistant', content: '不清楚，请自己查。' }],
    })).join('\n'));
    await srv.service.importDataset({ name: 'sup', source: { path: join(dir, 'sup.jsonl') }, validationSplit: 0.25, seed: 1 });
    await srv.service.importDataset({ name: 'prefs', source: { path: join(dir, 'prefs.jsonl') }, validationSplit: 0.25, seed: 1 });

    const req: ExperimentRequest = {
      name: 'pipeline', base_models: ['spruce-s'], datasets: ['sup'], suites: [],
      methods: [{ type: 'lora', rank: 4, alpha: 8, targets: ['q', 'v'] }, { type: 'full' }],
      hyperparameters: { batchSize: 8, seqLen: 64, maxSteps: 6, evalEvery: 0 },
      then: [{ stage: 'dpo', datasets: ['prefs'], hyperparameters: { maxSteps: 4, preference: { loss: 'dpo', beta: 0.2 } } }],
    };
    const plan = await factory.planOnly(req);
    assert.deepEqual(plan.jobs.map((j) => j.name), [
      'spruce-s x sup x lora-r4', 'spruce-s x sup x full', 'spruce-s x sup x lora-r4 → dpo prefs', 'spruce-s x sup x full → dpo prefs',
    ]);
    // a stage whose datasets do not fit it is refused per combination, with the reason
    const wrong = await factory.planOnly({ ...req, then: [{ stage: 'dpo', datasets: ['sup'] }] });
    assert.equal(wrong.jobs.length, 2);
    assert.match(wrong.rejected[0].reason, /DPO needs a preference dataset, but sup is a sft dataset/);

    const exp = await factory.createExperiment(req);
    assert.equal(exp.jobs.length, 4);
    const jobs = await Promise.all(exp.jobs.map((j) => srv.factory.scheduler.get(j.id)));
    const [sftLora, sftFull, dpoLora, dpoFull] = jobs.map((j) => j!);
    assert.deepEqual(sftLora.dependsOn, [pretrain.id], 'fine-tunes wait for the base still pretraining');
    assert.deepEqual(dpoLora.dependsOn, [sftLora.id]);
    assert.deepEqual(dpoFull.dependsOn, [sftFull.id]);

    const done = await Promise.all(jobs.map((j) => srv.factory.scheduler.waitFor(j!.id, undefined, 240_000)));
    for (const j of done) assert.equal(j.status, 'succeeded', `${j.spec.name}: ${j.error}`);
    await factory.idle();
    const base = (await factory.catalogGet('spruce-s'))!;
    const manifest = (id: string) => JSON.parse(readFileSync(join(done.find((j) => j.id === id)!.spec.outputDir, 'manifest.json'), 'utf8')) as Manifest;
    // each DPO job starts from its SFT result: the policy equals its reference, the SFT model, at step 0
    for (const id of [dpoLora.id, dpoFull.id]) assert.ok(Math.abs(manifest(id).eval_loss_before! - Math.LN2) < 1e-3, `${id}: ${manifest(id).eval_loss_before}`);
    // the LoRA adapter continued: still an adapter over the base model itself; the full fine-tune trained on
    assert.equal(manifest(dpoLora.id).model_kind, 'adapter');
    // model_dir is relative to the data folder (the trainer runs there)
    assert.equal(readModelInfo(resolve(dir, manifest(dpoLora.id).model_dir)).base, base.path);
    assert.equal(manifest(dpoFull.id).model_kind, 'model');
    const registered = (await factory.catalogList()).filter((m) => m.role === 'fine-tune');
    assert.equal(registered.length, 4);
    const dpoModel = registered.find((m) => m.name.endsWith(dpoLora.id))!;
    assert.equal(dpoModel.name, `ft:ft:spruce-s:lora-r4:${sftLora.id}:lora-r4:${dpoLora.id}`);
    assert.equal(dpoModel.basePath, base.path);
    assert.equal((await factory.getExperiment(exp.id)).status, 'succeeded');
  } finally {
    await stop();
  }
});
