/**
 * Search over one knowledge base's chunks. Owns `KbIndex` (the lexical index, the optional vector index and the
 * chunk tables of one rebuild) and the retrieval pipeline, one named step each:
 *   1. filter   metadata filters -> a per-child mask (tags, meta equality, documents, heading path)
 *   2. recall   lexical BM25 top-N and, when an embedder is configured, dense top-N (exact or HNSW)
 *   3. fuse     reciprocal-rank fusion of the two lists (weights per list)
 *   4. rerank   optional cross-encoder/LLM reranker over the fused top-N
 *   5. group    best child per knowledge item, its parent attached as context
 *   6. score    query coverage (idf-weighted share of the query's words found in the passage), used by callers to
 *               decide "nothing relevant"
 * Guarantees: with no embedder the mode is 'lexical' and the response says so in `notice`; results are ordered by
 * the final score; every result names its chunk, item, document, unit label and character span.
 * Before step 1, when a bilingual dictionary is attached (`attachBilingual`), a query in the other language than the
 * chunks' (or in traditional characters) is mapped into theirs for the lexical list (0. understand); the dense list
 * embeds the query as asked.
 */
import type { Chunk } from './knowledge-types.ts';
import { LexicalIndex } from './index/lexical.ts';
import { createVectorIndex, type VectorIndex } from './index/hnsw.ts';
import type { Embedder } from './embed.ts';
import type { Lexicon } from './text/lexicon.ts';
import { analyze } from './text/analyzer.ts';
import { languageOf, type Bilingual, type Lang } from './text/bilingual.ts';

export type SearchMode = 'lexical' | 'dense' | 'hybrid';

export interface SearchFilter {
  /** Every tag listed must be on the chunk's item. */
  tags?: string[];
  /** Each key must equal the item's meta value. */
  meta?: Record<string, string | number | boolean>;
  docIds?: string[];
  /** The chunk's heading path must contain an entry that includes this text. */
  path?: string;
}

export interface Reranker {
  readonly name: string;
  /** Relevance scores (higher is better), one per passage. */
  rerank(query: string, passages: string[]): Promise<number[]>;
}

export interface SearchOptions {
  k?: number;
  mode?: SearchMode;
  filter?: SearchFilter;
  reranker?: Reranker;
  /** Candidates per list before fusion (default 50). */
  recall?: number;
  /** RRF weights (default lexical 1, dense 1). */
  weights?: { lexical: number; dense: number };
  /** One result per knowledge item (default true). */
  groupByItem?: boolean;
}

/** A hit: the matched child chunk's place and passage (`text`, its span `start`..`end` in the item's text). */
export interface SearchResult extends Pick<Chunk, 'kbId' | 'itemId' | 'docId' | 'docTitle' | 'label' | 'path' | 'number' | 'text' | 'start' | 'end'> {
  chunkId: string;
  /** The parent chunk's text (context for readers and generators). */
  context: string;
  score: number;
  lexicalScore?: number;
  denseScore?: number;
  /** Share (0..1) of the query's information (idf-weighted words) that the passage contains. */
  coverage: number;
  tags: string[];
  meta: Record<string, string | number | boolean>;
}

export interface SearchResponse {
  query: string;
  /** What the lexical list searched when the query was mapped (another language, traditional characters). */
  mapped?: string;
  mode: SearchMode;
  /** Set when the search ran in a weaker mode than asked (e.g. lexical only: no embedding model configured). */
  notice?: string;
  embedder?: string;
  results: SearchResult[];
}

export class KbIndex {
  readonly children: Chunk[];
  readonly parents: Map<string, Chunk>;
  readonly lexical: LexicalIndex;
  vectors: { embedder: Embedder; index: VectorIndex; data: Float32Array } | null = null;
  /** The fusion's weights when a search names none (a KB's trained retriever is fused at a small dense weight). */
  weights: { lexical: number; dense: number } = { lexical: 1, dense: 1 };
  bilingual: Bilingual | null = null;
  /** The chunks' language. */
  readonly lang: Lang;

  constructor(readonly kbId: string, chunks: Chunk[], lexicon: Lexicon | null) {
    this.children = chunks.filter((c) => c.role === 'child');
    this.parents = new Map(chunks.filter((c) => c.role === 'parent').map((c) => [c.id, c]));
    this.lexical = new LexicalIndex(lexicon);
    for (const c of this.children) this.lexical.add({ text: c.text, title: titleOf(c) });
    this.lexical.finalize();
    this.lang = languageOf(this.children.slice(0, 200).map((c) => c.text.slice(0, 300)).join('\n'));
  }

  /** Maps queries in the other language (or in traditional characters) before lexical search. */
  attachBilingual(bilingual: Bilingual): void { this.bilingual = bilingual; }

  /** Attaches vectors (one per child, in `children` order), embedding what `stored` lacks. Returns the new matrix. */
  async attachVectors(embedder: Embedder, stored?: { ids: string[]; vectors: Float32Array; dims: number } | null, annThreshold = 5000): Promise<Float32Array> {
    const dims = embedder.dims || stored?.dims || 0;
    const have = new Map<string, Float32Array>();
    if (stored && stored.dims === dims) stored.ids.forEach((id, i) => have.set(id, stored.vectors.subarray(i * dims, (i + 1) * dims)));
    const missing = this.children.filter((c) => !have.has(c.id));
    for (let i = 0; i < missing.length; i += 64) {
      const batch = missing.slice(i, i + 64);
      const vs = await embedder.embed(batch.map((c) => `${titleOf(c)}\n${c.text}`));
      batch.forEach((c, j) => have.set(c.id, vs[j]!));
    }
    const d = embedder.dims || have.values().next().value?.length || 0;
    const data = new Float32Array(this.children.length * d);
    this.children.forEach((c, i) => data.set(have.get(c.id)!, i * d));
    this.vectors = { embedder, index: createVectorIndex(data, d, annThreshold), data };
    return data;
  }

  private mask(filter?: SearchFilter): Uint8Array | undefined {
    if (!filter || (!filter.tags?.length && !filter.meta && !filter.docIds?.length && !filter.path)) return undefined;
    const m = new Uint8Array(this.children.length);
    const docs = filter.docIds?.length ? new Set(filter.docIds) : null;
    this.children.forEach((c, i) => {
      const ok = (!filter.tags || filter.tags.every((t) => c.tags.includes(t)))
        && (!filter.meta || Object.entries(filter.meta).every(([k, v]) => c.meta[k] === v))
        && (!docs || docs.has(c.docId))
        && (!filter.path || c.path.some((p) => p.includes(filter.path!)) || c.label.includes(filter.path));
      m[i] = ok ? 1 : 0;
    });
    return m;
  }

  async search(query: string, o: SearchOptions = {}): Promise<SearchResponse> {
    const k = o.k ?? 5;
    const recall = Math.max(o.recall ?? 50, k);
    const asked = o.mode ?? (this.vectors ? 'hybrid' : 'lexical');
    let mode: SearchMode = asked;
    let notice: string | undefined;
    if (asked !== 'lexical' && !this.vectors) {
      mode = 'lexical';
      notice = 'no embedding model is configured: lexical (BM25) search only';
    } else if (this.vectors && !this.vectors.embedder.semantic && asked !== 'lexical') {
      notice = `the ${this.vectors.embedder.name} embedder is a hashing test embedder, not a semantic model`;
    }
    // 0. understand
    const lexQuery = this.bilingual ? this.bilingual.map(query, this.lang).query : query;
    // 1. filter
    const allow = this.mask(o.filter);
    // 2. recall
    const lex = mode === 'dense' ? [] : this.lexical.search(lexQuery, recall, allow);
    let dense: { doc: number; score: number }[] = [];
    if (mode !== 'lexical' && this.vectors) {
      const [qv] = await this.vectors.embedder.embed([query]);
      dense = this.vectors.index.search(qv!, recall, allow);
    }
    // 3. fuse
    const w = o.weights ?? this.weights;
    const fused = new Map<number, { score: number; lexicalScore?: number; denseScore?: number }>();
    const add = (doc: number, s: number, f: 'lexicalScore' | 'denseScore', raw: number) => {
      const e = fused.get(doc) ?? { score: 0 };
      e.score += s;
      e[f] = raw;
      fused.set(doc, e);
    };
    if (mode === 'lexical') lex.forEach((h) => add(h.doc, h.score, 'lexicalScore', h.score));
    else if (mode === 'dense') dense.forEach((h) => add(h.doc, h.score, 'denseScore', h.score));
    else {
      lex.forEach((h, r) => add(h.doc, w.lexical / (60 + r + 1), 'lexicalScore', h.score));
      dense.forEach((h, r) => add(h.doc, w.dense / (60 + r + 1), 'denseScore', h.score));
    }
    let ranked = [...fused].sort((a, b) => b[1].score - a[1].score || a[0] - b[0]);
    // 4. rerank
    if (o.reranker && ranked.length) {
      const top = ranked.slice(0, Math.min(ranked.length, Math.max(20, k * 4)));
      const scores = await o.reranker.rerank(query, top.map(([d]) => `${titleOf(this.children[d]!)}\n${this.children[d]!.text}`));
      ranked = top.map(([d, e], i) => [d, { ...e, score: scores[i]! }] as [number, typeof e]).sort((a, b) => b[1].score - a[1].score || a[0] - b[0]);
    }
    // 5. group
    const results: SearchResult[] = [];
    const seen = new Set<string>();
    const qInfo = queryInfo(lexQuery, this.lexical);
    for (const [d, e] of ranked) {
      const c = this.children[d]!;
      if (o.groupByItem !== false) { if (seen.has(c.itemId)) continue; seen.add(c.itemId); }
      const parent = c.parentId ? this.parents.get(c.parentId) : undefined;
      results.push({
        kbId: c.kbId, chunkId: c.id, itemId: c.itemId, docId: c.docId, docTitle: c.docTitle, label: c.label, path: c.path,
        number: c.number, text: c.text, start: c.start, end: c.end, context: parent?.text ?? c.text, score: e.score,
        lexicalScore: e.lexicalScore, denseScore: e.denseScore,
        // 6. score
        coverage: coverage(qInfo, `${titleOf(c)}\n${c.text}`), tags: c.tags, meta: c.meta,
      });
      if (results.length >= k) break;
    }
    return { query, ...(lexQuery !== query ? { mapped: lexQuery } : {}), mode, notice, embedder: this.vectors?.embedder.name, results };
  }
}

export function titleOf(c: Pick<Chunk, 'label' | 'path' | 'tags' | 'docTitle'>): string {
  return [c.label, ...c.path, ...c.tags].join(' ');
}

interface QueryInfo { terms: Map<string, number>; total: number }

/**
 * The query's information: its body words (and lexicon expansions, at their weight) with idf; a word the index has
 * never seen counts at the highest idf (it is specific, and nothing here has it).
 */
function queryInfo(query: string, lexical: LexicalIndex): QueryInfo {
  const terms = new Map<string, number>();
  let total = 0;
  const maxIdf = lexical.maxIdf();
  for (const t of lexical.queryTerms(query)) {
    if (t.field !== 'words') continue;
    const idf = lexical.idf(t.term) || maxIdf;
    const w = (t.weight / lexical.weights.words) * idf;
    terms.set(t.term, w);
    if (t.weight >= lexical.weights.words) total += idf;
  }
  return { terms, total };
}

function coverage(q: QueryInfo, passage: string): number {
  if (q.total === 0) return 0;
  const a = analyze(passage);
  const have = new Set(a.words);
  let s = 0;
  for (const [w, mass] of q.terms) if (have.has(w)) s += mass;
  return Math.min(1, s / q.total);
}

/** An OpenAI-style `/v1/rerank` endpoint (llama.cpp server, Jina, TEI): {query, documents} -> relevance scores. */
export class HttpReranker implements Reranker {
  readonly name: string;
  constructor(private readonly o: { baseUrl: string; model: string; apiKey?: string }) { this.name = `rerank:${o.model}`; }
  async rerank(query: string, passages: string[]): Promise<number[]> {
    const url = `${this.o.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '')}/v1/rerank`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {}) },
      body: JSON.stringify({ model: this.o.model, query, documents: passages }),
      signal: AbortSignal.timeout(60_000),
    });
    if (!res.ok) throw new Error(`rerank endpoint ${url}: HTTP ${res.status}`);
    const body = (await res.json()) as { results: { index: number; relevance_score: number }[] };
    const out = new Array<number>(passages.length).fill(-Infinity);
    for (const r of body.results) out[r.index] = r.relevance_score;
    return out;
  }
}
