/**
 * Serving's registry operations over the Store, shared by the API (admin routes), the CLI and other stages:
 * `registerModel` (the factory registers each succeeded fine-tune here as `ft:<base>:<suffix>:<id>`), deploy /
 * undeploy / list deployments (a new deploy of an existing name is a new version: the gateway rolls it out without
 * dropping requests), routes (fixed, weighted, fallback), and the deployment settings with their defaults and
 * temperature presets.
 *
 * Guarantees: everything is validated before it is written (`ServeError` with a status and an OpenAI-style code);
 * names are `[A-Za-z0-9_.:/-]`, 1..128 characters; a path must exist when registered; an endpoint is an http(s) URL.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isUniqueViolation, nowSeconds, type DeploymentRow, type ModelKind, type ModelRow, type RouteRow, type Store } from '../store/store.ts';
import { StatusError } from '../util/status-error.ts';

/** A serving failure the caller caused or must know about; a 429 is a `rate_limit_error`, any other status `invalid_request_error`. */
export class ServeError extends StatusError {
  constructor(status: number, message: string, code: string | null = null, param: string | null = null) {
    super(status, message, { code, param, type: status === 429 ? 'rate_limit_error' : 'invalid_request_error' });
  }
}

import type { PresetName } from '../openai/wire-types.ts';

export type { PresetName };

/** The product's temperature presets: focused and consistent, balanced, creative. */
export const PRESETS: Readonly<Record<PresetName, { temperature: number; top_p: number; top_k: number }>> = {
  conservative: { temperature: 0.2, top_p: 0.8, top_k: 20 },
  balanced: { temperature: 0.7, top_p: 0.95, top_k: 0 },
  creative: { temperature: 1.0, top_p: 1.0, top_k: 0 },
};

export interface DeploymentSettings {
  /** Default temperature preset (a request may name another, or set temperature/top_p itself). Default balanced. */
  preset: PresetName;
  /** Requests evaluated at once (llama.cpp sequences). Default 4. */
  concurrency: number;
  /** Requests waiting beyond that; more get 429. Default 64. */
  queue: number;
  /** Tokens per request context. Default: min(2048, the model's). */
  contextSize?: number;
  threads: 1 | 2;
  /** Unload after this many idle seconds (0 = never). Default 900. */
  idleUnloadS: number;
  /** Load and warm up at deploy time and at server start. Default true. */
  warm: boolean;
  /** Engine folders are exported to GGUF as this (default F16). */
  weightType: 'F16' | 'F32';
  /** Force the engine backend for engine folders (default: llama.cpp when the folder can be exported). */
  backend?: 'llama.cpp' | 'engine';
  /** Per-request time limit in ms (0 = none). Default 0. */
  timeoutMs: number;
  /** Largest max_tokens accepted. Default 4096. */
  maxTokensLimit: number;
  /** A guard policy (by name, see /v1/guard/policies) run on every request's input and answer; null or absent: none. */
  guard?: string | null;
}

export const DEFAULT_SETTINGS: DeploymentSettings = {
  preset: 'balanced', concurrency: 4, queue: 64, threads: 1, idleUnloadS: 900, warm: true, weightType: 'F16', timeoutMs: 0, maxTokensLimit: 4096,
};

const NAME = /^[A-Za-z0-9_.:/@-]{1,128}$/;

function checkName(name: unknown, param = 'name'): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new ServeError(400, `${param} must be 1-128 characters of letters, digits and _ . : / @ -`, 'invalid_value', param);
  return name;
}

export function parseSettings(json: string | null | undefined): DeploymentSettings {
  if (!json) return { ...DEFAULT_SETTINGS };
  return { ...DEFAULT_SETTINGS, ...(JSON.parse(json) as Partial<DeploymentSettings>) };
}

/** Validates a settings patch (unknown keys and bad values are 400s). */
export function validateSettings(p: Record<string, unknown>): Partial<DeploymentSettings> {
  const out: Partial<DeploymentSettings> = {};
  const int = (k: string, lo: number, hi: number) => {
    const v = p[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new ServeError(400, `${k} must be an integer from ${lo} to ${hi}`, 'invalid_value', k);
    return v;
  };
  for (const k of Object.keys(p)) {
    if (!(k in DEFAULT_SETTINGS) && k !== 'contextSize' && k !== 'backend' && k !== 'guard') throw new ServeError(400, `unknown deployment setting ${JSON.stringify(k)}`, 'invalid_value', k);
  }
  if (p.preset !== undefined) {
    if (typeof p.preset !== 'string' || !(p.preset in PRESETS)) throw new ServeError(400, `preset must be one of ${Object.keys(PRESETS).join(', ')}`, 'invalid_value', 'preset');
    out.preset = p.preset as PresetName;
  }
  out.concurrency = int('concurrency', 1, 256);
  out.queue = int('queue', 0, 100000);
  out.contextSize = int('contextSize', 16, 131072);
  const th = int('threads', 1, 2);
  if (th !== undefined) out.threads = th as 1 | 2;
  out.idleUnloadS = int('idleUnloadS', 0, 365 * 86400);
  out.timeoutMs = int('timeoutMs', 0, 3600_000);
  out.maxTokensLimit = int('maxTokensLimit', 1, 1_000_000);
  if (p.warm !== undefined) { if (typeof p.warm !== 'boolean') throw new ServeError(400, 'warm must be a boolean', 'invalid_value', 'warm'); out.warm = p.warm; }
  if (p.weightType !== undefined) { if (p.weightType !== 'F16' && p.weightType !== 'F32') throw new ServeError(400, 'weightType must be F16 or F32', 'invalid_value', 'weightType'); out.weightType = p.weightType; }
  if (p.backend !== undefined) { if (p.backend !== 'llama.cpp' && p.backend !== 'engine') throw new ServeError(400, 'backend must be llama.cpp or engine', 'invalid_value', 'backend'); out.backend = p.backend; }
  if (p.guard !== undefined) {
    if (p.guard !== null && (typeof p.guard !== 'string' || !p.guard.trim() || p.guard.length > 128 || [...p.guard].some((c) => c < ' '))) throw new ServeError(400, 'guard must be a guard policy name (or null for none)', 'invalid_value', 'guard');
    out.guard = p.guard as string | null;
  }
  for (const k of Object.keys(out) as (keyof DeploymentSettings)[]) if (out[k] === undefined) delete out[k];
  return out;
}

export interface RegisterModelInput {
  id?: string;
  name: string;
  kind: ModelKind;
  /** engine: model folder (full or adapter); gguf: the .gguf file (or the base, with adapterPath). */
  path?: string;
  /** gguf adapter: the base .gguf (alternative to `path`). */
  basePath?: string;
  /** gguf: a llama.cpp LoRA adapter file over path/basePath. */
  adapterPath?: string;
  endpoint?: { url: string; apiKey?: string; model?: string };
  chatTemplate?: string;
  ownedBy?: string;
  meta?: Record<string, unknown>;
}

/** Adds (or replaces, same name) a model in the registry. The gateway loads it on first use. */
export async function registerModel(store: Store, m: RegisterModelInput): Promise<ModelRow> {
  const name = checkName(m.name, 'name');
  if (m.kind !== 'engine' && m.kind !== 'gguf' && m.kind !== 'endpoint') throw new ServeError(400, 'kind must be engine, gguf or endpoint', 'invalid_value', 'kind');
  const abs = (p: string | undefined, param: string) => {
    if (p === undefined) return null;
    const a = resolve(p);
    if (!existsSync(a)) throw new ServeError(400, `${param} ${a} does not exist`, 'invalid_value', param);
    return a;
  };
  const path = abs(m.path, 'path'), basePath = abs(m.basePath, 'basePath'), adapterPath = abs(m.adapterPath, 'adapterPath');
  let endpoint: string | null = null;
  if (m.kind === 'engine') {
    if (!path || !statSync(path).isDirectory() || !existsSync(resolve(path, 'modelfab.json'))) throw new ServeError(400, 'an engine model needs path: a modelfab model folder (with modelfab.json)', 'invalid_value', 'path');
  } else if (m.kind === 'gguf') {
    const file = path ?? basePath;
    if (!file || statSync(file).isDirectory()) throw new ServeError(400, 'a gguf model needs path (or basePath): a .gguf file', 'invalid_value', 'path');
  } else {
    const e = m.endpoint;
    if (!e || typeof e.url !== 'string') throw new ServeError(400, 'an endpoint model needs endpoint.url', 'invalid_value', 'endpoint');
    let u: URL;
    try { u = new URL(e.url); } catch { throw new ServeError(400, `endpoint.url is not a URL: ${e.url}`, 'invalid_value', 'endpoint'); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ServeError(400, 'endpoint.url must be http(s)', 'invalid_value', 'endpoint');
    endpoint = JSON.stringify({ url: e.url, apiKey: e.apiKey, model: e.model });
  }
  const row: ModelRow = {
    id: m.id ?? `model-${randomBytes(8).toString('hex')}`, name, kind: m.kind, path: m.kind === 'gguf' ? (path ?? basePath) : path,
    base_path: m.kind === 'gguf' && adapterPath ? (basePath ?? path) : null, adapter_path: adapterPath, endpoint,
    chat_template: m.chatTemplate ?? null, owned_by: m.ownedBy ?? 'modelfab', created_at: nowSeconds(), meta: m.meta ? JSON.stringify(m.meta) : null,
  };
  const old = await store.models.getByName(name);
  if (old) {
    await store.models.update(old.id, { ...row, id: undefined } as Partial<ModelRow>);
    return { ...row, id: old.id };
  }
  try {
    await store.models.insert(row);
  } catch (e) {
    if (isUniqueViolation(e)) throw new ServeError(409, `a model with id ${row.id} already exists`, 'conflict', 'id');
    throw e;
  }
  return row;
}

export interface DeployInput {
  name: string;
  /** A registered model's name, or... */
  model?: string;
  /** ...a model to register under the deployment's name: a .gguf file or an engine folder, or an endpoint. */
  path?: string;
  adapterPath?: string;
  endpoint?: { url: string; apiKey?: string; model?: string };
  chatTemplate?: string;
  settings?: Record<string, unknown>;
}

/** Creates a deployment, or a new version of one (a new model or settings). */
export async function deploy(store: Store, d: DeployInput): Promise<DeploymentRow> {
  const name = checkName(d.name);
  const settingsPatch = validateSettings(d.settings ?? {});
  let model: ModelRow | undefined;
  if (d.model !== undefined) {
    model = await store.models.getByName(checkName(d.model, 'model'));
    if (!model) throw new ServeError(404, `The model '${d.model}' does not exist`, 'model_not_found', 'model');
  } else if (d.path !== undefined || d.endpoint !== undefined) {
    const kind: ModelKind = d.endpoint ? 'endpoint' : existsSync(resolve(d.path!)) && statSync(resolve(d.path!)).isDirectory() ? 'engine' : 'gguf';
    model = await registerModel(store, { name: `${name}@model`, kind, path: d.path, adapterPath: d.adapterPath, endpoint: d.endpoint, chatTemplate: d.chatTemplate, ownedBy: 'user' });
  } else {
    throw new ServeError(400, 'deploy needs model (a registered model name), path (a .gguf file or engine folder) or endpoint', 'invalid_value', 'model');
  }
  const now = nowSeconds();
  const old = await store.deployments.getByName(name);
  if (old) {
    const settings = { ...parseSettings(old.settings), ...settingsPatch };
    const patch = { model_id: model.id, version: old.version + 1, status: 'active' as const, settings: JSON.stringify(settings), updated_at: now };
    await store.deployments.update(old.id, patch);
    return { ...old, ...patch };
  }
  const row: DeploymentRow = {
    id: `dep-${randomBytes(8).toString('hex')}`, name, model_id: model.id, version: 1, status: 'active',
    settings: JSON.stringify({ ...DEFAULT_SETTINGS, ...settingsPatch }), created_at: now, updated_at: now,
  };
  await store.deployments.insert(row);
  return row;
}

export async function undeploy(store: Store, name: string): Promise<DeploymentRow> {
  const d = await store.deployments.getByName(name);
  if (!d || d.status !== 'active') throw new ServeError(404, `No active deployment named '${name}'`, 'deployment_not_found', 'name');
  const patch = { status: 'undeployed' as const, updated_at: nowSeconds(), version: d.version + 1 };
  await store.deployments.update(d.id, patch);
  return { ...d, ...patch };
}

export interface RouteTarget { model: string; weight?: number }

export async function putRoute(store: Store, r: { name: string; policy: string; targets: RouteTarget[]; timeoutMs?: number }): Promise<RouteRow> {
  const name = checkName(r.name);
  if (r.policy !== 'fixed' && r.policy !== 'weighted' && r.policy !== 'fallback') throw new ServeError(400, 'policy must be fixed, weighted or fallback', 'invalid_value', 'policy');
  if (!Array.isArray(r.targets) || r.targets.length === 0 || r.targets.length > 16) throw new ServeError(400, 'targets must list 1 to 16 models', 'invalid_value', 'targets');
  const targets = r.targets.map((t, i) => {
    if (!t || typeof t !== 'object') throw new ServeError(400, `targets[${i}] must be {model, weight?}`, 'invalid_value', 'targets');
    const w = t.weight ?? 1;
    if (typeof w !== 'number' || !(w >= 0) || !Number.isFinite(w)) throw new ServeError(400, `targets[${i}].weight must be a number >= 0`, 'invalid_value', 'targets');
    return { model: checkName(t.model, `targets[${i}].model`), weight: w };
  });
  if (r.policy === 'fixed' && targets.length !== 1) throw new ServeError(400, 'a fixed route has exactly one target', 'invalid_value', 'targets');
  if (r.policy === 'weighted' && !targets.some((t) => t.weight > 0)) throw new ServeError(400, 'a weighted route needs a target with weight > 0', 'invalid_value', 'targets');
  if (r.timeoutMs !== undefined && (!Number.isInteger(r.timeoutMs) || r.timeoutMs < 0)) throw new ServeError(400, 'timeoutMs must be an integer >= 0', 'invalid_value', 'timeoutMs');
  const now = nowSeconds();
  const old = await store.routes.getByName(name);
  const row: RouteRow = {
    id: old?.id ?? `route-${randomBytes(8).toString('hex')}`, name, policy: r.policy, targets: JSON.stringify(targets),
    timeout_ms: r.timeoutMs ?? null, created_at: old?.created_at ?? now, updated_at: now,
  };
  if (old) await store.routes.update(old.id, row);
  else await store.routes.insert(row);
  return row;
}

export async function deleteRoute(store: Store, name: string): Promise<void> {
  const r = await store.routes.getByName(name);
  if (!r) throw new ServeError(404, `No route named '${name}'`, 'route_not_found', 'name');
  await store.routes.delete(r.id);
}

/** A deployment as the API and CLI show it. */
/** A deployment as the API shows it (GET /v1/deployments). */
export interface DeploymentObject {
  object: 'deployment'; id: string; name: string; status: DeploymentRow['status']; version: number; created_at: number; updated_at: number;
  model: { id: string; name: string; kind: ModelRow['kind']; path: string | null; adapter_path: string | null; endpoint: string | null } | null;
  settings: DeploymentSettings;
}

export async function describeDeployment(store: Store, d: DeploymentRow): Promise<DeploymentObject> {
  const m = await store.models.get(d.model_id);
  return {
    object: 'deployment', id: d.id, name: d.name, status: d.status, version: d.version, created_at: d.created_at, updated_at: d.updated_at,
    model: m ? { id: m.id, name: m.name, kind: m.kind, path: m.path, adapter_path: m.adapter_path, endpoint: m.endpoint ? JSON.parse(m.endpoint).url : null } : null,
    settings: parseSettings(d.settings),
  };
}
