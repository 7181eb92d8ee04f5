/**
 * The small chat-model seam the guard's classifier and reflection checks run on: `complete(messages) -> text`.
 * Owns three implementations: an OpenAI-compatible endpoint over fetch (any server with /v1/chat/completions,
 * modelfab's own gateway included), a function adapter (e.g. over the in-process gateway), and a scripted fake for
 * tests that records every call. Guarantees: errors name the model and the HTTP status; a timeout aborts the call.
 */
import { OpenAIClient, UpstreamError } from '../openai/openai-client.ts';
import { StatusError } from '../util/status-error.ts';

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }
export interface CompleteOptions { maxTokens?: number; temperature?: number; signal?: AbortSignal }

export interface ChatModel {
  readonly name: string;
  complete(messages: ChatMessage[], opts?: CompleteOptions): Promise<string>;
}

/** A chat model call that failed: names the model; keeps the upstream's status (502 when it never answered, 504 on timeout). */
export class ChatModelError extends StatusError {}

/** An OpenAI-compatible chat endpoint (`baseUrl` as the official client takes it: ending with /v1, or the server root). */
export class OpenAIChatModel implements ChatModel {
  private readonly client: OpenAIClient;
  constructor(readonly name: string, private readonly o: { baseUrl: string; model?: string; apiKey?: string; timeoutMs?: number }) {
    this.client = new OpenAIClient({ baseURL: o.baseUrl, apiKey: o.apiKey, timeoutMs: o.timeoutMs ?? 60_000 });
  }

  async complete(messages: ChatMessage[], opts: CompleteOptions = {}): Promise<string> {
    try {
      const json = await this.client.chatCompletion({ model: this.o.model ?? this.name, messages, max_tokens: opts.maxTokens ?? 256, temperature: opts.temperature ?? 0 }, { signal: opts.signal });
      return json.choices?.[0]?.message?.content ?? '';
    } catch (e) {
      if (!(e instanceof UpstreamError)) throw e;
      const what = e.failure === 'http' ? `HTTP ${e.upstreamStatus}: ${e.message.slice(0, 200)}` : e.failure === 'timeout' || e.failure === 'aborted' ? 'timed out or aborted' : e.message;
      throw new ChatModelError(e.status, `model ${this.name}: ${what}`, { type: e.type, code: e.code, param: e.param });
    }
  }
}

/** Any function as a ChatModel (the server wraps its in-process gateway this way). */
export function functionChatModel(name: string, fn: (messages: ChatMessage[], opts: CompleteOptions) => Promise<string>): ChatModel {
  return { name, complete: (m, o = {}) => fn(m, o) };
}

/** A scripted fake: replies in order (the last one repeats), or computed from the messages; records calls. */
export class ScriptedChatModel implements ChatModel {
  readonly calls: ChatMessage[][] = [];
  private i = 0;
  constructor(readonly name: string, private readonly script: string[] | ((messages: ChatMessage[]) => string)) {}

  async complete(messages: ChatMessage[]): Promise<string> {
    this.calls.push(messages);
    if (typeof this.script === 'function') return this.script(messages);
    const r = this.script[Math.min(this.i, this.script.length - 1)];
    this.i++;
    return r ?? '';
  }
}
