/**
 * General Chinese vocabulary: jieba's own dictionary (about 349,000 words with a corpus frequency and a part-of-speech
 * tag) and its idf table, both shipped inside @node-rs/jieba (dict.txt, idf.txt) and independent of any domain or
 * question set. Owns the two questions other modules ask of general language: is this a word people use at all
 * (`isGeneralWord`, the "general list" a domain lexicon may draw on besides its documents), and is it an everyday
 * word rather than a term a document is about (`termKind`: verbs, pronouns, function words and very common nouns
 * are everyday words). Guarantees: read once per process, lazily; pure lookups after that.
 */
import { dict, idf } from '@node-rs/jieba/dict.js';

export interface VocabularyEntry { freq: number; tag: string }

/** word -> "freq tag" as written in dict.txt (parsed on lookup: building 349,000 objects at start costs seconds). */
let words: Map<string, string> | null = null;
let idfs: Map<string, string> | null = null;

/** "word rest\n" lines -> word -> rest, by indexOf (a split per line is several times slower). */
function index(text: string): Map<string, string> {
  const m = new Map<string, string>();
  let i = 0;
  while (i < text.length) {
    let end = text.indexOf('\n', i);
    if (end < 0) end = text.length;
    const sp = text.indexOf(' ', i);
    if (sp > i && sp < end) m.set(text.slice(i, sp), text.slice(sp + 1, end));
    i = end + 1;
  }
  return m;
}

function load(): void {
  if (words) return;
  words = index(new TextDecoder().decode(dict));
  idfs = index(new TextDecoder().decode(idf));
}

/** jieba's dictionary entry of a word, or null when the general dictionary does not hold it. */
export function generalEntry(word: string): VocabularyEntry | null {
  load();
  const rest = words!.get(word);
  if (rest === undefined) return null;
  const [f, tag] = rest.trim().split(/\s+/);
  return { freq: Number(f) || 0, tag: tag ?? '' };
}

/** True when jieba's general dictionary holds the word. */
export function isGeneralWord(word: string): boolean {
  load();
  return words!.has(word);
}

/** The word's idf in jieba's general corpus (higher = rarer); null when not listed. */
export function generalIdf(word: string): number | null {
  load();
  const v = idfs!.get(word);
  return v === undefined ? null : Number(v);
}

/** General idf below which a noun is an everyday word (国家 4.0, 工作 4.2, 会议 5.0, 意见 5.9; 当事人 7.3). */
export const EVERYDAY_IDF = 6;

const TAG_NAMES: Record<string, string> = {
  v: 'a verb', vd: 'a verb', vi: 'a verb', vg: 'a verb', a: 'an adjective', ad: 'an adjective', an: 'an adjective', ag: 'an adjective',
  r: 'a pronoun', rr: 'a pronoun', rz: 'a pronoun', d: 'an adverb', dg: 'an adverb', p: 'a preposition', c: 'a conjunction',
  u: 'a particle', ug: 'a particle', uj: 'a particle', ul: 'a particle', uv: 'a particle', uz: 'a particle', y: 'a particle',
  m: 'a numeral', mq: 'a numeral', q: 'a measure word', f: 'a direction word', t: 'a time word', tg: 'a time word', e: 'an interjection', o: 'an onomatopoeia',
};
/** Function characters a segmentation fragment starts with (因购买, 未作): no term starts so. */
const FRAGMENT_START = /^[因未于对在被将由向与和及或其之所以为不并而且从把使]/;

/**
 * Whether a word can be what a passage is about: null for a term (a noun, an idiom or fixed phrase, an
 * abbreviation, a domain word the caller knows), else why not ("a verb", "an everyday word", "not a word").
 */
export function termKind(word: string, domainWords?: ReadonlySet<string>): string | null {
  if (domainWords?.has(word)) return null;
  const e = generalEntry(word);
  if (!e) return FRAGMENT_START.test(word) || word.length < 2 ? 'not a word (a fragment the segmenter made)' : null;
  // "因购买" is in the dictionary as a phrase, but it is a function character before a word
  if (word.length >= 3 && FRAGMENT_START.test(word) && generalEntry(word.slice(1))) return 'not a word (a fragment the segmenter made)';
  const tag = e.tag;
  if (TAG_NAMES[tag]) return TAG_NAMES[tag]!;
  const g = generalIdf(word);
  if (tag === 'vn' && (g ?? 99) < 7) return 'an everyday word';
  if (!/^(n|nr|ns|nt|nz|nrt|nrfg|ng|l|i|j|vn)$/.test(tag)) return `not a noun (${tag})`;
  if (g !== null && g < EVERYDAY_IDF) return 'an everyday word';
  return null;
}
