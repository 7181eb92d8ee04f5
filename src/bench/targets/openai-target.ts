/**
 * Target over an OpenAI-compatible HTTP endpoint (OpenAI, vLLM, llama.cpp server, modelfab's own gateway), through
 * the one outbound client (openai/openai-client.ts).
 *
 * Owns: generation through /v1/chat/completions (chat prompts, or every prompt with `mode: 'chat'`) or
 * /v1/completions (raw prompts); log-likelihoods only through /v1/completions with `echo: true, logprobs: 1,
 * max_tokens: 0` (the continuation's tokens are those whose text_offset falls at or after the context's length).
 * Guarantees: a log-likelihood request to an endpoint configured without logprobs, or whose answer carries no
 * echoed logprobs, fails with NotSupportedError saying why (never a made-up score); HTTP errors name the status and
 * the endpoint's message. At most `parallel` requests are in flight.
 */
import type { GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult, RollingResult, Target } from '../bench-types.ts';
import { NotSupportedError } from '../bench-types.ts';
import { mapLimit } from './target-utils.ts';
import { OpenAIClient, UpstreamError } from '../../openai/openai-client.ts';

export interface OpenAITargetOptions {
  /** e.g. http://127.0.0.1:8080/v1 */
  baseURL: string;
  model: string;
  apiKey?: string;
  /** 'auto' (default): chat prompts to chat/completions, raw ones to completions; 'chat': everything to chat. */
  mode?: 'auto' | 'chat';
  /** Whether the endpoint returns echoed prompt logprobs on /completions (default false: log-likelihood tasks are not supported). */
  logprobs?: boolean;
  parallel?: number;
  timeoutMs?: number;
  name?: string;
}

interface CompletionLogprobs { tokens?: string[]; token_logprobs?: Array<number | null>; text_offset?: number[]; top_logprobs?: Array<Record<string, number> | null> }

export class OpenAITarget implements Target {
  readonly kind = 'openai' as const;
  readonly id: string;
  readonly name: string;
  readonly supports: { loglikelihood: boolean; generate: boolean };
  private readonly base: string;
  private readonly client: OpenAIClient;

  constructor(private readonly opts: OpenAITargetOptions) {
    this.client = new OpenAIClient({ baseURL: opts.baseURL, apiKey: opts.apiKey, timeoutMs: opts.timeoutMs ?? 120_000 });
    this.base = this.client.baseURL;
    this.id = `openai:${this.base}#${opts.model}`;
    this.name = opts.name ?? opts.model;
    this.supports = { loglikelihood: opts.logprobs === true, generate: true };
  }

  private async post(path: string, body: unknown): Promise<Record<string, unknown>> {
    try {
      return await this.client.json<Record<string, unknown>>(path, body);
    } catch (e) {
      throw e instanceof UpstreamError ? e.asDependencyError(`${this.base}${path}`) : e;
    }
  }

  private notSupported(why: string): NotSupportedError {
    return new NotSupportedError(`${this.name} (${this.base}): log-likelihood tasks are not supported: ${why}`);
  }

  /** Echoed logprobs of `prompt`, from the token at character `from` on. */
  private async echo(prompt: string, from: number): Promise<LoglikelihoodResult> {
    const r = await this.post('/completions', { model: this.opts.model, prompt, max_tokens: 0, echo: true, logprobs: 1, temperature: 0 });
    const lp = ((r.choices as Array<{ logprobs?: CompletionLogprobs }> | undefined)?.[0]?.logprobs) ?? null;
    if (!lp || !lp.tokens || !lp.token_logprobs || !lp.text_offset) throw this.notSupported('the endpoint returned no echoed prompt logprobs');
    let logProb = 0, tokens = 0, greedy = true;
    for (let i = 0; i < lp.tokens.length; i++) {
      if (lp.text_offset[i] < from) continue;
      const v = lp.token_logprobs[i];
      if (v === null || v === undefined) continue;
      logProb += v;
      tokens++;
      const top = lp.top_logprobs?.[i];
      if (top) {
        const best = Object.entries(top).sort((a, b) => b[1] - a[1])[0];
        if (best && best[0] !== lp.tokens[i]) greedy = false;
      }
    }
    return { logProb, isGreedy: greedy, tokens };
  }

  async loglikelihood(requests: readonly LoglikelihoodRequest[]): Promise<LoglikelihoodResult[]> {
    if (!this.supports.loglikelihood) throw this.notSupported('it is configured without logprobs (the completions endpoint must accept echo: true with logprobs)');
    return mapLimit(requests, this.opts.parallel ?? 4, (r) => {
      if (typeof r.context !== 'string') throw this.notSupported('chat prompts cannot be scored (the chat endpoint does not echo prompt logprobs)');
      return this.echo(r.context + r.continuation, r.context.length);
    });
  }

  async loglikelihoodRolling(texts: readonly string[]): Promise<RollingResult[]> {
    if (!this.supports.loglikelihood) throw this.notSupported('it is configured without logprobs (the completions endpoint must accept echo: true with logprobs)');
    return mapLimit(texts, this.opts.parallel ?? 4, async (t) => { const r = await this.echo(t, 0); return { logProb: r.logProb, tokens: r.tokens }; });
  }

  async generate(requests: readonly GenerateRequest[]): Promise<GenerateResult[]> {
    return mapLimit(requests, this.opts.parallel ?? 4, async (r) => {
      const common = {
        model: this.opts.model, max_tokens: r.maxTokens, temperature: r.temperature ?? 0, seed: r.seed,
        ...(r.stop?.length ? { stop: r.stop.filter(Boolean).slice(0, 4) } : {}),
      };
      if (typeof r.prompt !== 'string' || this.opts.mode === 'chat') {
        const messages = typeof r.prompt === 'string' ? [{ role: 'user', content: r.prompt }] : r.prompt.messages;
        const res = await this.post('/chat/completions', { ...common, messages });
        const c = (res.choices as Array<{ message?: { content?: string } }> | undefined)?.[0];
        const usage = res.usage as { completion_tokens?: number } | undefined;
        return { text: c?.message?.content ?? '', tokens: usage?.completion_tokens ?? 0 };
      }
      const res = await this.post('/completions', { ...common, prompt: r.prompt });
      const c = (res.choices as Array<{ text?: string }> | undefined)?.[0];
      const usage = res.usage as { completion_tokens?: number } | undefined;
      return { text: c?.text ?? '', tokens: usage?.completion_tokens ?? 0 };
    });
  }

  async close(): Promise<void> {}
}
