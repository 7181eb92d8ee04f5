/**
 * The benchmark system's shared types: what a target (a model under test) must answer, and what a task run
 * produces (per-item outputs, task metrics, the normalised score that suites aggregate).
 *
 * Owns: the `Target` seam (three implementations in targets/: the engine's own models, GGUF through llama.cpp, an
 * OpenAI-compatible endpoint; plus a scripted one for tests) and `NotSupportedError`.
 * The Target interface follows lm-evaluation-harness's LM interface (loglikelihood, loglikelihood_rolling,
 * generate_until), so tasks written for it carry over.
 * Guarantees: every result type is plain JSON (it is cached and stored as is).
 */

export type ChatRole = 'system' | 'user' | 'assistant';
export interface BenchMessage { role: ChatRole; content: string }

/** A prompt is raw text, or chat messages that the target renders with its own chat template. */
export type Prompt = string | { messages: BenchMessage[] };

export interface LoglikelihoodRequest {
  context: Prompt;
  /** Scored text, appended to the context (after the assistant prefix for chat prompts). */
  continuation: string;
}

export interface LoglikelihoodResult {
  /** Natural-log probability of the continuation's tokens given the context. */
  logProb: number;
  /** Whether greedy decoding would produce exactly these continuation tokens. */
  isGreedy: boolean;
  /** Number of continuation tokens scored. */
  tokens: number;
}

export interface RollingResult {
  /** Natural-log probability of every scored token of the text. */
  logProb: number;
  tokens: number;
}

export interface GenerateRequest {
  prompt: Prompt;
  maxTokens: number;
  /** Strings that end the generation; the text is cut before them. */
  stop?: string[];
  temperature?: number;
  seed?: number;
}

export interface GenerateResult {
  text: string;
  tokens: number;
}

export interface TargetInfo {
  /** Stable identity of the model (content hash where there are files): part of every cache key. */
  id: string;
  /** Readable name. */
  name: string;
  kind: 'engine' | 'llama' | 'openai' | 'scripted';
  supports: { loglikelihood: boolean; generate: boolean };
}

/** A model under test (also the judge of judged tasks). Batched: implementations choose their own parallelism. */
export interface Target extends TargetInfo {
  loglikelihood(requests: readonly LoglikelihoodRequest[]): Promise<LoglikelihoodResult[]>;
  /** Log-likelihood of whole texts (perplexity), windowed over the model's context. */
  loglikelihoodRolling(texts: readonly string[]): Promise<RollingResult[]>;
  generate(requests: readonly GenerateRequest[]): Promise<GenerateResult[]>;
  close(): Promise<void>;
}

/** The target cannot do what a task asks (e.g. log-likelihoods from an endpoint without logprobs). */
export class NotSupportedError extends Error {
  readonly code = 'not_supported';
  constructor(message: string) {
    super(message);
    this.name = 'NotSupportedError';
  }
}

/** A document: one row of a task's data (importers normalise multiple-choice rows, see importers.ts). */
export type Doc = Record<string, unknown>;

export interface JudgeRecord {
  /** Every prompt sent to the judge, as sent. */
  prompts: string[];
  /** The judge's raw answers, in the same order. */
  raw: string[];
  /** Parsed verdict: a 1-10 rating, or win/tie/loss of the target against the other answer. */
  rating?: number | null;
  verdict?: 'win' | 'tie' | 'loss' | null;
}

export interface ItemResult {
  /** Index of the document in its split. */
  index: number;
  docId?: string;
  /** The prompt as rendered (first rotation for CircularEval; chat prompts as JSON). */
  input: string;
  /** The reference: gold choice text, or target answer(s). */
  target: string;
  /** The model's answer: generated text, or the chosen choice's text. */
  output: string;
  choices?: string[];
  gold?: number;
  pred?: number;
  loglikelihoods?: number[];
  /** CircularEval: the prediction and gold of each rotation. */
  rotations?: Array<{ shift: number; pred: number; gold: number }>;
  judge?: JudgeRecord;
  /** Per-item metric values (acc, f1, ...), before aggregation. */
  metrics: Record<string, number>;
}

export type TaskStatus = 'ok' | 'not_supported' | 'error';

export interface TaskResult {
  task: string;
  version: number | string;
  outputType: string;
  /** Hash of the prompt templates and everything else that shapes the prompts (task.ts). */
  templateHash: string;
  seed: number;
  numFewshot: number;
  limit: number | null;
  targetId: string;
  targetName: string;
  status: TaskStatus;
  error?: string;
  /** Aggregated metrics (means over items; corpus BLEU; perplexities). */
  metrics: Record<string, number>;
  primaryMetric: string;
  /** The primary metric mapped into [0, 1], higher is better (suites aggregate this); null unless status ok. */
  score: number | null;
  n: number;
  items: ItemResult[];
  seconds: number;
  createdAt: number;
  cacheKey: string;
}
