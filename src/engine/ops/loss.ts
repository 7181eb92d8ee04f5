/**
 * Cross-entropy over the vocabulary, fused with the softmax: logits [N, V], one label per row, rows whose label is
 * IGNORE_INDEX (-100) contribute nothing. The loss is the mean over the counted rows (0 when none count). The
 * backward is (softmax - onehot) / count, computed from the probabilities the forward kept.
 */
import { Tensor, alloc, needsGrad, type Ctx } from '../tensor.ts';
import { nativeRowKernels, softmaxRows } from './native-kernels.ts';

export const IGNORE_INDEX = -100;

export interface CrossEntropyResult { loss: Tensor; count: number; sumLoss: number }

export function crossEntropy(ctx: Ctx, logits: Tensor, labels: Int32Array): CrossEntropyResult {
  const N = labels.length, V = logits.size / N;
  if (!Number.isInteger(V)) throw new Error(`crossEntropy: logits [${logits.shape}] do not hold ${N} rows`);
  const x = logits.data;
  const grad = needsGrad(ctx, logits);
  let sum = 0, count = 0;
  for (let n = 0; n < N; n++) {
    const label = labels[n];
    if (label !== IGNORE_INDEX && (label < 0 || label >= V)) throw new Error(`crossEntropy: label ${label} at row ${n} is outside 0..${V - 1}`);
  }
  // With a backward: the softmax of every row at once (ignored rows too, never used), kept for the gradient.
  // Without: each counted row's log-probability in double (a loss compared across runs, or differenced).
  const probs = grad ? alloc(ctx, logits.size) : null;
  if (probs) {
    const logz = alloc(ctx, N);
    softmaxRows(x, probs, N, V, { logz, threads: ctx.gemm.threads });
    for (let n = 0; n < N; n++) if (labels[n] !== IGNORE_INDEX) { sum += logz[n] - x[n * V + labels[n]]; count++; }
  } else {
    const lp = tokenLogProbs(x, labels);
    for (let n = 0; n < N; n++) if (labels[n] !== IGNORE_INDEX) { sum -= lp[n]; count++; }
  }
  const loss = new Tensor(new Float32Array([count ? sum / count : 0]), [1], grad);
  if (probs) {
    ctx.tape!.record(() => {
      if (!loss.grad || count === 0) return;
      const g = loss.grad[0] / count;
      const rk = nativeRowKernels();
      if (rk) {
        // a first gradient overwrites a fresh pooled buffer: no zero-fill of the [N, V] logits gradient
        const dx = logits.gradTarget();
        rk.crossEntropyBackward(probs, labels, dx.grad, N, V, g, dx.beta === 1, ctx.gemm.threads);
        return;
      }
      const dx = logits.ensureGrad();
      for (let n = 0; n < N; n++) {
        const label = labels[n];
        if (label === IGNORE_INDEX) continue;
        const r = n * V;
        for (let j = 0; j < V; j++) dx[r + j] += g * probs[r + j];
        dx[r + label] -= g;
      }
    });
  }
  return { loss, count, sumLoss: sum };
}

/** log p(label) for each counted row (ignored rows get 0): the per-token log-likelihood used by evals and DPO. */
export function tokenLogProbs(logits: Float32Array, labels: Int32Array): Float64Array {
  const N = labels.length, V = logits.length / N;
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const label = labels[n];
    if (label === IGNORE_INDEX) continue;
    const r = n * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (logits[r + j] > max) max = logits[r + j];
    let z = 0;
    for (let j = 0; j < V; j++) z += Math.exp(logits[r + j] - max);
    out[n] = logits[r + label] - max - Math.log(z);
  }
  return out;
}
