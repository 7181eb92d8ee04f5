/**
 * The one outbound client for OpenAI-compatible endpoints (OpenAI, vLLM, Ollama, llama-server, another modelfab):
 * a small class over fetch that every caller in this project goes through.
 *
 * Owns: the base URL, normalised once the way users of the official `openai` package expect (the base URL includes
 * the version path: `http://h:1/v1` and `http://h:1/v1/` are the same, and a bare `http://h:1` means
 * `http://h:1/v1`); the API key header; a timeout and the caller's abort signal; JSON responses and server-sent
 * event streams parsed; retries where the request certainly did not run.
 * Guarantees: every failure is an `UpstreamError` (a `StatusError`) carrying the upstream's status and its
 * error's type, code and param, or 502/504/499 for an unreachable, slow or cancelled call; no message ever holds the
 * API key or credentials in the URL. It imports only from util/ (openai/ is the leftmost protocol layer).
 */
import { StatusError } from '../util/status-error.ts';
import type { ChatCompletion, ChatCompletionChunk, EmbeddingResponse, ErrorBody, Received, TextCompletion } from './wire-types.ts';


/** An upstream's error object: OpenAI's, except that some servers send a numeric code. */
type UpstreamErrorObject = Omit<Received<ErrorBody['error']>, 'code'> & { code?: string | number | null };

/** An embeddings answer as received: the float vectors this client asks for (it sends no `encoding_format`). */
export type ReceivedEmbeddings = Omit<Received<EmbeddingResponse>, 'data'> & { data?: Array<{ object?: string; index: number; embedding: number[] }> };

export interface OpenAIClientOptions {
  /** e.g. `http://127.0.0.1:8080/v1`; see `normalizeBaseURL`. */
  baseURL: string;
  apiKey?: string;
  /** Per request: until a JSON answer is read in full, or until a stream's headers arrive. None by default. */
  timeoutMs?: number;
  /** Retries of a request that certainly did not run upstream (default 2); see `retryable`. */
  maxRetries?: number;
  /** A name for messages (default: the base URL without credentials). */
  name?: string;
  /** Headers sent on every request (after the defaults, before the per-call ones). */
  headers?: Record<string, string>;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the client's timeout for this call. */
  timeoutMs?: number;
  /** Overrides the client's retries for this call. */
  maxRetries?: number;
  headers?: Record<string, string>;
}

/** How a call failed: the upstream answered an error, could not be reached, took too long, was cancelled, or sent what is not OpenAI's shape. */
export type UpstreamFailure = 'http' | 'network' | 'timeout' | 'aborted' | 'malformed' | 'stream';

/**
 * A failed call. `status` is the upstream's own HTTP status for `http` failures (its message, type, code and param
 * kept; the message is the upstream's own words, as for `stream` errors), 502 for `network`, `malformed` and `stream`, 504 for `timeout`, 499 for `aborted`. Callers that serve
 * requests themselves decide what their own caller sees (e.g. the gateway turns an upstream 5xx into a 502).
 */
export class UpstreamError extends StatusError {
  constructor(
    readonly failure: UpstreamFailure, status: number, message: string,
    fields: { type?: string; code?: string | null; param?: string | null } = {},
    /** The upstream's HTTP status, when it answered. */
    readonly upstreamStatus: number | null = null,
    /** Seconds the upstream asked to wait (Retry-After), when it did. */
    readonly retryAfterS: number | null = null,
    /** For `network` failures: the system's code (ECONNREFUSED, ENOTFOUND...), when there is one. */
    readonly errno: string | null = null,
  ) {
    super(status, message, fields);
  }

  /** `HTTP 400: <the upstream's message>` for an answer, `error in the stream: ...` for an error event, else the message itself. */
  describe(): string {
    return this.failure === 'http' ? `HTTP ${this.upstreamStatus}: ${this.message}` : this.failure === 'stream' ? `error in the stream: ${this.message}` : this.message;
  }

  /**
   * How a server reports this failure to its own caller: a dependency failed (502; 504 on timeout; 499 when the
   * caller cancelled), the upstream's words kept behind `prefix`. An upstream 404 is not this server's 404.
   */
  asDependencyError(prefix: string): StatusError {
    const status = this.failure === 'timeout' ? 504 : this.failure === 'aborted' ? 499 : 502;
    return new StatusError(status, `${prefix}: ${this.describe()}`, { type: 'server_error', code: this.failure === 'aborted' ? 'aborted' : 'upstream_error' });
  }
}

/**
 * `http://h:1/v1`, `http://h:1/v1/` -> `http://h:1/v1`; `http://h:1` and `http://h:1/` -> `http://h:1/v1` (a server
 * root means its OpenAI API); any other path is kept as given (`http://h/openai` stays, as with the official
 * client). Query strings and fragments are dropped: a path is appended to the base.
 */
export function normalizeBaseURL(url: string): string {
  let u: URL;
  try { u = new URL(url.trim()); } catch { throw new StatusError(400, `not a URL: ${redactUrl(url)}`, { code: 'invalid_url' }); }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new StatusError(400, `an OpenAI-compatible URL must be http(s), got ${u.protocol}`, { code: 'invalid_url' });
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = path === '' ? '/v1' : path;
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '');
}

/** The URL without user:password, query or fragment: what messages may show. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

const RETRY_STATUSES = new Set([429, 503]);
const MAX_RETRY_WAIT_MS = 10_000;

/**
 * A request is retried only when it did not run upstream: the connection was refused or never opened, or the
 * upstream answered 429 or 503 (it says it did not take the request on). Never after a timeout, a cancel, a reset
 * mid-request or any other status: a chat call costs and is not idempotent.
 */
export function retryable(e: unknown): boolean {
  if (!(e instanceof UpstreamError)) return false;
  if (e.failure === 'http') return RETRY_STATUSES.has(e.upstreamStatus ?? 0);
  if (e.failure !== 'network') return false;
  const code = errnoCode((e as { cause?: unknown }).cause);
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

function errnoCode(e: unknown): string | undefined {
  for (let x = e, i = 0; x && i < 4; x = (x as { cause?: unknown }).cause, i++) {
    const c = (x as { code?: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

/** Backoff before retry `attempt` (1-based): the upstream's Retry-After when given (capped), else 0.25s, 0.5s, 1s... with jitter. */
export function retryDelayMs(attempt: number, retryAfterS: number | null): number {
  if (retryAfterS !== null) return Math.min(MAX_RETRY_WAIT_MS, Math.max(0, retryAfterS * 1000));
  return Math.min(MAX_RETRY_WAIT_MS, 250 * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.25);
}

function parseRetryAfter(v: string | null): number | null {
  if (!v) return null;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, n);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, (t - Date.now()) / 1000) : null;
}

/** One server-sent event: its `event` name (default 'message') and its data lines joined by newlines. */
export interface SseEvent { event: string; data: string; id?: string }

/**
 * An incremental server-sent-events parser (the WHATWG rules that matter for APIs): lines end in CRLF, LF or CR,
 * possibly split across chunks; `data:` lines accumulate until a blank line dispatches the event; comments (`:`)
 * and unknown fields are ignored; one space after the colon is dropped.
 */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  private lastWasCR = false;

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    let s = text;
    // a CRLF split across chunks: the LF that follows a CR already taken as a line end is no new line
    if (this.lastWasCR && s.startsWith('\n')) s = s.slice(1);
    this.lastWasCR = false;
    this.buf += s;
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const ch = this.buf.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      this.line(this.buf.slice(start, i), out);
      if (ch === 13) {
        if (i + 1 < this.buf.length) { if (this.buf.charCodeAt(i + 1) === 10) i++; } else this.lastWasCR = true;
      }
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  /** At the end of the stream: an event whose blank line never came is still dispatched (servers that end without it). */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.buf) this.line(this.buf, out);
    this.buf = '';
    this.line('', out);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n'), ...(this.id !== undefined ? { id: this.id } : {}) });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
  }
}

/** Any error of OpenAI's shape (`{error: {...}}`, or a bare `{message}`/`{detail}` from some servers) as fields. */
function upstreamErrorFields(text: string): { message: string | null; type?: string; code?: string | null; param?: string | null } {
  let j: unknown;
  try { j = JSON.parse(text); } catch { return { message: null }; }
  const o = j as { error?: unknown; message?: unknown; detail?: unknown };
  const e = o && typeof o === 'object' ? (typeof o.error === 'object' && o.error ? o.error as UpstreamErrorObject : typeof o.error === 'string' ? { message: o.error } : o as UpstreamErrorObject) : null;
  if (!e) return { message: null };
  const message = typeof e.message === 'string' ? e.message : typeof (o as { detail?: unknown }).detail === 'string' ? (o as { detail: string }).detail : null;
  return {
    message,
    ...(typeof e.type === 'string' ? { type: e.type } : {}),
    code: typeof e.code === 'string' ? e.code : typeof e.code === 'number' ? String(e.code) : null,
    param: typeof e.param === 'string' ? e.param : null,
  };
}

export class OpenAIClient {
  readonly baseURL: string;
  readonly name: string;
  private readonly apiKey: string | undefined;
  /** `user:password@` in the base URL: sent as Basic auth (fetch refuses such URLs) when no API key is given. */
  private readonly basicAuth: string | undefined;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly o: OpenAIClientOptions) {
    const u = new URL(normalizeBaseURL(o.baseURL));
    this.basicAuth = u.username || u.password ? Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64') : undefined;
    this.baseURL = redactUrl(u.toString()).replace(/\/+$/, '');
    this.apiKey = o.apiKey || undefined;
    this.name = o.name ?? redactUrl(this.baseURL);
    this.fetchFn = o.fetch ?? fetch;
  }

  /** The absolute URL of an API path (`/chat/completions`). */
  url(path: string): string {
    return this.baseURL + (path.startsWith('/') ? path : `/${path}`);
  }

  /** POST (or another method) with a JSON body; the parsed JSON answer. */
  async json<T = unknown>(path: string, body?: unknown, opts: RequestOptions & { method?: string } = {}): Promise<T> {
    return this.withRetries(opts, async (signal) => {
      const res = await this.send(path, body, opts, signal, 'application/json');
      let text: string;
      try { text = await res.text(); } catch (e) { throw this.transportError(e, signal, opts, path); }
      try { return JSON.parse(text) as T; } catch {
        throw new UpstreamError('malformed', 502, `${this.name}${path}: the answer is not JSON`, { code: 'upstream_malformed' }, res.status);
      }
    });
  }

  /**
   * POST with a JSON body that asks for a stream; yields the data of every event, parsed as JSON, until `[DONE]`.
   * An `error` object in the stream (OpenAI's way to fail mid-stream) throws an UpstreamError ('stream').
   * Breaking out of the loop cancels the upstream call.
   */
  async *stream<T = unknown>(path: string, body: unknown, opts: RequestOptions = {}): AsyncGenerator<T> {
    for await (const ev of this.events(path, body, opts)) {
      if (ev.data === '[DONE]') return;
      let j: unknown;
      try { j = JSON.parse(ev.data); } catch {
        throw new UpstreamError('malformed', 502, `${this.name}${path}: a stream event is not JSON`, { code: 'upstream_malformed' });
      }
      const err = (j as { error?: unknown })?.error;
      if (ev.event === 'error' || (err && typeof err === 'object')) {
        const f = upstreamErrorFields(ev.data);
        throw new UpstreamError('stream', 502, this.scrub(f.message ?? ev.data.slice(0, 300)), { type: f.type ?? 'server_error', code: f.code ?? 'upstream_error', param: f.param ?? null });
      }
      yield j as T;
    }
  }

  /** The raw server-sent events of a streaming call. */
  async *events(path: string, body: unknown, opts: RequestOptions = {}): AsyncGenerator<SseEvent> {
    // the timeout covers the wait for headers (withRetries); this controller ends the body when the caller aborts
    // or the consumer stops reading
    const streamAc = new AbortController();
    const onAbort = () => streamAc.abort(opts.signal?.reason);
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await this.withRetries(opts, (signal) => this.send(path, body, opts, AbortSignal.any([signal, streamAc.signal]), 'text/event-stream'));
      if (!res.body) throw new UpstreamError('malformed', 502, `${this.name}${path}: the answer has no body`, { code: 'upstream_malformed' }, res.status);
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      const parser = new SseParser();
      try {
        for (;;) {
          let r: { done: boolean; value?: Uint8Array };
          try { r = await reader.read(); } catch (e) {
            if (opts.signal?.aborted) throw this.abortError(path);
            throw new UpstreamError('network', 502, `${this.name}${path}: the stream broke off: ${this.scrub(describe(e))}`, { code: 'upstream_error' });
          }
          if (r.done) break;
          for (const ev of parser.push(dec.decode(r.value!, { stream: true }))) yield ev;
        }
        for (const ev of parser.push(dec.decode())) yield ev;
        for (const ev of parser.end()) yield ev;
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      streamAc.abort();
    }
  }

  chatCompletion(body: Record<string, unknown>, opts?: RequestOptions): Promise<Received<ChatCompletion>> {
    return this.json<Received<ChatCompletion>>('/chat/completions', body, opts);
  }

  streamChatCompletion(body: Record<string, unknown>, opts?: RequestOptions): AsyncGenerator<Received<ChatCompletionChunk>> {
    return this.stream<Received<ChatCompletionChunk>>('/chat/completions', { ...body, stream: true }, opts);
  }

  completion(body: Record<string, unknown>, opts?: RequestOptions): Promise<Received<TextCompletion>> {
    return this.json<Received<TextCompletion>>('/completions', body, opts);
  }

  streamCompletion(body: Record<string, unknown>, opts?: RequestOptions): AsyncGenerator<Received<TextCompletion>> {
    return this.stream<Received<TextCompletion>>('/completions', { ...body, stream: true }, opts);
  }

  embeddings(body: Record<string, unknown>, opts?: RequestOptions): Promise<ReceivedEmbeddings> {
    return this.json<ReceivedEmbeddings>('/embeddings', body, opts);
  }

  // ------------------------------------------------------------------------------------------------ internals

  /** Runs `attempt` with the timeout and the caller's signal, retrying what `retryable` allows. */
  private async withRetries<T>(opts: RequestOptions, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const max = Math.max(0, opts.maxRetries ?? this.o.maxRetries ?? 2);
    for (let n = 0; ; n++) {
      const ac = new AbortController();
      const timeoutMs = opts.timeoutMs ?? this.o.timeoutMs;
      const timer = timeoutMs !== undefined && timeoutMs > 0 ? setTimeout(() => ac.abort(new TimeoutMarker()), timeoutMs) : null;
      const onAbort = () => ac.abort(opts.signal?.reason);
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await attempt(ac.signal);
      } catch (e) {
        if (n >= max || !retryable(e) || opts.signal?.aborted) throw e;
        await sleep(retryDelayMs(n + 1, (e as UpstreamError).retryAfterS), opts.signal);
      } finally {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  private headers(accept: string, extra: Record<string, string> | undefined): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept, ...this.o.headers, ...extra };
    if (this.apiKey) h.authorization = `Bearer ${this.apiKey}`;
    else if (this.basicAuth) h.authorization = `Basic ${this.basicAuth}`;
    return h;
  }

  /** One fetch; a non-2xx answer is read and thrown as an UpstreamError. */
  private async send(path: string, body: unknown, opts: RequestOptions & { method?: string }, signal: AbortSignal, accept: string): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchFn(this.url(path), {
        method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers: this.headers(accept, opts.headers), signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      throw this.transportError(e, signal, opts, path);
    }
    if (res.ok) return res;
    let text = '';
    try { text = await res.text(); } catch { /* the status says enough */ }
    const f = upstreamErrorFields(text);
    const detail = f.message ?? (text.trim().slice(0, 300) || res.statusText || 'no message');
    throw new UpstreamError('http', res.status, this.scrub(detail), {
      type: f.type ?? (res.status >= 500 ? 'server_error' : 'invalid_request_error'), code: f.code ?? null, param: f.param ?? null,
    }, res.status, parseRetryAfter(res.headers.get('retry-after')));
  }

  private transportError(e: unknown, signal: AbortSignal, opts: RequestOptions, path = ''): UpstreamError {
    if (e instanceof UpstreamError) return e;
    if (opts.signal?.aborted) return this.abortError(path);
    if (signal.aborted && signal.reason instanceof TimeoutMarker) {
      return new UpstreamError('timeout', 504, `${this.name}${path}: no answer within ${((opts.timeoutMs ?? this.o.timeoutMs ?? 0) / 1000).toFixed(1)}s`, { code: 'upstream_timeout' });
    }
    const err = new UpstreamError('network', 502, `${this.name}${path} unreachable: ${this.scrub(describe(e))}`, { code: 'upstream_unreachable' }, null, null, errnoCode(e) ?? null);
    Object.defineProperty(err, 'cause', { value: e, enumerable: false });
    return err;
  }

  private abortError(path: string): UpstreamError {
    return new UpstreamError('aborted', 499, `${this.name}${path}: request aborted`, { code: 'aborted' });
  }

  /** Removes the API key from text an upstream may have echoed (some say "Incorrect API key provided: sk-..."). */
  private scrub(text: string): string {
    let t = text;
    if (this.apiKey && this.apiKey.length >= 4) t = t.split(this.apiKey).join('[redacted]');
    if (this.basicAuth) t = t.split(this.basicAuth).join('[redacted]');
    return t.replace(/\/\/[^/@\s]*@/g, '//').replace(/\bsk-[A-Za-z0-9_-]{8,}/g, 'sk-[redacted]');
  }
}

class TimeoutMarker extends Error {
  constructor() { super('timeout'); }
}

/** fetch's own message is "fetch failed"; the reason is in its cause (ECONNREFUSED, ENOTFOUND...). */
function describe(e: unknown): string {
  const code = errnoCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  const cause = (e as { cause?: unknown })?.cause;
  const why = code ?? (cause instanceof Error ? cause.message : undefined);
  return why && !msg.includes(why) ? `${msg} (${why})` : msg;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  });
}
