/**
 * Screening generated pairs: is this a question a person would ask? General rules over the question's text, its
 * source unit and the other pairs — never a list of bad questions:
 *   record            asks about the law's enactment record (a session of a people's congress, a date it passed)
 *   refers-elsewhere  points at text the asker cannot see (前款, 本条, 下列, 上述, "…之一的", 本法)
 *   cut-off           stops mid-phrase: an unclosed 《（“, a dangling 第/、/和/的 at the end, a template wedged inside
 *                     a phrase (…应要不要…的义务), or a last clause the unit continues without a break (…按照实？)
 *   too-long          longer than MAX_QUESTION_CHARS: a clause copied from the article, not a question people type
 *   everyday-topic    a topic question whose words are everyday or function words (需要, 生活), not terms of the unit
 *   duplicate         the same question for several units (it cannot say which) or twice for one unit
 * Guarantees: pure and deterministic; returns one verdict per pair in order (null = kept); every rejection names its
 * rule and a reason a reviewer can read, quoting only the question's own words.
 */
import { isGeneralWord, termKind } from '../../knowledge/text/vocabulary.ts';
import type { DraftPair } from './rules.ts';

export type FilterRule = 'record' | 'refers-elsewhere' | 'cut-off' | 'too-long' | 'everyday-topic' | 'duplicate';

export interface Rejection { rule: FilterRule; reason: string }

/** Longest question kept, in characters (people's questions are rarely longer; statute clauses often are). */
export const MAX_QUESTION_CHARS = 40;

const RECORD = /第[一二三四五六七八九十]+届[^？?]*(人民代表大会|常务委员会)|会议通过|\d{4}年\d{1,2}月\d{1,2}日/;
const ELSEWHERE: [RegExp, string][] = [
  [/前[一二三]?款|前[一二三]?项|前条|本条/, 'another paragraph of the article'],
  [/下列|以下各项|上述|前述/, 'a list the asker cannot see'],
  [/之一的/, 'a list the asker cannot see'],
  [/本法/, '"本法" (this law) without naming it'],
];
const PAIRS: [string, string][] = [['《', '》'], ['（', '）'], ['(', ')'], ['“', '”'], ['‘', '’'], ['[', ']'], ['「', '」']];
const DANGLING = /(第|、|和|或|或者|及|以及|与|的和|对|在|由|向|将|并|其|之|按照|依照|根据|的)$/;
/** Interrogative templates the rules insert between a subject and a predicate. */
const TEMPLATE = /要不要|能不能|可不可以|多长时间内?/;
/** Endings the rules append after the last copied clause. */
const TAIL = /(，?(怎么办|会受到什么处罚|法律是怎么规定的|怎么处罚|要承担什么法律责任|罚款多少)|吗|呢|么)$/;
/** A phrase-binding character before an inserted template (应要不要…) or after it (…要不要的…). */
const BOUND_BEFORE = /(应|须|得|可|所|依法|予以|不)$/;
const BOUND_AFTER = /^(之|、|，|者)/;
const BREAK = /[，。；：,.;:！？!?）)」”\n]/;

function strip(q: string): string { return q.trim().replace(/[？?。.！!]+$/, ''); }

/** The rules a single question fails, first match only; `unit` is its source unit's text. */
export function screenQuestion(question: string, unit: string): Rejection | null {
  const q = strip(question);
  if (RECORD.test(q)) return { rule: 'record', reason: 'asks about when or by which session the law was passed, not about what it says' };
  for (const [re, what] of ELSEWHERE) {
    const m = re.exec(q);
    if (m) return { rule: 'refers-elsewhere', reason: `refers to ${what} ("${m[0]}")` };
  }
  for (const [open, close] of PAIRS) {
    if (q.split(open).length !== q.split(close).length) return { rule: 'cut-off', reason: `"${open}" is not closed: the question stops mid-phrase` };
  }
  const body = q.replace(TAIL, '');
  const d = DANGLING.exec(body);
  // "…的，怎么办" asks about a situation; only a question that itself ends on 的 dangles
  // …and a last character that closes a word (理由, 涉及) is no dangling one
  const closesWord = d && d[0].length === 1 && (isGeneralWord(body.slice(-2)) || isGeneralWord(body.slice(-3)));
  if (d && !closesWord && !(d[0] === '的' && body !== q)) return { rule: 'cut-off', reason: `ends on "${d[0]}": the question stops mid-phrase` };
  const t = TEMPLATE.exec(body);
  if (t) {
    const before = body.slice(0, t.index), after = body.slice(t.index + t[0].length);
    if (BOUND_BEFORE.test(before) || BOUND_AFTER.test(after)) return { rule: 'cut-off', reason: `"${t[0]}" is wedged inside a phrase ("${before.slice(-3)}${t[0]}${after.slice(0, 3)}")` };
  }
  // the last clause, as copied from the unit: where the unit goes on without a break, the copy was cut short
  const last = body.split(/[，,]/).at(-1)!.split(TEMPLATE).at(-1)!;
  if (last.length >= 4 && unit.includes(last)) {
    let cut = true;
    for (let i = unit.indexOf(last); i >= 0 && cut; i = unit.indexOf(last, i + 1)) {
      const next = unit[i + last.length];
      if (next === undefined || BREAK.test(next)) cut = false;
    }
    if (cut) return { rule: 'cut-off', reason: `"…${last.slice(-6)}" stops where the article's sentence goes on: the question stops mid-phrase` };
  }
  if ([...q].length > MAX_QUESTION_CHARS) return { rule: 'too-long', reason: `${[...q].length} characters: a clause copied from the article, not a question people type (at most ${MAX_QUESTION_CHARS})` };
  return null;
}

/** Topic words that are no terms of the unit: "需要 (a verb)". Empty when every word is a term. */
export function everydayWords(terms: string[], domainWords?: ReadonlySet<string>): string[] {
  return terms.flatMap((w) => { const k = termKind(w, domainWords); return k ? [`${w} (${k})`] : []; });
}

/**
 * One verdict per pair: its question screened against its source unit (`unitText(itemId)`), topic pairs' words
 * checked against general vocabulary (`domainWords`: the lexicon's words, which count as terms), duplicates found.
 */
export function screenPairs(pairs: DraftPair[], unitText: (itemId: string) => string, domainWords?: ReadonlySet<string>): (Rejection | null)[] {
  const verdicts = pairs.map((p): Rejection | null => {
    const r = screenQuestion(p.question, unitText(p.source.itemId));
    if (r) return r;
    if (p.kind === 'topic' && p.terms?.length) {
      const bad = everydayWords(p.terms, domainWords);
      if (bad.length) return { rule: 'everyday-topic', reason: `its words are no terms of the article: ${bad.join(', ')}` };
    }
    return null;
  });
  // duplicates among the questions still kept
  const byQuestion = new Map<string, number[]>();
  pairs.forEach((p, i) => {
    if (verdicts[i]) return;
    const key = strip(p.question).replace(/\s+/g, '');
    byQuestion.set(key, [...(byQuestion.get(key) ?? []), i]);
  });
  for (const idx of byQuestion.values()) {
    if (idx.length < 2) continue;
    const units = [...new Set(idx.map((i) => pairs[i]!.source.itemId))];
    if (units.length > 1) {
      const labels = [...new Set(idx.map((i) => pairs[i]!.source.label))].slice(0, 4).join(', ');
      for (const i of idx) verdicts[i] = { rule: 'duplicate', reason: `asked of ${units.length} units (${labels}): the question does not say which one it means` };
    } else for (const i of idx.slice(1)) verdicts[i] = { rule: 'duplicate', reason: `repeats another question of ${pairs[i]!.source.label}` };
  }
  return verdicts;
}
