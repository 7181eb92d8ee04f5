/**
 * Suites: tasks grouped into dimensions (knowledge, reasoning, dialogue, context, generation, or any other name),
 * with weights, and the scores they give.
 *
 * Owns: the suite shape, its YAML form, and `scoreSuite`:
 *   suite: standard
 *   version: 1
 *   dimensions:
 *     knowledge: {weight: 2, tasks: [{task: mmlu_marketing.yaml, weight: 1}, cmmlu_college_law.yaml]}
 *     context:   {weight: 1, tasks: [needle.yaml]}
 * (task entries are YAML paths relative to the suite file, or names of tasks passed in `known`).
 * The scoring rule: a task's score is its primary metric in [0, 1] (runner.ts `scoreOf`); a dimension's score is
 * the weighted mean of its tasks' scores and appears only when every one of its tasks ran (status ok); the overall
 * score is the weighted mean of the dimensions and appears only when every dimension has a score. Missing parts
 * are listed, so a partial run says what it lacks instead of showing a misleading number.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadTaskFile, TaskValidationError, type TaskConfig } from './task.ts';
import type { TaskResult } from './bench-types.ts';

export const DIMENSIONS = ['knowledge', 'reasoning', 'dialogue', 'context', 'generation'] as const;

export interface SuiteTask { task: TaskConfig; weight: number }
export interface Dimension { name: string; weight: number; tasks: SuiteTask[] }
export interface Suite { name: string; version: number | string; dimensions: Dimension[] }

export interface DimensionScore {
  name: string;
  weight: number;
  score: number | null;
  tasks: Array<{ task: string; weight: number; score: number | null; status: string }>;
  /** Tasks without a score (not run, not supported, failed). */
  missing: string[];
}

export interface SuiteScore {
  suite: string;
  version: number | string;
  overall: number | null;
  dimensions: DimensionScore[];
  /** Dimensions without a score. */
  missing: string[];
}

export function makeSuite(name: string, version: number | string, dims: Record<string, { weight?: number; tasks: Array<TaskConfig | SuiteTask> }>): Suite {
  const dimensions = Object.entries(dims).map(([n, d]) => ({
    name: n, weight: d.weight ?? 1, tasks: d.tasks.map((t) => ('task' in t && typeof t.task === 'object' ? t as SuiteTask : { task: t as TaskConfig, weight: 1 })),
  }));
  validateSuite({ name, version, dimensions });
  return { name, version, dimensions };
}

function validateSuite(s: Suite): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  if (s.dimensions.length === 0) problems.push('dimensions: a suite needs at least one dimension');
  for (const d of s.dimensions) {
    if (!(d.weight > 0)) problems.push(`dimensions.${d.name}.weight: must be > 0`);
    if (d.tasks.length === 0) problems.push(`dimensions.${d.name}.tasks: must list at least one task`);
    d.tasks.forEach((t, i) => {
      if (!(t.weight > 0)) problems.push(`dimensions.${d.name}.tasks[${i}].weight: must be > 0`);
      if (seen.has(t.task.task)) problems.push(`dimensions.${d.name}.tasks[${i}]: task ${t.task.task} appears twice in the suite`);
      seen.add(t.task.task);
    });
  }
  if (problems.length) throw new Error(`suite ${s.name}: ${problems.join('; ')}`);
}

/** Every task of a suite, in order. */
export function suiteTasks(s: Suite): TaskConfig[] {
  return s.dimensions.flatMap((d) => d.tasks.map((t) => t.task));
}

/** Loads a suite YAML file; task entries are files (relative to the suite) or names in `known`. */
export function loadSuiteFile(path: string, opts: { vars?: Record<string, string>; known?: Record<string, TaskConfig> } = {}): Suite {
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  const raw = parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const where = (p: string) => `${path}: ${p}`;
  if (!raw || typeof raw !== 'object') throw new Error(where('a suite must be a mapping'));
  if (typeof raw.suite !== 'string') throw new Error(where('suite: is required (the suite name)'));
  const dims = raw.dimensions;
  if (!dims || typeof dims !== 'object' || Array.isArray(dims)) throw new Error(where('dimensions: must map dimension names to {weight, tasks}'));
  const base = dirname(resolve(path));
  const out: Record<string, { weight?: number; tasks: SuiteTask[] }> = {};
  for (const [name, d] of Object.entries(dims as Record<string, unknown>)) {
    const dd = d as { weight?: unknown; tasks?: unknown };
    if (!dd || typeof dd !== 'object' || !Array.isArray(dd.tasks)) throw new Error(where(`dimensions.${name}.tasks: must be a list`));
    if (dd.weight !== undefined && typeof dd.weight !== 'number') throw new Error(where(`dimensions.${name}.weight: must be a number`));
    out[name] = {
      weight: dd.weight as number | undefined,
      tasks: dd.tasks.map((t, i) => {
        const entry = typeof t === 'string' ? { task: t, weight: 1 } : t as { task?: unknown; weight?: unknown };
        if (typeof entry.task !== 'string') throw new Error(where(`dimensions.${name}.tasks[${i}].task: must be a task file or name`));
        const weight = entry.weight === undefined ? 1 : entry.weight;
        if (typeof weight !== 'number') throw new Error(where(`dimensions.${name}.tasks[${i}].weight: must be a number`));
        const known = opts.known?.[entry.task];
        if (known) return { task: known, weight };
        const file = isAbsolute(entry.task) ? entry.task : join(base, entry.task);
        if (!existsSync(file)) throw new Error(where(`dimensions.${name}.tasks[${i}].task: ${entry.task} is neither a file nor a known task`));
        try {
          return { task: loadTaskFile(file, opts.vars), weight };
        } catch (e) {
          if (e instanceof TaskValidationError) throw new Error(where(`dimensions.${name}.tasks[${i}]: ${e.message}`));
          throw e;
        }
      }),
    };
  }
  return makeSuite(raw.suite, (raw.version as number | string | undefined) ?? 0, out);
}

const weighted = (xs: Array<{ score: number; weight: number }>) => xs.reduce((a, x) => a + x.score * x.weight, 0) / xs.reduce((a, x) => a + x.weight, 0);

/** Dimension and overall scores from task results (see the header for the rule). */
export function scoreSuite(s: Suite, results: readonly TaskResult[]): SuiteScore {
  const byTask = new Map(results.map((r) => [r.task, r]));
  const dimensions: DimensionScore[] = s.dimensions.map((d) => {
    const tasks = d.tasks.map((t) => {
      const r = byTask.get(t.task.task);
      const ok = r !== undefined && r.status === 'ok' && r.score !== null;
      return { task: t.task.task, weight: t.weight, score: ok ? r.score : null, status: r ? r.status : 'not_run' };
    });
    const missing = tasks.filter((t) => t.score === null).map((t) => t.task);
    return {
      name: d.name, weight: d.weight, tasks, missing,
      score: missing.length === 0 ? weighted(tasks.map((t) => ({ score: t.score!, weight: t.weight }))) : null,
    };
  });
  const missing = dimensions.filter((d) => d.score === null).map((d) => d.name);
  return {
    suite: s.name, version: s.version, dimensions, missing,
    overall: missing.length === 0 ? weighted(dimensions.map((d) => ({ score: d.score!, weight: d.weight }))) : null,
  };
}
