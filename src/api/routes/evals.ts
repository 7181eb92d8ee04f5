/**
 * Benchmark runs over HTTP, shaped like OpenAI's evals runs where it fits:
 *   POST /v1/evals/runs             {model, suite?: 'standard'|'factory', limit?, seed?, datasets?} -> a run (in_progress;
 *                                   it runs in the background; re-running a finished benchmark is a cache hit)
 *   GET  /v1/evals/runs             newest first
 *   GET  /v1/evals/runs/:id         the run (OpenAI eval.run shape, with modelfab's dimension scores)
 *   GET  /v1/evals/runs/:id/output_items?task=   per-item inputs, outputs and scores
 *   GET  /v1/evals/compare?a=&b=&task=           two runs' answers side by side on the same items
 * `model` is a registered model name (base or ft:...), a model path inside a model folder (../model-paths.ts), or
 * (admin keys only, since the server calls it) `openai:<url>#<model>`. Every route needs the `evals` area.
 */
import { isAbsolute, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  JsonFileResultCache, JsonFileRunStore, compareRuns, openTarget, runBenchmark, standardSuite, toEvalRun, toOutputItems, type BenchmarkRun,
} from '../../bench/index.ts';
import { experimentSuite } from '../../factory/evaluate.ts';
import type { FactoryService } from '../../factory/service.ts';
import { ApiError } from '../errors.ts';
import { requireRequestAccess } from '../authz.ts';
import type { ModelFolders } from '../model-paths.ts';

const SHARED_BENCH = process.env.MODELFAB_BENCH_DATA;

export function evalsRoutes(app: FastifyInstance, factory: FactoryService, dataDir: string, folders: ModelFolders): void {
  const runs = new JsonFileRunStore(join(dataDir, 'bench-runs'));
  const cache = new JsonFileResultCache(join(dataDir, 'bench-cache'));
  const inFlight = new Map<string, Promise<BenchmarkRun>>();

  app.post<{ Body: { model: string; suite?: 'standard' | 'factory'; limit?: number; seed?: number; datasets?: Array<{ name: string; path: string }> } }>('/v1/evals/runs', {
    schema: { body: { type: 'object', required: ['model'], properties: { model: { type: 'string', minLength: 1 }, suite: { type: 'string', enum: ['standard', 'factory'] }, limit: { type: 'integer', minimum: 1, maximum: 10000 }, seed: { type: 'integer' }, datasets: { type: 'array' } } } },
  }, async (req, reply) => {
    const b = req.body;
    const cat = await factory.catalogGet(b.model);
    let ref = cat?.path ?? b.model;
    if (!cat) {
      if (/^(openai:)?https?:\/\//.test(ref)) requireRequestAccess(req, 'admin'); // the server calls it (with MODELFAB_BENCH_API_KEY)
      else if (isAbsolute(ref)) ref = folders.resolve(ref, 'model'); // a model file: only from the model folders
      else throw new ApiError(404, `model ${b.model} not found (a registered name, a path in a model folder, or openai:<url>#<model>)`, 'invalid_request_error', 'model', 'model_not_found');
    }
    const suite = b.suite === 'factory'
      ? experimentSuite({ cacheDir: join(dataDir, 'bench-cache'), datasets: b.datasets ?? [], limit: b.limit ?? 20, seed: b.seed })
      : standardSuite({ benchData: SHARED_BENCH, limit: b.limit ?? 20 });
    let target;
    try { target = await openTarget(ref, { name: b.model, threads: 1 }); } catch (e) {
      throw new ApiError(400, `model ${b.model}: ${(e as Error).message}`, 'invalid_request_error', 'model', 'invalid_model');
    }
    const p = runBenchmark(suite, target, { cache, seed: b.seed ?? 0, model: { id: b.model, name: b.model, baseId: (cat?.meta?.base as string | undefined) ?? null } })
      .then(async (run) => { await runs.save(run); return run; })
      .finally(() => { inFlight.delete(b.model); void target.close?.(); });
    inFlight.set(b.model, p);
    // Short runs (cache hits) answer complete; long ones answer in progress.
    const done = await Promise.race([p, new Promise<null>((r) => setTimeout(() => r(null), 1500))]);
    if (done) return toEvalRun(done);
    void reply.status(202);
    return { object: 'eval.run', status: 'in_progress', model: b.model, suite: suite.name, message: 'running; list runs with GET /v1/evals/runs' };
  });

  app.get('/v1/evals/runs', async () => ({ object: 'list', data: (await runs.list()).map(toEvalRun), in_progress: [...inFlight.keys()] }));
  app.get<{ Params: { id: string } }>('/v1/evals/runs/:id', async (req) => {
    const r = await runs.get(req.params.id);
    if (!r) throw new ApiError(404, `run ${req.params.id} not found`, 'invalid_request_error', 'run_id', 'not_found');
    return toEvalRun(r);
  });
  app.get<{ Params: { id: string }; Querystring: { task?: string } }>('/v1/evals/runs/:id/output_items', async (req) => {
    const r = await runs.get(req.params.id);
    if (!r) throw new ApiError(404, `run ${req.params.id} not found`, 'invalid_request_error', 'run_id', 'not_found');
    return { object: 'list', data: toOutputItems(r, req.query.task) };
  });
  app.get<{ Querystring: { a: string; b: string; task: string } }>('/v1/evals/compare', async (req) => {
    const { a, b, task } = req.query;
    if (!a || !b || !task) throw new ApiError(400, 'a, b (run ids) and task are required', 'invalid_request_error');
    const [ra, rb] = await Promise.all([runs.get(a), runs.get(b)]);
    if (!ra || !rb) throw new ApiError(404, `run ${!ra ? a : b} not found`, 'invalid_request_error', !ra ? 'a' : 'b', 'not_found');
    return { object: 'eval.comparison', ...compareRuns(ra, rb, task) };
  });
}
