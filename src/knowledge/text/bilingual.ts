/**
 * Questions in the other language: an English question about a Chinese document (and a Chinese question about an
 * English one) mapped term by term into the document's language before lexical search, with no model. Owns the
 * language test, the traditional -> simplified character map, and `Bilingual`, a dictionary built for one index's
 * vocabulary from two sources:
 *   1. a legal/insurance glossary (`lexicons/legal-en-zh.txt`: "english phrase => 中文, 中文"), written from the
 *      statutes' own terms and general legal English; matched first, longest phrase first;
 *   2. CC-CEDICT (cedict.ts) read backwards for English -> Chinese: an English word or phrase (stemmed) that is a
 *      whole sense of an entry maps to that entry's headword, forwards for Chinese -> English.
 * Only words the index holds are produced (a translation the documents never use cannot match anything), at most a
 * few per source term, the most specific senses first. For Chinese questions it also proposes, for a slip of the pen
 * (a word typed with a homophone: 理陪 for 理赔), the index's word that sounds the same (CC-CEDICT's pinyin, tones
 * ignored) and differs in one character (`homophones`).
 * Guarantees: pure and deterministic for given entries, glossary and vocabulary; Chinese runs in an English question
 * (and Latin runs in a Chinese one) pass through unchanged; a question in the document's language is returned as is.
 */
import { stemmer } from 'stemmer';
import { getJieba, segmentWords } from './analyzer.ts';
import { isGeneralWord } from './vocabulary.ts';
import type { CedictEntry } from './cedict.ts';

export type Lang = 'zh' | 'en';

const CJK_CHAR = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/g;
const LATIN_WORD = /[A-Za-z]{2,}/g;

/** The language a text is written in: Chinese when its CJK characters outnumber twice its Latin words. */
export function languageOf(text: string): Lang {
  const cjk = text.match(CJK_CHAR)?.length ?? 0;
  const latin = text.match(LATIN_WORD)?.length ?? 0;
  return cjk > 2 * latin ? 'zh' : latin > 0 ? 'en' : 'zh';
}

/** English words that carry no content in a question (besides the analyzer's stop words). */
const EN_QUESTION_STOP = new Set((
  'a an the and or of to in on at for from by with is are was were be been being it its this that these those as do does did ' +
  'can could should would will shall may might must i me my mine we our us you your he him his she her they them their what ' +
  'which who whom how when where why if then than so but about into over under there here any some also just only very really ' +
  'still yet get got gets getting have has had having am im ive dont doesnt didnt cant wont isnt arent wasnt please tell know ' +
  'want wants need needs say says said like thing things something anything someone anyone one ones now after before because ' +
  'while again other such own same too more most much many lot lots out up down off own hi hello thanks thank question ok okay ' +
  'sb sth etc e g eg i e ie someone\'s one\'s oneself ' +
  // every question to a Chinese statute says so: no term
  'law laws legal legally lawful china chinese prc'
).split(/\s+/));

/** A CC-CEDICT sense that names no meaning of its own (cross-references, classifiers, variants, names). */
const NON_SENSE = /^(?:CL:|variant of|old variant|see |see also|also written|abbr\.|surname|used in|erhua variant|Japanese variant|archaic|\(old\)|\(onom|\(bound form\)\s*$)/i;

/** A text's English words, lower case, apostrophes dropped ("don't" -> "dont"), stop words kept. */
function englishWords(text: string): string[] {
  return text.toLowerCase().replace(/[’']/g, '').match(/[a-z]+/g) ?? [];
}

/** A text's English content words (stop words dropped). */
function englishTokens(text: string): string[] {
  return englishWords(text).filter((w) => !EN_QUESTION_STOP.has(w));
}
const stem = (w: string): string => stemmer(w);

/** A sense's words (parentheses and a leading "to"/article dropped), stop words kept; null when it names no meaning. */
function senseAllWords(sense: string): string[] | null {
  const s = sense.trim();
  if (!s || NON_SENSE.test(s)) return null;
  const plain = s.replace(/\([^)]*\)|\[[^\]]*\]|\|[^\s]*/g, ' ').replace(/^\s*(?:to|a|an|the)\s+/i, '');
  const words = englishWords(plain);
  return words.length ? words : null;
}

/** A sense's content words (parentheses, a leading "to"/article and stop words dropped); null when it names no meaning. */
export function senseWords(sense: string): string[] | null {
  const words = (senseAllWords(sense) ?? []).filter((w) => !EN_QUESTION_STOP.has(w));
  return words.length ? words : null;
}

interface Target { term: string; rank: number }

/** One mapped term of a question: the source words and the terms searched for them. */
export interface MappedTerm { from: string; to: string[]; source: 'glossary' | 'cedict' | 'kept' | 'homophone' }

export interface Mapping { query: string; terms: MappedTerm[] }

/**
 * The glossary's rules: English phrase <-> Chinese terms. `words` are its content words, stemmed; `phrase`, when the
 * phrase has small words of its own ("take over", "on purpose", "no reason"), every word, stemmed, matched in order:
 * without them "take" alone would read as "take over".
 */
export interface GlossaryRule { en: string; raw: string[]; words: string[]; phrase?: string[]; zh: string[] }

/** Parses glossary text: "english phrase, other phrase => 中文, 中文" a line, # comments. */
export function parseGlossary(text: string): GlossaryRule[] {
  const rules: GlossaryRule[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const [l, r] = line.split('=>');
    if (l === undefined || r === undefined) throw new Error(`glossary line ${i + 1}: expected "english => 中文", got ${JSON.stringify(line.slice(0, 60))}`);
    const zh = r.split(/[,，]/).map((s) => s.trim()).filter(Boolean);
    for (const en of l.split(',').map((s) => s.trim()).filter(Boolean)) {
      const raw = englishTokens(en);
      const all = englishWords(en);
      if (raw.length && zh.length) rules.push({ en, raw, words: raw.map(stem), ...(all.length > raw.length ? { phrase: all.map(stem) } : {}), zh });
    }
  });
  return rules;
}

/** Traditional -> simplified characters, from CC-CEDICT's single-character entries (only where unambiguous). */
export function traditionalMap(entries: CedictEntry[]): Map<string, string> {
  const simplifiedChars = new Set<string>();
  const cand = new Map<string, Set<string>>();
  for (const e of entries) {
    if ([...e.simplified].length !== 1) continue;
    simplifiedChars.add(e.simplified);
    if (e.traditional !== e.simplified && [...e.traditional].length === 1) {
      let s = cand.get(e.traditional);
      if (!s) cand.set(e.traditional, (s = new Set()));
      s.add(e.simplified);
    }
  }
  const map = new Map<string, string>();
  for (const [t, ss] of cand) if (ss.size === 1 && !simplifiedChars.has(t)) map.set(t, [...ss][0]!);
  return map;
}

/** English number words before a unit ("seven days"), as digits. */
const NUMBERS: Record<string, number> = {
  one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10, fifteen: 15, twenty: 20, thirty: 30, sixty: 60, ninety: 90,
};
const NUMBER_WORD = new RegExp(`\\b(?:${Object.keys(NUMBERS).join('|')})\\b(?=\\s*(?:days?|years?|months?|times?)\\b)`, 'gi');

/** CC-CEDICT translations kept per term: the best, and one more only when it ranks the same. */
const MAX_PER_TERM = 2;
const HAN = /[\u3400-\u4dbf\u4e00-\u9fff]/;

/** The best translations of a sorted list: the first, and the next ones of the same rank (at most MAX_PER_TERM). */
function best(hits: Target[]): string[] {
  return hits.filter((t) => t.rank === hits[0]!.rank).slice(0, MAX_PER_TERM).map((t) => t.term);
}

/** "bao3 xian3" -> "bao xian" (tones and case dropped; ü as v or u: as CC-CEDICT writes it, "u:"). */
function toneless(pinyin: string): string {
  return pinyin.toLowerCase().replace(/[1-5]/g, '').replace(/\s+/g, ' ').trim();
}

/** Every reading of a run of characters (at most 16 combinations). */
function soundsOf(chars: string[], readings: Map<string, string[]>): string[] {
  let acc = [''];
  for (const c of chars) {
    const r = readings.get(c);
    if (!r) return [];
    acc = acc.flatMap((a) => r.map((x) => (a ? `${a} ${x}` : x))).slice(0, 16);
  }
  return acc;
}
const MAX_PHRASE = 4;

export class Bilingual {
  /** English key (stemmed words joined by a space) -> Chinese terms of the vocabulary, best first. */
  private readonly enToZh = new Map<string, Target[]>();
  /** Chinese word -> English words of the vocabulary, best first. */
  private readonly zhToEn = new Map<string, Target[]>();
  private readonly glossary: GlossaryRule[];
  /** The glossary's Chinese terms that have an English side in the index (found in a question as substrings). */
  private readonly glossaryZh = new Set<string>();
  /** Character -> its readings (toneless pinyin). */
  private readonly readings = new Map<string, string[]>();
  /** Toneless pinyin of a word -> the index's Chinese words that sound so. */
  private readonly bySound = new Map<string, string[]>();
  private readonly vocab: Set<string>;
  /** Pinyin typed without tones or spaces ("baoxian") -> the index's words that read so. */
  private readonly byPinyin = new Map<string, string[]>();
  /** Every syllable a character reads as. */
  private readonly syllables = new Set<string>();

  /**
   * @param vocabulary the index's words: Chinese words (jieba) and English stems; only these are produced.
   */
  constructor(entries: CedictEntry[], glossaryText: string, vocabulary: Iterable<string>, readonly t2s: Map<string, string> = traditionalMap(entries)) {
    const vocab = this.vocab = new Set(vocabulary);
    const put = (m: Map<string, Target[]>, key: string, term: string, rank: number) => {
      let l = m.get(key);
      if (!l) m.set(key, (l = []));
      const cur = l.find((x) => x.term === term);
      if (cur) cur.rank = Math.min(cur.rank, rank); else l.push({ term, rank });
    };
    // Chinese -> English needs every entry only when the index is mostly English words (a quarter or more);
    // English -> Chinese only the entries whose headword the index holds
    let latin = 0;
    for (const w of vocab) if (/^[a-z]/.test(w)) latin++;
    const english = latin * 4 >= vocab.size;
    for (const e of entries) {
      const zhIn = vocab.has(e.simplified) && [...e.simplified].length >= 2;
      if (!zhIn && !english) continue;
      const senses = e.senses.flatMap((s) => s.split(';'));
      senses.forEach((s, i) => {
        const all = senseAllWords(s);
        const raw = senseWords(s);
        if (!all || !raw || all.length > MAX_PHRASE) return;
        const key = raw.map(stem);
        // a phrase is matched word for word, its small words too ("take over"); a headword's first senses are its
        // main meanings, and a phrase is more specific than a word
        if (zhIn) put(this.enToZh, (all.length > 1 ? all.map(stem) : key).join(' '), e.simplified, i + (all.length > 1 ? 0 : 0.5));
        if (raw.length <= 2) raw.forEach((w, j) => { if (vocab.has(key[j]!)) put(this.zhToEn, e.simplified, w, i + raw.length - 1); });
      });
    }
    // the glossary: its Chinese side counts where the index has the term (whole, or as jieba cuts it), its English
    // side where the index has the word
    const all = parseGlossary(glossaryText);
    this.glossary = all.map((r) => ({ ...r, zh: r.zh.filter((z) => vocab.has(z) || segmentWords(z).every((w) => vocab.has(w))) })).filter((r) => r.zh.length);
    for (const r of all) {
      const en = r.raw.filter((w, j) => vocab.has(r.words[j]!));
      if (!en.length) continue;
      for (const z of r.zh) { this.glossaryZh.add(z); for (const w of en) put(this.zhToEn, z, w, -1); }
    }
    // sounds: every character's readings, and every Chinese word of the index by its reading
    const wordSound = new Map<string, string>();
    for (const e of entries) {
      if (!e.pinyin) continue;
      const sound = toneless(e.pinyin);
      const chars = [...e.simplified];
      if (chars.length === 1) { const r = this.readings.get(e.simplified) ?? []; if (!r.includes(sound)) this.readings.set(e.simplified, [...r, sound]); }
      else if (vocab.has(e.simplified) && !wordSound.has(e.simplified) && sound.split(' ').length === chars.length) wordSound.set(e.simplified, sound);
    }
    for (const w of vocab) {
      const chars = [...w];
      if (chars.length < 2 || chars.length > 4 || !chars.every((c) => HAN.test(c))) continue;
      const sound = wordSound.get(w) ?? (chars.every((c) => this.readings.has(c)) ? chars.map((c) => this.readings.get(c)![0]).join(' ') : null);
      if (!sound) continue;
      const l = this.bySound.get(sound) ?? [];
      l.push(w);
      this.bySound.set(sound, l);
    }
    for (const [sound, ws] of this.bySound) {
      const key = sound.replace(/ /g, '').replace(/u:/g, 'v');
      this.byPinyin.set(key, [...(this.byPinyin.get(key) ?? []), ...ws]);
    }
    for (const rs of this.readings.values()) for (const r of rs) this.syllables.add(r.replace(/u:/g, 'v'));
    for (const l of [...this.enToZh.values(), ...this.zhToEn.values()]) l.sort((a, b) => a.rank - b.rank || b.term.length - a.term.length || (a.term < b.term ? -1 : 1));
  }

  /** Traditional characters to simplified (characters without an unambiguous simplified form stay). */
  toSimplified(text: string): string {
    let out = '';
    for (const ch of text) out += this.t2s.get(ch) ?? ch;
    return out;
  }

  /**
   * Words of the index that a Chinese question probably meant where it wrote a homophone: where jieba's cut finds no
   * word (a run of single characters, or a word neither the index nor the general dictionary has), each 2-4 character
   * piece that is no word either is compared with the index's words of its length that read the same (any reading of
   * each character, tones ignored) and differ from it in exactly one character.
   */
  homophones(question: string): string[] {
    const out = new Set<string>();
    // where jieba found no word: stretches of single characters (a slip splits its word) and unknown words
    const stretches: string[][] = [];
    for (const run of question.match(/[\u3400-\u4dbf\u4e00-\u9fff]+/g) ?? []) {
      let cur: string[] = [];
      for (const w of getJieba().cut(run, false)) {
        const chars = [...w];
        if (chars.length === 1) { cur.push(w); continue; }
        if (cur.length >= 2) stretches.push(cur);
        cur = [];
        if (!this.vocab.has(w) && !isGeneralWord(w)) stretches.push(chars);
      }
      if (cur.length >= 2) stretches.push(cur);
    }
    for (const chars of stretches) {
      for (let n = 2; n <= Math.min(4, chars.length); n++) {
        for (let i = 0; i + n <= chars.length; i++) {
          const piece = chars.slice(i, i + n);
          const text = piece.join('');
          if (this.vocab.has(text) || isGeneralWord(text)) continue;
          for (const sound of soundsOf(piece, this.readings)) {
            for (const w of this.bySound.get(sound) ?? []) if ([...w].filter((c, j) => c !== piece[j]).length === 1) out.add(w);
          }
        }
      }
    }
    return [...out];
  }

  /** True when a Latin word reads as pinyin: one or more syllables ("baoxian", "gui"). */
  private isPinyin(word: string): boolean {
    const ok = new Array<boolean>(word.length + 1).fill(false);
    ok[0] = true;
    for (let i = 1; i <= word.length; i++) for (let j = Math.max(0, i - 6); j < i && !ok[i]; j++) ok[i] = ok[j]! && this.syllables.has(word.slice(j, i));
    return ok[word.length]!;
  }

  /**
   * Chinese typed as pinyin without tones ("baoxian hetong shenme shihou shengxiao"): when nearly every Latin word of
   * a stretch reads as pinyin, each word of two or more syllables that spells an index word becomes that word.
   */
  fromPinyin(question: string): string[] {
    const words = question.toLowerCase().match(/[a-z]+/g) ?? [];
    if (words.length < 2 || words.filter((w) => this.isPinyin(w)).length < 0.85 * words.length) return [];
    return [...new Set(words.flatMap((w) => (this.byPinyin.get(w) ?? []).slice(0, 3)))];
  }

  /**
   * Maps a question into the documents' language (`to`). A question already in it is returned in simplified
   * characters, with the words its homophone slips probably meant appended (Chinese).
   */
  map(question: string, to: Lang): Mapping {
    const q = this.toSimplified(question);
    const typed = this.fromPinyin(q);
    if (languageOf(q) === to || typed.length) {
      const sounds = to === 'zh' ? [...this.homophones(q), ...typed] : [];
      return { query: sounds.length ? `${q} ${sounds.join(' ')}` : q, terms: sounds.map((w) => ({ from: '', to: [w], source: 'homophone' as const })) };
    }
    return to === 'zh' ? this.toChinese(q) : this.toEnglish(q);
  }

  /** English -> Chinese terms: glossary phrases, then CC-CEDICT phrases and words; numbers keep their units. */
  toChinese(question: string): Mapping {
    const terms: MappedTerm[] = [];
    // "article 16" -> 第16条, "30 days" -> 30日 (the analyzer folds the digits into Chinese numerals)
    const text = question.replace(NUMBER_WORD, (w) => String(NUMBERS[w.toLowerCase()])).replace(/\barticles?\s+(\d{1,3})\b/gi, (_, n: string) => { terms.push({ from: `article ${n}`, to: [`第${n}条`], source: 'kept' }); return ' '; })
      .replace(/\b(\d{1,4})\s*(days?|years?|months?|times?|percent|%)/gi, (_, n: string, u: string) => {
        const unit = /^d/i.test(u) ? '日' : /^y/i.test(u) ? '年' : /^m/i.test(u) ? '个月' : /^t/i.test(u) ? '倍' : '%';
        terms.push({ from: `${n} ${u}`, to: [`${n}${unit}`], source: 'kept' });
        return ' ';
      });
    for (const m of text.match(/[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/g) ?? []) terms.push({ from: m, to: [m], source: 'kept' });
    const all = englishWords(text);
    const allStems = all.map(stem);
    const content = all.map((w, i) => i).filter((i) => !EN_QUESTION_STOP.has(all[i]!));
    const used = new Array<boolean>(all.length).fill(false);
    // 1. glossary, longest phrase first: a phrase with small words word for word, else over the content words, in order
    const rules = [...this.glossary].sort((a, b) => (b.phrase ?? b.words).length - (a.phrase ?? a.words).length);
    const every = all.map((_, i) => i);
    for (const r of rules) {
      const seq = r.phrase ?? r.words, over = r.phrase ? every : content;
      for (let i = 0; i + seq.length <= over.length; i++) {
        const at = over.slice(i, i + seq.length);
        if (seq.every((w, j) => allStems[at[j]!] === w && !used[at[j]!])) {
          for (const j of at) used[j] = true;
          terms.push({ from: at.map((j) => all[j]).join(' '), to: r.zh, source: 'glossary' });
        }
      }
    }
    // 2. CC-CEDICT: phrases of 4..2 words that are a whole sense (word for word), then single content words
    for (let n = MAX_PHRASE; n >= 2; n--) {
      for (let i = 0; i + n <= all.length; i++) {
        if (used.slice(i, i + n).some(Boolean) || !content.some((j) => j >= i && j < i + n)) continue;
        const hit = this.enToZh.get(allStems.slice(i, i + n).join(' '));
        if (!hit) continue;
        for (let j = i; j < i + n; j++) used[j] = true;
        terms.push({ from: all.slice(i, i + n).join(' '), to: best(hit), source: 'cedict' });
      }
    }
    for (const i of content) {
      if (used[i]) continue;
      const hit = this.enToZh.get(allStems[i]!);
      if (hit) terms.push({ from: all[i]!, to: best(hit), source: 'cedict' });
    }
    return { query: [...new Set(terms.flatMap((t) => t.to))].join(' '), terms };
  }

  /** Chinese -> English words: each segmented word's glossary or CC-CEDICT translations that the index holds. */
  toEnglish(question: string): Mapping {
    const terms: MappedTerm[] = [];
    for (const m of question.match(/[A-Za-z0-9][A-Za-z0-9'._-]*/g) ?? []) terms.push({ from: m, to: [m], source: 'kept' });
    const zh = question.replace(/[A-Za-z0-9'._-]+/g, ' ');
    for (const z of this.glossaryZh) if (zh.includes(z)) terms.push({ from: z, to: this.zhToEn.get(z)!.filter((t) => t.rank < 0).map((t) => t.term), source: 'glossary' });
    for (const w of segmentWords(zh)) {
      const hit = this.zhToEn.get(w);
      if (hit) terms.push({ from: w, to: best(hit), source: hit[0]!.rank < 0 ? 'glossary' : 'cedict' });
    }
    return { query: [...new Set(terms.flatMap((t) => t.to))].join(' '), terms };
  }
}
