/**
 * Elementwise and row-wise kernels as forward/backward pairs: embedding, linear, RMSNorm, SwiGLU, residual add,
 * scaled add, dropout. Shapes are in the comments: N = rows (batch x time), C = channels.
 * Each forward saves what its backward needs in the closure it records on the tape.
 */
import { Tensor, alloc, needsGrad, output, type Ctx } from '../tensor.ts';
import { NATIVE_SUM_MIN, nativeKernels, nativeRowKernels } from './native-kernels.ts';

/** A weight the linear op can read: a trainable or frozen Tensor, or a quantized one dequantized on the fly. */
export interface WeightSource {
  readonly shape: readonly number[];
  /**
   * The weight as float32 [out, in]; for a quantized or bf16 weight, a shared scratch valid until the next call,
   * widened on up to `threads` threads where the source can.
   */
  materialize(threads?: number): Float32Array;
  /** Its bfloat16 bits, when it is held in bf16: a gemm that reads them (Gemm.sgemmBf16B) needs no widened copy. */
  readonly bf16Bits?: Uint16Array;
}
export type Weight = Tensor | WeightSource;

function weightData(w: Weight, threads: number): Float32Array {
  return w instanceof Tensor ? w.data : w.materialize(threads);
}

/**
 * C = alpha * op(A) . op(B) + beta * C with B held in bf16 (`bits`) or not: the bits straight into a gemm that reads
 * them (Gemm.sgemmBf16B), else B as float32 from `float()` (widened, where it is held in bf16).
 */
export function gemmHalfB(ctx: Ctx, transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, bits: Uint16Array | undefined, float: () => Float32Array, beta: number, C: Float32Array): void {
  if (bits && ctx.gemm.sgemmBf16B) ctx.gemm.sgemmBf16B(transA, transB, M, N, K, alpha, A, bits, beta, C);
  else ctx.gemm.sgemm(transA, transB, M, N, K, alpha, A, float(), beta, C);
}

/** C = alpha * op(A) . op(W) + beta * C for a weight W (gemmHalfB: a bf16 weight's bits where the gemm reads them). */
function weightGemm(ctx: Ctx, transA: boolean, transW: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, w: Weight, beta: number, C: Float32Array): void {
  gemmHalfB(ctx, transA, transW, M, N, K, alpha, A, w instanceof Tensor ? undefined : w.bf16Bits, () => weightData(w, ctx.gemm.threads), beta, C);
}

/** out[N, C] = table[ids[n], :]. table is [V, C]. */
export function embedding(ctx: Ctx, table: Tensor, ids: Int32Array): Tensor {
  const [V, C] = table.shape;
  const N = ids.length;
  const out = alloc(ctx, N * C);
  for (let n = 0; n < N; n++) {
    const id = ids[n];
    if (id < 0 || id >= V) throw new Error(`embedding: token id ${id} at position ${n} is outside the vocabulary (0..${V - 1})`);
    out.set(table.data.subarray(id * C, id * C + C), n * C);
  }
  const y = output(ctx, out, [N, C], needsGrad(ctx, table));
  if (y.requiresGrad) {
    ctx.tape!.record(() => {
      if (!y.grad) return;
      const g = table.ensureGrad(), dy = y.grad;
      const rk = nativeRowKernels();
      if (rk) { rk.embeddingBackward(dy, ids, g, N, C, ctx.gemm.threads); return; }
      for (let n = 0; n < N; n++) {
        const o = ids[n] * C, r = n * C;
        for (let c = 0; c < C; c++) g[o + c] += dy[r + c];
      }
    });
  }
  return y;
}

/** y[N, out] = x[N, in] . W[out, in]^T (+ bias[out]). */
export function linear(ctx: Ctx, x: Tensor, w: Weight, bias: Tensor | null = null): Tensor {
  const [Out, In] = w.shape;
  const N = x.size / In;
  if (!Number.isInteger(N) || x.shape[x.shape.length - 1] !== In) {
    throw new Error(`linear: input [${x.shape}] does not end in ${In} (weight [${w.shape}])`);
  }
  const out = alloc(ctx, N * Out);
  weightGemm(ctx, false, true, N, Out, In, 1, x.data, w, 0, out);
  if (bias) {
    const b = bias.data;
    for (let n = 0; n < N; n++) { const r = n * Out; for (let o = 0; o < Out; o++) out[r + o] += b[o]; }
  }
  const wTrain = w instanceof Tensor && w.requiresGrad;
  const y = output(ctx, out, [N, Out], ctx.tape !== null && (x.requiresGrad || wTrain || (bias?.requiresGrad ?? false)));
  if (y.requiresGrad) {
    ctx.tape!.record(() => {
      const dy = y.grad;
      if (!dy) return;
      if (x.requiresGrad) {
        const dx = x.gradTarget();
        weightGemm(ctx, false, false, N, In, Out, 1, dy, w, dx.beta, dx.grad);
      }
      if (wTrain) ctx.gemm.sgemm(true, false, Out, In, N, 1, dy, x.data, 1, (w as Tensor).ensureGrad());
      if (bias?.requiresGrad) {
        const db = bias.ensureGrad();
        for (let n = 0; n < N; n++) { const r = n * Out; for (let o = 0; o < Out; o++) db[o] += dy[r + o]; }
      }
    });
  }
  return y;
}

/**
 * y += scale * h . B^T in place, h [N, r], B [Out, r]: a LoRA update added by the gemm itself (beta 1) into the
 * base linear's output, instead of a second [N, Out] output and a sum over both. y must be an op's fresh output
 * that nothing has read yet. Returns y, now also a function of h and B.
 */
export function addLowRank(ctx: Ctx, y: Tensor, h: Tensor, b: Tensor, scale: number): Tensor {
  const [Out, r] = b.shape, N = h.size / r;
  if (!Number.isInteger(N) || y.size !== N * Out) throw new Error(`addLowRank: [${h.shape}] . [${b.shape}]^T does not fit [${y.shape}]`);
  ctx.gemm.sgemm(false, true, N, Out, r, scale, h.data, b.data, 1, y.data);
  if (needsGrad(ctx, h, b)) {
    y.requiresGrad = true;
    ctx.tape!.record(() => {
      const dy = y.grad;
      if (!dy) return;
      if (h.requiresGrad) {
        const dh = h.gradTarget();
        ctx.gemm.sgemm(false, false, N, r, Out, scale, dy, b.data, dh.beta, dh.grad);
      }
      if (b.requiresGrad) ctx.gemm.sgemm(true, false, Out, r, N, scale, dy, h.data, 1, b.ensureGrad());
    });
  }
  return y;
}

/** y = x / rms(x) * w, row-wise over the last dimension C. x is [N, C], w is [C]. */
export function rmsnorm(ctx: Ctx, x: Tensor, w: Tensor, eps: number): Tensor {
  const C = w.size, N = x.size / C;
  const xd = x.data, wd = w.data;
  const out = alloc(ctx, x.size);
  const rstd = alloc(ctx, N);
  const rk = nativeRowKernels();
  if (rk) rk.rmsnormForward(xd, wd, out, rstd, N, C, eps, ctx.gemm.threads);
  else for (let n = 0; n < N; n++) {
    const r = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += xd[r + c] * xd[r + c];
    const s = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = s;
    for (let c = 0; c < C; c++) out[r + c] = xd[r + c] * s * wd[c];
  }
  const y = output(ctx, out, x.shape, needsGrad(ctx, x, w));
  if (y.requiresGrad) {
    ctx.tape!.record(() => {
      const dy = y.grad;
      if (!dy) return;
      const dx = x.requiresGrad ? x.ensureGrad() : null;
      const dw = w.requiresGrad ? w.ensureGrad() : null;
      if (rk) { rk.rmsnormBackward(xd, wd, rstd, dy, dx, dw, N, C, ctx.gemm.threads); return; }
      for (let n = 0; n < N; n++) {
        const r = n * C, s = rstd[n];
        let dot = 0; // sum_c dy*w*xhat
        for (let c = 0; c < C; c++) {
          const xhat = xd[r + c] * s;
          dot += dy[r + c] * wd[c] * xhat;
          if (dw) dw[c] += dy[r + c] * xhat;
        }
        if (dx) {
          const m = dot / C;
          for (let c = 0; c < C; c++) dx[r + c] += s * (dy[r + c] * wd[c] - xd[r + c] * s * m);
        }
      }
    });
  }
  return y;
}

/** y = silu(gate) * up, elementwise. The forward keeps sigmoid(gate) so the backward needs no exp. */
export function swiglu(ctx: Ctx, gate: Tensor, up: Tensor): Tensor {
  const n = gate.size, g = gate.data, u = up.data;
  if (up.size !== n) throw new Error(`swiglu: gate [${gate.shape}] and up [${up.shape}] differ`);
  const out = alloc(ctx, n);
  const grad = needsGrad(ctx, gate, up);
  const sig = grad ? alloc(ctx, n) : null;
  const rk = nativeRowKernels(), k = nativeKernels();
  if (rk) rk.swigluForward(g, u, out, sig, n, ctx.gemm.threads);
  else if (k) {
    const s = sig ?? out;
    k.sigmoid(g, s, n);
    for (let i = 0; i < n; i++) out[i] = g[i] * s[i] * u[i];
  } else {
    for (let i = 0; i < n; i++) {
      const x = g[i], s = 1 / (1 + Math.exp(-x));
      if (sig) sig[i] = s;
      out[i] = x * s * u[i];
    }
  }
  const y = output(ctx, out, gate.shape, grad);
  if (sig) {
    ctx.tape!.record(() => {
      const dy = y.grad;
      if (!dy) return;
      // gate and up are usually linear outputs read by nothing else: their gradients are written, not added to
      const tg = gate.requiresGrad ? gate.gradTarget() : null, tu = up.requiresGrad ? up.gradTarget() : null;
      const dg = tg?.grad ?? null, du = tu?.grad ?? null;
      if (rk) { rk.swigluBackward(g, u, sig, dy, dg, du, n, ctx.gemm.threads, tg?.beta === 0, tu?.beta === 0); return; }
      const bg = tg?.beta ?? 1, bu = tu?.beta ?? 1;
      for (let i = 0; i < n; i++) {
        const x = g[i], s = sig[i];
        if (du) du[i] = (bu === 0 ? 0 : du[i]) + dy[i] * x * s;
        if (dg) dg[i] = (bg === 0 ? 0 : dg[i]) + dy[i] * u[i] * s * (1 + x * (1 - s));
      }
    });
  }
  return y;
}

/** y = a + scale * b (residual connections). */
export function addScaled(ctx: Ctx, a: Tensor, b: Tensor, scale = 1): Tensor {
  const n = a.size;
  if (b.size !== n) throw new Error(`add: shapes [${a.shape}] and [${b.shape}] differ`);
  const out = alloc(ctx, n), ad = a.data, bd = b.data;
  const rk = n >= NATIVE_SUM_MIN ? nativeRowKernels() : null;
  if (rk?.addScaled) rk.addScaled(ad, bd, out, n, scale, ctx.gemm.threads);
  else if (scale === 1) for (let i = 0; i < n; i++) out[i] = ad[i] + bd[i];
  else for (let i = 0; i < n; i++) out[i] = ad[i] + scale * bd[i];
  const y = output(ctx, out, a.shape, needsGrad(ctx, a, b));
  if (y.requiresGrad) {
    ctx.tape!.record(() => {
      const dy = y.grad;
      if (!dy) return;
      if (b.requiresGrad) b.addGrad(dy, scale, ctx.gemm.threads);
      if (a.requiresGrad) a.takeGrad(dy); // dy is dead after this op's backward: a may own it
    });
  }
  return y;
}

export function add(ctx: Ctx, a: Tensor, b: Tensor): Tensor {
  return addScaled(ctx, a, b, 1);
}

/** Inverted dropout: zero with probability p, scale the rest by 1/(1-p). Identity when not training or p = 0. */
export function dropout(ctx: Ctx, x: Tensor, p: number): Tensor {
  if (!ctx.training || p <= 0) return x;
  if (p >= 1) throw new Error(`dropout: p must be < 1, got ${p}`);
  const n = x.size, keep = 1 / (1 - p), xd = x.data;
  const mask = new Uint8Array(n);
  const out = alloc(ctx, n, true);
  for (let i = 0; i < n; i++) {
    if (ctx.rng.uniform() >= p) { mask[i] = 1; out[i] = xd[i] * keep; }
  }
  const y = output(ctx, out, x.shape, needsGrad(ctx, x));
  if (y.requiresGrad) {
    ctx.tape!.record(() => {
      const dy = y.grad;
      if (!dy) return;
      const dx = x.ensureGrad();
      for (let i = 0; i < n; i++) if (mask[i]) dx[i] += dy[i] * keep;
    });
  }
  return y;
}

/** Rows of `prefix` [P, C] (shared by every sequence) placed before each sequence of x [B*T, C]: out [B*(P+T), C]. */
export function prependRows(ctx: Ctx, prefix: Tensor, x: Tensor, B: number): Tensor {
  const C = prefix.shape[1], P = prefix.shape[0], T = x.size / C / B;
  const S = P + T;
  const out = alloc(ctx, B * S * C);
  for (let b = 0; b < B; b++) {
    out.set(prefix.data, b * S * C);
    out.set(x.data.subarray(b * T * C, (b + 1) * T * C), (b * S + P) * C);
  }
  const y = output(ctx, out, [B * S, C], needsGrad(ctx, prefix, x));
  if (y.requiresGrad) {
    ctx.tape!.record(() => {
      const dy = y.grad;
      if (!dy) return;
      if (prefix.requiresGrad) {
        const dp = prefix.ensureGrad();
        for (let b = 0; b < B; b++) { const o = b * S * C; for (let i = 0; i < P * C; i++) dp[i] += dy[o + i]; }
      }
      if (x.requiresGrad) {
        const dx = x.ensureGrad();
        for (let b = 0; b < B; b++) {
          const o = (b * S + P) * C, r = b * T * C;
          for (let i = 0; i < T * C; i++) dx[r + i] += dy[o + i];
        }
      }
    });
  }
  return y;
}
