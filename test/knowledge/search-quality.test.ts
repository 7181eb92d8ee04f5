// Search quality on the consumer-protection law with the hand-written question set (cpl-questions.json):
// top-1/3/5 article accuracy for lexical, dense and hybrid search, per half (dev / held-out). Bars for lexical:
// top-1 >= 0.65 and top-3 >= 0.85. Dense/hybrid here use the hashing TEST embedder (not a semantic model): the
// figures exercise the code path and are printed, not held to the bar. Prints one JSON line of figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readDocument } from '../../src/knowledge/ingest/readers.ts';
import { structureDocument } from '../../src/knowledge/ingest/structure.ts';
import { chunkItem } from '../../src/knowledge/chunk.ts';
import { KbIndex, type SearchMode } from '../../src/knowledge/search.ts';
import { Lexicon } from '../../src/knowledge/text/lexicon.ts';
import { builtinLexicon } from '../../src/knowledge/knowledge-service.ts';
import { HashEmbedder } from '../../src/knowledge/embed.ts';
import { DEFAULT_CHUNKING, type KnowledgeItem } from '../../src/knowledge/knowledge-types.ts';
import { CPL, CPL_PATH, accuracy, halves, loadQuestions } from './quality.ts';
import { needsShared } from '../shared-data.ts';

async function cplIndex(lexicon: boolean): Promise<KbIndex> {
  const { units } = structureDocument(await readDocument(CPL_PATH, readFileSync(CPL_PATH)));
  const items: KnowledgeItem[] = units.map((u, i) => ({ id: `i${i}`, kbId: 'cpl', docId: 'd', ordinal: i, kind: u.kind, number: u.number, label: u.label, path: u.path, text: u.text, state: 'approved', tags: [], meta: {}, version: 1, updatedAt: 0 }));
  return new KbIndex('cpl', items.flatMap((i) => chunkItem(i, '消费者权益保护法', DEFAULT_CHUNKING)), lexicon ? Lexicon.parse(builtinLexicon('consumer-zh')) : null);
}

test('the question set is hand-written, >= 60 items, each with a gold article 1..63 and a style', () => {
  const qs = loadQuestions();
  assert.ok(qs.length >= 60);
  for (const q of qs) { assert.ok(q.gold >= 1 && q.gold <= 63); assert.ok(['situation', 'direct', 'keyword'].includes(q.style)); }
  assert.equal(new Set(qs.map((q) => q.q)).size, qs.length);
});

test('article accuracy: lexical meets the bar on both halves; dense and hybrid reported', needsShared(CPL), async () => {
  const qs = loadQuestions();
  const { dev, held } = halves(qs);
  const index = await cplIndex(true);
  const plain = await cplIndex(false);
  await index.attachVectors(new HashEmbedder(256));
  const figures: Record<string, Record<string, { top1: number; top3: number; top5: number }>> = {};
  const rank = (ix: KbIndex, mode: SearchMode) => async (q: string) => (await ix.search(q, { k: 10, mode })).results.map((r) => r.number ?? -1);
  for (const [name, ix, mode] of [['lexical', index, 'lexical'], ['lexical-no-lexicon', plain, 'lexical'], ['dense-hash', index, 'dense'], ['hybrid-hash', index, 'hybrid']] as const) {
    figures[name] = {};
    for (const [half, set] of [['dev', dev], ['held_out', held], ['all', qs]] as const) {
      const a = await accuracy(set, rank(ix, mode));
      figures[name]![half] = { top1: +a.top1.toFixed(3), top3: +a.top3.toFixed(3), top5: +a.top5.toFixed(3) };
    }
  }
  console.log(JSON.stringify({ quality: 'cpl-articles', questions: qs.length, ...figures }));
  for (const half of ['dev', 'held_out', 'all']) {
    assert.ok(figures.lexical![half]!.top1 >= 0.65, `lexical top-1 on ${half}: ${figures.lexical![half]!.top1}`);
    assert.ok(figures.lexical![half]!.top3 >= 0.85, `lexical top-3 on ${half}: ${figures.lexical![half]!.top3}`);
  }
  const r = await index.search('网上购物的衣服七天内能退货吗', { mode: 'hybrid' });
  assert.match(r.notice ?? '', /hashing test embedder/);
});

test('no embedder: search is lexical and says so; filters and grouping apply', needsShared(CPL), async () => {
  const index = await cplIndex(true);
  const r = await index.search('七天无理由退货', { mode: 'hybrid', k: 3 });
  assert.equal(r.mode, 'lexical');
  assert.match(r.notice!, /no embedding model/);
  assert.equal(r.results[0]!.number, 25);
  assert.equal(new Set(r.results.map((x) => x.itemId)).size, r.results.length);
  const f = await index.search('七天无理由退货', { k: 3, filter: { path: '法律责任' } });
  assert.ok(f.results.length > 0 && f.results.every((x) => x.path.some((p) => p.includes('法律责任'))));
  assert.deepEqual((await index.search('火星上的天气怎么样')).results, []);
});
