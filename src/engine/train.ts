/**
 * The training loop: batches -> forward -> backward -> clip -> AdamW, with warm-up and decay, gradient
 * accumulation, evaluation every N steps, early stopping, atomic checkpoints and exact resume.
 *
 * Determinism: the example order of each epoch is a permutation drawn from (seed, epoch); dropout draws from one
 * Rng whose state is checkpointed; so a run resumed from step k replays steps k+1..n exactly as an uninterrupted
 * run would (same losses to the last bit, given the same gemm backend and thread count).
 *
 * Metrics stream as JSON Lines (metrics.jsonl in the output folder, and to `onMetrics`).
 */
import { Tape, type Ctx, type Tensor } from './tensor.ts';
import { Rng } from './rng.ts';
import { BufferPool } from './pool.ts';
import type { Gemm } from './gemm/gemm-seam.ts';
import type { LlamaModel } from './llama-model.ts';
import { collate, collatePacked, epochOrder, type Example } from './batches.ts';
import { AdamW, clipGradNorm, lrAt, type Schedule } from './optim.ts';
import { latestCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { MetricsLog, type MetricsRecord } from './metrics-log.ts';
import { sequenceLogProbs } from './ops/sequence.ts';
import { preferenceLoss, type PreferenceConfig, type PreferencePair } from './preference.ts';

/**
 * What a step optimises. `step` runs the forward (and records the tape) for a micro-batch and returns the loss;
 * `evaluate` scores held-out items without a tape. Language modelling (pretraining, SFT) and preference training
 * (DPO, ORPO, SimPO) are the two objectives; the loop around them (order, accumulation, clipping, AdamW,
 * checkpoints, resume, metrics) is the same.
 */
export interface Objective<T> {
  step(ctx: Ctx, model: LlamaModel, items: readonly T[]): { loss: Tensor; tokens: number; metrics?: Record<string, number> };
  evaluate(model: LlamaModel, gemm: Gemm, items: readonly T[], batchSize: number): { loss: number; metrics?: Record<string, number> };
}

export interface TrainConfig {
  batchSize: number;
  gradAccum?: number;
  /** Passes over the training examples; ignored when maxSteps is set. */
  epochs?: number;
  maxSteps?: number;
  lr: number;
  schedule?: Schedule;
  warmupSteps?: number;
  /** Warm-up as a share of all steps, when warmupSteps is not given. */
  warmupRatio?: number;
  minLrRatio?: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  /** Gradient clipping by global norm; 0 disables. */
  maxGradNorm?: number;
  /** Evaluate on the validation examples every N optimizer steps (and at the end); 0 disables. */
  evalEvery?: number;
  /** Stop when the eval loss has not improved by minDelta for this many evaluations. */
  earlyStoppingPatience?: number;
  earlyStoppingMinDelta?: number;
  /** Write a checkpoint every N steps (and at the end); 0: only at the end. */
  checkpointEvery?: number;
  keepCheckpoints?: number;
  seed: number;
  padId: number;
  /**
   * Language modelling: a micro-batch's examples share rows of at most this many tokens (`collatePacked`), each
   * attending only to itself; the same examples and tokens as unpadded, in fewer rows. Absent: one example a row.
   */
  packing?: number;
}

export interface TrainerState {
  step: number;
  epoch: number;
  /** Position inside the current epoch's order. */
  cursor: number;
  rng: number[];
  bestEvalLoss: number | null;
  evalsWithoutImprovement: number;
  tokensSeen: number;
  elapsedS: number;
}

export interface TrainRun<T = Example> {
  model: LlamaModel;
  train: readonly T[];
  val?: readonly T[];
  /** Default: language modelling over Examples. */
  objective?: Objective<T>;
  gemm: Gemm;
  config: TrainConfig;
  /** Output folder for metrics.jsonl and checkpoints/; none: nothing is written. */
  outDir?: string;
  /** Continue from the latest checkpoint in outDir, if there is one. */
  resume?: boolean;
  onMetrics?: (m: MetricsRecord) => void;
  /** Stop (after the current step, with a checkpoint) when aborted. */
  signal?: AbortSignal;
  /** For tests and workers: stop after this step as if interrupted (a checkpoint is written). */
  stopAfterStep?: number;
}

export interface TrainResult {
  steps: number;
  totalSteps: number;
  finalLoss: number;
  evalLoss: number | null;
  bestEvalLoss: number | null;
  stoppedEarly: boolean;
  interrupted: boolean;
  tokensPerS: number;
  elapsedS: number;
  losses: number[];
  /** The objective's metrics at the last evaluation (e.g. reward accuracy for DPO). */
  evalMetrics?: Record<string, number>;
}

/** Mean loss per scored token over the examples (no tape, no dropout). */
export function evaluate(model: LlamaModel, gemm: Gemm, examples: readonly Example[], batchSize: number, padId: number): number {
  const pool = new BufferPool();
  const ctx: Ctx = { gemm, tape: null, rng: new Rng(0), training: false, pool };
  let sum = 0, count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const b = collate(examples.slice(i, i + batchSize), padId);
    const r = model.forwardLoss(ctx, b.ids, b.B, b.labels);
    sum += r.sumLoss; count += r.count;
    pool.release();
  }
  return count ? sum / count : NaN;
}

export function totalSteps(nExamples: number, c: TrainConfig): number {
  if (c.maxSteps) return c.maxSteps;
  const perEpoch = Math.max(1, Math.floor(nExamples / (c.batchSize * (c.gradAccum ?? 1))));
  return perEpoch * (c.epochs ?? 1);
}

/** Next-token cross-entropy over Examples (pretraining and SFT); `packing`: rows of at most that many tokens. */
export function languageModeling(padId: number, packing?: number): Objective<Example> {
  return {
    step(ctx, model, items) {
      const b = packing ? collatePacked(items, padId, packing) : collate(items, padId);
      return { loss: model.forwardLoss(ctx, b.ids, b.B, b.labels, b.positions).loss, tokens: b.tokens };
    },
    evaluate: (model, gemm, items, batchSize) => ({ loss: evaluate(model, gemm, items, batchSize, padId) }),
  };
}

/** Scores pairs: chosen and rejected sequences in one forward, log-probs per sequence. */
function pairLogps(ctx: Ctx, model: LlamaModel, items: readonly PreferencePair[], padId: number) {
  const b = collate([...items.map((p) => p.chosen), ...items.map((p) => p.rejected)], padId);
  const logits = model.forward(ctx, b.ids, b.B).logits;
  return { ...sequenceLogProbs(ctx, logits, model.alignLabels(b.labels, b.B), b.B), tokens: b.tokens };
}

/**
 * The reference log-probs of every pair under the model as it is now (before training: the frozen reference of
 * DPO; for LoRA and the other adapters that start as the identity, exactly the base model).
 */
export function referenceLogps(model: LlamaModel, gemm: Gemm, pairs: PreferencePair[], batchSize: number, padId: number): void {
  const pool = new BufferPool();
  const ctx: Ctx = { gemm, tape: null, rng: new Rng(0), training: false, pool };
  for (let i = 0; i < pairs.length; i += batchSize) {
    const items = pairs.slice(i, i + batchSize);
    const { logps } = pairLogps(ctx, model, items, padId);
    items.forEach((p, j) => { p.refChosen = logps.data[j]; p.refRejected = logps.data[items.length + j]; });
    pool.release();
  }
}

export function preferenceObjective(cfg: PreferenceConfig, padId: number): Objective<PreferencePair> {
  const refOf = (items: readonly PreferencePair[]) => {
    if (cfg.loss !== 'dpo') return null;
    const ref = new Float64Array(items.length * 2);
    items.forEach((p, j) => {
      if (p.refChosen === undefined || p.refRejected === undefined) throw new Error('DPO: reference log-probs missing; call referenceLogps() before training');
      ref[j] = p.refChosen; ref[items.length + j] = p.refRejected;
    });
    return ref;
  };
  const statsOf = (s: { rewardAccuracy: number; margin: number; rewardChosen: number; rewardRejected: number }) => ({
    reward_accuracy: s.rewardAccuracy, reward_margin: s.margin, reward_chosen: s.rewardChosen, reward_rejected: s.rewardRejected,
  });
  return {
    step(ctx, model, items) {
      const { logps, counts, tokens } = pairLogps(ctx, model, items, padId);
      const { loss, stats } = preferenceLoss(ctx, logps, counts, cfg, refOf(items));
      return { loss, tokens, metrics: statsOf(stats) };
    },
    evaluate(model, gemm, items, batchSize) {
      const pool = new BufferPool();
      const ctx: Ctx = { gemm, tape: null, rng: new Rng(0), training: false, pool };
      let loss = 0, acc = 0, margin = 0, rc = 0, rr = 0;
      for (let i = 0; i < items.length; i += batchSize) {
        const batch = items.slice(i, i + batchSize);
        const { logps, counts } = pairLogps(ctx, model, batch, padId);
        const { stats } = preferenceLoss(ctx, logps, counts, cfg, refOf(batch));
        const w = batch.length;
        loss += stats.loss * w; acc += stats.rewardAccuracy * w; margin += stats.margin * w; rc += stats.rewardChosen * w; rr += stats.rewardRejected * w;
        pool.release();
      }
      const n = Math.max(1, items.length);
      return { loss: loss / n, metrics: statsOf({ rewardAccuracy: acc / n, margin: margin / n, rewardChosen: rc / n, rewardRejected: rr / n }) };
    },
  };
}

function checkpointTensors(params: readonly Tensor[]): Record<string, { shape: readonly number[]; data: Float32Array }> {
  const out: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const t of params) out[t.name] = { shape: t.shape, data: t.data };
  return out;
}

export async function train<T = Example>(run: TrainRun<T>): Promise<TrainResult> {
  const { model, gemm, config: c } = run;
  const objective = run.objective ?? (languageModeling(c.padId, c.packing) as unknown as Objective<T>);
  if (run.train.length === 0) throw new Error('train: no training examples');
  const accum = c.gradAccum ?? 1;
  const total = totalSteps(run.train.length, c);
  const warmup = c.warmupSteps ?? Math.round((c.warmupRatio ?? 0) * total);
  const params = model.trainableParams();
  const opt = new AdamW(params, { lr: c.lr, weightDecay: c.weightDecay ?? 0, betas: c.betas ?? [0.9, 0.999], eps: c.eps ?? 1e-8, threads: gemm.threads });
  const state: TrainerState = {
    step: 0, epoch: 0, cursor: 0, rng: new Rng(c.seed ^ 0x5eed).state(), bestEvalLoss: null,
    evalsWithoutImprovement: 0, tokensSeen: 0, elapsedS: 0,
  };
  if (run.resume && run.outDir) {
    const latest = latestCheckpoint(run.outDir);
    if (latest) {
      const ck = readCheckpoint(latest.path);
      const byName = new Map(params.map((p) => [p.name, p]));
      for (const [name, t] of Object.entries(ck.tensors)) {
        const p = byName.get(name);
        if (!p) throw new Error(`resume: checkpoint ${latest.path} has tensor "${name}" that this model does not train`);
        if (p.size !== t.data.length) throw new Error(`resume: tensor "${name}" has ${t.data.length} values in ${latest.path}, expected ${p.size}`);
        p.data.set(t.data);
      }
      if (!ck.optimizer) throw new Error(`resume: checkpoint ${latest.path} has no optimizer state`);
      opt.loadState(ck.optimizer);
      Object.assign(state, ck.trainerState as unknown as TrainerState);
    }
  }
  const log = run.outDir ? new MetricsLog(`${run.outDir}/metrics.jsonl`, run.onMetrics) : null;
  const emit = (m: MetricsRecord) => (log ? log.write(m) : run.onMetrics?.(m));
  const rng = new Rng(state.rng);
  const tape = new Tape();
  const pool = new BufferPool();
  const ctx: Ctx = { gemm, tape, rng, training: true, pool };
  const losses: number[] = [];
  let order = epochOrder(run.train.length, c.seed, state.epoch, (s) => new Rng(s));
  let lastLoss = NaN, lastEval: number | null = null, stoppedEarly = false, interrupted = false;
  let evalMetrics: Record<string, number> | undefined;
  const t0 = performance.now() / 1000 - state.elapsedS;
  const startTokens = state.tokensSeen, startElapsed = state.elapsedS, startStep = state.step;

  const save = () => {
    if (!run.outDir) return;
    state.rng = rng.state();
    writeCheckpoint(run.outDir, state.step, {
      tensors: checkpointTensors(params),
      optimizer: opt.state(),
      trainerState: { ...state } as unknown as Record<string, unknown>,
    }, { keepLast: c.keepCheckpoints ?? 2 });
  };

  while (state.step < total) {
    for (const p of params) p.zeroGrad();
    let stepLoss = 0, stepTokens = 0;
    const stepMetrics: Record<string, number> = {};
    for (let micro = 0; micro < accum; micro++) {
      if (state.cursor + c.batchSize > order.length) {
        state.epoch++; state.cursor = 0;
        order = epochOrder(run.train.length, c.seed, state.epoch, (s) => new Rng(s));
      }
      const picked = order.slice(state.cursor, state.cursor + c.batchSize).map((i) => run.train[i]);
      state.cursor += picked.length;
      const r = objective.step(ctx, model, picked);
      tape.backward(r.loss, 1 / accum);
      stepLoss += r.loss.data[0] / accum;
      stepTokens += r.tokens;
      for (const [k, v] of Object.entries(r.metrics ?? {})) stepMetrics[k] = (stepMetrics[k] ?? 0) + v / accum;
    }
    const gradNorm = clipGradNorm(params, c.maxGradNorm ? c.maxGradNorm : Infinity, gemm.threads);
    const lr = lrAt(state.step, { lr: c.lr, warmupSteps: warmup, totalSteps: total, schedule: c.schedule ?? 'cosine', minLrRatio: c.minLrRatio ?? 0 });
    // A non-finite gradient (overflow, a bad batch) skips the update instead of poisoning the weights.
    const skipped = !Number.isFinite(gradNorm) || !Number.isFinite(stepLoss);
    opt.threads = gemm.threads; // a scheduler may lend the job idle cores between steps
    if (!skipped) opt.step(lr);
    pool.release();
    state.step++;
    state.tokensSeen += stepTokens;
    lastLoss = stepLoss;
    losses.push(stepLoss);
    const now = performance.now() / 1000;
    state.elapsedS = now - t0;
    const runS = state.elapsedS - startElapsed;
    const tokS = runS > 0 ? (state.tokensSeen - startTokens) / runS : 0;
    const record: MetricsRecord = {
      step: state.step, epoch: state.epoch + state.cursor / run.train.length, loss: stepLoss, lr, grad_norm: gradNorm,
      tokens_per_s: tokS, elapsed_s: state.elapsedS, eta_s: (runS / Math.max(1, state.step - startStep)) * (total - state.step),
      ...stepMetrics,
      ...(skipped ? { skipped: true } : {}),
    };
    const evalNow = run.val?.length && c.evalEvery && (state.step % c.evalEvery === 0 || state.step === total);
    if (evalNow) {
      const ev = objective.evaluate(model, gemm, run.val!, c.batchSize);
      lastEval = ev.loss;
      evalMetrics = ev.metrics;
      record.eval_loss = lastEval;
      for (const [k, v] of Object.entries(ev.metrics ?? {})) record[`eval_${k}`] = v;
      const delta = c.earlyStoppingMinDelta ?? 0;
      if (state.bestEvalLoss === null || lastEval < state.bestEvalLoss - delta) { state.bestEvalLoss = lastEval; state.evalsWithoutImprovement = 0; }
      else state.evalsWithoutImprovement++;
    }
    emit(record);
    // Let the event loop run between steps: signal handlers (SIGTERM -> checkpoint and stop), heartbeats, I/O.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (c.earlyStoppingPatience && state.evalsWithoutImprovement >= c.earlyStoppingPatience) { stoppedEarly = true; save(); break; }
    const stopNow = run.signal?.aborted || run.stopAfterStep === state.step;
    if (stopNow) { interrupted = state.step < total; save(); break; }
    if (state.step === total || (c.checkpointEvery && state.step % c.checkpointEvery === 0)) save();
  }
  if (!interrupted && !stoppedEarly && run.val?.length && lastEval === null) {
    const ev = objective.evaluate(model, gemm, run.val, c.batchSize);
    lastEval = ev.loss; evalMetrics = ev.metrics;
  }
  log?.close();
  const runS = state.elapsedS - startElapsed;
  return {
    steps: state.step, totalSteps: total, finalLoss: lastLoss, evalLoss: lastEval, bestEvalLoss: state.bestEvalLoss,
    stoppedEarly, interrupted, tokensPerS: runS > 0 ? (state.tokensSeen - startTokens) / runS : 0, elapsedS: state.elapsedS, losses, evalMetrics,
  };
}
