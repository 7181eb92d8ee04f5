/**
 * The whole model under every method: the tape's gradient of the loss agrees with a central finite difference
 * along a random direction over all trainable tensors; each method trains exactly its own tensors; decoding with
 * the KV cache gives the same logits as the full forward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { TINY, METHODS } from './fixtures.ts';
import type { LlamaConfig } from '../../src/engine/config.ts';
import { stackMethod, type MethodSpec } from '../../src/engine/methods.ts';
import { Tape, type Ctx } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import { IGNORE_INDEX } from '../../src/engine/ops/loss.ts';

const gemm = referenceGemm();

function batch(seed: number, B: number, T: number, V: number) {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
  const labels = Int32Array.from({ length: B * T }, (_, i) => (i % 5 === 4 ? IGNORE_INDEX : rng.int(V)));
  return { ids, labels, B };
}

function lossOf(model: LlamaModel, b: ReturnType<typeof batch>): number {
  const ctx: Ctx = { gemm, tape: null, rng: new Rng(0), training: false };
  const r = model.forward(ctx, b.ids, b.B, b.labels).loss!;
  return r.sumLoss / r.count;
}

function makeModel(config: LlamaConfig, method: MethodSpec): LlamaModel {
  const m = LlamaModel.init(config, 11);
  m.applyMethod(method, 12);
  // LoRA B starts at zero, which would hide A's gradient: give every method tensor some weight for the check.
  const rng = new Rng(5);
  for (const t of m.methodTensors()) for (let i = 0; i < t.size; i++) t.data[i] += rng.normal() * 0.3;
  return m;
}

for (const [name, method] of Object.entries(METHODS)) {
  for (const tied of [false, true]) {
    test(`gradient of the whole model: ${name}${tied ? ', tied embeddings' : ''}`, () => {
      const config = { ...TINY, tieEmbeddings: tied };
      const model = makeModel(config, method);
      const b = batch(3, 2, 7, config.vocabSize);
      const ctx: Ctx = { gemm, tape: new Tape(), rng: new Rng(0), training: true };
      const params = model.trainableParams();
      assert.ok(params.length > 0, 'the method trains something');
      const r = model.forward(ctx, b.ids, b.B, b.labels);
      ctx.tape!.backward(r.loss!.loss);
      const rng = new Rng(9);
      const dirs = params.map((p) => Float32Array.from({ length: p.size }, () => rng.normal()));
      let analytic = 0;
      params.forEach((p, i) => { const g = p.grad ?? new Float32Array(p.size); for (let j = 0; j < p.size; j++) analytic += g[j] * dirs[i][j]; });
      const eps = 1e-3;
      const shift = (s: number) => params.forEach((p, i) => { for (let j = 0; j < p.size; j++) p.data[j] += s * dirs[i][j]; });
      const saved = params.map((p) => p.data.slice());
      shift(eps); const lp = lossOf(model, b);
      params.forEach((p, i) => p.data.set(saved[i])); shift(-eps); const lm = lossOf(model, b);
      params.forEach((p, i) => p.data.set(saved[i]));
      const numeric = (lp - lm) / (2 * eps);
      const rel = Math.abs(analytic - numeric) / Math.max(1e-3, Math.abs(numeric));
      assert.ok(rel < 2e-2, `${name}: directional derivative ${analytic} vs finite difference ${numeric} (rel ${rel})`);
    });
  }
}

test('each method computes gradients for its own tensors only', () => {
  for (const [name, method] of Object.entries(METHODS)) {
    const model = makeModel(TINY, method);
    const b = batch(4, 2, 6, TINY.vocabSize);
    const ctx: Ctx = { gemm, tape: new Tape(), rng: new Rng(0), training: true };
    ctx.tape!.backward(model.forward(ctx, b.ids, b.B, b.labels).loss!.loss);
    const trainable = new Set(model.trainableParams());
    for (const t of model.params.values()) {
      if (!trainable.has(t)) assert.equal(t.grad, null, `${name}: frozen ${t.name} got a gradient`);
    }
    for (const t of trainable) assert.ok(t.grad && t.grad.some((g) => g !== 0), `${name}: ${t.name} got no gradient`);
    if (name === 'freeze') {
      const names = [...trainable].map((t) => t.name).sort();
      assert.deepEqual(names, [...model.params.keys()].filter((n) => n.startsWith('blk.1.') || n === 'output_norm.weight').sort());
    }
  }
});

test('decoding over the KV cache gives the full forward\'s logits, under every method', () => {
  for (const [name, method] of Object.entries(METHODS)) {
    const model = makeModel(TINY, method);
    const ids = Int32Array.from([1, 5, 7, 2, 9, 4, 4, 11]);
    const ctx: Ctx = { gemm, tape: null, rng: new Rng(0), training: false };
    const full = model.forward(ctx, ids, 1).logits.data;
    const V = TINY.vocabSize, rows = full.length / V;
    const cache = model.newCache(32);
    model.decode(ctx, ids.subarray(0, 3), cache);
    for (let t = 3; t < ids.length; t++) {
      const got = model.decode(ctx, ids.subarray(t, t + 1), cache);
      const want = full.subarray((rows - ids.length + t) * V, (rows - ids.length + t + 1) * V);
      for (let j = 0; j < V; j++) assert.ok(Math.abs(got[j] - want[j]) < 1e-4, `${name}: position ${t} logit ${j}: ${got[j]} vs ${want[j]}`);
    }
  }
});

test('QLoRA holds the base linears in 4 bits', () => {
  const plain = LlamaModel.init({ ...TINY, hiddenSize: 64, ffnSize: 128, numHeads: 4 }, 1);
  const before = plain.weightBytes();
  plain.applyMethod({ type: 'qlora', rank: 2, alpha: 4, targets: ['q', 'v'] }, 1);
  assert.ok(plain.weightBytes() < before * 0.45, `${plain.weightBytes()} vs ${before}`);
});

test('merging a LoRA or QLoRA adapter into the weights keeps the logits; the merged model takes a new method', () => {
  for (const name of ['lora', 'rslora', 'qlora']) {
    const model = makeModel(TINY, METHODS[name]);
    const ids = Int32Array.from([1, 5, 7, 2, 9, 4]);
    const ctx: Ctx = { gemm, tape: null, rng: new Rng(0), training: false };
    const before = model.forward(ctx, ids, 1).logits.data.slice();
    model.mergeAdapter();
    assert.equal(model.method.type, 'full');
    assert.equal(model.methodTensors().length, 0);
    const after = model.forward(ctx, ids, 1).logits.data;
    let maxDiff = 0;
    for (let i = 0; i < before.length; i++) maxDiff = Math.max(maxDiff, Math.abs(before[i] - after[i]));
    assert.ok(maxDiff < 1e-4, `${name}: logits moved by ${maxDiff} when merged`);
    model.applyMethod(METHODS.lora, 3); // a fresh adapter over the merged weights starts as the identity
    const again = model.forward(ctx, ids, 1).logits.data;
    for (let i = 0; i < before.length; i++) assert.ok(Math.abs(before[i] - again[i]) < 1e-4);
  }
  const prefix = makeModel(TINY, METHODS.prefix);
  assert.throws(() => prefix.mergeAdapter(), /prefix adapter cannot be folded/);
});

test('training on top of an adapter: the same method continues it, another folds a LoRA first, a prefix refuses', () => {
  assert.equal(stackMethod(METHODS.lora, { ...METHODS.lora, dropout: 0.1 } as MethodSpec), 'continue');
  assert.equal(stackMethod(METHODS.lora, { ...METHODS.lora, targets: ['v_proj', 'attn_q', 'down'] } as MethodSpec), 'continue');
  assert.equal(stackMethod(METHODS.lora, { ...METHODS.lora, rank: 8 } as MethodSpec), 'merge');
  assert.equal(stackMethod(METHODS.lora, METHODS.full), 'merge');
  assert.equal(stackMethod(METHODS.qlora, METHODS.lora), 'merge');
  assert.equal(stackMethod(METHODS.prefix, METHODS.prefix), 'continue');
  assert.throws(() => stackMethod(METHODS.prefix, METHODS.lora), /prefix adapter \(3 virtual tokens\).*same method/);
  assert.throws(() => stackMethod(METHODS.prompt, { type: 'prompt', numVirtualTokens: 5 }), /prompt adapter/);
});
