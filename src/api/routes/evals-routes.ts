/**
 * Benchmark runs over HTTP, shaped like OpenAI's evals runs where it fits:
 *   POST /v1/evals/runs             {model, suite?: 'standard'|'factory', limit?, seed?, datasets?} -> a run (in_progress;
 *                                   it runs in the background; re-running a finished benchmark is a cache hit)
 *   GET  /v1/evals/runs             the key's runs, newest first (an admin key: every run)
 *   GET  /v1/evals/runs/:id         the run (OpenAI eval.run shape, with modelfab's dimension scores)
 *   GET  /v1/evals/runs/:id/output_items?task=   per-item inputs, outputs and scores
 *   GET  /v1/evals/compare?a=&b=&task=           two runs' answers side by side on the same items
 * Names only, never paths or URLs: `model` is a registered model (the factory's catalog: bases and `ft:` models, or
 * the serving registry: files and endpoints an admin registered), within the key's model scope; an endpoint is
 * called with its own registered key only (no server secret goes to an address a request names). `datasets` (the
 * factory suite) are registered datasets by name (`"name"` or `{name, version?}`; needs the `datasets` area too),
 * whose held-out (validation) split is read from the data folder. Every route needs the `evals` area; a run is
 * visible to the keys that ran it (an admin key sees all).
 */
import { isAbsolute, join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  JsonFileResultCache, JsonFileRunStore, OpenAITarget, compareRuns, openTarget, runBenchmark, standardSuite, toEvalRun, toOutputItems,
  type BenchmarkRun, type Target,
} from '../../bench/bench-exports.ts';
import { experimentSuite, type SuiteDataset } from '../../factory/evaluate.ts';
import type { FactoryService } from '../../factory/factory-service.ts';
import { DataError, type DataService } from '../../data/data-service.ts';
import { engineMessages, type AnyRecord } from '../../data/records.ts';
import { keyAllowsModel } from '../../serve/api-keys.ts';
import type { ApiKeyRow, Store } from '../../store/store.ts';
import { ApiError } from '../errors.ts';
import { requireRequestAccess } from '../authz.ts';

const SHARED_BENCH = process.env.MODELFAB_BENCH_DATA;

/** A stored run and the keys (ids) that ran it. */
type OwnedRun = BenchmarkRun & { owners?: string[] };

type DatasetArg = string | { name?: unknown; version?: unknown; [k: string]: unknown };

export interface EvalsDeps {
  factory: FactoryService;
  /** The serving registry (models an admin registered: files and endpoints). */
  store: Store;
  /** The dataset registry. */
  data: DataService;
  dataDir: string;
}

const bad = (message: string, param: string, code = 'invalid_value') => new ApiError(400, message, 'invalid_request_error', param, code);

/** Whether `k` may see `run`: an admin key, or a key that ran it. */
function visible(k: ApiKeyRow, run: OwnedRun): boolean {
  return k.role === 'admin' || (run.owners ?? []).includes(k.id);
}

/** The target of a registered model name; null when no registry knows it. */
async function registeredTarget(deps: EvalsDeps, name: string): Promise<{ target: () => Promise<Target>; baseId: string | null } | null> {
  const cat = await deps.factory.catalogGet(name);
  if (cat) return { target: () => openTarget(cat.path, { name, threads: 1 }), baseId: (cat.meta?.base as string | undefined) ?? null };
  const row = await deps.store.models.getByName(name);
  if (!row) return null;
  if (row.kind === 'endpoint') {
    // the endpoint's own URL, model and key, as the admin registered them
    const e = JSON.parse(row.endpoint ?? '{}') as { url?: string; apiKey?: string; model?: string };
    if (!e.url) return null;
    return { target: async () => new OpenAITarget({ baseURL: e.url!, model: e.model ?? name, apiKey: e.apiKey, mode: 'chat', parallel: 2, name }), baseId: null };
  }
  const path = row.kind === 'gguf' && row.adapter_path ? (row.base_path ?? row.path) : row.path;
  if (!path) return null;
  const adapters = row.kind === 'gguf' && row.adapter_path ? [{ path: row.adapter_path }] : undefined;
  return { target: () => openTarget(path, { name, threads: 1, adapters, chatTemplate: row.chat_template ?? undefined }), baseId: null };
}

/** The held-out records of the registered datasets named in `datasets` (each its validation split). */
async function heldoutDatasets(deps: EvalsDeps, datasets: unknown): Promise<SuiteDataset[]> {
  if (datasets === undefined) return [];
  if (!Array.isArray(datasets)) throw bad('datasets must be a list of registered dataset names', 'datasets');
  if (datasets.length > 32) throw bad('datasets: at most 32 datasets', 'datasets');
  const out: SuiteDataset[] = [];
  for (const [i, d] of (datasets as DatasetArg[]).entries()) {
    const param = `datasets[${i}]`;
    let name: unknown, version: unknown;
    if (typeof d === 'string') name = d;
    else if (d && typeof d === 'object' && !Array.isArray(d)) {
      if ('path' in d) throw bad(`${param}.path: eval runs read registered datasets only; name one (GET /v1/datasets) instead of a path`, `${param}.path`, 'path_not_allowed');
      const extra = Object.keys(d).find((k) => k !== 'name' && k !== 'version');
      if (extra) throw bad(`${param}.${extra}: unknown field (a dataset is {name, version?})`, `${param}.${extra}`);
      ({ name, version } = d);
    }
    if (typeof name !== 'string' || !name) throw bad(`${param}: a registered dataset's name (a string, or {name, version?})`, param);
    if (version !== undefined && (typeof version !== 'string' || !version)) throw bad(`${param}.version: a version id or content hash prefix`, `${param}.version`);
    let got;
    try {
      got = await deps.data.records(name, 'validation', version as string | undefined);
    } catch (e) {
      if (e instanceof DataError) throw new ApiError(e.status, `${param}: ${e.message}`, 'invalid_request_error', param, e.status === 404 ? 'dataset_not_found' : e.code ?? undefined);
      throw e;
    }
    if (got.stage !== 'sft') throw bad(`${param}: dataset ${name} is a ${got.stage} dataset; held-out answers need an sft dataset`, param);
    if (!got.records.length) throw bad(`${param}: dataset ${name} has no validation split (import it with validation_split or a validation file)`, param);
    // the same records an experiment's jobs are scored on (FactoryService.materialize), so results share the cache
    const records = got.records.map((r: AnyRecord) => ({ messages: engineMessages((r as { messages: never[] }).messages, (r as { tools?: unknown[] }).tools) }));
    out.push({ name, records });
  }
  if (new Set(out.map((d) => d.name)).size !== out.length) throw bad('datasets: a dataset is named twice', 'datasets');
  return out;
}

export function evalsRoutes(app: FastifyInstance, deps: EvalsDeps): void {
  const { dataDir } = deps;
  const runs = new JsonFileRunStore(join(dataDir, 'bench-runs'));
  const cache = new JsonFileResultCache(join(dataDir, 'bench-cache'));
  /** Runs in flight, by a number of their own. */
  const inFlight = new Set<{ keyId: string; model: string }>();

  const saveOwned = async (run: BenchmarkRun, keyId: string) => {
    const prev = (await runs.get(run.id)) as OwnedRun | undefined;
    const owned: OwnedRun = { ...run, owners: [...new Set([...(prev?.owners ?? []), keyId])] };
    await runs.save(owned);
    return owned;
  };
  const getVisible = async (req: FastifyRequest, id: string, param: string) => {
    const r = (await runs.get(id)) as OwnedRun | undefined;
    // someone else's run answers as a missing one (its id tells nothing)
    if (!r || !visible(req.apiKey!, r)) throw new ApiError(404, `run ${id} not found`, 'invalid_request_error', param, 'not_found');
    return r;
  };

  app.post<{ Body: { model: string; suite?: 'standard' | 'factory'; limit?: number; seed?: number; datasets?: unknown } }>('/v1/evals/runs', {
    schema: { body: { type: 'object', required: ['model'], properties: { model: { type: 'string', minLength: 1, maxLength: 256 }, suite: { type: 'string', enum: ['standard', 'factory'] }, limit: { type: 'integer', minimum: 1, maximum: 10000 }, seed: { type: 'integer' }, datasets: { type: 'array', maxItems: 32 } } } },
  }, async (req, reply) => {
    const b = req.body;
    const key = req.apiKey!;
    if (!keyAllowsModel(key, b.model)) throw new ApiError(403, `This API key may not use the model ${b.model}.`, 'invalid_request_error', 'model', 'model_not_allowed');
    const found = await registeredTarget(deps, b.model);
    if (!found) {
      if (/^(openai:)?https?:\/\//i.test(b.model) || b.model.includes('#')) {
        throw bad('model: eval runs name a registered model, not a URL: an admin registers the endpoint (POST /v1/serve/models {"kind": "endpoint", ...}) and runs name it', 'model', 'url_not_allowed');
      }
      if (isAbsolute(b.model) || /[\\/]/.test(b.model)) {
        throw bad('model: eval runs name a registered model, not a path: an admin registers the file (POST /v1/models) and runs name it', 'model', 'path_not_allowed');
      }
      throw new ApiError(404, `model ${b.model} not found (a registered model: GET /v1/models)`, 'invalid_request_error', 'model', 'model_not_found');
    }
    if (b.datasets !== undefined && b.suite !== 'factory') throw bad('datasets: only the factory suite scores held-out datasets (suite: "factory")', 'datasets');
    if (Array.isArray(b.datasets) && b.datasets.length) requireRequestAccess(req, 'manage:datasets'); // it reads their records
    const datasets = await heldoutDatasets(deps, b.datasets);
    const suite = b.suite === 'factory'
      ? experimentSuite({ cacheDir: join(dataDir, 'bench-cache'), datasets, limit: b.limit ?? 20, seed: b.seed })
      : standardSuite({ benchData: SHARED_BENCH, limit: b.limit ?? 20 });
    let target: Target;
    try { target = await found.target(); } catch (e) {
      throw new ApiError(400, `model ${b.model}: ${(e as Error).message}`, 'invalid_request_error', 'model', 'invalid_model');
    }
    const flight = { keyId: key.id, model: b.model };
    inFlight.add(flight);
    const p = runBenchmark(suite, target, { cache, seed: b.seed ?? 0, model: { id: b.model, name: b.model, baseId: found.baseId } })
      .then((run) => saveOwned(run, key.id))
      .finally(() => { inFlight.delete(flight); void target.close?.(); });
    p.catch((e: unknown) => app.log.error({ err: e, model: b.model }, 'eval run failed'));
    // Short runs (cache hits) answer complete; long ones answer in progress.
    const done = await Promise.race([p, new Promise<null>((r) => setTimeout(() => r(null), 1500))]);
    if (done) return toEvalRun(done);
    void reply.status(202);
    return { object: 'eval.run', status: 'in_progress', model: b.model, suite: suite.name, message: 'running; list runs with GET /v1/evals/runs' };
  });

  app.get('/v1/evals/runs', async (req) => {
    const k = req.apiKey!;
    return {
      object: 'list', data: (await runs.list()).filter((r) => visible(k, r)).map(toEvalRun),
      in_progress: [...inFlight.values()].filter((f) => k.role === 'admin' || f.keyId === k.id).map((f) => f.model),
    };
  });
  app.get<{ Params: { id: string } }>('/v1/evals/runs/:id', async (req) => toEvalRun(await getVisible(req, req.params.id, 'run_id')));
  app.get<{ Params: { id: string }; Querystring: { task?: string } }>('/v1/evals/runs/:id/output_items', async (req) => {
    const r = await getVisible(req, req.params.id, 'run_id');
    return { object: 'list', data: toOutputItems(r, req.query.task) };
  });
  app.get<{ Querystring: { a: string; b: string; task: string } }>('/v1/evals/compare', async (req) => {
    const { a, b, task } = req.query;
    if (!a || !b || !task) throw new ApiError(400, 'a, b (run ids) and task are required', 'invalid_request_error');
    const [ra, rb] = await Promise.all([getVisible(req, a, 'a'), getVisible(req, b, 'b')]);
    return { object: 'eval.comparison', ...compareRuns(ra, rb, task) };
  });
}
