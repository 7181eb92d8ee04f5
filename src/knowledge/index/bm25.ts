/**
 * A multi-field BM25 index (BM25F-style: each field has its own length norms, k1 and b; a query term names its
 * field and weight). Owns the postings and the scoring; analysis is text/analyzer.ts. Built in two phases: `add`
 * documents (term lists per field), then `finalize()` packs each field into typed arrays — a term dictionary, CSR
 * postings (doc ids, and the precomputed saturated tf part tf*(k1+1)/(tf+k1*(1-b+b*dl/avgdl))) and idf per term —
 * so a query is one pass over its terms' postings into a Float32Array accumulator and a k-sized heap.
 * Guarantees: scores equal the textbook BM25 (Lucene idf: ln(1 + (N-df+0.5)/(df+0.5))) summed over fields with
 * the query weights; ties break by lower doc id; `search` allocates nothing proportional to N per call.
 */

export interface FieldSpec { name: string; k1?: number; b?: number }
export interface QueryTerm { field: string; term: string; weight: number }
export interface Hit { doc: number; score: number }

interface PackedField {
  terms: Map<string, number>;
  offsets: Int32Array;
  docs: Int32Array;
  tfPart: Float32Array;
  idf: Float32Array;
}

export class Bm25Index {
  private readonly specs: Required<FieldSpec>[];
  private pending: Map<string, number[]>[] = [];
  private lengths: number[][];
  private packed: PackedField[] | null = null;
  private nDocs = 0;
  private scores = new Float32Array(0);
  private touched = new Int32Array(0);

  constructor(fields: FieldSpec[]) {
    this.specs = fields.map((f) => ({ name: f.name, k1: f.k1 ?? 1.2, b: f.b ?? 0.75 }));
    this.pending = this.specs.map(() => new Map());
    this.lengths = this.specs.map(() => []);
  }

  get size(): number { return this.nDocs; }

  /** Adds a document; returns its id (0, 1, 2, ...). Fields not given are empty. */
  add(fields: Record<string, string[]>): number {
    if (this.packed) throw new Error('Bm25Index: add after finalize');
    const doc = this.nDocs++;
    this.specs.forEach((spec, f) => {
      const terms = fields[spec.name] ?? [];
      this.lengths[f]!.push(terms.length);
      const tf = new Map<string, number>();
      for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1);
      const pend = this.pending[f]!;
      for (const [t, n] of tf) {
        let list = pend.get(t);
        if (!list) pend.set(t, (list = []));
        list.push(doc, n);
      }
    });
    return doc;
  }

  finalize(): this {
    if (this.packed) return this;
    const N = this.nDocs;
    this.packed = this.specs.map((spec, f) => {
      const lens = this.lengths[f]!;
      const avgdl = Math.max(1e-9, lens.reduce((a, b) => a + b, 0) / Math.max(1, N));
      const pend = this.pending[f]!;
      const terms = new Map<string, number>();
      let total = 0;
      for (const list of pend.values()) total += list.length / 2;
      const offsets = new Int32Array(pend.size + 1);
      const docs = new Int32Array(total);
      const tfPart = new Float32Array(total);
      const idf = new Float32Array(pend.size);
      let t = 0;
      let o = 0;
      for (const [term, list] of pend) {
        terms.set(term, t);
        offsets[t] = o;
        const df = list.length / 2;
        idf[t] = Math.log(1 + (N - df + 0.5) / (df + 0.5));
        for (let i = 0; i < list.length; i += 2) {
          const d = list[i]!;
          const tf = list[i + 1]!;
          docs[o] = d;
          tfPart[o] = (tf * (spec.k1 + 1)) / (tf + spec.k1 * (1 - spec.b + (spec.b * lens[d]!) / avgdl));
          o++;
        }
        t++;
      }
      offsets[t] = o;
      return { terms, offsets, docs, tfPart, idf };
    });
    this.pending = [];
    this.scores = new Float32Array(N);
    this.touched = new Int32Array(N);
    return this;
  }

  /** Document frequency of a term in a field (0 when absent). */
  df(field: string, term: string): number {
    const p = this.field(field);
    const t = p.terms.get(term);
    return t === undefined ? 0 : p.offsets[t + 1]! - p.offsets[t]!;
  }

  /** Every term of a field (the index's vocabulary for that field). */
  terms(field: string): IterableIterator<string> { return this.field(field).terms.keys(); }

  idf(field: string, term: string): number {
    const p = this.field(field);
    const t = p.terms.get(term);
    return t === undefined ? 0 : p.idf[t]!;
  }

  private field(name: string): PackedField {
    if (!this.packed) throw new Error('Bm25Index: search before finalize');
    const f = this.specs.findIndex((s) => s.name === name);
    if (f < 0) throw new Error(`Bm25Index: no field ${name}`);
    return this.packed[f]!;
  }

  /**
   * The k best documents for the query terms. `allow` (optional) is a per-document mask: 0 excludes the document.
   * Returns hits sorted by score descending; documents matching no term are never returned.
   */
  search(query: QueryTerm[], k: number, allow?: Uint8Array): Hit[] {
    const scores = this.scores;
    const touched = this.touched;
    let nTouched = 0;
    for (const q of query) {
      const p = this.field(q.field);
      const t = p.terms.get(q.term);
      if (t === undefined || q.weight === 0) continue;
      const w = q.weight * p.idf[t]!;
      const end = p.offsets[t + 1]!;
      for (let i = p.offsets[t]!; i < end; i++) {
        const d = p.docs[i]!;
        if (scores[d] === 0) touched[nTouched++] = d;
        scores[d]! += w * p.tfPart[i]!;
      }
    }
    // k-best by a min-heap over (score, -doc).
    const heapD = new Int32Array(Math.max(1, k));
    const heapS = new Float32Array(Math.max(1, k));
    let n = 0;
    const worse = (i: number, j: number) => heapS[i]! < heapS[j]! || (heapS[i] === heapS[j] && heapD[i]! > heapD[j]!);
    const swap = (i: number, j: number) => {
      const d = heapD[i]!; heapD[i] = heapD[j]!; heapD[j] = d;
      const s = heapS[i]!; heapS[i] = heapS[j]!; heapS[j] = s;
    };
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < n && worse(l, m)) m = l;
        if (r < n && worse(r, m)) m = r;
        if (m === i) return;
        swap(i, m); i = m;
      }
    };
    for (let i = 0; i < nTouched; i++) {
      const d = touched[i]!;
      const s = scores[d]!;
      scores[d] = 0;
      if (s <= 0 || (allow && allow[d] === 0) || k <= 0) continue;
      if (n < k) {
        heapD[n] = d; heapS[n] = s; n++;
        for (let c = n - 1; c > 0;) { const p = (c - 1) >> 1; if (worse(c, p)) { swap(c, p); c = p; } else break; }
      } else if (s > heapS[0]! || (s === heapS[0] && d < heapD[0]!)) {
        heapD[0] = d; heapS[0] = s; down(0);
      }
    }
    const out: Hit[] = [];
    for (let i = 0; i < n; i++) out.push({ doc: heapD[i]!, score: heapS[i]! });
    return out.sort((a, b) => b.score - a.score || a.doc - b.doc);
  }
}
