/**
 * The factory's contracts: the job spec (what any trainer, in any language, on any machine, is given), the files
 * a trainer writes (how the scheduler learns everything), the resources a job needs, and the Runner seam that
 * starts trainers (local processes now; Slurm and Kubernetes runners later implement the same interface).
 *
 * A trainer reads `<outputDir>/job.json` (a JobSpec) and writes into `<outputDir>`:
 *   metrics.jsonl          one MetricsRecord per step or evaluation (src/engine/metrics-log.ts)
 *   events.jsonl           {created_at, level, message, data?} lines (job lifecycle, warnings)
 *   heartbeat              touched (mtime) every few seconds while alive; contents: {pid, step, at}
 *   checkpoints/step-N/    atomic checkpoints (src/engine/checkpoint.ts); the trainer resumes from the latest
 *   model/                 the result: an engine model folder or adapter folder (src/engine/io.ts)
 *   manifest.json          written last, atomically: {status: 'succeeded', artifacts, metrics summary}
 * and exits 0 on success, non-zero on failure (with a last event saying why). The scheduler may write one file there:
 *   threads                the threads the trainer may use from its next step on (a decimal integer, written
 *                          atomically): idle cores lent to a job running alone, and taken back (thread-grant.ts)
 *
 * Paths in a spec are absolute, or relative to the data folder, which is the trainer's working directory (the
 * local runner starts it there): the factory stores and writes every path inside the data folder relative to it
 * (src/store/paths.ts), so the folder can be moved or copied. A trainer writes the paths it reports the same way
 * (manifest.json's model_dir), and an adapter's modelfab.json names its base relative to the adapter folder.
 */
import type { LlamaConfig } from '../engine/config.ts';
import type { MethodSpec } from '../engine/methods.ts';
import type { Schedule } from '../engine/optim.ts';

export type Stage = 'pretrain' | 'sft' | 'dpo';
/**
 * What a job trains: a language model (a `Stage`), or `retriever`: a dual encoder for retrieval
 * (engine/dual-encoder.ts, trained by knowledge/retriever.ts) from a knowledge base's units and questions about them,
 * served as an embedding model (src/factory/retriever-job.ts).
 */
export type JobStage = Stage | 'retriever';

/** Where a job's base model comes from. */
export type BaseModelRef =
  | { kind: 'engine'; path: string } // an engine model folder (src/engine/io.ts)
  | { kind: 'gguf'; path: string }
  | { kind: 'hf'; path: string }
  | { kind: 'scratch'; config: LlamaConfig; tokenizer: { vocabSize: number } | { path: string } }
  // the retriever stage: a new dual encoder of this size (hashed vocabulary rows, embedding size), made from the seed
  | { kind: 'dual-encoder'; vocab: number; dims: number };

/** A dataset file as the trainer reads it: normalised JSON Lines (src/data/records.ts). */
export interface DataRef {
  path: string;
  /**
   * pretrain: {"text"} lines; sft: {"messages"} lines; preference: {"messages","chosen","rejected"} lines;
   * retriever: {"id","title","text"} lines (a unit) and {"unit","question"} lines (a question it answers).
   */
  kind: 'pretrain' | 'sft' | 'preference' | 'retriever';
}

export interface Hyperparameters {
  epochs?: number;
  maxSteps?: number;
  batchSize: number;
  gradAccum?: number;
  lr: number;
  schedule?: Schedule;
  warmupRatio?: number;
  warmupSteps?: number;
  minLrRatio?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  seqLen: number;
  evalEvery?: number;
  earlyStoppingPatience?: number;
  checkpointEvery?: number;
  /** Chat template name for SFT (default: the base model's, else chatml). */
  chatTemplate?: string;
  /** The preference stage's loss: DPO (default), ORPO or SimPO, with its beta / lambda / gamma. */
  preference?: { loss?: 'dpo' | 'orpo' | 'simpo'; beta?: number; lambda?: number; gamma?: number };
  /**
   * The retriever stage's contrastive loss (its `seqLen` is unused, 0): temperature, hard negatives kept per question
   * from BM25 and drawn per question into a batch, shortest unit sentence used as a question (knowledge/retriever.ts).
   */
  retriever?: { tau?: number; hardNegatives?: number; hardPerQuestion?: number; minSentence?: number };
}

export interface JobSpec {
  version: 1;
  id: string;
  /** Readable, e.g. "spruce-s x support_qa x lora-r16". */
  name: string;
  stage: JobStage;
  base: BaseModelRef;
  method: MethodSpec;
  data: { train: DataRef; validation?: DataRef };
  hyperparameters: Hyperparameters;
  seed: number;
  /** The job's folder; everything the trainer writes goes here. */
  outputDir: string;
  /** Compute threads the trainer may use (its share of the machine). */
  threads: number;
  /** Benchmarks to run on the base and the result after training (src/factory/evaluate.ts); writes bench.json. */
  evaluation?: import('./evaluate.ts').EvaluationSpec;
  /** The name the result gets in leaderboards (default the job id). */
  resultName?: string;
  /** The base model's name in leaderboards. */
  baseName?: string;
  /**
   * Which trainer runs the job (absent: the engine): `torch` is trainers/torch/ (`python -m modelfab_torch`), which
   * reads Hugging Face bases only (the factory converts the others before launch: src/factory/torch-trainer.ts).
   */
  trainer?: 'engine' | 'torch';
  /**
   * The precision of training (absent: fp32). The engine runs bf16 as mixed precision: every product's operands
   * rounded to bfloat16 and summed in float32 (the AMX-BF16 or AVX512-BF16 kernel), weights, gradients, optimizer state and the row
   * kernels in float32; fp16 is the torch trainer's only.
   */
  precision?: 'fp32' | 'bf16' | 'fp16';
  /**
   * Recompute activations in the backward pass instead of keeping them (the engine also turns it on by itself where
   * its memory plan needs it: engine/memory-estimate.ts).
   */
  gradientCheckpointing?: boolean;
  /** Several examples per row of seqLen tokens, never attending to each other (pretrain and sft). */
  packing?: boolean;
  /**
   * Data-parallel processes on one machine (torch trainer; absent: 1): launched as `torchrun --standalone
   * --nproc_per_node N`, each with `threads` CPU threads (or one GPU), each micro-batch split evenly across them.
   */
  processes?: number;
  /**
   * How the processes share the work (absent: ddp): `ddp` gives each the whole model; `fsdp` shards every weight,
   * gradient and optimizer moment across them (PyTorch FSDP2, sharded checkpoints); `deepspeed-zero2` partitions
   * the gradients and optimizer state, `deepspeed-zero3` also the weights (DeepSpeed's engine, its config written
   * to the job folder as deepspeed.json).
   */
  strategy?: ParallelStrategy;
  /**
   * Machines the job spans (torch trainer; absent: 1): `processes` on each, all under one torchrun c10d rendezvous
   * (a cluster runner starts them: Slurm's srun, a Kubernetes TrainJob). Its resources are per machine.
   */
  nodes?: number;
}

export const STRATEGIES = ['ddp', 'fsdp', 'deepspeed-zero2', 'deepspeed-zero3'] as const;
export type ParallelStrategy = (typeof STRATEGIES)[number];

/** Whether `n` is a data-parallel process count a job may ask for (1 to 64). */
export function isProcessCount(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 64;
}

/** Why a job of this stage and method cannot pack its examples (either trainer), or null. */
export function packingRefusal(stage: string, method: string): string | null {
  if (stage === 'retriever') return 'packing does not apply to the retriever stage';
  if (stage === 'dpo') return 'packing does not apply to stage dpo (it scores whole sequences per pair); turn packing off';
  if (method === 'prefix' || method === 'prompt') return `packing does not work with ${method} tuning (a row's examples would share its virtual tokens and see each other's); turn packing off`;
  return null;
}

/** Whether `n` is a machine count a job may span (1 to 64). */
export function isNodeCount(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 64;
}

/** What a job needs from a machine while it runs (a job of several machines: from each of them). */
export interface Resources {
  cpuThreads: number;
  memoryMB: number;
  gpus?: number;
  gpuMemoryMB?: number;
}

/** Before a job starts: what it will cost. */
export interface JobEstimate {
  resources: Resources;
  trainableParams: number;
  totalParams: number;
  steps: number;
  tokens: number;
  seconds: number;
}

export type JobStatus = 'validating_files' | 'queued' | 'running' | 'paused' | 'succeeded' | 'failed' | 'cancelled';

/** A running trainer, as a runner reports it. */
export interface RunHandle {
  readonly jobId: string;
  /** Resolves with the exit code (null when killed by a signal) once the trainer ends. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Ask the trainer to stop (it checkpoints first); `force` kills it. */
  stop(force?: boolean): void;
}

/**
 * The seam between the scheduler and where trainers run. A local runner spawns processes on this machine; a Slurm
 * or Kubernetes runner submits the same job.json elsewhere and reports the same way. The scheduler learns progress
 * from the files in the job's outputDir (see the header), so a runner only starts, stops and reports exits.
 */
export interface Runner {
  readonly name: string;
  /** What this runner can offer at once (the scheduler never asks for more). */
  capacity(): Resources;
  start(spec: JobSpec): RunHandle;
  /**
   * Its trainers are processes of the machine whose server started them (local processes): a server on another
   * machine cannot adopt them, and waits for their heartbeat to go silent instead.
   */
  readonly hostBound?: boolean;
}
