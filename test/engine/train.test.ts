/**
 * Training end to end on small models: pretraining on the two PRC laws drives the loss well down; SFT on
 * LLaMA-Factory's identity set makes the model answer with the identity; a run stopped and resumed replays the
 * uninterrupted run's losses exactly; every method leaves all other parameters bit-for-bit unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { train, evaluate } from '../../src/engine/train.ts';
import { pretrainExamples, sftExamples } from '../../src/engine/batches.ts';
import { generate } from '../../src/engine/generate.ts';
import { trainBpe, encodeChat, chatStopIds, CHATML_SPECIAL_TOKENS, type Tokenizer } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import { createGemm } from '../../src/engine/gemm/create-gemm.ts';
import { createNativeGemm, nativeKernels, precisionRefusal } from '../../src/engine/gemm/native.ts';
import type { Gemm } from '../../src/engine/gemm/gemm-seam.ts';
import type { LlamaConfig } from '../../src/engine/config.ts';
import { METHODS } from './fixtures.ts';
import { needsShared, shared } from '../shared-data.ts';

// Every test trains on the two laws of the shared data: without them it is skipped, naming the file.
const LAW_FILES = ['laws/insurance-law-zh.md', 'laws/consumer-protection-law-zh.md'];
const NEED = needsShared(...LAW_FILES);
const laws = NEED.skip ? [] : LAW_FILES.map((f) => readFileSync(shared(f), 'utf8'));
const gemm = await createGemm();

function tokenizer(vocabSize: number, extra: string[] = []): Tokenizer {
  return trainBpe([...laws, ...extra], { vocabSize, specialTokens: [...CHATML_SPECIAL_TOKENS], eos: '<|im_end|>', pad: '<|endoftext|>' } as never);
}

function small(vocabSize: number, over: Partial<LlamaConfig> = {}): LlamaConfig {
  return { vocabSize, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 160, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: 128, ...over };
}

test('pretraining on the PRC laws drives the loss well down', NEED, async () => {
  const tok = tokenizer(512);
  const ids = tok.encode(laws.join('\n\n'));
  const examples = pretrainExamples(ids, 64);
  const val = examples.filter((_, i) => i % 20 === 0), tr = examples.filter((_, i) => i % 20 !== 0);
  const model = LlamaModel.init(small(tok.vocabSize), 1);
  const before = evaluate(model, gemm, val, 16, 0);
  const r = await train({ model, train: tr, val, gemm, config: { batchSize: 16, maxSteps: 150, lr: 3e-3, warmupSteps: 10, seed: 1, padId: 0, evalEvery: 50, maxGradNorm: 1 } });
  assert.ok(Math.abs(before - Math.log(tok.vocabSize)) < 0.5, `initial loss ${before} is about ln(V)`);
  assert.ok(r.evalLoss! < before * 0.6, `validation loss ${before} -> ${r.evalLoss}`);
  assert.ok(r.losses.at(-1)! < r.losses[0] * 0.6, `training loss ${r.losses[0]} -> ${r.losses.at(-1)}`);
});

test('SFT on identity.json answers a training question with the identity (greedy)', needsShared(...LAW_FILES, 'llamafactory/identity.json'), async () => {
  const raw = JSON.parse(readFileSync(shared('llamafactory/identity.json'), 'utf8')) as { instruction: string; input: string; output: string }[];
  const fill = (s: string) => s.replaceAll('{{name}}', 'Modelfab Bot').replaceAll('{{author}}', 'the Modelfab team');
  const chats = raw.map((r) => [{ role: 'user' as const, content: fill(r.instruction + (r.input ? '\n' + r.input : '')) }, { role: 'assistant' as const, content: fill(r.output) }]);
  const tok = tokenizer(1024, chats.map((c) => c[0].content + '\n' + c[1].content));
  const examples = sftExamples((m) => encodeChat(tok, m), chats, 128);
  const model = LlamaModel.init(small(tok.vocabSize, { hiddenSize: 96, ffnSize: 256 }), 2);
  await train({ model, train: examples, gemm, config: { batchSize: 8, epochs: 30, lr: 4e-3, warmupSteps: 10, seed: 2, padId: tok.padId!, maxGradNorm: 1 } });
  const prompt = encodeChat(tok, [{ role: 'user', content: fill(raw[0].instruction) }], { addGenerationPrompt: true }).ids;
  const out = generate(model, gemm, prompt, (ids) => tok.decode(ids), { maxTokens: 40, stopIds: chatStopIds(tok) });
  assert.match(out.text, /Modelfab Bot/, `answer: ${out.text}`);
});

test('resume from a checkpoint replays the uninterrupted losses exactly', NEED, async () => {
  const tok = tokenizer(300);
  const examples = pretrainExamples(tok.encode(laws[1]), 32);
  const config = { batchSize: 4, maxSteps: 8, lr: 2e-3, warmupSteps: 2, seed: 3, padId: 0, checkpointEvery: 2 };
  for (const method of [METHODS.full, METHODS.lora, { ...METHODS.lora, dropout: 0.1 }]) {
    const fresh = () => { const m = LlamaModel.init(small(tok.vocabSize, { hiddenSize: 32, ffnSize: 64 }), 4); m.applyMethod(method, 5); return m; };
    const dirA = mkdtempSync(join(tmpdir(), 'mf-a-')), dirB = mkdtempSync(join(tmpdir(), 'mf-b-'));
    try {
      const whole = await train({ model: fresh(), train: examples, gemm, config, outDir: dirA });
      const first = await train({ model: fresh(), train: examples, gemm, config, outDir: dirB, stopAfterStep: 3 });
      assert.equal(first.steps, 3);
      assert.ok(first.interrupted);
      const rest = await train({ model: fresh(), train: examples, gemm, config, outDir: dirB, resume: true });
      assert.deepEqual([...first.losses, ...rest.losses], whole.losses, `${method.type}: resumed losses differ`);
    } finally {
      rmSync(dirA, { recursive: true, force: true }); rmSync(dirB, { recursive: true, force: true });
    }
  }
});

test('each method leaves every other parameter bit-for-bit unchanged', NEED, async () => {
  const tok = tokenizer(300);
  const examples = pretrainExamples(tok.encode(laws[1]), 24);
  for (const [name, method] of Object.entries(METHODS)) {
    const model = LlamaModel.init(small(tok.vocabSize, { hiddenSize: 32, ffnSize: 64, qkvBias: true }), 6);
    model.applyMethod(method, 7);
    const trainable = new Set(model.trainableParams());
    const frozen = [...model.params.values()].filter((t) => !trainable.has(t) && t.size > 0);
    const before = frozen.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64'));
    const trainedBefore = [...trainable].map((t) => t.data.slice());
    await train({ model, train: examples, gemm, config: { batchSize: 4, maxSteps: 3, lr: 1e-2, seed: 1, padId: 0, weightDecay: 0.1 } });
    frozen.forEach((t, i) => assert.equal(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64'), before[i], `${name}: ${t.name} changed`));
    [...trainable].forEach((t, i) => assert.ok(t.data.some((v, j) => v !== trainedBefore[i][j]), `${name}: ${t.name} did not train`));
  }
});

test('early stopping ends the run when the eval loss stops improving', NEED, async () => {
  const tok = tokenizer(300);
  const examples = pretrainExamples(tok.encode(laws[1]), 24);
  const model = LlamaModel.init(small(tok.vocabSize, { hiddenSize: 32, ffnSize: 64 }), 8);
  // A learning rate far too high makes the eval loss rise: patience 2 stops after two bad evaluations.
  const r = await train({ model, train: examples, val: examples.slice(0, 8), gemm, config: { batchSize: 4, maxSteps: 60, lr: 0.5, seed: 1, padId: 0, evalEvery: 2, earlyStoppingPatience: 2 } });
  assert.ok(r.stoppedEarly, 'stopped early');
  assert.ok(r.steps < 60, `ran ${r.steps} steps`);
});

test('the native and portable gemm backends train the same model to the same losses', NEED, async () => {
  const { gemmAvailability } = await import('../../src/engine/gemm/create-gemm.ts');
  const avail = gemmAvailability();
  const backends = (['native', 'portable', 'reference'] as const).filter((b) => avail[b].ok);
  assert.ok(backends.includes('portable'), 'the portable backend is available wherever Node runs');
  const tok = tokenizer(300);
  const examples = pretrainExamples(tok.encode(laws[1]), 32);
  const curves: number[][] = [];
  for (const backend of backends) {
    const g = await createGemm({ backend, threads: 1 });
    const model = LlamaModel.init(small(tok.vocabSize, { hiddenSize: 32, ffnSize: 64 }), 9);
    const r = await train({ model, train: examples, gemm: g, config: { batchSize: 4, maxSteps: 5, lr: 3e-3, seed: 1, padId: 0 } });
    g.close();
    curves.push(r.losses);
  }
  for (const c of curves.slice(1)) c.forEach((l, i) => assert.ok(Math.abs(l - curves[0][i]) < 1e-3 * Math.abs(curves[0][i]), `step ${i}: ${l} vs ${curves[0][i]}`));
});

test('precision bf16 (mixed precision) follows the float32 loss curve and learns as much, on every bf16 kernel', {
  skip: NEED.skip || (precisionRefusal('bf16') ?? false),
}, async () => {
  const tok = tokenizer(300);
  const examples = pretrainExamples(tok.encode(laws[1]), 32);
  const curve = async (g: Gemm) => {
    try {
      const model = LlamaModel.init(small(tok.vocabSize), 9);
      return (await train({ model, train: examples, gemm: g, config: { batchSize: 8, maxSteps: 40, lr: 3e-3, seed: 1, padId: 0 } })).losses;
    } finally {
      g.close();
    }
  };
  const f32 = await curve(await createGemm({ threads: 1 }));
  const tail = (l: number[]) => l.slice(-5).reduce((a, b) => a + b, 0) / 5;
  assert.ok(tail(f32) < 0.8 * f32[0], `float32 learns: ${f32[0]} -> ${tail(f32)}`);
  for (const k of nativeKernels().filter((x) => x.bf16 && x.supported)) {
    const b16 = await curve(createNativeGemm({ threads: 1, kernel: k.name }));
    // the same first loss to bf16's precision, not to float32's: the products really were rounded
    assert.ok(Math.abs(b16[0] - f32[0]) < 0.01 * f32[0] && b16[0] !== f32[0], `${k.name}: first loss ${b16[0]} vs ${f32[0]}`);
    assert.ok(Math.abs(tail(b16) - tail(f32)) < 0.03 * tail(f32), `${k.name}: bf16 ends at ${tail(b16)}, float32 at ${tail(f32)}`);
  }
});
