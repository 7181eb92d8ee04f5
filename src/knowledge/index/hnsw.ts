/**
 * Dense vector search over unit vectors (cosine = dot product). Owns `FlatVectorIndex` (exact, the reference) and
 * `HnswIndex` (Malkov & Yashunin's hierarchical navigable small world graph, written here: M links per node, 2M on
 * layer 0, heuristic-free nearest-neighbour selection, efConstruction at build, ef at query), and `createVectorIndex`
 * which picks exact search below a size threshold and HNSW above it. Guarantees: vectors are stored in one
 * Float32Array (row-major, `dims` wide); the random level generator is seeded, so a build is reproducible; `allow`
 * masks are honoured by both (HNSW keeps searching past masked nodes, widening ef until k are found or ef hits N).
 */
import { dot } from '../embed.ts';

export interface VectorHit { doc: number; score: number }

export interface VectorIndex {
  readonly kind: 'flat' | 'hnsw';
  readonly size: number;
  search(q: Float32Array, k: number, allow?: Uint8Array): VectorHit[];
}

export class FlatVectorIndex implements VectorIndex {
  readonly kind = 'flat';
  constructor(readonly data: Float32Array, readonly dims: number) {}
  get size(): number { return this.data.length / this.dims; }

  search(q: Float32Array, k: number, allow?: Uint8Array): VectorHit[] {
    const hits: VectorHit[] = [];
    for (let d = 0; d < this.size; d++) {
      if (allow && !allow[d]) continue;
      hits.push({ doc: d, score: dot(q, this.data, d * this.dims) });
    }
    return hits.sort((a, b) => b.score - a.score || a.doc - b.doc).slice(0, k);
  }
}

/** A binary heap of (score, id) pairs; `max` true keeps the largest on top. */
class Heap {
  ids: number[] = [];
  ss: number[] = [];
  constructor(private readonly max: boolean) {}
  get size(): number { return this.ids.length; }
  private better(i: number, j: number): boolean { return this.max ? this.ss[i]! > this.ss[j]! : this.ss[i]! < this.ss[j]!; }
  private swap(i: number, j: number): void {
    [this.ids[i], this.ids[j]] = [this.ids[j]!, this.ids[i]!];
    [this.ss[i], this.ss[j]] = [this.ss[j]!, this.ss[i]!];
  }
  push(id: number, s: number): void {
    this.ids.push(id); this.ss.push(s);
    for (let c = this.ids.length - 1; c > 0;) { const p = (c - 1) >> 1; if (this.better(c, p)) { this.swap(c, p); c = p; } else break; }
  }
  topId(): number { return this.ids[0]!; }
  topScore(): number { return this.ss[0]!; }
  pop(): void {
    const n = this.ids.length - 1;
    this.swap(0, n); this.ids.pop(); this.ss.pop();
    for (let i = 0; ;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < n && this.better(l, m)) m = l;
      if (r < n && this.better(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m); i = m;
    }
  }
}

export interface HnswOptions { M?: number; efConstruction?: number; ef?: number; seed?: number }

export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw';
  private readonly M: number;
  private readonly efC: number;
  ef: number;
  /** links[level][node] = neighbour ids (level 0 for every node; higher levels only for nodes that reach them). */
  private links: Map<number, number[]>[] = [];
  private levels: Int8Array;
  private entry = -1;
  private maxLevel = -1;
  private rng: number;
  private count = 0;

  constructor(readonly data: Float32Array, readonly dims: number, o: HnswOptions = {}) {
    this.M = o.M ?? 16;
    this.efC = o.efConstruction ?? 100;
    this.ef = o.ef ?? 100;
    this.rng = o.seed ?? 12345;
    this.levels = new Int8Array(data.length / dims);
    for (let i = 0; i < this.levels.length; i++) this.insert(i);
  }

  get size(): number { return this.count; }

  private random(): number {
    // mulberry32
    let t = (this.rng = (this.rng + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private sim(q: Float32Array, id: number): number { return dot(q, this.data, id * this.dims); }
  private vec(id: number): Float32Array { return this.data.subarray(id * this.dims, (id + 1) * this.dims); }

  private neighbours(level: number, id: number): number[] {
    let m = this.links[level];
    if (!m) this.links[level] = m = new Map();
    let l = m.get(id);
    if (!l) m.set(id, (l = []));
    return l;
  }

  /** Best-first search on one layer from the entry points; returns up to ef (id, sim) best first. */
  private searchLayer(q: Float32Array, entries: number[], ef: number, level: number, allow?: Uint8Array, k = ef): { id: number; s: number }[] {
    const visited = new Set<number>(entries);
    const cand = new Heap(true);
    const best = new Heap(false); // worst of the kept on top
    let allowedKept = 0;
    for (const e of entries) {
      const s = this.sim(q, e);
      cand.push(e, s);
      best.push(e, s);
      if (!allow || allow[e]) allowedKept++;
    }
    while (cand.size) {
      const c = cand.topId(), cs = cand.topScore();
      if (best.size >= ef && cs < best.topScore() && allowedKept >= Math.min(k, ef)) break;
      cand.pop();
      for (const n of this.links[level]?.get(c) ?? []) {
        if (visited.has(n)) continue;
        visited.add(n);
        const s = this.sim(q, n);
        if (best.size < ef || s > best.topScore()) {
          cand.push(n, s);
          best.push(n, s);
          if (!allow || allow[n]) allowedKept++;
          if (best.size > ef) { if (!allow || allow[best.topId()]) allowedKept--; best.pop(); }
        }
      }
    }
    const out: { id: number; s: number }[] = [];
    for (let i = 0; i < best.size; i++) out.push({ id: best.ids[i]!, s: best.ss[i]! });
    return out.sort((a, b) => b.s - a.s);
  }

  private insert(id: number): void {
    const level = Math.min(15, Math.floor(-Math.log(Math.max(1e-12, this.random())) / Math.log(this.M)));
    this.levels[id] = level;
    this.count++;
    const q = this.vec(id);
    if (this.entry < 0) {
      this.entry = id; this.maxLevel = level;
      for (let l = 0; l <= level; l++) this.neighbours(l, id);
      return;
    }
    let ep = [this.entry];
    for (let l = this.maxLevel; l > level; l--) ep = [this.searchLayer(q, ep, 1, l)[0]!.id];
    for (let l = Math.min(level, this.maxLevel); l >= 0; l--) {
      const found = this.searchLayer(q, ep, this.efC, l);
      const maxLinks = l === 0 ? 2 * this.M : this.M;
      const chosen = found.slice(0, this.M).map((f) => f.id);
      const mine = this.neighbours(l, id);
      mine.push(...chosen);
      for (const n of chosen) {
        const theirs = this.neighbours(l, n);
        theirs.push(id);
        if (theirs.length > maxLinks) {
          const nv = this.vec(n);
          theirs.sort((a, b) => this.sim(nv, b) - this.sim(nv, a));
          theirs.length = maxLinks;
        }
      }
      ep = found.map((f) => f.id);
    }
    for (let l = this.maxLevel + 1; l <= level; l++) this.neighbours(l, id);
    if (level > this.maxLevel) { this.maxLevel = level; this.entry = id; }
  }

  search(q: Float32Array, k: number, allow?: Uint8Array): VectorHit[] {
    if (this.entry < 0 || k <= 0) return [];
    let ep = [this.entry];
    for (let l = this.maxLevel; l > 0; l--) ep = [this.searchLayer(q, ep, 1, l)[0]!.id];
    const found = this.searchLayer(q, ep, Math.max(this.ef, k), 0, allow, k);
    return found.filter((f) => !allow || allow[f.id]).slice(0, k).map((f) => ({ doc: f.id, score: f.s }));
  }
}

/** Exact search up to `threshold` vectors, HNSW above. */
export function createVectorIndex(data: Float32Array, dims: number, threshold = 5000, o?: HnswOptions): VectorIndex {
  return data.length / dims > threshold ? new HnswIndex(data, dims, o) : new FlatVectorIndex(data, dims);
}
