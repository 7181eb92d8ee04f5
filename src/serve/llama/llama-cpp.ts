/**
 * Serving exported GGUF models with llama.cpp through node-llama-cpp 3.21.1 (CPU, prebuilt binaries only).
 *
 * Owns: `LlamaCppBackend` — load a model (and LoRA adapters over it), generate, next-token probability tables and
 * per-choice log-likelihoods — and the safety rules around node-llama-cpp:
 *   - Nothing is downloaded or built at run time: getLlama({gpu: false, build: 'never', skipDownload: true}); the
 *     binding must report gpu === false.
 *   - Every file is validated by our own GGUF reader before node-llama-cpp sees it (llama.cpp aborts the whole
 *     process on some malformed files, e.g. a missing llama.feed_forward_length): the model with
 *     validateGgufModel (header only, offsets checked against the file size), each adapter with validateGgufAdapter
 *     against the model's tensors. Failures are ModelFileError; the process stays alive.
 *   - An explicit thread count (1 or 2, default 1): node-llama-cpp's default of 4 threads on a 2-core machine shared
 *     with others is orders of magnitude slower.
 *   - node-llama-cpp caches adapters by file path for the life of the model, so a changed adapter must get a new file
 *     name: `adapterVersionPath` / `writeAdapterVersion` name each version `<name>.v<version>.gguf` and refuse to
 *     overwrite an existing version with different bytes.
 *   - `isolate: true` loads untrusted files once in a child process first (probe.ts).
 * Adapters are bound to a context; `setAdapters` replaces the context (one sequence) with one using the new set.
 */
import type { SamplingOptions } from '../../engine/generate.ts';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { adapterBaseOf, readGgufFile, readGgufHeader, validateGgufAdapter, validateGgufModel } from '../../model-files/gguf-model.ts';
import type { LlamaConfig } from '../../engine/config.ts';
import { ModelFileError } from '../../model-files/llama-layout.ts';
import type { AdapterBase } from '../../model-files/gguf-model.ts';
import { probeGguf } from './probe.ts';

let llamaPromise: Promise<Llama> | null = null;

/** The process's one CPU-only llama.cpp binding (prebuilt, never built or downloaded). */
export async function getCpuLlama(): Promise<Llama> {
  llamaPromise ??= (async () => {
    const llama = await getLlama({
      gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
      logLevel: LlamaLogLevel.error, maxThreads: 2,
    });
    if (llama.gpu !== false) throw new Error(`node-llama-cpp loaded a ${llama.gpu} binding; expected the CPU one`);
    return llama;
  })();
  try {
    return await llamaPromise;
  } catch (e) {
    llamaPromise = null;
    throw e;
  }
}

export interface AdapterSpec {
  path: string;
  /** llama.cpp's adapter scale (multiplies alpha / r). Default 1. */
  scale?: number;
  /** Reject the adapter unless its LoRA rank is this. */
  expectedRank?: number;
}

export interface LoadOptions {
  /** 1 or 2 (default 1). */
  threads?: 1 | 2;
  /** Context window in tokens (default 512). */
  contextSize?: number;
  batchSize?: number;
  adapters?: AdapterSpec[];
  /**
   * Also load the files once in a child process (probe.ts) before this process does, so that a file llama.cpp
   * aborts on despite passing validation kills only the child. For files from outside; costs about a second.
   */
  isolate?: boolean;
}

/** The engine's sampling options (one definition for both backends); stop strings are not supported here. */
export type GenerateOptions = Omit<SamplingOptions, 'stop'>;

export interface GenerateOutput {
  ids: number[];
  text: string;
  promptTokens: number;
  /** Time to evaluate the prompt and pick the first token. */
  prefillMs: number;
  /** Time for the remaining tokens. */
  decodeMs: number;
}

export class LlamaCppBackend {
  private context: LlamaContext | null = null;
  private seq: LlamaContextSequence | null = null;
  private adapters: AdapterSpec[] = [];

  private constructor(
    readonly modelPath: string,
    readonly config: LlamaConfig,
    private readonly base: AdapterBase,
    /** Held for as long as the model: the llama.cpp runtime must outlive every model and context made from it. */
    readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly opts: Required<Pick<LoadOptions, 'threads' | 'contextSize'>> & { batchSize?: number },
  ) {}

  /** Validates and loads a GGUF model (and adapters). Throws ModelFileError for a bad file, before llama.cpp reads it. */
  static async load(modelPath: string, opts: LoadOptions = {}): Promise<LlamaCppBackend> {
    const threads = opts.threads ?? 1;
    if (threads !== 1 && threads !== 2) throw new Error(`threads must be 1 or 2 on these machines, got ${threads}`);
    const header = readGgufHeader(modelPath);
    const { config } = validateGgufModel(header, { anyKnownType: true });
    const base = adapterBaseOf(header);
    for (const a of opts.adapters ?? []) LlamaCppBackend.checkAdapter(a, base);
    if (opts.isolate) await probeGguf(modelPath, (opts.adapters ?? []).map((a) => a.path));
    const llama = await getCpuLlama();
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const b = new LlamaCppBackend(modelPath, config, base, llama, model, { threads, contextSize: opts.contextSize ?? 512, batchSize: opts.batchSize });
    try {
      await b.setAdapters(opts.adapters ?? []);
    } catch (e) {
      await model.dispose();
      throw e;
    }
    return b;
  }

  private static checkAdapter(a: AdapterSpec, base: AdapterBase): void {
    if (!existsSync(a.path)) throw new ModelFileError('MISSING_FILE', `adapter ${a.path} does not exist`);
    try {
      validateGgufAdapter(readGgufFile(a.path), base, a.expectedRank);
    } catch (e) {
      if (e instanceof ModelFileError) throw new ModelFileError(e.code, `adapter ${a.path}: ${e.message}`, { cause: e });
      throw e;
    }
    if (a.scale !== undefined && !Number.isFinite(a.scale)) throw new Error(`adapter ${a.path}: scale ${a.scale} is not finite`);
  }

  /** Replaces the adapter set (a new context; validated first, the old context is kept if validation fails). */
  async setAdapters(adapters: AdapterSpec[]): Promise<void> {
    for (const a of adapters) LlamaCppBackend.checkAdapter(a, this.base);
    const old = this.context;
    this.context = null;
    this.seq = null;
    if (old) await old.dispose();
    const ctx = await this.model.createContext({
      contextSize: this.opts.contextSize, threads: this.opts.threads, sequences: 1,
      batchSize: this.opts.batchSize ?? Math.min(512, this.opts.contextSize),
      lora: adapters.length ? { adapters: adapters.map((a) => ({ filePath: a.path, scale: a.scale ?? 1 })) } : undefined,
    });
    this.context = ctx;
    this.seq = ctx.getSequence();
    this.adapters = adapters.slice();
  }

  get activeAdapters(): readonly AdapterSpec[] {
    return this.adapters;
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  private sequence(): LlamaContextSequence {
    if (!this.seq) throw new Error('LlamaCppBackend: closed');
    return this.seq;
  }

  /** llama.cpp's tokenization (no BOS added). `special` parses special-token text such as <|im_end|>. */
  tokenize(text: string, special = false): number[] {
    return this.model.tokenize(text, special) as number[];
  }

  /** Whether llama.cpp ends generation at this token (EOS, and end tokens it recognises by text, e.g. <|im_end|>). */
  isEndOfGeneration(id: number): boolean {
    return this.model.isEogToken(id as Token);
  }

  detokenize(ids: readonly number[], special = false): string {
    return this.model.detokenize(ids as Token[], special);
  }

  /** The next-token distribution after `ids` (a fresh sequence), as a dense [vocab] array of probabilities. */
  async nextTokenProbs(ids: readonly number[]): Promise<Float32Array> {
    if (ids.length === 0) throw new Error('nextTokenProbs: no tokens');
    const seq = this.sequence();
    await seq.clearHistory();
    const input = ids.map((t, i) => (i === ids.length - 1 ? [t as Token, { generateNext: { probabilities: true } }] as const : (t as Token)));
    const res = await seq.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
    const map = res[ids.length - 1]?.next?.probabilities;
    if (!map) throw new Error('nextTokenProbs: llama.cpp returned no probabilities');
    const out = new Float32Array(this.vocabSize);
    for (const [tok, p] of map) if (tok < out.length) out[tok] = p;
    return out;
  }

  /**
   * log P(continuation | context): the sum of the natural-log probabilities of each continuation token, with the
   * per-token values. One evaluation of context + continuation (minus its last token).
   */
  async logLikelihood(contextIds: readonly number[], continuationIds: readonly number[]): Promise<{ logProb: number; tokenLogProbs: number[] }> {
    if (contextIds.length === 0) throw new Error('logLikelihood: the context is empty (start it with BOS or a prompt token)');
    if (continuationIds.length === 0) return { logProb: 0, tokenLogProbs: [] };
    const all = [...contextIds, ...continuationIds.slice(0, -1)];
    const first = contextIds.length - 1;
    const seq = this.sequence();
    await seq.clearHistory();
    const input = all.map((t, i) => (i >= first ? [t as Token, { generateNext: { probabilities: true } }] as const : (t as Token)));
    const res = await seq.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
    const tokenLogProbs = continuationIds.map((t, j) => {
      const p = res[first + j]?.next?.probabilities?.get(t as Token) ?? 0;
      return Math.log(p);
    });
    return { logProb: tokenLogProbs.reduce((a, b) => a + b, 0), tokenLogProbs };
  }

  /** Generates after `prompt` (text, tokenized without BOS, or ids) from a fresh sequence. */
  async generate(prompt: string | readonly number[], opts: GenerateOptions = {}): Promise<GenerateOutput> {
    const ids = typeof prompt === 'string' ? this.tokenize(prompt, true) : prompt.slice();
    if (ids.length === 0) throw new Error('generate: the prompt is empty');
    const maxTokens = opts.maxTokens ?? 128;
    const stop = new Set(opts.stopIds ?? []);
    const sampling = { temperature: opts.temperature ?? 0, topK: opts.topK, topP: opts.topP, seed: opts.seed ?? 0 };
    const seq = this.sequence();
    await seq.clearHistory();
    const t0 = performance.now();
    const out: number[] = [];
    if (maxTokens <= 0) return { ids: out, text: '', promptTokens: ids.length, prefillMs: 0, decodeMs: 0 };
    const input = ids.map((t, i) => (i === ids.length - 1 ? [t as Token, { generateNext: { token: true, options: sampling } }] as const : (t as Token)));
    const res = await seq.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
    const t1 = performance.now();
    let next = res[ids.length - 1]?.next?.token;
    const isEog = (t: number) => this.model.isEogToken(t as Token);
    if (next !== undefined && next !== null && !stop.has(next) && !isEog(next)) {
      out.push(next);
      if (out.length < maxTokens) {
        for await (const tok of seq.evaluate([next as Token], { ...sampling, yieldEogToken: true })) {
          if (stop.has(tok) || isEog(tok)) break;
          out.push(tok);
          if (out.length >= maxTokens || seq.nextTokenIndex >= this.opts.contextSize) break;
        }
      }
    }
    next = undefined;
    const t2 = performance.now();
    return { ids: out, text: this.detokenize(out), promptTokens: ids.length, prefillMs: t1 - t0, decodeMs: t2 - t1 };
  }

  async close(): Promise<void> {
    const ctx = this.context;
    this.context = null;
    this.seq = null;
    if (ctx) await ctx.dispose();
    await this.model.dispose();
  }
}

/** The file name of one version of a named adapter (node-llama-cpp caches adapters by path). */
export function adapterVersionPath(dir: string, name: string, version: number | string): string {
  if (!/^[\w.-]+$/.test(name) || !/^[\w.-]+$/.test(String(version))) throw new Error(`adapter name/version must be [A-Za-z0-9_.-]: ${name} v${version}`);
  return join(dir, `${name}.v${version}.gguf`);
}

/** Writes an adapter version; refuses to replace an existing version with different bytes. Returns its path. */
export function writeAdapterVersion(dir: string, name: string, version: number | string, bytes: Uint8Array): string {
  const p = adapterVersionPath(dir, name, version);
  mkdirSync(dir, { recursive: true });
  if (existsSync(p)) {
    const old = readFileSync(p);
    if (old.length === bytes.length && Buffer.compare(old, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) === 0) return p;
    throw new Error(`${p} already holds a different adapter; write a new version (node-llama-cpp caches adapters by path)`);
  }
  writeFileSync(p, bytes);
  return p;
}
