/**
 * The byte-level BPE tokenizer (GPT-2 / Llama 3 / Qwen2 family): text <-> token ids.
 *
 * Owns: the vocabulary, the ranked merges, the special tokens, encode, decode, and the plain JSON form.
 *
 * Encoding, in order:
 *   1. Lone UTF-16 surrogates become U+FFFD (they have no UTF-8 form; decode(encode(x)) is then x with each lone
 *      surrogate replaced, and exactly x for every well-formed string).
 *   2. Atomic tokens are cut out first and never split: special (control) tokens only with `allowSpecial: true`
 *      (default false, so that user text containing "<|im_end|>" is encoded as plain text), added (user-defined,
 *      HF `special: false`) tokens always. Longest match wins where two overlap.
 *   3. The rest is normalized (only when `normalizer: 'nfc'`, for imported Qwen2 tokenizers) and cut into pieces by
 *      the pre-tokenizer regex (pretokenize.ts).
 *   4. Each piece's UTF-8 bytes start as byte symbols and the lowest-ranked adjacent pair is merged until none is
 *      left, leftmost first among equal ranks (HF `Word::merge_all` and llama.cpp `llm_tokenizer_bpe_session` order).
 *      A heap over (rank, position) on a linked list of symbols; results are cached per piece.
 * Decoding maps each id to its bytes (byte-level tokens through the byte alphabet, special and added tokens as the
 * UTF-8 of their text), joins them and decodes UTF-8 once; invalid sequences become U+FFFD and a leading BOM is kept.
 *
 * JSON form (version 1): `vocab[id]` is the token (byte-alphabet string for BPE tokens, literal text for special and
 * added tokens), `merges[rank]` is "left right", `special`/`added` map text to id, bos/eos/pad are ids. Tokenizers
 * trained here put the 256 byte symbols at ids 0..255 in byte order, then one token per merge, then the specials.
 */
import { bytesToSymbols, symbolsToBytes, toWellFormed, utf8 } from './byte-level.ts';
import { ignoresMerges, PRE_TOKENIZERS, preTokenizerRegex, type PreTokenizer } from './pretokenize.ts';

export interface TokenizerJSON {
  version: 1;
  pre: PreTokenizer;
  vocab: string[];
  merges: string[];
  special: Record<string, number>;
  added?: Record<string, number>;
  normalizer?: 'nfc';
  bos?: number;
  eos?: number;
  pad?: number;
}

export interface EncodeOptions {
  /** Match special (control) tokens in the text. Default false: their text is encoded as ordinary text. */
  allowSpecial?: boolean;
  /** Prepend the BOS token (throws when the tokenizer has none). Default false. */
  addBos?: boolean;
}

export interface DecodeOptions {
  /** Leave special (control) tokens out of the text. Added (user-defined) tokens are kept. Default false. */
  skipSpecial?: boolean;
}

const CACHE_ENTRIES = 1 << 16;
const CACHE_MAX_PIECE = 256;

export class Tokenizer {
  readonly pre: PreTokenizer;
  readonly normalizer: 'nfc' | null;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;

  private readonly vocab: readonly string[];
  private readonly mergeStrings: readonly string[];
  private readonly special: ReadonlyMap<string, number>;
  private readonly added: ReadonlyMap<string, number>;
  /** id -> 1 for special (control), 2 for added (user-defined), 0 for BPE tokens. */
  private readonly kind: Uint8Array;
  /** BPE token text -> id (special and added tokens are not in it). */
  private readonly tokenIds: Map<string, number>;
  private readonly byteIds: Int32Array;
  /** (left * vocabSize + right) -> merge rank; mergeOut[rank] is the merged token's id. */
  private readonly mergeRank: Map<number, number>;
  private readonly mergeOut: Int32Array;
  private readonly ignoreMerges: boolean;
  private readonly splitRe: RegExp;
  private readonly atomicAllRe: RegExp | null;
  private readonly atomicAddedRe: RegExp | null;
  private readonly bytesOf: (Uint8Array | undefined)[];
  private readonly cache = new Map<string, readonly number[]>();

  constructor(json: TokenizerJSON) {
    if (json === null || typeof json !== 'object') throw new Error('tokenizer JSON: expected an object');
    if (json.version !== 1) throw new Error(`tokenizer JSON: unsupported version ${String(json.version)}`);
    if (!PRE_TOKENIZERS.includes(json.pre)) throw new Error(`tokenizer JSON: unknown pre-tokenizer '${String(json.pre)}'`);
    if (json.normalizer !== undefined && json.normalizer !== 'nfc') throw new Error(`tokenizer JSON: unknown normalizer '${String(json.normalizer)}'`);
    if (!Array.isArray(json.vocab) || json.vocab.length < 256) throw new Error('tokenizer JSON: vocab must be an array of at least 256 tokens');
    if (!Array.isArray(json.merges)) throw new Error('tokenizer JSON: merges must be an array');
    this.pre = json.pre;
    this.normalizer = json.normalizer ?? null;
    this.vocab = json.vocab.slice();
    this.mergeStrings = json.merges.slice();
    const n = this.vocab.length;

    this.kind = new Uint8Array(n);
    const atomicMap = (name: string, obj: Record<string, number> | undefined, kind: number): Map<string, number> => {
      const map = new Map<string, number>();
      for (const [text, id] of Object.entries(obj ?? {})) {
        if (!Number.isInteger(id) || id < 0 || id >= n) throw new Error(`tokenizer JSON: ${name} token ${JSON.stringify(text)} has id ${id} outside the vocab`);
        if (this.vocab[id] !== text) throw new Error(`tokenizer JSON: ${name} token ${JSON.stringify(text)} is not vocab[${id}] (${JSON.stringify(this.vocab[id])})`);
        if (text.length === 0) throw new Error(`tokenizer JSON: empty ${name} token`);
        if (this.kind[id] !== 0) throw new Error(`tokenizer JSON: id ${id} is both special and added`);
        this.kind[id] = kind;
        map.set(text, id);
      }
      return map;
    };
    this.special = atomicMap('special', json.special, 1);
    this.added = atomicMap('added', json.added, 2);

    this.tokenIds = new Map();
    for (let id = 0; id < n; id++) {
      const t = this.vocab[id];
      if (typeof t !== 'string') throw new Error(`tokenizer JSON: vocab[${id}] is not a string`);
      if (this.kind[id] !== 0) continue;
      if (this.tokenIds.has(t)) throw new Error(`tokenizer JSON: duplicate token ${JSON.stringify(t)} (ids ${this.tokenIds.get(t)} and ${id})`);
      this.tokenIds.set(t, id);
    }

    this.byteIds = new Int32Array(256);
    const byteSymbols = bytesToSymbols(Uint8Array.from({ length: 256 }, (_, b) => b));
    for (let b = 0; b < 256; b++) {
      const id = this.tokenIds.get(byteSymbols[b]);
      if (id === undefined) throw new Error(`tokenizer JSON: the byte symbol for 0x${b.toString(16).padStart(2, '0')} (${JSON.stringify(byteSymbols[b])}) is not in the vocab`);
      this.byteIds[b] = id;
    }

    this.mergeRank = new Map();
    this.mergeOut = new Int32Array(this.mergeStrings.length);
    for (let rank = 0; rank < this.mergeStrings.length; rank++) {
      const m = this.mergeStrings[rank];
      const sp = typeof m === 'string' ? m.indexOf(' ') : -1;
      if (sp <= 0 || sp === m.length - 1 || m.indexOf(' ', sp + 1) !== -1) throw new Error(`tokenizer JSON: merge ${rank} ${JSON.stringify(m)} is not "left right"`);
      const left = m.slice(0, sp), right = m.slice(sp + 1);
      const a = this.tokenIds.get(left), b = this.tokenIds.get(right), out = this.tokenIds.get(left + right);
      if (a === undefined || b === undefined || out === undefined) {
        const missing = a === undefined ? left : b === undefined ? right : left + right;
        throw new Error(`tokenizer JSON: merge ${rank} ${JSON.stringify(m)} uses ${JSON.stringify(missing)}, which is not in the vocab`);
      }
      const key = a * n + b;
      if (!this.mergeRank.has(key)) this.mergeRank.set(key, rank); // a repeated merge keeps its first (lowest) rank
      this.mergeOut[rank] = out;
    }

    const optionalId = (name: string, v: number | undefined): number | null => {
      if (v === undefined || v === null) return null;
      if (!Number.isInteger(v) || v < 0 || v >= n) throw new Error(`tokenizer JSON: ${name} id ${v} outside the vocab`);
      return v;
    };
    this.bosId = optionalId('bos', json.bos);
    this.eosId = optionalId('eos', json.eos);
    this.padId = optionalId('pad', json.pad);

    this.ignoreMerges = ignoresMerges(this.pre);
    this.splitRe = preTokenizerRegex(this.pre);
    this.atomicAllRe = alternation([...this.special.keys(), ...this.added.keys()]);
    this.atomicAddedRe = alternation([...this.added.keys()]);
    this.bytesOf = new Array(n);
  }

  static fromJSON(json: TokenizerJSON): Tokenizer {
    return new Tokenizer(json);
  }

  toJSON(): TokenizerJSON {
    const json: TokenizerJSON = {
      version: 1,
      pre: this.pre,
      vocab: this.vocab.slice(),
      merges: this.mergeStrings.slice(),
      special: Object.fromEntries(this.special),
    };
    if (this.added.size > 0) json.added = Object.fromEntries(this.added);
    if (this.normalizer !== null) json.normalizer = this.normalizer;
    if (this.bosId !== null) json.bos = this.bosId;
    if (this.eosId !== null) json.eos = this.eosId;
    if (this.padId !== null) json.pad = this.padId;
    return json;
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  get mergeCount(): number {
    return this.mergeStrings.length;
  }

  /** The special (control) tokens as text -> id, in id order of insertion. */
  get specialTokens(): ReadonlyMap<string, number> {
    return this.special;
  }

  /** The added (user-defined, always atomic) tokens as text -> id. */
  get addedTokens(): ReadonlyMap<string, number> {
    return this.added;
  }

  /** The id of a special or added token; throws when the tokenizer has no such token. */
  specialId(token: string): number {
    const id = this.special.get(token) ?? this.added.get(token);
    if (id === undefined) throw new Error(`tokenizer has no special token ${JSON.stringify(token)}`);
    return id;
  }

  hasSpecial(token: string): boolean {
    return this.special.has(token) || this.added.has(token);
  }

  /** True for special (control) tokens, the ones `skipSpecial` leaves out. */
  isSpecial(id: number): boolean {
    return this.kind[id] === 1;
  }

  /** The vocab string of an id (byte-alphabet text for BPE tokens, literal text for special and added tokens). */
  idToToken(id: number): string {
    this.checkId(id);
    return this.vocab[id];
  }

  /** The id of a vocab string (BPE, special or added), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.tokenIds.get(token) ?? this.special.get(token) ?? this.added.get(token);
  }

  /** The id of a single byte value. */
  byteId(byte: number): number {
    return this.byteIds[byte];
  }

  /** The bytes an id decodes to (shared; do not modify). */
  tokenBytes(id: number): Uint8Array {
    const cached = this.bytesOf[id];
    if (cached !== undefined) return cached;
    this.checkId(id);
    const t = this.vocab[id];
    const bytes = this.kind[id] !== 0 ? utf8(t) : (symbolsToBytes(t) ?? utf8(t));
    this.bytesOf[id] = bytes;
    return bytes;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.addBos) {
      if (this.bosId === null) throw new Error('encode: addBos asked, but the tokenizer has no BOS token');
      out.push(this.bosId);
    }
    const s = toWellFormed(text);
    const re = opts.allowSpecial ? this.atomicAllRe : this.atomicAddedRe;
    if (re === null) {
      this.encodeOrdinary(s, out);
      return out;
    }
    re.lastIndex = 0;
    let last = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      if (m.index > last) this.encodeOrdinary(s.slice(last, m.index), out);
      out.push(this.special.get(m[0]) ?? this.added.get(m[0])!);
      last = m.index + m[0].length;
    }
    if (last < s.length) this.encodeOrdinary(last === 0 ? s : s.slice(last), out);
    return out;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (opts.skipSpecial && this.kind[id] === 1) continue;
      const b = this.tokenBytes(id);
      parts.push(b);
      total += b.length;
    }
    const buf = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      buf.set(p, off);
      off += p.length;
    }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
  }

  /** Pre-split + BPE over text that holds no atomic tokens. */
  private encodeOrdinary(text: string, out: number[]): void {
    const s = this.normalizer === 'nfc' ? text.normalize('NFC') : text;
    const re = this.splitRe;
    re.lastIndex = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      const piece = m[0];
      const cached = this.cache.get(piece);
      if (cached !== undefined) {
        for (let i = 0; i < cached.length; i++) out.push(cached[i]);
        continue;
      }
      const ids = this.encodePiece(piece);
      if (piece.length <= CACHE_MAX_PIECE) {
        if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
        this.cache.set(piece, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
  }

  /** BPE over one piece: heap of (rank, position) over a linked list of symbols (see header). */
  private encodePiece(piece: string): number[] {
    const bytes = utf8(piece);
    const n = bytes.length;
    if (n === 1) return [this.byteIds[bytes[0]]];
    if (this.ignoreMerges) {
      const whole = this.tokenIds.get(bytesToSymbols(bytes));
      if (whole !== undefined) return [whole];
    }
    const V = this.vocab.length;
    const ranks = this.mergeRank;
    const sym = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      sym[i] = this.byteIds[bytes[i]];
      prev[i] = i - 1;
      next[i] = i + 1;
    }
    // heap entries are rank * n + leftPosition: ordered by rank, then leftmost
    const heap = new MinHeap();
    for (let i = 0; i + 1 < n; i++) {
      const r = ranks.get(sym[i] * V + sym[i + 1]);
      if (r !== undefined) heap.push(r * n + i);
    }
    while (heap.size > 0) {
      const e = heap.pop();
      const r = Math.floor(e / n);
      const i = e - r * n;
      if (sym[i] < 0) continue;
      const j = next[i];
      if (j >= n || ranks.get(sym[i] * V + sym[j]) !== r) continue; // stale entry
      sym[i] = this.mergeOut[r];
      sym[j] = -1;
      const k = next[j];
      next[i] = k;
      if (k < n) prev[k] = i;
      const p = prev[i];
      if (p >= 0) {
        const rp = ranks.get(sym[p] * V + sym[i]);
        if (rp !== undefined) heap.push(rp * n + p);
      }
      if (k < n) {
        const rk = ranks.get(sym[i] * V + sym[k]);
        if (rk !== undefined) heap.push(rk * n + i);
      }
    }
    const ids: number[] = [];
    for (let i = 0; i < n; i = next[i]) ids.push(sym[i]);
    return ids;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length) throw new RangeError(`token id ${id} outside the vocab (size ${this.vocab.length})`);
  }
}

/** A global regex matching any of `tokens`, longest first; null for none. */
function alternation(tokens: string[]): RegExp | null {
  if (tokens.length === 0) return null;
  const sorted = tokens.slice().sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  return new RegExp(sorted.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
}

/** A binary min-heap of numbers. */
class MinHeap {
  private a: number[] = [];

  get size(): number {
    return this.a.length;
  }

  push(v: number): void {
    const a = this.a;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= v) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = v;
  }

  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && a[c + 1] < a[c]) c++;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
