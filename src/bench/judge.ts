/**
 * LLM-as-a-judge: prompts, verdict parsing and ratings, after MT-Bench (Zheng et al. 2023): single-answer grading
 * on a 1-10 scale against a rubric ("Rating: [[5]]"), and pairwise comparison ("[[A]]", "[[B]]", "[[C]]" for a tie),
 * asked in both orders to cancel position bias (a verdict that flips with the order is a tie).
 *
 * Owns: the default judge prompts (bilingual instructions), `parseRating`, `parsePairwise`, `judgeRubric`,
 * `judgePair`, and `pairwiseTournament` (every pair of models on every item, ranked by Bradley-Terry and Elo).
 * Any Target can judge (its `generate`). Guarantees: every prompt sent and every raw answer is returned for storage;
 * an unparseable verdict is null (counted, never guessed).
 */
import { render } from './template.ts';
import { bradleyTerry, bradleyTerryToElo, elo, type PairwiseGame } from './text-metrics.ts';
import type { JudgeRecord, Target } from './bench-types.ts';

export const RUBRIC_PROMPT =
  'Please act as an impartial judge and evaluate the quality of the answer provided by an AI assistant to the question below. ' +
  'Be as objective as possible. 请作为公正的评审，评估下面AI助手对问题的回答质量。\n' +
  '{{rubric}}\n\n[Question]\n{{question}}\n\n[Reference answer]\n{{reference}}\n\n[The assistant\'s answer]\n{{answer}}\n\n' +
  'After a short explanation, you must rate the answer on a scale of 1 to 10 by strictly following this format: "Rating: [[5]]".';

export const PAIRWISE_PROMPT =
  'Please act as an impartial judge and evaluate the two answers provided by two AI assistants to the question below. ' +
  'Choose the assistant that answers the question better. Do not let the order of the answers, their length or the ' +
  'assistants\' names influence you. 请公正地比较两个回答，选出更好的一个。\n{{rubric}}\n\n[Question]\n{{question}}\n\n' +
  '[Reference answer]\n{{reference}}\n\n[Answer of assistant A]\n{{answer_a}}\n\n[Answer of assistant B]\n{{answer_b}}\n\n' +
  'After a short explanation, output your final verdict by strictly following this format: "[[A]]" if assistant A is better, ' +
  '"[[B]]" if assistant B is better, and "[[C]]" for a tie.';

export const DEFAULT_RUBRIC = 'Judge correctness against the reference first, then helpfulness, relevance and concision.';

/** The last "[[n]]" (1-10, decimals allowed) in the text, else "Rating: n"; null when there is none. */
export function parseRating(raw: string): number | null {
  const all = [...raw.matchAll(/\[\[\s*(\d+(?:\.\d+)?)\s*\]\]/g)];
  let m = all.length ? all[all.length - 1][1] : null;
  if (m === null) m = /(?:rating|评分)\s*[:：]\s*(\d+(?:\.\d+)?)/i.exec(raw)?.[1] ?? null;
  if (m === null) return null;
  const v = Number(m);
  return v >= 1 && v <= 10 ? v : null;
}

/** "[[A]]" / "[[B]]" / "[[C]]" (the last one given); null when there is none. */
export function parsePairwise(raw: string): 'A' | 'B' | 'tie' | null {
  const all = [...raw.matchAll(/\[\[\s*([ABC])\s*\]\]/g)];
  if (!all.length) return null;
  const v = all[all.length - 1][1];
  return v === 'C' ? 'tie' : (v as 'A' | 'B');
}

export interface JudgeInput { question: string; answer: string; reference?: string; rubric?: string }

const judgeGen = async (judge: Target, prompt: string, seed: number) =>
  (await judge.generate([{ prompt: { messages: [{ role: 'user', content: prompt }] }, maxTokens: 512, temperature: 0, seed }]))[0].text;

/** Single-answer grading: one prompt, a 1-10 rating (or null). */
export async function judgeRubric(judge: Target, x: JudgeInput, template = RUBRIC_PROMPT, seed = 0): Promise<JudgeRecord> {
  const prompt = render(template, { question: x.question, answer: x.answer, reference: x.reference ?? '(none)', rubric: x.rubric ?? DEFAULT_RUBRIC });
  const raw = await judgeGen(judge, prompt, seed);
  return { prompts: [prompt], raw: [raw], rating: parseRating(raw) };
}

/**
 * Pairwise comparison of `answer` (the target's) against `other`, asked in both orders. Consistent verdicts win
 * or lose; a flip, or two ties, is a tie; one unparseable verdict leaves the other; two give null.
 */
export async function judgePair(judge: Target, x: JudgeInput & { other: string }, template = PAIRWISE_PROMPT, seed = 0): Promise<JudgeRecord> {
  const fields = { question: x.question, reference: x.reference ?? '(none)', rubric: x.rubric ?? DEFAULT_RUBRIC };
  const p1 = render(template, { ...fields, answer_a: x.answer, answer_b: x.other });
  const p2 = render(template, { ...fields, answer_a: x.other, answer_b: x.answer });
  const [r1, r2] = [await judgeGen(judge, p1, seed), await judgeGen(judge, p2, seed)];
  const v1 = parsePairwise(r1), v2 = parsePairwise(r2);
  const mine = (v: 'A' | 'B' | 'tie' | null, targetIs: 'A' | 'B') => (v === null ? null : v === 'tie' ? 0.5 : v === targetIs ? 1 : 0);
  const s = [mine(v1, 'A'), mine(v2, 'B')].filter((x): x is number => x !== null);
  let verdict: JudgeRecord['verdict'] = null;
  if (s.length === 1) verdict = s[0] === 1 ? 'win' : s[0] === 0 ? 'loss' : 'tie';
  else if (s.length === 2) verdict = s[0] === s[1] ? (s[0] === 1 ? 'win' : s[0] === 0 ? 'loss' : 'tie') : 'tie';
  return { prompts: [p1, p2], raw: [r1, r2], verdict };
}

export interface TournamentResult {
  games: Array<PairwiseGame & { item: number; judge: JudgeRecord }>;
  bradleyTerry: Record<string, number>;
  /** Bradley-Terry on the Elo scale (order-free; the number to rank by). */
  btElo: Record<string, number>;
  /** Online Elo over the games in a seeded order (as arenas report it). */
  elo: Record<string, number>;
  ranking: string[];
}

/**
 * Every pair of models on every item, judged both ways (judgePair); ranked by Bradley-Terry (MM iterations).
 * `answers[model][i]` is model's answer to items[i].
 */
export async function pairwiseTournament(judge: Target, items: ReadonlyArray<{ question: string; reference?: string }>, answers: Record<string, string[]>, opts: { rubric?: string; template?: string; seed?: number } = {}): Promise<TournamentResult> {
  const models = Object.keys(answers).sort();
  const games: TournamentResult['games'] = [];
  for (let i = 0; i < items.length; i++) {
    for (let a = 0; a < models.length; a++) {
      for (let b = a + 1; b < models.length; b++) {
        const rec = await judgePair(judge, { question: items[i].question, reference: items[i].reference, rubric: opts.rubric, answer: answers[models[a]][i], other: answers[models[b]][i] }, opts.template, opts.seed ?? 0);
        if (rec.verdict === null || rec.verdict === undefined) continue;
        games.push({ a: models[a], b: models[b], score: rec.verdict === 'win' ? 1 : rec.verdict === 'loss' ? 0 : 0.5, item: i, judge: rec });
      }
    }
  }
  const bt = bradleyTerry(games).strengths;
  for (const m of models) bt[m] ??= 0;
  return {
    games, bradleyTerry: bt, btElo: bradleyTerryToElo(Object.fromEntries(Object.entries(bt).filter(([, v]) => v > 0))), elo: elo(games),
    ranking: [...models].sort((x, y) => bt[y] - bt[x]),
  };
}
