/**
 * The CLI's HTTP client for a running `modelfab serve`: base URL and key from flags or the environment
 * (MODELFAB_URL, MODELFAB_API_KEY, else MODELFAB_ADMIN_KEY), JSON requests, OpenAI-shaped errors turned into one
 * readable line, and server-sent events as an async iterator.
 */
export interface ClientOptions { url?: string; apiKey?: string }

export class ApiClientError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export class ApiClient {
  readonly url: string;
  private readonly key: string;

  constructor(o: ClientOptions = {}) {
    this.url = (o.url ?? process.env.MODELFAB_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    const key = o.apiKey ?? process.env.MODELFAB_API_KEY ?? process.env.MODELFAB_ADMIN_KEY;
    if (!key) throw new Error('no API key: pass --api-key or set MODELFAB_API_KEY (the key `modelfab serve` printed on first start)');
    this.key = key;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method, headers: { authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiClientError(0, `cannot reach ${this.url} (${(e as Error).message}); start it with \`modelfab serve\` or pass --url`);
    }
    const text = await res.text();
    let json: unknown;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (!res.ok) {
      const err = (json as { error?: { message?: string; problems?: { file: string; line?: number; path?: string; message: string }[] } } | null)?.error;
      const problems = err?.problems?.map((p) => `\n  ${p.file}${p.line ? `:${p.line}` : ''}${p.path ? ` ${p.path}` : ''}: ${p.message}`).join('') ?? '';
      // with problems, the message's first line and then each problem once (the message lists them too)
      const message = err?.message === undefined ? text.slice(0, 200) : problems ? err.message.split('\n')[0] : err.message;
      throw new ApiClientError(res.status, `${res.status}: ${message}${problems}`);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> { return this.request<T>('GET', path); }
  post<T>(path: string, body?: unknown): Promise<T> { return this.request<T>('POST', path, body ?? {}); }

  /** Server-sent events of a GET; ends when the server closes the stream or `signal` aborts. */
  async *events(path: string, signal?: AbortSignal): AsyncGenerator<{ event: string; data: unknown }> {
    const res = await fetch(this.url + path, { headers: { authorization: `Bearer ${this.key}`, accept: 'text/event-stream' }, signal });
    if (!res.ok || !res.body) throw new ApiClientError(res.status, `${res.status}: ${await res.text()}`);
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
