/**
 * Per-sequence log-likelihoods: logits [B*T, V] with labels [B*T] (IGNORE_INDEX where unscored) give, for each of
 * the B sequences, the sum of log p(label) over its scored positions, as a Tensor [B] on the tape (the input of
 * the preference losses), and the number of scored tokens of each sequence.
 * Backward: d logp_b / d logits[n] = onehot(label_n) - softmax(logits[n]) for the scored rows n of sequence b.
 */
import { Tensor, alloc, needsGrad, type Ctx } from '../tensor.ts';
import { IGNORE_INDEX } from './loss.ts';
import { softmaxRows } from './native-kernels.ts';

export interface SequenceLogProbs { logps: Tensor; counts: Int32Array }

export function sequenceLogProbs(ctx: Ctx, logits: Tensor, labels: Int32Array, B: number): SequenceLogProbs {
  const N = labels.length, V = logits.size / N, T = N / B;
  if (!Number.isInteger(V) || !Number.isInteger(T)) throw new Error(`sequenceLogProbs: logits [${logits.shape}] do not hold ${B} sequences of ${labels.length / B} rows`);
  const x = logits.data;
  const grad = needsGrad(ctx, logits);
  const probs = alloc(ctx, logits.size);
  const logz = alloc(ctx, N);
  softmaxRows(x, probs, N, V, { logz, threads: ctx.gemm.threads });
  const out = new Float32Array(B), counts = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let t = 0; t < T; t++) {
      const n = b * T + t, label = labels[n];
      if (label === IGNORE_INDEX) continue;
      if (label < 0 || label >= V) throw new Error(`sequenceLogProbs: label ${label} at row ${n} is outside 0..${V - 1}`);
      s += x[n * V + label] - logz[n];
      counts[b]++;
    }
    out[b] = s;
  }
  const logps = new Tensor(out, [B], grad);
  if (grad) {
    ctx.tape!.record(() => {
      const g = logps.grad;
      if (!g) return;
      const dx = logits.ensureGrad();
      for (let b = 0; b < B; b++) {
        if (g[b] === 0) continue;
        for (let t = 0; t < T; t++) {
          const n = b * T + t, label = labels[n];
          if (label === IGNORE_INDEX) continue;
          const r = n * V;
          for (let j = 0; j < V; j++) dx[r + j] -= g[b] * probs[r + j];
          dx[r + label] += g[b];
        }
      }
    });
  }
  return { logps, counts };
}
