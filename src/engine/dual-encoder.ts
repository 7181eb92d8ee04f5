/**
 * A small dual (siamese) encoder for retrieval and its contrastive training. One encoder embeds both sides (a
 * question and a passage):
 *
 *   bag of token ids t_1..t_n with weights w_1..w_n (the caller hashes words and bigrams and weighs them, e.g. by idf)
 *   h = sum_i w_i E[t_i] / sum_i w_i          E: [vocab, dims]  embedding bag (weighted mean)
 *   z = W h                                   W: [dims, dims]   linear projection ([out, in] row-major)
 *   y = z / |z|                               unit length: cosine similarity is a dot product
 *
 * Loss (InfoNCE, in-batch and hard negatives): B questions q_i, D distinct passages p_j of which p_{pos(i)} is q_i's;
 * logits s_ij = y(q_i) . y(p_j) / tau; loss = mean_i [ logsumexp_j s_ij - s_{i,pos(i)} ]. The other questions'
 * passages are in-batch negatives; the caller adds hard negatives (lexical search's best wrong passages) to the D.
 *
 * Backward, written by hand (checked by finite differences in test/engine/dual-encoder.test.ts):
 *   ds_ij = (softmax_j(s_i) - [j = pos(i)]) / B;  dy(q_i) = sum_j ds_ij y(p_j) / tau;  dy(p_j) = sum_i ds_ij y(q_i) / tau
 *   dz = (dy - y (y . dy)) / |z|;  dW += dz h^T;  dh = W^T dz;  dE[t_i] += w_i dh / sum w
 *
 * Guarantees: deterministic for a seed (init and batch order from `Rng`); parameters in one buffer with two named
 * views (`retriever.embedding`, `retriever.projection`), trained by the engine's AdamW (`optim.ts`); an empty bag
 * embeds to zeros (it matches nothing).
 */
import { Tensor } from './tensor.ts';
import { AdamW, lrAt } from './optim.ts';
import { Rng } from './rng.ts';

export interface DualEncoderConfig {
  /** Hashed vocabulary size (rows of the embedding). */
  vocab: number;
  /** Embedding and output size. */
  dims: number;
}

/** A weighted bag of token ids. */
export interface Bag { ids: Int32Array; weights: Float32Array }

/** What the forward keeps for the backward of one bag. */
interface Encoded { h: Float32Array; z: Float32Array; norm: number }

export class DualEncoder {
  /** All parameters: the embedding, then the projection. */
  readonly params: Float32Array;
  readonly embedding: Tensor;
  readonly projection: Tensor;

  constructor(readonly config: DualEncoderConfig, params?: Float32Array) {
    const { vocab, dims } = config;
    if (!(Number.isInteger(vocab) && vocab > 0 && Number.isInteger(dims) && dims > 0)) throw new Error(`dual encoder: vocab and dims must be positive integers, got ${vocab} and ${dims}`);
    const n = vocab * dims + dims * dims;
    if (params && params.length !== n) throw new Error(`dual encoder: ${vocab}x${dims} needs ${n} parameters, got ${params.length}`);
    this.params = params ?? new Float32Array(n);
    this.embedding = new Tensor(this.params.subarray(0, vocab * dims), [vocab, dims], true, 'retriever.embedding');
    this.projection = new Tensor(this.params.subarray(vocab * dims), [dims, dims], true, 'retriever.projection');
  }

  /**
   * Random embedding rows (normal, std 1/sqrt(dims)) and an identity projection: before training, the encoder is a
   * random projection of the weighted bag, so cosine similarity already approximates the bags' overlap.
   */
  static init(config: DualEncoderConfig, seed: number): DualEncoder {
    const enc = new DualEncoder(config);
    const rng = new Rng(seed);
    const e = enc.embedding.data, s = 1 / Math.sqrt(config.dims);
    for (let i = 0; i < e.length; i++) e[i] = rng.normal() * s;
    for (let i = 0; i < config.dims; i++) enc.projection.data[i * config.dims + i] = 1;
    return enc;
  }

  private forwardOne(bag: Bag): Encoded {
    const d = this.config.dims, E = this.embedding.data, W = this.projection.data;
    const h = new Float32Array(d);
    let wsum = 0;
    for (let i = 0; i < bag.ids.length; i++) {
      const w = bag.weights[i]!, row = bag.ids[i]! * d;
      wsum += w;
      for (let k = 0; k < d; k++) h[k] += w * E[row + k]!;
    }
    if (wsum > 0) for (let k = 0; k < d; k++) h[k] /= wsum;
    const z = new Float32Array(d);
    let nn = 0;
    for (let o = 0; o < d; o++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += W[o * d + k]! * h[k]!;
      z[o] = s;
      nn += s * s;
    }
    return { h, z, norm: Math.sqrt(nn) };
  }

  /** The unit vector of one bag (zeros for an empty bag), written at `out[offset..]` when given. */
  encode(bag: Bag, out = new Float32Array(this.config.dims), offset = 0): Float32Array {
    const { z, norm } = this.forwardOne(bag);
    for (let k = 0; k < z.length; k++) out[offset + k] = norm > 0 ? z[k]! / norm : 0;
    return out;
  }

  /** One row per bag: [bags.length, dims]. */
  encodeAll(bags: readonly Bag[]): Float32Array {
    const d = this.config.dims, out = new Float32Array(bags.length * d);
    bags.forEach((b, i) => this.encode(b, out, i * d));
    return out;
  }

  /** Back through normalisation, projection and the bag: adds into the parameters' gradients. */
  private backwardOne(bag: Bag, c: Encoded, dy: Float32Array, dy0: number): void {
    if (c.norm === 0) return;
    const d = this.config.dims, W = this.projection.data;
    const dW = this.projection.ensureGrad(), dE = this.embedding.ensureGrad();
    let ydy = 0;
    for (let k = 0; k < d; k++) ydy += (c.z[k]! / c.norm) * dy[dy0 + k]!;
    const dz = new Float32Array(d);
    for (let k = 0; k < d; k++) dz[k] = (dy[dy0 + k]! - (c.z[k]! / c.norm) * ydy) / c.norm;
    const dh = new Float32Array(d);
    for (let o = 0; o < d; o++) {
      const g = dz[o]!;
      if (g === 0) continue;
      for (let k = 0; k < d; k++) { dW[o * d + k] += g * c.h[k]!; dh[k] += g * W[o * d + k]!; }
    }
    let wsum = 0;
    for (let i = 0; i < bag.weights.length; i++) wsum += bag.weights[i]!;
    if (wsum <= 0) return;
    for (let i = 0; i < bag.ids.length; i++) {
      const a = bag.weights[i]! / wsum, row = bag.ids[i]! * d;
      for (let k = 0; k < d; k++) dE[row + k] += a * dh[k]!;
    }
  }

  /**
   * The InfoNCE loss of one batch and, when `backward`, its gradients added into the parameters' `grad`.
   * `positive[i]`: the index in `passages` of question i's passage.
   */
  contrastive(questions: readonly Bag[], passages: readonly Bag[], positive: readonly number[], tau: number, backward = true): number {
    const d = this.config.dims;
    const qc = questions.map((b) => this.forwardOne(b)), pc = passages.map((b) => this.forwardOne(b));
    const unit = (cs: Encoded[]) => {
      const y = new Float32Array(cs.length * d);
      cs.forEach((c, i) => { if (c.norm > 0) for (let k = 0; k < d; k++) y[i * d + k] = c.z[k]! / c.norm; });
      return y;
    };
    const yq = unit(qc), yp = unit(pc);
    const r = infoNce(yq, yp, questions.length, passages.length, d, positive, tau);
    if (backward) {
      questions.forEach((b, i) => this.backwardOne(b, qc[i]!, r.dq, i * d));
      passages.forEach((b, j) => this.backwardOne(b, pc[j]!, r.dp, j * d));
    }
    return r.loss;
  }
}

/**
 * InfoNCE over unit vectors: q [B, d], p [D, d], logits q p^T / tau, cross-entropy against `positive`, averaged
 * over the B rows. Returns the loss and its gradients with respect to q and p.
 */
export function infoNce(q: Float32Array, p: Float32Array, B: number, D: number, d: number, positive: readonly number[], tau: number): { loss: number; dq: Float32Array; dp: Float32Array } {
  const dq = new Float32Array(B * d), dp = new Float32Array(D * d);
  const s = new Float64Array(D);
  let loss = 0;
  for (let i = 0; i < B; i++) {
    const pos = positive[i]!;
    if (!(pos >= 0 && pos < D)) throw new Error(`infoNce: positive[${i}] = ${pos} is outside 0..${D - 1}`);
    let max = -Infinity;
    for (let j = 0; j < D; j++) {
      let v = 0;
      for (let k = 0; k < d; k++) v += q[i * d + k]! * p[j * d + k]!;
      s[j] = v / tau;
      if (s[j]! > max) max = s[j]!;
    }
    let z = 0;
    for (let j = 0; j < D; j++) { s[j] = Math.exp(s[j]! - max); z += s[j]!; }
    loss += Math.log(z) + max - (Math.log(s[pos]!) + max);
    for (let j = 0; j < D; j++) {
      const g = (s[j]! / z - (j === pos ? 1 : 0)) / B / tau;
      if (g === 0) continue;
      for (let k = 0; k < d; k++) { dq[i * d + k] += g * p[j * d + k]!; dp[j * d + k] += g * q[i * d + k]!; }
    }
  }
  return { loss: loss / B, dq, dp };
}

/** Training examples: every question names its passage; `hard[i]` lists passages lexically close to question i but wrong. */
export interface ContrastiveData {
  questions: Bag[];
  passages: Bag[];
  positive: number[];
  hard: number[][];
}

export interface ContrastiveOptions {
  epochs: number;
  /** Questions per batch. */
  batch: number;
  lr: number;
  tau: number;
  weightDecay: number;
  /** Hard negatives drawn per question (from its `hard` list). */
  hardPerQuestion: number;
  warmupSteps: number;
  seed: number;
  /** Called after every step with the step's loss (for a metrics file, a loss curve). */
  onStep?: (step: number, totalSteps: number, loss: number, lr: number) => void;
}

export const DEFAULT_CONTRASTIVE: ContrastiveOptions = { epochs: 6, batch: 48, lr: 3e-3, tau: 0.05, weightDecay: 0, hardPerQuestion: 1, warmupSteps: 20, seed: 1 };

/**
 * Trains the encoder on `data` with AdamW and a cosine schedule. Each batch takes `batch` questions in a seeded
 * shuffled order; its passages are their own passages (deduplicated) plus `hardPerQuestion` of each one's hard
 * negatives, so no passage is both a question's positive and, by a duplicate, its negative. Returns the loss per step.
 */
export function trainContrastive(enc: DualEncoder, data: ContrastiveData, o: ContrastiveOptions = DEFAULT_CONTRASTIVE): number[] {
  const n = data.questions.length;
  if (!n) throw new Error('dual encoder: no training questions');
  if (data.positive.length !== n || data.hard.length !== n) throw new Error('dual encoder: questions, positive and hard must have one entry per question');
  const rng = new Rng(o.seed);
  const perEpoch = Math.ceil(n / o.batch), total = perEpoch * o.epochs;
  const opt = new AdamW([enc.embedding, enc.projection], { lr: o.lr, weightDecay: o.weightDecay });
  const curve: number[] = [];
  const order = Array.from({ length: n }, (_, i) => i);
  for (let epoch = 0, step = 0; epoch < o.epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) { const j = rng.nextU32() % (i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
    for (let b = 0; b < n; b += o.batch, step++) {
      const ids = order.slice(b, b + o.batch);
      const slot = new Map<number, number>();
      const passages: Bag[] = [];
      const take = (p: number) => { let s = slot.get(p); if (s === undefined) { s = passages.push(data.passages[p]!) - 1; slot.set(p, s); } return s; };
      const positive = ids.map((q) => take(data.positive[q]!));
      for (const q of ids) {
        const hard = data.hard[q]!;
        for (let h = 0; h < Math.min(o.hardPerQuestion, hard.length); h++) take(hard[rng.nextU32() % hard.length]!);
      }
      enc.embedding.zeroGrad(); enc.projection.zeroGrad();
      const loss = enc.contrastive(ids.map((q) => data.questions[q]!), passages, positive, o.tau);
      const lr = lrAt(step, { lr: o.lr, warmupSteps: o.warmupSteps, totalSteps: total, schedule: 'cosine' });
      opt.step(lr);
      curve.push(loss);
      o.onStep?.(step + 1, total, loss, lr);
    }
  }
  return curve;
}
