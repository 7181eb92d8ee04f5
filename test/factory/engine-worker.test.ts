/** The engine trainer for one job: pretrain from scratch, then fine-tune the result with LoRA, from job specs alone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createGemm } from '../../src/engine/gemm/create-gemm.ts';
import { writeThreadGrant } from '../../src/factory/thread-grant.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob, validateJobSpec, JobSpecError, type Manifest } from '../../src/factory/engine-worker.ts';
import { readMetrics } from '../../src/engine/metrics-log.ts';
import { precisionRefusal } from '../../src/engine/gemm/native.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import type { LoraSpec } from '../../src/engine/methods.ts';
import { loadModel, readModelInfo, readTensors, saveModel } from '../../src/engine/io.ts';
import { CHATML_SPECIAL_TOKENS, trainBpe } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import { needsShared, shared } from '../shared-data.ts';

const NEED = needsShared('laws/consumer-protection-law-zh.md');
const law = NEED.skip ? '' : readFileSync(shared('laws/consumer-protection-law-zh.md'), 'utf8');

test('a pretraining job and a LoRA SFT job over its result, from job specs alone', NEED, async () => {
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
    // packed (several chats a row), the same job trains on the same tokens: the same losses to float rounding
    assert.equal(await runJob(validateJobSpec({ ...sft, id: 'job-sft-packed', packing: true, outputDir: join(dir, 'sft-packed') })), 'succeeded');
    const padded = readMetrics(join(dir, 'sft', 'metrics.jsonl')), packed = readMetrics(join(dir, 'sft-packed', 'metrics.jsonl'));
    assert.equal(packed.length, padded.length);
    packed.forEach((m, i) => assert.ok(Math.abs(m.loss - padded[i]!.loss) <= 1e-4 * padded[i]!.loss, `step ${m.step}: ${m.loss} vs ${padded[i]!.loss}`));
    assert.throws(() => validateJobSpec({ ...sft, packing: true, method: { type: 'prompt', numVirtualTokens: 2 } }), /packing: packing does not work with prompt tuning/);
    // precision bf16: mixed precision where the processor has it (the same curve to bf16's rounding), else refused
    assert.throws(() => validateJobSpec({ ...sft, precision: 'fp16' }), /precision must be fp32 or bf16 for the engine/);
    const bf16Why = precisionRefusal('bf16');
    if (bf16Why) assert.throws(() => validateJobSpec({ ...sft, precision: 'bf16' }), /precision: precision bf16 needs a processor with AMX-BF16/);
    else {
      assert.equal(await runJob(validateJobSpec({ ...sft, id: 'job-sft-bf16', precision: 'bf16', outputDir: join(dir, 'sft-bf16') })), 'succeeded');
      const mixed = readMetrics(join(dir, 'sft-bf16', 'metrics.jsonl'));
      assert.equal(mixed.length, padded.length);
      mixed.forEach((m, i) => assert.ok(Math.abs(m.loss - padded[i]!.loss) <= 0.02 * padded[i]!.loss, `step ${m.step}: ${m.loss} vs ${padded[i]!.loss}`));
      assert.ok(mixed.some((m, i) => m.loss !== padded[i]!.loss), 'the bf16 job multiplied in float32');
      const m4 = JSON.parse(readFileSync(join(dir, 'sft-bf16', 'manifest.json'), 'utf8')) as Manifest;
      assert.equal(m4.precision, 'bf16');
      assert.ok(m4.eval_loss! < m4.eval_loss_before!);
      const started = readFileSync(join(dir, 'sft-bf16', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.message === 'started');
      assert.match(started.data.gemm, /(amx|avx512)-bf16/);
    }

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

test('training a fine-tune further (SFT with LoRA, then DPO): the adapter continues, or is merged first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-worker-stack-'));
  try {
    const qa = Array.from({ length: 16 }, (_, i) => ({ q: `第${i + 1}条是什么？`, a: `第${i + 1}条规定经营者应当依法提供商品。` }));
    const tok = trainBpe(qa.map((x) => `${x.q}\n${x.a}\n不知道，别问我。`), { vocabSize: 300, specialTokens: [...CHATML_SPECIAL_TOKENS], eos: '<|im_end|>', pad: '<|endoftext|>' } as Parameters<typeof trainBpe>[1]);
    const base = join(dir, 'base');
    saveModel(base, LlamaModel.init({ vocabSize: tok.vocabSize, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 64 }, 1), tok);
    const chats = join(dir, 'chats.jsonl'), prefs = join(dir, 'prefs.jsonl');
    writeFileSync(chats, qa.map((x) => JSON.stringify({ messages: [{ role: 'user', content: x.q }, { role: 'assistant', content: x.a }] })).join('\n'));
    writeFileSync(prefs, qa.map((x) => JSON.stringify({ messages: [{ role: 'user', content: x.q }], chosen: { role: 'assistant', content: x.a }, rejected: { role: 'assistant', content: '不知道，别问我。' } })).join('\n'));
    const lora: LoraSpec = { type: 'lora', rank: 4, alpha: 8, targets: ['q', 'v'] };
    const job = (id: string, stage: JobSpec['stage'], from: string, method: JobSpec['method']): JobSpec => ({
      version: 1, id, name: id, stage, base: { kind: 'engine', path: from }, method, seed: 1, outputDir: join(dir, id), threads: 1,
      data: stage === 'dpo' ? { train: { path: prefs, kind: 'preference' }, validation: { path: prefs, kind: 'preference' } } : { train: { path: chats, kind: 'sft' } },
      hyperparameters: { batchSize: 4, seqLen: 48, lr: 1e-2, maxSteps: stage === 'dpo' ? 4 : 12, preference: { loss: 'dpo', beta: 0.2 } },
    });
    const manifest = (id: string) => JSON.parse(readFileSync(join(dir, id, 'manifest.json'), 'utf8')) as Manifest;
    const tensors = (d: string) => readTensors(join(d, 'model.safetensors'));

    assert.equal(await runJob(validateJobSpec(job('sft', 'sft', base, lora))), 'succeeded');
    const sft = manifest('sft').model_dir;

    // the same method: the SFT adapter trains on, saved over the original base; DPO's reference is the SFT model
    assert.equal(await runJob(validateJobSpec(job('dpo-lora', 'dpo', sft, { ...lora, dropout: 0 }))), 'succeeded');
    const m1 = manifest('dpo-lora');
    assert.equal(m1.model_kind, 'adapter');
    assert.equal(readModelInfo(m1.model_dir).base, base);
    assert.ok(Math.abs(m1.eval_loss_before! - Math.LN2) < 1e-4, `the policy starts as its reference: loss ${m1.eval_loss_before}`);
    const a0 = tensors(sft).get('blk.0.attn_q.weight.lora_a')!, a1 = tensors(m1.model_dir).get('blk.0.attn_q.weight.lora_a')!;
    let d = 0, n = 0;
    for (let i = 0; i < a0.length; i++) { d += (a1[i] - a0[i]) ** 2; n += a0[i] ** 2; }
    assert.ok(Math.sqrt(d / n) < 0.3, `LoRA A moved by ${Math.sqrt(d / n)} of its norm: continued, not started afresh`);

    // another method over the LoRA fine-tune: the adapter is folded into the weights first (merged-base)
    assert.equal(await runJob(validateJobSpec(job('dpo-full', 'dpo', sft, { type: 'full' }))), 'succeeded');
    const m2 = manifest('dpo-full');
    assert.equal(m2.model_kind, 'model');
    assert.ok(Math.abs(m2.eval_loss_before! - Math.LN2) < 1e-4, `loss ${m2.eval_loss_before}`);
    assert.equal(await runJob(validateJobSpec(job('sft-r8', 'sft', sft, { ...lora, rank: 8 }))), 'succeeded');
    const m3 = manifest('sft-r8');
    assert.equal(readModelInfo(m3.model_dir).base, join(dir, 'sft-r8', 'merged-base'));
    assert.ok(loadModel(m3.model_dir).model.lora.size > 0);

    // a prefix adapter cannot be folded: another method is refused with the reason
    assert.equal(await runJob(validateJobSpec(job('pre', 'sft', base, { type: 'prefix', numVirtualTokens: 4 }))), 'succeeded');
    await assert.rejects(runJob(validateJobSpec(job('pre-lora', 'sft', manifest('pre').model_dir, lora))), (e: unknown) => e instanceof JobSpecError && /prefix adapter \(4 virtual tokens\)/.test((e as Error).message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a running job follows the threads the scheduler lends it (the `threads` file in its folder)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-worker-grant-'));
  const gemm = await createGemm({ threads: 1 });
  try {
    const text = join(dir, 'text.jsonl');
    writeFileSync(text, Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `line ${i}: the quick brown fox jumps over the lazy dog ${i % 7}` })).join('\n'));
    const spec: JobSpec = {
      version: 1, id: 'job-grant', name: 'grant', stage: 'pretrain',
      base: { kind: 'scratch', config: { vocabSize: 0, hiddenSize: 32, numLayers: 1, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 32 }, tokenizer: { vocabSize: 300 } },
      method: { type: 'full' }, data: { train: { path: text, kind: 'pretrain' } },
      hyperparameters: { batchSize: 4, seqLen: 16, lr: 1e-2, maxSteps: 4, checkpointEvery: 0 }, seed: 1, outputDir: join(dir, 'out'), threads: 1,
    };
    mkdirSync(spec.outputDir);
    writeThreadGrant(spec.outputDir, 2);
    assert.equal(await runJob(validateJobSpec(spec), { gemm }), 'succeeded');
    const events = readFileSync(join(spec.outputDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { message: string });
    if (!gemm.setThreads) return; // a backend with a fixed thread count keeps its threads
    assert.equal(gemm.threads, 2);
    assert.ok(events.some((e) => e.message === 'now on 2 thread(s) (idle cores lent by the scheduler)'), JSON.stringify(events));
  } finally {
    gemm.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
