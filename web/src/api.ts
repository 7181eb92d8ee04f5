/**
 * The console's HTTP client: the API key (sessionStorage, or localStorage when "remember" is ticked), JSON calls with
 * `Authorization: Bearer` (and per-call headers such as `x-modelfab-source`), OpenAI-shaped errors as `ApiError` (status, code, param, per-line `problems`), uploads,
 * and server-sent events read through fetch (EventSource cannot send the Authorization header).
 */
export interface Problem { file: string; line?: number; path?: string; message: string }

export class ApiError extends Error {
  constructor(
    readonly status: number, message: string, readonly type = '', readonly code: string | null = null,
    readonly param: string | null = null, readonly problems: Problem[] = [], readonly problemsOmitted = 0,
  ) { super(message); }
}

const KEY = 'modelfab.apiKey';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

export function saveKey(key: string, remember: boolean): void {
  sessionStorage.setItem(KEY, key);
  if (remember) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

/** Fired when the server says the key is not (or no longer) valid. */
export const UNAUTHORIZED = 'modelfab:unauthorized';

function headers(json: boolean, key = storedKey(), extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (key) h.authorization = `Bearer ${key}`;
  if (json) h['content-type'] = 'application/json';
  return h;
}

async function toError(res: Response): Promise<ApiError> {
  let body: { error?: { message?: string; type?: string; code?: string | null; param?: string | null; problems?: Problem[]; problems_omitted?: number } } = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = body.error ?? {};
  if (res.status === 401) window.dispatchEvent(new Event(UNAUTHORIZED));
  return new ApiError(res.status, e.message ?? `${res.status} ${res.statusText}`, e.type ?? '', e.code ?? null, e.param ?? null, e.problems ?? [], e.problems_omitted ?? 0);
}

/** Per-call options: an abort signal, another key (the login check), extra request headers. */
export interface CallOptions { signal?: AbortSignal; key?: string; headers?: Record<string, string> }

async function send(method: string, path: string, body?: unknown, o: CallOptions = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { method, headers: headers(body !== undefined, o.key ?? storedKey(), o.headers), body: body === undefined ? undefined : JSON.stringify(body), signal: o.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'network_error', 'network_error');
  }
  if (!res.ok) throw await toError(res);
  return res;
}

export async function api<T>(method: string, path: string, body?: unknown, o: CallOptions = {}): Promise<T> {
  const res = await send(method, path, body, o);
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => api<T>('GET', path, undefined, { signal });
export const post = <T>(path: string, body: unknown = {}, headers?: Record<string, string>) => api<T>('POST', path, body, { headers });
export const del = <T>(path: string) => api<T>('DELETE', path);

export interface FileObject { id: string; filename: string; bytes: number; status: string }

/** Uploads one file to /v1/files (multipart), reporting progress 0..1. */
export function upload(file: File, purpose: string, onProgress?: (f: number) => void): Promise<FileObject> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/files');
    const key = storedKey();
    if (key) xhr.setRequestHeader('authorization', `Bearer ${key}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress?.(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network_error', 'network_error'));
    xhr.onload = () => {
      let body: { error?: { message?: string; type?: string; code?: string; param?: string; problems?: Problem[]; problems_omitted?: number } } & Partial<FileObject> = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as FileObject);
      else {
        if (xhr.status === 401) window.dispatchEvent(new Event(UNAUTHORIZED));
        const e = body.error ?? {};
        reject(new ApiError(xhr.status, e.message ?? `${xhr.status}`, e.type ?? '', e.code ?? null, e.param ?? null, e.problems ?? [], e.problems_omitted ?? 0));
      }
    };
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

export interface SseEvent { event: string; data: string }

/** Reads a server-sent event stream (GET, or POST with a JSON body); ends when the server closes it or `signal` aborts. */
export async function* sse(path: string, o: CallOptions & { body?: unknown } = {}): AsyncGenerator<SseEvent> {
  const res = await send(o.body === undefined ? 'GET' : 'POST', path, o.body, { signal: o.signal, key: o.key, headers: o.headers });
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i: number;
      while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + (buf[i] === '\r' ? 4 : 2));
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(':')) continue;
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) yield { event, data: data.join('\n') };
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// ---------------------------------------------------------------- shapes the pages use

export interface Estimate { resources: { cpuThreads: number; memoryMB: number; gpus?: number }; trainableParams: number; totalParams: number; steps: number; tokens: number; seconds: number }

export interface Job {
  id: string; model: string; status: string; created_at: number; finished_at: number | null; fine_tuned_model: string | null;
  error: { message: string } | null; hyperparameters: Record<string, unknown>; estimated_finish: number | null; seed: number;
  modelfab: { name: string; dataset: string | null; experiment_id: string | null; depends_on?: string[]; step: number; estimate: Estimate | null; eval_loss: number | null; eval_loss_before: number | null; trainable_params: number | null };
}

export interface Experiment {
  id: string; name: string; created_at: number; status: string; counts: Record<string, number>;
  spec: { name: string; base_models: string[]; datasets: string[]; methods: unknown[]; hyperparameters: Record<string, unknown> };
  rejected: { name: string; reason: string }[]; duplicates: number; jobs: Job[];
}

export interface Plan { jobs: { name: string; estimate: Estimate }[]; rejected: { name: string; reason: string }[]; duplicates: number }

export interface Metric { step: number; epoch?: number; loss: number; eval_loss?: number; lr: number; tokens_per_s: number; eta_s: number; elapsed_s?: number; job?: string }

export interface LeaderRow {
  rank: number | null; modelId: string; name: string; baseId: string | null; isBase: boolean; overall: number | null;
  dimensions: Record<string, { score: number | null; rank: number | null }>;
  delta: { overall: number | null; dimensions: Record<string, number | null> } | null;
}
export interface Leaderboard { suite: string; dimensions: string[]; rows: LeaderRow[]; groups: { base: LeaderRow | null; baseId: string | null; finetunes: LeaderRow[] }[]; byDimension: Record<string, string[]> }

export interface DatasetStats { rows: number; tokenizer: string; tokens: { total: number; byRole: Record<string, number> }; lengths: { min: number; max: number; mean: number; p50: number; p95: number; histogram: { upTo: number | null; count: number }[] }; languages: Record<string, number> }
export interface Dataset {
  id: string; name: string; stage: string; format: string; created_at: number; rows: number; warnings?: string[];
  version: { id: string; hash: string; train_rows: number; validation_rows: number; stats: DatasetStats } | null;
}

export interface Deployment { name: string; status: string; version: number; created_at: number; model: { name: string; kind: string; path: string | null } | null; settings: Record<string, unknown> }
export interface ApiKeyInfo { id: string; name: string; prefix: string; role: string; created_at: number; revoked_at: number | null; last_used_at: number | null; [k: string]: unknown }

export interface ListOf<T> { data: T[]; has_more?: boolean }

// ---------------------------------------------------------------- the guard and the request log

export type GuardOutcome = 'passed' | 'flagged' | 'rewritten' | 'refused';
export interface GuardVerdict { check: string; kind: string; stage: 'input' | 'output'; action: 'allow' | 'warn' | 'rewrite' | 'refuse'; triggered: boolean; reason: string; latency_ms: number; matches?: string[]; error?: boolean }
/** The `guard` field of an answer under a guarded deployment or bot. */
export interface GuardSummary { policies: string[]; outcome: GuardOutcome; verdicts: GuardVerdict[] }
export interface GuardPolicyInfo { name: string; updated_at: number; policy: unknown }
/** One entry of the request log (GET /v1/requests). */
export interface RequestEntry {
  id: string; created_at: number; model: string | null; source: 'api' | 'bot' | 'playground'; key_id: string | null;
  prompt: { role: string; content: string }[]; answer: string; policies: string[]; outcome: GuardOutcome | null; guard: GuardVerdict[]; guard_ms: number | null;
}
