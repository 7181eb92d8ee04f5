/**
 * The optional native kernels against the TypeScript loops they stand in for: softmax and sigmoid within float
 * rounding, AdamW and the gradient norm bit for bit (so a run gives the same weights with or without the addon).
 * Skipped, with the reason, where the addon was not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeKernels, useNativeKernels } from '../../src/engine/ops/native-kernels.ts';
import { causalSoftmax } from '../../src/engine/ops/attention.ts';
import { AdamW, clipGradNorm } from '../../src/engine/optim.ts';
import { Tensor } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';

const k = nativeKernels();
const skip = k ? false : 'native kernels not built (npm install builds them when OpenBLAS and a compiler are present)';
const rand = (n: number, seed: number, scale = 1) => { const r = new Rng(seed); return Float32Array.from({ length: n }, () => r.normal() * scale); };

function withKernels<T>(on: boolean, f: () => T): T {
  useNativeKernels(on);
  try { return f(); } finally { useNativeKernels(true); }
}

test('softmaxRows (causal and full) matches the TypeScript softmax', { skip }, () => {
  const T = 7, S = 11;
  const x = rand(T * S, 1, 3);
  const a = x.slice(), b = x.slice();
  withKernels(true, () => causalSoftmax(a, T, S, 4));
  withKernels(false, () => causalSoftmax(b, T, S, 4));
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6, `${i}: ${a[i]} vs ${b[i]}`);
  const logz = new Float32Array(T), y = new Float32Array(T * S);
  k!.softmaxRows(x, y, T, S, -1, logz);
  for (let t = 0; t < T; t++) {
    const row = [...x.subarray(t * S, t * S + S)], m = Math.max(...row);
    const z = Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) + m;
    assert.ok(Math.abs(logz[t] - z) < 1e-5);
  }
  assert.throws(() => k!.softmaxRows(x, y, T + 1, S, -1, null), /x has 77 elements, needs 88/);
  assert.throws(() => k!.softmaxRows(x, [] as unknown as Float32Array, T, S, -1, null), /y must be a Float32Array/);
});

test('sigmoid matches 1 / (1 + exp(-x))', { skip }, () => {
  const x = rand(1000, 2, 8), y = new Float32Array(1000);
  k!.sigmoid(x, y, 1000);
  x.forEach((v, i) => assert.ok(Math.abs(y[i] - 1 / (1 + Math.exp(-v))) < 1e-6));
});

test('AdamW and the gradient norm are bit-for-bit the TypeScript ones', { skip }, () => {
  const run = (native: boolean) => withKernels(native, () => {
    const t = new Tensor(rand(5000, 3), [50, 100], true, 'w'), b = new Tensor(rand(100, 4), [100], true, 'b');
    const opt = new AdamW([t, b], { lr: 3e-3, weightDecay: 0.1 });
    const norms: number[] = [];
    for (let s = 0; s < 5; s++) {
      t.grad = rand(5000, 10 + s, 0.1); b.grad = rand(100, 20 + s, 0.1);
      norms.push(clipGradNorm([t, b], 0.5));
      opt.step();
    }
    return { w: t.data, b: b.data, norms };
  });
  const n = run(true), j = run(false);
  assert.deepEqual(n.norms, j.norms);
  assert.deepEqual(Buffer.from(n.w.buffer), Buffer.from(j.w.buffer));
  assert.deepEqual(Buffer.from(n.b.buffer), Buffer.from(j.b.buffer));
});
