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

interface Pool {
  context: LlamaContext;
  free: LlamaContextSequence[];
  waiting: Array<(s: LlamaContextSequence) => void>;
  gate: StepGate;
}

/**
 * When to send a batch to llama.cpp. node-llama-cpp samples each sequence's token in its own async call, so the
 * sequences ask for their next step over several event-loop turns; its default (dispatch on the next turn) then
 * often splits one step of N sequences into several smaller batches. The gate dispatches once every sequence that
 * is generating has asked for its next token, or after 3 ms, whichever comes first.
 */
class StepGate {
  active = 0;
  asked = 0;
  private pending: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  readonly schedule = (dispatch: () => void): void => {
    this.pending = dispatch;
    this.timer = setTimeout(this.fire, 3);
    this.check();
  };

  private readonly fire = (): void => {
    const d = this.pending;
    this.pending = null;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    d?.();
  };

  private check(): void {
    if (!this.pending || this.checking || this.asked < this.active) return;
    this.checking = true;
    // let the last sequence's request reach the queue (a few microtasks later) before dispatching
    setImmediate(() => { this.checking = false; if (this.asked >= this.active) this.fire(); });
  }

  /** A sequence is about to ask for its next step. */
  ask(): void { this.asked++; this.check(); }
  /** A sequence got its token. */
  got(): void { this.asked--; }
  start(): void { this.active++; }
  stop(asking: boolean): void { this.active--; if (asking) this.asked--; this.check(); }
}

export class LlamaServeBackend implements ModelBackend {
  readonly kind = 'llama.cpp' as const;
  readonly capabilities: BackendCapabilities = { embeddings: true, logprobs: true, jsonSchema: true, embeddingMethod: 'llama.cpp embedding context (the GGUF pooling type; the last token\'s hidden state when none)' };
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
      const gate = new StepGate();
      p = this.model.createContext({
        contextSize: this.contextSize, sequences: this.maxConcurrency, threads: this.threads,
        batchSize: Math.max(this.maxConcurrency, Math.min(512, this.contextSize)),
        lora: a ? { adapters: [{ filePath: a.path, scale: a.scale }] } : undefined,
        batching: { dispatchSchedule: gate.schedule },
      }).then((context) => ({ context, free: [], waiting: [], gate }));
      p.catch(() => this.pools.delete(adapter));
      this.pools.set(adapter, p);
    }
    return p;
  }

  private async acquire(pool: Pool): Promise<LlamaContextSequence> {
    const s = pool.free.pop();
    if (s) return s;
    if (pool.context.sequencesLeft > 0) return pool.context.getSequence();
    return new Promise((resolve) => pool.waiting.push(resolve));
  }

  private release(pool: Pool, s: LlamaContextSequence): void {
    const w = pool.waiting.shift();
    if (w) w(s);
    else pool.free.push(s);
  }

  tokenizePrompt(params: GenerateParams): Token[] {
    if (params.prompt.kind === 'text') return this.model.tokenize(params.prompt.text, false);
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
    const grammar = params.json ? await this.grammar(params.json) : null;
    const pool = await this.pool(params.adapter ?? '');
    const seq = await this.acquire(pool);
    let completion = 0;
    let finish: GenerateResult['finishReason'] = 'stop';
    const gate = pool.gate;
    let started = false, asking = false;
    try {
      // prefix reuse: keep what the sequence already holds of this prompt, evaluate at least the last token
      const { firstDifferentIndex } = seq.compareContextTokens(ids);
      const keep = Math.min(firstDifferentIndex, ids.length - 1);
      if (seq.nextTokenIndex > keep) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
      const input = ids.slice(keep);
      if (maxTokens <= 0) return { finishReason: 'length', promptTokens: ids.length, completionTokens: 0 };
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
      gate.start();
      started = true;
      gate.ask();
      asking = true;
      for await (const r of iter) {
        gate.got();
        asking = false;
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
          if (out) cb.onText(out, wantLp ? pendingLp : undefined);
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
        gate.ask();
        asking = true;
      }
      if (finish !== 'abort') {
        if (pending.length) { const out = stop.push(this.model.detokenize(pending, false)); if (out) cb.onText(out, wantLp ? pendingLp : undefined); }
        const rest = stop.flush();
        if (rest) cb.onText(rest);
      }
      return { finishReason: finish, promptTokens: ids.length, completionTokens: completion };
    } catch (e) {
      // a sequence whose state is unknown is cleared before reuse
      await seq.clearHistory().catch(() => undefined);
      throw e;
    } finally {
      if (started) gate.stop(asking);
      this.release(pool, seq);
    }
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
