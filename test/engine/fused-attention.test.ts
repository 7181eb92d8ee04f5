/**
 * The fused native attention (native/attention.c, used by ops/attention.ts on the native gemm without prefixes)
 * against the per-head path on the reference gemm: the output and the gradients of q, k and v agree within float
 * rounding, for multi-head and grouped-query shapes; 1 and 2 threads give the same bits. Skipped, with the reason,
 * where the native addon was not built.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attention } from '../../src/engine/ops/attention.ts';
import { createNativeGemm, nativeAttention, nativeKernels } from '../../src/engine/gemm/native.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import type { Gemm } from '../../src/engine/gemm/gemm-seam.ts';
import { Tape, Tensor, type Ctx } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { BufferPool } from '../../src/engine/pool.ts';

const skip = nativeAttention() ? false : 'the native addon with fused attention is not built';

interface Run { out: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array }

/** `poisoned`: the step's buffers come from a pool holding NaN (what an earlier step left), so a kernel that reads
 * an entry it did not write (above the causal diagonal) shows. */
function run(gemm: Gemm, B: number, T: number, H: number, KVH: number, D: number, seed: number, poisoned = false): Run {
  const rng = new Rng(seed);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const q = new Tensor(rand(B * T * H * D), [B * T, H * D], true);
  const k = new Tensor(rand(B * T * KVH * D), [B * T, KVH * D], true);
  const v = new Tensor(rand(B * T * KVH * D), [B * T, KVH * D], true);
  const ctx: Ctx = { gemm, tape: new Tape(), rng, training: true };
  if (poisoned) {
    const pool = new BufferPool();
    for (const n of [B * H * T * T, B * T * H * D]) pool.take(n, false).fill(NaN);
    pool.release();
    ctx.pool = pool;
  }
  const y = attention(ctx, q, k, v, { B, T, H, KVH, D });
  y.ensureGrad().set(rand(y.size));
  ctx.tape!.replay();
  return { out: y.data, dq: q.grad!, dk: k.grad!, dv: v.grad! };
}

function close(what: string, got: Float32Array, want: Float32Array): void {
  let scale = 1e-6;
  for (const x of want) scale = Math.max(scale, Math.abs(x));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 2e-5 * scale)) assert.fail(`${what}[${i}] = ${got[i]}, want ${want[i]} (scale ${scale})`);
  }
}

test('fused attention matches the per-head path: output and every gradient', { skip }, () => {
  const native = createNativeGemm({ threads: 1 });
  try {
    for (const [B, T, H, KVH, D] of [[2, 17, 4, 4, 8], [3, 33, 4, 2, 16], [1, 70, 6, 1, 12]] as const) {
      const want = run(referenceGemm(), B, T, H, KVH, D, 7);
      const got = run(native, B, T, H, KVH, D, 7, true);
      const what = `B=${B} T=${T} H=${H} KVH=${KVH} D=${D}`;
      close(`${what} out`, got.out, want.out);
      close(`${what} dq`, got.dq, want.dq);
      close(`${what} dk`, got.dk, want.dk);
      close(`${what} dv`, got.dv, want.dv);
    }
  } finally {
    native.close();
  }
});

test('fused attention gives the same bits on 1 and 2 threads', { skip }, () => {
  const one = createNativeGemm({ threads: 1 }), two = createNativeGemm({ threads: 2 });
  try {
    const a = run(one, 2, 128, 4, 2, 64, 3), b = run(two, 2, 128, 4, 2, 64, 3);
    for (const key of ['out', 'dq', 'dk', 'dv'] as const) assert.deepEqual(b[key], a[key], key);
  } finally {
    one.close();
    two.close();
  }
});

test('fused attention refuses arrays shorter than the shape', { skip }, () => {
  const kern = nativeAttention()!;
  const q = new Float32Array(2 * 4 * 8), k = new Float32Array(2 * 4 * 8), s = new Float32Array(2 * 4 * 4 * 4 - 1);
  assert.throws(() => kern.attnScores(q, k, s, 2, 4, 4, 4, 2, 1, 1), /s is too short/);
  assert.throws(() => kern.attnScores(q, k, new Float32Array(64), 2, 4, 3, 2, 2, 1, 1), /multiple of KVH/);
});

for (const kernel of nativeKernels().filter((k) => k.bf16)) {
  test(`fused attention on the ${kernel.name} kernel: within bfloat16 rounding of float32, the same bits on 1 and 2 threads`, {
    skip: skip || (kernel.supported ? false : `this processor does not run ${kernel.name}`),
  }, () => {
    const one = createNativeGemm({ threads: 1, kernel: kernel.name }), two = createNativeGemm({ threads: 2, kernel: kernel.name });
    try {
      for (const [B, T, H, KVH, D] of [[2, 17, 4, 4, 8], [3, 33, 4, 2, 16], [1, 70, 6, 1, 12], [2, 128, 4, 2, 64]] as const) {
        const want = run(referenceGemm(), B, T, H, KVH, D, 7);
        const got = run(one, B, T, H, KVH, D, 7, true); // poisoned: padded depth must not read stale entries
        const what = `B=${B} T=${T} H=${H} KVH=${KVH} D=${D}`;
        for (const key of ['out', 'dq', 'dk', 'dv'] as const) {
          let scale = 1e-6, worst = 0;
          for (const x of want[key]) scale = Math.max(scale, Math.abs(x));
          for (let i = 0; i < want[key].length; i++) worst = Math.max(worst, Math.abs(got[key][i] - want[key][i]));
          assert.ok(Number.isFinite(worst) && worst <= 0.03 * scale, `${what} ${key}: off by ${worst} (scale ${scale})`);
          assert.ok(worst > 2e-5 * scale, `${what} ${key}: no bfloat16 rounding seen`);
        }
        const again = run(two, B, T, H, KVH, D, 7);
        for (const key of ['out', 'dq', 'dk', 'dv'] as const) assert.deepEqual(again[key], got[key], `${what} ${key}, 2 threads`);
      }
    } finally {
      one.close();
      two.close();
    }
  });
}
