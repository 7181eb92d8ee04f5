// The trained retriever: training data from the units alone, training through the engine's dual encoder, saving and
// loading, and a knowledge base searching with it as its dense list.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRetriever, retrieverData, trainRetriever, unitSentences, type RetrieverUnit } from '../../src/knowledge/retriever.ts';
import { KbIndex } from '../../src/knowledge/search.ts';
import type { Chunk } from '../../src/knowledge/knowledge-types.ts';

const dir = mkdtempSync(join(tmpdir(), 'mf-retriever-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const UNITS: RetrieverUnit[] = [
  { id: 'a1', title: '第一条 退货', text: '消费者网购商品，有权自收到商品之日起七日内退货，且无需说明理由。退回商品的运费由消费者承担。' },
  { id: 'a2', title: '第二条 安全', text: '经营者应当保证其提供的商品或者服务符合保障人身、财产安全的要求。对可能危及安全的商品，应当作出真实的说明和明确的警示。' },
  { id: 'a3', title: '第三条 人格尊严', text: '经营者不得对消费者进行侮辱、诽谤，不得搜查消费者的身体及其携带的物品，不得侵犯消费者的人身自由。' },
  { id: 'a4', title: '第四条 欺诈', text: '经营者提供商品或者服务有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失，增加赔偿的金额为消费者购买商品的价款的三倍。' },
];
const SMALL = { vocab: 4096, dims: 16, epochs: 8, batch: 8, lr: 0.02, warmupSteps: 2 };

test('training data: each unit a passage, its sentences and title as questions, BM25 hard negatives never its own unit', () => {
  assert.deepEqual(unitSentences('第一句话很长。短。第三句也够长；\n最后一行字', 4), ['第一句话很长。', '第三句也够长；', '最后一行字']);
  const { retriever } = trainRetriever(UNITS, [], null, { ...SMALL, epochs: 0 });
  const data = retrieverData(UNITS, [{ unit: 'a3', text: '商场保安翻我的包' }], (t) => retriever.bag(t), null, { hardNegatives: 2, minSentence: 6 });
  assert.equal(data.passages.length, 4);
  assert.ok(data.texts.includes('第一条 退货') && data.texts.includes('商场保安翻我的包'));
  data.positive.forEach((p, i) => assert.ok(!data.hard[i]!.includes(p), `question ${i} has its own unit as a negative`));
  assert.ok(data.hard.some((h) => h.length > 0));
  assert.throws(() => retrieverData(UNITS, [{ unit: 'a9', text: '问题' }], (t) => retriever.bag(t), null, { hardNegatives: 2, minSentence: 6 }), /question 0 names unit "a9"/);
});

test('trains deterministically, lowers its loss, finds units for their own sentences, saves and loads exactly', async () => {
  const a = trainRetriever(UNITS, [{ unit: 'a3', text: '商场保安翻我的包' }], null, SMALL);
  const b = trainRetriever(UNITS, [{ unit: 'a3', text: '商场保安翻我的包' }], null, SMALL);
  assert.deepEqual(a.retriever.encoder.params, b.retriever.encoder.params);
  const head = a.curve.slice(0, 3).reduce((s, x) => s + x, 0) / 3, tail = a.curve.slice(-3).reduce((s, x) => s + x, 0) / 3;
  assert.ok(tail < head, `loss ${head} -> ${tail}`);
  const passages = await a.retriever.embed(UNITS.map((u) => `${u.title}\n${u.text}`));
  const best = (q: string) => { const v = a.retriever.embedOne(q); const s = passages.map((p) => p.reduce((x, pv, k) => x + pv * v[k]!, 0)); return s.indexOf(Math.max(...s)); };
  assert.equal(best('保安翻我的包'), 2);
  assert.equal(best('欺诈 三倍赔偿'), 3);
  assert.deepEqual([...a.retriever.embedOne('，。！')], new Array(16).fill(0));
  const out = join(dir, 'model');
  await a.retriever.save(out);
  const back = await loadRetriever(out);
  assert.deepEqual(back.encoder.params, a.retriever.encoder.params);
  assert.deepEqual(back.embedOne('经营者 欺诈'), a.retriever.embedOne('经营者 欺诈'));
  writeFileSync(join(out, 'retriever.json'), JSON.stringify({ format: 'modelfab-retriever', vocab: 0, dims: 16 }));
  await assert.rejects(loadRetriever(out), /retriever\.json: field "vocab" must be a positive integer/);
  writeFileSync(join(out, 'retriever.json'), '{');
  await assert.rejects(loadRetriever(out), /retriever\.json: not valid JSON/);
});

test('a knowledge base searches with a trained retriever as its dense list (hybrid)', async () => {
  const chunks: Chunk[] = UNITS.map((u, i) => ({
    id: `c${i}`, kbId: 'kb', docId: 'd', itemId: u.id, parentId: undefined, role: 'child', label: u.title.split(' ')[0]!, path: [u.title.split(' ')[1]!],
    text: u.text, start: 0, end: u.text.length, tags: [], meta: {}, docTitle: '法', number: i + 1,
  } as Chunk));
  const kb = new KbIndex('kb', chunks, null);
  const { retriever } = trainRetriever(UNITS, [], null, SMALL);
  await kb.attachVectors(retriever);
  const r = await kb.search('欺诈了怎么赔', { k: 2 });
  assert.equal(r.mode, 'hybrid');
  assert.equal(r.embedder, 'retriever');
  assert.equal(r.notice, undefined);
  assert.equal(r.results[0]!.itemId, 'a4');
  assert.ok(r.results[0]!.denseScore !== undefined);
});
