/**
 * API keys for the gateway: scoped keys (which models, which endpoints) per deployment or application, with expiry,
 * a per-minute request limit and a token quota; usage accounted per key, model and day.
 *
 * Keys are the same `sk-mf-…` keys as the rest of the API (src/util/api-key.ts: stored only as SHA-256 hashes, shown
 * once). Admin keys may do everything; a user key with no scopes may use every model and inference endpoint, read
 * every knowledge base, and manage nothing: each management area it may reach (files, datasets, fine-tuning, ...) is
 * named in its `manage` scope. Which route needs what is one table, src/api/authz.ts.
 *
 * Guarantees: `check` runs before a request reaches any model: an expired key is 401; a model or endpoint outside
 * the key's scopes is 403 (`model_not_allowed` / `endpoint_not_allowed`); over the rate limit or token quota is 429
 * (`rate_limit_exceeded` / `insufficient_quota`). Usage is buffered in memory and written to the `usage` table at
 * most every second and on close (one upsert per key/model/day).
 */
import { randomBytes } from 'node:crypto';
import { generateApiKey, hashApiKey, keyPrefix } from '../util/api-key.ts';
import { nowSeconds, type ApiKeyRow, type Store, type UsageRow } from '../store/store.ts';
import { ServeError } from './deployments.ts';

export const ENDPOINTS = ['chat.completions', 'completions', 'embeddings', 'models', 'images.generations'] as const;
export type Endpoint = typeof ENDPOINTS[number];

/**
 * The management areas a user key may be given (`manage` scope): reads and writes of that area's routes.
 *   files        the Files API (upload, list, read, delete)
 *   datasets     the dataset registry (import, list, preview, delete)
 *   fine_tuning  fine-tuning jobs (create, list, read, cancel, pause, resume, events, metrics)
 *   experiments  experiments (plan, create, list, read, leaderboard, events)
 *   evals        benchmark runs (run, list, read, compare)
 *   knowledge    writes to knowledge bases (create, edit, ingest, review, rebuild) within the key's knowledge scope
 *   bots         the Bot Factory (build, pairs, review, tests, publish, widget keys, export)
 *   feedback     the feedback review queue, exports and feedback -> training
 *   coach        Emoti Coach's scenarios and rubrics (upload, replace, delete)
 */
export const MANAGE_AREAS = ['files', 'datasets', 'fine_tuning', 'experiments', 'evals', 'knowledge', 'bots', 'feedback', 'coach'] as const;
export type ManageArea = typeof MANAGE_AREAS[number];

/**
 * What a user key may reach. `models`, `endpoints`: a missing list means every one. `knowledge`: knowledge base ids
 * it may read (missing: all; an empty list: none). `manage`: the management areas it may use (missing or empty: none).
 */
export interface KeyScopes { models?: string[]; endpoints?: string[]; knowledge?: string[]; manage?: ManageArea[] }

export interface CreateKeyInput {
  name: string;
  owner?: string;
  models?: string[];
  endpoints?: string[];
  /** Knowledge bases it may read (search, ask, the Copilot); an empty list: none. Default all. */
  knowledge?: string[];
  /** Management areas (MANAGE_AREAS) it may use; default none. */
  manage?: string[];
  /** Unix seconds, or null for never. */
  expiresAt?: number | null;
  rateLimitRpm?: number | null;
  tokenQuota?: number | null;
  /** `admin`: may do everything (scopes do not apply); default `user`. */
  role?: 'admin' | 'user' | null;
}

/** Creates a key; the plain key is returned once, only its hash is stored. */
export async function createKey(store: Store, k: CreateKeyInput): Promise<{ key: string; row: ApiKeyRow }> {
  if (typeof k.name !== 'string' || !k.name.trim() || k.name.length > 200) throw new ServeError(400, 'name must be 1-200 characters', 'invalid_value', 'name');
  const list = (v: unknown, param: string, allowed?: readonly string[]) => {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string' || !x)) throw new ServeError(400, `${param} must be a non-empty list of names`, 'invalid_value', param);
    if (allowed) for (const x of v as string[]) if (!allowed.includes(x)) throw new ServeError(400, `${param}: unknown endpoint ${JSON.stringify(x)} (known: ${allowed.join(', ')})`, 'invalid_value', param);
    return v as string[];
  };
  const scopes: KeyScopes = { models: list(k.models, 'models'), endpoints: list(k.endpoints, 'endpoints', ENDPOINTS) };
  if (k.knowledge !== undefined && k.knowledge !== null) {
    if (!Array.isArray(k.knowledge) || k.knowledge.some((x) => typeof x !== 'string' || !x)) throw new ServeError(400, 'knowledge must be a list of knowledge base ids', 'invalid_value', 'knowledge');
    scopes.knowledge = k.knowledge;
  }
  if (k.manage !== undefined && k.manage !== null) {
    scopes.manage = parseManage(k.manage);
    if (!scopes.manage.length) delete scopes.manage;
  }
  if (k.role !== undefined && k.role !== null && k.role !== 'admin' && k.role !== 'user') throw new ServeError(400, `role must be "admin" or "user", got ${JSON.stringify(k.role)}`, 'invalid_value', 'role');
  const posInt = (v: unknown, param: string) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ServeError(400, `${param} must be a positive integer`, 'invalid_value', param);
    return v;
  };
  const key = generateApiKey();
  const row: ApiKeyRow = {
    id: `key-${randomBytes(8).toString('hex')}`, name: k.name.trim(), hash: hashApiKey(key), prefix: keyPrefix(key), role: k.role ?? 'user',
    created_at: nowSeconds(), last_used_at: null, revoked_at: null,
    scopes: scopes.models || scopes.endpoints || scopes.knowledge || scopes.manage ? JSON.stringify(scopes) : null,
    expires_at: posInt(k.expiresAt, 'expires_at'), rate_limit_rpm: posInt(k.rateLimitRpm, 'rate_limit_rpm'),
    token_quota: posInt(k.tokenQuota, 'token_quota'), owner: k.owner ?? null,
  };
  await store.apiKeys.insert(row);
  return { key, row };
}

/**
 * A `manage` scope as sent (a list of area names): every area known, no duplicates. Throws a 400 naming the unknown
 * area and the known ones.
 */
export function parseManage(items: unknown): ManageArea[] {
  if (!Array.isArray(items) || items.some((x) => typeof x !== 'string' || !x)) throw new ServeError(400, `manage must be a list of management areas (${MANAGE_AREAS.join(', ')})`, 'invalid_value', 'manage');
  for (const x of items as string[]) {
    if (!(MANAGE_AREAS as readonly string[]).includes(x)) throw new ServeError(400, `manage: unknown area ${JSON.stringify(x)} (known: ${MANAGE_AREAS.join(', ')})`, 'invalid_value', 'manage');
  }
  return [...new Set(items as ManageArea[])];
}

const parsedScopes = new WeakMap<ApiKeyRow, KeyScopes>();

/** A key's scopes (empty for an unscoped key), parsed once per key row (the authz hook and the routes all ask). */
export function keyScopes(k: ApiKeyRow): KeyScopes {
  let s = parsedScopes.get(k);
  if (!s) parsedScopes.set(k, s = k.scopes ? (JSON.parse(k.scopes) as KeyScopes) : {});
  return s;
}

/** A key as listings show it (never the hash). */
/** An API key as the API shows it (never its secret; POST adds `key`, the secret, once). */
export interface ApiKeyObject {
  object: 'api_key'; id: string; name: string; prefix: string; role: ApiKeyRow['role']; owner: string | null; created_at: number;
  last_used_at: number | null; revoked_at: number | null; expires_at: number | null;
  scopes: { models: string[] | null; endpoints: string[] | null; knowledge: string[] | null; manage: string[] };
  rate_limit_rpm: number | null; token_quota: number | null;
}
/** The answer to creating a key: the only time the secret itself is shown. */
export type CreatedApiKeyObject = ApiKeyObject & { key: string };

export function describeKey(r: ApiKeyRow): ApiKeyObject {
  const s = keyScopes(r);
  return {
    object: 'api_key', id: r.id, name: r.name, prefix: r.prefix, role: r.role, owner: r.owner ?? null, created_at: r.created_at,
    last_used_at: r.last_used_at, revoked_at: r.revoked_at, expires_at: r.expires_at ?? null,
    scopes: { models: s.models ?? null, endpoints: s.endpoints ?? null, knowledge: s.knowledge ?? null, manage: r.role === 'admin' ? [...MANAGE_AREAS] : s.manage ?? [] },
    rate_limit_rpm: r.rate_limit_rpm ?? null, token_quota: r.token_quota ?? null,
  };
}

export function keyAllowsModel(k: ApiKeyRow, model: string): boolean {
  if (k.role === 'admin' || !k.scopes) return true;
  const s = keyScopes(k);
  return !s.models || s.models.some((m) => m === model || (m.endsWith('*') && model.startsWith(m.slice(0, -1))));
}

export function keyAllowsEndpoint(k: ApiKeyRow, ep: Endpoint): boolean {
  if (k.role === 'admin' || !k.scopes) return true;
  const s = keyScopes(k);
  return !s.endpoints || s.endpoints.includes(ep);
}

/** Whether the key may use a management area: admin keys may use all; user keys those in their `manage` scope. */
export function keyAllowsArea(k: ApiKeyRow, area: ManageArea): boolean {
  if (k.role === 'admin') return true;
  return keyScopes(k).manage?.includes(area) ?? false;
}

/** Whether the key may read any knowledge base (an empty `knowledge` scope: none). */
export function keyReadsKnowledge(k: ApiKeyRow): boolean {
  if (k.role === 'admin') return true;
  const kbs = keyScopes(k).knowledge;
  return !kbs || kbs.length > 0;
}

function dayOf(sec: number): number {
  return sec - (sec % 86400);
}

/**
 * Rate limits, quotas and usage over the store, so they hold across every server on the database:
 *   - the per-minute limit counts requests in the database (`rate_windows`, one atomic upsert per request) and
 *     estimates the last 60 s as this minute's count plus the previous minute's weighted by the part of it still
 *     inside the window (a sliding window); a refused request counts too, so a client hammering stays refused;
 *   - the token quota compares the database's total (re-read at most every `QUOTA_TTL_MS`) plus what this server
 *     has not written yet, so servers overshoot a quota by at most about a second of each other's traffic;
 *   - usage is buffered and written every second (`usage` upserts add up, whichever server writes).
 */
const QUOTA_TTL_MS = 1000;

export class KeyPolicy {
  private totals = new Map<string, { at: number; total: Promise<number> }>();
  private lastPrune = 0;
  private pending = new Map<string, UsageRow>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store) {}

  /** 401 when expired (the auth hook already refused missing/revoked keys). */
  checkExpiry(k: ApiKeyRow): void {
    if (k.expires_at != null && k.expires_at <= nowSeconds()) {
      throw new ServeError(401, `API key ${k.prefix}**** has expired.`, 'expired_api_key');
    }
  }

  checkEndpoint(k: ApiKeyRow, ep: Endpoint): void {
    this.checkExpiry(k);
    if (!keyAllowsEndpoint(k, ep)) throw new ServeError(403, `This API key is not allowed to use the ${ep} endpoint.`, 'endpoint_not_allowed');
  }

  checkModel(k: ApiKeyRow, model: string): void {
    if (!keyAllowsModel(k, model)) throw new ServeError(403, `This API key is not allowed to use the model '${model}'.`, 'model_not_allowed', 'model');
  }

  /** Counts one request against the key's per-minute limit and checks its token quota. */
  async admit(k: ApiKeyRow): Promise<void> {
    if (k.rate_limit_rpm != null) {
      const now = Date.now();
      const minute = Math.floor(now / 60_000);
      const { current, previous } = await this.store.rateWindows.hit(k.id, minute);
      const left = 1 - (now - minute * 60_000) / 60_000; // the part of the previous minute still in the window
      if (current + Math.floor(previous * left) > k.rate_limit_rpm) {
        throw new ServeError(429, `Rate limit reached for this API key: ${k.rate_limit_rpm} requests per minute. Try again in ${Math.max(1, Math.ceil(left * 60))}s.`, 'rate_limit_exceeded');
      }
      if (now - this.lastPrune > 60_000) {
        this.lastPrune = now;
        void this.store.rateWindows.prune(minute - 1).catch(() => undefined);
      }
    }
    if (k.token_quota != null) {
      const used = await this.used(k.id);
      if (used >= k.token_quota) throw new ServeError(429, `You exceeded your token quota (${k.token_quota} tokens) for this API key.`, 'insufficient_quota');
    }
  }

  private used(keyId: string): Promise<number> {
    const now = Date.now();
    let t = this.totals.get(keyId);
    if (!t || now - t.at > QUOTA_TTL_MS) {
      // what the database holds (every server's flushed usage) plus this server's not yet written
      const total = this.store.usage.totalTokens(keyId).then((n) => n + [...this.pending.values()].filter((r) => r.key_id === keyId).reduce((a, r) => a + r.prompt_tokens + r.completion_tokens, 0));
      t = { at: now, total };
      total.catch(() => this.totals.delete(keyId));
      this.totals.set(keyId, t);
    }
    return t.total;
  }

  /** Records one finished request. */
  record(keyId: string, model: string, promptTokens: number, completionTokens: number, error: boolean): void {
    const day = dayOf(nowSeconds());
    const id = `${keyId}\u0000${model}\u0000${day}`;
    let r = this.pending.get(id);
    if (!r) { r = { key_id: keyId, model, day, requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0 }; this.pending.set(id, r); }
    r.requests++;
    if (error) r.errors++;
    r.prompt_tokens += promptTokens;
    r.completion_tokens += completionTokens;
    const t = this.totals.get(keyId);
    if (t) this.totals.set(keyId, { at: t.at, total: t.total.then((n) => n + promptTokens + completionTokens) });
    this.timer ??= setTimeout(() => { this.timer = null; void this.flush(); }, 1000);
  }

  flush(): Promise<void> {
    const rows = [...this.pending.values()];
    this.pending.clear();
    this.flushing = this.flushing.then(async () => {
      for (const r of rows) await this.store.usage.add(r).catch(() => undefined);
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    await this.flush();
  }
}
