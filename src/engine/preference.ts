/**
 * Preference training: DPO, ORPO and SimPO losses over chosen/rejected pairs.
 *
 * A batch of P pairs is one forward over 2P sequences [chosen_1..chosen_P, rejected_1..rejected_P]; each
 * sequence is scored only on its response tokens, giving log pi(y|x) per sequence (ops/sequence.ts). Then, with
 * sigma the logistic function and the mean over pairs:
 *
 *   DPO    L = -log sigma(beta * ((pi_c - ref_c) - (pi_r - ref_r)))            (Rafailov et al. 2023)
 *          ref = log-probs of the frozen reference (the model before training; for LoRA, the base), computed
 *          once before training, as TRL's precompute_ref_log_probs does.
 *   ORPO   L = NLL(chosen, mean per token) - lambda * log sigma(logodds_c - logodds_r),
 *          logodds = log(p / (1 - p)) with log p the mean per-token log-prob      (Hong et al. 2024)
 *   SimPO  L = -log sigma(beta * (pi_c / |y_c| - pi_r / |y_r|) - gamma)         (Meng et al. 2024)
 *
 * Rewards (reported): DPO beta * (pi - ref); SimPO beta * pi / |y|; ORPO the log odds. Reward accuracy is the share
 * of pairs whose chosen reward beats the rejected one; the margin is their mean difference.
 */
import { Tensor, needsGrad, type Ctx } from './tensor.ts';
import { maskedExample, type Example } from './batches.ts';
import { IGNORE_INDEX } from './ops/loss.ts';
import type { ChatMessage } from './tokenizer/chat-template.ts';

export type PreferenceLossType = 'dpo' | 'orpo' | 'simpo';

export interface PreferenceConfig {
  loss: PreferenceLossType;
  /** DPO and SimPO temperature (default 0.1 for DPO, 2.0 for SimPO). */
  beta?: number;
  /** ORPO weight of the odds-ratio term (default 0.1). */
  lambda?: number;
  /** SimPO target margin (default 0.5). */
  gamma?: number;
}

export interface PreferencePair { chosen: Example; rejected: Example; refChosen?: number; refRejected?: number }

export interface PreferenceStats { loss: number; rewardAccuracy: number; margin: number; rewardChosen: number; rewardRejected: number }

const logSigmoid = (z: number) => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));
const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
/** log(p / (1 - p)) for log p = lp < 0, stable near 0. */
const logOdds = (lp: number) => lp - Math.log(-Math.expm1(lp));

/**
 * The loss of P pairs from logps [2P] (chosen first, then rejected) and token counts, as a scalar on the tape.
 * `ref` holds the reference log-probs [2P] (DPO only).
 */
export function preferenceLoss(
  ctx: Ctx, logps: Tensor, counts: Int32Array, cfg: PreferenceConfig, ref: Float64Array | null,
): { loss: Tensor; stats: PreferenceStats } {
  const P = logps.size / 2, lp = logps.data;
  const grad = new Float64Array(2 * P);
  let total = 0, correct = 0, margin = 0, rc = 0, rr = 0;
  for (let i = 0; i < P; i++) {
    const c = lp[i], r = lp[P + i], nc = Math.max(1, counts[i]), nr = Math.max(1, counts[P + i]);
    let l: number, dc: number, dr: number, rewC: number, rewR: number;
    if (cfg.loss === 'dpo') {
      if (!ref) throw new Error('preferenceLoss: DPO needs reference log-probs');
      const beta = cfg.beta ?? 0.1;
      rewC = beta * (c - ref[i]); rewR = beta * (r - ref[P + i]);
      const z = rewC - rewR;
      l = -logSigmoid(z);
      const s = sigmoid(-z); // dl/dz = -sigma(-z)
      dc = -s * beta; dr = s * beta;
    } else if (cfg.loss === 'simpo') {
      const beta = cfg.beta ?? 2.0, gamma = cfg.gamma ?? 0.5;
      rewC = (beta * c) / nc; rewR = (beta * r) / nr;
      const z = rewC - rewR - gamma;
      l = -logSigmoid(z);
      const s = sigmoid(-z);
      dc = (-s * beta) / nc; dr = (s * beta) / nr;
    } else {
      const lambda = cfg.lambda ?? 0.1;
      const mc = c / nc, mr = r / nr; // mean per-token log-probs (< 0)
      rewC = logOdds(mc); rewR = logOdds(mr);
      const z = rewC - rewR;
      l = -mc - lambda * logSigmoid(z);
      // d logodds(m)/dm = 1 / (1 - e^m)
      const s = sigmoid(-z), dOddsC = 1 / -Math.expm1(mc), dOddsR = 1 / -Math.expm1(mr);
      dc = (-1 - lambda * s * dOddsC) / nc;
      dr = (lambda * s * dOddsR) / nr;
    }
    total += l; grad[i] = dc / P; grad[P + i] = dr / P;
    if (rewC > rewR) correct++;
    margin += rewC - rewR; rc += rewC; rr += rewR;
  }
  const loss = new Tensor(new Float32Array([total / P]), [1], needsGrad(ctx, logps));
  if (loss.requiresGrad) {
    ctx.tape!.record(() => {
      if (!loss.grad) return;
      const g = logps.ensureGrad(), s = loss.grad[0];
      for (let i = 0; i < 2 * P; i++) g[i] += s * grad[i];
    });
  }
  return { loss, stats: { loss: total / P, rewardAccuracy: correct / P, margin: margin / P, rewardChosen: rc / P, rewardRejected: rr / P } };
}

/** A pair from a prompt and two responses, each scored on its response only. */
export function preferencePair(
  encode: (messages: readonly ChatMessage[]) => { ids: number[]; labels: number[] },
  prompt: readonly ChatMessage[], chosen: string, rejected: string, seqLen: number,
): PreferencePair | null {
  const one = (answer: string) => {
    const enc = encode([...prompt, { role: 'assistant', content: answer }]);
    return maskedExample(enc.ids, enc.labels.map((l) => (l === IGNORE_INDEX ? 0 : 1)), seqLen);
  };
  const c = one(chosen), r = one(rejected);
  return c && r ? { chosen: c, rejected: r } : null;
}
