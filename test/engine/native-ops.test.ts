/**
 * The row kernels of the gemm addon (native/ops.c: RMSNorm, SwiGLU, RoPE, embedding and cross-entropy backward,
 * gradient scaling, AdamW) against the TypeScript loops they stand in for, through the ops themselves: forward
 * outputs and every gradient within float rounding, and the same bits on 1 and 2 threads (sizes above the kernels'
 * threshold, so the work is really split). AdamW and clipping stay bit for bit the TypeScript ones on threads.
 * Skipped, with the reason, where the addon was not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeRowKernels, useNativeKernels } from '../../src/engine/ops/native-kernels.ts';
import { embedding, rmsnorm, swiglu } from '../../src/engine/ops/basic.ts';
import { rope } from '../../src/engine/ops/rope.ts';
import { crossEntropy, IGNORE_INDEX } from '../../src/engine/ops/loss.ts';
import { causalSoftmax } from '../../src/engine/ops/attention.ts';
import { AdamW, clipGradNorm } from '../../src/engine/optim.ts';
import { createNativeGemm } from '../../src/engine/gemm/native.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import { bf16ArrayToF32 } from '../../src/formats/half.ts';
import { Tape, Tensor, output, type Ctx } from '../../src/engine/tensor.ts';
import { BufferPool } from '../../src/engine/pool.ts';
import { Rng } from '../../src/engine/rng.ts';

const rk = nativeRowKernels();
const skip = rk ? false : 'the native addon with the row kernels is not built';

const rand = (n: number, seed: number, scale = 1) => { const r = new Rng(seed); return Float32Array.from({ length: n }, () => r.normal() * scale); };

type Mode = 'ts' | 1 | 2;

/** Runs `f` on a recording ctx with the TypeScript loops ('ts') or the native kernels on 1 or 2 threads. */
function inMode<T>(mode: Mode, f: (ctx: Ctx) => T): T {
  const gemm = mode === 'ts' ? referenceGemm() : createNativeGemm({ threads: mode });
  useNativeKernels(mode !== 'ts');
  try {
    return f({ gemm, tape: new Tape(), rng: new Rng(1), training: true });
  } finally {
    useNativeKernels(true);
    gemm.close();
  }
}

function close(what: string, got: Float32Array, want: Float32Array, tol = 2e-6): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1e-6;
  for (const x of want) scale = Math.max(scale, Math.abs(x));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * scale)) assert.fail(`${what}[${i}] = ${got[i]}, want ${want[i]} (scale ${scale})`);
  }
}

function sameBits(what: string, a: Float32Array, b: Float32Array): void {
  assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `${what}: 1 and 2 threads differ`);
}

/** Every mode's arrays: TypeScript against native (1 thread) within rounding, native 1 against 2 threads bit for bit. */
function compare(name: string, f: (ctx: Ctx) => Record<string, Float32Array>, tol?: number): void {
  const ts = inMode('ts', f), one = inMode(1, f), two = inMode(2, f);
  for (const key of Object.keys(ts)) {
    close(`${name} ${key}`, one[key], ts[key], tol);
    sameBits(`${name} ${key}`, one[key], two[key]);
  }
}

test('rmsnorm forward and backward match the TypeScript loops', { skip }, () => {
  for (const [N, C] of [[150, 37], [300, 256]] as const) {
    compare(`rmsnorm ${N}x${C}`, (ctx) => {
      const x = new Tensor(rand(N * C, 1, 2), [N, C], true), w = new Tensor(rand(C, 2), [C], true);
      const y = rmsnorm(ctx, x, w, 1e-5);
      y.ensureGrad().set(rand(N * C, 3));
      ctx.tape!.replay();
      return { y: y.data, dx: x.grad!, dw: w.grad! };
    });
  }
});

test('swiglu forward and backward match the TypeScript loops (the exp included)', { skip }, () => {
  const n = 100_003;
  compare('swiglu', (ctx) => {
    const g = new Tensor(rand(n, 4, 6), [n], true), u = new Tensor(rand(n, 5), [n], true);
    const y = swiglu(ctx, g, u);
    y.ensureGrad().set(rand(n, 6));
    ctx.tape!.replay();
    return { y: y.data, dg: g.grad!, du: u.grad! };
  });
  // the far tails of the sigmoid: silu(-100) = -0 within rounding, silu(100) = 100
  const y = inMode(1, (ctx) => swiglu(ctx, new Tensor(Float32Array.of(-100, -30, 0, 30, 100), [5]), new Tensor(new Float32Array(5).fill(1), [5])));
  close('swiglu tails', y.data, Float32Array.of(-100 / (1 + Math.exp(100)), -30 / (1 + Math.exp(30)), 0, 30 / (1 + Math.exp(-30)), 100));
});

test('swiglu backward writes fresh pooled gradients (stale NaN in them) with the bits of zeroed ones', { skip }, () => {
  const n = 100_003;
  const run = (pooled: boolean) => (ctx: Ctx) => {
    if (pooled) {
      const pool = new BufferPool();
      for (let i = 0; i < 8; i++) pool.take(n, false).fill(NaN);
      pool.release();
      ctx.pool = pool;
    }
    const g = output(ctx, rand(n, 4, 6), [n], true), u = output(ctx, rand(n, 5), [n], true);
    const y = swiglu(ctx, g, u);
    y.ensureGrad().set(rand(n, 6));
    ctx.tape!.replay();
    return { dg: g.grad!, du: u.grad! };
  };
  for (const mode of ['ts', 1, 2] as const) {
    const fresh = inMode(mode, run(true)), zeroed = inMode(mode, run(false));
    for (const key of ['dg', 'du'] as const) {
      const a = fresh[key], b = zeroed[key];
      assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `${mode} ${key}: fresh and zeroed differ`);
    }
  }
});

test('rope forward and backward match the TypeScript loops', { skip }, () => {
  const N = 200, H = 4, D = 64;
  const positions = Int32Array.from({ length: N }, (_, i) => (i * 7) % 300);
  compare('rope', (ctx) => {
    const x = new Tensor(rand(N * H * D, 7), [N, H * D], true);
    const y = rope(ctx, x, positions, H, D, 10000);
    y.ensureGrad().set(rand(N * H * D, 8));
    ctx.tape!.replay();
    return { y: y.data, dx: x.grad! };
  });
});

test('embedding and cross-entropy backward match the TypeScript loops', { skip }, () => {
  const N = 500, C = 128, V = 50;
  const ids = Int32Array.from({ length: N }, (_, i) => (i * 13) % V); // every row of the table several times
  compare('embedding', (ctx) => {
    const table = new Tensor(rand(V * C, 9), [V, C], true);
    const y = embedding(ctx, table, ids);
    y.ensureGrad().set(rand(N * C, 10));
    ctx.tape!.replay();
    return { dtable: table.grad! };
  });
  const R = 70, W = 1000;
  const labels = Int32Array.from({ length: R }, (_, i) => (i % 5 === 0 ? IGNORE_INDEX : (i * 31) % W));
  for (const pooled of [false, true]) {
    compare(`crossEntropy${pooled ? ' (pooled: the gradient overwrites a stale buffer)' : ''}`, (ctx) => {
      if (pooled) { ctx.pool = new BufferPool(); for (let i = 0; i < 3; i++) ctx.pool.take(R * W, false).fill(7); ctx.pool.release(); }
      const logits = output(ctx, rand(R * W, 11, 3), [R, W], true);
      const r = crossEntropy(ctx, logits, labels);
      ctx.tape!.backward(r.loss);
      return { dlogits: logits.grad!.slice() };
    });
  }
});

test('AdamW and clipping on 2 threads are bit for bit the TypeScript ones', { skip }, () => {
  const run = (mode: Mode) => {
    useNativeKernels(mode !== 'ts');
    try {
      const threads = mode === 'ts' ? 1 : mode;
      const t = new Tensor(rand(70_000, 12), [700, 100], true, 'w');
      const opt = new AdamW([t], { lr: 3e-3, weightDecay: 0.1, threads });
      for (let s = 0; s < 3; s++) {
        t.grad = rand(70_000, 20 + s, 0.1);
        clipGradNorm([t], 0.5, threads);
        opt.step();
      }
      return t.data;
    } finally {
      useNativeKernels(true);
    }
  };
  const ts = run('ts');
  sameBits('AdamW native 1 thread vs TypeScript', run(1), ts);
  sameBits('AdamW native 2 threads vs TypeScript', run(2), ts);
});

test('the row kernels reject what would read or write out of bounds, naming the argument', { skip }, () => {
  const k = rk!;
  const cos = new Float32Array(4 * 2), sin = new Float32Array(4 * 2), x = new Float32Array(2 * 4);
  assert.throws(() => k.rope(x, x.slice(), Int32Array.of(0, 4), cos, sin, 1, 4, 1, false, 1), /position 4 at row 1 is outside the table \(0\.\.3\)/);
  assert.throws(() => k.rope(x, x.slice(), Int32Array.of(0, 1), cos, sin, 1, 3, 1, false, 1), /even D/);
  assert.throws(() => k.embeddingBackward(new Float32Array(8), Int32Array.of(0, 9), new Float32Array(16), 2, 4, 1), /token id 9 at position 1 is outside the table \(0\.\.3\)/);
  assert.throws(() => k.crossEntropyBackward(new Float32Array(6), Int32Array.of(1, 3), new Float32Array(6), 2, 3, 1, true, 1), /label 3 at row 1 is outside 0\.\.2/);
  assert.throws(() => k.rmsnormForward(new Float32Array(7), new Float32Array(4), new Float32Array(8), new Float32Array(2), 2, 4, 1e-5, 1), /rmsnorm x is too short: it has 7 elements, the problem needs 8/);
  assert.throws(() => k.swigluForward(new Float32Array(4), [] as unknown as Float32Array, new Float32Array(4), null, 4, 1), /swiglu up must be a Float32Array/);
  assert.throws(() => k.embeddingBackward(new Float32Array(8), [0, 1] as unknown as Int32Array, new Float32Array(16), 2, 4, 1), /embedding ids must be an Int32Array/);
});

test('softmaxRows on threads: causal per head and full with log-normalisers, as the TypeScript softmax', { skip }, () => {
  const heads = 6, T = 40, rows = heads * T;
  const x = rand(rows * T, 13, 4);
  const want = x.slice();
  useNativeKernels(false);
  try { for (let h = 0; h < heads; h++) causalSoftmax(want.subarray(h * T * T, (h + 1) * T * T), T, T, 0); } finally { useNativeKernels(true); }
  const one = x.slice(), two = x.slice();
  rk!.softmaxRows(one, one, rows, T, 0, T, null, 1);
  rk!.softmaxRows(two, two, rows, T, 0, T, null, 2);
  close('causal softmax', one, want);
  sameBits('causal softmax', one, two);
  const V = 300, logz = new Float32Array(rows), y = new Float32Array(rows * V), xs = rand(rows * V, 14, 3);
  rk!.softmaxRows(xs, y, rows, V, -1, 1, logz, 2);
  for (let r = 0; r < rows; r += 37) {
    const row = [...xs.subarray(r * V, r * V + V)], m = Math.max(...row);
    const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
    assert.ok(Math.abs(logz[r] - (Math.log(z) + m)) < 1e-5, `logz[${r}]`);
    assert.ok(Math.abs(y[r * V + 5] - Math.exp(row[5] - m) / z) < 1e-7, `y[${r}, 5]`);
  }
  assert.throws(() => rk!.softmaxRows(x, x, rows, T, -2, T, null, 1), /causalOffset an integer >= -1/);
});

test('widenBf16 on threads gives the TypeScript widening bit for bit; a wrong array is refused', { skip }, () => {
  const n = 100_003, bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) bits[i] = (i * 2654435761) >>> 16; // every exponent, NaN and infinity bits included
  const want = bf16ArrayToF32(bits);
  for (const threads of [1, 2]) {
    const got = new Float32Array(n);
    rk!.widenBf16!(bits, got, n, threads);
    sameBits(`widenBf16 on ${threads}`, got, want);
  }
  assert.throws(() => rk!.widenBf16!(new Uint16Array(3), new Float32Array(4), 4, 1), /widenBf16 src has 3 elements, needs 4/);
  assert.throws(() => rk!.widenBf16!(new Int16Array(4) as unknown as Uint16Array, new Float32Array(4), 4, 1), /widenBf16 src must be a Uint16Array/);
});

test('addScaled and accumulate on threads give the TypeScript loops bit for bit', { skip }, () => {
  const n = 50_001, a = rand(n, 21, 3), b = rand(n, 22, 1e-3);
  for (const s of [1, 2, 0.3125, 1 / 3]) {
    const want = new Float32Array(n), acc = a.slice();
    for (let i = 0; i < n; i++) { want[i] = a[i] + s * b[i]; acc[i] += s * b[i]; }
    for (const threads of [1, 2]) {
      const out = new Float32Array(n), dst = a.slice();
      rk!.addScaled!(a, b, out, n, s, threads);
      rk!.accumulate!(dst, b, n, s, threads);
      sameBits(`addScaled s=${s} on ${threads}`, out, want);
      sameBits(`accumulate s=${s} on ${threads}`, dst, acc);
    }
  }
  assert.throws(() => rk!.accumulate!(new Float32Array(3), new Float32Array(4), 4, 1, 1), /accumulate dst is too short|accumulate dst has 3/);
});

test('Tensor.addGrad: a scaled first contribution and later ones give the loop bits with the kernels on', { skip }, () => {
  const n = 9000, g1 = rand(n, 31), g2 = rand(n, 32);
  const run = () => { const t = new Tensor(new Float32Array(n), [n], true); t.addGrad(g1, 1 / 3, 2); t.addGrad(g2, 0.7, 2); return t.grad!; };
  const native = run();
  useNativeKernels(false);
  try { sameBits('addGrad', native, run()); } finally { useNativeKernels(true); }
});
