/**
 * Target over GGUF models through llama.cpp (node-llama-cpp 3.21.1, CPU), with N sequences evaluated in parallel.
 *
 * Owns: one llama.cpp context with `parallel` sequences (each with its own `contextSize` cells); requests are
 * handed to the sequences by N workers, and node-llama-cpp evaluates the sequences' tokens together in one batch
 * ("maximumParallelism"). Log-likelihoods are read from llama.cpp's next-token probability tables, as
 * LlamaCppBackend.logLikelihood does (src/serve/llama/llama-cpp.ts); that backend serves one sequence, so this target
 * opens its own context over the same validated loading rules: the file (and each LoRA adapter) is checked by our
 * GGUF reader before llama.cpp sees it, the CPU binding is never built or downloaded, threads are 1 or 2.
 * Guarantees: results do not depend on `parallel` (tested against parallel 1 and the engine).
 */
import type { LlamaContext, LlamaContextSequence, LlamaModel as NodeLlamaModel, Token } from 'node-llama-cpp';
import { adapterBaseOf, readGgufFile, readGgufHeader, validateGgufAdapter, validateGgufModel } from '../../model-files/gguf-model.ts';
import { getCpuLlama, type AdapterSpec } from '../../serve/llama/llama-cpp.ts';
import { renderChatText, type ChatTemplate } from '../../engine/tokenizer/tokenizer-exports.ts';
import type { GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult, Prompt, RollingResult, Target } from '../bench-types.ts';
import { cutAtStop, hashFiles, mapLimit, plainChatText, resolveChatTemplate, rollingWindows, sumWindows } from './target-utils.ts';

export interface LlamaTargetOptions {
  /** Sequences evaluated in parallel (default 1). */
  parallel?: number;
  threads?: 1 | 2;
  /** Tokens per sequence (default 512, at most the model's context length). */
  contextSize?: number;
  batchSize?: number;
  adapters?: AdapterSpec[];
  /** Chat template name (default: from the file's tokenizer.chat_template). */
  chatTemplate?: string;
  name?: string;
  id?: string;
}

type EvalInput = Parameters<LlamaContextSequence['controlledEvaluate']>[0];

export class LlamaTarget implements Target {
  readonly kind = 'llama' as const;
  readonly supports = { loglikelihood: true, generate: true };
  private free: LlamaContextSequence[];

  private constructor(
    readonly id: string, readonly name: string, private readonly model: NodeLlamaModel, private readonly context: LlamaContext,
    readonly parallel: number, readonly contextSize: number, readonly chatTemplate: ChatTemplate | null, private readonly addBos: boolean,
  ) {
    this.free = Array.from({ length: parallel }, () => context.getSequence());
  }

  static async load(path: string, opts: LlamaTargetOptions = {}): Promise<LlamaTarget> {
    const threads = opts.threads ?? 1;
    if (threads !== 1 && threads !== 2) throw new Error(`threads must be 1 or 2, got ${threads}`);
    const parallel = opts.parallel ?? 1;
    if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) throw new Error(`parallel must be an integer 1..64, got ${parallel}`);
    const header = readGgufHeader(path);
    const { config } = validateGgufModel(header, { anyKnownType: true });
    const base = adapterBaseOf(header);
    for (const a of opts.adapters ?? []) validateGgufAdapter(readGgufFile(a.path), base, a.expectedRank);
    const contextSize = Math.min(opts.contextSize ?? 512, config.contextLength);
    const llama = await getCpuLlama();
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    try {
      const context = await model.createContext({
        contextSize, threads, sequences: parallel, batchSize: opts.batchSize ?? Math.min(512, contextSize * parallel),
        lora: opts.adapters?.length ? { adapters: opts.adapters.map((a) => ({ filePath: a.path, scale: a.scale ?? 1 })) } : undefined,
      });
      const meta = header.metadata.get('tokenizer.chat_template')?.value;
      const chat = resolveChatTemplate(opts.chatTemplate ?? (typeof meta === 'string' ? meta : undefined));
      const addBos = header.metadata.get('tokenizer.ggml.add_bos_token')?.value === true;
      const id = opts.id ?? `gguf:${hashFiles([path, ...(opts.adapters ?? []).map((a) => a.path)])}${(opts.adapters ?? []).map((a) => `@${a.scale ?? 1}`).join('')}`;
      return new LlamaTarget(id, opts.name ?? path.split('/').pop() ?? path, model, context, parallel, context.contextSize, chat, addBos);
    } catch (e) {
      await model.dispose();
      throw e;
    }
  }

  private get prefixToken(): number | null {
    return (this.model.tokens.bos as number | null) ?? (this.model.tokens.eos as number | null) ?? null;
  }

  encodePrompt(p: Prompt): number[] {
    if (typeof p === 'string') {
      const ids = this.model.tokenize(p, false) as number[];
      const bos = this.model.tokens.bos as number | null;
      if (bos !== null && this.addBos) return [bos, ...ids];
      return ids.length === 0 && this.prefixToken !== null ? [this.prefixToken] : ids;
    }
    if (this.chatTemplate) return this.model.tokenize(renderChatText(p.messages, { template: this.chatTemplate, addGenerationPrompt: true }), true) as number[];
    return this.encodePrompt(plainChatText(p.messages));
  }

  private async withSequence<R>(f: (seq: LlamaContextSequence) => Promise<R>, keepHistory = false): Promise<R> {
    const seq = this.free.pop();
    if (!seq) throw new Error('LlamaTarget: no free sequence (more workers than sequences)');
    try {
      if (!keepHistory) await seq.clearHistory();
      return await f(seq);
    } finally {
      this.free.push(seq);
    }
  }

  /**
   * Scores one pair on a sequence, reusing the tokens the sequence already holds (prefix caching): the common
   * prefix with the new input, up to the context's last token, is kept and only the rest is evaluated. The four
   * choices of a multiple-choice item then cost one prefill and a few tokens each.
   */
  private async scoreOne(seq: LlamaContextSequence, ctx: readonly number[], cont: readonly number[]): Promise<LoglikelihoodResult> {
    if (cont.length === 0) return { logProb: 0, isGreedy: true, tokens: 0 };
    if (ctx.length === 0) throw new Error('loglikelihood: the context is empty and the model has no BOS/EOS to start it');
    let all = [...ctx, ...cont.slice(0, -1)];
    let first = ctx.length - 1;
    const cut = Math.max(0, all.length - this.contextSize);
    if (cut > first) throw new Error(`loglikelihood: the continuation has ${cont.length} tokens, over the context size ${this.contextSize}`);
    all = all.slice(cut);
    first -= cut;
    const have = seq.contextTokens as number[];
    let keep = 0;
    while (keep < first && keep < have.length && have[keep] === all[keep]) keep++;
    if (keep === 0) await seq.clearHistory();
    else if (keep < seq.nextTokenIndex) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
    const input = all.slice(keep).map((t, j) => (j + keep >= first ? [t as Token, { generateNext: { probabilities: true } }] as const : (t as Token)));
    const res = await seq.controlledEvaluate(input as EvalInput);
    let logProb = 0, greedy = true;
    cont.forEach((t, j) => {
      const probs = res[first - keep + j]?.next?.probabilities;
      if (!probs) throw new Error('loglikelihood: llama.cpp returned no probabilities');
      logProb += Math.log(probs.get(t as Token) ?? 0);
      let best = -1, arg = -1;
      for (const [tok, p] of probs) if (p > best) { best = p; arg = tok; }
      if (arg !== t) greedy = false;
    });
    return { logProb, isGreedy: greedy, tokens: cont.length };
  }

  async loglikelihood(requests: readonly LoglikelihoodRequest[]): Promise<LoglikelihoodResult[]> {
    const pairs = requests.map((r) => ({ ctx: this.encodePrompt(r.context), cont: this.model.tokenize(r.continuation, false) as number[] }));
    return this.scorePairs(pairs);
  }

  /**
   * Scores token pairs on the parallel sequences: pairs with the same context form one unit of work on one
   * sequence (prefix reuse), units go longest first to the free sequences, evaluated together by llama.cpp.
   */
  async scorePairs(pairs: ReadonlyArray<{ ctx: readonly number[]; cont: readonly number[] }>): Promise<LoglikelihoodResult[]> {
    const groups = new Map<string, number[]>();
    pairs.forEach((p, i) => {
      const k = p.ctx.join(',');
      const g = groups.get(k);
      if (g) g.push(i); else groups.set(k, [i]);
    });
    const units = [...groups.values()].sort((a, b) => pairs[b[0]].ctx.length - pairs[a[0]].ctx.length);
    const out = new Array<LoglikelihoodResult>(pairs.length);
    await mapLimit(units, this.parallel, (unit) => this.withSequence(async (seq) => {
      for (const i of unit) out[i] = await this.scoreOne(seq, pairs[i].ctx, pairs[i].cont);
    }, true));
    return out;
  }

  async loglikelihoodRolling(texts: readonly string[]): Promise<RollingResult[]> {
    const plans = texts.map((t) => rollingWindows(this.model.tokenize(t, false) as number[], this.contextSize, this.prefixToken));
    const scores = await this.scorePairs(plans.flat());
    return sumWindows(plans, scores);
  }

  async generate(requests: readonly GenerateRequest[]): Promise<GenerateResult[]> {
    return mapLimit(requests, this.parallel, (r) => this.withSequence(async (seq) => {
      let ids = this.encodePrompt(r.prompt);
      const room = Math.max(1, this.contextSize - r.maxTokens);
      if (ids.length > room) ids = ids.slice(ids.length - room);
      const sampling = { temperature: r.temperature ?? 0, seed: r.seed ?? 0 };
      const input = ids.map((t, i) => (i === ids.length - 1 ? [t as Token, { generateNext: { token: true, options: sampling } }] as const : (t as Token)));
      const res = await seq.controlledEvaluate(input as EvalInput);
      const out: number[] = [];
      const next = res[ids.length - 1]?.next?.token;
      const isEog = (t: number) => this.model.isEogToken(t as Token);
      if (next !== undefined && next !== null && !isEog(next)) {
        out.push(next);
        const limit = Math.min(r.maxTokens, this.contextSize - ids.length);
        if (out.length < limit) {
          for await (const tok of seq.evaluate([next as Token], { ...sampling, yieldEogToken: true })) {
            if (isEog(tok)) break;
            out.push(tok);
            if (r.stop?.length) {
              const t = this.model.detokenize(out as Token[]);
              if (cutAtStop(t, r.stop).length < t.length) break;
            }
            if (out.length >= limit) break;
          }
        }
      }
      const text = cutAtStop(this.model.detokenize(out as Token[]), r.stop);
      return { text, tokens: out.length };
    }));
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}
