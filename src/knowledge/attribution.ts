/**
 * Attribution check: "which passage supports this sentence?". Owns sentence splitting (Chinese and English
 * punctuation, citation markers [n] kept with their sentence), the support score of a sentence against a passage
 * and the flagging of unsupported sentences. Support is, per passage:
 *   - lexical: idf-weighted recall of the sentence's words (jieba precise mode, idf from jieba's table) blended with
 *     the recall of its character bigrams;
 *   - facts: every quantity in the sentence (numbers with a unit: 七日, 三倍, 500元, 2020年) must occur in the
 *     passage, otherwise the score is cut (a changed number is the commonest hallucination);
 *   - modality: a restrictive or negated phrase (只能, 不能, 无权, 必须) the passage lacks lowers the score;
 *   - semantic (when a semantic embedder is given): cosine similarity, blended in;
 *   - a judge model (when given) replaces the heuristic score for the sentence's best passages.
 * The sentence's support is its best passage's score; it is flagged when below the threshold. Guarantees: every
 * sentence of the input appears once in the output with its character span; passages cited by [n] in a sentence are
 * reported as cited, and `citationOk` says whether the best support is among them.
 */
import { idf as jiebaIdfTable } from '@node-rs/jieba/dict.js';
import { analyze, normalizeForIndex, segmentWords } from './text/analyzer.ts';
import { dot, type Embedder } from './embed.ts';


export interface Passage {
  id: string;
  text: string;
  /** The citation number used in the answer ([n]), when there is one. */
  ref?: number;
  label?: string;
}

export interface Sentence { text: string; start: number; end: number; citations: number[] }

/** Judges whether passages support a sentence: 0 (not at all) .. 1 (fully). */
export interface SupportJudge {
  readonly name: string;
  judge(sentence: string, passages: Passage[]): Promise<number>;
}

export interface AttributionOptions {
  /** Support below this flags the sentence (default DEFAULT_SUPPORT_THRESHOLD). */
  threshold?: number;
  embedder?: Embedder;
  judge?: SupportJudge;
  /** How many of the best passages the judge sees (default 3). */
  judgeTop?: number;
}

export interface SentenceSupport {
  passageId: string;
  ref?: number;
  label?: string;
  score: number;
  lexical: number;
  semantic?: number;
  /** Quantities of the sentence missing from this passage. */
  missingFacts: string[];
}

export interface SentenceAttribution extends Sentence {
  support: number;
  supported: boolean;
  /** Passages ordered by score (best first, at most 3). */
  sources: SentenceSupport[];
  /** False when the sentence cites passages but its best support is elsewhere. */
  citationOk: boolean;
  /** True when the sentence has too little content to check (headings, "以下是答案："). */
  skipped: boolean;
  method: 'lexical' | 'lexical+semantic' | 'judge';
}

export interface AttributionReport {
  sentences: SentenceAttribution[];
  unsupported: number;
  threshold: number;
}

export const DEFAULT_SUPPORT_THRESHOLD = 0.55;

const CITE = /\[(\d{1,3})\]/g;

/** Splits text into sentences at 。！？；!? and newlines, and at ". " in English; [n] markers stay with the sentence before them. */
export function splitSentences(text: string): Sentence[] {
  const out: Sentence[] = [];
  let start = 0;
  const push = (end: number) => {
    // Pull following citation markers and closing quotes into this sentence.
    let e = end;
    for (;;) {
      const m = /^\s*(\[\d{1,3}\]|[”’」』)）])/.exec(text.slice(e));
      if (!m) break;
      e += m[0].length;
    }
    const raw = text.slice(start, e);
    const lead = raw.length - raw.trimStart().length;
    const body = raw.trim();
    if (body) {
      const citations = [...body.matchAll(CITE)].map((m) => Number(m[1]));
      out.push({ text: body, start: start + lead, end: start + lead + body.length, citations });
    }
    start = e;
    return e;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if ('。！？；!?\n'.includes(ch) || ((ch === '：' || ch === ':') && text[i + 1] === '\n') || (ch === '.' && (i + 1 === text.length || /\s/.test(text[i + 1]!)) && !/\d$/.test(text.slice(0, i)))) {
      i = push(i + 1) - 1;
    }
  }
  push(text.length);
  return out.filter((s) => s.text.replace(CITE, '').trim() !== '');
}

let idfTable: Map<string, number> | null = null;
let idfDefault = 10;
function wordIdf(w: string): number {
  if (!idfTable) {
    idfTable = new Map();
    const vals: number[] = [];
    for (const line of Buffer.from(jiebaIdfTable).toString('utf8').split('\n')) {
      const sp = line.lastIndexOf(' ');
      if (sp > 0) { const v = Number(line.slice(sp + 1)); idfTable.set(line.slice(0, sp), v); vals.push(v); }
    }
    vals.sort((a, b) => a - b);
    idfDefault = vals[Math.floor(vals.length / 2)] ?? 10;
  }
  return idfTable.get(w) ?? (/^[a-z0-9]+$/.test(w) ? 8 : idfDefault);
}

const MODAL = /只能|仅能|仅限|不能|不可以|无权|禁止|必须|不需要|无需/g;

const QUANTITY = /(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万]+)(?:个工作日|个月|小时|日|天|倍|元|年|月|周|岁|条|%|％|次|件|项|分钟)/g;

/** Quantities in text, normalised so 7天 and 七日 compare equal. */
export function quantities(text: string): string[] {
  const norm = normalizeForIndex(text).replace(/天/g, '日');
  return [...new Set([...norm.matchAll(QUANTITY)].map((m) => m[0].replace(/^两/, '二')))];
}

interface Prepared { words: string[]; bigrams: Set<string>; text: string; quantities: string[] }

function prepare(text: string): Prepared {
  const clean = text.replace(CITE, '');
  return { words: [...new Set(segmentWords(clean))], bigrams: new Set(analyze(clean).bigrams), text: normalizeForIndex(clean).replace(/天/g, '日'), quantities: quantities(clean) };
}

/** Lexical support of a sentence by a passage (0..1) and the sentence's quantities the passage lacks. */
export function lexicalSupport(s: Prepared, p: Prepared & { wordSet?: Set<string> }): { score: number; missingFacts: string[] } {
  const pw = p.wordSet ?? new Set(p.words);
  let num = 0, den = 0;
  for (const w of s.words) {
    const idf = wordIdf(w);
    den += idf;
    if (pw.has(w) || (w.length > 1 && p.text.includes(w))) num += idf;
  }
  const wr = den ? num / den : 0;
  let bh = 0;
  for (const b of s.bigrams) if (p.bigrams.has(b)) bh++;
  const br = s.bigrams.size ? bh / s.bigrams.size : wr;
  let score = 0.6 * wr + 0.4 * br;
  const missingFacts = s.quantities.filter((q) => !p.text.includes(q));
  if (missingFacts.length) score *= 0.4;
  // Modality: a restrictive or negated claim ("只能", "不能", "无权") the passage never makes.
  for (const m of s.text.match(MODAL) ?? []) if (!p.text.includes(m)) { score *= 0.75; break; }
  return { score, missingFacts };
}

/** Checks every sentence of `text` against the passages. */
export async function attribute(text: string, passages: Passage[], o: AttributionOptions = {}): Promise<AttributionReport> {
  const threshold = o.threshold ?? DEFAULT_SUPPORT_THRESHOLD;
  const sentences = splitSentences(text);
  const prepared = passages.map((p) => { const x = prepare(p.text); return { ...x, wordSet: new Set(x.words) }; });
  const semantic = o.embedder?.semantic ? o.embedder : undefined;
  let pVecs: Float32Array[] = [];
  let sVecs: Float32Array[] = [];
  if (semantic && passages.length) {
    pVecs = await semantic.embed(passages.map((p) => p.text));
    sVecs = await semantic.embed(sentences.map((s) => s.text.replace(CITE, '')));
  }
  const out: SentenceAttribution[] = [];
  for (let si = 0; si < sentences.length; si++) {
    const s = sentences[si]!;
    const sp = prepare(s.text);
    // Too little to check, or a lead-in that announces what follows ("根据资料：", "In short:").
    const skipped = (sp.words.length < 2 && sp.bigrams.size < 4) || (/[:：]$/.test(s.text) && s.text.length <= 24);
    const scored: SentenceSupport[] = passages.map((p, pi) => {
      const lex = lexicalSupport(sp, prepared[pi]!);
      let score = lex.score;
      let sem: number | undefined;
      if (semantic) {
        sem = dot(sVecs[si]!, pVecs[pi]!);
        // Cosine of unrelated text is rarely below ~0.2 for embedding models: rescale [0.2, 0.9] -> [0, 1].
        const semScaled = Math.min(1, Math.max(0, (sem - 0.2) / 0.7));
        score = 0.6 * lex.score + 0.4 * semScaled * (lex.missingFacts.length ? 0.4 : 1);
      }
      return { passageId: p.id, ref: p.ref, label: p.label, score, lexical: lex.score, semantic: sem, missingFacts: lex.missingFacts };
    }).sort((a, b) => b.score - a.score);
    let support = scored[0]?.score ?? 0;
    let method: SentenceAttribution['method'] = semantic ? 'lexical+semantic' : 'lexical';
    if (o.judge && !skipped && scored.length) {
      const top = scored.slice(0, o.judgeTop ?? 3).map((x) => passages.find((p) => p.id === x.passageId)!);
      support = await o.judge.judge(s.text.replace(CITE, ''), top);
      method = 'judge';
    }
    const cited = new Set(s.citations);
    const best = scored[0];
    out.push({
      ...s, support, supported: skipped || support >= threshold, sources: scored.slice(0, 3),
      citationOk: cited.size === 0 || (best !== undefined && best.ref !== undefined && cited.has(best.ref)) || scored.some((x) => x.ref !== undefined && cited.has(x.ref) && x.score >= threshold),
      skipped, method,
    });
  }
  return { sentences: out, unsupported: out.filter((x) => !x.supported).length, threshold };
}
