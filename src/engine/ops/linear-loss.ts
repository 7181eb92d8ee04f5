/**
 * The output projection fused with cross-entropy, taken over chunks of rows and tiles of the vocabulary, so the
 * [rows x vocabulary] logits never exist whole (a 512-token sequence of a 151,936-word vocabulary would hold 311 MB
 * of logits and as much again of their gradient). x [N, C] are the final hidden rows, W [V, C] the output matrix
 * (trainable, frozen, or held in half precision and widened a tile at a time), labels [N] with IGNORE_INDEX rows
 * skipped. The loss is the mean over counted rows, as `crossEntropy` over `linear(x, W)`.
 *
 * Forward, per chunk of R rows and tile of Vt words: l = x W_t^T [R, Vt]; each row's log-sum-exp over the tile,
 * merged across tiles (logz = log sum_t exp(logz_t)); the label's logit where it falls in the tile. Only logz [N]
 * is kept. Backward, with g = dloss / count: the tile's logits are recomputed, d = g * (exp(l - logz) - onehot),
 * then dX_chunk += d W_t and, when W trains, dW_t += d^T x_chunk.
 *
 * `wholeLinearCrossEntropy` is the form for when the logits fit (training at small and medium vocabularies): one
 * [N, V] buffer whose softmax becomes (softmax - onehot) in place during the forward, so the backward is the two
 * gemms with g as their alpha, and neither the probabilities nor the logits' gradient are ever held.
 */
import { Tensor, alloc, needsGrad, type Ctx } from '../tensor.ts';
import { softmaxRows } from './native-kernels.ts';
import { IGNORE_INDEX, type CrossEntropyResult } from './loss.ts';
import { gemmHalfB } from './basic.ts';

/** A [V, C] matrix read a tile of rows at a time: a float tensor's view, or a half-precision one widened. */
export interface RowTiles {
  readonly shape: readonly number[];
  /** Rows v0..v1 as float32 [(v1 - v0), C]; a scratch valid until the next call (widened on up to `threads`). */
  rows(v0: number, v1: number, threads?: number): Float32Array;
  /** The whole matrix's bfloat16 bits, when it is held in bf16 (read straight by Gemm.sgemmBf16B). */
  readonly bf16Bits?: Uint16Array;
}

export interface LinearLossOptions {
  /** Rows per chunk (default 512). */
  rowChunk?: number;
  /** Vocabulary words per tile (default 8192). */
  vocabTile?: number;
}

function tileOf(w: Tensor | RowTiles, v0: number, v1: number, C: number, threads: number): Float32Array {
  return w instanceof Tensor ? w.data.subarray(v0 * C, v1 * C) : w.rows(v0, v1, threads);
}

/** out = alpha * A . op(rows v0..v1 of w) + beta * out (gemmHalfB: a bf16 matrix's bits where the gemm reads them). */
function tileGemm(ctx: Ctx, transW: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array,
  w: Tensor | RowTiles, v0: number, v1: number, C: number, beta: number, out: Float32Array): void {
  const bits = w instanceof Tensor ? undefined : w.bf16Bits?.subarray(v0 * C, v1 * C);
  gemmHalfB(ctx, false, transW, M, N, K, alpha, A, bits, () => tileOf(w, v0, v1, C, ctx.gemm.threads), beta, out);
}

export function linearCrossEntropy(ctx: Ctx, x: Tensor, w: Tensor | RowTiles, labels: Int32Array, o: LinearLossOptions = {}): CrossEntropyResult {
  const [V, C] = w.shape, N = labels.length;
  if (x.size !== N * C) throw new Error(`linearCrossEntropy: hidden rows [${x.shape}] are not ${N} rows of ${C}`);
  checkLabels(labels, V);
  const RC = Math.max(1, Math.min(o.rowChunk ?? 512, N)), VT = Math.max(1, Math.min(o.vocabTile ?? 8192, V));
  const xd = x.data, logz = new Float32Array(N), picked = new Float64Array(N);
  const l = alloc(ctx, RC * VT), p = alloc(ctx, RC * VT), lz = alloc(ctx, RC);
  const acc = new Float64Array(RC), mx = new Float64Array(RC);
  // Every tile's logits are computed once per chunk of rows: the matrix is read ceil(N / RC) times.
  for (let r0 = 0; r0 < N; r0 += RC) {
    const R = Math.min(RC, N - r0);
    mx.fill(-Infinity); acc.fill(0);
    for (let v0 = 0; v0 < V; v0 += VT) {
      const Vt = Math.min(VT, V - v0);
      tileGemm(ctx, true, R, Vt, C, 1, xd.subarray(r0 * C), w, v0, v0 + Vt, C, 0, l);
      softmaxRows(l, p, R, Vt, { logz: lz, threads: ctx.gemm.threads }); // the tile's log-sum-exp (p: scratch)
      for (let r = 0; r < R; r++) {
        const z = lz[r], m = mx[r];
        // Running log-sum-exp: acc holds sum exp(logz_t - mx).
        if (z > m) { acc[r] = acc[r] * Math.exp(m - z) + 1; mx[r] = z; } else acc[r] += Math.exp(z - m);
        const label = labels[r0 + r];
        if (label >= v0 && label < v0 + Vt) picked[r0 + r] = l[r * Vt + label - v0];
      }
    }
    for (let r = 0; r < R; r++) logz[r0 + r] = mx[r] + Math.log(acc[r]);
  }
  let sum = 0, count = 0;
  for (let n = 0; n < N; n++) if (labels[n] !== IGNORE_INDEX) { sum += logz[n] - picked[n]; count++; }
  const grad = needsGrad(ctx, x) || (w instanceof Tensor && needsGrad(ctx, w));
  const loss = new Tensor(new Float32Array([count ? sum / count : 0]), [1], grad);
  if (grad) {
    ctx.tape!.record(() => {
      if (!loss.grad || count === 0) return;
      const g = loss.grad[0] / count;
      const dx = x.requiresGrad ? x.ensureGrad() : null;
      const dw = w instanceof Tensor && w.requiresGrad ? w.ensureGrad() : null;
      for (let r0 = 0; r0 < N; r0 += RC) {
        const R = Math.min(RC, N - r0);
        for (let v0 = 0; v0 < V; v0 += VT) {
          const Vt = Math.min(VT, V - v0);
          tileGemm(ctx, true, R, Vt, C, 1, xd.subarray(r0 * C), w, v0, v0 + Vt, C, 0, l);
          // d = g * exp(l - logz) = g * softmax_t(l) * exp(logz_t - logz): the tile's softmax, rescaled per row.
          softmaxRows(l, p, R, Vt, { logz: lz, threads: ctx.gemm.threads });
          for (let r = 0; r < R; r++) {
            const label = labels[r0 + r], o2 = r * Vt;
            if (label === IGNORE_INDEX) { p.fill(0, o2, o2 + Vt); continue; }
            const s = g * Math.exp(lz[r] - logz[r0 + r]);
            for (let j = 0; j < Vt; j++) p[o2 + j] *= s;
            if (label >= v0 && label < v0 + Vt) p[o2 + label - v0] -= g;
          }
          if (dx) tileGemm(ctx, false, R, C, Vt, 1, p, w, v0, v0 + Vt, C, 1, dx.subarray(r0 * C));
          if (dw) ctx.gemm.sgemm(true, false, Vt, C, R, 1, p, xd.subarray(r0 * C), 1, dw.subarray(v0 * C));
        }
      }
    });
  }
  return { loss, count, sumLoss: sum };
}

/** Throws on a label outside 0..V-1 (IGNORE_INDEX rows are skipped). */
function checkLabels(labels: Int32Array, V: number): void {
  for (let n = 0; n < labels.length; n++) {
    const label = labels[n];
    if (label !== IGNORE_INDEX && (label < 0 || label >= V)) throw new Error(`crossEntropy: label ${label} at row ${n} is outside 0..${V - 1}`);
  }
}

/**
 * `crossEntropy(linear(x, w), labels)` with the logits whole but their gradient made in the forward: the buffer
 * of logits becomes softmax - onehot in place (0 on ignored rows), and the backward is dX += g d W and
 * dW += g d^T x, g = dloss / count. One [N, V] buffer instead of three, one pass over it fewer.
 */
export function wholeLinearCrossEntropy(ctx: Ctx, x: Tensor, w: Tensor | RowTiles, labels: Int32Array): CrossEntropyResult {
  const [V, C] = w.shape, N = labels.length, threads = ctx.gemm.threads;
  if (x.size !== N * C) throw new Error(`linearCrossEntropy: hidden rows [${x.shape}] are not ${N} rows of ${C}`);
  checkLabels(labels, V);
  const xd = x.data, d = alloc(ctx, N * V), logz = alloc(ctx, N);
  tileGemm(ctx, true, N, V, C, 1, xd, w, 0, V, C, 0, d);
  let sum = 0, count = 0;
  for (let n = 0; n < N; n++) if (labels[n] !== IGNORE_INDEX) { sum -= d[n * V + labels[n]]; count++; }
  softmaxRows(d, d, N, V, { logz, threads });
  for (let n = 0; n < N; n++) if (labels[n] !== IGNORE_INDEX) sum += logz[n];
  const grad = needsGrad(ctx, x) || (w instanceof Tensor && needsGrad(ctx, w));
  const loss = new Tensor(new Float32Array([count ? sum / count : 0]), [1], grad);
  if (grad) {
    for (let n = 0; n < N; n++) {
      if (labels[n] === IGNORE_INDEX) d.fill(0, n * V, n * V + V);
      else d[n * V + labels[n]] -= 1;
    }
    ctx.tape!.record(() => {
      if (!loss.grad || count === 0) return;
      const g = loss.grad[0] / count;
      if (x.requiresGrad) {
        const dx = x.gradTarget();
        tileGemm(ctx, false, N, C, V, g, d, w, 0, V, C, dx.beta, dx.grad);
      }
      if (w instanceof Tensor && w.requiresGrad) ctx.gemm.sgemm(true, false, V, C, N, g, d, xd, 1, w.ensureGrad());
    });
  }
  return { loss, count, sumLoss: sum };
}
