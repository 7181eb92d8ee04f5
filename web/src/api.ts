/**
 * The console's HTTP client: the API key (sessionStorage, or localStorage when "remember" is ticked), JSON calls with
 * `Authorization: Bearer` (and per-call headers such as `x-modelfab-source`), OpenAI-shaped errors as `ApiError` (status, code, param, per-line `problems`), uploads,
 * and server-sent events read through fetch (EventSource cannot send the Authorization header). The shapes the
 * pages read are the server's own types, imported type-only from ../../src (erased by the build: the Vite config
 * refuses to bundle a server module), so a change on the server that the console does not follow fails the type check.
 */
import type { ApiErrorBody } from '../../src/api/errors.ts';
import type { Problem } from '../../src/data/problems.ts';
import type { FileObject } from '../../src/data/data-service.ts';

export type { Problem, FileObject };
/** An error body as the server writes it; every field may be missing when a proxy answers instead. */
type ErrorBody = { error?: Partial<ApiErrorBody['error']> };

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
  let body: ErrorBody = {};
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
      let body: ErrorBody & Partial<FileObject> = {};
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

// ---------------------------------------------------------------- shapes the pages use (the server's types)

export type { JobEstimate as Estimate } from '../../src/factory/job-spec.ts';
export type { FineTuningJobObject as Job, ExperimentObject as Experiment, ExperimentPlanObject as Plan, JobEventObject, CheckpointObject, LeaderboardObject } from '../../src/factory/factory-service.ts';
export type { LeaderboardRow as LeaderRow, Leaderboard } from '../../src/bench/leaderboard.ts';
export type { DatasetObject as Dataset, DatasetPreviewObject } from '../../src/data/data-service.ts';
export type { DatasetStats } from '../../src/data/stats.ts';
export type { DeploymentObject as Deployment } from '../../src/serve/deployments.ts';
export type { ApiKeyObject as ApiKeyInfo, CreatedApiKeyObject } from '../../src/serve/api-keys.ts';
export type { CreatedDeploymentObject, DeploymentDocsObject, ServeModelObject } from '../../src/api/routes/deployments-routes.ts';
export type { RegisteredModelObject } from '../../src/api/routes/models-registry-routes.ts';
export type { KnowledgeBase, DocumentRecord, KnowledgeItem } from '../../src/knowledge/knowledge-types.ts';
export type { SearchResponse, SearchResult } from '../../src/knowledge/search.ts';
export type { KnowledgeAskObject } from '../../src/api/routes/knowledge-routes.ts';
export type { Bot, BotCitation, BotVersion, QaPair, TestReport } from '../../src/bots/bot-types.ts';
export type { BotRetrieverStatus } from '../../src/bots/bot-service.ts';
export type { KbRetrieverStatus } from '../../src/knowledge/knowledge-service.ts';
export type { CopilotSource, CopilotStep, CopilotResult } from '../../src/copilot/copilot.ts';

import type { MetricsRecord } from '../../src/engine/metrics-log.ts';
/** One metrics line of a job; an experiment's event stream names the job it belongs to. */
export type Metric = MetricsRecord & { job?: string };

export interface ListOf<T> { data: T[]; has_more?: boolean }

// ---------------------------------------------------------------- OpenAI's wire shapes (chat, models)

export type { ChatCompletion, ChatCompletionChunk, ModelObject, Usage } from '../../src/openai/wire-types.ts';

// ---------------------------------------------------------------- the guard and the request log

export type { GuardOutcome } from '../../src/control/request-log.ts';
export type { GuardPolicyEntry as GuardPolicyInfo } from '../../src/control/guard-policies.ts';
export type { GuardVerdict } from '../../src/control/guard.ts';
/** The `guard` field of an answer under a guarded deployment or bot. */
export type { GuardSummary } from '../../src/control/guard-runtime.ts';
/** One entry of the request log (GET /v1/requests). */
export type { RequestObject as RequestEntry } from '../../src/api/routes/guard-routes.ts';

// ---------------------------------------------------------------- the apps: Magic Writer, Emoti Coach

export type { WriterTemplate } from '../../src/writer/writer-templates.ts';
export type { WriterDocument, WriterSection, WriterSource } from '../../src/writer/writer-document.ts';
export type { WriterEvent, ComposeResult } from '../../src/writer/writer-service.ts';
export type { Scenario } from '../../src/coach/coach-scenario.ts';
export type { TurnJudgement, SessionJudgement, Turn as CoachTurn } from '../../src/coach/coach-judge.ts';
export type { CoachSession } from '../../src/coach/coach-repository.ts';
export type { CoachReport } from '../../src/coach/coach-report.ts';
