/**
 * Causal self-attention with grouped-query heads (H query heads share KVH key/value heads, H % KVH == 0) and
 * optional trainable key/value prefixes (P-Tuning v2 / prefix tuning), as one forward/backward pair.
 *
 * Layout: q is [B*T, H*D], k and v are [B*T, KVH*D]; prefixes are [P, KVH*D] and shared by every sequence.
 * Per sequence the keys are [prefix (P) | sequence (T)] and query t sees keys 0 .. P+t (all of the prefix, and the
 * sequence causally). Per (sequence, head) the kernel gathers contiguous Q, K, V blocks and runs two gemms:
 *   S = scale * Q K^T  [T, P+T],  Pr = softmax(S with the causal mask),  O = Pr V  [T, D]
 * and keeps Pr for the backward:
 *   dPr = dO V^T, dS = Pr * (dPr - rowsum(dPr * Pr)) * scale, dQ = dS K, dK = dS^T Q, dV = Pr^T dO.
 * On the native gemm without prefixes the same maths runs over all heads at once in C (native/attention.c: strided
 * gemms straight on the [B*T, H*D] layout, no gathers; `fusedAttention`), with this file's softmax between.
 * Packed rows (`starts`, no prefixes): query t of a row sees only the keys from its own sequence's start to t; the
 * scores before the start are the lowest float to the softmax (finite: a kernel built for finite maths stays exact)
 * and 0 after it, so the backward needs no mask of its own.
 */
import { alloc, output, type Tensor, type Ctx } from '../tensor.ts';
import type { Gemm } from '../gemm/gemm-seam.ts';
import { softmaxRows } from './native-kernels.ts';
import { nativeAttention, type AttentionKernels } from '../gemm/native.ts';

export interface AttentionShape { B: number; T: number; H: number; KVH: number; D: number }

function gather(src: Float32Array, dst: Float32Array, rows: number, rowStart: number, width: number, col: number, D: number): void {
  for (let t = 0; t < rows; t++) {
    const s = (rowStart + t) * width + col;
    dst.set(src.subarray(s, s + D), t * D);
  }
}

function scatterAdd(src: Float32Array, dst: Float32Array, rows: number, rowStart: number, width: number, col: number, D: number): void {
  for (let t = 0; t < rows; t++) {
    const d = (rowStart + t) * width + col, s = t * D;
    for (let i = 0; i < D; i++) dst[d + i] += src[s + i];
  }
}

/** Row-wise causal softmax of scores [T, S] in place: row t keeps columns < offset + t + 1. */
export function causalSoftmax(sc: Float32Array, T: number, S: number, offset: number): void {
  softmaxRows(sc, sc, T, S, { causalOffset: offset });
}

/** The lowest float32: a score no softmax gives weight to. */
const MASKED = -3.4028234663852886e38;

/**
 * Packed rows: the probabilities (or scores) of query row t of (b, h) before its sequence's start set to `value`;
 * `probs` holds [B, H, T, S] (or one head's [T, S] with `head`).
 */
function maskBeforeStart(probs: Float32Array, starts: Int32Array, B: number, H: number, T: number, S: number, value: number, head?: { b: number; h: number }): void {
  for (let b = head?.b ?? 0; b < (head ? head.b + 1 : B); b++) {
    for (let t = 0; t < T; t++) {
      const s = starts[b * T + t]!;
      if (!s) continue;
      for (let h = head?.h ?? 0; h < (head ? head.h + 1 : H); h++) {
        const row = head ? t * S : ((b * H + h) * T + t) * S;
        probs.fill(value, row, row + s);
      }
    }
  }
}

export function attention(
  ctx: Ctx, q: Tensor, k: Tensor, v: Tensor, shape: AttentionShape,
  prefix: { k: Tensor; v: Tensor } | null = null, starts: Int32Array | null = null,
): Tensor {
  const { B, T, H, KVH, D } = shape;
  if (H % KVH !== 0) throw new Error(`attention: ${H} query heads are not a multiple of ${KVH} key/value heads`);
  if (starts && prefix) throw new Error('attention: packed rows do not work with key/value prefixes');
  if (starts && starts.length !== B * T) throw new Error(`attention: ${starts.length} sequence starts for ${B * T} rows`);
  const fused = !prefix && ctx.gemm.name === 'native' ? nativeAttention() : null;
  if (fused) return fusedAttention(ctx, fused, q, k, v, shape, starts);
  const P = prefix ? prefix.k.shape[0] : 0;
  const S = P + T, QW = H * D, KW = KVH * D, group = H / KVH;
  const scale = 1 / Math.sqrt(D);
  const gemm: Gemm = ctx.gemm;
  const out = alloc(ctx, B * T * QW);
  const probs = alloc(ctx, B * H * T * S);
  const Qh = alloc(ctx, T * D), Kh = alloc(ctx, S * D), Vh = alloc(ctx, S * D), Oh = alloc(ctx, T * D);
  for (let b = 0; b < B; b++) {
    for (let kh = 0; kh < KVH; kh++) {
      if (prefix) { gather(prefix.k.data, Kh, P, 0, KW, kh * D, D); gather(prefix.v.data, Vh, P, 0, KW, kh * D, D); }
      gather(k.data, Kh.subarray(P * D), T, b * T, KW, kh * D, D);
      gather(v.data, Vh.subarray(P * D), T, b * T, KW, kh * D, D);
      for (let g = 0; g < group; g++) {
        const h = kh * group + g;
        gather(q.data, Qh, T, b * T, QW, h * D, D);
        const sc = probs.subarray((b * H + h) * T * S, (b * H + h + 1) * T * S);
        gemm.sgemm(false, true, T, S, D, scale, Qh, Kh, 0, sc);
        if (starts) maskBeforeStart(sc, starts, B, H, T, S, MASKED, { b, h });
        causalSoftmax(sc, T, S, P);
        if (starts) maskBeforeStart(sc, starts, B, H, T, S, 0, { b, h });
        gemm.sgemm(false, false, T, D, S, 1, sc, Vh, 0, Oh);
        for (let t = 0; t < T; t++) out.set(Oh.subarray(t * D, t * D + D), (b * T + t) * QW + h * D);
      }
    }
  }
  const inputs = prefix ? [q, k, v, prefix.k, prefix.v] : [q, k, v];
  const y = output(ctx, out, [B * T, QW], ctx.tape !== null && inputs.some((t) => t.requiresGrad));
  if (!y.requiresGrad) return y;
  ctx.tape!.record(() => {
    const dy = y.grad;
    if (!dy) return;
    const dO = alloc(ctx, T * D), dP = alloc(ctx, T * S), dQ = alloc(ctx, T * D);
    const dK = alloc(ctx, S * D), dV = alloc(ctx, S * D);
    const needKV = k.requiresGrad || v.requiresGrad || (prefix !== null && (prefix.k.requiresGrad || prefix.v.requiresGrad));
    for (let b = 0; b < B; b++) {
      for (let kh = 0; kh < KVH; kh++) {
        if (prefix) { gather(prefix.k.data, Kh, P, 0, KW, kh * D, D); gather(prefix.v.data, Vh, P, 0, KW, kh * D, D); }
        gather(k.data, Kh.subarray(P * D), T, b * T, KW, kh * D, D);
        gather(v.data, Vh.subarray(P * D), T, b * T, KW, kh * D, D);
        dK.fill(0); dV.fill(0);
        for (let g = 0; g < group; g++) {
          const h = kh * group + g;
          const pr = probs.subarray((b * H + h) * T * S, (b * H + h + 1) * T * S);
          gather(dy, dO, T, b * T, QW, h * D, D);
          gemm.sgemm(false, true, T, S, D, 1, dO, Vh, 0, dP);
          if (needKV) gemm.sgemm(true, false, S, D, T, 1, pr, dO, 1, dV);
          for (let t = 0; t < T; t++) {
            const r = t * S;
            let dot = 0;
            for (let j = 0; j < S; j++) dot += dP[r + j] * pr[r + j];
            for (let j = 0; j < S; j++) dP[r + j] = pr[r + j] * (dP[r + j] - dot) * scale;
          }
          if (q.requiresGrad) {
            gemm.sgemm(false, false, T, D, S, 1, dP, Kh, 0, dQ);
            scatterAdd(dQ, q.ensureGrad(), T, b * T, QW, h * D, D);
          }
          if (needKV) {
            gather(q.data, Qh, T, b * T, QW, h * D, D);
            gemm.sgemm(true, false, S, D, T, 1, dP, Qh, 1, dK);
          }
        }
        if (k.requiresGrad) scatterAdd(dK.subarray(P * D), k.ensureGrad(), T, b * T, KW, kh * D, D);
        if (v.requiresGrad) scatterAdd(dV.subarray(P * D), v.ensureGrad(), T, b * T, KW, kh * D, D);
        if (prefix?.k.requiresGrad) scatterAdd(dK, prefix.k.ensureGrad(), P, 0, KW, kh * D, D);
        if (prefix?.v.requiresGrad) scatterAdd(dV, prefix.v.ensureGrad(), P, 0, KW, kh * D, D);
      }
    }
  });
  return y;
}

/** The native path: the same forward and backward as `attention` without prefixes, every head in one call. */
function fusedAttention(ctx: Ctx, kern: AttentionKernels, q: Tensor, k: Tensor, v: Tensor, shape: AttentionShape, starts: Int32Array | null): Tensor {
  const { B, T, H, KVH, D } = shape;
  const scale = 1 / Math.sqrt(D), threads = ctx.gemm.threads;
  // in bf16, the gemm's own kernel (the native backend's index), so attention and the linears round alike
  const bf16 = ctx.gemm.precision === 'bf16' ? ((ctx.gemm as { kernelIndex?: number }).kernelIndex ?? true) : false;
  const out = alloc(ctx, B * T * H * D);
  const probs = alloc(ctx, B * H * T * T);
  kern.attnScores(q.data, k.data, probs, B, T, H, KVH, D, scale, threads, bf16);
  if (starts) maskBeforeStart(probs, starts, B, H, T, T, MASKED);
  softmaxRows(probs, probs, B * H * T, T, { causalOffset: 0, period: T, threads }); // every head at once
  if (starts) maskBeforeStart(probs, starts, B, H, T, T, 0);
  kern.attnApply(probs, v.data, out, B, T, H, KVH, D, threads, bf16);
  const y = output(ctx, out, [B * T, H * D], ctx.tape !== null && (q.requiresGrad || k.requiresGrad || v.requiresGrad));
  if (!y.requiresGrad) return y;
  ctx.tape!.record(() => {
    const dy = y.grad;
    if (!dy) return;
    // q, k and v are usually read by attention alone: their gradients are written, not added to (gradTarget)
    const tq = q.requiresGrad ? q.gradTarget() : null, tk = k.requiresGrad ? k.gradTarget() : null, tv = v.requiresGrad ? v.gradTarget() : null;
    const fresh = (tq?.beta === 0 ? 1 : 0) | (tk?.beta === 0 ? 2 : 0) | (tv?.beta === 0 ? 4 : 0);
    kern.attnBackward(q.data, k.data, v.data, probs, dy, tq?.grad ?? null, tk?.grad ?? null, tv?.grad ?? null, B, T, H, KVH, D, scale, threads, bf16, fresh);
  });
  return y;
}
