/**
 * Serving's repositories, on the same Kysely seam as the rest of the Store: the models registry (every
 * servable model: engine folders, GGUF files, adapters over a base, external OpenAI-compatible endpoints),
 * deployments (a served name -> a model, a version and settings), routes (a name -> several models with a policy),
 * and usage (requests and tokens per key, model and UTC day, accumulated by upsert). Rows use portable types only.
 * A model's paths inside the data folder are stored relative to it and come back absolute, resolved against where
 * the folder is now (src/store/paths.ts); paths outside it (a GGUF file registered from elsewhere) stay absolute.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './kysely-store.ts';
import { dataPaths, mapNullable, type DataPaths } from './paths.ts';

export type ModelKind = 'engine' | 'gguf' | 'endpoint';

export interface ModelRow {
  id: string;
  name: string;
  kind: ModelKind;
  /** engine: the model folder (full model or adapter folder); gguf: the .gguf file. */
  path: string | null;
  /** gguf adapters: the base .gguf file (or engine base folder) the adapter applies to. */
  base_path: string | null;
  /** gguf: a llama.cpp LoRA adapter file applied over `path`/`base_path`. */
  adapter_path: string | null;
  /** endpoint: JSON {url, apiKey?, model?}. */
  endpoint: string | null;
  chat_template: string | null;
  owned_by: string;
  created_at: number;
  meta: string | null;
}

export interface DeploymentRow {
  id: string;
  name: string;
  model_id: string;
  version: number;
  status: 'active' | 'undeployed';
  /** JSON: DeploymentSettings (src/serve/types.ts). */
  settings: string;
  created_at: number;
  updated_at: number;
}

export interface RouteRow {
  id: string;
  name: string;
  policy: 'fixed' | 'weighted' | 'fallback';
  /** JSON: [{model, weight?}]. */
  targets: string;
  timeout_ms: number | null;
  created_at: number;
  updated_at: number;
}

export interface UsageRow {
  key_id: string;
  model: string;
  /** Unix seconds of 00:00 UTC of the day. */
  day: number;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface ModelsRepo {
  insert(row: ModelRow): Promise<void>;
  get(id: string): Promise<ModelRow | undefined>;
  getByName(name: string): Promise<ModelRow | undefined>;
  list(): Promise<ModelRow[]>;
  update(id: string, patch: Partial<Omit<ModelRow, 'id'>>): Promise<void>;
  delete(id: string): Promise<boolean>;
}

export interface DeploymentsRepo {
  insert(row: DeploymentRow): Promise<void>;
  get(id: string): Promise<DeploymentRow | undefined>;
  getByName(name: string): Promise<DeploymentRow | undefined>;
  list(): Promise<DeploymentRow[]>;
  update(id: string, patch: Partial<Omit<DeploymentRow, 'id'>>): Promise<void>;
  delete(id: string): Promise<boolean>;
}

export interface RoutesRepo {
  insert(row: RouteRow): Promise<void>;
  getByName(name: string): Promise<RouteRow | undefined>;
  list(): Promise<RouteRow[]>;
  update(id: string, patch: Partial<Omit<RouteRow, 'id'>>): Promise<void>;
  delete(id: string): Promise<boolean>;
}

export interface UsageRepo {
  /** Adds to the (key, model, day) row, creating it. */
  add(row: UsageRow): Promise<void>;
  list(opts?: { keyId?: string; since?: number }): Promise<UsageRow[]>;
  /** prompt + completion tokens of a key since a time (all days when omitted). */
  totalTokens(keyId: string, since?: number): Promise<number>;
}

/** Requests per key and minute, counted in the database so that every server sees every other's. */
export interface RateWindowRow { key_id: string; minute: number; count: number }

export interface RateWindowsRepo {
  /** Counts one request in `minute` and returns the counts of that minute (this one included) and the one before. */
  hit(keyId: string, minute: number): Promise<{ current: number; previous: number }>;
  /** The counts of `minute` and the one before, without counting. */
  peek(keyId: string, minute: number): Promise<{ current: number; previous: number }>;
  /** Drops the rows of minutes before `minute`. */
  prune(minute: number): Promise<void>;
}

export interface ServeRepositories {
  models: ModelsRepo;
  deployments: DeploymentsRepo;
  routes: RoutesRepo;
  usage: UsageRepo;
  rateWindows: RateWindowsRepo;
}

type Db = Kysely<Database> | Transaction<Database>;

function num<T extends object>(row: T, keys: (keyof T)[]): T {
  const r = row as Record<string, unknown>;
  for (const k of keys as string[]) if (typeof r[k] === 'bigint' || (typeof r[k] === 'string' && /^\d+$/.test(r[k] as string))) r[k] = Number(r[k]);
  return row;
}

const MODEL_PATHS = ['path', 'base_path', 'adapter_path'] as const;

/** A model row (or patch) with its path columns passed through `f`. */
function modelPaths<T extends Partial<ModelRow>>(row: T, f: (p: string) => string): T {
  const out = { ...row };
  for (const k of MODEL_PATHS) if (k in out) (out as Partial<ModelRow>)[k] = mapNullable(out[k], f) as string | null;
  return out;
}

export function serveRepositories(db: Db, paths: DataPaths = dataPaths(null)): ServeRepositories {
  const fixModel = (r: ModelRow) => modelPaths(num(r, ['created_at']), paths.fromStored);
  const fixDep = (r: DeploymentRow) => num(r, ['created_at', 'updated_at', 'version']);
  const fixRoute = (r: RouteRow) => num(r, ['created_at', 'updated_at', 'timeout_ms']);
  const fixUsage = (r: UsageRow) => num(r, ['day', 'requests', 'errors', 'prompt_tokens', 'completion_tokens']);
  const peek = async (keyId: string, minute: number) => {
    const rows = await db.selectFrom('rate_windows').select(['minute', 'count']).where('key_id', '=', keyId).where('minute', 'in', [minute - 1, minute]).execute();
    const at = (m: number) => Number(rows.find((r) => Number(r.minute) === m)?.count ?? 0);
    return { current: at(minute), previous: at(minute - 1) };
  };
  return {
    models: {
      async insert(row) { await db.insertInto('models').values(modelPaths(row, paths.toStored)).execute(); },
      async get(id) { const r = await db.selectFrom('models').selectAll().where('id', '=', id).executeTakeFirst(); return r && fixModel(r as ModelRow); },
      async getByName(name) { const r = await db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst(); return r && fixModel(r as ModelRow); },
      async list() { return (await db.selectFrom('models').selectAll().orderBy('created_at', 'asc').orderBy('name', 'asc').execute()).map((r) => fixModel(r as ModelRow)); },
      async update(id, patch) { await db.updateTable('models').set(modelPaths(patch, paths.toStored)).where('id', '=', id).execute(); },
      async delete(id) { const r = await db.deleteFrom('models').where('id', '=', id).executeTakeFirst(); return Number(r.numDeletedRows) > 0; },
    },
    deployments: {
      async insert(row) { await db.insertInto('deployments').values(row).execute(); },
      async get(id) { const r = await db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst(); return r && fixDep(r as DeploymentRow); },
      async getByName(name) { const r = await db.selectFrom('deployments').selectAll().where('name', '=', name).executeTakeFirst(); return r && fixDep(r as DeploymentRow); },
      async list() { return (await db.selectFrom('deployments').selectAll().orderBy('created_at', 'asc').orderBy('name', 'asc').execute()).map((r) => fixDep(r as DeploymentRow)); },
      async update(id, patch) { await db.updateTable('deployments').set(patch).where('id', '=', id).execute(); },
      async delete(id) { const r = await db.deleteFrom('deployments').where('id', '=', id).executeTakeFirst(); return Number(r.numDeletedRows) > 0; },
    },
    routes: {
      async insert(row) { await db.insertInto('routes').values(row).execute(); },
      async getByName(name) { const r = await db.selectFrom('routes').selectAll().where('name', '=', name).executeTakeFirst(); return r && fixRoute(r as RouteRow); },
      async list() { return (await db.selectFrom('routes').selectAll().orderBy('name', 'asc').execute()).map((r) => fixRoute(r as RouteRow)); },
      async update(id, patch) { await db.updateTable('routes').set(patch).where('id', '=', id).execute(); },
      async delete(id) { const r = await db.deleteFrom('routes').where('id', '=', id).executeTakeFirst(); return Number(r.numDeletedRows) > 0; },
    },
    usage: {
      async add(row) {
        await db.insertInto('usage').values(row).onConflict((oc) => oc.columns(['key_id', 'model', 'day']).doUpdateSet((eb) => ({
          requests: eb('usage.requests', '+', row.requests),
          errors: eb('usage.errors', '+', row.errors),
          prompt_tokens: eb('usage.prompt_tokens', '+', row.prompt_tokens),
          completion_tokens: eb('usage.completion_tokens', '+', row.completion_tokens),
        }))).execute();
      },
      async list(opts = {}) {
        let q = db.selectFrom('usage').selectAll();
        if (opts.keyId) q = q.where('key_id', '=', opts.keyId);
        if (opts.since !== undefined) q = q.where('day', '>=', opts.since);
        return (await q.orderBy('day', 'asc').orderBy('key_id', 'asc').orderBy('model', 'asc').execute()).map((r) => fixUsage(r as UsageRow));
      },
      async totalTokens(keyId, since) {
        let q = db.selectFrom('usage').select((eb) => [eb.fn.sum<number>('prompt_tokens').as('p'), eb.fn.sum<number>('completion_tokens').as('c')]).where('key_id', '=', keyId);
        if (since !== undefined) q = q.where('day', '>=', since);
        const r = await q.executeTakeFirst();
        return Number(r?.p ?? 0) + Number(r?.c ?? 0);
      },
    },
    rateWindows: {
      async hit(keyId, minute) {
        // one statement: the increment and its result are atomic, whichever server runs it
        const r = await db.insertInto('rate_windows').values({ key_id: keyId, minute, count: 1 })
          .onConflict((oc) => oc.columns(['key_id', 'minute']).doUpdateSet((eb) => ({ count: eb('rate_windows.count', '+', 1) })))
          .returning('count').executeTakeFirstOrThrow();
        const before = await db.selectFrom('rate_windows').select('count').where('key_id', '=', keyId).where('minute', '=', minute - 1).executeTakeFirst();
        return { current: Number(r.count), previous: Number(before?.count ?? 0) };
      },
      peek,
      async prune(minute) { await db.deleteFrom('rate_windows').where('minute', '<', minute).execute(); },
    },
  };
}
