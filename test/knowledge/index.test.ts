// Index internals: BM25 scores equal the textbook formula; the k-best heap equals a full sort; HNSW recall against
// exact search; analyzer basics (jieba offline, bigrams, stemming, digit folding).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bm25Index } from '../../src/knowledge/index/bm25.ts';
import { FlatVectorIndex, HnswIndex, createVectorIndex } from '../../src/knowledge/index/hnsw.ts';
import { HashEmbedder, l2normalize } from '../../src/knowledge/embed.ts';
import { analyze } from '../../src/knowledge/text/analyzer.ts';
import { Lexicon } from '../../src/knowledge/text/lexicon.ts';

test('BM25 equals the textbook formula (Lucene idf), ties by doc id, mask honoured', () => {
  const docs = [['a', 'b', 'a'], ['b', 'c'], ['c', 'c', 'c', 'd'], ['e']];
  const ix = new Bm25Index([{ name: 'f', k1: 1.2, b: 0.75 }]);
  for (const d of docs) ix.add({ f: d });
  ix.finalize();
  const N = docs.length, avg = docs.reduce((s, d) => s + d.length, 0) / N;
  const ref = (q: string[], d: string[]) => q.reduce((s, t) => {
    const df = docs.filter((x) => x.includes(t)).length; if (!df) return s;
    const tf = d.filter((x) => x === t).length; if (!tf) return s;
    return s + Math.log(1 + (N - df + 0.5) / (df + 0.5)) * (tf * 2.2) / (tf + 1.2 * (0.25 + 0.75 * d.length / avg));
  }, 0);
  const hits = ix.search([{ field: 'f', term: 'b', weight: 1 }, { field: 'f', term: 'c', weight: 1 }], 10);
  for (const h of hits) assert.ok(Math.abs(h.score - ref(['b', 'c'], docs[h.doc]!)) < 1e-5);
  assert.deepEqual(hits.map((h) => h.doc).sort(), [0, 1, 2]);
  const masked = ix.search([{ field: 'f', term: 'c', weight: 1 }], 10, Uint8Array.from([1, 0, 1, 1]));
  assert.deepEqual(masked.map((h) => h.doc), [2]);
  assert.deepEqual(ix.search([{ field: 'f', term: 'zzz', weight: 1 }], 5), []);
});

test('k-best heap returns exactly the top of a full sort', () => {
  const ix = new Bm25Index([{ name: 'f' }]);
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 2000; i++) ix.add({ f: Array.from({ length: 3 + Math.floor(rnd() * 20) }, () => `t${Math.floor(rnd() * 50)}`) });
  ix.finalize();
  const q = [{ field: 'f', term: 't1', weight: 1 }, { field: 'f', term: 't7', weight: 0.5 }];
  const all = ix.search(q, 100000);
  assert.deepEqual(ix.search(q, 10), all.slice(0, 10));
});

test('HNSW recall@10 against exact search >= 0.95 (2,000 random unit vectors, 64 dims)', () => {
  const dims = 64, n = 2000;
  let s = 11;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  const data = new Float32Array(n * dims);
  for (let i = 0; i < n; i++) data.set(l2normalize(Float32Array.from({ length: dims }, rnd)), i * dims);
  const flat = new FlatVectorIndex(data, dims);
  const hnsw = new HnswIndex(data, dims, { M: 16, efConstruction: 200, ef: 128 });
  let found = 0, total = 0;
  for (let qi = 0; qi < 50; qi++) {
    const q = l2normalize(Float32Array.from({ length: dims }, rnd));
    const exact = new Set(flat.search(q, 10).map((h) => h.doc));
    for (const h of hnsw.search(q, 10)) if (exact.has(h.doc)) found++;
    total += 10;
  }
  const recall = found / total;
  console.log(JSON.stringify({ hnsw_recall_at_10: recall }));
  assert.ok(recall >= 0.95, `recall ${recall}`);
  assert.equal(createVectorIndex(data, dims, 5000).kind, 'flat');
  assert.equal(createVectorIndex(data, dims, 1000).kind, 'hnsw');
  const mask = new Uint8Array(n); for (let i = 0; i < n; i += 2) mask[i] = 1;
  const q = l2normalize(Float32Array.from({ length: dims }, rnd));
  assert.ok(hnsw.search(q, 10, mask).every((h) => h.doc % 2 === 0));
});

test('analyzer: jieba search mode offline, bigrams, English stems, digits as Chinese numerals', () => {
  const a = analyze('中华人民共和国消费者权益保护法');
  assert.ok(a.words.includes('消费者') && a.words.includes('中华人民共和国'));
  assert.ok(a.bigrams.includes('权益'));
  assert.deepEqual(analyze('Returning the consumers goods').words, ['return', 'consum', 'good']);
  assert.ok(analyze('7天无理由退货').words.includes('七天'));
  const lex = Lexicon.parse('网购 => 网络\n商家, 经营者\n@intent 罚款 => 法律责任');
  assert.deepEqual(lex.expand('网购的衣服', ['网购', '衣服']), ['网络']);
  assert.deepEqual(lex.expand('商家跑路', ['商家']), ['经营者']);
  assert.deepEqual(lex.intentTargets('会被罚款吗'), ['法律责任']);
  const e = new HashEmbedder(64);
  const v = e.embedOne('退货');
  assert.ok(Math.abs(v.reduce((s, x) => s + x * x, 0) - 1) < 1e-5);
});
