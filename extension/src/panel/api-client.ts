/**
 * The panel's one client for the modelfab server: every URL is built from the configured origin, so the key goes
 * nowhere else (checked again before each request). Chat calls stream (server-sent events) and take an AbortSignal.
 * Errors carry the server's message (OpenAI's error body), never the key.
 */
import { sseParser } from '../lib/sse.ts';
import { onServer } from '../lib/settings.ts';
import type { Message } from '../lib/prompts.ts';

export interface CopilotSourceOut { ref: number; kind: 'knowledge' | 'bot' | 'page'; from: string; label: string; text: string; passage?: string }
export interface CopilotPageIn { title?: string; url?: string; passages: Array<{ id: string; text: string }> }

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export class ModelfabClient {
  constructor(private readonly origin: string, private readonly key: string) {}

  private async request(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<Response> {
    const url = `${this.origin}${path}`;
    if (!onServer(url, this.origin)) throw new Error(`refusing to send the key to ${url}`);
    let res: Response;
    try {
      res = await fetch(url, {
        method: init.method ?? 'GET', signal: init.signal, credentials: 'omit',
        headers: { authorization: `Bearer ${this.key}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new ApiError(0, (e as Error).message);
    }
    if (!res.ok) {
      let message = res.statusText;
      try { message = ((await res.json()) as { error?: { message?: string } }).error?.message ?? message; } catch { /* not JSON: the status text */ }
      throw new ApiError(res.status, message);
    }
    return res;
  }

  /** The models the key may use (the server lists only those). */
  async models(): Promise<string[]> {
    const r = (await (await this.request('/v1/models')).json()) as { data?: Array<{ id: string }> };
    return (r.data ?? []).map((m) => m.id);
  }

  /** A streamed chat completion's text. */
  async chat(model: string, messages: Message[], signal: AbortSignal, onText?: (t: string) => void): Promise<string> {
    const res = await this.request('/v1/chat/completions', { method: 'POST', body: { model, messages, stream: true }, signal });
    return (await this.readStream(res, onText)).text;
  }

  /** The Copilot with the page's passages as its first sources: the answer and every source it may cite. */
  async copilot(model: string, messages: Message[], page: CopilotPageIn | undefined, signal: AbortSignal, onText?: (t: string) => void): Promise<{ text: string; sources: CopilotSourceOut[] }> {
    const res = await this.request('/v1/copilot/chat/completions', { method: 'POST', body: { model, messages, stream: true, ...(page ? { copilot: { page } } : {}) }, signal });
    const r = await this.readStream(res, onText);
    return { text: r.text, sources: r.sources };
  }

  private async readStream(res: Response, onText?: (t: string) => void): Promise<{ text: string; sources: CopilotSourceOut[] }> {
    let text = '';
    let sources: CopilotSourceOut[] = [];
    let failure: string | null = null;
    const parser = sseParser((data) => {
      const c = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string } }>; copilot?: { sources?: CopilotSourceOut[] }; error?: { message?: string } };
      if (c.error) failure = c.error.message ?? 'error';
      const piece = c.choices?.[0]?.delta?.content;
      if (piece) { text += piece; onText?.(piece); }
      if (c.copilot?.sources) sources = c.copilot.sources;
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.push(value);
    }
    parser.end();
    if (failure) throw new ApiError(502, failure);
    return { text, sources };
  }
}
