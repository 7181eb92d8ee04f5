/**
 * The demo's held-out company-fact questions are held out: no question, nor the template it was written from,
 * occurs in any dataset the demo trains on (support, HR policy, identity, preferences; both splits, several seeds),
 * and no question occurs in the pretraining corpus. Every question asks a fact the support data does teach, and
 * the sets are valid experiment input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoPretrainText } from '../../src/demo/corpus.ts';
import { SUPPORT_PRODUCT_ATTRS, hrPolicyQA, identity, preferences, supportQA } from '../../src/demo/demo-datasets.ts';
import { companyFactQuestions, companyFactSets, heldoutTemplates } from '../../src/demo/fact-questions.ts';
import { statesFact } from '../../src/bench/fact-match.ts';
import { validateFactQuestionSets } from '../../src/bench/fact-question-sets.ts';
import { PARTS, PRODUCTS } from '../../src/demo/facts.ts';

/** Compared without spaces, case or full-width forms ("T100 的" and "T100的" are one question). */
const norm = (s: string) => s.normalize('NFKC').toLowerCase().replace(/\s+/g, '');

function trainingQuestions(): Set<string> {
  const out = new Set<string>();
  for (const seed of [0, 1, 2, 3]) {
    const sup = supportQA(seed), hr = hrPolicyQA(seed), id = identity(seed), pref = preferences(seed);
    for (const r of [...sup.train, ...sup.val]) for (const m of r.messages) if (m.role === 'user') out.add(norm(m.content));
    for (const r of [...hr.train, ...hr.val, ...id.train, ...id.val]) out.add(norm(r.instruction));
    for (const r of [...pref.train, ...pref.val]) for (const m of r.input.messages) if (m.role === 'user') out.add(norm(m.content));
  }
  return out;
}

const allQuestions = () => [...companyFactQuestions('zh'), ...companyFactQuestions('en')];

test('no held-out fact question occurs in any training dataset or in the pretraining corpus', () => {
  const train = trainingQuestions();
  assert.ok(train.size > 1000, `${train.size} training questions`);
  const qs = allQuestions();
  assert.equal(new Set(qs.map((q) => norm(q.question))).size, qs.length, 'questions are distinct');
  const seen = qs.filter((q) => train.has(norm(q.question)));
  assert.deepEqual(seen.map((q) => q.id), []);
  const corpus = norm(demoPretrainText(0, 900_000));
  const inCorpus = qs.filter((q) => corpus.includes(norm(q.question).replace(/[？?]$/, '')));
  assert.deepEqual(inCorpus.map((q) => q.id), []);
});

test('no held-out template generates any training question', () => {
  const train = [...trainingQuestions()];
  for (const { template, placeholder } of heldoutTemplates()) {
    const parts = placeholder ? norm(template).split(norm(placeholder)) : [norm(template)];
    const re = new RegExp(`^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+')}$`, 'u');
    const hit = train.find((q) => re.test(q));
    assert.equal(hit, undefined, `template ${JSON.stringify(template)} generates the training question ${JSON.stringify(hit)}`);
  }
});

test('every held-out question asks a fact the support data teaches, in its own language', () => {
  const answers = { zh: [] as string[], en: [] as string[] };
  for (const r of supportQA(0).train) {
    const lang = /[\u4e00-\u9fff]/.test(r.messages[0].content) ? 'zh' : 'en';
    answers[lang].push(r.messages[1].content);
  }
  for (const lang of ['zh', 'en'] as const) {
    for (const q of companyFactQuestions(lang)) {
      const code = PRODUCTS.find((p) => q.id!.startsWith(`product.${p.code}.`))?.code;
      const part = PARTS.find((p) => q.id === `part.${p.id}.${lang}`);
      const subject = code ?? (part ? (lang === 'zh' ? part.nameZh : part.nameEn) : '');
      const taught = answers[lang].some((a) => a.includes(subject) && q.answers.some((v) => statesFact(a, v)));
      assert.ok(taught, `${q.id}: no training answer states ${JSON.stringify(q.answers)}`);
    }
  }
});

test('the demo\'s fact sets: Chinese and English, valid experiment input, one question per fact', () => {
  const sets = companyFactSets();
  assert.deepEqual(sets.map((s) => s.name), ['company_facts_zh', 'company_facts_en']);
  assert.deepEqual(validateFactQuestionSets(sets).problems, []);
  for (const s of sets) {
    assert.equal(s.questions.length, PRODUCTS.length * SUPPORT_PRODUCT_ATTRS.length + PARTS.length + 14);
    assert.equal(new Set(s.questions.map((q) => q.id)).size, s.questions.length);
    assert.equal(s.system, undefined, 'asked as the support chats are trained: without a system prompt');
  }
  assert.ok(sets[0].questions.every((q) => /[\u4e00-\u9fff]/.test(q.question)));
});
