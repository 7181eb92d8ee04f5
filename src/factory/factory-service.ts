/**
 * The factory as a service: OpenAI-shaped fine-tuning jobs and modelfab's experiments over the scheduler, the
 * store and the data registry. Routes (src/api/routes/fine-tuning-routes.ts, experiments.ts) and the CLI call this; it
 * owns the translation between what users send (file ids, dataset and model names, "auto" hyperparameters) and the
 * JobSpec a trainer runs.
 *
 *   create job   1. resolve the base model and the training data (a file id is imported as a dataset version)
 *                2. resolve "auto" hyperparameters and the method  3. materialise the normalised records into the
 *                job's folder (a trainer needs nothing else)  4. estimate, submit to the scheduler
 *   job succeeds the result is registered as a model named ft:<base>:<suffix>:<job id>
 *   experiment   names -> ExperimentSpec -> plan (experiment.ts) -> one job per planned combination; a base still
 *                being pretrained is waited for (job dependencies), and the stages in `then` (SFT, then DPO)
 *                train each result further, each job starting as soon as the one it builds on has succeeded
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { DataService, DatasetObject } from '../data/data-service.ts';
import { engineMessages, type AnyRecord, type Stage as DataStage } from '../data/records.ts';
import { parameterCount, type LlamaConfig } from '../engine/config.ts';
import { normalizeMethod, type MethodSpec } from '../engine/methods.ts';
import { readMetrics, type MetricsRecord } from '../engine/metrics-log.ts';
import { readModelInfo } from '../engine/io.ts';
import { listCheckpoints } from '../engine/checkpoint.ts';
import type { JobRecord, JobRepository } from './job-repository.ts';
import { Scheduler, SchedulerError, TERMINAL_STATUSES } from './scheduler.ts';
import { planExperiment, planFollowUps, estimateJob, torchGpuMemoryMB, modelSuffix, ExperimentError, METHOD_LR, type ExperimentDataset, type ExperimentSpec, type PlannedJob } from './experiment.ts';
import { nearest, validateExperimentRequest, ExperimentValidationError } from './experiment-file.ts';
import type { Problem } from '../data/problems.ts';
import { isNodeCount, isProcessCount, packingRefusal, STRATEGIES, type BaseModelRef, type ParallelStrategy, type DataRef, type Hyperparameters, type JobEstimate, type JobSpec, type JobStatus, type Resources, type Stage, type JobStage } from './job-spec.ts';
import { kyselyExperimentRepository, type ExperimentRepository, type FactoryTables } from './kysely-jobs.ts';
import { resolveStored, storedPath } from '../store/paths.ts';
import { relativeSpec } from './trainer-launch.ts';
import { kubernetesManifests, type KubernetesOptions, type Manifest as KubernetesManifest } from './kubernetes-manifests.ts';
import type { Manifest } from './engine-worker.ts';
import { evaluateJob, type EvaluationSpec, type JobBench } from './evaluate.ts';
import { hfCacheMaxBytes, pruneHfCache } from './hf-cache.ts';
import { hfBaseFor, importTorchResult, PRECISIONS, TRAINERS, type HfBase, type Precision, type TorchTrainer, type TrainerName } from './torch-trainer.ts';
import { createGemm } from '../engine/gemm/create-gemm.ts';
import { precisionRefusal } from '../engine/gemm/native.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { buildLeaderboard, formatLeaderboard, factQuestionsJsonl, validateFactQuestionSets, type BenchmarkRun, type FactQuestionSet, type Leaderboard } from '../bench/bench-exports.ts';
import { ValidationError } from '../util/status-error.ts';
import { DEFAULT_RETRIEVER, type RetrieverOptions, type RetrieverQuestion, type RetrieverUnit } from '../knowledge/retriever.ts';
import { retrieverPlan, writeRetrieverData } from './retriever-job.ts';

/** A model the factory can fine-tune or has made. */
export interface CatalogModel {
  name: string;
  /** `retriever`: an embedding model the retriever stage made (retriever-job.ts): served, never a base to fine-tune. */
  kind: 'engine' | 'gguf' | 'hf' | 'retriever';
  /** The model folder or file; for adapters, the adapter folder. */
  path: string;
  /** For adapters: the base model's folder. */
  basePath?: string;
  role: 'base' | 'fine-tune';
  config?: LlamaConfig;
  quantized?: boolean;
  params?: number;
  createdAt: number;
  meta?: Record<string, unknown>;
}

/** Where the factory finds base models and registers what it makes (the serve registry implements it). */
export interface ModelCatalog {
  get(name: string): Promise<CatalogModel | null>;
  list(): Promise<CatalogModel[]>;
  register(m: CatalogModel): Promise<void>;
}

export class FactoryError extends ValidationError {
  declare readonly problems: Problem[];
  constructor(
    status: number, message: string, param: string | null = null, code: string | null = null,
    /** Every problem found (an experiment that fails validation), in the dataset problems' shape. */
    problems: Problem[] = [],
  ) { super(status, message, { param, code }, problems); }
}

/** What the API accepts as POST /v1/fine_tuning/jobs (OpenAI's fields plus modelfab's method options). */
export interface CreateJobRequest {
  model: string;
  training_file?: string;
  validation_file?: string;
  /** modelfab: a registered dataset (name or id) instead of a file. */
  dataset?: string;
  suffix?: string;
  seed?: number;
  metadata?: Record<string, string>;
  hyperparameters?: HyperparameterRequest;
  /** modelfab: the runner the job must run on (one of the server's runners; default: wherever it fits). */
  runner?: string;
  method?: { type: 'supervised' | 'dpo'; supervised?: { hyperparameters?: HyperparameterRequest }; dpo?: { hyperparameters?: HyperparameterRequest } };
}

export interface HyperparameterRequest {
  n_epochs?: number | 'auto';
  batch_size?: number | 'auto';
  learning_rate_multiplier?: number | 'auto';
  beta?: number | 'auto';
  /** modelfab: full | freeze | lora | qlora | prefix | prompt, or a full method object. */
  fine_tuning_method?: MethodSpec['type'] | MethodSpec;
  lora_rank?: number;
  lora_alpha?: number;
  lora_dropout?: number;
  lora_targets?: string[];
  num_virtual_tokens?: number;
  freeze_trainable_layers?: number;
  seq_len?: number;
  preference_loss?: 'dpo' | 'orpo' | 'simpo';
  /** modelfab: which trainer runs the job, engine (default) or torch (trainers/torch/). */
  trainer?: TrainerName;
  /** modelfab: fp32 (default), bf16 or fp16; the engine trains in fp32, or bf16 where the processor has AMX-BF16 or AVX512-BF16. */
  precision?: Precision;
  /** modelfab (torch trainer): recompute activations in the backward pass. */
  gradient_checkpointing?: boolean;
  /** modelfab (torch trainer): several examples per sequence. */
  packing?: boolean;
  /** modelfab (torch trainer): data-parallel processes on one machine (torchrun's --nproc_per_node). */
  nproc_per_node?: number;
  /** modelfab (torch trainer): ddp (default: each process holds the model) or fsdp (each holds a shard). */
  strategy?: ParallelStrategy;
  /** modelfab (torch trainer): machines the job spans (torchrun's --nnodes), on a runner that spans machines (Slurm, Kubernetes). */
  nnodes?: number;
  /** modelfab: the runner the job must run on (the same as the request's top-level `runner`). */
  runner?: string;
}

/** The trainer and its options, as a job spec carries them (absent fields: the engine's defaults). */
type TrainerOptions = Pick<JobSpec, 'trainer' | 'precision' | 'gradientCheckpointing' | 'packing' | 'processes' | 'strategy' | 'nodes'>;

/** The trainer options of a request's hyperparameters, checked (a 400 naming the field). */
export function trainerOptions(h: HyperparameterRequest): TrainerOptions {
  const bad = (k: string, want: string, v: unknown) => new FactoryError(400, `hyperparameters.${k} must be ${want}, got ${JSON.stringify(v)}`, `hyperparameters.${k}`);
  if (h.trainer !== undefined && !TRAINERS.includes(h.trainer)) throw bad('trainer', `one of ${TRAINERS.join(', ')}`, h.trainer);
  if (h.precision !== undefined && !(PRECISIONS as readonly unknown[]).includes(h.precision)) throw bad('precision', `one of ${PRECISIONS.join(', ')}`, h.precision);
  if (h.gradient_checkpointing !== undefined && typeof h.gradient_checkpointing !== 'boolean') throw bad('gradient_checkpointing', 'true or false', h.gradient_checkpointing);
  if (h.packing !== undefined && typeof h.packing !== 'boolean') throw bad('packing', 'true or false', h.packing);
  if (h.nproc_per_node !== undefined && !isProcessCount(h.nproc_per_node)) throw bad('nproc_per_node', 'an integer from 1 to 64', h.nproc_per_node);
  if (h.strategy !== undefined && !(STRATEGIES as readonly unknown[]).includes(h.strategy)) throw bad('strategy', `one of ${STRATEGIES.join(', ')}`, h.strategy);
  if (h.nnodes !== undefined && !isNodeCount(h.nnodes)) throw bad('nnodes', 'an integer from 1 to 64', h.nnodes);
  const trainer = h.trainer ?? 'engine';
  if (trainer === 'engine') {
    // The engine trains in fp32 (or bf16 where this processor has a bf16 kernel) on one machine, in one process: say
    // so rather than ignore it.
    if (h.precision === 'fp16') throw new FactoryError(400, 'hyperparameters.precision fp16: the engine trains in fp32 or bf16; use trainer torch for fp16', 'hyperparameters.precision');
    const bf16Why = h.precision === 'bf16' ? precisionRefusal('bf16') : null;
    if (bf16Why) throw new FactoryError(400, `hyperparameters.precision: ${bf16Why}, or use trainer torch`, 'hyperparameters.precision');
    if ((h.nproc_per_node ?? 1) > 1) throw new FactoryError(400, 'hyperparameters.nproc_per_node: the engine trains in one process (give it more threads); use trainer torch for data parallelism', 'hyperparameters.nproc_per_node');
    if (h.strategy !== undefined && h.strategy !== 'ddp') throw new FactoryError(400, `hyperparameters.strategy ${h.strategy}: the engine trains in one process; use trainer torch`, 'hyperparameters.strategy');
    if ((h.nnodes ?? 1) > 1) throw new FactoryError(400, 'hyperparameters.nnodes: the engine trains on one machine; use trainer torch to span several', 'hyperparameters.nnodes');
  }
  return {
    ...(h.trainer !== undefined ? { trainer } : {}), ...(h.precision !== undefined ? { precision: h.precision } : {}),
    ...(h.gradient_checkpointing !== undefined ? { gradientCheckpointing: h.gradient_checkpointing } : {}), ...(h.packing !== undefined ? { packing: h.packing } : {}),
    ...((h.nproc_per_node ?? 1) > 1 ? { processes: h.nproc_per_node } : {}),
    ...(h.strategy !== undefined && h.strategy !== 'ddp' ? { strategy: h.strategy } : {}),
    ...((h.nnodes ?? 1) > 1 ? { nodes: h.nnodes } : {}),
  };
}

/** What a trainer other than the engine adds to manifest.json (trainers/torch/README.md). */
type TrainerManifest = Manifest & { trainer?: TrainerName; model_format?: 'hf' | 'peft'; device?: string; chat_template?: string };

/** The job's API facts, kept in the spec beside what the trainer reads. */
interface JobMeta {
  base: string;
  suffix: string | null;
  trainingFile: string | null;
  validationFile: string | null;
  dataset: string;
  metadata: Record<string, string>;
  hyperparameters: { n_epochs: number; batch_size: number; learning_rate_multiplier: number; beta?: number };
  methodType: 'supervised' | 'dpo' | 'retriever';
  createdAt: number;
  trainRows: number;
  experiment?: { id: string; key: string; dataset: string; method: string };
  /** Pretraining jobs that make a base model: the name it is registered under when the job succeeds. */
  registerAs?: string;
  /** The base's config (a later stage built on this job's result needs it before the result exists). */
  baseConfig?: LlamaConfig;
  /** A torch job: the base as the catalog has it (the spec names its Hugging Face conversion). */
  sourceBase?: BaseModelRef;
}

type SpecWithMeta = JobSpec & { meta?: JobMeta };

export interface ExperimentRequest {
  name: string;
  stage?: Stage;
  base_models: string[];
  datasets: string[];
  methods: Array<MethodSpec | { name?: string; spec: MethodSpec }>;
  hyperparameters: Partial<Hyperparameters>;
  sweep?: ExperimentSpec['sweep'];
  seeds?: number[];
  suites?: string[];
  priority?: number;
  /**
   * Stages after the first: each result of the stage before is trained further, with the method it was made
   * with, on each of the stage's datasets (e.g. `[{stage: 'dpo', datasets: ['prefs']}]`: SFT, then DPO).
   */
  then?: Array<{ stage: Stage; datasets: string[]; hyperparameters?: Partial<Hyperparameters> }>;
  /**
   * Held-out questions about facts the fine-tunes should have learned, each set asked under its system prompt and
   * scored on whether the answer states one of the accepted values: the `facts` dimension of the factory suite.
   */
  fact_questions?: FactQuestionSet[];
  /** Which trainer runs every job of the experiment: engine (default) or torch. */
  trainer?: TrainerName;
  /** Training precision of every job (fp32 default; bf16 and fp16 with the torch trainer). */
  precision?: Precision;
  gradient_checkpointing?: boolean;
  packing?: boolean;
  /** Data-parallel processes per job (torch trainer). */
  nproc_per_node?: number;
  /** ddp (default) or fsdp, for jobs of several processes (torch trainer). */
  strategy?: ParallelStrategy;
  /** Machines each job spans (torch trainer, on a runner that spans machines). */
  nnodes?: number;
  /** The runner every job of the experiment runs on (default: each where it fits). */
  runner?: string;
}

/**
 * A base a job trains from: a model of the catalog, or the result of a job still to finish (`after`); `label` is
 * its name in leaderboards when that is not the model's name (an earlier stage's result).
 */
interface ResolvedBase { model: CatalogModel; after: string | null; label?: string }

export interface FactoryOptions {
  dataDir: string;
  data: DataService;
  jobs: JobRepository;
  db: Kysely<FactoryTables>;
  scheduler: Scheduler;
  models: ModelCatalog;
  /** Threads each job trains on (default 1: the cores are shared by parallel jobs). */
  threadsPerJob?: number;
  /** The torch trainer (its python, probed on the first torch job); absent: torch jobs are refused. */
  torch?: TorchTrainer;
  /** Size limit of `<data>/hf-cache/` (default: hfCacheMaxBytes(), MODELFAB_HF_CACHE_MAX_GB or 40 GiB). */
  hfCacheMaxBytes?: number;
}

const newId = (prefix: string) => `${prefix}-${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
const sec = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));


function methodFrom(h: HyperparameterRequest): MethodSpec {
  const m = h.fine_tuning_method ?? 'lora';
  if (typeof m === 'object') return normalizeMethod(m);
  switch (m) {
    case 'full': return { type: 'full' };
    case 'freeze': return normalizeMethod({ type: 'freeze', trainableLayers: h.freeze_trainable_layers ?? 1 });
    case 'lora': case 'qlora': return normalizeMethod({ type: m, rank: h.lora_rank ?? 8, alpha: h.lora_alpha ?? 2 * (h.lora_rank ?? 8), dropout: h.lora_dropout ?? 0, targets: h.lora_targets ?? ['all'] });
    case 'prefix': case 'prompt': return normalizeMethod({ type: m, numVirtualTokens: h.num_virtual_tokens ?? 16 });
    default: throw new FactoryError(400, `hyperparameters.fine_tuning_method must be one of full, freeze, lora, qlora, prefix, prompt; got ${JSON.stringify(m)}`, 'hyperparameters.fine_tuning_method');
  }
}

/** "auto" resolved the way OpenAI documents it: more epochs for small datasets, batch size growing with the data. */
export function resolveAuto(h: HyperparameterRequest, rows: number): { epochs: number; batchSize: number; multiplier: number } {
  const num = (v: unknown, name: string, min: number, max: number) => {
    if (v === undefined || v === 'auto') return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new FactoryError(400, `hyperparameters.${name} must be "auto" or a number in [${min}, ${max}], got ${JSON.stringify(v)}`, `hyperparameters.${name}`);
    return v;
  };
  const epochs = num(h.n_epochs, 'n_epochs', 1, 50) ?? Math.min(10, Math.max(1, Math.round(2000 / Math.max(1, rows))));
  const batchSize = num(h.batch_size, 'batch_size', 1, 256) ?? Math.max(1, Math.min(16, 2 ** Math.round(Math.log2(Math.max(1, rows) / 50))));
  const multiplier = num(h.learning_rate_multiplier, 'learning_rate_multiplier', 1e-4, 100) ?? 1;
  return { epochs: Math.round(epochs), batchSize: Math.round(batchSize), multiplier };
}

/** The optimizer steps a job will run (what progress bars count to). */
export function totalStepsOf(job: JobRecord): number {
  const h = job.spec.hyperparameters;
  if (h.maxSteps) return h.maxSteps;
  const rows = (job.spec as SpecWithMeta).meta?.trainRows ?? 0;
  // the retriever stage: every question once an epoch, the last batch short
  if (job.spec.stage === 'retriever') return Math.max(1, Math.ceil(rows / h.batchSize)) * (h.epochs ?? 1);
  return Math.max(1, Math.floor(rows / (h.batchSize * (h.gradAccum ?? 1)))) * (h.epochs ?? 1);
}

/** The name a job's result is registered under: ft:<base>:<suffix>:<job id> (null for jobs made outside the API). */
function modelNameOf(job: JobRecord): string | null {
  const meta = (job.spec as SpecWithMeta).meta;
  return meta ? `ft:${meta.base}:${meta.suffix ?? ''}:${job.id}` : null;
}

/** A dataset as the planner sees it. */
function datasetRef(d: DatasetObject): ExperimentDataset {
  const kind: DataRef['kind'] = d.stage === 'preference' ? 'preference' : d.stage === 'pretrain' ? 'pretrain' : 'sft';
  return { name: d.name, train: { path: `dataset:${d.id}`, kind }, rows: d.version?.train_rows };
}

function baseRef(m: CatalogModel): BaseModelRef {
  return { kind: m.kind, path: m.path } as BaseModelRef;
}

export class FactoryService extends EventEmitter {
  private readonly o: FactoryOptions;
  private readonly threads: number;
  private readonly pending = new Set<Promise<void>>();
  /** Experiments' rows (kysely-jobs.ts), on the factory's database. */
  private readonly experiments: ExperimentRepository;

  constructor(o: FactoryOptions) {
    super();
    this.o = o;
    this.experiments = kyselyExperimentRepository(o.db);
    this.threads = o.threadsPerJob ?? 1;
    o.scheduler.on('status', (id, status, job, observed) => {
      // a change another server made and acts on: only told to this server's listeners
      if (observed) { this.emit('status', id, status, job); return; }
      const p = this.onStatus(id, status, job).finally(() => this.pending.delete(p));
      this.pending.add(p);
    });
    o.scheduler.on('metrics', (id, record) => this.emit('metrics', id, record));
    // a torch job built on a result that did not exist at submission: the result converted once it does
    o.scheduler.setPreparer((job) => (job.spec.trainer === 'torch' && job.spec.base.kind !== 'hf' ? () => this.torchBaseNow(job.spec) : null));
  }

  /** A torch job's spec with its base (another job's result, now made) converted to a Hugging Face folder. */
  private async torchBaseNow(spec: JobSpec): Promise<JobSpec> {
    const hf = await this.hfBase(spec.base);
    const h = spec.hyperparameters;
    const chat = hf.chatTemplate && h.chatTemplate === undefined && spec.stage !== 'pretrain' ? { chatTemplate: hf.chatTemplate } : {};
    return { ...spec, base: { kind: 'hf', path: hf.path }, hyperparameters: { ...h, ...chat } };
  }

  /**
   * A base as the Hugging Face folder the torch trainer reads (hfBaseFor), then the folders' cache kept under its
   * size limit (hf-cache.ts): nothing a job may still run from is dropped (queued, running, paused, or failed and so
   * retriable), nor the folder just handed out.
   */
  private async hfBase(base: BaseModelRef): Promise<HfBase> {
    const hf = hfBaseFor(this.o.dataDir, base);
    const waiting = await this.o.jobs.list({ status: ['validating_files', 'queued', 'running', 'paused', 'failed'] });
    const keep = [hf.path];
    for (const j of waiting) if (j.spec.trainer === 'torch' && j.spec.base.kind === 'hf') keep.push(resolve(this.o.dataDir, j.spec.base.path));
    pruneHfCache(this.o.dataDir, { maxBytes: this.o.hfCacheMaxBytes ?? hfCacheMaxBytes(), keep });
    return hf;
  }

  get scheduler(): Scheduler { return this.o.scheduler; }

  /** Resolves once every status change seen so far has been handled (models registered, listeners told). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  /** A model of the catalog by name (base or made by the factory). */
  catalogGet(name: string): Promise<CatalogModel | null> { return this.o.models.get(name); }
  catalogList(): Promise<CatalogModel[]> { return this.o.models.list(); }
  catalogRegister(m: CatalogModel): Promise<void> { return this.o.models.register(m); }

  private async onStatus(id: string, status: JobStatus, job: JobRecord): Promise<void> {
    try {
      if (status === 'succeeded') {
        const spec = job.spec as SpecWithMeta;
        const manifest = this.manifest(job);
        if (manifest && spec.meta && spec.stage === 'retriever') {
          await this.o.models.register({
            name: this.fineTunedName(job)!, kind: 'retriever', path: manifest.model_dir, role: 'fine-tune', params: manifest.total_params, createdAt: Date.now(),
            meta: { job: id, stage: 'retriever', train_loss: manifest.train_loss, bench: manifest.eval_metrics ?? null, ...spec.meta.metadata },
          });
        } else if (manifest && spec.meta?.registerAs) {
          const config = spec.base.kind === 'scratch' ? { ...spec.base.config, vocabSize: manifest.vocab_size ?? spec.base.config.vocabSize } : undefined;
          await this.o.models.register({
            name: spec.meta.registerAs, kind: 'engine', path: manifest.model_dir, role: 'base', config, params: manifest.total_params, createdAt: Date.now(),
            meta: { job: id, eval_loss: manifest.eval_loss, perplexity: manifest.eval_loss === null ? null : Math.exp(manifest.eval_loss), unigram_perplexity: manifest.unigram_perplexity ?? null, steps: manifest.steps },
          });
        } else if (manifest && spec.meta && spec.trainer === 'torch') {
          await this.registerTorchResult(job, manifest);
        } else if (manifest && spec.meta) {
          const base = await this.o.models.get(spec.meta.base);
          await this.o.models.register({
            name: this.fineTunedName(job)!, kind: 'engine', path: manifest.model_dir, role: 'fine-tune',
            // an adapter names the folder it applies to (the base's, or the merged weights of a fine-tune trained further)
            basePath: manifest.model_kind === 'adapter' ? readModelInfo(manifest.model_dir).base : undefined, config: base?.config,
            params: manifest.total_params, createdAt: Date.now(),
            meta: { job: id, base: spec.meta.base, method: spec.method, eval_loss: manifest.eval_loss, eval_loss_before: manifest.eval_loss_before, experiment: spec.meta.experiment?.id ?? null },
          });
        }
      }
      this.emit('status', id, status, job);
    } catch (e) {
      this.emit('warning', e instanceof Error ? e : new Error(String(e)));
    }
  }

  /**
   * A torch job's result (an HF folder or a PEFT adapter) imported into an engine folder (`model-engine/` beside
   * `model/`) and registered under its ft: name, so the gateway serves it like an engine job's; benchmarked here
   * when the spec asks for it (the torch trainer does not run benchmarks), writing bench.json as the engine does.
   */
  private async registerTorchResult(job: JobRecord, manifest: TrainerManifest): Promise<void> {
    const spec = job.spec as SpecWithMeta;
    const meta = spec.meta!;
    const source = meta.sourceBase ?? spec.base;
    const dest = join(resolve(this.o.dataDir, spec.outputDir), 'model-engine');
    const done = importTorchResult(this.o.dataDir, {
      modelDir: manifest.model_dir, format: manifest.model_format === 'peft' ? 'peft' : 'hf', chatTemplate: manifest.chat_template, base: source,
      meta: { job: job.id, trainer: 'torch', device: manifest.device ?? null, evalLoss: manifest.eval_loss, steps: manifest.steps },
    }, dest);
    if (spec.evaluation && !existsSync(join(spec.outputDir, 'bench.json'))) {
      const gemm = await createGemm({ threads: spec.threads });
      try {
        const b = await evaluateJob(spec.evaluation, {
          gemm, baseDir: source.kind === 'engine' ? resolve(this.o.dataDir, source.path) : null, baseName: spec.baseName ?? 'base',
          modelDir: done.dir, modelName: spec.resultName ?? spec.id,
        });
        writeFileAtomic(join(spec.outputDir, 'bench.json'), JSON.stringify(b));
      } finally {
        gemm.close();
      }
    }
    const base = await this.o.models.get(meta.base);
    await this.o.models.register({
      name: this.fineTunedName(job)!, kind: 'engine', path: done.dir, role: 'fine-tune', basePath: done.basePath, config: base?.config,
      params: manifest.total_params, createdAt: Date.now(),
      meta: {
        job: job.id, base: meta.base, method: spec.method, eval_loss: manifest.eval_loss, eval_loss_before: manifest.eval_loss_before,
        experiment: meta.experiment?.id ?? null, trainer: 'torch', device: manifest.device ?? null, trained_files: manifest.model_dir,
      },
    });
  }

  /** The job's manifest.json, its model_dir resolved (a trainer writes it relative to the data folder). */
  private manifest(job: JobRecord): TrainerManifest | null {
    const p = join(job.spec.outputDir, 'manifest.json');
    if (!existsSync(p)) return null;
    const m = JSON.parse(readFileSync(p, 'utf8')) as TrainerManifest;
    return typeof m.model_dir === 'string' ? { ...m, model_dir: resolveStored(resolve(this.o.dataDir), m.model_dir) } : m;
  }

  fineTunedName(job: JobRecord): string | null {
    return job.status === 'succeeded' ? modelNameOf(job) : null;
  }

  /**
   * The base a job trains from, by name: a model of the catalog, or the base model a pretraining job still in
   * flight will register (the job then waits for it).
   */
  private async resolveBase(name: string, param: string): Promise<ResolvedBase> {
    const m = await this.o.models.get(name);
    if (m?.kind === 'retriever') throw new FactoryError(400, `${param}: model ${name} is a retriever (an embedding model): it is served at /v1/embeddings, not fine-tuned`, param, 'invalid_model');
    if (m) return { model: m, after: null };
    const making = (await this.o.jobs.list({ status: ['queued', 'running', 'paused'] })).find((j) => (j.spec as SpecWithMeta).meta?.registerAs === name);
    if (making && making.spec.base.kind === 'scratch') {
      const config = making.spec.base.config;
      return { model: { name, kind: 'engine', path: join(making.spec.outputDir, 'model'), role: 'base', config, params: parameterCount(config), createdAt: making.createdAt }, after: making.id };
    }
    throw new FactoryError(404, `${param}: model ${name} not found: list models with GET /v1/models or modelfab models list`, param, 'model_not_found');
  }

  /** The result of a job not finished yet, as the base of a job that starts after it (a torch job's, as imported). */
  private pendingResult(job: JobRecord): ResolvedBase {
    const meta = (job.spec as SpecWithMeta).meta;
    const folder = job.spec.trainer === 'torch' ? 'model-engine' : 'model';
    return {
      model: { name: modelNameOf(job) ?? job.id, kind: 'engine', path: join(job.spec.outputDir, folder), role: 'fine-tune', config: meta?.baseConfig, createdAt: job.createdAt },
      after: job.id, label: job.spec.resultName ?? job.spec.name,
    };
  }

  /** Writes a dataset version's records (flattened to engine messages) as the JSON Lines a trainer reads. */
  private async materialize(dataset: string, split: 'train' | 'validation', file: string): Promise<{ path: string; kind: DataRef['kind']; rows: number; stage: DataStage }> {
    const { stage, records } = await this.o.data.records(dataset, split);
    const lines = records.map((r: AnyRecord) => {
      if (stage === 'pretrain') return JSON.stringify({ text: (r as { text: string }).text });
      if (stage === 'sft') return JSON.stringify({ messages: engineMessages((r as { messages: never[] }).messages, (r as { tools?: unknown[] }).tools) });
      if (stage === 'preference') {
        const p = r as { messages: never[]; chosen: never; rejected: never; tools?: unknown[] };
        const [chosen] = engineMessages([p.chosen]), [rejected] = engineMessages([p.rejected]);
        return JSON.stringify({ messages: engineMessages(p.messages, p.tools), chosen, rejected });
      }
      throw new FactoryError(400, `dataset ${dataset} is a ${stage} dataset; the engine trains pretrain, sft and preference data`, 'training_file');
    });
    writeFileSync(file, lines.join('\n') + '\n');
    const kind: DataRef['kind'] = stage === 'preference' ? 'preference' : stage === 'pretrain' ? 'pretrain' : 'sft';
    return { path: file, kind, rows: records.length, stage };
  }

  private async datasetFor(req: CreateJobRequest): Promise<{ dataset: DatasetObject; trainingFile: string | null; validationFile: string | null }> {
    if (req.dataset) {
      try { return { dataset: await this.o.data.getDataset(req.dataset), trainingFile: null, validationFile: null }; } catch (e) {
        throw new FactoryError(404, `dataset ${req.dataset} not found`, 'dataset', 'dataset_not_found');
      }
    }
    if (!req.training_file) throw new FactoryError(400, 'training_file is required (or dataset)', 'training_file');
    const name = `${req.training_file}${req.validation_file ? `.${req.validation_file}` : ''}`;
    try {
      const dataset = await this.o.data.importDataset({ name, source: { fileId: req.training_file }, ...(req.validation_file ? { validation: { fileId: req.validation_file } } : {}) });
      return { dataset, trainingFile: req.training_file, validationFile: req.validation_file ?? null };
    } catch (e) {
      const err = e as Error & { status?: number; statusCode?: number };
      throw new FactoryError(err.statusCode ?? err.status ?? 400, `training_file ${req.training_file}: ${err.message}`, 'training_file', 'invalid_training_file');
    }
  }

  /** POST /v1/fine_tuning/jobs */
  async createJob(req: CreateJobRequest, opts: { experiment?: JobMeta['experiment']; priority?: number; hyperparameters?: Partial<Hyperparameters>; evaluation?: EvaluationSpec; base?: ResolvedBase; name?: string } = {}): Promise<JobRecord> {
    if (!req || typeof req.model !== 'string') throw new FactoryError(400, 'model is required', 'model');
    const resolved = opts.base ?? await this.resolveBase(req.model, 'model');
    const base = resolved.model;
    if (req.suffix !== undefined && (typeof req.suffix !== 'string' || req.suffix.length > 64 || /[:\s]/.test(req.suffix))) {
      throw new FactoryError(400, 'suffix must be a string of at most 64 characters without colons or spaces', 'suffix');
    }
    const methodType = req.method?.type ?? 'supervised';
    if (methodType !== 'supervised' && methodType !== 'dpo') throw new FactoryError(400, `method.type must be supervised or dpo, got ${JSON.stringify(methodType)}`, 'method.type');
    const hreq: HyperparameterRequest = { ...(req.hyperparameters ?? {}), ...(req.method?.[methodType]?.hyperparameters ?? {}) };
    let method: MethodSpec;
    try { method = methodFrom(hreq); } catch (e) { throw e instanceof FactoryError ? e : new FactoryError(400, (e as Error).message, 'hyperparameters.fine_tuning_method'); }
    if (method.type === 'qlora' && base.quantized) throw new FactoryError(400, `QLoRA quantizes the base to 4 bits, but ${base.name} is already quantized: use LoRA`, 'hyperparameters.fine_tuning_method');
    const trainer = trainerOptions(hreq);
    const packingWhy = trainer.packing ? packingRefusal(methodType === 'dpo' ? 'dpo' : 'sft', method.type) : null;
    if (packingWhy) throw new FactoryError(400, `hyperparameters.packing: ${packingWhy}`, 'hyperparameters.packing');
    const runner = this.runnerFor(req.runner !== undefined ? req.runner : hreq.runner, req.runner !== undefined ? 'runner' : 'hyperparameters.runner');
    this.checkMachines(trainer.nodes ?? 1, runner);
    const { dataset, trainingFile, validationFile } = await this.datasetFor(req);
    const wantStage: DataStage = methodType === 'dpo' ? 'preference' : 'sft';
    if (dataset.stage !== wantStage && !(methodType === 'supervised' && dataset.stage === 'pretrain')) {
      throw new FactoryError(400, `method ${methodType} needs a ${wantStage} dataset, but ${dataset.name} is a ${dataset.stage} dataset`, 'training_file', 'invalid_training_file');
    }
    // A torch job is checked before anything is written: the trainer installed and able to run it, its base in
    // the Hugging Face format (converted once, cached in the data folder).
    const torchBase = trainer.trainer === 'torch' ? await this.torchBase(methodType === 'dpo' ? 'dpo' : dataset.stage === 'pretrain' ? 'pretrain' : 'sft', method, resolved, trainer) : null;
    const id = newId('ftjob');
    const dir = resolve(this.o.dataDir, 'jobs', id);
    mkdirSync(join(dir, 'data'), { recursive: true });
    const train = await this.materialize(dataset.id, 'train', join(dir, 'data', 'train.jsonl'));
    const val = (dataset.version?.validation_rows ?? 0) > 0 ? await this.materialize(dataset.id, 'validation', join(dir, 'data', 'validation.jsonl')) : null;
    const auto = resolveAuto(hreq, train.rows);
    const seqLen = hreq.seq_len ?? opts.hyperparameters?.seqLen ?? Math.min(256, base.config?.contextLength ?? 256);
    const hyper: Hyperparameters = {
      batchSize: auto.batchSize, epochs: auto.epochs, lr: METHOD_LR[method.type] * auto.multiplier, seqLen, warmupRatio: 0.05,
      schedule: 'cosine', minLrRatio: 0.1, maxGradNorm: 1, checkpointEvery: 25, evalEvery: 0,
      ...(methodType === 'dpo' ? { preference: { loss: hreq.preference_loss ?? 'dpo', ...(typeof hreq.beta === 'number' ? { beta: hreq.beta } : {}) } } : {}),
      ...(opts.hyperparameters ?? {}),
    };
    const stage: Stage = methodType === 'dpo' ? 'dpo' : train.kind === 'pretrain' ? 'pretrain' : 'sft';
    const seed = Number.isInteger(req.seed) ? req.seed! : Math.floor(Math.random() * 2 ** 31);
    const meta: JobMeta = {
      base: base.name, suffix: req.suffix ?? null, trainingFile, validationFile, dataset: dataset.name, metadata: req.metadata ?? {},
      // the multiplier of the learning rate the job really trains with (an experiment's value or sweep point)
      hyperparameters: { n_epochs: hyper.epochs ?? auto.epochs, batch_size: hyper.batchSize, learning_rate_multiplier: opts.hyperparameters?.lr === undefined ? auto.multiplier : hyper.lr / METHOD_LR[method.type], ...(methodType === 'dpo' ? { beta: typeof hreq.beta === 'number' ? hreq.beta : 0.1 } : {}) },
      methodType, createdAt: Date.now(), trainRows: train.rows, ...(opts.experiment ? { experiment: opts.experiment } : {}),
      ...(base.config ? { baseConfig: base.config } : {}),
      // stored relative to the data folder when inside it (meta is not mapped by spec-paths.ts), so the folder can move
      ...(torchBase ? { sourceBase: { kind: base.kind, path: storedPath(resolve(this.o.dataDir), resolve(this.o.dataDir, base.path)) } as BaseModelRef } : {}),
    };
    const name = opts.name ?? (opts.experiment ? `${base.name} x ${opts.experiment.dataset} x ${opts.experiment.method}` : `${base.name} x ${dataset.name}`);
    const hfBase = torchBase && torchBase !== 'later' ? torchBase : null;
    if (hfBase?.chatTemplate && hyper.chatTemplate === undefined && stage !== 'pretrain') hyper.chatTemplate = hfBase.chatTemplate;
    const spec: SpecWithMeta = {
      version: 1, id, name, ...trainer,
      // a torch job on a base still being trained names that base until the scheduler has it converted (torchBaseNow)
      stage, base: hfBase ? { kind: 'hf', path: hfBase.path } : baseRef(base), method, data: { train: { path: train.path, kind: train.kind }, ...(val ? { validation: { path: val.path, kind: val.kind } } : {}) },
      hyperparameters: hyper, seed, outputDir: dir, threads: this.threads, meta,
      ...(opts.evaluation ? { evaluation: opts.evaluation, resultName: opts.experiment ? name : `ft:${base.name}:${req.suffix ?? ''}:${id}`, baseName: resolved.label ?? base.name } : {}),
    };
    const estimate = estimateJob(base.config, method, hyper, { name: dataset.name, train: { path: train.path, kind: train.kind }, rows: train.rows }, this.threads);
    // a torch job on a machine with GPUs takes one per process, each with the memory the job is estimated to need
    // there (a job no GPU can hold is refused here, with the figures, by the scheduler's neverFits)
    if (trainer.trainer === 'torch' && base.config && (this.o.scheduler.capacity(runner).gpus ?? 0) > 0) {
      estimate.resources.gpus = trainer.processes ?? 1;
      // every process of every machine holds its share (FSDP shards over all of them)
      estimate.resources.gpuMemoryMB = torchGpuMemoryMB(base.config, method, hyper, estimate.trainableParams, { ...trainer, processes: (trainer.processes ?? 1) * (trainer.nodes ?? 1) });
    }
    try {
      return await this.o.scheduler.submit(spec, { priority: opts.priority ?? 0, experimentId: opts.experiment?.id ?? null, estimate: estimate.resources, after: resolved.after ? [resolved.after] : [], runner });
    } catch (e) {
      if (e instanceof SchedulerError) throw new FactoryError(e.code === 'not_found' ? 404 : e.code === 'conflict' ? 409 : 400, e.message);
      throw e;
    }
  }

  /** A job of `nodes` machines needs a runner that spans them (a 400 naming hyperparameters.nnodes otherwise). */
  private checkMachines(nodes: number, runner: string | null): void {
    if (nodes <= 1) return;
    const most = this.o.scheduler.machines(runner);
    if (most >= nodes) return;
    const where = runner ? `runner ${runner} runs a job on ${most === 1 ? 'one machine' : `at most ${most} machines`}` : `none of this server's runners spans ${nodes} machines (${this.o.scheduler.runnerNames().map((n) => `${n}: ${this.o.scheduler.machines(n)}`).join(', ')})`;
    throw new FactoryError(400, `hyperparameters.nnodes ${nodes}: ${where}; several machines need a Slurm or Kubernetes runner`, 'hyperparameters.nnodes');
  }

  /** The runner a request names, checked against the server's (a 400 naming `param`), or null for any. */
  private runnerFor(name: unknown, param: string): string | null {
    if (name === undefined || name === null) return null;
    const names = this.o.scheduler.runnerNames();
    if (typeof name !== 'string' || !names.includes(name)) {
      throw new FactoryError(400, `${param} must name one of this server's runners (${names.join(', ')}), got ${JSON.stringify(name)}`, param, 'unknown_runner');
    }
    return name;
  }

  /** The HF base a torch job trains from, or a 400 with the reason it cannot run on the torch trainer. */
  private async torchBase(stage: Stage, method: MethodSpec, resolved: ResolvedBase, o: TrainerOptions): Promise<{ path: string; chatTemplate?: string } | 'later'> {
    const refuse = (msg: string) => new FactoryError(400, msg, 'hyperparameters.trainer', 'trainer_unavailable');
    if (!this.o.torch) throw refuse('the torch trainer is not configured on this server');
    const why = await this.o.torch.refusal(stage, method.type, o);
    if (why) throw refuse(why);
    // a base still being trained is converted once it exists, before the job is placed (torchBaseNow)
    if (resolved.after) return 'later';
    try {
      return await this.hfBase(baseRef(resolved.model));
    } catch (e) {
      throw refuse(`base model ${resolved.model.name} cannot be converted for the torch trainer: ${(e as Error).message}`);
    }
  }

  /** The job as Kubernetes manifests (kubernetes-manifests.ts), its paths relative to the data folder the pods mount. */
  async manifests(id: string, o: KubernetesOptions): Promise<KubernetesManifest[]> {
    const job = await this.getJob(id);
    try {
      return kubernetesManifests(relativeSpec(resolve(this.o.dataDir), job.spec), job.estimate, o);
    } catch (e) {
      throw new FactoryError(400, (e as Error).message);
    }
  }

  async getJob(id: string): Promise<JobRecord> {
    const j = await this.o.jobs.get(id);
    if (!j) throw new FactoryError(404, `fine-tuning job ${id} not found`, 'fine_tuning_job_id', 'not_found');
    return j;
  }

  /** GET /v1/fine_tuning/jobs: newest first, cursor `after` (a job id), like OpenAI. */
  async listJobs(opts: { after?: string; limit?: number; experimentId?: string; metadata?: Record<string, string> } = {}): Promise<{ data: JobRecord[]; has_more: boolean }> {
    const limit = Math.max(1, Math.min(100, opts.limit ?? 20));
    let all = (await this.o.jobs.list(opts.experimentId ? { experimentId: opts.experimentId } : {})).reverse();
    if (opts.metadata) all = all.filter((j) => Object.entries(opts.metadata!).every(([k, v]) => (j.spec as SpecWithMeta).meta?.metadata?.[k] === v));
    let start = 0;
    if (opts.after) {
      const i = all.findIndex((j) => j.id === opts.after);
      if (i < 0) throw new FactoryError(400, `after: no job ${opts.after}`, 'after');
      start = i + 1;
    }
    return { data: all.slice(start, start + limit), has_more: start + limit < all.length };
  }

  async cancel(id: string): Promise<JobRecord> { return this.act(() => this.o.scheduler.cancel(id)); }
  async pause(id: string): Promise<JobRecord> { return this.act(() => this.o.scheduler.pause(id)); }
  async resume(id: string): Promise<JobRecord> { return this.act(() => this.o.scheduler.resume(id)); }

  private async act(f: () => Promise<JobRecord>): Promise<JobRecord> {
    try { return await f(); } catch (e) {
      if (e instanceof SchedulerError) throw new FactoryError(e.code === 'not_found' ? 404 : 409, e.message, null, e.code);
      throw e;
    }
  }

  /** The job's metrics so far (metrics.jsonl). */
  metrics(job: JobRecord): MetricsRecord[] {
    const p = join(job.spec.outputDir, 'metrics.jsonl');
    return existsSync(p) ? readMetrics(p) : [];
  }

  /** GET .../events: scheduler events, the trainer's events and metric lines, newest first (OpenAI's order). */
  async events(id: string, opts: { after?: string; limit?: number } = {}): Promise<{ data: JobEventObject[]; has_more: boolean }> {
    const job = await this.getJob(id);
    const out: JobEventObject[] = [];
    for (const e of await this.o.jobs.events(id)) out.push({ object: 'fine_tuning.job.event', id: `ftevent-${id}-s${e.seq}`, created_at: Math.floor(e.at / 1000), level: e.type === 'error' ? 'error' : 'info', message: e.message, type: 'message', data: e.data ?? null });
    const evFile = join(job.spec.outputDir, 'events.jsonl');
    if (existsSync(evFile)) {
      readFileSync(evFile, 'utf8').split('\n').forEach((l, i) => {
        if (!l.trim()) return;
        try { const e = JSON.parse(l); out.push({ object: 'fine_tuning.job.event', id: `ftevent-${id}-w${i}`, created_at: e.created_at, level: e.level, message: e.message, type: 'message', data: e.data ?? null }); } catch { /* a partial last line while the worker writes */ }
      });
    }
    for (const m of this.metrics(job)) {
      out.push({ object: 'fine_tuning.job.event', id: `ftevent-${id}-m${m.step}`, created_at: Math.floor((job.startedAt ?? job.createdAt) / 1000 + m.elapsed_s), level: 'info', message: `Step ${m.step}: training loss=${m.loss.toFixed(4)}${m.eval_loss !== undefined ? `, validation loss=${Number(m.eval_loss).toFixed(4)}` : ''}`, type: 'metrics', data: m });
    }
    out.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
    let start = 0;
    if (opts.after) { const i = out.findIndex((e) => e.id === opts.after); start = i < 0 ? 0 : i + 1; }
    const limit = Math.max(1, Math.min(1000, opts.limit ?? 20));
    return { data: out.slice(start, start + limit), has_more: start + limit < out.length };
  }

  /** GET .../checkpoints */
  async checkpoints(id: string): Promise<CheckpointObject[]> {
    const job = await this.getJob(id);
    const metrics = this.metrics(job);
    const base = (job.spec as SpecWithMeta).meta?.base ?? 'model';
    return listCheckpoints(job.spec.outputDir).reverse().map((c) => {
      const m = metrics.find((r) => r.step === c.step);
      const at = m ? Math.floor((job.startedAt ?? job.createdAt) / 1000 + m.elapsed_s) : sec(job.updatedAt)!;
      return {
        object: 'fine_tuning.job.checkpoint', id: `ftckpt-${id}-${c.step}`, created_at: at, fine_tuning_job_id: id, step_number: c.step,
        fine_tuned_model_checkpoint: `ft:${base}:${(job.spec as SpecWithMeta).meta?.suffix ?? ''}:${id}:ckpt-step-${c.step}`,
        metrics: m ? { step: m.step, train_loss: m.loss, ...(m.eval_loss !== undefined ? { valid_loss: Number(m.eval_loss) } : {}) } : { step: c.step },
      };
    });
  }

  /** The OpenAI fine_tuning.job object of a record. */
  jobObject(job: JobRecord): FineTuningJobObject {
    const meta = (job.spec as SpecWithMeta).meta;
    const manifest = job.status === 'succeeded' ? this.manifest(job) : null;
    const metrics = job.status === 'running' ? this.metrics(job) : [];
    const last = metrics.at(-1);
    const status: FineTuningJobObject['status'] = job.status === 'paused' ? 'paused' : job.status;
    const h = meta?.hyperparameters ?? { n_epochs: job.spec.hyperparameters.epochs ?? 1, batch_size: job.spec.hyperparameters.batchSize, learning_rate_multiplier: 1 };
    const hyperparameters = { ...h, fine_tuning_method: job.spec.method.type, method_options: job.spec.method };
    return {
      object: 'fine_tuning.job', id: job.id, model: meta?.base ?? job.spec.base.kind, created_at: sec(job.createdAt)!,
      finished_at: TERMINAL_STATUSES.includes(job.status) ? sec(job.finishedAt ?? job.updatedAt) : null,
      fine_tuned_model: this.fineTunedName(job), organization_id: 'org-modelfab', result_files: [], status,
      validation_file: meta?.validationFile ?? null, training_file: meta?.trainingFile ?? null, hyperparameters,
      trained_tokens: manifest ? Math.round(manifest.tokens_per_s * manifest.elapsed_s) : null,
      error: job.status === 'failed' ? { code: 'training_failed', message: job.error ?? 'the trainer failed', param: null } : null,
      seed: job.spec.seed, suffix: meta?.suffix ?? null, user_provided_suffix: meta?.suffix ?? null,
      estimated_finish: last && last.eta_s > 0 ? Math.floor(Date.now() / 1000 + last.eta_s) : null,
      integrations: [], metadata: meta?.metadata ?? {},
      method: { type: meta?.methodType ?? 'supervised', [meta?.methodType ?? 'supervised']: { hyperparameters } },
      modelfab: {
        name: job.spec.name, stage: job.spec.stage, dataset: meta?.dataset ?? null, experiment_id: job.experimentId, depends_on: job.dependsOn, step: last?.step ?? job.step,
        attempts: job.attempts, estimate: job.estimate, total_steps: totalStepsOf(job), eval_loss: manifest?.eval_loss ?? null, eval_loss_before: manifest?.eval_loss_before ?? null,
        trainable_params: manifest?.trainable_params ?? null, eval_metrics: manifest?.eval_metrics ?? null,
        trainer: job.spec.trainer ?? 'engine', processes: job.spec.processes ?? 1, nodes: job.spec.nodes ?? 1, device: manifest?.device ?? (manifest ? `cpu (${job.spec.threads} threads)` : null),
        runner: job.runner, runner_ref: job.workerRef, runner_node: job.placement?.node ?? null,
      },
    };
  }

  // ------------------------------------------------------------------ experiments

  /**
   * Names resolved and the whole experiment planned: the first stage's grid, then the stages in `then`. The
   * request is validated first (every problem at once, by field path); a plan without a single job is an error
   * that gives the reason of each rejected combination.
   */
  private async planAll(req: ExperimentRequest) {
    const problems = validateExperimentRequest(req, { file: 'experiment' });
    if (problems.length) {
      const err = new ExperimentValidationError(problems);
      throw new FactoryError(400, err.message, problems[0].path ?? null, 'invalid_experiment', problems);
    }
    if (req.fact_questions !== undefined) {
      const { problems } = validateFactQuestionSets(req.fact_questions);
      if (!(req.suites ?? ['factory']).includes('factory')) problems.push('fact_questions: are asked by the factory suite, which suites leaves out');
      if (problems.length) throw new FactoryError(400, problems.join('; '), 'fact_questions');
    }
    const stage: Stage = req.stage ?? 'sft';
    if (req.packing) {
      for (const st of [stage, ...(req.then ?? []).map((t) => t.stage)]) {
        for (const [i, m] of req.methods.entries()) {
          const why = packingRefusal(st, 'spec' in m ? m.spec.type : m.type);
          if (why) throw new FactoryError(400, `packing: ${why}`, `methods[${i}]`, 'invalid_experiment');
        }
      }
    }
    if (req.trainer === 'torch') await this.torchExperimentRefusal(req, stage);
    // Every name that is not found is reported at once, with the nearest known name.
    const missing: Problem[] = [], missingKinds = new Set<string>();
    let known: { models: string[]; datasets: string[] } | null = null;
    const knownNames = async () => (known ??= {
      models: (await this.o.models.list()).map((m) => m.name),
      datasets: (await this.o.data.listDatasets()).map((d) => d.name),
    });
    const notFound = async (kind: 'model' | 'dataset', name: unknown, path: string) => {
      const near = typeof name === 'string' ? nearest(name, (await knownNames())[kind === 'model' ? 'models' : 'datasets']) : null;
      missingKinds.add(kind);
      missing.push({ file: 'experiment', path, message: `no ${kind} named '${String(name)}'${near ? ` (did you mean '${near}'?)` : ''}: list them with modelfab ${kind}s list` });
    };
    const bases = await Promise.all(req.base_models.map(async (n, i) => {
      try { return await this.resolveBase(n, `base_models[${i}]`); } catch (e) {
        if (e instanceof FactoryError && e.status === 404) { await notFound('model', n, `base_models[${i}]`); return null; }
        throw e;
      }
    }));
    const datasetsOf = (names: readonly string[], param: string) => Promise.all(names.map(async (n, i) => {
      try { return await this.o.data.getDataset(String(n)); } catch { await notFound('dataset', n, `${param}[${i}]`); return null; }
    }));
    const firstSets = await datasetsOf(req.datasets, 'datasets');
    const laterSets = await Promise.all((req.then ?? []).map((t, i) => datasetsOf(t.datasets, `then[${i}].datasets`)));
    if (missing.length) {
      throw new FactoryError(404, `${missing.length} name(s) not found:${missing.map((p) => `\n  ${p.path}: ${p.message}`).join('')}`, missing[0].path ?? null,
        missingKinds.size > 1 ? 'not_found' : missingKinds.has('model') ? 'model_not_found' : 'dataset_not_found', missing);
    }
    const present = <T,>(xs: Array<T | null>) => xs as T[];
    if (req.trainer === 'torch') {
      const pending = bases.find((b) => b?.after);
      if (pending) throw new FactoryError(400, `the torch trainer needs its base model before the jobs are queued, but ${pending.model.name} is still being trained (job ${pending.after}); start the experiment once it has succeeded`, 'base_models', 'trainer_unavailable');
    }
    const datasets = present(firstSets);
    const later = (req.then ?? []).map((t, i) => ({ req: t, datasets: present(laterSets[i]) }));
    const spec = this.experimentSpec(req, stage, present(bases).map((b) => b.model), datasets);
    let plan: ReturnType<typeof planExperiment>, follow: ReturnType<typeof planFollowUps>;
    try {
      plan = planExperiment(spec, this.threads);
      follow = planFollowUps(plan.jobs, later.map((t) => ({ stage: t.req.stage, datasets: t.datasets.map(datasetRef), hyperparameters: t.req.hyperparameters ?? {} })), this.threads);
    } catch (e) {
      if (e instanceof ExperimentError) throw new FactoryError(400, e.message, null, 'invalid_experiment');
      throw e;
    }
    const rejected = [...plan.rejected, ...follow.rejected];
    if (plan.jobs.length === 0) {
      const reasons: Problem[] = rejected.map((r) => ({ file: 'experiment', message: `${r.name}: ${r.reason}` }));
      throw new FactoryError(400, `experiment ${req.name} plans no job: every combination was rejected (${rejected.length})${reasons.map((p) => `\n  ${p.message}`).join('')}`, null, 'no_jobs', reasons);
    }
    return { stage, bases: present(bases), datasets, later, plan, follow, rejected };
  }

  /**
   * An experiment on the torch trainer is refused before anything is made when the trainer is missing or does not
   * run one of its stages (the first, and those in `then`, whose jobs train from results converted once they
   * exist) or methods.
   */
  private async torchExperimentRefusal(req: ExperimentRequest, stage: Stage): Promise<void> {
    const refuse = (msg: string, param: string) => new FactoryError(400, msg, param, 'trainer_unavailable');
    if (!this.o.torch) throw refuse('the torch trainer is not configured on this server', 'trainer');
    const stages: Array<[Stage, string]> = [[stage, 'trainer'], ...(req.then ?? []).map((t, k): [Stage, string] => [t.stage, `then[${k}].stage`])];
    for (const [st, param] of stages) {
      for (const [i, m] of req.methods.entries()) {
        const type = 'spec' in m ? m.spec.type : m.type;
        const why = await this.o.torch.refusal(st, type, { precision: req.precision, packing: req.packing, gradientCheckpointing: req.gradient_checkpointing, strategy: req.strategy });
        if (why) throw refuse(why, /^the torch trainer does not run method/.test(why) ? `methods[${i}]` : /does not run stage/.test(why) ? param : 'trainer');
      }
    }
  }

  /** POST /v1/experiments: names resolved, the grid planned, one job per combination submitted. */
  async createExperiment(req: ExperimentRequest): Promise<ExperimentObject> {
    this.runnerFor(req.runner, 'runner');
    if (req.nnodes !== undefined && !isNodeCount(req.nnodes)) throw new FactoryError(400, `nnodes must be an integer from 1 to 64, got ${JSON.stringify(req.nnodes)}`, 'nnodes');
    if ((req.nnodes ?? 1) > 1 && (req.trainer ?? 'engine') === 'engine') throw new FactoryError(400, 'nnodes: the engine trains on one machine; use trainer torch to span several', 'nnodes');
    try { this.checkMachines(req.nnodes ?? 1, req.runner ?? null); } catch (e) { throw new FactoryError(400, (e as Error).message.replace(/^hyperparameters\./, ''), 'nnodes'); }
    const { stage, bases, datasets, later, plan, follow, rejected } = await this.planAll(req);
    const id = newId('exp');
    const suites = req.suites ?? ['factory'];
    let evaluation: EvaluationSpec | undefined;
    if (suites.includes('factory')) {
      const hdir = resolve(this.o.dataDir, 'experiments', id, 'heldout');
      mkdirSync(hdir, { recursive: true });
      const held: EvaluationSpec['datasets'] = [];
      for (const d of datasets) {
        if ((d.version?.validation_rows ?? 0) === 0 || d.stage !== 'sft') continue;
        held.push({ name: d.name, path: (await this.materialize(d.id, 'validation', join(hdir, `${d.name}.jsonl`))).path });
      }
      const factQuestions: NonNullable<EvaluationSpec['factQuestions']> = [];
      for (const f of req.fact_questions ?? []) {
        const path = join(hdir, `${f.name}.facts.jsonl`);
        writeFileSync(path, factQuestionsJsonl(f.questions));
        factQuestions.push({ name: f.name, path, ...(f.system ? { system: f.system } : {}) });
      }
      evaluation = {
        cacheDir: resolve(this.o.dataDir, 'bench-cache'), datasets: held, limit: 12, needleLengths: [120, 300], seed: req.seeds?.[0] ?? 0,
        ...(factQuestions.length ? { factQuestions } : {}),
      };
    }
    await this.experiments.create({
      id, name: req.name, created_at: Date.now(), status: 'running', spec: JSON.stringify(req),
      plan: JSON.stringify({ jobs: {}, rejected, duplicates: plan.duplicates }),
    });
    const jobs = new Map<string, JobRecord>();
    const manySeeds = (req.seeds?.length ?? 0) > 1;
    const trainer = {
      ...(req.trainer !== undefined ? { trainer: req.trainer } : {}), ...(req.precision !== undefined ? { precision: req.precision } : {}),
      ...(req.gradient_checkpointing !== undefined ? { gradient_checkpointing: req.gradient_checkpointing } : {}), ...(req.packing !== undefined ? { packing: req.packing } : {}),
      ...(req.nproc_per_node !== undefined ? { nproc_per_node: req.nproc_per_node } : {}), ...(req.strategy !== undefined ? { strategy: req.strategy } : {}),
      ...(req.nnodes !== undefined ? { nnodes: req.nnodes } : {}), ...(req.runner !== undefined ? { runner: req.runner } : {}),
    };
    // The planned job's hyperparameters are final (defaults < the experiment's < the sweep point; a later stage:
    // its parent's, then its own), so they win over "auto"; the job's name and model suffix carry the sweep point.
    const submit = async (p: PlannedJob, st: Stage, base: ResolvedBase) => {
      jobs.set(p.key, await this.createJob(this.jobRequestFor(p, st, modelSuffix(p, manySeeds), trainer), {
        experiment: { id, key: p.key, dataset: p.dataset.name, method: p.methodName }, priority: req.priority ?? 0,
        hyperparameters: p.hyperparameters, evaluation, base, name: p.name,
      }));
    };
    // The first stage is submitted longest first (the scheduler starts jobs in submission order within an
    // experiment), so the long jobs do not start last and leave cores idle at the end; listed in plan order.
    const byLength = plan.jobs.map((p, i) => ({ p, i })).sort((a, b) => b.p.estimate.seconds - a.p.estimate.seconds || a.i - b.i);
    for (const { p } of byLength) await submit(p, stage, bases.find((b) => b.model.name === p.base.name)!);
    // Each later job starts once the job it builds on has succeeded.
    for (const [i, st] of follow.stages.entries()) {
      for (const p of st) await submit(p, later[i].req.stage, this.pendingResult(jobs.get(p.parent)!));
    }
    const jobIds = Object.fromEntries([...plan.jobs, ...follow.stages.flat()].map((p) => [p.key, jobs.get(p.key)!.id]));
    await this.experiments.setPlan(id, JSON.stringify({ jobs: jobIds, rejected, duplicates: plan.duplicates }));
    return this.getExperiment(id);
  }

  /** The experiment as the planner sees it: names resolved to models and dataset versions, defaults filled. */
  private experimentSpec(req: ExperimentRequest, stage: Stage, bases: readonly CatalogModel[], datasets: readonly DatasetObject[]): ExperimentSpec {
    return {
      name: req.name, stage,
      baseModels: bases.map((b) => ({ name: b.name, ref: baseRef(b), config: b.config, quantized: b.quantized })),
      datasets: datasets.map(datasetRef),
      methods: req.methods.map((m) => ('spec' in m ? m : { spec: m })) as ExperimentSpec['methods'],
      hyperparameters: req.hyperparameters ?? {},
      sweep: req.sweep, seeds: req.seeds, suites: req.suites, priority: req.priority,
    };
  }

  private jobRequestFor(p: PlannedJob, stage: Stage, suffix: string, trainer: Pick<HyperparameterRequest, 'trainer' | 'precision' | 'gradient_checkpointing' | 'packing' | 'nproc_per_node' | 'strategy' | 'nnodes' | 'runner'>): CreateJobRequest {
    const h = p.hyperparameters;
    return {
      model: p.base.name, dataset: p.dataset.name, seed: p.seed, suffix,
      method: { type: stage === 'dpo' ? 'dpo' : 'supervised', [stage === 'dpo' ? 'dpo' : 'supervised']: { hyperparameters: {
        fine_tuning_method: p.method, ...(h.epochs ? { n_epochs: h.epochs } : {}), batch_size: h.batchSize, ...trainer,
      } } },
    };
  }

  async getExperiment(id: string): Promise<ExperimentObject> {
    const row = await this.experiments.get(id);
    if (!row) throw new FactoryError(404, `experiment ${id} not found`, 'experiment_id', 'not_found');
    const plan = JSON.parse(row.plan) as { jobs: Record<string, string>; rejected: { name: string; reason: string }[]; duplicates: number };
    const order = new Map(Object.values(plan.jobs).map((jid, i) => [jid, i]));
    const jobs = (await this.o.jobs.list({ experimentId: id })).sort((a, b) => (order.get(a.id) ?? Infinity) - (order.get(b.id) ?? Infinity));
    const counts: Record<string, number> = {};
    for (const j of jobs) counts[j.status] = (counts[j.status] ?? 0) + 1;
    const done = jobs.length > 0 && jobs.every((j) => TERMINAL_STATUSES.includes(j.status));
    const status = done ? (jobs.some((j) => j.status === 'failed') ? 'completed_with_failures' : 'succeeded') : jobs.some((j) => j.status === 'running') ? 'running' : 'queued';
    return {
      object: 'experiment', id, name: row.name, created_at: Math.floor(Number(row.created_at) / 1000), status, counts,
      spec: JSON.parse(row.spec), rejected: plan.rejected, duplicates: plan.duplicates,
      jobs: jobs.map((j) => this.jobObject(j)),
    };
  }

  /** The experiment's leaderboard: every fine-tune and each base model, overall and per dimension. */
  async leaderboard(id: string): Promise<LeaderboardObject> {
    await this.getExperiment(id);
    const jobs = await this.o.jobs.list({ experimentId: id });
    const runs: BenchmarkRun[] = [];
    const bases = new Set<string>();
    let pending = 0;
    const results: JobBench[] = [];
    const ids = new Set<string>();
    for (const j of jobs) {
      const f = join(j.spec.outputDir, 'bench.json');
      if (j.status !== 'succeeded' || !existsSync(f)) { if (!TERMINAL_STATUSES.includes(j.status)) pending++; continue; }
      const b = JSON.parse(readFileSync(f, 'utf8')) as JobBench;
      // Every fine-tune is a row of its own: two results under one name (experiments made before names carried
      // the sweep values) are told apart by their job ids instead of collapsing into one row.
      if (ids.has(b.model.model.id)) b.model = { ...b.model, model: { ...b.model.model, id: `${b.model.model.id} (${j.id})`, name: `${b.model.model.name} (${j.id})` } };
      ids.add(b.model.model.id);
      results.push(b);
    }
    // Each model once: a result that a later stage built on is also that job's base.
    for (const b of results) { runs.push(b.model); bases.add(b.model.model.id); }
    for (const b of results) if (b.base && !bases.has(b.base.model.id)) { bases.add(b.base.model.id); runs.push(b.base); }
    const leaderboard = buildLeaderboard(runs);
    return { object: 'leaderboard', experiment_id: id, leaderboard, text: runs.length ? formatLeaderboard(leaderboard) : '(no benchmark results yet)', pending };
  }

  async listExperiments(): Promise<ExperimentObject[]> {
    return Promise.all((await this.experiments.listIds()).map((id) => this.getExperiment(id)));
  }

  /** Plans an experiment without submitting it: "N jobs", estimates and rejected combinations, for the wizard. */
  async planOnly(req: ExperimentRequest): Promise<ExperimentPlanObject> {
    const { plan, follow, rejected } = await this.planAll(req);
    return {
      jobs: [...plan.jobs, ...follow.stages.flat()].map((j) => ({ name: j.name, estimate: j.estimate })),
      rejected, duplicates: plan.duplicates,
    };
  }

  /**
   * A retriever job (the retriever stage, retriever-job.ts): a dual encoder trained on `units` and the `questions`
   * they answer, benchmarked on `validation` questions when given; on success it is registered as
   * `ft:dual-encoder:<name>:<job id>`, an embedding model the gateway serves at /v1/embeddings.
   */
  async createRetrieverJob(o: RetrieverJobRequest): Promise<JobRecord> {
    if (typeof o.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(o.name)) throw new FactoryError(400, 'name must be 1-64 letters, digits, _ . -', 'name');
    if (!Array.isArray(o.units) || !o.units.length) throw new FactoryError(400, 'units must list at least one unit', 'units');
    const opts = { ...DEFAULT_RETRIEVER, ...(o.options ?? {}) };
    for (const k of ['vocab', 'dims', 'batch'] as const) if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new FactoryError(400, `options.${k} must be a positive integer, got ${JSON.stringify(opts[k])}`, `options.${k}`);
    if (!Number.isInteger(opts.epochs) || opts.epochs < 0) throw new FactoryError(400, `options.epochs must be a non-negative integer, got ${JSON.stringify(opts.epochs)}`, 'options.epochs');
    if (!(opts.lr > 0)) throw new FactoryError(400, `options.lr must be > 0, got ${JSON.stringify(opts.lr)}`, 'options.lr');
    const id = newId('ftjob');
    const dir = resolve(this.o.dataDir, 'jobs', id);
    const files = writeRetrieverData(join(dir, 'data'), o.units, o.questions ?? [], o.validation ?? [], o.lexicon ?? null);
    const plan = retrieverPlan(o.units, o.questions ?? [], opts);
    const seed = Number.isInteger(o.seed) ? o.seed! : opts.seed;
    const meta: JobMeta = {
      base: 'dual-encoder', suffix: o.name, trainingFile: null, validationFile: null, dataset: o.dataset ?? o.name, metadata: o.metadata ?? {},
      hyperparameters: { n_epochs: opts.epochs, batch_size: opts.batch, learning_rate_multiplier: 1 }, methodType: 'retriever', createdAt: Date.now(), trainRows: plan.questions,
    };
    const spec: SpecWithMeta = {
      version: 1, id, name: `retriever ${o.name}`, stage: 'retriever', base: { kind: 'dual-encoder', vocab: opts.vocab, dims: opts.dims }, method: { type: 'full' },
      data: { train: { path: files.train, kind: 'retriever' }, ...(files.validation ? { validation: { path: files.validation, kind: 'retriever' } } : {}) },
      hyperparameters: {
        batchSize: opts.batch, epochs: opts.epochs, lr: opts.lr, seqLen: 0, warmupSteps: opts.warmupSteps, weightDecay: opts.weightDecay,
        retriever: { tau: opts.tau, hardNegatives: opts.hardNegatives, hardPerQuestion: opts.hardPerQuestion, minSentence: opts.minSentence },
      },
      seed, outputDir: dir, threads: 1, meta,
    };
    try {
      return await this.o.scheduler.submit(spec, { priority: o.priority ?? 0, experimentId: null, estimate: { cpuThreads: 1, memoryMB: plan.memoryMB } });
    } catch (e) {
      if (e instanceof SchedulerError) throw new FactoryError(e.code === 'not_found' ? 404 : e.code === 'conflict' ? 409 : 400, e.message);
      throw e;
    }
  }

  /**
   * A pretraining job that makes a base model from scratch (config + tokenizer file + a pretrain dataset); on
   * success the model is registered under `name` as a base the factory can fine-tune.
   */
  async createPretrainJob(o: { name: string; config: LlamaConfig; tokenizerPath: string; dataset: string; hyperparameters: Hyperparameters; seed: number; priority?: number }): Promise<JobRecord> {
    const ds = await this.o.data.getDataset(o.dataset);
    if (ds.stage !== 'pretrain') throw new FactoryError(400, `dataset ${o.dataset} is a ${ds.stage} dataset; pretraining needs text`, 'dataset');
    const id = newId('ftjob');
    const dir = resolve(this.o.dataDir, 'jobs', id);
    mkdirSync(join(dir, 'data'), { recursive: true });
    const train = await this.materialize(ds.id, 'train', join(dir, 'data', 'train.jsonl'));
    const val = (ds.version?.validation_rows ?? 0) > 0 ? await this.materialize(ds.id, 'validation', join(dir, 'data', 'validation.jsonl')) : null;
    const method: MethodSpec = { type: 'full' };
    const meta: JobMeta = {
      base: 'scratch', suffix: o.name, trainingFile: null, validationFile: null, dataset: ds.name, metadata: { purpose: 'base-model' },
      hyperparameters: { n_epochs: o.hyperparameters.epochs ?? 1, batch_size: o.hyperparameters.batchSize, learning_rate_multiplier: 1 },
      methodType: 'supervised', createdAt: Date.now(), trainRows: train.rows, registerAs: o.name,
    };
    const spec: SpecWithMeta = {
      version: 1, id, name: `${o.name} (pretraining)`, stage: 'pretrain', base: { kind: 'scratch', config: o.config, tokenizer: { path: o.tokenizerPath } },
      method, data: { train: { path: train.path, kind: 'pretrain' }, ...(val ? { validation: { path: val.path, kind: 'pretrain' } } : {}) },
      hyperparameters: o.hyperparameters, seed: o.seed, outputDir: dir, threads: this.threads, meta,
    };
    const est = estimateJob(o.config, method, o.hyperparameters, { name: ds.name, train: spec.data.train, rows: train.rows }, this.threads);
    return this.o.scheduler.submit(spec, { priority: o.priority ?? 10, experimentId: 'base-models', estimate: est.resources });
  }

  /** Job folders of this data folder, for housekeeping. */
  jobFolders(): string[] {
    const d = join(this.o.dataDir, 'jobs');
    return existsSync(d) ? readdirSync(d) : [];
  }
}

/** What a retriever job is made from (FactoryService.createRetrieverJob). */
export interface RetrieverJobRequest {
  /** Names the job and its model (ft:dual-encoder:<name>:<job id>): 1-64 letters, digits, _ . - */
  name: string;
  units: RetrieverUnit[];
  questions?: RetrieverQuestion[];
  /** Questions the benchmark asks of the result (never trained on). */
  validation?: RetrieverQuestion[];
  /** The domain lexicon's text, which the hard negatives are searched with. */
  lexicon?: string | null;
  /** Where the units come from (a knowledge base), shown as the job's dataset. */
  dataset?: string;
  seed?: number;
  options?: Partial<Omit<RetrieverOptions, 'onStep' | 'seed'>>;
  metadata?: Record<string, string>;
  priority?: number;
}

export interface JobEventObject { object: 'fine_tuning.job.event'; id: string; created_at: number; level: string; message: string; type: 'message' | 'metrics'; data: unknown }
export interface CheckpointObject {
  object: 'fine_tuning.job.checkpoint'; id: string; created_at: number; fine_tuning_job_id: string; step_number: number;
  fine_tuned_model_checkpoint: string; metrics: Record<string, number>;
}
export interface FineTuningJobObject {
  object: 'fine_tuning.job'; id: string; model: string; created_at: number; finished_at: number | null; fine_tuned_model: string | null;
  organization_id: string; result_files: string[]; status: JobStatus; validation_file: string | null; training_file: string | null;
  hyperparameters: Record<string, unknown>; trained_tokens: number | null; error: { code: string; message: string; param: string | null } | null;
  seed: number; suffix: string | null; user_provided_suffix: string | null; estimated_finish: number | null; integrations: unknown[];
  metadata: Record<string, string>; method: Record<string, unknown>; modelfab: FineTuningJobExtras;
}
/** What modelfab adds to OpenAI's job object: where the job sits in an experiment, its progress and results. */
export interface FineTuningJobExtras {
  name: string; stage: JobStage; dataset: string | null; experiment_id: string | null; depends_on: string[];
  /** The last step it reported; null before its first. */
  step: number | null; attempts: number;
  /** The resources the scheduler reserved for it. */
  estimate: Resources; total_steps: number; eval_loss: number | null; eval_loss_before: number | null;
  trainable_params: number | null; eval_metrics: Record<string, number> | null;
  /**
   * Which trainer runs it, in how many data-parallel processes per machine, on how many machines, and (once it
   * succeeded) the device it trained on.
   */
  trainer: TrainerName; processes: number; nodes: number; device: string | null;
  /**
   * Where its latest run was started: the runner (local, slurm), the runner's own reference ("local:<pid>",
   * "slurm:<job id>") and the machine(s) it ran on once the runner said (a host name, a Slurm NodeList, a Ray
   * driver's address); the machine stays after the run ends.
   */
  runner: string | null; runner_ref: string | null; runner_node: string | null;
}
/** POST /v1/experiments/plan: the jobs an experiment would make, without making them. */
export interface ExperimentPlanObject {
  jobs: { name: string; estimate: JobEstimate }[]; rejected: { name: string; reason: string }[]; duplicates: number;
}
/** GET /v1/experiments/:id/leaderboard: `pending` counts jobs still to finish (their rows are missing yet). */
export interface LeaderboardObject { object: 'leaderboard'; experiment_id: string; leaderboard: Leaderboard; text: string; pending: number }
export interface ExperimentObject {
  object: 'experiment'; id: string; name: string; created_at: number; status: string; counts: Record<string, number>;
  spec: ExperimentRequest; rejected: { name: string; reason: string }[]; duplicates: number; jobs: FineTuningJobObject[];
}
