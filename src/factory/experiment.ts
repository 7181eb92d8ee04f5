/**
 * Experiments: base models x datasets x methods x hyperparameter values x seeds, expanded into jobs.
 *
 * `planExperiment` is pure: it validates the spec (errors name the field), expands the grid in a stable order,
 * rejects invalid combinations with a reason (DPO on an SFT-only dataset, QLoRA on an already quantized base, a
 * LoRA option on a full fine-tune, ...), drops duplicates, names each job readably and estimates its memory,
 * steps, tokens and time. The experiment file alone reproduces the experiment (files and API bodies are checked
 * field by field before planning: experiment-file.ts).
 *
 * A job's hyperparameters, lowest precedence first: DEFAULT_HYPERPARAMETERS and the method's learning rate
 * (METHOD_LR), the experiment's `hyperparameters`, its point of the sweep; a stage in `then` starts from its
 * parent's and applies its own. Names carry the sweep point and the seed when several are tried
 * (`spruce-s x support_qa x lora-r16 x lr=0.003 x seed=1`), and so does the model suffix (`modelSuffix`), so no two
 * jobs of an experiment share a name and a leaderboard has a row for each.
 */
import { createHash } from 'node:crypto';
import { normalizeMethod, type MethodSpec } from '../engine/methods.ts';
import { parameterCount, type LlamaConfig } from '../engine/config.ts';
import { engineMemoryPlan, trainableCount, trainingMemory } from '../engine/memory-estimate.ts';
import type { BaseModelRef, DataRef, Hyperparameters, JobEstimate, ParallelStrategy, Stage } from './job-spec.ts';

export interface ExperimentBase {
  name: string;
  ref: BaseModelRef;
  /** The model's config, when known before loading (estimates need it). */
  config?: LlamaConfig;
  /** True for bases stored quantized (e.g. a Q4 GGUF): QLoRA on them is rejected. */
  quantized?: boolean;
}

export interface ExperimentDataset {
  name: string;
  train: DataRef;
  validation?: DataRef;
  /** Rows and mean tokens per row, when known (estimates). */
  rows?: number;
  meanTokens?: number;
}

export interface ExperimentMethod {
  /** Short readable name, e.g. "lora-r16"; default derived from the spec. */
  name?: string;
  spec: MethodSpec & Record<string, unknown>;
}

export interface ExperimentSpec {
  name: string;
  stage: Stage;
  baseModels: ExperimentBase[];
  datasets: ExperimentDataset[];
  methods: ExperimentMethod[];
  /**
   * What every job trains with. A job's hyperparameters are, lowest precedence first: the defaults
   * (`DEFAULT_HYPERPARAMETERS`, the method's learning rate `METHOD_LR`), these, then its sweep values.
   */
  hyperparameters: Partial<Hyperparameters>;
  /** Values to sweep: each key is a hyperparameter, each value the list of values to try. */
  sweep?: Partial<Record<keyof Hyperparameters, Array<number | string>>>;
  seeds?: number[];
  /** Benchmark suites run on every finished model. */
  suites?: string[];
  priority?: number;
}

export interface PlannedJob {
  key: string;
  /** Readable and unique within the experiment: `base x dataset x method[ x key=value...][ x seed=N]`. */
  name: string;
  base: ExperimentBase;
  dataset: ExperimentDataset;
  method: MethodSpec;
  methodName: string;
  hyperparameters: Hyperparameters;
  /** The sweep values of this grid point, in the sweep's order (what tells it apart from its neighbours). */
  sweepValues: Array<[string, number | string]>;
  seed: number;
  estimate: JobEstimate;
}

export interface RejectedCombination { name: string; reason: string }

export interface ExperimentPlan {
  jobs: PlannedJob[];
  rejected: RejectedCombination[];
  duplicates: number;
}

export class ExperimentError extends Error {}

/** The learning rate of each method when neither the experiment nor a sweep names one. */
export const METHOD_LR: Record<MethodSpec['type'], number> = { full: 1e-3, freeze: 1e-3, lora: 3e-3, qlora: 3e-3, prefix: 1e-2, prompt: 3e-2 };

/** What a job of an experiment trains with when the experiment does not say (the learning rate is per method). */
export const DEFAULT_HYPERPARAMETERS: Readonly<Omit<Hyperparameters, 'lr'>> = { batchSize: 16, seqLen: 128, epochs: 1 };

/** A job's hyperparameters: the defaults < the method's learning rate < the experiment's values < the sweep point. */
export function jobHyperparameters(method: MethodSpec, given: Partial<Hyperparameters>, sweepPoint: Partial<Hyperparameters> = {}): Hyperparameters {
  return { ...DEFAULT_HYPERPARAMETERS, lr: METHOD_LR[method.type], ...given, ...sweepPoint } as Hyperparameters;
}

/** `key=value` of a sweep point, as job names show it (`lr=0.003`). */
function sweepText(values: ReadonlyArray<[string, number | string]>): string[] {
  return values.map(([k, v]) => `${k}=${v}`);
}

/**
 * The suffix of a job's model name (`ft:<base>:<suffix>:<job id>`): the method's name, the sweep values and the
 * seed when several are tried, e.g. `lora-r16-lr0.003`; letters, digits, '.', '_' and '-' only, at most 64.
 */
export function modelSuffix(p: Pick<PlannedJob, 'methodName' | 'sweepValues' | 'seed'>, manySeeds: boolean): string {
  const parts = [p.methodName, ...p.sweepValues.map(([k, v]) => `${k}${v}`), ...(manySeeds ? [`seed${p.seed}`] : [])];
  return parts.join('-').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 64);
}

const DATA_FOR_STAGE: Record<Stage, DataRef['kind']> = { pretrain: 'pretrain', sft: 'sft', dpo: 'preference' };
const LORA_OPTIONS = ['rank', 'alpha', 'targets', 'rslora', 'dropout'];
const KNOWN_OPTIONS: Record<MethodSpec['type'], string[]> = {
  full: [], freeze: ['trainableLayers', 'trainableModules', 'extraModules'], lora: LORA_OPTIONS, qlora: [...LORA_OPTIONS, 'blockSize'],
  prefix: ['numVirtualTokens'], prompt: ['numVirtualTokens'],
};

export function methodName(m: MethodSpec): string {
  switch (m.type) {
    case 'lora': case 'qlora': return `${m.type}-r${m.rank}`;
    case 'prefix': case 'prompt': return `${m.type}-${m.numVirtualTokens}`;
    case 'freeze': return `freeze-${m.trainableLayers ?? 1}`;
    default: return m.type;
  }
}

/** Options a method of an experiment may leave out: LoRA rank 8 with alpha twice the rank, 16 virtual tokens. */
export function withMethodDefaults<T extends { type: string }>(spec: T): T {
  if (!spec || typeof spec !== 'object') return spec;
  const s = spec as T & { rank?: number; alpha?: number; numVirtualTokens?: number };
  if (s.type === 'lora' || s.type === 'qlora') {
    const rank = s.rank ?? 8;
    return { ...s, rank, alpha: s.alpha ?? 2 * rank };
  }
  if (s.type === 'prefix' || s.type === 'prompt') return { ...s, numVirtualTokens: s.numVirtualTokens ?? 16 };
  return spec;
}

/** Why a combination cannot run, or null. */
export function rejectReason(stage: Stage, base: ExperimentBase, ds: ExperimentDataset, method: ExperimentMethod): string | null {
  const want = DATA_FOR_STAGE[stage];
  if (ds.train.kind !== want) {
    return `${stage.toUpperCase()} needs a ${want} dataset, but ${ds.name} is a ${ds.train.kind} dataset`;
  }
  if (ds.validation && ds.validation.kind !== ds.train.kind) return `${ds.name}: validation data is ${ds.validation.kind}, training data is ${ds.train.kind}`;
  const t = method.spec.type;
  if (t === 'qlora' && base.quantized) return `QLoRA quantizes the base to 4 bits, but ${base.name} is already quantized: use LoRA`;
  const extra = Object.keys(method.spec).filter((k) => k !== 'type' && !KNOWN_OPTIONS[t]?.includes(k));
  if (extra.length) {
    const lora = extra.filter((k) => LORA_OPTIONS.includes(k));
    if (lora.length && t !== 'lora' && t !== 'qlora') return `${lora.join(', ')} ${lora.length > 1 ? 'are LoRA options' : 'is a LoRA option'}, but the method is ${t}`;
    return `unknown option${extra.length > 1 ? 's' : ''} ${extra.join(', ')} for method ${t}`;
  }
  if (stage === 'pretrain' && t !== 'full') return `pretraining trains every weight: method ${t} does not apply`;
  if (t === 'prompt' && base.config && (method.spec as { numVirtualTokens: number }).numVirtualTokens >= base.config.contextLength) {
    return `a soft prompt of ${(method.spec as { numVirtualTokens: number }).numVirtualTokens} tokens leaves no room in a context of ${base.config.contextLength}`;
  }
  return null;
}

/** Memory, steps, tokens and time of one job (a planning estimate, not a promise). */
export function estimateJob(config: LlamaConfig | undefined, method: MethodSpec, h: Hyperparameters, ds: ExperimentDataset, threads: number, gflopsPerThread = 25): JobEstimate {
  // Memory: what the engine holds for this size (src/engine/memory-estimate.ts), as the engine worker runs it.
  const memoryMB = config ? Math.ceil(trainingMemory(config, method, { seqLen: h.seqLen, batchSize: h.batchSize, ...engineMemoryPlan(config, method) }).total / 2 ** 20) : 150;
  const total = config ? parameterCount(config) : 0;
  const rows = ds.rows ?? 1000, meanTokens = Math.min(ds.meanTokens ?? h.seqLen, h.seqLen);
  const perEpoch = Math.max(1, Math.floor(rows / (h.batchSize * (h.gradAccum ?? 1))));
  const steps = h.maxSteps ?? perEpoch * (h.epochs ?? 1);
  const tokens = steps * h.batchSize * (h.gradAccum ?? 1) * meanTokens;
  const counted = config ? trainableCount(config, method) : null;
  const trainable = counted ? counted.added + counted.base : total;
  const frozenShare = total ? 1 - trainable / total : 0;
  // Forward 2 flops/param/token, backward 4 (2 when the weight is frozen: no weight gradient).
  const flops = tokens * total * (2 + 4 - 2 * frozenShare);
  const seconds = flops / (gflopsPerThread * 1e9 * threads);
  return { resources: { cpuThreads: threads, memoryMB }, trainableParams: trainable, totalParams: total, steps, tokens, seconds };
}

const C_ACT = 14; // activations kept per layer, in units of the hidden size (norms, q/k/v/o, residuals, attention)

/** trainers/torch/src/modelfab_torch/chunked_ce.py: logits of more elements are taken in chunks of so many positions. */
const CHUNKED_CE_ABOVE = 2 ** 26, CHUNKED_CE_POSITIONS = 1024;

/** What shapes a torch job's GPU memory beyond the model: its trainer options. */
export interface TorchGpuOptions { precision?: 'fp32' | 'bf16' | 'fp16'; gradientCheckpointing?: boolean; processes?: number; strategy?: ParallelStrategy }

/**
 * GPU memory (MB) each process of a torch job needs, for the trainer as trainers/torch/ runs it: the base held in
 * fp32 (4 bytes a parameter; 4-bit NF4 with its scales for QLoRA, about 0.6), 12 bytes per trainable parameter
 * (its fp32 gradient and AdamW's two fp32 moments), activations of one process's share of a micro-batch (bf16
 * halves them; gradient checkpointing keeps each layer's input and one layer's inside), the logits and their
 * gradient (fp32, in chunks of 1,024 positions above 64M elements, as chunked_ce.py takes them) and 1 GB for CUDA's
 * context and allocator; under FSDP each process holds 1/N of the weights, gradients and moments (plus the largest
 * layer gathered while in use, left out here). DeepSpeed's ZeRO-2 gives each process 1/N of the gradients and
 * moments and ZeRO-3 also 1/N of the weights; under bf16/fp16 DeepSpeed holds the model in 16 bits (2 bytes a
 * parameter) and adds a 4-byte fp32 master copy of each trainable parameter to its partitioned state. LLaMA-Factory's rule of thumb (full bf16 about 18 GB per billion parameters, LoRA about 2)
 * assumes a bf16 base; this trainer keeps an fp32 one, so full training comes to about 16 GB and LoRA about 4 GB
 * per billion, before activations.
 */
export function torchGpuMemoryMB(config: LlamaConfig, method: MethodSpec, h: Hyperparameters, trainable: number, o: TorchGpuOptions = {}): number {
  const total = parameterCount(config);
  const n = Math.max(1, o.processes ?? 1);
  const zero = o.strategy === 'deepspeed-zero2' || o.strategy === 'deepspeed-zero3';
  const weightShards = o.strategy === 'fsdp' || o.strategy === 'deepspeed-zero3' ? n : 1;
  const stateShards = o.strategy === 'fsdp' || zero ? n : 1;
  const half16 = zero && (o.precision === 'bf16' || o.precision === 'fp16');
  const weights = (method.type === 'qlora' ? total * 0.6 : total * (half16 ? 2 : 4)) / weightShards;
  const optimizer = trainable * (half16 ? 16 : 12) / stateShards;
  const rows = Math.ceil(h.batchSize / Math.max(1, o.processes ?? 1)) * h.seqLen;
  const bytes = o.precision === 'bf16' || o.precision === 'fp16' ? 2 : 4;
  const perLayer = C_ACT * config.hiddenSize + 3 * config.ffnSize;
  const layers = o.gradientCheckpointing ? config.numLayers * config.hiddenSize + perLayer : config.numLayers * perLayer;
  const logits = (rows * config.vocabSize > CHUNKED_CE_ABOVE ? Math.min(rows, CHUNKED_CE_POSITIONS) : rows) * config.vocabSize * 4 * 2;
  return Math.ceil((weights + optimizer + rows * layers * bytes + logits) / 2 ** 20) + 1024;
}

/** Every point of the sweep grid (the cross product, first key outermost), as [key, value] pairs. */
function sweepPoints(sweep: ExperimentSpec['sweep']): Array<Array<[string, number | string]>> {
  let points: Array<Array<[string, number | string]>> = [[]];
  for (const [k, values] of Object.entries(sweep ?? {})) {
    if (!Array.isArray(values) || values.length === 0) throw new ExperimentError(`sweep.${k} must be a non-empty list`);
    points = points.flatMap((pt) => values.map((v): Array<[string, number | string]> => [...pt, [k, v]]));
  }
  return points;
}

/**
 * Each method's readable name, unique within the experiment: the given `name`, else one derived from the spec
 * (`lora-r16`); two different specs that derive the same name get `-2`, `-3`, ... (the same spec twice keeps
 * one name: its jobs are duplicates). Two methods given the same name are an error.
 */
function methodNames(methods: readonly ExperimentMethod[]): string[] {
  const specKey = (m: ExperimentMethod) => { try { return JSON.stringify(normalizeMethod(m.spec)); } catch { return JSON.stringify(m.spec); } };
  const owner = new Map<string, string>();
  methods.forEach((m, i) => {
    if (m.name === undefined) return;
    const prev = owner.get(m.name);
    if (prev !== undefined && prev !== specKey(m)) throw new ExperimentError(`methods[${i}].name: ${JSON.stringify(m.name)} is the name of another method; give each method its own name`);
    owner.set(m.name, specKey(m));
  });
  return methods.map((m) => {
    if (m.name !== undefined) return m.name;
    let derived: string;
    try { derived = methodName(normalizeMethod(m.spec)); } catch { derived = String(m.spec?.type); }
    const key = specKey(m);
    for (let n = 1; ; n++) {
      const name = n === 1 ? derived : `${derived}-${n}`;
      const prev = owner.get(name);
      if (prev === undefined) { owner.set(name, key); return name; }
      if (prev === key) return name;
    }
  });
}

/** Checks the experiment's fields; throws ExperimentError naming the first field that is wrong. */
export function validateExperiment(e: ExperimentSpec): void {
  const need = (cond: unknown, msg: string) => { if (!cond) throw new ExperimentError(`experiment: ${msg}`); };
  need(e && typeof e === 'object', 'must be an object');
  need(typeof e.name === 'string' && e.name.trim(), 'name is required');
  need(['pretrain', 'sft', 'dpo'].includes(e.stage), `stage must be pretrain, sft or dpo, got ${JSON.stringify(e.stage)}`);
  for (const k of ['baseModels', 'datasets', 'methods'] as const) need(Array.isArray(e[k]) && e[k].length > 0, `${k} must be a non-empty list`);
  e.baseModels.forEach((b, i) => need(b?.name && b.ref?.kind, `baseModels[${i}] needs name and ref.kind`));
  e.datasets.forEach((d, i) => need(d?.name && d.train?.path && d.train?.kind, `datasets[${i}] needs name, train.path and train.kind`));
  e.methods.forEach((m, i) => need(m?.spec?.type, `methods[${i}].spec.type is required`));
  need(e.hyperparameters && typeof e.hyperparameters === 'object', 'hyperparameters must be a mapping');
  for (const [k, values] of Object.entries(e.sweep ?? {})) need(Array.isArray(values) && values.length > 0, `sweep.${k} must be a non-empty list`);
  for (const s of e.seeds ?? []) need(Number.isInteger(s), `seeds must be integers, got ${s}`);
}

/** Checks the hyperparameters one job will train with (after defaults, the experiment's values and the sweep). */
function validateJobHyper(h: Hyperparameters, where: string): void {
  const need = (cond: unknown, msg: string) => { if (!cond) throw new ExperimentError(`experiment: ${where}: ${msg}`); };
  need(Number.isInteger(h.batchSize) && h.batchSize > 0, `batchSize must be a positive integer, got ${JSON.stringify(h.batchSize)}`);
  need(Number.isInteger(h.seqLen) && h.seqLen > 1, `seqLen must be an integer > 1, got ${JSON.stringify(h.seqLen)}`);
  need(typeof h.lr === 'number' && h.lr > 0, `lr must be > 0, got ${JSON.stringify(h.lr)}`);
}

export function planExperiment(e: ExperimentSpec, threadsPerJob = 1): ExperimentPlan {
  validateExperiment(e);
  const jobs: PlannedJob[] = [], rejected: RejectedCombination[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  const seeds = e.seeds?.length ? e.seeds : [0];
  const points = sweepPoints(e.sweep);
  const methods = e.methods.map((m) => ({ ...m, spec: withMethodDefaults(m.spec) }));
  const names = methodNames(methods);
  for (const base of e.baseModels) for (const ds of e.datasets) for (const [mi, m] of methods.entries()) {
    const mName = names[mi];
    const label = `${base.name} x ${ds.name} x ${mName}`;
    const reason = rejectReason(e.stage, base, ds, m);
    if (reason) { rejected.push({ name: label, reason }); continue; }
    let method: MethodSpec;
    try { method = normalizeMethod(m.spec); } catch (err) { rejected.push({ name: label, reason: (err as Error).message }); continue; }
    for (const point of points) for (const seed of seeds) {
      const name = [label, ...sweepText(point), ...(seeds.length > 1 ? [`seed=${seed}`] : [])].join(' x ');
      const h = jobHyperparameters(method, e.hyperparameters, Object.fromEntries(point) as Partial<Hyperparameters>);
      validateJobHyper(h, name);
      const key = createHash('sha256').update(JSON.stringify([e.stage, base.ref, ds.train, ds.validation ?? null, method, h, seed])).digest('hex').slice(0, 16);
      if (seen.has(key)) { duplicates++; continue; }
      seen.add(key);
      jobs.push({ key, name, base, dataset: ds, method, methodName: mName, hyperparameters: h, sweepValues: point, seed, estimate: estimateJob(base.config, method, h, ds, threadsPerJob) });
    }
  }
  return { jobs, rejected, duplicates };
}

/** A stage after the first: every result of the stage before is trained further on each of its datasets. */
export interface FollowUpStage {
  stage: Stage;
  datasets: ExperimentDataset[];
  /** What the stage changes: it trains with what its parent trained with (sweep values included), then these. */
  hyperparameters: Partial<Hyperparameters>;
}

/** A job of a later stage: `parent` is the key of the planned job whose result it trains further. */
export interface PlannedFollowUp extends PlannedJob { parent: string }

/**
 * Plans the stages after the first (SFT, then DPO on each SFT result): each result of the stage before becomes the
 * base, trained with the method it was made with (an adapter continues, src/engine/methods.ts stackMethod), on
 * each dataset of the stage. Combinations that cannot run are rejected with the reason, as in `planExperiment`.
 */
export function planFollowUps(first: readonly PlannedJob[], stages: readonly FollowUpStage[], threadsPerJob = 1): { stages: PlannedFollowUp[][]; rejected: RejectedCombination[] } {
  const out: PlannedFollowUp[][] = [], rejected: RejectedCombination[] = [];
  let parents: readonly PlannedJob[] = first;
  for (const [i, st] of stages.entries()) {
    if (!['sft', 'dpo'].includes(st.stage)) throw new ExperimentError(`then[${i}].stage must be sft or dpo, got ${JSON.stringify(st.stage)}`);
    if (!st.datasets.length) throw new ExperimentError(`then[${i}].datasets must be a non-empty list`);
    const jobs: PlannedFollowUp[] = [];
    for (const parent of parents) for (const ds of st.datasets) {
      const base: ExperimentBase = { name: parent.name, ref: { kind: 'engine', path: `job:${parent.key}` }, config: parent.base.config, quantized: parent.base.quantized };
      const name = `${parent.name} → ${st.stage} ${ds.name}`;
      const reason = rejectReason(st.stage, base, ds, { spec: parent.method as ExperimentMethod['spec'] });
      if (reason) { rejected.push({ name, reason }); continue; }
      const h = { ...parent.hyperparameters, ...st.hyperparameters } as Hyperparameters;
      validateJobHyper(h, name);
      const key = createHash('sha256').update(JSON.stringify([parent.key, st.stage, ds.train, ds.validation ?? null, h])).digest('hex').slice(0, 16);
      jobs.push({
        key, parent: parent.key, name, base, dataset: ds, method: parent.method, methodName: parent.methodName, hyperparameters: h, sweepValues: parent.sweepValues, seed: parent.seed,
        estimate: estimateJob(base.config, parent.method, h, ds, threadsPerJob),
      });
    }
    out.push(jobs);
    parents = jobs;
  }
  return { stages: out, rejected };
}
