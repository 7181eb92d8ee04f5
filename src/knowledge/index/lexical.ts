/**
 * The lexical retriever: chunks -> a three-field BM25 index (body words from jieba search mode + English stems;
 * body character bigrams; title = unit label, heading path, tags) and queries -> weighted field terms with
 * domain-lexicon expansion and intent cues. Owns the query weighting; the index itself is bm25.ts. Guarantees: the
 * same analyzer for documents and queries; a query with no indexable term returns no hits (never everything).
 */
import { Bm25Index, type Hit, type QueryTerm } from './bm25.ts';
import { analyze, addUserWords } from '../text/analyzer.ts';
import type { Lexicon } from '../text/lexicon.ts';

export interface LexicalDoc { text: string; title: string }

export interface LexicalWeights {
  words: number;
  bigrams: number;
  title: number;
  /** Weight of terms that come from lexicon expansion, relative to the original ones. */
  expansion: number;
  /** Weight of an intent target's words in the title field. */
  intent: number;
}

export const DEFAULT_LEXICAL_WEIGHTS: LexicalWeights = { words: 1, bigrams: 0.35, title: 0.6, expansion: 0.6, intent: 1.2 };

export class LexicalIndex {
  private readonly index = new Bm25Index([
    { name: 'words', k1: 1.2, b: 0.75 },
    { name: 'bigrams', k1: 1.2, b: 0.75 },
    { name: 'title', k1: 1.2, b: 0.3 },
  ]);

  constructor(private readonly lexicon: Lexicon | null = null, public weights: LexicalWeights = DEFAULT_LEXICAL_WEIGHTS) {
    if (lexicon) addUserWords(lexicon.userWords);
  }

  get size(): number { return this.index.size; }

  add(doc: LexicalDoc): number {
    const body = analyze(doc.text);
    const title = analyze(doc.title);
    return this.index.add({ words: body.words, bigrams: body.bigrams, title: [...title.words] });
  }

  finalize(): this { this.index.finalize(); return this; }

  /** idf of a body word (0 when the word is not indexed). */
  idf(term: string): number { return this.index.idf('words', term); }

  /** Every body word the index holds (jieba words and English stems). */
  vocabulary(): IterableIterator<string> { return this.index.terms('words'); }

  /** The idf of a word found in one document only (the most specific a word can be here). */
  maxIdf(): number { const n = this.index.size; return Math.log(1 + (n - 1 + 0.5) / 1.5); }

  /** The weighted query terms for a query (exposed for explanation and tests). */
  queryTerms(query: string): QueryTerm[] {
    const w = this.weights;
    const terms = new Map<string, QueryTerm>();
    const put = (field: string, term: string, weight: number) => {
      const key = `${field}\u0000${term}`;
      const cur = terms.get(key);
      if (!cur) terms.set(key, { field, term, weight });
      else cur.weight = Math.max(cur.weight, weight);
    };
    const a = analyze(query);
    for (const t of a.words) { put('words', t, w.words); put('title', t, w.title); }
    for (const t of a.bigrams) put('bigrams', t, w.bigrams);
    if (this.lexicon) {
      for (const phrase of this.lexicon.expand(query, a.words)) {
        const e = analyze(phrase);
        for (const t of e.words) { put('words', t, w.words * w.expansion); put('title', t, w.title * w.expansion); }
        for (const t of e.bigrams) put('bigrams', t, w.bigrams * w.expansion);
      }
      for (const target of this.lexicon.intentTargets(query)) for (const t of analyze(target).words) put('title', t, w.intent);
    }
    return [...terms.values()];
  }

  search(query: string, k: number, allow?: Uint8Array): Hit[] {
    const q = this.queryTerms(query);
    return q.length ? this.index.search(q, k, allow) : [];
  }
}
