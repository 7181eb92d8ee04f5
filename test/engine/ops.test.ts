/**
 * Gradient checks for every op: the float32 kernels against a float64 reference forward, and their backward
 * against central finite differences of that reference (eps 1e-6 in float64, so the numerical side is exact to
 * ~1e-9). L = sum(gy * op(inputs)) for a random upstream gradient gy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, Tape, type Ctx } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import { add, addScaled, dropout, embedding, linear, prependRows, rmsnorm, swiglu } from '../../src/engine/ops/basic.ts';
import { rope } from '../../src/engine/ops/rope.ts';
import { attention } from '../../src/engine/ops/attention.ts';
import { crossEntropy, IGNORE_INDEX } from '../../src/engine/ops/loss.ts';

type F64 = Float64Array;
const gemm = referenceGemm();

function ctx(seed = 1, training = false): Ctx {
  return { gemm, tape: new Tape(), rng: new Rng(seed), training };
}

function randn(rng: Rng, n: number, scale = 1): F64 {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 1e-6;
  for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(b[i])); }
  return num / den;
}

/**
 * Checks op (float32, with tape) against ref (float64): forward values, and the gradient of every input whose
 * index is in `grads` against central differences of ref.
 */
function gradCheck(
  name: string,
  shapes: number[][],
  op: (c: Ctx, xs: Tensor[]) => Tensor,
  ref: (xs: F64[]) => F64,
  opts: { grads?: number[]; seed?: number; scale?: number; tol?: number } = {},
): void {
  const rng = new Rng(opts.seed ?? 7);
  const xs64 = shapes.map((s) => randn(rng, s.reduce((a, b) => a * b, 1), opts.scale ?? 1));
  const grads = opts.grads ?? shapes.map((_, i) => i);
  const c = ctx();
  const xs = xs64.map((x, i) => new Tensor(Float32Array.from(x), shapes[i], grads.includes(i)));
  const y = op(c, xs);
  const y64 = ref(xs64.map((x) => Float64Array.from(Float32Array.from(x))));
  assert.ok(maxRelErr(y.data, y64) < 1e-4, `${name}: forward differs from the float64 reference by ${maxRelErr(y.data, y64)}`);
  const gy = randn(rng, y.size);
  y.grad = Float32Array.from(gy);
  c.tape!.replay();
  for (const i of grads) {
    const num = new Float64Array(xs64[i].length);
    const eps = 1e-6;
    for (let j = 0; j < num.length; j++) {
      const save = xs64[i][j];
      xs64[i][j] = save + eps; const yp = ref(xs64);
      xs64[i][j] = save - eps; const ym = ref(xs64);
      xs64[i][j] = save;
      let d = 0;
      for (let k = 0; k < gy.length; k++) d += gy[k] * (yp[k] - ym[k]);
      num[j] = d / (2 * eps);
    }
    const got = xs[i].grad;
    assert.ok(got, `${name}: input ${i} got no gradient`);
    const err = maxRelErr(got!, num);
    assert.ok(err < (opts.tol ?? 2e-3), `${name}: gradient of input ${i} differs from finite differences by ${err}`);
  }
}

// ---- float64 references -------------------------------------------------------------------------------------

function refLinear(x: F64, w: F64, b: F64 | null, N: number, In: number, Out: number): F64 {
  const y = new Float64Array(N * Out);
  for (let n = 0; n < N; n++) for (let o = 0; o < Out; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < In; i++) s += x[n * In + i] * w[o * In + i];
    y[n * Out + o] = s;
  }
  return y;
}

function refRope(x: F64, pos: Int32Array, H: number, D: number, base: number): F64 {
  const y = new Float64Array(x.length);
  for (let n = 0; n < pos.length; n++) for (let h = 0; h < H; h++) for (let i = 0; i < D / 2; i++) {
    const th = pos[n] * Math.pow(base, (-2 * i) / D), o = n * H * D + h * D + 2 * i;
    y[o] = x[o] * Math.cos(th) - x[o + 1] * Math.sin(th);
    y[o + 1] = x[o] * Math.sin(th) + x[o + 1] * Math.cos(th);
  }
  return y;
}

function refAttention(q: F64, k: F64, v: F64, B: number, T: number, H: number, KVH: number, D: number, pk: F64 | null, pv: F64 | null, P: number): F64 {
  const out = new Float64Array(B * T * H * D);
  const KW = KVH * D;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / (H / KVH));
    for (let t = 0; t < T; t++) {
      const keys: number[] = [];
      const rowsK: Array<(i: number) => number> = [], rowsV: Array<(i: number) => number> = [];
      for (let s = 0; s < P; s++) { rowsK.push((i) => pk![s * KW + kh * D + i]); rowsV.push((i) => pv![s * KW + kh * D + i]); }
      for (let s = 0; s <= t; s++) { rowsK.push((i) => k[(b * T + s) * KW + kh * D + i]); rowsV.push((i) => v[(b * T + s) * KW + kh * D + i]); }
      for (const rk of rowsK) { let d = 0; for (let i = 0; i < D; i++) d += q[(b * T + t) * H * D + h * D + i] * rk(i); keys.push(d / Math.sqrt(D)); }
      const m = Math.max(...keys); const e = keys.map((z) => Math.exp(z - m)); const z = e.reduce((a, c) => a + c, 0);
      for (let i = 0; i < D; i++) { let s = 0; rowsV.forEach((rv, j) => { s += (e[j] / z) * rv(i); }); out[(b * T + t) * H * D + h * D + i] = s; }
    }
  }
  return out;
}

// ---- the checks ----------------------------------------------------------------------------------------------

test('embedding: rows gathered, gradient scattered (repeated ids accumulate)', () => {
  const ids = new Int32Array([2, 0, 2, 3]);
  gradCheck('embedding', [[5, 3]], (c, [t]) => embedding(c, t, ids), ([t]) => {
    const y = new Float64Array(ids.length * 3);
    ids.forEach((id, n) => { for (let j = 0; j < 3; j++) y[n * 3 + j] = t[id * 3 + j]; });
    return y;
  });
  assert.throws(() => embedding(ctx(), Tensor.zeros([5, 3]), new Int32Array([5])), /outside the vocabulary/);
});

test('linear with and without bias', () => {
  gradCheck('linear', [[6, 5], [4, 5]], (c, [x, w]) => linear(c, x, w), ([x, w]) => refLinear(x, w, null, 6, 5, 4));
  gradCheck('linear+bias', [[3, 7], [2, 7], [2]], (c, [x, w, b]) => linear(c, x, w, b), ([x, w, b]) => refLinear(x, w, b, 3, 7, 2));
  gradCheck('linear frozen weight', [[3, 4], [5, 4]], (c, [x, w]) => linear(c, x, w), ([x, w]) => refLinear(x, w, null, 3, 4, 5), { grads: [0] });
});

test('rmsnorm', () => {
  const N = 4, C = 6, eps = 1e-5;
  gradCheck('rmsnorm', [[N, C], [C]], (c, [x, w]) => rmsnorm(c, x, w, eps), ([x, w]) => {
    const y = new Float64Array(N * C);
    for (let n = 0; n < N; n++) {
      let ss = 0; for (let j = 0; j < C; j++) ss += x[n * C + j] ** 2;
      const s = 1 / Math.sqrt(ss / C + eps);
      for (let j = 0; j < C; j++) y[n * C + j] = x[n * C + j] * s * w[j];
    }
    return y;
  });
});

test('swiglu, add, addScaled', () => {
  gradCheck('swiglu', [[3, 5], [3, 5]], (c, [g, u]) => swiglu(c, g, u), ([g, u]) => g.map((x, i) => (x / (1 + Math.exp(-x))) * u[i]));
  gradCheck('add', [[2, 3], [2, 3]], (c, [a, b]) => add(c, a, b), ([a, b]) => a.map((x, i) => x + b[i]));
  gradCheck('addScaled', [[2, 3], [2, 3]], (c, [a, b]) => addScaled(c, a, b, 0.37), ([a, b]) => a.map((x, i) => x + 0.37 * b[i]));
});

test('rope (llama.cpp norm mode: adjacent pairs)', () => {
  const H = 2, D = 4, pos = new Int32Array([0, 1, 5, 17]);
  gradCheck('rope', [[4, H * D]], (c, [x]) => rope(c, x, pos, H, D, 10000), ([x]) => refRope(x, pos, H, D, 10000));
  // Position 0 is the identity.
  const c = ctx(), x = new Tensor(Float32Array.from([1, 2, 3, 4]), [1, 4]);
  assert.deepEqual([...rope(c, x, new Int32Array([0]), 1, 4, 10000).data], [1, 2, 3, 4]);
});

test('causal attention: multi-head, grouped-query, with key/value prefixes', () => {
  const B = 2, T = 3, D = 4;
  for (const [H, KVH] of [[2, 2], [4, 2], [4, 1]]) {
    gradCheck(`attention H=${H} KVH=${KVH}`, [[B * T, H * D], [B * T, KVH * D], [B * T, KVH * D]],
      (c, [q, k, v]) => attention(c, q, k, v, { B, T, H, KVH, D }),
      ([q, k, v]) => refAttention(q, k, v, B, T, H, KVH, D, null, null, 0));
  }
  const H = 4, KVH = 2, P = 2;
  gradCheck('attention with prefix', [[B * T, H * D], [B * T, KVH * D], [B * T, KVH * D], [P, KVH * D], [P, KVH * D]],
    (c, [q, k, v, pk, pv]) => attention(c, q, k, v, { B, T, H, KVH, D }, { k: pk, v: pv }),
    ([q, k, v, pk, pv]) => refAttention(q, k, v, B, T, H, KVH, D, pk, pv, P));
});

test('cross-entropy with ignored rows', () => {
  const labels = new Int32Array([1, IGNORE_INDEX, 4, 0]);
  gradCheck('cross-entropy', [[4, 5]], (c, [x]) => crossEntropy(c, x, labels).loss, ([x]) => {
    let s = 0, n = 0;
    labels.forEach((l, r) => {
      if (l === IGNORE_INDEX) return;
      const row = Array.from(x.subarray(r * 5, r * 5 + 5)); const m = Math.max(...row);
      s += m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[l]; n++;
    });
    return new Float64Array([s / n]);
  });
  const all = crossEntropy(ctx(), Tensor.zeros([2, 3]), new Int32Array([IGNORE_INDEX, IGNORE_INDEX]));
  assert.equal(all.count, 0);
  assert.equal(all.loss.data[0], 0);
});

test('prependRows (soft prompt)', () => {
  gradCheck('prependRows', [[2, 3], [4, 3]], (c, [p, x]) => prependRows(c, p, x, 2), ([p, x]) => {
    const y = new Float64Array(2 * 4 * 3);
    for (let b = 0; b < 2; b++) { y.set(p, b * 12); y.set(x.subarray(b * 6, b * 6 + 6), b * 12 + 6); }
    return y;
  });
});

test('dropout: inverted scaling, the same mask in backward, identity when not training', () => {
  const c = ctx(3, true);
  const x = new Tensor(new Float32Array(1000).fill(1), [1000], true);
  const y = dropout(c, x, 0.25);
  const kept = y.data.filter((v) => v !== 0);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
  assert.ok(Math.abs(kept.length / 1000 - 0.75) < 0.05, `kept ${kept.length}`);
  y.grad = new Float32Array(1000).fill(1);
  c.tape!.replay();
  for (let i = 0; i < 1000; i++) assert.equal(x.grad![i], y.data[i]);
  assert.equal(dropout(ctx(3, false), x, 0.25), x);
});
