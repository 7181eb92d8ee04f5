// Honest figures: a built-in lexicon is built from documents and general vocabulary, never from test questions.
// Every lexicon entry (user words, both sides of every rule, intent cues) that occurs in a question of any question
// file under test/ must also occur in a document the lexicons serve (the statutes in ../shared/data/laws) or in the
// general list: jieba's own dictionary, shipped in @node-rs/jieba (src/knowledge/text/vocabulary.ts). An entry found
// only in questions is a phrase copied from the test set, and would make the held-out figures a measure of that.
// The question files include the measure halves (test/*/questions/*-measure.json), read here only to check that no
// entry came from them. The legal glossary (English => Chinese, knowledge/text/lexicons/legal-en-zh.txt) is checked
// the same way: its Chinese terms like a lexicon's, its English phrases against general English (a phrase of
// CC-CEDICT's definitions, inflections folded) or as a word-for-word rendering of a statute's term (every word a
// CC-CEDICT sense of the term's words or characters: "cash value" for 现金价值).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_LEXICONS, builtinLexicon } from '../../src/knowledge/knowledge-service.ts';
import { BUILTIN_BOT_LEXICONS, botLexicon } from '../../src/bots/bot-service.ts';
import { lexiconEntries } from '../../src/knowledge/text/lexicon.ts';
import { isGeneralWord } from '../../src/knowledge/text/vocabulary.ts';
import { parseGlossary, senseWords } from '../../src/knowledge/text/bilingual.ts';
import { LEGAL_GLOSSARY, loadCedict } from '../../src/knowledge/text/cedict.ts';
import { segmentWords } from '../../src/knowledge/text/analyzer.ts';
import { stemmer } from 'stemmer';
import { CPL, INSURANCE, LAWS } from './quality.ts';
import { needsShared } from '../shared-data.ts';

const TEST_ROOT = join(import.meta.dirname, '..');

/** Every question text of every question file under test/ (any JSON value under a key q or question). */
function questionTexts(): { file: string; questions: string[] }[] {
  const out: { file: string; questions: string[] }[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) { if (name !== 'node_modules' && name !== 'artifacts') walk(p); continue; }
      if (!name.endsWith('.json')) continue;
      const qs: string[] = [];
      const visit = (v: unknown, key: string) => {
        if (typeof v === 'string' && (key === 'q' || key === 'question')) qs.push(v);
        else if (Array.isArray(v)) v.forEach((x) => visit(x, key));
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, k);
      };
      visit(JSON.parse(readFileSync(p, 'utf8')), '');
      if (qs.length) out.push({ file: p.slice(TEST_ROOT.length + 1), questions: qs });
    }
  };
  walk(TEST_ROOT);
  return out;
}

// the statutes are the documents a lexicon entry may come from: without them the check is skipped, naming them
test('no lexicon entry occurs in a question file unless a document or jieba\'s general dictionary has it', needsShared(CPL, INSURANCE), () => {
  const files = questionTexts();
  assert.ok(files.some((f) => f.file.endsWith('insurance-questions.json')) && files.some((f) => f.file.endsWith('cpl-questions.json')), 'both question sets found');
  // every question file of the sets written elsewhere (tune and measure halves) is read
  for (const sub of ['bots/questions', 'knowledge/questions']) {
    let names: string[] = [];
    try { names = readdirSync(join(TEST_ROOT, sub)).filter((n) => n.endsWith('.json')); } catch { continue; }
    for (const n of names) assert.ok(files.some((f) => f.file === join(sub, n)), `${sub}/${n} is checked`);
  }
  const documents = readdirSync(LAWS).filter((f) => f.endsWith('.md')).map((f) => readFileSync(join(LAWS, f), 'utf8')).join('\n');
  const lexicons: [string, string][] = [
    ...Object.keys(BUILTIN_LEXICONS).map((n) => [n, builtinLexicon(n)] as [string, string]),
    ...Object.keys(BUILTIN_BOT_LEXICONS).map((n) => [n, botLexicon(n)] as [string, string]),
  ];
  assert.ok(lexicons.length >= 2);
  const offending: string[] = [];
  for (const [name, text] of lexicons) {
    for (const entry of lexiconEntries(text)) {
      const file = files.find((f) => f.questions.some((q) => q.includes(entry)));
      if (!file || documents.includes(entry) || isGeneralWord(entry)) continue;
      offending.push(`${name}: "${entry}" (in ${file.file}, in no document, not a general word)`);
    }
  }
  assert.deepEqual(offending, []);
});

test('no glossary entry occurs in a question file unless it is a statute\'s term or general vocabulary', needsShared(CPL, INSURANCE), async () => {
  const files = questionTexts();
  const documents = readdirSync(LAWS).filter((f) => f.endsWith('.md')).map((f) => readFileSync(join(LAWS, f), 'utf8')).join('\n');
  const rules = parseGlossary(readFileSync(LEGAL_GLOSSARY, 'utf8'));
  assert.ok(rules.length > 100, `${rules.length} glossary rules`);
  const entries = await loadCedict();
  const stemOf = (phrase: string) => (senseWords(phrase) ?? []).map((w) => stemmer(w)).join(' ');
  // CC-CEDICT's definitions, stemmed, one sense a line, for phrase look-ups at word boundaries
  const defs = `\n${entries.flatMap((e) => e.senses.flatMap((s) => s.split(';'))).map(stemOf).filter(Boolean).join('\n')}\n`.replace(/\n/g, ' \n ');
  const sensesOf = new Map<string, string[]>();
  for (const e of entries) sensesOf.set(e.simplified, [...(sensesOf.get(e.simplified) ?? []), ...e.senses]);
  const renders = (en: string, zh: string) => {
    const parts = new Set<string>(segmentWords(zh));
    for (let i = 0; i < zh.length; i++) for (let j = i + 1; j <= zh.length; j++) parts.add(zh.slice(i, j));
    const words = new Set([...parts].flatMap((w) => sensesOf.get(w) ?? []).flatMap((s) => s.split(';')).flatMap((s) => senseWords(s) ?? []).map((w) => stemmer(w)));
    return stemOf(en).split(' ').every((w) => words.has(w));
  };
  const inQuestion = (phrase: string, zh: boolean) => files.find((f) => f.questions.some((q) => (zh ? q.includes(phrase) : new RegExp(`\\b${phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'i').test(q))));
  const offending: string[] = [];
  for (const r of rules) {
    for (const z of r.zh) {
      const file = inQuestion(z, true);
      if (file && !documents.includes(z) && !isGeneralWord(z)) offending.push(`"${z}" (in ${file.file}, in no document, not a general word)`);
    }
    const file = inQuestion(r.en, false);
    if (!file) continue;
    const general = defs.includes(` ${stemOf(r.en)} `);
    const rendering = r.zh.some((z) => documents.includes(z) && renders(r.en, z));
    if (!general && !rendering) offending.push(`"${r.en}" (in ${file.file}, not in CC-CEDICT's definitions, no word-for-word rendering of a statute's term)`);
  }
  assert.deepEqual(offending, []);
});

test('the check sees what it checks: lexicon entries of every kind are read', () => {
  assert.deepEqual(lexiconEntries('# c\n保单 保额\n保司, 保险公司 => 保险人\n甲，乙\n@intent 罚款|处罚 => 法律责任'), ['保单', '保额', '保司', '保险公司', '保险人', '甲', '乙', '罚款', '处罚', '法律责任']);
});
