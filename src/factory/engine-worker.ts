/**
 * The engine's trainer for one job: reads a JobSpec, trains, and writes the files the scheduler reads
 * (see types.ts): metrics.jsonl, events.jsonl, heartbeat, checkpoints/, model/ and finally manifest.json.
 *
 * Resumable by construction: when checkpoints exist in the output folder the run continues from the latest one
 * (same losses as an uninterrupted run), so a killed worker that is started again loses at most the steps since
 * its last checkpoint. An abort signal (SIGTERM in engine-worker-main.ts) checkpoints and returns 'stopped'.
 */
import os from 'node:os';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { isInside } from '../store/paths.ts';
import { LlamaModel } from '../engine/llama-model.ts';
import { parameterCount } from '../engine/config.ts';
import { train, evaluate, preferenceObjective, referenceLogps, type Objective, type TrainConfig } from '../engine/train.ts';
import { preferencePair, type PreferencePair } from '../engine/preference.ts';
import { pretrainExamples, sftExamples, type Example } from '../engine/batches.ts';
import { loadModel, saveAdapter, saveModel } from '../engine/io.ts';
import { normalizeMethod, stackMethod } from '../engine/methods.ts';
import { engineMemoryPlan } from '../engine/memory-estimate.ts';
import { createGemm, describeGemm } from '../engine/gemm/create-gemm.ts';
import { precisionRefusal } from '../engine/gemm/native.ts';
import type { Gemm } from '../engine/gemm/gemm-seam.ts';
import { CHAT_TEMPLATES, CHATML_SPECIAL_TOKENS, Tokenizer, encodeChat, trainBpe, type ChatMessage, type ChatTemplateName } from '../engine/tokenizer/tokenizer-exports.ts';
import { importModel } from '../model-files/model-files.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { ThreadGrantReader } from './thread-grant.ts';
import { packingRefusal, type BaseModelRef, type DataRef, type JobSpec } from './job-spec.ts';
import { evaluateJob } from './evaluate.ts';
import { RetrieverDataError, runRetrieverJob } from './retriever-job.ts';

export type WorkerOutcome = 'succeeded' | 'stopped';

export interface Manifest {
  status: 'succeeded';
  job_id: string;
  /** The result folder, as the spec's paths are written: relative to the data folder when they are. */
  model_dir: string;
  /** `retriever`: a dual encoder for retrieval (the retriever stage, retriever-job.ts), served as an embedding model. */
  model_kind: 'model' | 'adapter' | 'retriever';
  steps: number;
  train_loss: number;
  eval_loss_before: number | null;
  eval_loss: number | null;
  tokens_per_s: number;
  elapsed_s: number;
  trainable_params: number;
  total_params: number;
  /** The objective's metrics at the end (DPO: reward accuracy, margin, ...). */
  eval_metrics?: Record<string, number>;
  /** bf16: the products ran in mixed precision (job-spec.ts); absent: float32. */
  precision?: 'bf16';
  vocab_size?: number;
  /** Pretraining: the validation perplexity of a unigram model (token frequencies of the training split). */
  unigram_perplexity?: number;
  /** When the spec asked for an evaluation: overall and per-dimension scores of bench.json. */
  bench?: { overall: number | null; dimensions: Record<string, number | null>; base_overall: number | null };
}

/** Perplexity of a unigram model (add-one smoothed training token frequencies) on the validation examples. */
export function unigramPerplexity(train: readonly Example[], val: readonly Example[], vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  let total = vocabSize;
  for (const e of train) for (const l of e.labels) if (l >= 0) { counts[l]++; total++; }
  let nll = 0, n = 0;
  for (const e of val) for (const l of e.labels) if (l >= 0) { nll -= Math.log(counts[l] / total); n++; }
  return n ? Math.exp(nll / n) : NaN;
}

export class JobSpecError extends Error {}

/**
 * What an adapter's modelfab.json names as its base: relative to the adapter folder when the job's paths are
 * relative (the trainer runs in the data folder) and the base is inside it, so the folder can move; else absolute.
 */
export function adapterBaseRef(spec: JobSpec, modelDir: string, baseDir: string): string {
  const base = resolve(baseDir);
  return !isAbsolute(spec.outputDir) && isInside(process.cwd(), base) ? relative(resolve(modelDir), base).split(sep).join('/') : base;
}

/** Checks a job spec read from JSON; throws a JobSpecError naming the field. */
export function validateJobSpec(x: unknown): JobSpec {
  const s = x as JobSpec;
  const need = (cond: boolean, what: string) => { if (!cond) throw new JobSpecError(`job spec: ${what}`); };
  need(typeof s === 'object' && s !== null, 'must be an object');
  need(s.version === 1, `version must be 1, got ${JSON.stringify(s.version)}`);
  need(typeof s.id === 'string' && s.id.length > 0, 'id must be a non-empty string');
  need(['pretrain', 'sft', 'dpo', 'retriever'].includes(s.stage), `stage must be pretrain, sft, dpo or retriever, got ${JSON.stringify(s.stage)}`);
  const retriever = s.stage === 'retriever';
  if (retriever) {
    const b = s.base as { kind?: unknown; vocab?: unknown; dims?: unknown } | undefined;
    need(typeof b === 'object' && b?.kind === 'dual-encoder', 'base.kind must be dual-encoder for the retriever stage');
    need(Number.isInteger(b!.vocab) && (b!.vocab as number) > 0 && Number.isInteger(b!.dims) && (b!.dims as number) > 0, 'base.vocab and base.dims must be positive integers');
  } else {
    need(typeof s.base === 'object' && ['engine', 'gguf', 'hf', 'scratch'].includes(s.base?.kind), 'base.kind must be engine, gguf, hf or scratch');
  }
  need(typeof s.method === 'object' && typeof s.method?.type === 'string', 'method.type is required');
  const packingWhy = s.packing ? packingRefusal(s.stage, s.method.type) : null;
  need(!packingWhy, `packing: ${packingWhy}`);
  need(s.precision === undefined || s.precision === 'fp32' || s.precision === 'bf16', `precision must be fp32 or bf16 for the engine, got ${JSON.stringify(s.precision)}`);
  const bf16Why = s.precision === 'bf16' ? precisionRefusal('bf16') : null;
  need(!bf16Why, `precision: ${bf16Why} on this machine`);
  need(typeof s.data?.train?.path === 'string', 'data.train.path is required');
  need(typeof s.hyperparameters === 'object' && s.hyperparameters !== null, 'hyperparameters is required');
  const h = s.hyperparameters;
  need(Number.isInteger(h.batchSize) && h.batchSize > 0, `hyperparameters.batchSize must be a positive integer, got ${h.batchSize}`);
  if (!retriever) need(Number.isInteger(h.seqLen) && h.seqLen > 1, `hyperparameters.seqLen must be an integer > 1, got ${h.seqLen}`);
  if (retriever) need(h.epochs === undefined || (Number.isInteger(h.epochs) && h.epochs >= 0), `hyperparameters.epochs must be a non-negative integer, got ${h.epochs}`);
  need(typeof h.lr === 'number' && h.lr > 0, `hyperparameters.lr must be > 0, got ${h.lr}`);
  need(typeof s.outputDir === 'string' && s.outputDir.length > 0, 'outputDir is required');
  need(Number.isInteger(s.seed), 'seed must be an integer');
  need(Number.isInteger(s.threads) && s.threads >= 1, 'threads must be a positive integer');
  return s;
}

/** Reads normalised JSON Lines; a bad line is an error naming the file and line. */
export function readJsonl<T>(path: string): T[] {
  const out: T[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try { out.push(JSON.parse(line) as T); } catch (e) { throw new JobSpecError(`${path}:${i + 1}: invalid JSON (${(e as Error).message})`); }
  });
  return out;
}

function examplesOf(ref: DataRef, tok: Tokenizer, seqLen: number, template: ChatTemplateName): Example[] {
  if (ref.kind === 'pretrain') {
    const ids: number[] = [];
    const eos = tok.eosId;
    for (const r of readJsonl<{ text: string }>(ref.path)) {
      for (const id of tok.encode(r.text)) ids.push(id);
      if (eos !== null) ids.push(eos);
    }
    return pretrainExamples(ids, seqLen);
  }
  if (ref.kind === 'sft') {
    const chats = readJsonl<{ messages: ChatMessage[] }>(ref.path).map((r) => r.messages);
    return sftExamples((m) => encodeChat(tok, m, { template }), chats, seqLen);
  }
  throw new JobSpecError(`data kind "${ref.kind}" is read by the preference stage, not as plain examples`);
}

/** Normalised preference lines: {messages (the prompt), chosen: {role, content}, rejected: {role, content}}. */
function pairsOf(ref: DataRef, tok: Tokenizer, seqLen: number, template: ChatTemplateName): PreferencePair[] {
  if (ref.kind !== 'preference') throw new JobSpecError(`${ref.path}: the dpo stage needs preference data, got ${ref.kind}`);
  const encode = (m: readonly ChatMessage[]) => encodeChat(tok, m, { template });
  const rows = readJsonl<{ messages: ChatMessage[]; chosen: ChatMessage; rejected: ChatMessage }>(ref.path);
  const out: PreferencePair[] = [];
  rows.forEach((r, i) => {
    if (!Array.isArray(r.messages) || typeof r.chosen?.content !== 'string' || typeof r.rejected?.content !== 'string') {
      throw new JobSpecError(`${ref.path}:${i + 1}: a preference line needs messages, chosen.content and rejected.content`);
    }
    const p = preferencePair(encode, r.messages, r.chosen.content, r.rejected.content, seqLen);
    if (p) out.push(p);
  });
  return out;
}

/**
 * The model the job starts from, with `spec.method` installed. An engine base may itself be an adapter (a LoRA
 * fine-tune trained further with DPO): the same method continues that adapter, saved again over the adapter's own
 * base; another method over a LoRA adapter starts from the merged weights, kept in <outputDir>/merged-base so the
 * result's adapter has a base folder to point at (src/engine/methods.ts stackMethod).
 */
function loadBase(spec: JobSpec): { model: LlamaModel; tokenizer: Tokenizer; baseDir: string | null } {
  const b = spec.base;
  if (b.kind === 'engine') {
    const { model, tokenizer, info } = loadModel(b.path);
    if (!info.base || !info.method) {
      model.applyMethod(spec.method, spec.seed + 1);
      return { model, tokenizer, baseDir: b.path };
    }
    let how: 'continue' | 'merge';
    try { how = stackMethod(info.method, spec.method); } catch (e) { throw new JobSpecError(`base.path ${b.path}: ${(e as Error).message}`); }
    if (how === 'continue') {
      const m = normalizeMethod(spec.method);
      if ('dropout' in m) for (const p of model.lora.values()) p.dropout = m.dropout ?? 0;
      return { model, tokenizer, baseDir: info.base };
    }
    model.mergeAdapter();
    const merged = join(spec.outputDir, 'merged-base');
    if (!existsSync(join(merged, 'modelfab.json'))) {
      const tmp = `${merged}.tmp`;
      rmSync(tmp, { recursive: true, force: true });
      saveModel(tmp, model, tokenizer, { meta: { mergedFrom: b.path } });
      rmSync(merged, { recursive: true, force: true });
      renameSync(tmp, merged);
    }
    model.applyMethod(spec.method, spec.seed + 1);
    return { model, tokenizer, baseDir: merged };
  }
  const made = loadFresh(spec, b);
  made.model.applyMethod(spec.method, spec.seed + 1);
  return { ...made, baseDir: null };
}

/** A model file to import, or a new model to pretrain. */
function loadFresh(spec: JobSpec, b: Exclude<BaseModelRef, { kind: 'engine' }>): { model: LlamaModel; tokenizer: Tokenizer } {
  switch (b.kind) {
    case 'gguf': case 'hf': {
      const m = importModel(b.path);
      return { model: LlamaModel.fromTensors(m.config, m.tensors), tokenizer: m.tokenizer };
    }
    case 'scratch': {
      let tokenizer: Tokenizer;
      if ('path' in b.tokenizer) tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(b.tokenizer.path, 'utf8')));
      else {
        const texts = spec.data.train.kind === 'pretrain' ? readJsonl<{ text: string }>(spec.data.train.path).map((r) => r.text) : [];
        tokenizer = trainBpe(texts, { vocabSize: b.tokenizer.vocabSize, specialTokens: [...CHATML_SPECIAL_TOKENS], eos: '<|im_end|>', pad: '<|endoftext|>' } as Parameters<typeof trainBpe>[1]);
      }
      return { model: LlamaModel.init({ ...b.config, vocabSize: tokenizer.vocabSize }, spec.seed), tokenizer };
    }
    case 'dual-encoder':
      throw new JobSpecError('base.kind dual-encoder is trained by the retriever stage');
  }
}

export interface RunJobOptions {
  signal?: AbortSignal;
  gemm?: Gemm;
  /** Seconds between heartbeats (default 2). */
  heartbeatS?: number;
}

export async function runJob(spec: JobSpec, opts: RunJobOptions = {}): Promise<WorkerOutcome> {
  const out = spec.outputDir;
  mkdirSync(out, { recursive: true });
  const event = (level: 'info' | 'warn' | 'error', message: string, data?: unknown) =>
    appendFileSync(join(out, 'events.jsonl'), JSON.stringify({ created_at: Math.floor(Date.now() / 1000), level, message, ...(data === undefined ? {} : { data }) }) + '\n');
  let step = 0;
  const beat = () => writeFileSync(join(out, 'heartbeat'), JSON.stringify({ pid: process.pid, step, at: Date.now() }));
  beat();
  const timer = setInterval(beat, (opts.heartbeatS ?? 2) * 1000);
  timer.unref();
  if (spec.stage === 'retriever') {
    try {
      event('info', 'started', { pid: process.pid, threads: spec.threads, stage: 'retriever' });
      return await runRetrieverJob(spec, { signal: opts.signal, event, onStep: (n) => { step = n; } });
    } catch (e) {
      event('error', e instanceof Error ? e.message : String(e));
      throw e instanceof RetrieverDataError ? new JobSpecError(e.message) : e;
    } finally {
      clearInterval(timer);
      beat();
    }
  }
  const gemm = opts.gemm ?? await createGemm({ threads: spec.threads, ...(spec.precision === 'bf16' ? { precision: 'bf16' as const } : {}) });
  try {
    const resumed = existsSync(join(out, 'checkpoints'));
    event('info', resumed ? 'resuming from the latest checkpoint' : 'started', { pid: process.pid, threads: spec.threads, gemm: describeGemm(gemm) });
    const { model, tokenizer, baseDir } = loadBase(spec);
    // At real sizes: frozen matrices in bf16, layers recomputed in the backward (the scheduler's estimate assumes it).
    const plan = engineMemoryPlan(model.config, model.method);
    if (plan.halfBase) model.holdFrozenInHalf();
    model.checkpointing = plan.checkpointing || spec.gradientCheckpointing === true;
    const template = (spec.hyperparameters.chatTemplate ?? 'chatml') as ChatTemplateName;
    const h = spec.hyperparameters;
    const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
    const dpo = spec.stage === 'dpo';
    const read = (ref: DataRef): unknown[] => (dpo ? pairsOf(ref, tokenizer, h.seqLen, template) : examplesOf(ref, tokenizer, h.seqLen, template));
    const trainEx = read(spec.data.train);
    const valEx = spec.data.validation ? read(spec.data.validation) : [];
    if (trainEx.length === 0) throw new JobSpecError(`${spec.data.train.path}: no usable training examples`);
    let objective: Objective<unknown> | undefined;
    if (dpo) {
      const cfg = { loss: h.preference?.loss ?? 'dpo', beta: h.preference?.beta, lambda: h.preference?.lambda, gamma: h.preference?.gamma } as const;
      // The reference is the model before training (for adapters that start as the identity: the base itself).
      if (cfg.loss === 'dpo') for (const set of [trainEx, valEx]) referenceLogps(model, gemm, set as PreferencePair[], h.batchSize, padId);
      objective = preferenceObjective(cfg, padId) as unknown as Objective<unknown>;
    }
    const before = valEx.length ? (objective ? objective.evaluate(model, gemm, valEx, h.batchSize).loss : evaluate(model, gemm, valEx as Example[], h.batchSize, padId)) : null;
    const config: TrainConfig = {
      batchSize: h.batchSize, gradAccum: h.gradAccum, epochs: h.epochs, maxSteps: h.maxSteps, lr: h.lr, schedule: h.schedule,
      warmupSteps: h.warmupSteps, warmupRatio: h.warmupRatio, minLrRatio: h.minLrRatio, weightDecay: h.weightDecay,
      maxGradNorm: h.maxGradNorm ?? 1, evalEvery: h.evalEvery, earlyStoppingPatience: h.earlyStoppingPatience,
      checkpointEvery: h.checkpointEvery ?? 20, keepCheckpoints: 2, seed: spec.seed, padId,
      ...(spec.packing && !dpo ? { packing: h.seqLen } : {}),
    };
    // idle cores the scheduler lends (or takes back) take effect at the next step
    const grant = new ThreadGrantReader(out, os.availableParallelism());
    const followGrant = () => {
      const n = grant.poll();
      if (n === null || !gemm.setThreads || n === gemm.threads) return;
      event('info', `now on ${gemm.setThreads(n)} thread(s)${n > spec.threads ? ' (idle cores lent by the scheduler)' : ''}`, { threads: n });
    };
    followGrant();
    const r = await train<unknown>({
      model, train: trainEx, val: valEx, objective, gemm, config, outDir: out, resume: true, signal: opts.signal,
      onMetrics: (m) => { step = m.step; followGrant(); },
    });
    if (r.interrupted) { event('info', `stopped at step ${r.steps}; checkpoint written`); return 'stopped'; }
    const evalLoss = valEx.length ? (r.evalLoss ?? (objective ? objective.evaluate(model, gemm, valEx, h.batchSize).loss : evaluate(model, gemm, valEx as Example[], h.batchSize, padId))) : null;
    const modelDir = join(out, 'model');
    rmSync(modelDir, { recursive: true, force: true });
    const isAdapter = baseDir !== null && !['full', 'freeze'].includes(model.method.type);
    const meta = { job: spec.id, evalLoss, steps: r.steps };
    // The chat template the model learnt its turns in, so every backend serves it with the same prompt format.
    const chatTemplate = spec.stage === 'pretrain' && !CHAT_TEMPLATES[template].stop.every((s) => tokenizer.hasSpecial(s)) ? undefined : template;
    if (isAdapter) saveAdapter(modelDir, model, adapterBaseRef(spec, modelDir, baseDir!), { meta, ...(chatTemplate ? { chatTemplate } : {}) });
    else saveModel(modelDir, model, tokenizer, { meta, ...(chatTemplate ? { chatTemplate } : {}) });
    let bench: Manifest['bench'] | undefined;
    if (spec.evaluation) {
      event('info', 'benchmarking the base and the result');
      const b = await evaluateJob(spec.evaluation, {
        gemm, baseDir: spec.base.kind === 'engine' ? spec.base.path : null, baseName: spec.baseName ?? 'base',
        modelDir, modelName: spec.resultName ?? spec.id,
      });
      writeFileAtomic(join(out, 'bench.json'), JSON.stringify(b));
      bench = {
        overall: b.model.scores.overall, base_overall: b.base?.scores.overall ?? null,
        dimensions: Object.fromEntries(b.model.scores.dimensions.map((d) => [d.name, d.score])),
      };
    }
    const manifest: Manifest = {
      status: 'succeeded', job_id: spec.id, model_dir: modelDir, model_kind: isAdapter ? 'adapter' : 'model', steps: r.steps,
      train_loss: r.finalLoss, eval_loss_before: before, eval_loss: evalLoss, tokens_per_s: r.tokensPerS, elapsed_s: r.elapsedS,
      trainable_params: model.trainableParams().reduce((n, p) => n + p.size, 0), total_params: parameterCount(model.config),
      ...(r.evalMetrics ? { eval_metrics: r.evalMetrics } : {}),
      ...(spec.precision === 'bf16' ? { precision: 'bf16' as const } : {}),
      vocab_size: model.config.vocabSize,
      ...(spec.stage === 'pretrain' && valEx.length ? { unigram_perplexity: unigramPerplexity(trainEx as Example[], valEx as Example[], model.config.vocabSize) } : {}),
      ...(bench ? { bench } : {}),
    };
    writeFileAtomic(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2));
    event('info', 'succeeded', { steps: r.steps, eval_loss: evalLoss });
    return 'succeeded';
  } catch (e) {
    event('error', e instanceof Error ? e.message : String(e));
    throw e;
  } finally {
    clearInterval(timer);
    beat();
    if (!opts.gemm) gemm.close();
  }
}
