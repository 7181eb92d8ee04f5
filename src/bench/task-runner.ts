/**
 * Runs one task on one target: builds every prompt, asks the target in one batched call per kind, scores each item
 * and aggregates. The four output types:
 *   multiple_choice         log-likelihood of each choice continuation (target_delimiter + choice; after the
 *                           assistant prefix for chat prompts): acc, acc_norm (per UTF-8 byte), circular (every
 *                           rotation of the options right, MMBench's CircularEval)
 *   generate_until          greedy (or seeded) generation until a stop string: exact_match, f1, rouge_l, bleu
 *                           (corpus), contains, fact (states the expected value: fact-match.ts), regex, valid_json;
 *                           `answer_regex` extracts the answer first
 *   loglikelihood_rolling   perplexity of doc_to_target (conditional on doc_to_text when both are given; rolling
 *                           windows over the text otherwise): byte/token/word perplexity, bits per byte
 *   judged                  generation, then a judge target grades it (rubric 1-10) or compares it with a baseline
 *                           answer both ways (win/tie/loss); prompts and raw verdicts are kept per item
 * Owns: `runTask`, `scoreOf` (a metric mapped into [0, 1], higher better) and the cache key.
 * Guarantees: a NotSupportedError from the target becomes status 'not_supported' (other failures 'error'), never
 * a partial score; the same task, target, seed and limit give the same result (and the same cache key).
 */
import { createHash } from 'node:crypto';
import {
  buildPrompt, docChoices, docGold, docTargets, loadDocs, promptText, sampleFewshot, templateHash, type TaskConfig,
} from './task.ts';
import { render } from './template.ts';
import {
  circularCorrect, contains, corpusBleu, exactMatch, mcDecision, mean, perplexityAggregate, regexMatch, rotate, rotatedGold,
  rougeL, sentenceBleu, stderrOfMean, tokenF1, validJson,
} from './text-metrics.ts';
import { factScore } from './fact-match.ts';
import { judgePair, judgeRubric, PAIRWISE_PROMPT, RUBRIC_PROMPT } from './judge.ts';
import { NotSupportedError, type Doc, type ItemResult, type LoglikelihoodRequest, type Prompt, type Target, type TaskResult } from './bench-types.ts';

export interface RunTaskOptions {
  seed?: number;
  /** First N documents only (overrides the task's limit). */
  limit?: number;
  /** The judge of judged tasks. */
  judge?: Target;
  onProgress?: (done: number, total: number) => void;
}

/** The cache key of a task result: hash(target id, task name, version, template hash, seed, limit, judge). */
export function taskCacheKey(targetId: string, t: TaskConfig, seed: number, limit: number | null, judgeId?: string): string {
  return createHash('sha256').update(JSON.stringify([targetId, t.task, String(t.version), templateHash(t), seed, limit, judgeId ?? null])).digest('hex').slice(0, 32);
}

/** A metric value mapped into [0, 1], higher better: perplexities as 1/ppl (bits per byte as 2^-bpb), ratings (r-1)/9. */
export function scoreOf(metric: string, value: number): number {
  if (!Number.isFinite(value)) return 0;
  switch (metric) {
    case 'byte_perplexity': case 'token_perplexity': case 'word_perplexity': return value > 0 ? Math.min(1, 1 / value) : 0;
    case 'bits_per_byte': return Math.min(1, 2 ** -value);
    case 'rating': return Math.max(0, Math.min(1, (value - 1) / 9));
    default: return Math.max(0, Math.min(1, value));
  }
}

function extract(t: TaskConfig, text: string): string {
  const out = text.trim();
  if (!t.answer_regex) return out;
  const m = new RegExp(t.answer_regex, 's').exec(out);
  return m ? (m[1] ?? m[0]).trim() : out;
}

function genMetrics(t: TaskConfig, pred: string, refs: string[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const spec of t.metric_list) {
    switch (spec.metric) {
      case 'exact_match': m.exact_match = exactMatch(pred, refs); break;
      case 'f1': m.f1 = tokenF1(pred, refs); break;
      case 'rouge_l': m.rouge_l = rougeL(pred, refs); break;
      case 'bleu': m.bleu = sentenceBleu(pred, refs); break;
      case 'contains': m.contains = contains(pred, refs); break;
      case 'fact': m.fact = factScore(pred, refs); break;
      case 'regex': m.regex = regexMatch(pred, spec.pattern!); break;
      case 'valid_json': m.valid_json = validJson(pred); break;
    }
  }
  return m;
}

/** Runs a task. Never throws for target or data failures: they come back as status not_supported / error. */
export async function runTask(t: TaskConfig, target: Target, opts: RunTaskOptions = {}): Promise<TaskResult> {
  const seed = opts.seed ?? 0;
  const limit = opts.limit ?? t.limit ?? null;
  const started = performance.now();
  const base: TaskResult = {
    task: t.task, version: t.version, outputType: t.output_type, templateHash: templateHash(t), seed, numFewshot: t.num_fewshot,
    limit, targetId: target.id, targetName: target.name, status: 'ok', metrics: {}, primaryMetric: t.primary_metric, score: null,
    n: 0, items: [], seconds: 0, createdAt: Math.floor(Date.now() / 1000), cacheKey: taskCacheKey(target.id, t, seed, limit, opts.judge?.id),
  };
  try {
    const all = loadDocs(t, t.test_split);
    const docs = limit === null ? all : all.slice(0, limit);
    const fsSplit = t.fewshot_split ?? t.test_split;
    const pool = t.num_fewshot > 0 ? (fsSplit === t.test_split ? all : loadDocs(t, fsSplit)) : [];
    const shotsOf = (i: number) => sampleFewshot(t, pool, i, fsSplit === t.test_split);
    let r: { items: ItemResult[]; metrics: Record<string, number> };
    if (t.output_type === 'multiple_choice') r = await runMultipleChoice(t, target, docs, shotsOf);
    else if (t.output_type === 'generate_until') r = await runGeneration(t, target, docs, shotsOf, seed);
    else if (t.output_type === 'loglikelihood_rolling') r = await runPerplexity(t, target, docs, shotsOf);
    else r = await runJudged(t, target, docs, shotsOf, seed, opts.judge);
    const value = r.metrics[t.primary_metric];
    return {
      ...base, metrics: r.metrics, items: r.items, n: r.items.length,
      score: value === undefined ? null : scoreOf(t.primary_metric, value), seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    const status = e instanceof NotSupportedError ? 'not_supported' : 'error';
    return { ...base, status, error: e instanceof Error ? e.message : String(e), seconds: (performance.now() - started) / 1000 };
  }
}

function aggregateMeans(items: readonly ItemResult[], names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) {
    const xs = items.map((i) => i.metrics[n]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    out[n] = mean(xs);
    out[`${n}_stderr`] = stderrOfMean(xs);
  }
  return out;
}

async function runMultipleChoice(t: TaskConfig, target: Target, docs: readonly Doc[], shotsOf: (i: number) => Doc[]) {
  const reqs: LoglikelihoodRequest[] = [];
  const plan = docs.map((doc, i) => {
    const choices0 = docChoices(t, doc);
    const gold0 = docGold(t, doc, choices0);
    const n = t.circular_eval ? (doc[t.circular_eval.field] as unknown[] | undefined)?.length ?? 0 : 1;
    if (t.circular_eval && (!Array.isArray(doc[t.circular_eval.field]) || n < 2)) throw new Error(`task ${t.task}: circular_eval field "${t.circular_eval.field}" of document ${i} is not a list of options`);
    const shots = shotsOf(i);
    const rots = Array.from({ length: n }, (_, shift) => {
      const d = shift === 0 ? doc : { ...doc, [t.circular_eval!.field]: rotate(doc[t.circular_eval!.field] as unknown[], shift) };
      const choices = shift === 0 ? choices0 : docChoices(t, d);
      const gold = shift === 0 ? gold0 : rotatedGold(gold0, shift, n);
      const prompt = buildPrompt(t, d, shots);
      const first = reqs.length;
      for (const c of choices) reqs.push({ context: prompt, continuation: (typeof prompt === 'string' ? t.target_delimiter : '') + c });
      return { shift, choices, gold, prompt, first };
    });
    return { doc, i, rots };
  });
  const lls = reqs.length ? await target.loglikelihood(reqs) : [];
  const items: ItemResult[] = plan.map(({ doc, i, rots }) => {
    const results = rots.map((r) => {
      const ll = r.choices.map((_, k) => lls[r.first + k].logProb);
      return { ...r, ll, d: mcDecision(ll, r.choices, r.gold) };
    });
    const r0 = results[0];
    const metrics: Record<string, number> = { acc: r0.d.acc, acc_norm: r0.d.accNorm };
    if (t.circular_eval) metrics.circular = circularCorrect(results.map((x) => ({ pred: x.d.pred, gold: x.gold })));
    return {
      index: i, docId: typeof doc.id === 'string' ? doc.id : undefined, input: promptText(r0.prompt), target: r0.choices[r0.gold],
      output: r0.choices[r0.d.pred], choices: r0.choices, gold: r0.gold, pred: r0.d.pred, loglikelihoods: r0.ll,
      ...(t.circular_eval ? { rotations: results.map((x) => ({ shift: x.shift, pred: x.d.pred, gold: x.gold })) } : {}),
      metrics,
    };
  });
  return { items, metrics: aggregateMeans(items, t.metric_list.map((m) => m.metric)) };
}

async function generateAll(t: TaskConfig, target: Target, docs: readonly Doc[], shotsOf: (i: number) => Doc[], seed: number) {
  const prompts: Prompt[] = docs.map((d, i) => buildPrompt(t, d, shotsOf(i)));
  const outs = await target.generate(prompts.map((p) => ({
    prompt: p, maxTokens: t.generation_kwargs.max_gen_toks, stop: t.generation_kwargs.until, temperature: t.generation_kwargs.temperature, seed,
  })));
  return { prompts, outs };
}

async function runGeneration(t: TaskConfig, target: Target, docs: readonly Doc[], shotsOf: (i: number) => Doc[], seed: number) {
  const { prompts, outs } = await generateAll(t, target, docs, shotsOf, seed);
  const refs = docs.map((d) => docTargets(t, d));
  const preds = outs.map((o) => extract(t, o.text));
  const items: ItemResult[] = docs.map((doc, i) => ({
    index: i, docId: typeof doc.id === 'string' ? doc.id : undefined, input: promptText(prompts[i]), target: refs[i].join(' | '),
    output: outs[i].text, metrics: genMetrics(t, preds[i], refs[i]),
  }));
  const names = t.metric_list.map((m) => m.metric);
  const metrics = aggregateMeans(items, names.filter((n) => n !== 'bleu'));
  if (names.includes('bleu')) metrics.bleu = corpusBleu(preds, refs);
  return { items, metrics };
}

async function runPerplexity(t: TaskConfig, target: Target, docs: readonly Doc[], shotsOf: (i: number) => Doc[]) {
  const conditional = t.doc_to_target !== undefined && t.doc_to_text !== '';
  const texts = docs.map((d) => (t.doc_to_target !== undefined ? render(t.doc_to_target, d) : render(t.doc_to_text, d)));
  let scores: Array<{ logProb: number; tokens: number }>;
  let inputs: string[];
  if (conditional) {
    const prompts = docs.map((d, i) => buildPrompt(t, d, shotsOf(i)));
    inputs = prompts.map(promptText);
    scores = await target.loglikelihood(prompts.map((p, i) => ({ context: p, continuation: (typeof p === 'string' ? t.target_delimiter : '') + texts[i] })));
  } else {
    inputs = texts;
    scores = await target.loglikelihoodRolling(texts);
  }
  const items: ItemResult[] = docs.map((doc, i) => {
    const agg = perplexityAggregate([{ ...scores[i], text: texts[i] }]);
    return {
      index: i, docId: typeof doc.id === 'string' ? doc.id : undefined, input: inputs[i], target: texts[i], output: '',
      metrics: { logprob: scores[i].logProb, tokens: scores[i].tokens, bytes: Buffer.byteLength(texts[i]), ...agg },
    };
  });
  const agg = perplexityAggregate(docs.map((_, i) => ({ ...scores[i], text: texts[i] })));
  const metrics: Record<string, number> = {};
  for (const m of t.metric_list) metrics[m.metric] = agg[m.metric as keyof typeof agg];
  return { items, metrics };
}

async function runJudged(t: TaskConfig, target: Target, docs: readonly Doc[], shotsOf: (i: number) => Doc[], seed: number, judge: Target | undefined) {
  if (!judge) throw new Error(`task ${t.task} is judged: configure a judge model`);
  const spec = t.judge!;
  const { prompts, outs } = await generateAll(t, target, docs, shotsOf, seed);
  const items: ItemResult[] = [];
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i];
    const refs = docTargets(t, doc);
    const answer = extract(t, outs[i].text);
    const question = render(t.doc_to_text, doc);
    const metrics: Record<string, number> = {};
    let rec;
    if (spec.mode === 'rubric') {
      rec = await judgeRubric(judge, { question, answer, reference: refs[0], rubric: spec.rubric }, spec.prompt_template ?? RUBRIC_PROMPT, seed);
      if (rec.rating !== null && rec.rating !== undefined) metrics.rating = rec.rating;
    } else {
      const other = spec.baseline_field ? String(doc[spec.baseline_field] ?? '') : refs[0] ?? '';
      rec = await judgePair(judge, { question, answer, other, reference: spec.baseline_field ? refs[0] : undefined, rubric: spec.rubric }, spec.prompt_template ?? PAIRWISE_PROMPT, seed);
      if (rec.verdict) metrics.win_rate = rec.verdict === 'win' ? 1 : rec.verdict === 'tie' ? 0.5 : 0;
    }
    Object.assign(metrics, genMetrics({ ...t, metric_list: t.metric_list.filter((m) => m.metric !== 'rating' && m.metric !== 'win_rate') }, answer, refs));
    items.push({
      index: i, docId: typeof doc.id === 'string' ? doc.id : undefined, input: promptText(prompts[i]), target: refs.join(' | '),
      output: outs[i].text, judge: rec, metrics,
    });
  }
  const metrics = aggregateMeans(items, t.metric_list.map((m) => m.metric));
  metrics.unparsed_verdicts = items.filter((x) => x.metrics.rating === undefined && x.metrics.win_rate === undefined).length;
  return { items, metrics };
}
