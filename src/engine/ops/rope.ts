/**
 * Rotary position embedding in llama.cpp's "norm" mode (the llama architecture's layout): inside each head of
 * size D, adjacent pairs (2i, 2i+1) are rotated by theta = pos * base^(-2i/D). (Hugging Face checkpoints use the
 * rotate-half layout instead; model-files/ permutes Q and K rows on import and export.)
 * x is [N, H*D] with one position per row. The backward pass rotates by -theta.
 */
import { alloc, needsGrad, output, type Tensor, type Ctx } from '../tensor.ts';
import { nativeRowKernels } from './native-kernels.ts';

interface RopeTable { cos: Float32Array; sin: Float32Array; maxPos: number }
const tables = new Map<string, RopeTable>();

/** cos/sin of every (position, pair), [maxPos, D/2], cached per (D, base) and grown on demand. */
export function ropeTable(D: number, base: number, maxPos: number): RopeTable {
  const key = `${D}:${base}`;
  const have = tables.get(key);
  if (have && have.maxPos >= maxPos) return have;
  const n = Math.max(maxPos, have ? have.maxPos * 2 : 256);
  const half = D / 2;
  const cos = new Float32Array(n * half), sin = new Float32Array(n * half);
  for (let i = 0; i < half; i++) {
    const freq = Math.pow(base, (-2 * i) / D);
    for (let p = 0; p < n; p++) {
      const th = p * freq;
      cos[p * half + i] = Math.cos(th);
      sin[p * half + i] = Math.sin(th);
    }
  }
  const t = { cos, sin, maxPos: n };
  tables.set(key, t);
  return t;
}

function rotate(src: Float32Array, dst: Float32Array, positions: Int32Array, H: number, D: number, t: RopeTable, dir: 1 | -1, accumulate: boolean, threads = 1): void {
  const rk = nativeRowKernels();
  if (rk) { rk.rope(src, dst, positions, t.cos, t.sin, H, D, dir, accumulate, threads); return; }
  const half = D / 2, W = H * D, N = positions.length;
  for (let n = 0; n < N; n++) {
    const p = positions[n] * half, r = n * W;
    for (let h = 0; h < H; h++) {
      const o = r + h * D;
      for (let i = 0; i < half; i++) {
        const c = t.cos[p + i], s = dir * t.sin[p + i];
        const a = src[o + 2 * i], b = src[o + 2 * i + 1];
        if (accumulate) { dst[o + 2 * i] += a * c - b * s; dst[o + 2 * i + 1] += a * s + b * c; }
        else { dst[o + 2 * i] = a * c - b * s; dst[o + 2 * i + 1] = a * s + b * c; }
      }
    }
  }
}

export function rope(ctx: Ctx, x: Tensor, positions: Int32Array, H: number, D: number, base: number): Tensor {
  if (D % 2 !== 0) throw new Error(`rope: head size ${D} must be even`);
  if (x.size !== positions.length * H * D) throw new Error(`rope: input [${x.shape}] is not ${positions.length} x ${H}x${D}`);
  let maxPos = 0;
  for (let i = 0; i < positions.length; i++) if (positions[i] > maxPos) maxPos = positions[i];
  const t = ropeTable(D, base, maxPos + 1);
  const out = alloc(ctx, x.size);
  rotate(x.data, out, positions, H, D, t, 1, false, ctx.gemm.threads);
  const y = output(ctx, out, x.shape, needsGrad(ctx, x));
  if (y.requiresGrad) {
    ctx.tape!.record(() => {
      if (y.grad) rotate(y.grad, x.ensureGrad(), positions, H, D, t, -1, true, ctx.gemm.threads);
    });
  }
  return y;
}

/** In-place rotation for inference (no tape). */
export function ropeInPlace(x: Float32Array, positions: Int32Array, H: number, D: number, base: number): void {
  let maxPos = 0;
  for (let i = 0; i < positions.length; i++) if (positions[i] > maxPos) maxPos = positions[i];
  const t = ropeTable(D, base, maxPos + 1);
  const tmp = new Float32Array(x.length);
  rotate(x, tmp, positions, H, D, t, 1, false);
  x.set(tmp);
}
