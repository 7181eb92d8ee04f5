// Honest figures: a built-in lexicon is built from documents and general vocabulary, never from test questions.
// Every lexicon entry (user words, both sides of every rule, intent cues) that occurs in a question of any question
// file under test/ must also occur in a document the lexicons serve (the statutes in ../shared/data/laws) or in the
// general list: jieba's own dictionary, shipped in @node-rs/jieba (src/knowledge/text/vocabulary.ts). An entry found
// only in questions is a phrase copied from the test set, and would make the held-out figures a measure of that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_LEXICONS, builtinLexicon } from '../../src/knowledge/knowledge-service.ts';
import { BUILTIN_BOT_LEXICONS, botLexicon } from '../../src/bots/bot-service.ts';
import { lexiconEntries } from '../../src/knowledge/text/lexicon.ts';
import { isGeneralWord } from '../../src/knowledge/text/vocabulary.ts';
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

test('the check sees what it checks: lexicon entries of every kind are read', () => {
  assert.deepEqual(lexiconEntries('# c\n保单 保额\n保司, 保险公司 => 保险人\n甲，乙\n@intent 罚款|处罚 => 法律责任'), ['保单', '保额', '保司', '保险公司', '保险人', '甲', '乙', '罚款', '处罚', '法律责任']);
});
