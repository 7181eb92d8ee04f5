/**
 * Runner output types on scripted targets (generation metrics, perplexity, judged rubric and pairwise with stored
 * prompts and raw verdicts), suites (a group score only when all its parts ran), the result cache (a re-run is a
 * cache hit), the JSON run store, OpenAI evals shapes, the leaderboard (base beside fine-tunes) and item comparison.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildLeaderboard, compareRuns, formatLeaderboard, JsonFileResultCache, JsonFileRunStore, loadSuiteFile, makeSuite, runBenchmark, runTask,
  ScriptedTarget, scoreSuite, toEvalRun, toOutputItems, validateTask, needleTask, reasoningTask, standardSuite, alwaysLetterTarget,
} from '../../src/bench/bench-exports.ts';

const QA = [{ q: 'Capital of France?', a: 'Paris' }, { q: '首都是哪里？', a: '北京' }, { q: 'Colour of the sky?', a: 'blue' }];
const gen = validateTask({ task: 'qa', dataset: { kind: 'inline', splits: { test: QA } }, output_type: 'generate_until', doc_to_text: '{{q}}', doc_to_target: '{{a}}', metric_list: ['exact_match', 'f1', 'rouge_l', 'bleu', 'contains', { metric: 'regex', pattern: '^[A-Z]' }, 'valid_json'] });
const answers: Record<string, string> = { 'Capital of France?': 'Paris.', '首都是哪里？': '北京市', 'Colour of the sky?': 'grey' };
const model = (id: string, right = true) => new ScriptedTarget({ id, generate: (r) => (right ? answers[r.prompt as string] : 'no idea'), loglikelihood: (r) => (r.continuation.trim() === 'A' ? 0 : -5), rolling: (t) => ({ logProb: -t.length * Math.LN2, tokens: t.length }) });

test('generation metrics per item and aggregated', async () => {
  const r = await runTask(gen, model('m'));
  assert.equal(r.status, 'ok', r.error);
  assert.deepEqual(r.items.map((i) => i.metrics.exact_match), [1, 0, 0]);
  // 北京市 vs 北京: character F1 0.8; grey vs blue: 0
  assert.deepEqual(r.items.map((i) => +i.metrics.f1.toFixed(3)), [1, 0.8, 0]);
  assert.equal(r.metrics.exact_match, 1 / 3);
  assert.equal(r.metrics.contains, 2 / 3);
  assert.equal(r.primaryMetric, 'exact_match');
  assert.equal(r.score, 1 / 3);
});

test('perplexity: rolling and conditional', async () => {
  const t = validateTask({ task: 'ppl', dataset: { kind: 'inline', splits: { test: [{ text: 'abcd' }, { text: 'efgh' }] } }, output_type: 'perplexity', doc_to_target: '{{text}}' });
  const r = await runTask(t, model('m'));
  assert.equal(r.status, 'ok', r.error);
  assert.ok(Math.abs(r.metrics.bits_per_byte - 1) < 1e-12 && Math.abs(r.metrics.byte_perplexity - 2) < 1e-12);
  assert.equal(r.score, 0.5); // 1 / byte perplexity
});

test('judged: rubric ratings and pairwise verdicts, with prompts and raw answers stored', async () => {
  const judge = new ScriptedTarget({ id: 'judge', generate: (r) => {
    const p = typeof r.prompt === 'string' ? r.prompt : r.prompt.messages[0].content;
    if (p.includes('[[A]]')) { // pairwise: prefers the answer containing "Paris"
      const a = /\[Answer of assistant A\]\n([^\n]*)/.exec(p)![1];
      const b = /\[Answer of assistant B\]\n([^\n]*)/.exec(p)![1];
      return a.includes('Paris') ? 'A is right. [[A]]' : b.includes('Paris') ? '[[B]]' : 'Both equal [[C]]';
    }
    return p.includes('Paris.') ? 'Correct. Rating: [[9]]' : 'Wrong. Rating: [[2]]';
  } });
  const rubric = validateTask({ task: 'jr', dataset: { kind: 'inline', splits: { test: QA.slice(0, 1).concat(QA.slice(2)) } }, output_type: 'judged', doc_to_text: '{{q}}', doc_to_target: '{{a}}', judge: { mode: 'rubric', rubric: 'Be exact.' } });
  const r = await runTask(rubric, model('m'), { judge });
  assert.equal(r.status, 'ok', r.error);
  assert.deepEqual(r.items.map((i) => i.judge!.rating), [9, 2]);
  assert.equal(r.metrics.rating, 5.5);
  assert.equal(r.score, 0.5);
  assert.match(r.items[0].judge!.prompts[0], /Be exact\.[\s\S]*Capital of France\?[\s\S]*Paris\./);
  assert.equal(r.items[0].judge!.raw[0], 'Correct. Rating: [[9]]');
  const pair = validateTask({ task: 'jp', dataset: { kind: 'inline', splits: { test: [{ q: 'Capital of France?', a: 'Paris', base: 'Lyon' }, { q: 'Colour of the sky?', a: 'blue', base: 'grey' }] } }, output_type: 'judged', doc_to_text: '{{q}}', doc_to_target: '{{a}}', judge: { mode: 'pairwise', baseline_field: 'base' } });
  const p = await runTask(pair, model('m'), { judge });
  assert.deepEqual(p.items.map((i) => i.judge!.verdict), ['win', 'tie']);
  assert.equal(p.items[0].judge!.prompts.length, 2, 'both orders asked');
  assert.equal(p.metrics.win_rate, 0.75);
  const none = await runTask(rubric, model('m'));
  assert.equal(none.status, 'error');
  assert.match(none.error!, /configure a judge/);
});

test('suites: dimension and overall scores only when every part ran', () => {
  const mk = (task: string) => validateTask({ task, dataset: { kind: 'inline', splits: { test: [] } }, output_type: 'generate_until', doc_to_text: 'x', doc_to_target: 'y' });
  const s = makeSuite('s', 1, { knowledge: { weight: 2, tasks: [mk('a'), { task: mk('b'), weight: 3 }] }, context: { tasks: [mk('c')] } });
  const res = (task: string, score: number | null, status: 'ok' | 'not_supported' = 'ok') => ({ task, score, status } as Parameters<typeof scoreSuite>[1][number]);
  const full = scoreSuite(s, [res('a', 1), res('b', 0.5), res('c', 0.2)]);
  assert.equal(full.dimensions[0].score, (1 * 1 + 0.5 * 3) / 4);
  assert.equal(full.overall, (2 * 0.625 + 0.2) / 3);
  const part = scoreSuite(s, [res('a', 1), res('b', null, 'not_supported'), res('c', 0.2)]);
  assert.equal(part.dimensions[0].score, null);
  assert.deepEqual(part.dimensions[0].missing, ['b']);
  assert.equal(part.dimensions[1].score, 0.2);
  assert.equal(part.overall, null);
  assert.deepEqual(part.missing, ['knowledge']);
});

test('suite YAML, cached re-runs, run store, evals shapes, leaderboard and comparison', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-bench-suite-'));
  writeFileSync(join(dir, 'qa.yaml'), `task: qa\nversion: 1\ndataset: {kind: jsonl, files: {test: qa.jsonl}}\noutput_type: generate_until\ndoc_to_text: "{{q}}"\ndoc_to_target: "{{a}}"\nmetric_list: [contains, f1]\n`);
  writeFileSync(join(dir, 'qa.jsonl'), QA.map((x) => JSON.stringify(x)).join('\n'));
  writeFileSync(join(dir, 'suite.yaml'), 'suite: mini\nversion: 1\ndimensions:\n  dialogue: {weight: 1, tasks: [qa.yaml]}\n  reasoning: {weight: 1, tasks: [arith]}\n');
  const suite = loadSuiteFile(join(dir, 'suite.yaml'), { known: { arith: { ...reasoningTask('en', { n: 8 }) } } });
  const cache = new JsonFileResultCache(join(dir, 'cache'));
  const store = new JsonFileRunStore(join(dir, 'runs'));
  const base = model('base', false), ft = model('ft');
  const runBase = await runBenchmark(suite, base, { cache, model: { id: 'base', name: 'base' } });
  const runFt = await runBenchmark(suite, ft, { cache, model: { id: 'ft', name: 'base-lora', baseId: 'base' } });
  assert.equal(runFt.cache_hits, 0);
  const callsBefore = ft.calls;
  const again = await runBenchmark(suite, ft, { cache, model: { id: 'ft', name: 'base-lora', baseId: 'base' } });
  assert.equal(again.cache_hits, 2, 're-running a finished benchmark is a cache hit');
  assert.equal(ft.calls, callsBefore);
  assert.equal(again.id, runFt.id);
  assert.deepEqual(again.scores, runFt.scores);
  for (const r of [runBase, runFt]) await store.save(r);
  assert.equal((await store.list()).length, 2);
  assert.deepEqual((await store.get(runFt.id))!.scores, runFt.scores);
  const ev = toEvalRun(runFt);
  assert.equal(ev.object, 'eval.run');
  assert.equal((ev.result_counts as { total: number }).total, 3 + 8);
  assert.equal(toOutputItems(runFt, 'qa').length, 3);
  const lb = buildLeaderboard([runBase, runFt]);
  assert.deepEqual(lb.rows.map((r) => r.name), ['base-lora', 'base']);
  assert.equal(lb.rows[0].rank, 1);
  assert.ok(lb.rows[0].delta!.dimensions.dialogue! > 0);
  assert.equal(lb.groups.length, 1);
  assert.equal(lb.groups[0].base!.modelId, 'base');
  const text = formatLeaderboard(lb);
  assert.match(text, /base-lora/);
  const cmp = compareRuns(runFt, runBase, 'qa');
  assert.equal(cmp.items.length, 3);
  assert.equal(cmp.summary.aBetter, 2);
});

test('standard suite offline: reasoning and context dimensions; knowledge when exam data is given', async () => {
  const s = standardSuite({ limit: 4, needleLengths: [200] });
  assert.deepEqual(s.dimensions.map((d) => d.name), ['reasoning', 'context']);
  const run = await runBenchmark(s, alwaysLetterTarget('A'));
  assert.equal(run.tasks.every((t) => t.status === 'ok'), true, JSON.stringify(run.tasks.map((t) => t.error)));
  assert.notEqual(run.scores.overall, null);
  assert.equal(needleTask('zh', { mode: 'generate' }).output_type, 'generate_until');
});
