/**
 * `npm run bench:bots`: builds the Insurance-Law bot from ../shared/data/laws/insurance-law-zh.md alone (no LLM:
 * statute structure, rule-extracted pairs, the insurance lexicon; every pair approved), publishes it through the
 * API's own steps (test report, a person's approval), then asks the hand-written question set
 * (test/bots/insurance-questions.json) through the bot's chat endpoint (POST /v1/bots/{name}/chat/completions) and
 * scores the first citation's article, overall and per half (even positions: dev half, odd: held out; the lexicon holds
 * no phrase found only in the questions, test/knowledge/lexicon-sources.test.ts). Then the independently written set
 * (test/bots/questions/insurance-tune.json and insurance-measure.json, bench/question-sets.ts), the same way, by half,
 * style and language: the measure half is only scored (figures, never its questions); `--misses` prints the tune
 * half's misses, `--tune-only` leaves the measure half out (while tuning). Prints tables and ends with one JSON line: {"bench":"bots","build_s":…,"units":…,"pairs":…,
 * "rejected":…,"questions":…,"top1":…,"top3":…,"held_out_top1":…,"held_out_top3":…,"dev_top1":…,"dev_top3":…,
 * "p95_ms":…,"tune_top1":…,"tune_top3":…,"heldout_top1":…,"heldout_top3":…,"en_top1":…,"en_top3":…,
 * "no_citation_rate":…,"sure_rate":…,"sure_precision":…,"unanswerable_not_sure":…,"measure_questions":…,"en_p95_ms":…} where heldout_* and en_* are the
 * measure half's (answerable questions; en_*: its English ones), no_citation_rate the share of the measure half's
 * answerable questions answered with no citation, sure_rate the share answered sure (above the confidence bar) and
 * sure_precision the share of those with the right article first, unanswerable_not_sure the share of its questions the law does not
 * answer that the bot marked not sure. Then the same bot is built again with `config.retriever` (a dual encoder trained
 * on its units and pairs, fused into its matcher; `--no-retriever` skips it) and asked the same sets: retriever_gain
 * (and _top3) is its measure-half top-1 (top-3) minus the plain bot's, retriever_tune_gain the same on the tune half,
 * retriever_heldout_top1/3, retriever_tune_top1/3 and retriever_en_top3 its own figures, retriever_train_s the time
 * from its build until its retriever's factory job had succeeded, beyond the plain bot's build (the job's process
 * starting, training, saving), retriever_final_loss the job's last training loss.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../src/api/server.ts';
import { loadSet, splitKeys, Tally, type Outcome } from './question-sets.ts';

const ADMIN = 'sk-mf-bench-bots-admin-key-0123456789';
const LAW = join(import.meta.dirname, '../../shared/data/laws/insurance-law-zh.md');
const SETS = join(import.meta.dirname, '../test/bots/questions');
const TUNE = loadSet(join(SETS, 'insurance-tune.json'));
const MEASURE = loadSet(join(SETS, 'insurance-measure.json'));
const showMisses = process.argv.includes('--misses');
/** While tuning: score the tune half only (the measure half is not asked at all). */
const tuneOnly = process.argv.includes('--tune-only');
/** `--no-retriever` leaves out the second bot (the same build with a trained retriever fused into its matcher). */
const withRetriever = !process.argv.includes('--no-retriever');
const QS = (JSON.parse(readFileSync(join(import.meta.dirname, '../test/bots/insurance-questions.json'), 'utf8')) as { items: { q: string; gold: number; style: string }[] }).items;

const dir = mkdtempSync(join(tmpdir(), 'mf-bench-bots-'));
const srv = await createServer({ dataDir: dir, adminKey: ADMIN, serve: { warm: false } });
const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
/** POSTs `body`; `T` is the shape this bench reads from the answer (a missing field shows as undefined in the table). */
async function call<T>(path: string, body: unknown, key = ADMIN): Promise<T> {
  const r = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(j)}`);
  return j as T;
}
async function get<T>(path: string): Promise<T> {
  const r = await fetch(url + path, { headers: { authorization: `Bearer ${ADMIN}` } });
  const j = await r.json();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(j)}`);
  return j as T;
}
try {
  const t0 = performance.now();
  const built = await call<{ units: number; pairs: number; rejected: number }>('/v1/bots/build', { name: 'insurance-law', filename: 'insurance-law-zh.md', text: readFileSync(LAW, 'utf8'), lexicon_name: 'insurance-zh', approve_all: true });
  const buildS = (performance.now() - t0) / 1000;
  const rep = await call<{
    id: string; questions: number; top1: number; top3: number; groundedness: number; answered: number; explain: Record<string, { en: string }>;
  }>('/v1/bots/insurance-law/tests', { limit: 200 });
  await call<unknown>(`/v1/bots/insurance-law/tests/${rep.id}/approve`, { by: 'bench' });
  await call<unknown>('/v1/bots/insurance-law/publish', { version: 1 });
  const { key } = await call<{ key: string }>('/v1/bots/insurance-law/keys', {});
  const lat: number[] = [];
  const per: Record<string, { n: number; t1: number; t3: number }> = {};
  for (const [i, q] of QS.entries()) {
    const t = performance.now();
    const r = await call<{ citations: { article: number | null }[] }>('/v1/bots/insurance-law/chat/completions', { model: 'insurance-law', messages: [{ role: 'user', content: q.q }] }, key);
    lat.push(performance.now() - t);
    const got = r.citations.map((c) => c.article);
    const rank = got.indexOf(q.gold);
    for (const k of ['all', q.style, i % 2 === 0 ? 'dev' : 'held_out']) {
      const f = (per[k] ??= { n: 0, t1: 0, t3: 0 });
      f.n++; if (rank === 0) f.t1++; if (rank >= 0 && rank < 3) f.t3++;
    }
  }
  lat.sort((a, b) => a - b);
  const p95 = lat[Math.min(lat.length - 1, Math.ceil(0.95 * lat.length) - 1)]!;
  console.log(`built in ${buildS.toFixed(2)} s: ${built.units} units, ${built.pairs} pairs kept, ${built.rejected} rejected by the screen`);
  console.log(`auto-test (${rep.questions} held-out template paraphrases): top-1 ${rep.top1}, top-3 ${rep.top3}, grounded ${rep.groundedness} of ${rep.answered} answered`);
  for (const e of Object.values(rep.explain)) console.log(`  - ${e.en}`);
  console.log('set        questions  top-1   top-3');
  for (const [k, f] of Object.entries(per)) console.log(`${k.padEnd(10)} ${String(f.n).padStart(9)}  ${(f.t1 / f.n).toFixed(3)}   ${(f.t3 / f.n).toFixed(3)}`);
  // the independently written set, by half, style and language; then the same bot built with a trained retriever
  const tally = new Tally();
  const enLat: number[] = [];
  const ask = async (bot: string, botKey: string, q: string): Promise<Outcome> => {
    const r = await call<{ citations: { article: number | null; sure?: boolean }[]; bot: { sure?: boolean } }>(`/v1/bots/${bot}/chat/completions`, { model: bot, messages: [{ role: 'user', content: q }] }, botKey);
    return { articles: r.citations.map((c) => c.article), sure: r.bot.sure !== false };
  };
  const askSets = async (set: string, bot: string, botKey: string, timeEnglish: boolean) => {
    for (const [half, items] of [['tune', TUNE], ['measure', tuneOnly ? null : MEASURE]] as const) {
      for (const item of items ?? []) {
        const t = performance.now();
        const o = await ask(bot, botKey, item.q);
        if (timeEnglish && item.lang === 'en') enLat.push(performance.now() - t);
        tally.add(splitKeys(set, half, item), item, o, half === 'tune' && showMisses && set === 'insurance');
      }
    }
  };
  await askSets('insurance', 'insurance-law', key, true);
  let retrieverS: number | null = null, retrieverLoss: number | null = null;
  if (withRetriever) {
    // the build submits version 1's retriever as a factory job; the bot uses it once the job has succeeded
    const t1 = performance.now();
    await call<unknown>('/v1/bots/build', { name: 'insurance-law-r', filename: 'insurance-law-zh.md', text: readFileSync(LAW, 'utf8'), lexicon_name: 'insurance-zh', approve_all: true, config: { retriever: true } });
    type Status = { retriever: { status: string; job_id: string | null; error: string | null } | null };
    let st: Status['retriever'] = null;
    for (;;) {
      st = (await get<Status>('/v1/bots/insurance-law-r')).retriever;
      if (!st || st.status === 'ready' || st.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (st?.status !== 'ready') throw new Error(`the retriever job did not succeed: ${JSON.stringify(st)}`);
    retrieverS = (performance.now() - t1) / 1000 - buildS;
    const job = await get<{ modelfab: { step: number | null }; status: string }>(`/v1/fine_tuning/jobs/${st.job_id}`);
    const events = await get<{ data: { type: string; data: { step?: number; loss?: number } | null }[] }>(`/v1/fine_tuning/jobs/${st.job_id}/events?limit=1000`);
    const last = events.data.filter((e) => e.type === 'metrics').sort((a, b) => (b.data?.step ?? 0) - (a.data?.step ?? 0))[0];
    retrieverLoss = last?.data?.loss ?? null;
    console.log(`retriever job ${st.job_id} ${job.status} after ${retrieverS.toFixed(1)} s, final loss ${retrieverLoss?.toFixed(4)}`);
    const rrep = await call<{ id: string }>('/v1/bots/insurance-law-r/tests', { limit: 20 });
    await call<unknown>(`/v1/bots/insurance-law-r/tests/${rrep.id}/approve`, { by: 'bench' });
    await call<unknown>('/v1/bots/insurance-law-r/publish', { version: 1 });
    const { key: rkey } = await call<{ key: string }>('/v1/bots/insurance-law-r/keys', {});
    await askSets('insurance+retriever', 'insurance-law-r', rkey, false);
  }
  if (!TUNE || !MEASURE) console.log(`independent set: ${TUNE ? '' : 'insurance-tune.json '}${MEASURE ? '' : 'insurance-measure.json '}not found in test/bots/questions`);
  if (tally.rows.size) tally.print('independent set (answerable: top-1/3 on gold or also; unanswerable: share marked not sure)');
  if (showMisses) for (const m of tally.misses) console.log(`miss (tune) gold ${m.gold} got ${JSON.stringify(m.got)}  ${m.q}`);
  enLat.sort((a, b) => a - b);
  const tune = tally.get('insurance:tune'), measure = tally.get('insurance:measure'), en = tally.get('insurance:measure:lang:en');
  const rTune = tally.get('insurance+retriever:tune'), rMeasure = tally.get('insurance+retriever:measure');
  const gain = (a: number | null, b: number | null) => (a === null || b === null ? null : +(a - b).toFixed(3));
  const all = per.all!;
  const held = per.held_out!, dev = per.dev!;
  const r3 = (x: number) => +x.toFixed(3);
  console.log(JSON.stringify({
    bench: 'bots', build_s: +buildS.toFixed(2), units: built.units, pairs: built.pairs, rejected: built.rejected, questions: all.n,
    top1: r3(all.t1 / all.n), top3: r3(all.t3 / all.n), held_out_top1: r3(held.t1 / held.n), held_out_top3: r3(held.t3 / held.n),
    dev_top1: r3(dev.t1 / dev.n), dev_top3: r3(dev.t3 / dev.n), p95_ms: +p95.toFixed(1),
    tune_top1: tune.top1, tune_top3: tune.top3, heldout_top1: measure.top1, heldout_top3: measure.top3, en_top1: en.top1, en_top3: en.top3,
    no_citation_rate: measure.noCitation, sure_rate: measure.sureRate, sure_precision: measure.surePrecision, unanswerable_not_sure: measure.nullUnsure, measure_questions: measure.n + measure.nulls,
    retriever_gain: gain(rMeasure.top1, measure.top1), retriever_gain_top3: gain(rMeasure.top3, measure.top3), retriever_tune_gain: gain(rTune.top1, tune.top1),
    retriever_tune_top1: rTune.top1, retriever_tune_top3: rTune.top3, retriever_heldout_top1: rMeasure.top1, retriever_heldout_top3: rMeasure.top3,
    retriever_en_top3: tally.get('insurance+retriever:measure:lang:en').top3, retriever_train_s: retrieverS === null ? null : +retrieverS.toFixed(2),
    retriever_final_loss: retrieverLoss === null ? null : +retrieverLoss.toFixed(4),
    en_p95_ms: enLat.length ? +enLat[Math.min(enLat.length - 1, Math.ceil(0.95 * enLat.length) - 1)]!.toFixed(1) : null,
  }));
} finally {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
}
