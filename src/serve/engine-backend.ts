/**
 * The engine `ModelBackend`: serves an engine model folder with the engine's own decoder (src/engine/llama-model.ts,
 * KV cache), for what llama.cpp cannot run: prefix- and prompt-tuned adapters, and small models when llama.cpp is
 * unavailable. One request at a time (the decoder is synchronous); each token is followed by a yield to the event
 * loop, so other requests, streams and health checks keep flowing while it generates.
 *
 * Supports: temperature, top-k, top-p, seed, stop strings, presence/frequency penalties (applied to the logits as
 * OpenAI defines them), logprobs (from the logits), token-id prompts, and echo with the prompt's own log
 * probabilities (one pass over the prompt gives every position's logits; evaluation harnesses score with it).
 * Not supported (400): JSON-schema grammars, per-request adapters.
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { Gemm } from '../engine/gemm/gemm-seam.ts';
import { createGemm } from '../engine/gemm/create-gemm.ts';
import { loadModel } from '../engine/io.ts';
import type { LlamaModel } from '../engine/llama-model.ts';
import { sampleToken } from '../engine/generate.ts';
import { Rng } from '../engine/rng.ts';
import type { Ctx } from '../engine/tensor.ts';
import { StreamDecoder, type Tokenizer } from '../engine/tokenizer/tokenizer-exports.ts';
import { chatStopIds, END_OF_TEXT_TOKENS } from '../engine/tokenizer/chat-template.ts';
import {
  BackendError, StopMatcher, utf8Bytes, type BackendCapabilities, type EmbedResult, type GenerateCallbacks, type GenerateParams,
  type GenerateResult, type ModelBackend, type PromptTokenLogprob, type TokenLogprob,
} from './model-backend.ts';
import { chatSegments, fallbackTemplate, resolveTemplate, type TemplateName } from './prompt.ts';

export class EngineBackend implements ModelBackend {
  readonly kind = 'engine' as const;
  readonly capabilities: BackendCapabilities = { embeddings: true, logprobs: true, promptLogprobs: true, jsonSchema: false };
  readonly maxConcurrency = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stopIds: number[];
  private closed = false;

  private constructor(
    private readonly model: LlamaModel,
    private readonly tok: Tokenizer,
    private readonly gemm: Gemm,
    readonly template: TemplateName,
    readonly contextSize: number,
  ) {
    const ids = new Set<number>();
    if (template !== 'plain') for (const id of chatStopIds(tok, template)) ids.add(id);
    if (tok.eosId !== null) ids.add(tok.eosId);
    for (const t of END_OF_TEXT_TOKENS) if (tok.hasSpecial(t)) ids.add(tok.specialId(t));
    this.stopIds = [...ids];
  }

  static async load(dir: string, opts: { chatTemplate?: string | null; contextSize?: number } = {}): Promise<EngineBackend> {
    const { model, tokenizer, info } = loadModel(dir);
    const template = resolveTemplate(opts.chatTemplate ?? info.chatTemplate, fallbackTemplate(tokenizer));
    const gemm = await createGemm({ threads: 1 });
    return new EngineBackend(model, tokenizer, gemm, template, Math.min(opts.contextSize ?? 1024, model.config.contextLength || 1024));
  }

  private encode(params: GenerateParams): number[] {
    if (params.prompt.kind === 'text') return this.tok.encode(params.prompt.text);
    if (params.prompt.kind === 'tokens') {
      const V = this.model.config.vocabSize;
      const bad = params.prompt.ids.findIndex((t) => t >= V);
      if (bad >= 0) throw new BackendError(400, `Invalid 'prompt': token ${bad} (${params.prompt.ids[bad]}) is outside this model's vocabulary of ${V}.`, 'invalid_value', 'prompt');
      return params.prompt.ids;
    }
    const out: number[] = [];
    for (const s of chatSegments(params.prompt.messages, this.template)) out.push(...this.tok.encode(s.text, { allowSpecial: s.special }));
    return out;
  }

  generate(params: GenerateParams, cb: GenerateCallbacks): Promise<GenerateResult> {
    if (params.json) return Promise.reject(new BackendError(400, 'response_format json_schema/json_object is not supported by this backend (engine)', 'unsupported_parameter', 'response_format'));
    if (params.adapter) return Promise.reject(new BackendError(400, 'per-request adapters are not supported by this backend (engine)', 'unsupported_parameter', 'model'));
    const run = () => this.run(params, cb);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async run(params: GenerateParams, cb: GenerateCallbacks): Promise<GenerateResult> {
    if (this.closed) throw new BackendError(503, 'the model is being unloaded; retry', 'model_unloading');
    const ids = this.encode(params);
    if (ids.length === 0) throw new BackendError(400, 'the prompt is empty', 'empty_prompt', 'messages');
    const room = this.contextSize - this.model.promptLength - ids.length;
    if (room <= 0) throw new BackendError(400, `This model's maximum context length is ${this.contextSize} tokens. However, your messages resulted in ${ids.length} tokens.`, 'context_length_exceeded', 'messages');
    const maxTokens = Math.min(params.maxTokens, room);
    const ctx: Ctx = { gemm: this.gemm, tape: null, rng: new Rng(params.seed ?? 0), training: false };
    const rng = new Rng(params.seed ?? Date.now() % 0x7fffffff);
    const cache = this.model.newCache(this.model.promptLength + ids.length + maxTokens);
    const stop = new StopMatcher(params.stop);
    const dec = new StreamDecoder(this.tok, { skipSpecial: true });
    const counts = new Map<number, number>();
    const sampling = { temperature: params.temperature, topK: params.topK, topP: params.topP, vocabSize: this.tok.vocabSize };
    let logits: Float32Array;
    if (params.echo) {
      // one pass over the prompt: row i holds the logits after token i, so token i+1's log probability
      const V = this.model.config.vocabSize;
      const all = this.model.decode(ctx, Int32Array.from(ids), cache, true);
      const top = params.logprobs?.top ?? 0;
      const lps: PromptTokenLogprob[] | undefined = params.logprobs
        ? ids.map((id, i) => (i === 0 ? { ...this.logprob(null, id, 0), logprob: null } : this.logprob(all.subarray((i - 1) * V, i * V), id, top)))
        : undefined;
      cb.onPrompt?.({ text: this.tok.decode(ids), ...(lps ? { logprobs: lps } : {}) });
      logits = all.slice((ids.length - 1) * V);
    } else logits = this.model.decode(ctx, Int32Array.from(ids), cache);
    let n = 0;
    let finish: GenerateResult['finishReason'] = 'length';
    while (n < maxTokens) {
      if (params.presencePenalty || params.frequencyPenalty) {
        logits = logits.slice();
        for (const [t, c] of counts) logits[t] -= params.presencePenalty + c * params.frequencyPenalty;
      }
      const id = sampleToken(logits, sampling, rng);
      if (this.stopIds.includes(id)) { finish = 'stop'; break; }
      n++;
      counts.set(id, (counts.get(id) ?? 0) + 1);
      let lps: TokenLogprob[] | undefined;
      if (params.logprobs) lps = [this.logprob(logits, id, params.logprobs.top)];
      const out = stop.push(dec.push(id));
      if (out || lps) cb.onText(out, lps);
      if (stop.stopped) { finish = 'stop'; break; }
      if (n >= maxTokens) break;
      await yieldLoop();
      if (params.signal?.aborted) { finish = 'abort'; break; }
      logits = this.model.decode(ctx, Int32Array.from([id]), cache);
    }
    if (finish !== 'abort') {
      const rest = stop.push(dec.flush()) + stop.flush();
      if (rest) cb.onText(rest);
    }
    return { finishReason: finish, promptTokens: ids.length, completionTokens: n };
  }

  /** Token `id`'s log probability under `logits` with the `top` likeliest alternatives (no logits: the token alone, logprob 0). */
  private logprob(logits: Float32Array | null, id: number, top: number): TokenLogprob {
    const str = (t: number) => this.tok.decode([t]);
    const s = str(id);
    if (!logits) return { token: s, logprob: 0, bytes: utf8Bytes(s), top_logprobs: [] };
    let max = -Infinity;
    for (const v of logits) if (v > max) max = v;
    let z = 0;
    for (const v of logits) z += Math.exp(v - max);
    const lz = Math.log(z) + max;
    const lp: TokenLogprob = { token: s, logprob: logits[id] - lz, bytes: utf8Bytes(s), top_logprobs: [] };
    for (const t of topIndices(logits, top)) { const ts = str(t); lp.top_logprobs.push({ token: ts, logprob: logits[t] - lz, bytes: utf8Bytes(ts) }); }
    return lp;
  }

  /**
   * One vector per text: the last position's hidden state after the final norm, as llama.cpp returns a causal
   * model's embedding (so the two backends agree on the same weights). Queued with generation (one model, one core).
   */
  embed(texts: string[], signal?: AbortSignal): Promise<EmbedResult> {
    const run = async (): Promise<EmbedResult> => {
      if (this.closed) throw new BackendError(503, 'the model is being unloaded; retry', 'model_unloading');
      const vectors: number[][] = [];
      let tokens = 0;
      for (const t of texts) {
        if (signal?.aborted) throw new BackendError(499, 'client closed request', 'aborted');
        const ids = this.tok.encode(t);
        if (ids.length === 0) throw new BackendError(400, 'input must not be empty', 'invalid_value', 'input');
        const room = this.contextSize - this.model.promptLength;
        if (ids.length > room) throw new BackendError(400, `This model's maximum context length is ${room} tokens, however you requested ${ids.length} tokens in your input.`, 'context_length_exceeded', 'input');
        tokens += ids.length;
        const ctx: Ctx = { gemm: this.gemm, tape: null, rng: new Rng(0), training: false };
        const h = this.model.decodeHidden(ctx, Int32Array.from(ids), this.model.newCache(this.model.promptLength + ids.length));
        vectors.push(Array.from(h.data));
        await yieldLoop();
      }
      return { vectors, promptTokens: tokens };
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  memoryBytes(): number {
    return this.model.weightBytes();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** The indices of the `k` largest values, largest first (ties: the lower index); one pass, no sort of the whole row. */
export function topIndices(row: Float32Array, k: number): number[] {
  const n = Math.min(k, row.length);
  const idx: number[] = [];
  for (let i = 0; i < row.length && n > 0; i++) {
    const v = row[i]!;
    if (idx.length === n && v <= row[idx[n - 1]!]!) continue;
    let j = idx.length < n ? idx.length : n - 1;
    while (j > 0 && row[idx[j - 1]!]! < v) { idx[j] = idx[j - 1]!; j--; }
    idx[j] = i;
  }
  return idx;
}
