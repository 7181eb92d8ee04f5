/**
 * The small chat-model seam the guard's classifier and reflection checks run on: `complete(messages) -> text`.
 * Owns three implementations: an OpenAI-compatible endpoint over fetch (any server with /v1/chat/completions,
 * modelfab's own gateway included), a function adapter (e.g. over the in-process gateway), and a scripted fake for
 * tests that records every call. Guarantees: errors name the model and the HTTP status; a timeout aborts the call.
 */

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }
export interface CompleteOptions { maxTokens?: number; temperature?: number; signal?: AbortSignal }

export interface ChatModel {
  readonly name: string;
  complete(messages: ChatMessage[], opts?: CompleteOptions): Promise<string>;
}

export class ChatModelError extends Error {}

/** An OpenAI-compatible chat endpoint (`baseUrl` ends with /v1). */
export class OpenAIChatModel implements ChatModel {
  constructor(readonly name: string, private readonly o: { baseUrl: string; model?: string; apiKey?: string; timeoutMs?: number }) {}

  async complete(messages: ChatMessage[], opts: CompleteOptions = {}): Promise<string> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.o.timeoutMs ?? 60_000);
    const onAbort = () => ac.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await fetch(`${this.o.baseUrl.replace(/\/+$/, '')}/chat/completions`, {
        method: 'POST', signal: ac.signal,
        headers: { 'content-type': 'application/json', ...(this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {}) },
        body: JSON.stringify({ model: this.o.model ?? this.name, messages, max_tokens: opts.maxTokens ?? 256, temperature: opts.temperature ?? 0 }),
      });
      const text = await res.text();
      if (!res.ok) throw new ChatModelError(`model ${this.name}: HTTP ${res.status}: ${text.slice(0, 200)}`);
      const json = JSON.parse(text) as { choices?: Array<{ message?: { content?: string | null } }> };
      return json.choices?.[0]?.message?.content ?? '';
    } catch (e) {
      if (e instanceof ChatModelError) throw e;
      throw new ChatModelError(`model ${this.name}: ${ac.signal.aborted ? 'timed out or aborted' : (e as Error).message}`);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
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
