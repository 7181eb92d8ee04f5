/**
 * What fine-tuning bought, in the demo's own terms: the share of held-out company-fact questions each model answers
 * with the right fact (the leaderboard's `facts` dimension), the best fine-tune against its base, and a few of its
 * answers beside the base's. Pure functions of the leaderboard and of benchmark runs.
 */
import type { Leaderboard } from '../bench/leaderboard.ts';
import type { BenchmarkRun } from '../bench/run.ts';

export interface FactsMargin {
  /** The fine-tune with the highest facts score (ties: the higher overall score). */
  best: { name: string; score: number };
  /** Its base model's facts score (null when the base was not benchmarked). */
  base: { name: string; score: number | null };
  /** Per base model: its own score and its best fine-tune's. */
  perBase: Array<{ base: string; baseScore: number | null; best: string | null; bestScore: number | null }>;
}

const DIM = 'facts';

/**
 * The margin on the facts dimension of the fine-tune `bestName` (the one the demo chose by that dimension,
 * `bestFineTune` in serve-demo.ts), or null when it has no fact score.
 */
export function factsMargin(lb: Leaderboard, bestName: string): FactsMargin | null {
  const score = (r: Leaderboard['rows'][number]) => r.dimensions[DIM]?.score ?? null;
  const top = lb.rows.find((r) => !r.isBase && r.name === bestName && score(r) !== null);
  if (!top) return null;
  const baseRow = lb.rows.find((r) => r.modelId === top.baseId) ?? null;
  const perBase = lb.groups.map((g) => {
    const b = g.finetunes.filter((f) => score(f) !== null).sort((x, y) => score(y)! - score(x)!)[0];
    return { base: g.base?.name ?? g.baseId ?? '?', baseScore: g.base ? score(g.base) : null, best: b?.name ?? null, bestScore: b ? score(b) : null };
  });
  return { best: { name: top.name, score: score(top)! }, base: { name: baseRow?.name ?? top.baseId ?? '?', score: baseRow ? score(baseRow) : null }, perBase };
}

const pct = (v: number | null) => (v === null ? '-' : `${Math.round(v * 100)}%`);

/** "best fine-tune X: 62% of the company-fact questions vs 4% for its base Y", then one line per base model. */
export function factsMarginLines(m: FactsMargin, questions: number): string[] {
  const out = [`Company facts (${questions} held-out questions in Chinese and English, in words never trained on; right when the answer states the fact):`];
  out.push(`best fine-tune ${m.best.name}: ${pct(m.best.score)} of the company-fact questions vs ${pct(m.base.score)} for its base ${m.base.name}`);
  for (const b of m.perBase) if (b.best) out.push(`  ${b.base.padEnd(10)} ${pct(b.baseScore).padStart(4)} -> ${pct(b.bestScore).padStart(4)}  (${b.best})`);
  return out;
}

export interface FactExample { question: string; expected: string; base: string; finetune: string }

/**
 * Questions the fine-tune answers with the right fact and its base does not, with both answers: up to `n`,
 * alternating between the fact tasks (Chinese, English) so both languages show.
 */
export function factExamples(model: BenchmarkRun, base: BenchmarkRun | null, n = 3): FactExample[] {
  if (!base) return [];
  const per: FactExample[][] = [];
  for (const t of model.tasks) {
    if (t.primaryMetric !== 'fact') continue;
    const bt = base.tasks.find((x) => x.task === t.task);
    if (!bt) continue;
    const bi = new Map(bt.items.map((i) => [i.index, i]));
    const list: FactExample[] = [];
    for (const it of t.items) {
      const b = bi.get(it.index);
      if (!b || it.metrics.fact !== 1 || b.metrics.fact !== 0) continue;
      let question = it.input;
      try {
        const msgs = JSON.parse(it.input) as Array<{ role: string; content: string }>;
        question = msgs.filter((x) => x.role === 'user').at(-1)?.content ?? it.input;
      } catch { /* a plain prompt */ }
      list.push({ question, expected: it.target, base: b.output, finetune: it.output });
    }
    per.push(list);
  }
  const out: FactExample[] = [];
  for (let i = 0; out.length < n && per.some((l) => i < l.length); i++) for (const l of per) if (i < l.length && out.length < n) out.push(l[i]);
  return out;
}
