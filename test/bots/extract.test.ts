// Pair extraction: the rules over the Insurance Law (kinds, sources, determinism, cross-references, held-out
// phrasings kept apart) and model extraction with a scripted fake model (valid outputs become pairs with their
// source chunk; an unusable output — not JSON, wrong shape, ungrounded answer, a model error — is reported).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readDocument } from '../../src/knowledge/ingest/readers.ts';
import { structureDocument } from '../../src/knowledge/ingest/structure.ts';
import type { Chunk, KnowledgeItem } from '../../src/knowledge/knowledge-types.ts';
import { extractRulePairs, Paraphraser } from '../../src/bots/extract/rules.ts';
import { extractModelPairs, PAIRS_SCHEMA, type PairModel } from '../../src/bots/extract/model-pairs.ts';
import { botLexicon } from '../../src/bots/bot-service.ts';
import { INSURANCE, INSURANCE_PATH } from './fixtures.ts';
import { needsShared } from '../shared-data.ts';

async function items(): Promise<KnowledgeItem[]> {
  const { units } = structureDocument(await readDocument(INSURANCE_PATH, readFileSync(INSURANCE_PATH)));
  return units.map((u, i) => ({ id: `i${i}`, kbId: 'kb', docId: 'd', ordinal: i, kind: u.kind, number: u.number, label: u.label, path: u.path, text: u.text, state: 'approved', tags: [], meta: {}, version: 1, updatedAt: 0 }));
}

test('rules: several kinds of questions per article, each naming its source, deterministic', needsShared(INSURANCE), async () => {
  const units = await items();
  const lex = botLexicon('insurance-zh');
  const a = extractRulePairs(units, () => '保险法', lex, { perUnit: 6, paraphrases: 3, heldOut: 1 });
  const b = extractRulePairs(units, () => '保险法', lex, { perUnit: 6, paraphrases: 3, heldOut: 1 });
  assert.deepEqual(a, b);
  const byUnit = new Map<string, number>();
  for (const p of a) byUnit.set(p.source.itemId, (byUnit.get(p.source.itemId) ?? 0) + 1);
  assert.ok([...byUnit.values()].every((n) => n <= 6));
  assert.ok(byUnit.size >= 180, `units with pairs: ${byUnit.size}`);
  const kinds = new Set(a.map((p) => p.kind));
  for (const k of ['topic', 'definition', 'obligation', 'condition', 'time', 'penalty']) assert.ok(kinds.has(k as never), `kind ${k}`);
  for (const p of a) {
    const unit = units.find((u) => u.id === p.source.itemId)!;
    assert.ok(unit.text.includes(p.answer.slice(0, 12)) || p.kind === 'topic', `answer of ${p.question} is text of ${unit.label}`);
    for (const h of p.heldOut) assert.ok(!p.paraphrases.includes(h) && h !== p.question);
  }
  // defined terms, time limits and cross-referenced penalties
  assert.ok(a.some((p) => p.kind === 'definition' && p.source.number === 12 && p.question === '什么是保险利益？'));
  assert.ok(a.some((p) => p.kind === 'time' && p.source.number === 26 && /多长时间/.test(p.question)));
  const p161 = a.filter((p) => p.source.number === 161 && p.kind === 'penalty');
  assert.ok(p161.some((p) => /欺骗投保人/.test([p.question, ...p.paraphrases].join(' '))), 'article 161 asks about the acts listed in article 116');
  // perUnit is honoured
  const two = extractRulePairs(units, () => '保险法', lex, { perUnit: 2 });
  assert.ok(two.length <= units.length * 2 && two.length >= units.length);
});

test('paraphraser: formal statute words -> the users\' words, from the lexicon read backwards', () => {
  const p = new Paraphraser('保险公司, 保司 => 保险人\n买保险的人 => 投保人\n# comment\n@intent 罚款 => 法律责任');
  assert.equal(p.rewrite('保险人可以解除合同吗', 0).includes('保险人'), false);
  assert.match(p.rewrite('投保人应当如实告知', 0), /买保险的人应当如实告知/);
  assert.equal(p.rewrite('与此无关', 0), '与此无关');
});

function chunk(i: number, text: string): Chunk {
  return { id: `c${i}`, kbId: 'kb', docId: 'd', itemId: `i${i}`, role: 'parent', label: `第${i}条`, path: [], number: i, text, start: 0, end: text.length, tags: [], meta: {}, docTitle: '保险法' };
}

test('model extraction: schema-constrained output -> pairs with their chunk; unusable outputs reported, never replaced', async () => {
  const chunks = [
    chunk(1, '投保人解除合同的，保险人应当自收到解除合同通知之日起三十日内，按照合同约定退还保险单的现金价值。'),
    chunk(2, '保险人对人寿保险的保险费，不得用诉讼方式要求投保人支付。'),
    chunk(3, '保险公司应当缴纳保险保障基金。'),
    chunk(4, '再保险接受人不得向原保险的投保人要求支付保险费。'),
    chunk(5, '保险金额不得超过保险价值。'),
  ];
  const seen: { schema: object; user: string }[] = [];
  const script: Record<string, string | Error> = {
    c1: JSON.stringify({ pairs: [
      { question: '我退保了，保险公司多久要把钱退给我？', answer: '保险人应当自收到解除合同通知之日起三十日内退还保险单的现金价值。', paraphrases: ['退保后多久退钱', '解约后现金价值什么时候退'] },
      { question: '退保能退多少钱？', answer: '按照合同约定退还保险单的现金价值。', paraphrases: ['退保退多少'] },
    ] }),
    c2: 'Sure! Here are some questions: 1. ...',
    c3: JSON.stringify({ items: [] }),
    c4: JSON.stringify({ pairs: [{ question: '再保险公司能找我要保费吗？', answer: '可以，而且要加收利息和滞纳金。' }] }),
    c5: new Error('HTTP 500'),
  };
  const model: PairModel = {
    name: 'scripted',
    async complete(messages, schema) {
      seen.push({ schema, user: messages.at(-1)!.content });
      const id = chunks.find((c) => messages.at(-1)!.content.includes(c.text))!.id;
      const r = script[id]!;
      if (r instanceof Error) throw r;
      return r;
    },
  };
  const r = await extractModelPairs(model, chunks, { perChunk: 3, styleExamples: ['我买了意外险，出事后保险公司拖着不赔怎么办'] });
  assert.equal(seen.length, 5);
  assert.deepEqual(seen[0]!.schema, PAIRS_SCHEMA);
  assert.match(seen[0]!.user, /拖着不赔/, 'the prompt carries the style examples');
  assert.equal(r.pairs.length, 2);
  assert.ok(r.pairs.every((p) => p.source.chunkId === 'c1' && p.source.number === 1 && p.kind === 'model'));
  assert.deepEqual(r.pairs[0]!.heldOut, ['解约后现金价值什么时候退']);
  const byChunk = new Map(r.problems.map((p) => [p.chunkId, p.reason]));
  assert.deepEqual([...byChunk.keys()].sort(), ['c2', 'c3', 'c4', 'c5']);
  assert.match(byChunk.get('c2')!, /not JSON/);
  assert.match(byChunk.get('c3')!, /no "pairs"/);
  assert.match(byChunk.get('c4')!, /not grounded/);
  assert.match(byChunk.get('c5')!, /model error/);
});
