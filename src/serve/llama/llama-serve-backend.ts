/**
 * The llama.cpp `ModelBackend`: one GGUF base model loaded once through node-llama-cpp 3.21.1, served to many
 * requests at once.
 *
 * Owns: a context per adapter set ('' = the base alone, or one named LoRA adapter), each with `concurrency`
 * sequences, so concurrent requests on the same adapter are evaluated together in one batch per step (node-llama-cpp
 * batches the pending tokens of every sequence of a context); a sequence pool with prefix reuse (a new prompt that
 * shares a prefix with what a sequence already holds re-evaluates only the rest); grammars for JSON schemas (cached
 * per schema); an embedding context created on first use.
 *
 * Guarantees, on top of backend.ts's:
 *   - files are validated before llama.cpp reads them, with the rules of serve/llama/llama-cpp.ts (our GGUF reader:
 *     validateGgufModel / validateGgufAdapter; `isolate` loads them first in a child process, probe.ts), and the
 *     binding is the process's CPU-only one (getCpuLlama), with an explicit thread count of 1 or 2;
 *   - a prompt that does not fit the context leaves room for at least one token or fails with 400
 *     context_length_exceeded; max_tokens is capped at what the context has left;
 *   - sampling is OpenAI's: top_p 1 and no top-k unless asked (node-llama-cpp's own defaults are 0.95 and 40);
 *   - every sequence is returned to its pool, whatever happens to the request.
 */
import {
  LlamaGrammarEvaluationState, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaEmbeddingContext,
  type GbnfJsonObjectSchema, type LlamaGrammar, type LlamaModel, type Token,
} from 'node-llama-cpp';
import { readGgufHeader, validateGgufAdapter, validateGgufModel, adapterBaseOf, readGgufFile, type AdapterBase } from '../../model-files/gguf-model.ts';
import { ModelFileError } from '../../model-files/llama-layout.ts';
import { metadataRecord } from '../../formats/gguf.ts';
import type { LlamaConfig } from '../../engine/config.ts';
import { getCpuLlama } from './llama-cpp.ts';
import { probeGguf } from './probe.ts';
import {
  BackendError, StopMatcher, utf8Bytes, type BackendCapabilities, type EmbedResult, type GenerateCallbacks, type GenerateParams,
  type GenerateResult, type ModelBackend, type TokenLogprob,
} from '../model-backend.ts';
import { chatSegments, resolveTemplate, templateFromJinja, templateStops, type TemplateName } from '../prompt.ts';

export interface LlamaServeOptions {
  /** Sequences per context: requests evaluated together (default 4). */
  concurrency?: number;
  /** Tokens per sequence (default: min(2048, the model's training context)). */
  contextSize?: number;
  /** 1 or 2 (default 1). */
  threads?: 1 | 2;
  /** Chat template name (chatml, qwen2, llama3, plain); default from the file's tokenizer.chat_template. */
  chatTemplate?: string | null;
  /** Load the files once in a child process first (untrusted files). */
  isolate?: boolean;
}

/** A free sequence sharing fewer prompt tokens than this is not worth keeping a fresh one unused for. */
const MIN_REUSED_PREFIX = 4;

interface Pool {
  context: LlamaContext;
  free: LlamaContextSequence[];
  waiting: Array<(s: LlamaContextSequence) => void>;
  barrier: StepBarrier;
}

/**
 * The rhythm of one context's decode steps: one batch per step for every generating sequence, and everything else
 * done while the model computes.
 *
 * - Steps. node-llama-cpp samples each sequence's token in its own async call, and its decode loop starts the next
 *   batch with whichever sequences have already asked again; the rest form a second, small batch, and the two groups
 *   then stay out of step. The barrier parks each sequence after its token until every generating sequence has its
 *   token, then lets them all ask at once, so one step is one batch; a new request's prompt joins the next step. A
 *   sequence slow to park (not expected: the work between two tokens is synchronous) stalls the others for at most
 *   `maxWaitMs`.
 * - Off the critical path. Between two steps every millisecond of JavaScript is a millisecond of every sequence's
 *   time; during a step the other core is free. So the text callbacks (the caller's JSON, guard and socket writes)
 *   and a finished request's own ending (its log, usage and last chunks) wait until the next batch has gone to
 *   llama.cpp's thread (`afterDispatch`).
 */
export class StepBarrier {
  private active = 0;
  private parked: Array<() => void> = [];
  private waiting = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly maxWaitMs = 50) {}

  /** A sequence starts generating; it must then call `step()` before each decode it asks for. */
  start(): void { this.active++; }

  /** A sequence stops generating (finished, failed or aborted). */
  stop(): void {
    this.active--;
    if (this.active === 0) this.runWaiting();
    else this.check();
  }

  /** Resolves when this sequence may ask for its next decode. */
  step(): Promise<void> {
    return new Promise((resolve) => {
      this.parked.push(resolve);
      this.timer ??= setTimeout(this.release, this.maxWaitMs);
      this.check();
    });
  }

  /**
   * Runs `fn` once the next batch has been dispatched (at once when no sequence is generating). A function already
   * waiting is not added twice; `cancel` withdraws it. `fn` must not throw.
   */
  afterDispatch(fn: () => void): void {
    if (this.active === 0) fn();
    else this.waiting.add(fn);
  }

  cancel(fn: () => void): void { this.waiting.delete(fn); }

  /** node-llama-cpp's `batching.dispatchSchedule`: dispatch on the next turn, run the waiting work on the one after. */
  readonly dispatchSchedule = (dispatch: () => void): void => {
    setImmediate(() => {
      dispatch();
      if (this.waiting.size) setImmediate(this.runWaiting);
    });
  };

  private readonly runWaiting = (): void => {
    const list = [...this.waiting];
    this.waiting.clear();
    for (const f of list) f();
  };

  private check(): void {
    if (this.parked.length > 0 && this.parked.length >= this.active) this.release();
  }

  private readonly release = (): void => {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const go = this.parked;
    this.parked = [];
    for (const r of go) r();
  };
}

export class LlamaServeBackend implements ModelBackend {
  readonly kind = 'llama.cpp' as const;
  readonly capabilities: BackendCapabilities = { embeddings: true, logprobs: true, promptLogprobs: false, jsonSchema: true, embeddingMethod: 'llama.cpp embedding context (the GGUF pooling type; the last token\'s hidden state when none)' };
  private pools = new Map<string, Promise<Pool>>();
  private adapters = new Map<string, { path: string; scale: number }>();
  private grammars = new Map<string, Promise<LlamaGrammar>>();
  private embedding: Promise<LlamaEmbeddingContext> | null = null;
  private embedQueue: Promise<unknown> = Promise.resolve();
  private readonly stopIds: Set<number>;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly base: AdapterBase,
    readonly config: LlamaConfig,
    readonly template: TemplateName,
    readonly maxConcurrency: number,
    readonly contextSize: number,
    private readonly threads: 1 | 2,
  ) {
    this.stopIds = new Set();
    if (template !== 'plain') {
      for (const s of templateStops(template)) {
        const ids = model.tokenize(s, true);
        if (ids.length === 1) this.stopIds.add(ids[0]);
      }
    }
  }

  static async load(path: string, opts: LlamaServeOptions = {}): Promise<LlamaServeBackend> {
    const threads = opts.threads ?? 1;
    if (threads !== 1 && threads !== 2) throw new Error(`threads must be 1 or 2 on these machines, got ${String(threads)}`);
    const concurrency = opts.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new Error(`concurrency must be an integer from 1 to 256, got ${concurrency}`);
    const header = readGgufHeader(path);
    const { config } = validateGgufModel(header, { anyKnownType: true });
    const base = adapterBaseOf(header);
    if (opts.isolate) await probeGguf(path, []);
    const jinja = metadataRecord(header)['tokenizer.chat_template'];
    const fallback = templateFromJinja(typeof jinja === 'string' ? jinja : undefined) ?? 'plain';
    const template = resolveTemplate(opts.chatTemplate, fallback);
    const llama = await getCpuLlama();
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    const contextSize = Math.max(16, opts.contextSize ?? Math.min(2048, config.contextLength || 2048));
    const b = new LlamaServeBackend(path, llama, model, base, config, template, concurrency, contextSize, threads);
    return b;
  }

  /** Registers a LoRA adapter (validated against the base) under a name requests can pick. */
  async addAdapter(name: string, path: string, scale = 1, isolate = false): Promise<void> {
    if (!name) throw new Error('adapter name must not be empty');
    const prev = this.adapters.get(name);
    if (prev && prev.path === path && prev.scale === scale) return;
    try {
      validateGgufAdapter(readGgufFile(path), this.base);
    } catch (e) {
      if (e instanceof ModelFileError) throw new ModelFileError(e.code, `adapter ${path}: ${e.message}`, { cause: e });
      throw e;
    }
    if (isolate) await probeGguf(this.path, [path]);
    if (prev) await this.dropPool(name);
    this.adapters.set(name, { path, scale });
  }

  hasAdapter(name: string): boolean {
    return this.adapters.has(name);
  }

  /** Drops an adapter's context (its in-flight requests must be finished: the gateway drains first). */
  async removeAdapter(name: string): Promise<void> {
    this.adapters.delete(name);
    await this.dropPool(name);
  }

  private async dropPool(name: string): Promise<void> {
    const p = this.pools.get(name);
    this.pools.delete(name);
    if (p) await (await p.catch(() => null))?.context.dispose();
  }

  private pool(adapter: string): Promise<Pool> {
    let p = this.pools.get(adapter);
    if (!p) {
      const a = adapter ? this.adapters.get(adapter) : undefined;
      if (adapter && !a) throw new BackendError(404, `adapter ${adapter} is not loaded`, 'model_not_found');
      const barrier = new StepBarrier();
      p = this.model.createContext({
        contextSize: this.contextSize, sequences: this.maxConcurrency, threads: this.threads,
        batchSize: Math.max(this.maxConcurrency, Math.min(512, this.contextSize)),
        lora: a ? { adapters: [{ filePath: a.path, scale: a.scale }] } : undefined,
        batching: { dispatchSchedule: barrier.dispatchSchedule },
      }).then((context) => ({ context, free: [], waiting: [], barrier }));
      p.catch(() => this.pools.delete(adapter));
      this.pools.set(adapter, p);
    }
    return p;
  }

  /**
   * A sequence for a prompt: the free one that already holds the longest prefix of it (llama.cpp's server picks its
   * slot the same way), so a conversation's next turn, or a request sharing a system prompt, re-evaluates only what
   * is new; an unused sequence when no free one shares more than a few tokens; else the longest-idle wait.
   */
  private async acquire(pool: Pool, ids: readonly Token[]): Promise<LlamaContextSequence> {
    let best = -1, bestLen = -1;
    for (let i = pool.free.length - 1; i >= 0; i--) {
      const n = pool.free[i].compareContextTokens(ids as Token[]).firstDifferentIndex;
      if (n > bestLen) { best = i; bestLen = n; }
    }
    if (pool.context.sequencesLeft > 0 && bestLen < MIN_REUSED_PREFIX) return pool.context.getSequence();
    if (best >= 0) return pool.free.splice(best, 1)[0];
    return new Promise((resolve) => pool.waiting.push(resolve));
  }

  private release(pool: Pool, s: LlamaContextSequence): void {
    const w = pool.waiting.shift();
    if (w) w(s);
    else pool.free.push(s);
  }

  tokenizePrompt(params: GenerateParams): Token[] {
    if (params.prompt.kind === 'text') return this.model.tokenize(params.prompt.text, false);
    if (params.prompt.kind === 'tokens') {
      // ids outside the vocabulary would reach llama.cpp's batch: refused here, naming the first
      const V = this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0;
      const bad = params.prompt.ids.findIndex((t) => t >= V);
      if (bad >= 0) throw new BackendError(400, `Invalid 'prompt': token ${bad} (${params.prompt.ids[bad]}) is outside this model's vocabulary of ${V}.`, 'invalid_value', 'prompt');
      return params.prompt.ids as Token[];
    }
    const out: Token[] = [];
    for (const seg of chatSegments(params.prompt.messages, this.template)) for (const t of this.model.tokenize(seg.text, seg.special)) out.push(t);
    return out;
  }

  private grammar(json: NonNullable<GenerateParams['json']>): Promise<LlamaGrammar> {
    const key = json === 'json' ? 'json' : JSON.stringify(json.schema);
    let g = this.grammars.get(key);
    if (!g) {
      // node-llama-cpp's schema type is a union it cannot infer from a plain record; the value is passed as is
      g = (json === 'json' ? this.llama.getGrammarFor('json') : this.llama.createGrammarForJsonSchema(json.schema as GbnfJsonObjectSchema)) as Promise<LlamaGrammar>;
      g.catch(() => this.grammars.delete(key));
      if (this.grammars.size > 64) this.grammars.delete(this.grammars.keys().next().value!);
      this.grammars.set(key, g);
    }
    return g.catch((e: unknown) => { throw new BackendError(400, `response_format: the JSON schema cannot be compiled to a grammar: ${(e as Error).message}`, 'invalid_schema', 'response_format'); });
  }

  async generate(params: GenerateParams, cb: GenerateCallbacks): Promise<GenerateResult> {
    if (this.closed) throw new BackendError(503, 'the model is being unloaded; retry', 'model_unloading');
    const ids = this.tokenizePrompt(params);
    if (ids.length === 0) throw new BackendError(400, 'the prompt is empty', 'empty_prompt', 'messages');
    if (ids.length >= this.contextSize) {
      throw new BackendError(400, `This model's maximum context length is ${this.contextSize} tokens. However, your messages resulted in ${ids.length} tokens.`, 'context_length_exceeded', 'messages');
    }
    const maxTokens = Math.min(params.maxTokens, this.contextSize - ids.length);
    if (params.echo) {
      if (params.logprobs) throw new BackendError(400, 'log probabilities of the prompt are not supported by this backend (llama.cpp)', 'unsupported_parameter', 'echo');
      cb.onPrompt?.({ text: this.model.detokenize(ids, false) });
    }
    const grammar = params.json ? await this.grammar(params.json) : null;
    const pool = await this.pool(params.adapter ?? '');
    const seq = await this.acquire(pool, ids);
    const barrier = pool.barrier;
    // text reaches the caller once the next step is dispatched (StepBarrier), in order; a throwing callback fails
    // this request only
    const queued: Array<[string, TokenLogprob[] | undefined]> = [];
    let failed: { error: unknown } | null = null;
    const deliver = (): void => {
      barrier.cancel(deliver);
      for (const [text, lp] of queued.splice(0)) {
        if (failed) break;
        try { cb.onText(text, lp); } catch (error) { failed = { error }; }
      }
    };
    const emit = (text: string, lp?: TokenLogprob[]): void => { queued.push([text, lp]); barrier.afterDispatch(deliver); };
    let completion = 0, cached = 0;
    let finish: GenerateResult['finishReason'] = 'stop';
    let started = false;
    try {
      // prefix reuse: keep what the sequence already holds of this prompt, evaluate at least the last token
      const { firstDifferentIndex } = seq.compareContextTokens(ids);
      const keep = Math.min(firstDifferentIndex, ids.length - 1);
      if (seq.nextTokenIndex > keep) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
      const input = ids.slice(keep);
      cached = keep;
      if (maxTokens <= 0) return { finishReason: 'length', promptTokens: ids.length, completionTokens: 0, cachedTokens: keep };
      const generated: Token[] = [];
      const penalties = params.presencePenalty !== 0 || params.frequencyPenalty !== 0
        ? { punishTokens: () => generated, maxPunishTokens: 256, penalty: 1, presencePenalty: params.presencePenalty, frequencyPenalty: params.frequencyPenalty }
        : undefined;
      const opts = {
        temperature: params.temperature, topK: params.topK, topP: params.topP, minP: 0, seed: params.seed,
        repeatPenalty: penalties, yieldEogToken: true,
        grammarEvaluationState: grammar ? new LlamaGrammarEvaluationState({ model: this.model, grammar }) : undefined,
      };
      const stop = new StopMatcher(params.stop);
      const top = params.logprobs?.top ?? 0;
      const wantLp = params.logprobs !== undefined;
      const pending: Token[] = [];
      let pendingLp: TokenLogprob[] = [];
      let text = ''; // only kept for JSON completion checks
      const signal = params.signal;
      const iter = wantLp
        ? seq.evaluateWithMetadata(input, { confidence: true, probabilities: top > 0 }, opts)
        : seq.evaluate(input, opts);
      barrier.start();
      started = true;
      await barrier.step();
      for await (const r of iter) {
        if (failed) break;
        const meta = wantLp ? (r as { token: Token; confidence: number; probabilities?: Map<Token, number> }) : null;
        const tok = meta ? meta.token : (r as Token);
        if (this.model.isEogToken(tok) || this.stopIds.has(tok)) { finish = 'stop'; break; }
        completion++;
        if (penalties) generated.push(tok);
        pending.push(tok);
        if (meta) {
          const s = this.model.detokenize([tok], true);
          const lp: TokenLogprob = { token: s, logprob: Math.log(Math.max(meta.confidence, 1e-30)), bytes: utf8Bytes(s), top_logprobs: [] };
          if (meta.probabilities) {
            for (const [t, p] of meta.probabilities) {
              if (lp.top_logprobs.length >= top) break;
              const ts = this.model.detokenize([t], true);
              lp.top_logprobs.push({ token: ts, logprob: Math.log(Math.max(p, 1e-30)), bytes: utf8Bytes(ts) });
            }
          }
          pendingLp.push(lp);
        }
        let piece = this.model.detokenize(pending, false);
        // a token can end inside a UTF-8 sequence: hold it (up to 4 tokens) until the character completes
        if (piece.endsWith('\uFFFD') && pending.length < 4 && completion < maxTokens) piece = '';
        if (piece || pending.length >= 4) {
          pending.length = 0;
          const out = stop.push(piece);
          if (out) emit(out, wantLp ? pendingLp : undefined);
          if (wantLp) pendingLp = [];
          if (stop.stopped) { finish = 'stop'; break; }
          if (grammar) {
            text += out;
            const t = text.trimEnd();
            if ((t.endsWith('}') || t.endsWith(']')) && isJson(t)) { finish = 'stop'; break; }
          }
        }
        if (completion >= maxTokens) { finish = 'length'; break; }
        if (signal?.aborted) { finish = 'abort'; break; }
        await barrier.step();
      }
      if (finish !== 'abort' && !failed) {
        if (pending.length) { const out = stop.push(this.model.detokenize(pending, false)); if (out) emit(out, wantLp ? pendingLp : undefined); }
        const rest = stop.flush();
        if (rest) emit(rest);
      }
    } catch (e) {
      // a sequence whose state is unknown is cleared before reuse
      await seq.clearHistory().catch(() => undefined);
      deliver();
      throw e;
    } finally {
      if (started) barrier.stop();
      this.release(pool, seq);
    }
    // the rest of this request (its last text, then the caller's log, usage and response end) runs once the other
    // sequences' next step is under way
    if (queued.length === 0) await new Promise<void>((resolve) => barrier.afterDispatch(resolve));
    else await new Promise<void>((resolve) => { barrier.cancel(deliver); barrier.afterDispatch(() => { deliver(); resolve(); }); });
    if (failed) throw (failed as { error: unknown }).error;
    return { finishReason: finish, promptTokens: ids.length, completionTokens: completion, cachedTokens: cached };
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<EmbedResult> {
    if (this.closed) throw new BackendError(503, 'the model is being unloaded; retry', 'model_unloading');
    this.embedding ??= this.model.createEmbeddingContext({ contextSize: Math.min(this.contextSize, 2048), threads: this.threads });
    const ectx = await this.embedding;
    const run = async (): Promise<EmbedResult> => {
      const vectors: number[][] = [];
      let tokens = 0;
      for (const t of texts) {
        if (signal?.aborted) throw new BackendError(499, 'client closed request', 'aborted');
        const ids = this.model.tokenize(t, false);
        if (ids.length === 0) throw new BackendError(400, 'input must not be empty', 'invalid_value', 'input');
        if (ids.length > Math.min(this.contextSize, 2048)) throw new BackendError(400, `This model's maximum context length is ${Math.min(this.contextSize, 2048)} tokens, however you requested ${ids.length} tokens in your input.`, 'context_length_exceeded', 'input');
        tokens += ids.length;
        const e = await ectx.getEmbeddingFor(ids);
        vectors.push(Array.from(e.vector));
      }
      return { vectors, promptTokens: tokens };
    };
    const p = this.embedQueue.then(run, run);
    this.embedQueue = p.catch(() => undefined);
    return p;
  }

  /** Token count of a text (for usage of endpoints that do not generate). */
  countTokens(text: string): number {
    return this.model.tokenize(text, false).length;
  }

  memoryBytes(): number {
    return this.model.size + this.maxConcurrency * this.contextSize * this.kvBytesPerToken() * Math.max(1, this.pools.size);
  }

  private kvBytesPerToken(): number {
    // K and V, F16, per layer: 2 * layers * kvHeads * headDim * 2 bytes
    const c = this.config;
    return 4 * c.numLayers * c.numKvHeads * (c.hiddenSize / c.numHeads);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const name of [...this.pools.keys()]) await this.dropPool(name);
    if (this.embedding) await (await this.embedding.catch(() => null))?.dispose();
    await this.model.dispose();
  }
}

function isJson(s: string): boolean {
  try { JSON.parse(s); return true; } catch { return false; }
}
