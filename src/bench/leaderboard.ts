/**
 * Leaderboards: an experiment's models ranked overall and per dimension, each base model beside its fine-tunes
 * (with the fine-tune's gain over its base), and two models' answers side by side on the same items.
 *
 * Owns: `buildLeaderboard`, `formatLeaderboard` (a text table for the CLI and the demo's main job) and
 * `compareRuns`. Ranking: by score, higher first; a model without a score ranks after every scored one (ties share
 * a rank, "1224" competition ranking). Guarantees: pure functions of the runs given.
 */
import type { BenchmarkRun } from './run.ts';
import type { ItemResult } from './bench-types.ts';

export interface LeaderboardRow {
  rank: number | null;
  modelId: string;
  name: string;
  baseId: string | null;
  isBase: boolean;
  runId: string;
  overall: number | null;
  dimensions: Record<string, { score: number | null; rank: number | null }>;
  tasks: Record<string, number | null>;
  /** Fine-tunes: score minus the base's, overall and per dimension (null when either is missing). */
  delta: { overall: number | null; dimensions: Record<string, number | null> } | null;
}

export interface Leaderboard {
  suite: string;
  dimensions: string[];
  tasks: string[];
  rows: LeaderboardRow[];
  /** Each base with its fine-tunes, best first. */
  groups: Array<{ base: LeaderboardRow | null; baseId: string | null; finetunes: LeaderboardRow[] }>;
  /** Model ids in rank order, per dimension. */
  byDimension: Record<string, string[]>;
}

function ranks(values: Array<number | null>): Array<number | null> {
  return values.map((v) => (v === null ? null : 1 + values.filter((x) => x !== null && x > v).length));
}

/** Builds the leaderboard of one suite's runs (the latest run per model when a model appears twice). */
export function buildLeaderboard(runs: readonly BenchmarkRun[]): Leaderboard {
  const latest = new Map<string, BenchmarkRun>();
  for (const r of runs) {
    const prev = latest.get(r.model.id);
    if (!prev || r.created_at >= prev.created_at) latest.set(r.model.id, r);
  }
  const list = [...latest.values()];
  const suite = list[0]?.suite.name ?? '';
  const other = list.find((r) => r.suite.name !== suite);
  if (other) throw new Error(`buildLeaderboard: runs of different suites (${suite}, ${other.suite.name}); one leaderboard per suite`);
  const dimensions = [...new Set(list.flatMap((r) => r.scores.dimensions.map((d) => d.name)))];
  const tasks = [...new Set(list.flatMap((r) => r.suite.tasks.map((t) => t.task)))];
  const overallRanks = ranks(list.map((r) => r.scores.overall));
  const dimRanks = Object.fromEntries(dimensions.map((d) => [d, ranks(list.map((r) => r.scores.dimensions.find((x) => x.name === d)?.score ?? null))]));
  const rows: LeaderboardRow[] = list.map((r, i) => ({
    rank: overallRanks[i], modelId: r.model.id, name: r.model.name, baseId: r.model.baseId ?? null,
    isBase: !r.model.baseId, runId: r.id, overall: r.scores.overall,
    dimensions: Object.fromEntries(dimensions.map((d) => [d, { score: r.scores.dimensions.find((x) => x.name === d)?.score ?? null, rank: dimRanks[d][i] }])),
    tasks: Object.fromEntries(tasks.map((t) => [t, r.tasks.find((x) => x.task === t)?.score ?? null])),
    delta: null,
  }));
  const byId = new Map(rows.map((r) => [r.modelId, r]));
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
  for (const row of rows) {
    const base = row.baseId ? byId.get(row.baseId) : undefined;
    if (base) row.delta = { overall: diff(row.overall, base.overall), dimensions: Object.fromEntries(dimensions.map((d) => [d, diff(row.dimensions[d].score, base.dimensions[d].score)])) };
  }
  const order = (a: LeaderboardRow, b: LeaderboardRow) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || a.name.localeCompare(b.name);
  rows.sort(order);
  const groups: Leaderboard['groups'] = [];
  const baseIds = new Set(rows.filter((r) => r.baseId).map((r) => r.baseId!));
  for (const b of rows.filter((r) => !r.baseId)) baseIds.add(b.modelId);
  for (const id of baseIds) {
    groups.push({ baseId: id, base: byId.get(id) ?? null, finetunes: rows.filter((r) => r.baseId === id) });
  }
  groups.sort((a, b) => order(a.finetunes[0] ?? a.base!, b.finetunes[0] ?? b.base!));
  const byDimension = Object.fromEntries(dimensions.map((d) => [d, [...rows].filter((r) => r.dimensions[d].score !== null)
    .sort((a, b) => b.dimensions[d].score! - a.dimensions[d].score! || a.name.localeCompare(b.name)).map((r) => r.modelId)]));
  return { suite, dimensions, tasks, rows, groups, byDimension };
}

const pct = (v: number | null) => (v === null ? '   -  ' : (100 * v).toFixed(1).padStart(6));
const dpct = (v: number | null | undefined) => (v === null || v === undefined ? '' : `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`);

/** A text table: rank, model, overall, each dimension; fine-tunes indented under their base with deltas. */
export function formatLeaderboard(lb: Leaderboard): string {
  const nameW = Math.max(12, ...lb.rows.map((r) => r.name.length + 4));
  const head = `${'rank'.padStart(4)}  ${'model'.padEnd(nameW)} ${'overall'.padStart(7)} ${lb.dimensions.map((d) => d.slice(0, 10).padStart(10)).join(' ')}   vs base`;
  const line = (r: LeaderboardRow, indent: boolean) =>
    `${String(r.rank ?? '-').padStart(4)}  ${((indent ? '  └ ' : '') + r.name).padEnd(nameW)} ${pct(r.overall).padStart(7)} ${lb.dimensions.map((d) => pct(r.dimensions[d].score).padStart(10)).join(' ')}   ${r.delta ? dpct(r.delta.overall) : ''}`;
  const out = [`leaderboard: ${lb.suite} (scores in %, higher is better; "-": not every part ran)`, head];
  for (const g of lb.groups) {
    if (g.base) out.push(line(g.base, false));
    else out.push(`${''.padStart(4)}  ${(g.baseId ?? '?').padEnd(nameW)} (base not benchmarked)`);
    for (const f of g.finetunes) out.push(line(f, true));
  }
  return out.join('\n');
}

export interface ItemComparison {
  index: number;
  docId?: string;
  input: string;
  target: string;
  a: { output: string; metrics: Record<string, number> };
  b: { output: string; metrics: Record<string, number> };
  /** Primary metric a minus b. */
  diff: number;
}

/** Two runs' answers to the same items of one task, side by side, with a win/tie/loss summary on the primary metric. */
export function compareRuns(a: BenchmarkRun, b: BenchmarkRun, task: string): { task: string; primaryMetric: string; items: ItemComparison[]; summary: { aBetter: number; bBetter: number; same: number } } {
  const ta = a.tasks.find((t) => t.task === task), tb = b.tasks.find((t) => t.task === task);
  if (!ta || !tb) throw new Error(`compareRuns: task ${task} is not in both runs (${a.id}: ${ta ? 'yes' : 'no'}, ${b.id}: ${tb ? 'yes' : 'no'})`);
  if (ta.templateHash !== tb.templateHash) throw new Error(`compareRuns: task ${task} ran with different prompts in the two runs (template ${ta.templateHash} vs ${tb.templateHash})`);
  const m = ta.primaryMetric;
  const bByIndex = new Map<number, ItemResult>(tb.items.map((i) => [i.index, i]));
  const items: ItemComparison[] = [];
  for (const ia of ta.items) {
    const ib = bByIndex.get(ia.index);
    if (!ib) continue;
    items.push({
      index: ia.index, docId: ia.docId, input: ia.input, target: ia.target,
      a: { output: ia.output, metrics: ia.metrics }, b: { output: ib.output, metrics: ib.metrics },
      diff: (ia.metrics[m] ?? 0) - (ib.metrics[m] ?? 0),
    });
  }
  const lower = /perplexity|bits_per_byte/.test(m);
  const better = (d: number) => (lower ? -d : d);
  return {
    task, primaryMetric: m, items,
    summary: { aBetter: items.filter((i) => better(i.diff) > 1e-12).length, bBetter: items.filter((i) => better(i.diff) < -1e-12).length, same: items.filter((i) => Math.abs(i.diff) <= 1e-12).length },
  };
}
