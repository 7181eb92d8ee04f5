/**
 * The factory hands a job to the PyTorch trainer and serves what comes back: a tiny engine base made here is
 * converted to a Hugging Face folder, an experiment with `trainer: torch` trains SFT LoRA for a few steps in
 * `python -m modelfab_torch` (and prefix tuning beside it), and each ft: model answers through the gateway at once.
 * [slow: starts torch in a child process, ~1 minute] Skipped, saying why, without the torch trainer's python
 * (MODELFAB_TORCH_PYTHON, else .venv-torch/bin/python in the repository).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../../src/api/server.ts';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { saveModel } from '../../src/engine/io.ts';
import { CHATML_SPECIAL_TOKENS, trainBpe } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';
import { torchPython } from '../../src/factory/torch-trainer.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';
import { ADMIN_KEY } from '../api/helpers.ts';

const python = torchPython();
const skip = existsSync(python) ? false : `no torch trainer python at ${python}: set MODELFAB_TORCH_PYTHON or run bash trainers/torch/setup-venv.sh`;

test('[slow] an experiment with trainer torch trains SFT LoRA and prefix tuning and their ft: models answer through the gateway', { skip, timeout: 400_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-torch-'));
  const srv = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, factory: { localRunner: { cpuThreads: 2, memoryMB: 64_000 } } });
  try {
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: await res.json() as any };
    };
    const rows = supportQA(0).train.slice(0, 24);
    const corpus = rows.flatMap((r) => r.messages.map((m) => String(m.content)));
    const tokenizer = trainBpe([...corpus, ...corpus], { vocabSize: 320, specialTokens: CHATML_SPECIAL_TOKENS, eos: '<|im_end|>' });
    const config = { vocabSize: tokenizer.vocabSize, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: 128 };
    saveModel(join(dir, 'tiny'), LlamaModel.init(config, 3), tokenizer, { chatTemplate: 'chatml' });
    await srv.factory.factory.catalogRegister({ name: 'tiny', kind: 'engine', path: join(dir, 'tiny'), role: 'base', config, createdAt: Date.now() });
    writeFileSync(join(dir, 'qa.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
    await srv.service.importDataset({ name: 'qa', source: { path: join(dir, 'qa.jsonl') }, validationSplit: 0.25, seed: 1 });

    const qlora = await api('POST', '/v1/experiments', { name: 'torch-qlora', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'qlora' }], trainer: 'torch' });
    assert.equal(qlora.status, 400, 'what the installed trainer does not run is refused at submission');
    assert.match(qlora.body.error.message, /does not run method qlora yet \(it runs full, freeze, lora, prefix, prompt\)/);
    const made = await api('POST', '/v1/experiments', {
      name: 'torch-sft', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'lora', rank: 4 }, { type: 'prefix', numVirtualTokens: 4 }], trainer: 'torch',
      hyperparameters: { maxSteps: 3, batchSize: 4, seqLen: 64, checkpointEvery: 2 }, suites: [],
    });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    assert.equal(made.body.jobs.length, 2);
    for (const planned of made.body.jobs) {
      const jobId: string = planned.id;
      assert.equal(planned.modelfab.trainer, 'torch');
      const spec = JSON.parse(readFileSync(join(dir, 'jobs', jobId, 'job.json'), 'utf8')) as JobSpec;
      assert.equal(spec.trainer, 'torch');
      assert.equal(spec.base.kind, 'hf');
      assert.match((spec.base as { path: string }).path, /^hf-cache\/[0-9a-f]{20}$/, 'the converted base, cached in the data folder');
      assert.equal(spec.hyperparameters.chatTemplate, 'chatml', "the base's chat template");

      const done = await srv.factory.scheduler.waitFor(jobId, undefined, 360_000);
      const log = existsSync(join(dir, 'jobs', jobId, 'worker.log')) ? readFileSync(join(dir, 'jobs', jobId, 'worker.log'), 'utf8').slice(-2000) : '';
      assert.equal(done.status, 'succeeded', `${spec.method.type}: ${done.error ?? ''}\n${log}`);
      await srv.factory.factory.idle();
      const job = (await api('GET', `/v1/fine_tuning/jobs/${jobId}`)).body;
      assert.equal(job.modelfab.trainer, 'torch');
      assert.match(job.modelfab.device, /^cpu\b/, 'the device from the manifest');
      const name: string = job.fine_tuned_model;
      assert.match(name, new RegExp(`^ft:tiny:.*:${jobId}$`));
      const m = await srv.factory.factory.catalogGet(name);
      assert.ok(m, `${spec.method.type}: the fine-tune is registered`);
      assert.equal(m.basePath, join(dir, 'tiny'), `${spec.method.type}: an adapter over the engine base`);

      const chat = await api('POST', '/v1/chat/completions', { model: name, messages: [{ role: 'user', content: rows[0].messages.find((x) => x.role === 'user')!.content }], max_tokens: 8, temperature: 0 });
      assert.equal(chat.status, 200, `${spec.method.type}: ${JSON.stringify(chat.body)}`);
      assert.equal(chat.body.model, name);
      assert.equal(typeof chat.body.choices[0].message.content, 'string');
      assert.ok(chat.body.usage.completion_tokens > 0);
    }
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('[slow] an experiment on trainer torch trains SFT LoRA, then DPO from its result once it exists', { skip, timeout: 400_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-torch-then-'));
  const srv = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, factory: { localRunner: { cpuThreads: 2, memoryMB: 64_000 } } });
  try {
    const rows = supportQA(0).train.slice(0, 16);
    const corpus = rows.flatMap((r) => r.messages.map((m) => String(m.content)));
    const tokenizer = trainBpe([...corpus, ...corpus], { vocabSize: 320, specialTokens: CHATML_SPECIAL_TOKENS, eos: '<|im_end|>' });
    const config = { vocabSize: tokenizer.vocabSize, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: 128 };
    saveModel(join(dir, 'tiny'), LlamaModel.init(config, 3), tokenizer, { chatTemplate: 'chatml' });
    const f = srv.factory.factory;
    await f.catalogRegister({ name: 'tiny', kind: 'engine', path: join(dir, 'tiny'), role: 'base', config, createdAt: Date.now() });
    writeFileSync(join(dir, 'qa.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
    await srv.service.importDataset({ name: 'qa', source: { path: join(dir, 'qa.jsonl') } });
    // preference pairs: the dataset's answer chosen, a curt one rejected
    const prefs = rows.map((r) => ({ messages: r.messages.slice(0, -1), chosen: r.messages.at(-1), rejected: { role: 'assistant', content: 'No.' } }));
    writeFileSync(join(dir, 'prefs.jsonl'), prefs.map((r) => JSON.stringify(r)).join('\n'));
    await srv.service.importDataset({ name: 'prefs', source: { path: join(dir, 'prefs.jsonl') } });

    const exp = await f.createExperiment({
      name: 'sft-then-dpo', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'lora', rank: 4, alpha: 8 }], trainer: 'torch', suites: [],
      hyperparameters: { maxSteps: 2, batchSize: 4, seqLen: 64 }, then: [{ stage: 'dpo', datasets: ['prefs'], hyperparameters: { maxSteps: 2 } }],
    });
    assert.equal(exp.jobs.length, 2);
    const dpo = exp.jobs.find((j) => j.modelfab.stage === 'dpo')!;
    const queued = await srv.factory.scheduler.get(dpo.id);
    assert.equal(queued!.spec.base.kind, 'engine', 'the DPO job names the SFT result until it exists');
    const done = await srv.factory.scheduler.waitFor(dpo.id, undefined, 360_000);
    const log = existsSync(join(dir, 'jobs', dpo.id, 'worker.log')) ? readFileSync(join(dir, 'jobs', dpo.id, 'worker.log'), 'utf8').slice(-2000) : '';
    assert.equal(done.status, 'succeeded', `${done.error ?? ''}\n${log}`);
    const spec = JSON.parse(readFileSync(join(dir, 'jobs', dpo.id, 'job.json'), 'utf8')) as JobSpec;
    assert.equal(spec.base.kind, 'hf', 'converted for the torch trainer once the SFT job had succeeded');
    assert.match((spec.base as { path: string }).path, /^hf-cache\/[0-9a-f]{20}$/);
    assert.equal(spec.hyperparameters.chatTemplate, 'chatml');
    assert.ok(existsSync(join(dir, 'jobs', dpo.id, 'model-engine')), 'the DPO result imported for serving');
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
