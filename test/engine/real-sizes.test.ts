/**
 * What lets the engine train at real sizes, each against the plain path on tiny models:
 * - the chunked output projection + cross-entropy (ops/linear-loss.ts) gives the plain loss and the plain
 *   gradients of the hidden rows and the output matrix (within 1e-5 relative), ignored rows included;
 * - frozen matrices held in bf16 (half-weight.ts) move the loss by less than 1e-3 relative and train the same
 *   tensors; a model built straight into bf16 equals one built in float32 and then halved;
 * - gradient checkpointing gives every gradient of the plain backward within 1e-6 relative, dropout included;
 * - fillNormal draws what a loop of normal() draws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { TINY, METHODS } from './fixtures.ts';
import { Tape, Tensor, type Ctx } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import { createNativeGemm, nativeKernels } from '../../src/engine/gemm/native.ts';
import type { Gemm } from '../../src/engine/gemm/gemm-seam.ts';
import { BufferPool } from '../../src/engine/pool.ts';
import { crossEntropy, IGNORE_INDEX } from '../../src/engine/ops/loss.ts';
import { linear } from '../../src/engine/ops/basic.ts';
import { linearCrossEntropy, wholeLinearCrossEntropy } from '../../src/engine/ops/linear-loss.ts';
import { HalfWeight } from '../../src/engine/half-weight.ts';
import { useNativeKernels } from '../../src/engine/ops/native-kernels.ts';
import type { MethodSpec } from '../../src/engine/methods.ts';

const gemm = referenceGemm();

function maxRel(a: Float32Array, b: Float32Array): number {
  let scale = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(b[i])); diff = Math.max(diff, Math.abs(a[i] - b[i])); }
  return diff / Math.max(scale, 1e-30);
}

function batch(seed: number, B: number, T: number, V: number) {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
  const labels = Int32Array.from({ length: B * T }, (_, i) => (i % 5 === 4 ? IGNORE_INDEX : rng.int(V)));
  return { ids, labels, B };
}

for (const native of [true, false]) {
  for (const form of ['chunked', 'whole'] as const) {
    test(`the ${form} output projection + cross-entropy equals the plain one (${native ? 'native kernels when built' : 'TypeScript loops'})`, () => {
      useNativeKernels(native);
      try {
        const N = 13, C = 8, V = 37, rng = new Rng(1);
        const labels = Int32Array.from({ length: N }, (_, i) => (i % 4 === 2 ? IGNORE_INDEX : rng.int(V)));
        const mk = () => {
          const x = Tensor.zeros([N, C], true), w = Tensor.zeros([V, C], true), r2 = new Rng(2);
          for (let i = 0; i < x.size; i++) x.data[i] = r2.normal();
          for (let i = 0; i < w.size; i++) w.data[i] = r2.normal() * 0.5;
          return { x, w };
        };
        const plain = mk(), fused = mk();
        const c1: Ctx = { gemm, tape: new Tape(), rng: new Rng(0), training: true };
        const l1 = crossEntropy(c1, linear(c1, plain.x, plain.w), labels);
        c1.tape!.backward(l1.loss, 0.5);
        const c2: Ctx = { gemm, tape: new Tape(), rng: new Rng(0), training: true, pool: new BufferPool() };
        // Chunks and tiles that do not divide the sizes: every edge is taken.
        const run = (lb: Int32Array) => form === 'chunked'
          ? linearCrossEntropy(c2, fused.x, fused.w, lb, { rowChunk: 4, vocabTile: 10 })
          : wholeLinearCrossEntropy(c2, fused.x, fused.w, lb);
        const l2 = run(labels);
        c2.tape!.backward(l2.loss, 0.5);
        assert.equal(l2.count, l1.count);
        assert.ok(Math.abs(l2.loss.data[0] - l1.loss.data[0]) < 1e-5 * Math.abs(l1.loss.data[0]), `${l2.loss.data[0]} vs ${l1.loss.data[0]}`);
        assert.ok(maxRel(fused.x.grad!, plain.x.grad!) < 1e-5, `dX ${maxRel(fused.x.grad!, plain.x.grad!)}`);
        assert.ok(maxRel(fused.w.grad!, plain.w.grad!) < 1e-5, `dW ${maxRel(fused.w.grad!, plain.w.grad!)}`);
        assert.throws(() => run(Int32Array.from(labels, () => V)), /label 37 at row 0 is outside 0..36/);
      } finally {
        useNativeKernels(true);
      }
    });
  }
}

function trained(method: MethodSpec, o: { half?: boolean; checkpointing?: boolean; chunk?: boolean; tied?: boolean; dropout?: boolean; gemm?: Gemm } = {}) {
  const config = { ...TINY, tieEmbeddings: o.tied ?? true, vocabSize: 61 };
  const m = LlamaModel.init(config, 11);
  m.applyMethod(method, 12);
  const rng = new Rng(5);
  for (const t of m.methodTensors()) for (let i = 0; i < t.size; i++) t.data[i] += rng.normal() * 0.3;
  if (o.half) m.holdFrozenInHalf();
  m.checkpointing = o.checkpointing ?? false;
  if (o.chunk) m.lossChunkAbove = 0;
  const b = batch(3, 2, 9, config.vocabSize);
  const ctx: Ctx = { gemm: o.gemm ?? gemm, tape: new Tape(), rng: new Rng(4), training: o.dropout ?? false, pool: new BufferPool() };
  const r = m.forwardLoss(ctx, b.ids, b.B, b.labels);
  ctx.tape!.backward(r.loss);
  return { m, loss: r.loss.data[0], grads: m.trainableParams().map((t) => ({ name: t.name, g: t.grad ?? new Float32Array(t.size) })), rng: ctx.rng.state() };
}

test('the model takes the chunked loss when tokens x vocabulary is large: same loss and gradients', () => {
  for (const name of ['full', 'lora', 'prompt']) {
    const a = trained(METHODS[name]), b = trained(METHODS[name], { chunk: true });
    assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * a.loss, `${name}: ${a.loss} vs ${b.loss}`);
    a.grads.forEach((g, i) => assert.ok(maxRel(b.grads[i].g, g.g) < 1e-4, `${name} ${g.name}: ${maxRel(b.grads[i].g, g.g)}`));
  }
});

test('gradient checkpointing recomputes each layer: every gradient within 1e-6 relative, dropout included', () => {
  const lora: MethodSpec = { type: 'lora', rank: 3, alpha: 6, targets: ['all'], dropout: 0.2 };
  for (const [name, method] of [...Object.entries(METHODS), ['lora+dropout', lora] as const]) {
    const a = trained(method, { dropout: true }), b = trained(method, { dropout: true, checkpointing: true });
    assert.equal(b.loss, a.loss, name);
    assert.deepEqual(b.rng, a.rng, `${name}: the same draws`);
    assert.ok(a.grads.length > 0);
    a.grads.forEach((g, i) => assert.ok(maxRel(b.grads[i].g, g.g) <= 1e-6, `${name} ${g.name}: ${maxRel(b.grads[i].g, g.g)}`));
  }
});

test('frozen matrices in bf16: half the bytes, the loss within 1e-3 relative, the same tensors trained', () => {
  for (const name of ['lora', 'qlora', 'prefix', 'prompt', 'freeze']) {
    const a = trained(METHODS[name], { tied: false }), b = trained(METHODS[name], { tied: false, half: true, chunk: true, checkpointing: true });
    assert.ok(b.m.half.size > 0, `${name}: something is held in bf16`);
    assert.ok(b.m.weightBytes() < a.m.weightBytes(), name);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-3 * a.loss, `${name}: ${a.loss} vs ${b.loss}`);
    assert.deepEqual(b.grads.map((g) => g.name), a.grads.map((g) => g.name));
    a.grads.forEach((g, i) => assert.ok(maxRel(b.grads[i].g, g.g) < 0.05, `${name} ${g.name}: ${maxRel(b.grads[i].g, g.g)}`));
  }
  const full = LlamaModel.init(TINY, 1);
  full.holdFrozenInHalf();
  assert.equal(full.half.size, 0, 'a full fine-tune holds nothing in bf16');
});

test('a gemm that reads the bf16 bits itself gives the bits of the widened path, on every native kernel', { skip: nativeKernels().length ? false : 'the native addon is not built' }, () => {
  for (const k of nativeKernels().filter((x) => x.supported)) {
    const g = createNativeGemm({ threads: 2, kernel: k.name });
    // the same kernel (attention's included), made to widen every bf16 matrix into float32 first, as a backend
    // without sgemmBf16B does
    const widening = { name: g.name, threads: g.threads, precision: g.precision, kernelIndex: g.kernelIndex, sgemm: g.sgemm, close: () => {} } as Gemm;
    try {
      assert.ok(g.sgemmBf16B, 'the native gemm reads bf16');
      for (const chunk of [false, true]) {
        const a = trained(METHODS.lora, { half: true, chunk, gemm: g }), b = trained(METHODS.lora, { half: true, chunk, gemm: widening });
        assert.ok(a.m.half.size > 0);
        assert.equal(a.loss, b.loss, `${k.name} loss`);
        for (let i = 0; i < a.grads.length; i++) assert.deepEqual(a.grads[i].g, b.grads[i].g, `${k.name} ${a.grads[i].name}`);
      }
    } finally {
      g.close();
    }
  }
});

test('a model built straight into bf16 equals one built in float32 then halved; it refuses to train a bf16 matrix', () => {
  const a = LlamaModel.init(TINY, 3), b = LlamaModel.init(TINY, 3, { half: true });
  a.applyMethod(METHODS.lora, 1); b.applyMethod(METHODS.lora, 1);
  a.holdFrozenInHalf();
  assert.deepEqual([...b.half.keys()], [...a.half.keys()]);
  for (const [n, h] of a.half) assert.deepEqual(b.half.get(n)!.bits, h.bits, n);
  assert.deepEqual(b.storage, a.storage);
  assert.throws(() => LlamaModel.init(TINY, 3, { half: true }).applyMethod({ type: 'full' }, 1), /trains "token_embd.weight", which this model holds in bf16/);
  // Decoding and merging widen what they need.
  const ctx: Ctx = { gemm, tape: null, rng: new Rng(0), training: false };
  const ids = Int32Array.of(1, 2, 3);
  const before = b.decode(ctx, ids, b.newCache(8));
  b.mergeAdapter();
  assert.equal(b.half.size, 0);
  assert.ok(maxRel(b.decode(ctx, ids, b.newCache(8)), before) < 1e-5);
  const h = HalfWeight.fromFloat([2, 2], Float32Array.of(1, 1 + 2 ** -9, -3.5, 1e-3));
  assert.deepEqual([...h.toFloat()], [1, 1, -3.5, 0.00099945068359375]);
});

test('fillNormal draws what normal() draws, across calls', () => {
  const a = new Rng(7), b = new Rng(7);
  const x = Float32Array.from({ length: 101 }, () => a.normal() * 0.02);
  const y = new Float32Array(101);
  b.fillNormal(y.subarray(0, 3), 0.02); b.fillNormal(y.subarray(3), 0.02);
  assert.deepEqual(y, x);
  assert.deepEqual(b.state(), a.state());
});
