// The screen over generated pairs: questions a person would not ask (the law's enactment record, references to text
// the asker cannot see, questions cut mid-phrase, clauses copied whole, topic questions on everyday words,
// duplicates) are rejected by general rules with a reason; questions people ask pass. Over both statutes: what the
// rules extract and the screen keeps holds none of those shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readDocument } from '../../src/knowledge/ingest/readers.ts';
import { structureDocument } from '../../src/knowledge/ingest/structure.ts';
import type { KnowledgeItem } from '../../src/knowledge/knowledge-types.ts';
import { extractRulePairs, userWordsOf, type DraftPair } from '../../src/bots/extract/rules.ts';
import { screenPairs, screenQuestion, MAX_QUESTION_CHARS } from '../../src/bots/extract/filter.ts';
import { botLexicon } from '../../src/bots/bot-service.ts';
import { termKind } from '../../src/knowledge/text/vocabulary.ts';
import { CPL, CPL_PATH, INSURANCE, INSURANCE_PATH } from './fixtures.ts';
import { needsShared } from '../shared-data.ts';

const A7 = '第七条 消费者在购买、使用商品和接受服务时享有人身、财产安全不受损害的权利。\n消费者有权要求经营者提供的商品和服务，符合保障人身、财产安全的要求。';

test('single questions: each rule with its reason; questions people ask pass', () => {
  const rule = (q: string, unit = '') => screenQuestion(q, unit)?.rule ?? null;
  assert.equal(rule('多长时间10月31日 第八届全国人民代表大会常务委员会第？'), 'record');
  assert.equal(rule('有下列情形之一的，怎么办？'), 'refers-elsewhere');
  assert.equal(rule('保险公司有行为之一的，怎么办？'), 'refers-elsewhere');
  assert.equal(rule('前款规定的合同解除权多长时间内行使？'), 'refers-elsewhere');
  assert.equal(rule('本法未作规定的，怎么办？'), 'refers-elsewhere');
  assert.equal(rule('国务院保险监督管理机构可不可以调整其注册资本的最低限额，但不得低于《中华人民共和国？'), 'cut-off');
  assert.equal(rule('故意或者因重大过失未及时通知要不要赔偿，但保险人通过其他途径已经及？'), 'cut-off');
  assert.equal(rule('免除保险人依法应要不要的义务？'), 'cut-off');
  // the last clause stops where the article goes on ("保障人身、财产安全")
  assert.equal(rule('消费者可不可以要求经营者提供的商品和服务，符合保障人身？', A7), 'cut-off');
  assert.equal(rule(`${'保险人按照合同的约定认为有关的证明和资料不完整'.repeat(2)}要不要通知？`), 'too-long');
  const r = screenQuestion('本法未作规定的，怎么办？', '')!;
  assert.match(r.reason, /本法/);
  for (const ok of ['保险金额能不能超过保险价值？', '投保人已交足二年以上保险费的，怎么办？', '什么是保险利益？', '网购的商品可不可以七日内退货，且无需说明理由？',
    '消费者在购买、使用商品和接受服务时可不可以要求人身、财产安全不受损害？', '关于诚实信用和平等交易，法律是怎么规定的？']) {
    assert.equal(screenQuestion(ok, A7), null, ok);
  }
  assert.ok(MAX_QUESTION_CHARS >= 30);
});

test('topic words: terms of a passage pass, everyday and function words do not (jieba\'s general dictionary and idf)', () => {
  for (const w of ['需要', '生活', '获得', '自身', '国家', '未作', '因购买']) assert.ok(termKind(w), w);
  for (const w of ['明码标价', '举证责任', '瑕疵', '当事人', '风俗习惯']) assert.equal(termKind(w), null, w);
  assert.equal(termKind('保险利益', new Set(['保险利益'])), null);
  const draft = (q: string, terms: string[], itemId = 'a'): DraftPair => ({ question: q, paraphrases: [], heldOut: [], answer: 'x', kind: 'topic', terms, source: { kbId: 'k', docId: 'd', itemId, label: itemId, docTitle: 'T' } });
  const v = screenPairs([
    draft('关于需要和生活，法律是怎么规定的？', ['需要', '生活']),
    draft('关于明码标价，法律是怎么规定的？', ['明码标价']),
    draft('关于瑕疵，法律是怎么规定的？', ['瑕疵'], 'b'),
    draft('关于瑕疵，法律是怎么规定的？', ['瑕疵'], 'c'),
  ], () => '');
  assert.equal(v[0]!.rule, 'everyday-topic');
  assert.match(v[0]!.reason, /需要 \(a verb\)/);
  assert.equal(v[1], null);
  assert.equal(v[2]!.rule, 'duplicate');
  assert.match(v[3]!.reason, /2 units \(b, c\)/);
});

async function lawItems(path: string): Promise<KnowledgeItem[]> {
  const { units } = structureDocument(await readDocument(path, readFileSync(path)));
  return units.map((u, i) => ({ id: `i${i}`, kbId: 'kb', docId: 'd', ordinal: i, kind: u.kind, number: u.number, label: u.label, path: u.path, text: u.text, state: 'approved', tags: [], meta: {}, version: 1, updatedAt: 0 }));
}

test('both statutes: the kept pairs hold no preamble junk, no reference to unseen text, no template on everyday words; every rejection has its reason', needsShared(INSURANCE, CPL), async () => {
  for (const [path, lex] of [[INSURANCE_PATH, botLexicon('insurance-zh')], [CPL_PATH, '']] as const) {
    const items = await lawItems(path);
    const drafts = extractRulePairs(items, () => '法', lex);
    const text = new Map(items.map((i) => [i.id, i.text]));
    const verdicts = screenPairs(drafts, (id) => text.get(id)!, userWordsOf(lex));
    const kept = drafts.filter((_, i) => !verdicts[i]);
    const rejected = verdicts.filter((v) => v !== null);
    assert.ok(kept.length >= items.length, `${path}: ${kept.length} kept of ${drafts.length}`);
    assert.ok(rejected.length > 0 && rejected.every((r) => r.reason.length > 10));
    for (const p of kept) {
      assert.doesNotMatch(p.question, /第[一二三四五六七八九十]+届|会议通过|下列|前款|本法|之一的/, p.question);
      assert.ok([...p.question].length <= MAX_QUESTION_CHARS + 1, p.question);
      if (p.kind === 'topic') for (const w of p.terms ?? []) assert.equal(termKind(w, userWordsOf(lex)), null, `${p.question}: ${w}`);
    }
    assert.equal(new Set(kept.map((p) => p.question)).size, kept.length, 'no question twice');
  }
});
