/**
 * A benchmark run: one suite on one target (a model), task by task through the cache, with the suite's scores.
 *
 * Owns: `runBenchmark`, the `BenchmarkRun` record (what the store, the API and the CLI show), and its OpenAI evals
 * shapes (`toEvalRun`: an `eval.run`, `toOutputItems`: `eval.run.output_item`s) for the HTTP routes.
 * Guarantees: a task whose cache key (target id, task version, template hash, seed, limit, judge) has a result is
 * not run again (`cache_hits` counts them); the run id is derived from the target id, the suite, its version and
 * the seed, so re-running a finished benchmark gives the same id and the same numbers.
 */
import { createHash } from 'node:crypto';
import { runTask, taskCacheKey } from './task-runner.ts';
import { scoreSuite, suiteTasks, type Suite, type SuiteScore } from './suite.ts';
import { templateHash } from './task.ts';
import type { ResultCache } from './cache.ts';
import type { Target, TaskResult } from './bench-types.ts';

export interface ModelRef {
  /** The model's id in the factory (or the target id when run by hand). */
  id: string;
  name: string;
  /** The base model's id, for fine-tunes (leaderboards show the base beside its fine-tunes). */
  baseId?: string | null;
  meta?: Record<string, unknown>;
}

export interface BenchmarkRun {
  object: 'bench.run';
  id: string;
  name: string;
  status: 'in_progress' | 'completed' | 'failed';
  model: ModelRef;
  target: { id: string; name: string; kind: string };
  suite: { name: string; version: number | string; tasks: Array<{ task: string; version: number | string; templateHash: string }> };
  seed: number;
  limit: number | null;
  judge: string | null;
  created_at: number;
  completed_at: number | null;
  cache_hits: number;
  tasks: TaskResult[];
  scores: SuiteScore;
  error?: string;
}

export interface RunBenchmarkOptions {
  model?: ModelRef;
  cache?: ResultCache;
  seed?: number;
  limit?: number;
  judge?: Target;
  /** Called after each task (cached or run). */
  onTask?: (r: TaskResult, cached: boolean, index: number, total: number) => void;
}

export function runId(targetId: string, suite: Suite, seed: number, limit: number | null, judgeId: string | null): string {
  const tasks = suiteTasks(suite).map((t) => [t.task, String(t.version), templateHash(t)]);
  return `bench_${createHash('sha256').update(JSON.stringify([targetId, suite.name, String(suite.version), tasks, seed, limit, judgeId])).digest('hex').slice(0, 20)}`;
}

export async function runBenchmark(suite: Suite, target: Target, opts: RunBenchmarkOptions = {}): Promise<BenchmarkRun> {
  const seed = opts.seed ?? 0;
  const limit = opts.limit ?? null;
  const tasks = suiteTasks(suite);
  const judgeId = opts.judge?.id ?? null;
  const run: BenchmarkRun = {
    object: 'bench.run', id: runId(target.id, suite, seed, limit, judgeId), name: `${suite.name} on ${target.name}`, status: 'in_progress',
    model: opts.model ?? { id: target.id, name: target.name, baseId: null },
    target: { id: target.id, name: target.name, kind: target.kind },
    suite: { name: suite.name, version: suite.version, tasks: tasks.map((t) => ({ task: t.task, version: t.version, templateHash: templateHash(t) })) },
    seed, limit, judge: judgeId, created_at: Math.floor(Date.now() / 1000), completed_at: null, cache_hits: 0, tasks: [],
    scores: scoreSuite(suite, []),
  };
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i];
    const lim = limit ?? t.limit ?? null;
    const key = taskCacheKey(target.id, t, seed, lim, t.output_type === 'judged' ? opts.judge?.id : undefined);
    let r = await opts.cache?.get(key);
    const cached = r !== undefined;
    if (!r) {
      r = await runTask(t, target, { seed, limit: limit ?? undefined, judge: t.output_type === 'judged' ? opts.judge : undefined });
      await opts.cache?.put(key, r);
    } else run.cache_hits++;
    run.tasks.push(r);
    opts.onTask?.(r, cached, i, tasks.length);
  }
  run.scores = scoreSuite(suite, run.tasks);
  run.status = 'completed';
  run.completed_at = Math.floor(Date.now() / 1000);
  return run;
}

/** The run as an OpenAI `eval.run` object (testing criteria = tasks; an item passes when its primary metric is 1 / >= 0.5). */
export function toEvalRun(run: BenchmarkRun): Record<string, unknown> {
  let passed = 0, failed = 0, errored = 0;
  const perCriteria = run.tasks.map((t) => {
    let p = 0, f = 0;
    for (const it of t.items) {
      if (itemPassed(t, it.metrics)) p++;
      else f++;
    }
    if (t.status !== 'ok') errored++;
    passed += p; failed += f;
    return { testing_criteria: t.task, passed: p, failed: f };
  });
  return {
    object: 'eval.run', id: run.id, eval_id: `${run.suite.name}@${run.suite.version}`, name: run.name,
    status: run.status === 'in_progress' ? 'in_progress' : run.status === 'completed' ? 'completed' : 'failed',
    model: run.model.name, created_at: run.created_at,
    result_counts: { total: passed + failed, passed, failed, errored },
    per_testing_criteria_results: perCriteria,
    data_source: { type: 'modelfab_bench', suite: run.suite, seed: run.seed, limit: run.limit },
    scores: run.scores, metadata: { target: run.target, cache_hits: run.cache_hits, judge: run.judge },
    ...(run.error ? { error: { code: 'run_failed', message: run.error } } : {}),
  };
}

function itemPassed(t: TaskResult, m: Record<string, number>): boolean {
  const v = m[t.primaryMetric];
  if (v === undefined) return false;
  if (t.primaryMetric === 'rating') return v >= 6;
  if (/perplexity|bits_per_byte/.test(t.primaryMetric)) return true;
  return v >= 0.5;
}

/** Per-item outputs as OpenAI `eval.run.output_item` objects (optionally one task's). */
export function toOutputItems(run: BenchmarkRun, task?: string): Array<Record<string, unknown>> {
  return run.tasks.filter((t) => !task || t.task === task).flatMap((t) => t.items.map((it) => ({
    object: 'eval.run.output_item', id: `${run.id}.${t.task}.${it.index}`, run_id: run.id, eval_id: `${run.suite.name}@${run.suite.version}`,
    created_at: t.createdAt, status: itemPassed(t, it.metrics) ? 'pass' : 'fail', datasource_item_id: it.index,
    datasource_item: { task: t.task, doc_id: it.docId, target: it.target, choices: it.choices, gold: it.gold },
    results: Object.entries(it.metrics).map(([name, score]) => ({ name, score, passed: name === t.primaryMetric ? itemPassed(t, it.metrics) : undefined })),
    sample: { input: it.input, output: it.output, pred: it.pred, loglikelihoods: it.loglikelihoods, rotations: it.rotations, judge: it.judge },
  })));
}
