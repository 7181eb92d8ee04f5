/**
 * Packing: a micro-batch's examples share rows (first fit, longest first), each numbered from position 0 and
 * attending only to itself. Checked: the rows and positions against hand examples; a packed batch gives the padded
 * batch's loss and every gradient, on the fused native attention and the per-head path, with and without
 * checkpointing; training packed replays the padded run's losses; bad positions and prompt tuning are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel, sequenceStarts } from '../../src/engine/llama-model.ts';
import { collate, collatePacked, packRows, type Example } from '../../src/engine/batches.ts';
import { train } from '../../src/engine/train.ts';
import { Tape, type Ctx } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { IGNORE_INDEX } from '../../src/engine/ops/loss.ts';
import { createGemm } from '../../src/engine/gemm/create-gemm.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import { nativeAttention } from '../../src/engine/gemm/native.ts';
import type { Gemm } from '../../src/engine/gemm/gemm-seam.ts';
import type { MethodSpec } from '../../src/engine/methods.ts';
import { METHODS, TINY } from './fixtures.ts';

const CONFIG = { ...TINY, contextLength: 64 };

function examples(lengths: number[], seed: number): Example[] {
  const rng = new Rng(seed);
  return lengths.map((n) => {
    const ids = Int32Array.from({ length: n }, () => 1 + rng.int(CONFIG.vocabSize - 1));
    // SFT-like: the first third is prompt (not scored)
    const labels = Int32Array.from({ length: n }, (_, i) => (i < n / 3 ? IGNORE_INDEX : rng.int(CONFIG.vocabSize)));
    return { ids, labels };
  });
}

test('rows: first fit over the examples longest first, at most capacity tokens (a longer one alone)', () => {
  assert.deepEqual(packRows([5, 9, 3, 4, 7], 12), [[1, 2], [4, 0], [3]]);
  assert.deepEqual(packRows([20, 3], 12), [[0], [1]]);
  assert.deepEqual(packRows([], 8), []);
  const b = collatePacked([{ ids: Int32Array.of(7, 8, 9), labels: Int32Array.of(8, 9, 1) }, { ids: Int32Array.of(4, 5), labels: Int32Array.of(-100, 6) }], 0, 8, 4);
  assert.deepEqual([b.B, b.T, b.tokens], [1, 8, 5]);
  assert.deepEqual([...b.ids], [7, 8, 9, 4, 5, 0, 0, 0]);
  assert.deepEqual([...b.labels], [8, 9, 1, -100, 6, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]);
  assert.deepEqual([...b.positions!], [0, 1, 2, 0, 1, 0, 1, 2], 'each example from 0; padding as one more sequence');
});

test('sequence starts from positions; a position that neither starts nor follows is refused, naming the token', () => {
  assert.deepEqual([...sequenceStarts(Int32Array.of(0, 1, 2, 0, 0, 1, 0, 1), 2, 4)], [0, 0, 0, 3, 0, 0, 2, 2]);
  assert.throws(() => sequenceStarts(Int32Array.of(0, 1, 3, 4), 1, 4), /position 3 of token 2 in row 0/);
  assert.throws(() => sequenceStarts(Int32Array.of(1, 2), 1, 2), /position 1 of token 0 in row 0/);
  assert.throws(() => sequenceStarts(Int32Array.of(0, 1, 2), 1, 4), /3 positions for 4 tokens/);
});

interface Result { sum: number; count: number; grads: Map<string, Float32Array> }

function lossAndGrads(gemm: Gemm, method: MethodSpec, exs: Example[], packed: boolean, checkpointing = false): Result {
  const model = LlamaModel.init(CONFIG, 5);
  model.applyMethod(method, 6);
  model.checkpointing = checkpointing;
  const b = packed ? collatePacked(exs, 0, 48) : collate(exs, 0);
  if (packed) assert.ok(b.B < exs.length, `packed into ${b.B} rows`);
  const ctx: Ctx = { gemm, tape: new Tape(), rng: new Rng(1), training: true };
  const r = model.forwardLoss(ctx, b.ids, b.B, b.labels, b.positions);
  ctx.tape!.backward(r.loss);
  const grads = new Map<string, Float32Array>();
  model.trainableParams().forEach((p, i) => grads.set(p.name ?? String(i), Float32Array.from(p.grad ?? [])));
  return { sum: r.sumLoss, count: r.count, grads };
}

function assertClose(got: Result, want: Result, what: string): void {
  assert.equal(got.count, want.count, `${what}: the same tokens are scored`);
  assert.ok(Math.abs(got.sum - want.sum) <= 1e-4 * Math.abs(want.sum), `${what}: loss ${got.sum} vs ${want.sum}`);
  for (const [name, w] of want.grads) {
    const g = got.grads.get(name)!;
    let scale = 1e-6;
    for (const x of w) scale = Math.max(scale, Math.abs(x));
    for (let i = 0; i < w.length; i++) if (!(Math.abs(g[i]! - w[i]!) <= 1e-4 * scale)) assert.fail(`${what}: ${name}[${i}] = ${g[i]}, want ${w[i]} (scale ${scale})`);
  }
}

test('a packed batch gives the padded batch\'s loss and gradients (per-head attention path)', () => {
  const exs = examples([11, 30, 5, 17, 9, 22, 3], 2);
  for (const m of ['full', 'lora', 'freeze'] as const) {
    assertClose(lossAndGrads(referenceGemm(), METHODS[m]!, exs, true), lossAndGrads(referenceGemm(), METHODS[m]!, exs, false), `reference ${m}`);
  }
});

test('a packed batch gives the padded batch\'s loss and gradients (fused native attention, checkpointing)', { skip: nativeAttention() ? false : 'the native addon is not built' }, async () => {
  const gemm = await createGemm({ backend: 'native', threads: 2 });
  try {
    const exs = examples([11, 30, 5, 17, 9, 22, 3, 40], 3);
    for (const m of ['full', 'lora'] as const) {
      const want = lossAndGrads(gemm, METHODS[m]!, exs, false);
      assertClose(lossAndGrads(gemm, METHODS[m]!, exs, true), want, `native ${m}`);
      assertClose(lossAndGrads(gemm, METHODS[m]!, exs, true, true), want, `native ${m}, checkpointing`);
    }
  } finally {
    gemm.close();
  }
});

test('training packed replays the padded run: the same losses to float rounding, in fewer rows', async () => {
  const exs = examples(Array.from({ length: 24 }, (_, i) => 4 + ((i * 7) % 29)), 4);
  const run = async (packing?: number) => {
    const model = LlamaModel.init(CONFIG, 9);
    model.applyMethod(METHODS.lora!, 10);
    return (await train({ model, train: exs, gemm: referenceGemm(), config: { batchSize: 8, maxSteps: 6, lr: 1e-2, seed: 3, padId: 0, ...(packing ? { packing } : {}) } })).losses;
  };
  const padded = await run(), packed = await run(48);
  assert.equal(packed.length, padded.length);
  padded.forEach((l, i) => assert.ok(Math.abs(packed[i]! - l) <= 1e-4 * Math.abs(l), `step ${i + 1}: ${packed[i]} vs ${l}`));
});

test('prompt and prefix tuning refuse packed rows (their virtual tokens would be shared by a row)', () => {
  const b = collatePacked(examples([5, 6], 1), 0, 16);
  for (const m of ['prompt', 'prefix'] as const) {
    const model = LlamaModel.init(CONFIG, 1);
    model.applyMethod(METHODS[m]!, 2);
    const ctx: Ctx = { gemm: referenceGemm(), tape: null, rng: new Rng(1), training: false };
    assert.throws(() => model.forwardLoss(ctx, b.ids, b.B, b.labels, b.positions), /packed rows do not work with prompt or prefix tuning/);
  }
});
