/**
 * Text analysis for the lexical index: text -> terms, the same way for documents and queries. Owns Chinese word
 * segmentation (jieba through @node-rs/jieba in search mode, its dictionary shipped in the package, plus the user
 * dictionary of domain terms), Chinese character bigrams (catch what segmentation splits differently), English
 * lower-casing, stop words and Porter stemming (`stemmer`), and Arabic-number folding (7天 -> 七天, 3倍 -> 三倍) so
 * that queries typed with digits meet statutes written in Chinese numerals. Guarantees: deterministic; no I/O after
 * the first call (jieba's dictionary is loaded once per process); stop words never become terms.
 */
import { Jieba } from '@node-rs/jieba';
import { dict } from '@node-rs/jieba/dict.js';
import { stemmer } from 'stemmer';
import { toHalfWidth } from '../ingest/normalize.ts';
import { toChineseNumeral } from '../../util/chinese-numerals.ts';

let jieba: Jieba | null = null;
const userWords = new Set<string>();

/** The process's jieba instance, with the default dictionary and every user word added so far. */
export function getJieba(): Jieba {
  if (!jieba) {
    jieba = Jieba.withDict(dict);
    if (userWords.size) jieba.loadDict(Buffer.from([...userWords].map((w) => `${w} 2000 n`).join('\n')));
  }
  return jieba;
}

/** Adds domain terms to the segmenter's dictionary (jieba user-dictionary lines: "word [freq] [tag]"). */
export function addUserWords(words: Iterable<string>): void {
  const fresh = [...words].filter((w) => w && !userWords.has(w));
  if (!fresh.length) return;
  for (const w of fresh) userWords.add(w);
  if (jieba) jieba.loadDict(Buffer.from(fresh.map((w) => `${w} 2000 n`).join('\n')));
}

export const ZH_STOP = new Set((
  '的 了 吗 呢 吧 啊 呀 嘛 么 哦 是 我 我们 你 你们 他 她 它 他们 在 和 与 或 或者 及 以及 有 能 能不能 可以 可不可以 怎么 怎么办 怎样 ' +
  '如何 什么 哪些 哪个 哪 谁 会 要 应该 应当 这 那 这个 那个 这种 那种 就 都 也 还 被 把 给 让 对 一个 请问 想 一下 如果 但是 但 因为 ' +
  '所以 是否 其 之 等 着 过 个 吗 啥 咋 么样 没 不 得 地 为 上 下 中 后 前 时 时候 里 人家 自己 ' +
  '本法 规定 有关 依照 按照 法律 法规 的话 呢 一般 到底 现在 已经 然后 结果 怎么样 多少'
).split(/\s+/));

export const EN_STOP = new Set((
  'a an the and or of to in on at for from by with is are was were be been being it its this that these those as ' +
  'do does did can could should would will shall may might must i me my we our you your he she they them their ' +
  'what which who whom how when where why if then than so not no but about into over under there here'
).split(/\s+/));

const CJK = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/;
/** Runs of CJK, of Latin letters/digits, each kept separate; punctuation and spaces end runs. */
const RUN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9][a-z0-9'._-]*[a-z0-9]|[a-z0-9]/g;

/** Lower-case, half-width, digits before Chinese units written as Chinese numerals. */
export function normalizeForIndex(text: string): string {
  return toHalfWidth(text).toLowerCase()
    .replace(/(\d{1,4})(?=\s*(?:天|日|倍|元|个月|月|年|条|章|节|岁|小时|个工作日|种|项|次|件))/g, (d) => toChineseNumeral(Number(d)));
}

export interface AnalyzedText {
  /** Words: jieba search-mode segments of CJK runs (stop words removed) and stemmed English words. */
  words: string[];
  /** Character bigrams of CJK runs (single characters for one-character runs). */
  bigrams: string[];
}

/** Analyzes text for indexing or querying. */
export function analyze(text: string): AnalyzedText {
  const norm = normalizeForIndex(text);
  const words: string[] = [];
  const bigrams: string[] = [];
  const j = getJieba();
  for (const m of norm.matchAll(RUN)) {
    const run = m[0];
    if (CJK.test(run[0]!)) {
      for (const w of j.cutForSearch(run, true)) if (!ZH_STOP.has(w)) words.push(w);
      if (run.length === 1) { if (!ZH_STOP.has(run)) bigrams.push(run); } else for (let i = 0; i + 1 < run.length; i++) bigrams.push(run.slice(i, i + 2));
    } else {
      for (const raw of run.split(/['._-]+/)) {
        if (!raw || EN_STOP.has(raw)) continue;
        words.push(/^\d+$/.test(raw) ? raw : stemmer(raw));
      }
    }
  }
  return { words, bigrams };
}

/** Plain segmentation (precise mode), for sentence-level overlap in attribution and for display. */
export function segmentWords(text: string): string[] {
  const norm = normalizeForIndex(text);
  const out: string[] = [];
  const j = getJieba();
  for (const m of norm.matchAll(RUN)) {
    const run = m[0];
    if (CJK.test(run[0]!)) { for (const w of j.cut(run, true)) if (!ZH_STOP.has(w)) out.push(w); }
    else for (const raw of run.split(/['._-]+/)) if (raw && !EN_STOP.has(raw)) out.push(/^\d+$/.test(raw) ? raw : stemmer(raw));
  }
  return out;
}
