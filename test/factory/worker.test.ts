/** The engine trainer for one job: pretrain from scratch, then fine-tune the result with LoRA, from job specs alone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob, validateJobSpec, JobSpecError, type Manifest } from '../../src/factory/worker.ts';
import { readMetrics } from '../../src/engine/metrics.ts';
import type { JobSpec } from '../../src/factory/types.ts';

const law = readFileSync(new URL('../../../shared/data/laws/consumer-protection-law-zh.md', import.meta.url), 'utf8');

test('a pretraining job and a LoRA SFT job over its result, from job specs alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-worker-'));
  try {
    const text = join(dir, 'text.jsonl');
    writeFileSync(text, law.split('\n\n').filter((p) => p.trim()).map((p) => JSON.stringify({ text: p })).join('\n'));
    const pre: JobSpec = {
      version: 1, id: 'job-pre', name: 'pre', stage: 'pretrain',
      base: { kind: 'scratch', config: { vocabSize: 0, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 64 }, tokenizer: { vocabSize: 400 } },
      method: { type: 'full' }, data: { train: { path: text, kind: 'pretrain' } },
      hyperparameters: { batchSize: 8, seqLen: 32, lr: 1e-2, warmupSteps: 3, maxSteps: 60, checkpointEvery: 20 }, seed: 1, outputDir: join(dir, 'pre'), threads: 1,
    };
    assert.equal(await runJob(validateJobSpec(pre)), 'succeeded');
    const m1 = JSON.parse(readFileSync(join(dir, 'pre', 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(m1.steps, 60);
    assert.equal(m1.model_kind, 'model');
    const metrics = readMetrics(join(dir, 'pre', 'metrics.jsonl'));
    assert.equal(metrics.length, 60);
    const tail = metrics.slice(-10).reduce((a, m) => a + m.loss, 0) / 10;
    assert.ok(tail < metrics[0].loss * 0.85, `loss ${metrics[0].loss} -> ${tail} (mean of the last 10 steps)`);

    const chats = join(dir, 'chats.jsonl');
    const lines = Array.from({ length: 24 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `第${i + 1}条是什么？` }, { role: 'assistant', content: `第${i + 1}条规定经营者应当依法提供商品。` }] }));
    writeFileSync(chats, lines.join('\n'));
    const sft: JobSpec = {
      ...pre, id: 'job-sft', name: 'sft', stage: 'sft', base: { kind: 'engine', path: m1.model_dir },
      method: { type: 'lora', rank: 4, alpha: 8, targets: ['q', 'v'] }, data: { train: { path: chats, kind: 'sft' }, validation: { path: chats, kind: 'sft' } },
      hyperparameters: { batchSize: 4, seqLen: 48, lr: 1e-2, epochs: 3 }, outputDir: join(dir, 'sft'),
    };
    assert.equal(await runJob(validateJobSpec(sft)), 'succeeded');
    const m2 = JSON.parse(readFileSync(join(dir, 'sft', 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(m2.model_kind, 'adapter');
    // the chat template it was trained with is recorded, so every backend serves it with the same prompt format
    assert.equal(JSON.parse(readFileSync(join(m2.model_dir, 'modelfab.json'), 'utf8')).chatTemplate, 'chatml');
    assert.ok(m2.eval_loss! < m2.eval_loss_before!, `eval ${m2.eval_loss_before} -> ${m2.eval_loss}`);
    assert.ok(m2.trainable_params < m2.total_params / 5);
    assert.ok(existsSync(join(dir, 'sft', 'heartbeat')));
    const events = readFileSync(join(dir, 'sft', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events.at(-1).message, 'succeeded');

    // DPO over the pretrained model with a LoRA adapter: the reward accuracy on the pairs rises above chance.
    const prefs = join(dir, 'prefs.jsonl');
    writeFileSync(prefs, Array.from({ length: 24 }, (_, i) => JSON.stringify({
      messages: [{ role: 'user', content: `第${i + 1}条是什么？` }],
      chosen: { role: 'assistant', content: `第${i + 1}条规定经营者应当依法提供商品。` },
      rejected: { role: 'assistant', content: '不知道，别问我。' },
    })).join('\n'));
    const dpo: JobSpec = {
      ...sft, id: 'job-dpo', name: 'dpo', stage: 'dpo', data: { train: { path: prefs, kind: 'preference' }, validation: { path: prefs, kind: 'preference' } },
      hyperparameters: { batchSize: 4, seqLen: 48, lr: 1e-2, epochs: 2, preference: { loss: 'dpo', beta: 0.2 } }, outputDir: join(dir, 'dpo'),
    };
    assert.equal(await runJob(validateJobSpec(dpo)), 'succeeded');
    const m3 = JSON.parse(readFileSync(join(dir, 'dpo', 'manifest.json'), 'utf8')) as Manifest;
    assert.ok(m3.eval_metrics!.reward_accuracy > 0.9, `reward accuracy ${m3.eval_metrics!.reward_accuracy}`);
    assert.ok(m3.eval_metrics!.reward_margin > 0, `margin ${m3.eval_metrics!.reward_margin}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an invalid job spec names the field', () => {
  assert.throws(() => validateJobSpec({ version: 1, id: 'x', stage: 'sft' }), (e: unknown) => e instanceof JobSpecError && /base.kind/.test((e as Error).message));
  assert.throws(() => validateJobSpec({ version: 2 }), /version must be 1/);
});
