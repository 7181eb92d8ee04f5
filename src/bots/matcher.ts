/**
 * Matching a user's question to a bot's knowledge: hybrid over two views of the same units —
 *   1. the pairs' questions and paraphrases (one BM25 document each, with the domain lexicon; best phrasing per unit),
 *   2. the knowledge base's own search (its chunks: BM25, plus dense vectors when the KB has an embedder),
 *   3. when the bot trained one (`config.retriever`, bot-retriever.ts), its retriever's cosine over every unit,
 * each list normalised by its best score and summed with weights, then grouped by source unit.
 * Owns the fusion and the match confidence (the share of the question's information, idf-weighted, found in the
 * best unit's pair phrasings or passage), which callers compare with the bot's threshold to fall back.
 * A question in the other language than the documents' (English about a Chinese statute, or the reverse), or in
 * traditional characters, is first understood: mapped into the documents' language by a translation the caller
 * gives (a model's), else by the bilingual dictionary (CC-CEDICT and the legal glossary, knowledge/text/bilingual.ts,
 * loaded on the first question), and both views are searched with the mapped query; a Chinese question also gets,
 * beside a word written with a homophone, the word of the index that sounds the same.
 * Guarantees: deterministic for a given index; every match names its unit (item, document, article number) and a
 * passage of that unit; a question with no indexable term matches nothing (confidence 0).
 */
import type { KbIndex, SearchResult } from '../knowledge/search.ts';
import { titleOf } from '../knowledge/search.ts';
import { LexicalIndex } from '../knowledge/index/lexical.ts';
import { analyze } from '../knowledge/text/analyzer.ts';
import type { Lexicon } from '../knowledge/text/lexicon.ts';
import type { Chunk } from '../knowledge/knowledge-types.ts';
import { languageOf, type Bilingual, type Lang, type MappedTerm } from '../knowledge/text/bilingual.ts';
import { bilingualFor } from '../knowledge/text/cedict.ts';
import type { QaPair } from './bot-types.ts';
import { dot, type Embedder } from '../knowledge/embed.ts';
import { unitPassages } from '../knowledge/retriever.ts';


/** A question as the matcher searches it: the text in the documents' language and how it got there. */
export interface Understood {
  /** The question's language and the documents'. */
  lang: Lang;
  docLang: Lang;
  /** What is searched: the question itself, or its mapping into the documents' language. */
  query: string;
  by: 'none' | 'dictionary' | 'model';
  /** The dictionary's term mapping (source words -> the terms searched). */
  terms?: MappedTerm[];
}

export interface Match {
  itemId: string;
  docId: string;
  docTitle: string;
  chunkId: string;
  number?: number;
  label: string;
  /** The passage to cite: the unit's parent chunk (whole article when short enough). */
  passage: string;
  score: number;
  /** 0..1, see the file comment. */
  confidence: number;
  pair: { id: string; question: string; answer: string } | null;
}

/**
 * The retriever's list: its cosine over every unit, normalised to 0..1 between the unit ranked RETRIEVER_RECALL and
 * the best (units below get 0). The weight was chosen on the tune half of the independent insurance question set.
 */
export const RETRIEVER_WEIGHT = 0.1;
export const RETRIEVER_RECALL = 20;

/**
 * Weights of the normalised lists: rule-derived pairs, pairs written by a model or a person, the knowledge search,
 * and the bot's trained retriever (when it has one).
 */
export interface MatchWeights { pairs: number; curatedPairs?: number; knowledge: number; retriever?: number }
/** Measured on the dev half of the Insurance-Law question set (test/bots/insurance-questions.json). */
export const DEFAULT_MATCH_WEIGHTS: MatchWeights = { pairs: 0.15, curatedPairs: 1, knowledge: 1, retriever: RETRIEVER_WEIGHT };

interface PairDoc { pair: QaPair; text: string }

const DEFINITION_CUE = /什么是|是什么|什么叫|叫什么|定义|指什么|是指|指的是|什么意思/;
const DEFINITION_BOOST = 0.5;
/** Question-type cues: a rule pair of this kind matches the question's type. */
const KIND_CUES: Record<string, RegExp> = { time: /多久|多长时间|几天|几年|期限|时效|多少天/, penalty: /罚|处罚|处分|法律责任|吊销/ };
const KIND_CUES_EN: Record<string, RegExp> = {
  time: /\bhow (?:long|soon)\b|\bhow many (?:days|months|years)\b|\bdeadline\b|\btime limit\b|\bwithin\b/i,
  penalty: /\bfined?\b|\bfines\b|\bpenalt|\bpunish|\bsanction|\brevok/i,
};

export class BotMatcher {
  private readonly pairIndex: LexicalIndex;
  private readonly docs: PairDoc[] = [];
  /** itemId -> the unit's first parent chunk (for units reached through pairs only). */
  private readonly unitChunk = new Map<string, Chunk>();
  /** defined term -> the unit defining it (from the definition pairs). */
  private readonly definitions = new Map<string, string>();
  private bilingualDict: Promise<Bilingual> | null = null;
  /** The retriever's unit vectors, embedded on the first question. */
  private unitVectors: Promise<{ ids: string[]; data: Float32Array }> | null = null;
  /** The documents' language (from the text of their chunks). */
  readonly docLang: Lang;

  constructor(readonly kb: KbIndex, pairs: QaPair[], private readonly lexicon: Lexicon | null, readonly weights: MatchWeights = DEFAULT_MATCH_WEIGHTS, readonly retriever: Embedder | null = null) {
    this.pairIndex = new LexicalIndex(lexicon);
    for (const p of pairs) {
      for (const text of [p.question, ...p.paraphrases]) {
        this.docs.push({ pair: p, text });
        this.pairIndex.add({ text, title: p.source.label });
      }
    }
    this.pairIndex.finalize();
    for (const p of pairs) {
      const m = p.kind === 'definition' ? /^什么是(.{2,12})？$/.exec(p.question) : null;
      if (m && !this.definitions.has(m[1]!)) this.definitions.set(m[1]!, p.source.itemId);
    }
    for (const c of kb.parents.values()) if (!this.unitChunk.has(c.itemId)) this.unitChunk.set(c.itemId, c);
    for (const c of kb.children) if (!this.unitChunk.has(c.itemId)) this.unitChunk.set(c.itemId, c);
    this.docLang = languageOf(kb.children.slice(0, 200).map((c) => c.text.slice(0, 300)).join('\n'));
  }

  /**
   * The bilingual dictionary over this bot's words (the knowledge base's, the pairs' and the lexicon's, whose rules
   * expand a colloquial word into the statute's), built once.
   */
  bilingual(): Promise<Bilingual> {
    const words = () => new Set([...this.kb.lexical.vocabulary(), ...this.pairIndex.vocabulary(), ...(this.lexicon?.userWords ?? [])]);
    this.bilingualDict ??= bilingualFor(words());
    const p = this.bilingualDict;
    p.catch(() => { if (this.bilingualDict === p) this.bilingualDict = null; });
    return p;
  }

  /**
   * The question in the documents' language: as asked when it is in that language (traditional characters
   * converted), else `translated` when the caller has a translation (a model's), else the dictionary's mapping.
   */
  async understand(question: string, translated?: string): Promise<Understood> {
    const lang = languageOf(question);
    const base = { lang, docLang: this.docLang };
    if (lang !== this.docLang && translated?.trim()) return { ...base, query: translated, by: 'model' };
    const bi = await this.bilingual();
    // traditional characters read as simplified, a word written with a homophone gets the index's word beside it;
    // a question in the other language is mapped term by term
    const m = bi.map(question, this.docLang);
    return { ...base, query: m.query, by: m.query !== question ? 'dictionary' : 'none', ...(m.terms.length ? { terms: m.terms } : {}) };
  }

  get pairDocs(): number { return this.docs.length; }

  /** Share of the question's information found in `text` (idf-weighted words of the question, lexicon included). */
  private coverage(question: string, text: string): number {
    const terms = this.pairIndex.queryTerms(question).filter((t) => t.field === 'words');
    const have = new Set(analyze(text).words);
    let total = 0, got = 0;
    const maxIdf = Math.max(this.pairIndex.maxIdf(), this.kb.lexical.maxIdf());
    for (const t of terms) {
      const idf = this.kb.lexical.idf(t.term) || this.pairIndex.idf(t.term) || maxIdf;
      const original = t.weight >= this.pairIndex.weights.words;
      if (original) total += idf;
      if (have.has(t.term)) got += original ? idf : idf * 0.6;
    }
    return total ? Math.min(1, got / total) : 0;
  }

  /** The retriever's scores of the units for a question: normalised cosine (see RETRIEVER_WEIGHT), best first. */
  private async retrieverScores(question: string): Promise<{ itemId: string; score: number }[]> {
    if (!this.retriever) return [];
    const r = this.retriever;
    this.unitVectors ??= (async () => {
      const units = unitPassages(this.kb);
      const vs = await r.embed(units.map((u) => `${u.title}\n${u.text}`));
      const data = new Float32Array(units.length * r.dims);
      vs.forEach((v, i) => data.set(v, i * r.dims));
      return { ids: units.map((u) => u.itemId), data };
    })();
    const { ids, data } = await this.unitVectors;
    const [q] = await r.embed([question]);
    const cos = ids.map((itemId, i) => ({ itemId, score: dot(q!, data, i * r.dims) })).sort((a, b) => b.score - a.score);
    const top = cos[0]?.score ?? 0, floor = cos[Math.min(cos.length - 1, RETRIEVER_RECALL)]?.score ?? 0;
    if (!(top > floor)) return [];
    return cos.slice(0, RETRIEVER_RECALL).map((c) => ({ itemId: c.itemId, score: (c.score - floor) / (top - floor) }));
  }

  /** The k best units for a question (understood first unless the caller did: see `understand`). */
  async match(asked: string, k = 5, understood?: Understood): Promise<Match[]> {
    const question = (understood ?? await this.understand(asked)).query;
    const recall = 40;
    const kbRes = (await this.kb.search(question, { k: recall, recall: 80 })).results;
    const pairHits = this.docs.length ? this.pairIndex.search(question, recall * 4) : [];
    const units = new Map<string, { kb?: SearchResult; kbScore: number; pair?: PairDoc; pairScore: number; retrieverScore?: number; boost?: number }>();
    const kbTop = kbRes[0]?.score ?? 0;
    for (const r of kbRes) {
      const u = units.get(r.itemId) ?? { kbScore: 0, pairScore: 0 };
      if (!u.kb) { u.kb = r; u.kbScore = kbTop > 0 ? r.score / kbTop : 0; }
      units.set(r.itemId, u);
    }
    const pairTop = pairHits[0]?.score ?? 0;
    const cued = new Set(Object.entries(KIND_CUES).filter(([k, re]) => re.test(question) || KIND_CUES_EN[k]!.test(asked)).map(([k]) => k));
    for (const h of pairHits) {
      const d = this.docs[h.doc]!;
      const u = units.get(d.pair.source.itemId) ?? { kbScore: 0, pairScore: 0 };
      // A rule pair counts fully when its kind is the kind of question asked (a time limit, a penalty), else a little.
      const fits = d.pair.origin !== 'rules' || cued.has(d.pair.kind);
      const s = (pairTop > 0 ? h.score / pairTop : 0) * (fits ? this.weights.curatedPairs ?? 1 : this.weights.pairs);
      if (!u.pair || s > u.pairScore) { u.pair = d; u.pairScore = s; }
      units.set(d.pair.source.itemId, u);
    }
    // the trained retriever's list
    for (const r of await this.retrieverScores(question)) {
      const u = units.get(r.itemId) ?? { kbScore: 0, pairScore: 0 };
      u.retrieverScore = r.score;
      units.set(r.itemId, u);
    }
    // defined terms: "什么是X" / "X是什么" -> the unit that defines the longest X the question names
    if (DEFINITION_CUE.test(question)) {
      let best: { len: number; itemId: string } | null = null;
      for (const [term, itemId] of this.definitions) if (question.includes(term) && (!best || term.length > best.len)) best = { len: term.length, itemId };
      if (best) { const u = units.get(best.itemId) ?? { kbScore: 0, pairScore: 0 }; u.boost = DEFINITION_BOOST; units.set(best.itemId, u); }
    }
    const w = this.weights;
    const ranked = [...units].map(([itemId, u]) => ({ itemId, u, score: w.knowledge * u.kbScore + u.pairScore + (w.retriever ?? 0) * (u.retrieverScore ?? 0) + (u.boost ?? 0) }))
      .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1)).slice(0, k);
    return ranked.map(({ itemId, u, score }) => {
      const chunk = this.unitChunk.get(itemId);
      const passage = u.kb ? (u.kb.context.length <= 1200 ? u.kb.context : u.kb.text) : chunk?.text ?? u.pair!.pair.answer;
      const src = u.pair?.pair.source;
      const label = u.kb?.label ?? chunk?.label ?? src?.label ?? '';
      const confidence = Math.max(
        u.kb ? this.coverage(question, `${titleOf(u.kb)}\n${u.kb.text}`) : 0,
        u.pair ? this.coverage(question, u.pair.text) : 0,
        // a unit only the retriever found: the question's share in its passage
        !u.kb && !u.pair && u.retrieverScore !== undefined && chunk ? this.coverage(question, `${titleOf(chunk)}\n${chunk.text}`) : 0,
      );
      return {
        itemId, docId: u.kb?.docId ?? chunk?.docId ?? src!.docId, docTitle: u.kb?.docTitle ?? chunk?.docTitle ?? src!.docTitle,
        chunkId: u.kb?.chunkId ?? chunk?.id ?? src?.chunkId ?? itemId, number: u.kb?.number ?? chunk?.number ?? src?.number, label, passage,
        score, confidence, pair: u.pair ? { id: u.pair.pair.id, question: u.pair.text, answer: u.pair.pair.answer } : null,
      };
    });
  }
}
