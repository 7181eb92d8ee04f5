/**
 * A whole fine-tune through the official `openai` npm client against modelfab's server: upload the training file,
 * create the job, follow its events, list its checkpoints, read the fine-tuned model's name; cancel another job.
 * The base model is one of the project's own, pretrained by the factory in the test (the quick variant: small).
 * [slow: trains real models in worker processes, ~1 minute]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { ADMIN_KEY, startServer } from './helpers.ts';
import { ensureBaseModels } from '../../src/demo/base-models.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';

test('[slow] fine-tuning jobs with the official openai client', { timeout: 300_000 }, async () => {
  const { srv, url, dir, stop } = await startServer();
  try {
    const bases = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: dir, quick: true });
    assert.equal(bases.length, 1);
    const built = await srv.factory.scheduler.waitFor(bases[0].id, undefined, 240_000);
    assert.equal(built.status, 'succeeded', built.error ?? '');
    await srv.factory.factory.idle();
    assert.ok(await srv.factory.factory.catalogGet('spruce-s'), 'the base model is registered');

    const client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${url}/v1` });
    const rows = supportQA(0).train.slice(0, 48).map((r) => JSON.stringify(r)).join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(rows), 'support.jsonl'), purpose: 'fine-tune' });
    assert.equal(file.status, 'processed');

    const job = await client.fineTuning.jobs.create({
      model: 'spruce-s', training_file: file.id, suffix: 'support', seed: 7,
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 2, batch_size: 8, fine_tuning_method: 'lora', lora_rank: 4 } as never } },
    });
    assert.equal(job.object, 'fine_tuning.job');
    assert.ok(['queued', 'running', 'validating_files'].includes(job.status));
    assert.equal(job.hyperparameters.n_epochs, 2);

    const other = await client.fineTuning.jobs.create({ model: 'spruce-s', training_file: file.id, hyperparameters: { n_epochs: 5 } });
    const cancelled = await client.fineTuning.jobs.cancel(other.id);
    assert.ok(['cancelled', 'running', 'queued'].includes(cancelled.status));

    let done = await client.fineTuning.jobs.retrieve(job.id);
    for (let i = 0; i < 600 && !['succeeded', 'failed', 'cancelled'].includes(done.status); i++) {
      await new Promise((r) => setTimeout(r, 250));
      done = await client.fineTuning.jobs.retrieve(job.id);
    }
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.match(done.fine_tuned_model!, new RegExp(`^ft:spruce-s:support:${job.id}$`));
    await srv.factory.factory.idle();
    assert.ok(await srv.factory.factory.catalogGet(done.fine_tuned_model!), 'the fine-tuned model is registered for serving');

    const events = await client.fineTuning.jobs.listEvents(job.id, { limit: 100 });
    assert.ok(events.data.some((e) => e.type === 'metrics'), 'metric events');
    assert.ok(events.data.some((e) => /succeeded/.test(e.message)), 'a succeeded event');
    const ckpts = await client.fineTuning.jobs.checkpoints.list(job.id);
    assert.ok(ckpts.data.length >= 1);
    assert.equal(ckpts.data[0].fine_tuning_job_id, job.id);
    assert.ok(ckpts.data[0].step_number > 0);

    const list = await client.fineTuning.jobs.list({ limit: 10 });
    assert.ok(list.data.some((j) => j.id === job.id));
    const finalOther = await srv.factory.scheduler.waitFor(other.id, undefined, 60_000);
    assert.equal(finalOther.status, 'cancelled');

    await assert.rejects(client.fineTuning.jobs.create({ model: 'no-such-model', training_file: file.id }), (e: unknown) => (e as { status?: number }).status === 404);
    writeFileSync(join(dir, 'x'), '');
  } finally {
    await stop();
  }
});
