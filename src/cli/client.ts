/**
 * The CLI's HTTP client for a running `modelfab serve`: base URL and key from flags or the environment
 * (MODELFAB_URL, MODELFAB_API_KEY, else MODELFAB_ADMIN_KEY), JSON requests, uploads through the Files API,
 * OpenAI-shaped errors turned into one readable line, and server-sent events as an async iterator. Every command
 * that reads or changes server state goes through it with the same two options (`withClient`).
 */
import type { Command } from 'commander';
import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { fileError, requireFile } from './user-files.ts';

export interface ClientOptions { url?: string; apiKey?: string }

export class ApiClientError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The server options every server command takes: --url and --api-key, defaulting to MODELFAB_URL and MODELFAB_API_KEY. */
export function withClient(cmd: Command): Command {
  return cmd
    .option('--url <url>', `server URL (default $MODELFAB_URL or ${DEFAULT_URL})`)
    .option('--api-key <key>', 'API key (default $MODELFAB_API_KEY)');
}

/** The options of a server command that can also print JSON. */
export type Remote = { url?: string; apiKey?: string; json?: boolean };

/** `withClient` and `--json`. */
export const remote = (c: Command): Command => withClient(c).option('--json', 'print JSON');

/** Prints `value` as JSON with --json, else the text `text()` makes. */
export function out(json: boolean | undefined, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text());
}

type ErrorBody = { error?: { message?: string; problems?: { file: string; line?: number; path?: string; message: string }[] } } | null;

function errorLine(status: number, text: string): string {
  let json: ErrorBody = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  const err = json?.error;
  const problems = err?.problems?.map((p) => `\n  ${p.file}${p.line ? `:${p.line}` : ''}${p.path ? ` ${p.path}` : ''}: ${p.message}`).join('') ?? '';
  const plain = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  // with problems, the message's first line and then each problem once (the message lists them too)
  const message = err?.message === undefined ? plain || 'no message' : problems ? err.message.split('\n')[0] : err.message;
  return `${status}: ${message}${problems}`;
}

export class ApiClient {
  readonly url: string;
  readonly key: string;

  constructor(o: ClientOptions = {}) {
    this.url = (o.url ?? process.env.MODELFAB_URL ?? DEFAULT_URL).replace(/\/+$/, '').replace(/\/v1$/, '');
    const key = o.apiKey ?? process.env.MODELFAB_API_KEY ?? process.env.MODELFAB_ADMIN_KEY;
    if (!key) throw new Error('no API key: pass --api-key or set MODELFAB_API_KEY (the key `modelfab serve` printed on first start)');
    this.key = key;
  }

  private async send(method: string, path: string, init: { body?: string | FormData; headers?: Record<string, string> } = {}): Promise<Response> {
    try {
      return await fetch(this.url + path, { method, headers: { authorization: `Bearer ${this.key}`, ...init.headers }, body: init.body });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new ApiClientError(0, `cannot reach ${this.url} (${cause}); start it with \`modelfab serve\` or pass --url / set MODELFAB_URL`);
    }
  }

  /** The body as text, or an ApiClientError with the server's message on a non-2xx answer. */
  async text(method: string, path: string, body?: unknown): Promise<string> {
    const res = await this.send(method, path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await res.text();
    if (!res.ok) throw new ApiClientError(res.status, errorLine(res.status, text));
    return text;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const text = await this.text(method, path, body);
    try { return (text ? JSON.parse(text) : null) as T; } catch { throw new ApiClientError(0, `${this.url}${path.split('?')[0]} did not answer JSON (is --url a modelfab server?)`); }
  }

  get<T>(path: string): Promise<T> { return this.request<T>('GET', path); }
  post<T>(path: string, body?: unknown): Promise<T> { return this.request<T>('POST', path, body ?? {}); }
  put<T>(path: string, body?: unknown): Promise<T> { return this.request<T>('PUT', path, body ?? {}); }
  patch<T>(path: string, body?: unknown): Promise<T> { return this.request<T>('PATCH', path, body ?? {}); }
  delete<T>(path: string): Promise<T> { return this.request<T>('DELETE', path); }

  /**
   * Uploads a local file with the Files API (multipart `file` + `purpose`), streamed from disk; a missing file is
   * "file not found: PATH".
   */
  async upload(path: string, purpose: string): Promise<{ id: string; filename: string; bytes: number }> {
    let blob: Blob;
    try { blob = await openAsBlob(requireFile(path)); } catch (e) { throw (e as NodeJS.ErrnoException).code ? fileError(path, e) : e; }
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', blob, basename(path));
    const res = await this.send('POST', '/v1/files', { body: form });
    const text = await res.text();
    if (!res.ok) throw new ApiClientError(res.status, `${path}: ${errorLine(res.status, text)}`);
    return JSON.parse(text) as { id: string; filename: string; bytes: number };
  }

  /**
   * Server-sent events of a GET, or of a POST of `body` as JSON (a request with `stream: true`); ends when the server
   * closes the stream or `signal` aborts.
   */
  async *events(path: string, signal?: AbortSignal, body?: unknown): AsyncGenerator<{ event: string; data: unknown }> {
    let res: Response;
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, accept: 'text/event-stream' };
      res = await fetch(this.url + path, body === undefined ? { headers, signal } : { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ApiClientError(0, `cannot reach ${this.url} (${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}); start it with \`modelfab serve\` or pass --url / set MODELFAB_URL`);
    }
    if (!res.ok || !res.body) throw new ApiClientError(res.status, errorLine(res.status, await res.text()));
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data) yield { event, data: JSON.parse(data) };
      }
    }
  }
}

/** --url / --api-key on a command. */
export function clientOptions(cmd: { url?: string; apiKey?: string }): ClientOptions {
  return { url: cmd.url, apiKey: cmd.apiKey };
}

/** A path segment, escaped. */
export const seg = (s: string) => encodeURIComponent(s);
