/**
 * Target over the engine's own models (src/engine): full model folders and adapter folders (LoRA, prefix, prompt
 * tuning), loaded with `loadModel`.
 *
 * Owns: batched log-likelihoods through `model.forward` with no tape (sequences sorted by length and padded on the
 * right into batches of at most `batchTokens` tokens: causal attention makes right padding invisible to earlier
 * positions), rolling perplexity windows, and greedy/sampled generation over the KV cache (`generate`).
 * Guarantees: a batched log-likelihood equals the same request scored alone (tested); contexts longer than the
 * model's context length are cut from the left, the continuation is always kept whole.
 */
import { join } from 'node:path';
import { loadModel, readModelInfo } from '../../engine/io.ts';
import type { LlamaModel } from '../../engine/llama-model.ts';
import type { Tokenizer } from '../../engine/tokenizer/tokenizer.ts';
import { chatStopIds, encodeChat, type ChatTemplate } from '../../engine/tokenizer/tokenizer-exports.ts';
import { generate as engineGenerate } from '../../engine/generate.ts';
import { createGemm, type Gemm } from '../../engine/gemm/create-gemm.ts';
import { Rng } from '../../engine/rng.ts';
import type { Ctx } from '../../engine/tensor.ts';
import type { GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult, Prompt, RollingResult, Target } from '../bench-types.ts';
import { hashFiles, plainChatText, resolveChatTemplate, rollingWindows, sumWindows } from './target-utils.ts';

export interface EngineTargetOptions {
  gemm?: Gemm;
  /** Chat template name (default: the folder's, else chatml when the tokenizer has its tokens). */
  chatTemplate?: string;
  /** Most tokens per forward batch (B * T), default 2048. */
  batchTokens?: number;
  name?: string;
  id?: string;
}

export class EngineTarget implements Target {
  readonly kind = 'engine' as const;
  readonly supports = { loglikelihood: true, generate: true };
  readonly chatTemplate: ChatTemplate | null;
  private readonly batchTokens: number;

  constructor(
    readonly model: LlamaModel, readonly tokenizer: Tokenizer, private readonly gemm: Gemm,
    readonly id: string, readonly name: string, opts: { chatTemplate?: string | null; batchTokens?: number } = {},
  ) {
    let t = resolveChatTemplate(opts.chatTemplate ?? null);
    if (!t && opts.chatTemplate === undefined && tokenizer.hasSpecial('<|im_start|>') && tokenizer.hasSpecial('<|im_end|>')) t = resolveChatTemplate('chatml');
    this.chatTemplate = t;
    this.batchTokens = opts.batchTokens ?? 2048;
  }

  /** Loads an engine model folder (or adapter folder). The id hashes every file of the folder and its bases. */
  static async load(dir: string, opts: EngineTargetOptions = {}): Promise<EngineTarget> {
    const { model, tokenizer, info } = loadModel(dir);
    const files: string[] = [];
    for (let d: string | undefined = dir; d; d = readModelInfo(d).base) files.push(join(d, 'modelfab.json'), join(d, 'model.safetensors'), join(d, 'tokenizer.json'));
    const gemm = opts.gemm ?? await createGemm({ threads: 1 });
    return new EngineTarget(model, tokenizer, gemm, opts.id ?? `engine:${hashFiles(files)}`, opts.name ?? dir.split('/').filter(Boolean).pop() ?? dir, {
      chatTemplate: opts.chatTemplate ?? info.chatTemplate, batchTokens: opts.batchTokens,
    });
  }

  private get maxLen(): number {
    return this.model.config.contextLength;
  }

  /** The token that starts a text: BOS, else EOS (lm-evaluation-harness's prefix token), else none. */
  private get prefixToken(): number | null {
    return this.tokenizer.bosId ?? this.tokenizer.eosId ?? null;
  }

  encodePrompt(p: Prompt): number[] {
    if (typeof p === 'string') {
      const ids = this.tokenizer.encode(p);
      if (this.tokenizer.bosId !== null) return [this.tokenizer.bosId, ...ids];
      return ids.length === 0 && this.prefixToken !== null ? [this.prefixToken] : ids;
    }
    if (this.chatTemplate) return encodeChat(this.tokenizer, p.messages, { template: this.chatTemplate, addGenerationPrompt: true }).ids;
    return this.encodePrompt(plainChatText(p.messages));
  }

  /** Scores continuation tokens after context tokens, in batches. */
  scoreIds(pairs: ReadonlyArray<{ ctx: readonly number[]; cont: readonly number[] }>): LoglikelihoodResult[] {
    const out = new Array<LoglikelihoodResult>(pairs.length);
    const prepared = pairs.map((p, i) => {
      if (p.cont.length === 0) { out[i] = { logProb: 0, isGreedy: true, tokens: 0 }; return null; }
      if (p.ctx.length === 0) throw new Error('loglikelihood: the context is empty and the tokenizer has no BOS/EOS to start it');
      if (p.cont.length > this.maxLen) throw new Error(`loglikelihood: the continuation has ${p.cont.length} tokens, over the context length ${this.maxLen}`);
      const all = [...p.ctx, ...p.cont];
      const cut = Math.max(0, all.length - 1 - this.maxLen);
      const input = all.slice(cut, all.length - 1);
      return { i, input, first: p.ctx.length - 1 - cut, cont: p.cont };
    }).filter((x): x is NonNullable<typeof x> => x !== null);
    prepared.sort((a, b) => b.input.length - a.input.length);
    const P = this.model.promptLength, V = this.model.config.vocabSize;
    const ctx: Ctx = { gemm: this.gemm, tape: null, rng: new Rng(0), training: false };
    for (let s = 0; s < prepared.length;) {
      const T = prepared[s].input.length;
      const B = Math.max(1, Math.min(prepared.length - s, Math.floor(this.batchTokens / (T + P))));
      const batch = prepared.slice(s, s + B);
      s += B;
      const ids = new Int32Array(B * T);
      batch.forEach((r, b) => ids.set(r.input, b * T));
      const { logits } = this.model.forward(ctx, ids, B, null);
      const L = logits.data;
      batch.forEach((r, b) => {
        let lp = 0, greedy = true;
        r.cont.forEach((label, j) => {
          const row = (b * (T + P) + P + r.first + j) * V;
          let max = -Infinity, arg = 0;
          for (let v = 0; v < V; v++) if (L[row + v] > max) { max = L[row + v]; arg = v; }
          let z = 0;
          for (let v = 0; v < V; v++) z += Math.exp(L[row + v] - max);
          lp += L[row + label] - max - Math.log(z);
          if (arg !== label) greedy = false;
        });
        out[r.i] = { logProb: lp, isGreedy: greedy, tokens: r.cont.length };
      });
    }
    return out;
  }

  async loglikelihood(requests: readonly LoglikelihoodRequest[]): Promise<LoglikelihoodResult[]> {
    return this.scoreIds(requests.map((r) => ({ ctx: this.encodePrompt(r.context), cont: this.tokenizer.encode(r.continuation) })));
  }

  async loglikelihoodRolling(texts: readonly string[]): Promise<RollingResult[]> {
    const plans = texts.map((t) => rollingWindows(this.tokenizer.encode(t), this.maxLen, this.prefixToken));
    const scores = this.scoreIds(plans.flat());
    return sumWindows(plans, scores);
  }

  async generate(requests: readonly GenerateRequest[]): Promise<GenerateResult[]> {
    const stopIds = new Set<number>();
    if (this.tokenizer.eosId !== null) stopIds.add(this.tokenizer.eosId);
    if (this.chatTemplate) for (const id of chatStopIds(this.tokenizer, this.chatTemplate)) stopIds.add(id);
    return requests.map((r) => {
      let ids = this.encodePrompt(r.prompt);
      const room = Math.max(1, this.maxLen - r.maxTokens);
      if (ids.length > room) ids = ids.slice(ids.length - room);
      const g = engineGenerate(this.model, this.gemm, ids, (x) => this.tokenizer.decode(x, { skipSpecial: true }), {
        maxTokens: Math.min(r.maxTokens, this.maxLen - ids.length), temperature: r.temperature ?? 0, seed: r.seed ?? 0,
        stop: r.stop?.filter(Boolean), stopIds: [...stopIds], vocabSize: this.tokenizer.vocabSize,
      });
      return { text: g.text, tokens: g.ids.length };
    });
  }

  async close(): Promise<void> {}
}
