/**
 * The BPE trainer: learns merges from a corpus and returns a Tokenizer.
 *
 * Owns: `trainBpe`. The vocabulary it builds is, by id:
 *   0..255                  the 256 byte symbols, id b = byte b (always all present, even bytes the corpus lacks)
 *   256..256+M-1            one token per merge, in the order learned (merge rank r makes id 256 + r)
 *   256+M..vocabSize-1      the special tokens, in the order given
 *
 * Algorithm (the HF `BpeTrainer` one, incremental): the corpus is cut into pieces by the same pre-tokenizer encode
 * uses (special-token text is cut out first and never trained on), identical pieces are counted once with their
 * frequency, and each distinct piece becomes a word of byte symbols. Pair counts (weighted by word frequency) and an
 * index pair -> words holding it are built once. Each step takes the most frequent pair from a lazy max-heap (ties:
 * smaller left id, then smaller right id), rewrites only the words the index lists for it, left to right without
 * overlap, and adjusts the counts of the neighbouring pairs; new pairs (all contain the new token) join the index and
 * the heap. Nothing is recounted from scratch.
 *
 * Guarantees: deterministic (same texts in the same order and options -> same merges, ids and JSON). The result has
 * exactly `vocabSize` tokens unless the corpus runs out of pairs seen at least `minFrequency` times first; then it
 * has fewer (check `vocabSize` of the result). Merges never cross piece boundaries, so encode with the result gives
 * every piece the same split the trainer's word rewriting implies.
 */
import { BYTE_TO_CHAR, toWellFormed, utf8 } from './byte-level.ts';
import { preTokenizerRegex, type PreTokenizer } from './pretokenize.ts';
import { Tokenizer, type TokenizerJSON } from './tokenizer.ts';

export interface TrainBpeOptions {
  /** Total tokens: 256 bytes + merges + special tokens. */
  vocabSize: number;
  /** Appended after the merges, in this order. Default none. */
  specialTokens?: readonly string[];
  /** Default 'qwen2'. */
  pre?: PreTokenizer;
  /** A pair seen fewer times than this is never merged. Default 2. */
  minFrequency?: number;
  /** Which of the special tokens are BOS / EOS / PAD (by text). */
  bos?: string;
  eos?: string;
  pad?: string;
}

/** The special tokens of ChatML models (Qwen2 order): end of text, then the two turn markers. */
export const CHATML_SPECIAL_TOKENS: readonly string[] = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

export function trainBpe(texts: Iterable<string>, opts: TrainBpeOptions): Tokenizer {
  const pre = opts.pre ?? 'qwen2';
  const specials = opts.specialTokens ?? [];
  const minFrequency = Math.max(1, opts.minFrequency ?? 2);
  if (new Set(specials).size !== specials.length) throw new Error('trainBpe: duplicate special tokens');
  if (specials.some((s) => s.length === 0)) throw new Error('trainBpe: empty special token');
  const targetMerges = opts.vocabSize - 256 - specials.length;
  if (!Number.isInteger(opts.vocabSize) || targetMerges < 0) {
    throw new Error(`trainBpe: vocabSize ${opts.vocabSize} must be an integer >= 256 + ${specials.length} special tokens`);
  }

  // 1. distinct pieces and their frequencies
  const freq = countPieces(texts, pre, specials);

  // 2. words as runs of symbols in one flat buffer; single-byte words have no pairs and are dropped
  let total = 0;
  const pieceBytes: Uint8Array[] = [];
  const pieceCounts: number[] = [];
  for (const [piece, count] of freq) {
    const b = utf8(piece);
    if (b.length < 2) continue;
    pieceBytes.push(b);
    pieceCounts.push(count);
    total += b.length;
  }
  const nWords = pieceBytes.length;
  const sym = new Int32Array(total);
  const start = new Int32Array(nWords);
  const len = new Int32Array(nWords);
  const count = Float64Array.from(pieceCounts);
  for (let w = 0, off = 0; w < nWords; w++) {
    sym.set(pieceBytes[w], off);
    start[w] = off;
    len[w] = pieceBytes[w].length;
    off += pieceBytes[w].length;
  }

  // 3. pair counts and the pair -> words index (a word is listed at most once per pair, possibly stale later)
  const K = opts.vocabSize; // pair key = left * K + right
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addPairWord = (key: number, w: number): void => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < nWords; w++) {
    const c = count[w];
    for (let i = start[w], end = start[w] + len[w] - 1; i < end; i++) {
      const key = sym[i] * K + sym[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + c);
      addPairWord(key, w);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  // 4. merge loop
  const merges: [number, number][] = [];
  const seen = new Int32Array(nWords).fill(-1); // seen[w] = the merge step that last rewrote w
  const touched = new Set<number>();
  const bump = (key: number, delta: number): void => {
    const c = (pairCount.get(key) ?? 0) + delta;
    if (c > 0) pairCount.set(key, c);
    else pairCount.delete(key);
  };
  while (merges.length < targetMerges && heap.size > 0) {
    const c = heap.topCount();
    const key = heap.topKey();
    heap.pop();
    const current = pairCount.get(key) ?? 0;
    if (current !== c) {
      if (current > 0) heap.push(current, key); // counts only fall after a pair is pushed: re-queue lazily
      continue;
    }
    if (c < minFrequency) break;
    const a = Math.floor(key / K), b = key - a * K;
    const z = 256 + merges.length;
    const step = merges.length;
    merges.push([a, b]);
    pairCount.delete(key);
    touched.clear();
    const words = pairWords.get(key) ?? [];
    pairWords.delete(key);
    for (const w of words) {
      if (seen[w] === step) continue;
      seen[w] = step;
      const wc = count[w];
      const s0 = start[w], end = s0 + len[w];
      let wp = s0;
      for (let rp = s0; rp < end; ) {
        if (rp + 1 < end && sym[rp] === a && sym[rp + 1] === b) {
          if (wp > s0) {
            const left = sym[wp - 1];
            bump(left * K + a, -wc);
            const nk = left * K + z;
            bump(nk, wc);
            addPairWord(nk, w);
            touched.add(nk);
          }
          if (rp + 2 < end) {
            const right = sym[rp + 2];
            bump(b * K + right, -wc);
            const nk = z * K + right;
            bump(nk, wc);
            addPairWord(nk, w);
            touched.add(nk);
          }
          sym[wp++] = z;
          rp += 2;
        } else {
          sym[wp++] = sym[rp++];
        }
      }
      len[w] = wp - s0;
    }
    for (const nk of touched) {
      const nc = pairCount.get(nk);
      if (nc !== undefined) heap.push(nc, nk);
    }
  }

  // 5. the vocabulary
  const vocab: string[] = BYTE_TO_CHAR.slice();
  const mergeStrings: string[] = [];
  for (const [a, b] of merges) {
    mergeStrings.push(`${vocab[a]} ${vocab[b]}`);
    vocab.push(vocab[a] + vocab[b]);
  }
  const learned = new Set(vocab);
  const special: Record<string, number> = {};
  for (const s of specials) {
    if (learned.has(s)) throw new Error(`trainBpe: special token ${JSON.stringify(s)} is also a learned token; pick a text the corpus cannot merge into`);
    special[s] = vocab.length;
    vocab.push(s);
  }
  const json: TokenizerJSON = { version: 1, pre, vocab, merges: mergeStrings, special };
  for (const role of ['bos', 'eos', 'pad'] as const) {
    const name = opts[role];
    if (name === undefined) continue;
    if (special[name] === undefined) throw new Error(`trainBpe: ${role} ${JSON.stringify(name)} is not one of the special tokens`);
    json[role] = special[name];
  }
  return new Tokenizer(json);
}

/** Piece -> frequency over the corpus (insertion order = first occurrence, which keeps training deterministic). */
function countPieces(texts: Iterable<string>, pre: PreTokenizer, specials: readonly string[]): Map<string, number> {
  const re = preTokenizerRegex(pre);
  const specialRe = specials.length > 0
    ? new RegExp(specials.slice().sort((x, y) => y.length - x.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
    : null;
  const freq = new Map<string, number>();
  const countSegment = (seg: string): void => {
    re.lastIndex = 0;
    for (let m = re.exec(seg); m !== null; m = re.exec(seg)) freq.set(m[0], (freq.get(m[0]) ?? 0) + 1);
  };
  for (const raw of texts) {
    if (typeof raw !== 'string') throw new Error('trainBpe: texts must be strings');
    const text = toWellFormed(raw);
    if (specialRe === null) {
      countSegment(text);
      continue;
    }
    for (const part of text.split(specialRe)) if (part.length > 0) countSegment(part);
  }
  return freq;
}

/** Max-heap of (count, pair key): larger count first, then smaller key (= smaller left id, then right id). */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  topCount(): number {
    return this.counts[0];
  }

  topKey(): number {
    return this.keys[0];
  }

  private before(c1: number, k1: number, c2: number, k2: number): boolean {
    return c1 > c2 || (c1 === c2 && k1 < k2);
  }

  push(c: number, k: number): void {
    const cs = this.counts, ks = this.keys;
    let i = ks.length;
    cs.push(c);
    ks.push(k);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(c, k, cs[p], ks[p])) break;
      cs[i] = cs[p];
      ks[i] = ks[p];
      i = p;
    }
    cs[i] = c;
    ks[i] = k;
  }

  pop(): void {
    const cs = this.counts, ks = this.keys;
    const c = cs.pop()!, k = ks.pop()!;
    const n = ks.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let ch = 2 * i + 1;
      if (ch >= n) break;
      if (ch + 1 < n && this.before(cs[ch + 1], ks[ch + 1], cs[ch], ks[ch])) ch++;
      if (!this.before(cs[ch], ks[ch], c, k)) break;
      cs[i] = cs[ch];
      ks[i] = ks[ch];
      i = ch;
    }
    cs[i] = c;
    ks[i] = k;
  }
}
