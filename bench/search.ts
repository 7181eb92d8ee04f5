/**
 * Search benchmark: builds a lexical knowledge index of 10,000 chunks and measures query latency.
 *
 *   node --import tsx bench/search.ts [--chunks=10000] [--queries=600] [--dense]
 *
 * The chunks are real text, recombined: sentences of the two statutes in shared/data/laws and of the demo company's
 * corpus (Chinese and English), 2-6 sentences a chunk, drawn with a fixed seed. Queries are the hand-written
 * consumer-law questions plus English and keyword queries, run round-robin after a warm-up. Build time covers
 * analysis (jieba, bigrams, stemming) and packing the BM25 index; latency covers query analysis, lexicon expansion,
 * BM25 scoring, grouping and coverage of the top 5 (the full `KbIndex.search`). `--dense` adds a hybrid run with
 * the hashing test embedder (HNSW above 5,000 vectors) — not a semantic model.
 * Then quality on the consumer-protection law's knowledge base (its articles, the consumer lexicon, the bilingual
 * dictionary for questions in English or traditional characters): the hand-written set by half (dev / held out) and
 * the independently written set (test/knowledge/questions/cpl-tune.json and cpl-measure.json, bench/question-sets.ts)
 * by half, style and language; the measure half is only scored, `--misses` prints the tune half's misses,
 * `--tune-only` leaves the measure half out. Prints
 * tables, then one JSON line: today's keys plus "cpl_dev_top1", "cpl_held_out_top1", "tune_top1", "tune_top3",
 * "heldout_top1", "heldout_top3", "en_top1", "en_top3", "no_citation_rate" (measure half: answerable questions with no
 * result), "measure_questions", and for the same knowledge base with a retriever trained on the law's own articles
 * (knowledge/retriever.ts), fused with BM25 by reciprocal rank at RETRIEVER_DENSE_WEIGHT: "retriever_gain" (measure
 * top-1 with it minus without), "retriever_gain_top3", "retriever_tune_gain", "retriever_tune_top1/3",
 * "retriever_heldout_top1/3", "retriever_train_s".
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KbIndex, titleOf } from '../src/knowledge/search.ts';
import { trainRetriever, RETRIEVER_DENSE_WEIGHT } from '../src/knowledge/retriever.ts';
import { Lexicon } from '../src/knowledge/text/lexicon.ts';
import { builtinLexicon } from '../src/knowledge/knowledge-service.ts';
import { HashEmbedder } from '../src/knowledge/embed.ts';
import { DEFAULT_CHUNKING, type Chunk, type KnowledgeItem } from '../src/knowledge/knowledge-types.ts';
import { readDocument } from '../src/knowledge/ingest/readers.ts';
import { structureDocument } from '../src/knowledge/ingest/structure.ts';
import { chunkItem } from '../src/knowledge/chunk.ts';
import { bilingualFor } from '../src/knowledge/text/cedict.ts';
import { loadSet, splitKeys, Tally } from './question-sets.ts';

const arg = (name: string, def: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const N = arg('chunks', 10000);
const Q = arg('queries', 600);
const dense = process.argv.includes('--dense');
const root = join(import.meta.dirname, '..');
const laws = join(root, '../shared/data/laws');

const texts = [
  ...readdirSync(laws).map((f) => readFileSync(join(laws, f), 'utf8')),
  ...readdirSync(join(root, 'demo/corpus')).map((f) => readFileSync(join(root, 'demo/corpus', f), 'utf8')),
];
const sentences = texts.flatMap((t) => t.split(/(?<=[。！？；.!?])\s*|\n+/)).map((s) => s.replace(/^[#>*\-\s]+/, '').trim()).filter((s) => s.length >= 8);
let seed = 42;
const rand = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296; };

const chunks: Chunk[] = [];
for (let i = 0; i < N; i++) {
  const n = 2 + Math.floor(rand() * 5);
  const start = Math.floor(rand() * (sentences.length - n));
  const text = sentences.slice(start, start + n).join('');
  chunks.push({
    id: `c${i}`, kbId: 'bench', docId: `d${i % 50}`, itemId: `i${i}`, parentId: `p${i}`, role: 'child', label: `第${i}条`, path: [`第${i % 12}章`],
    text, start: 0, end: text.length, tags: [], meta: {}, docTitle: 'bench',
  });
}
const handSet = (JSON.parse(readFileSync(join(root, 'test/knowledge/cpl-questions.json'), 'utf8')) as { items: { q: string; gold: number; style: string }[] }).items;
const questions = handSet.map((x) => x.q);
const queries = [...questions, 'warranty return policy', 'how do I reset the robot arm', 'security incident reporting', '保险合同 解除', '责任保险 第三者 赔偿', '投保人 如实告知'];

const t0 = performance.now();
const index = new KbIndex('bench', chunks, Lexicon.parse(builtinLexicon('consumer-zh')));
const buildS = (performance.now() - t0) / 1000;

async function measure(mode: 'lexical' | 'hybrid'): Promise<{ p50: number; p95: number; mean: number }> {
  for (let i = 0; i < 50; i++) await index.search(queries[i % queries.length]!, { k: 5, mode });
  const times: number[] = [];
  for (let i = 0; i < Q; i++) {
    const t = performance.now();
    await index.search(queries[i % queries.length]!, { k: 5, mode });
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return { p50: pct(0.5), p95: pct(0.95), mean: times.reduce((a, b) => a + b, 0) / times.length };
}

const lex = await measure('lexical');
console.log(`chunks ${N}, sentences pool ${sentences.length}, queries ${Q}`);
console.log(`build (analysis + BM25 pack)   ${buildS.toFixed(2)} s`);
console.log(`lexical   p50 ${lex.p50.toFixed(2)} ms   p95 ${lex.p95.toFixed(2)} ms   mean ${lex.mean.toFixed(2)} ms`);
let denseOut: Record<string, number> = {};
if (dense) {
  const t1 = performance.now();
  await index.attachVectors(new HashEmbedder(256), null, 5000);
  const annS = (performance.now() - t1) / 1000;
  const hy = await measure('hybrid');
  console.log(`hybrid (hash test embedder, ${index.vectors!.index.kind})  build ${annS.toFixed(1)} s  p50 ${hy.p50.toFixed(2)} ms  p95 ${hy.p95.toFixed(2)} ms`);
  denseOut = { hybrid_build_s: +annS.toFixed(2), hybrid_p50_ms: +hy.p50.toFixed(2), hybrid_p95_ms: +hy.p95.toFixed(2) };
}

// quality: the consumer-protection law's articles as a knowledge base
const CPL_PATH = join(laws, 'consumer-protection-law-zh.md');
const { units } = structureDocument(await readDocument(CPL_PATH, readFileSync(CPL_PATH)));
const items: KnowledgeItem[] = units.map((u, i) => ({ id: `i${i}`, kbId: 'cpl', docId: 'd', ordinal: i, kind: u.kind, number: u.number, label: u.label, path: u.path, text: u.text, state: 'approved', tags: [], meta: {}, version: 1, updatedAt: 0 }));
const cplLexicon = Lexicon.parse(builtinLexicon('consumer-zh'));
const cpl = new KbIndex('cpl', items.flatMap((i) => chunkItem(i, '消费者权益保护法', DEFAULT_CHUNKING)), cplLexicon);
cpl.attachBilingual(await bilingualFor([...cpl.lexical.vocabulary(), ...cplLexicon.userWords]));
const articles = async (q: string) => (await cpl.search(q, { k: 5 })).results.map((r) => r.number ?? null);
const tally = new Tally();
const showMisses = process.argv.includes('--misses');
for (const [i, item] of handSet.entries()) tally.add([`cpl-hand:${i % 2 === 0 ? 'dev' : 'held_out'}`], item, { articles: await articles(item.q), sure: true });
const QDIR = join(root, 'test/knowledge/questions');
const tuneSet = loadSet(join(QDIR, 'cpl-tune.json'));
const measureSet = process.argv.includes('--tune-only') ? null : loadSet(join(QDIR, 'cpl-measure.json'));
for (const [half, set] of [['tune', tuneSet], ['measure', measureSet]] as const) {
  for (const item of set ?? []) tally.add(splitKeys('cpl', half, item), item, { articles: await articles(item.q), sure: true }, half === 'tune' && showMisses);
}
// the same knowledge base with a retriever trained on its own articles (sentences and titles: no questions), fused
// with BM25 by reciprocal rank at the weight chosen on the tune half (RETRIEVER_DENSE_WEIGHT)
const t2 = performance.now();
const { retriever, curve } = trainRetriever(items.map((i) => ({ id: i.id, text: i.text, title: titleOf({ label: i.label, path: i.path, tags: i.tags, docTitle: '' }) })), [], cplLexicon);
const retrieverS = (performance.now() - t2) / 1000;
const cplR = new KbIndex('cpl', items.flatMap((i) => chunkItem(i, '消费者权益保护法', DEFAULT_CHUNKING)), cplLexicon);
cplR.attachBilingual(cpl.bilingual!);
await cplR.attachVectors(retriever);
const articlesR = async (q: string) => (await cplR.search(q, { k: 5, weights: { lexical: 1, dense: RETRIEVER_DENSE_WEIGHT } })).results.map((r) => r.number ?? null);
for (const [half, set] of [['tune', tuneSet], ['measure', measureSet]] as const) {
  for (const item of set ?? []) tally.add(splitKeys('cpl+retriever', half, item), item, { articles: await articlesR(item.q), sure: true });
}
console.log(`retriever: trained on ${items.length} articles in ${retrieverS.toFixed(1)} s, loss ${curve[0]?.toFixed(3)} -> ${curve.at(-1)?.toFixed(3)}`);
if (!tuneSet || !measureSet) console.log(`independent set: ${tuneSet ? '' : 'cpl-tune.json '}${measureSet ? '' : 'cpl-measure.json '}not found in test/knowledge/questions`);
tally.print('consumer-protection law, lexical search with the bilingual dictionary; cpl+retriever: fused with a retriever trained on the law (top-1/3 on gold or also)');
if (showMisses) for (const m of tally.misses) console.log(`miss (tune) gold ${m.gold} got ${JSON.stringify(m.got)}  ${m.q}`);
const g = (k: string) => tally.get(k);
const gain = (a: number | null, b: number | null) => (a === null || b === null ? null : +(a - b).toFixed(3));
console.log(JSON.stringify({
  bench: 'search', chunks: N, build_s: +buildS.toFixed(2), p50_ms: +lex.p50.toFixed(2), p95_ms: +lex.p95.toFixed(2), ...denseOut,
  cpl_dev_top1: g('cpl-hand:dev').top1, cpl_held_out_top1: g('cpl-hand:held_out').top1,
  tune_top1: g('cpl:tune').top1, tune_top3: g('cpl:tune').top3, heldout_top1: g('cpl:measure').top1, heldout_top3: g('cpl:measure').top3,
  en_top1: g('cpl:measure:lang:en').top1, en_top3: g('cpl:measure:lang:en').top3, no_citation_rate: g('cpl:measure').noCitation,
  measure_questions: g('cpl:measure').n + g('cpl:measure').nulls,
  retriever_gain: gain(g('cpl+retriever:measure').top1, g('cpl:measure').top1), retriever_gain_top3: gain(g('cpl+retriever:measure').top3, g('cpl:measure').top3),
  retriever_tune_gain: gain(g('cpl+retriever:tune').top1, g('cpl:tune').top1), retriever_tune_top1: g('cpl+retriever:tune').top1, retriever_tune_top3: g('cpl+retriever:tune').top3,
  retriever_heldout_top1: g('cpl+retriever:measure').top1, retriever_heldout_top3: g('cpl+retriever:measure').top3, retriever_train_s: +retrieverS.toFixed(2),
}));
