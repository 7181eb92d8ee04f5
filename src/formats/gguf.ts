/**
 * GGUF (ggml's model file format, versions 2 and 3): a pure (no I/O) strict reader and a writer.
 *
 * Owns: the byte layout, value and tensor-type tables, and structural validation. What the tensors *mean*
 * (which keys a llama model needs, shapes against metadata) is checked in gguf-model.ts.
 *
 * File layout (all integers little-endian; a "string" is a u64 byte length then that many UTF-8 bytes, no NUL):
 *
 *   1. magic: the 4 bytes "GGUF" (u32 0x46554747).
 *   2. version: u32. 3 is written; 2 (same layout) is read too; 1 (u32 counts) is rejected.
 *   3. tensor_count: u64.
 *   4. metadata_kv_count: u64.
 *   5. metadata_kv_count key/value pairs: key (string, unique), value_type (u32, GGUF_TYPE), value:
 *        UINT8/INT8 1 byte, UINT16/INT16 2, UINT32/INT32/FLOAT32 4, UINT64/INT64/FLOAT64 8, BOOL 1 byte (0 or 1),
 *        STRING a string, ARRAY: item type (u32), count (u64), then count items (arrays of arrays are rejected,
 *        as llama.cpp's gguf.cpp does).
 *   6. tensor_count tensor infos: name (string, unique), n_dims (u32, 1..4), n_dims u64 dims ne[0..] (ne[0] is the
 *      fastest-varying, so a row-major [out, in] matrix is ne = [in, out]), ggml type (u32, GGML_TYPE), offset (u64)
 *      of the tensor data relative to the start of the data section; a multiple of the alignment.
 *   7. padding with zero bytes up to a multiple of the alignment (`general.alignment`, a u32 power of two, default 32).
 *   8. the data section: every tensor's bytes, each at its offset, padded to the alignment between tensors.
 *      A tensor of type T holds ne[0]*...*ne[n-1] / blockSize(T) blocks of typeSize(T) bytes; ne[0] must be a
 *      multiple of blockSize(T).
 *
 * Guarantees: `decodeGguf` returns only what it checked (every read inside the buffer, every count bounded by the
 * bytes left before anything is allocated, known value and tensor types, unique names, aligned non-overlapping
 * tensors inside the file), or throws a `GgufError` whose `code` names the problem and whose message names the key,
 * tensor and offsets involved. It throws nothing else on any input. `encodeGguf` writes what llama.cpp's gguf
 * writer writes: header, infos, padding, data, each tensor padded to the alignment.
 */

export const GGUF_MAGIC = 0x46554747;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types. */
export const GGUF_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9,
  UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GGUF_TYPE)[keyof typeof GGUF_TYPE];
const VALUE_TYPE_NAME: Record<number, string> = Object.fromEntries(Object.entries(GGUF_TYPE).map(([k, v]) => [v, k]));
const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** ggml tensor types (ggml.h `enum ggml_type`). */
export const GGML_TYPE = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13,
  Q6_K: 14, Q8_K: 15, IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18, IQ1_S: 19, IQ4_NL: 20, IQ3_S: 21, IQ2_S: 22, IQ4_XS: 23,
  I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, IQ1_M: 29, BF16: 30, TQ1_0: 34, TQ2_0: 35, MXFP4: 39,
} as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;
export type GgmlType = (typeof GGML_TYPE)[GgmlTypeName];

/** [values per block, bytes per block] of each ggml type (ggml-common.h block structs). */
export const GGML_BLOCK: Readonly<Record<number, readonly [number, number]>> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  16: [256, 66], 17: [256, 74], 18: [256, 98], 19: [256, 50], 20: [32, 18], 21: [256, 110], 22: [256, 82],
  23: [256, 136], 24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8], 29: [256, 56], 30: [1, 2],
  34: [256, 54], 35: [256, 66], 39: [32, 17],
};
const TYPE_NAME: Record<number, string> = Object.fromEntries(Object.entries(GGML_TYPE).map(([k, v]) => [v, k]));

export function ggmlTypeName(t: number): string {
  return TYPE_NAME[t] ?? `unknown(${t})`;
}

export const GGML_MAX_DIMS = 4;

export type GgufErrorCode =
  | 'TRUNCATED' // a read past the end of the buffer
  | 'BAD_MAGIC'
  | 'BAD_VERSION'
  | 'ABSURD_COUNT' // a count or length larger than the remaining bytes could hold
  | 'BAD_STRING' // invalid UTF-8
  | 'UNKNOWN_VALUE_TYPE'
  | 'BAD_VALUE' // e.g. a BOOL that is not 0/1, a nested array
  | 'DUPLICATE_KEY'
  | 'DUPLICATE_TENSOR'
  | 'BAD_ALIGNMENT'
  | 'BAD_DIMS' // n_dims outside 1..4, a dim < 1, element count beyond 2^53
  | 'UNKNOWN_TENSOR_TYPE'
  | 'BAD_BLOCK_SHAPE' // ne[0] not a multiple of the type's block size
  | 'BAD_OFFSET' // a tensor offset that is not a multiple of the alignment
  | 'OUT_OF_BOUNDS' // tensor data beyond the end of the file
  | 'OVERLAP' // two tensors share bytes
  | 'INVALID_INPUT'; // writer: bad input

/** The only error type this module throws. */
export class GgufError extends Error {
  constructor(public readonly code: GgufErrorCode, message: string) {
    super(`GGUF: ${message}`);
    this.name = 'GgufError';
  }
}

export type GgufScalar = number | bigint | boolean | string;
export type GgufArrayValue = string[] | number[] | boolean[] | bigint[] | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | Float32Array | Float64Array;

/** A typed metadata value. For ARRAY, `itemType` is the element type. */
export interface GgufKV {
  type: GgufValueType;
  itemType?: GgufValueType;
  value: GgufScalar | GgufArrayValue;
}

/** Builders for typed metadata values. */
export const gv = {
  u8: (v: number): GgufKV => ({ type: GGUF_TYPE.UINT8, value: v }),
  i32: (v: number): GgufKV => ({ type: GGUF_TYPE.INT32, value: v }),
  u32: (v: number): GgufKV => ({ type: GGUF_TYPE.UINT32, value: v }),
  u64: (v: number | bigint): GgufKV => ({ type: GGUF_TYPE.UINT64, value: v }),
  f32: (v: number): GgufKV => ({ type: GGUF_TYPE.FLOAT32, value: v }),
  f64: (v: number): GgufKV => ({ type: GGUF_TYPE.FLOAT64, value: v }),
  bool: (v: boolean): GgufKV => ({ type: GGUF_TYPE.BOOL, value: v }),
  str: (v: string): GgufKV => ({ type: GGUF_TYPE.STRING, value: v }),
  strs: (v: string[]): GgufKV => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.STRING, value: v }),
  i32s: (v: ArrayLike<number>): GgufKV => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.INT32, value: Int32Array.from(v) }),
  f32s: (v: ArrayLike<number>): GgufKV => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.FLOAT32, value: Float32Array.from(v) }),
};

export interface GgufTensorInput {
  name: string;
  type: number;
  /** ne order: dims[0] varies fastest (a row-major [out, in] matrix is [in, out]). */
  dims: readonly number[];
  data: Uint8Array;
}

export interface GgufTensorInfo {
  name: string;
  type: number;
  dims: number[];
  /** Relative to the data section. */
  offset: number;
  byteLength: number;
  /** A view into the decoded buffer. */
  data: Uint8Array;
}

export interface DecodedGguf {
  version: number;
  metadata: Map<string, GgufKV>;
  tensors: Map<string, GgufTensorInfo>;
  alignment: number;
  /** File offset of the data section. */
  dataOffset: number;
}

export function tensorByteLength(type: number, dims: readonly number[]): number {
  const bt = GGML_BLOCK[type];
  if (!bt) throw new GgufError('UNKNOWN_TENSOR_TYPE', `unknown tensor type ${type}`);
  let n = 1;
  for (const d of dims) n *= d;
  return (n / bt[0]) * bt[1];
}

// ----------------------------------------------------------------------------------------------- writer

const utf8enc = new TextEncoder();

class ByteSink {
  buf = new Uint8Array(1 << 16);
  view = new DataView(this.buf.buffer);
  len = 0;
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
    this.view = new DataView(nb.buffer);
  }
  u8(v: number) { this.reserve(1); this.view.setUint8(this.len, v); this.len += 1; }
  i8(v: number) { this.reserve(1); this.view.setInt8(this.len, v); this.len += 1; }
  u16(v: number) { this.reserve(2); this.view.setUint16(this.len, v, true); this.len += 2; }
  i16(v: number) { this.reserve(2); this.view.setInt16(this.len, v, true); this.len += 2; }
  u32(v: number) { this.reserve(4); this.view.setUint32(this.len, v, true); this.len += 4; }
  i32(v: number) { this.reserve(4); this.view.setInt32(this.len, v, true); this.len += 4; }
  f32(v: number) { this.reserve(4); this.view.setFloat32(this.len, v, true); this.len += 4; }
  f64(v: number) { this.reserve(8); this.view.setFloat64(this.len, v, true); this.len += 8; }
  u64(v: number | bigint) { this.reserve(8); this.view.setBigUint64(this.len, BigInt(v), true); this.len += 8; }
  i64(v: number | bigint) { this.reserve(8); this.view.setBigInt64(this.len, BigInt(v), true); this.len += 8; }
  bytes(b: Uint8Array) { this.reserve(b.length); this.buf.set(b, this.len); this.len += b.length; }
  str(s: string) { const b = utf8enc.encode(s); this.u64(b.length); this.bytes(b); }
  pad(align: number) { const n = (align - (this.len % align)) % align; this.reserve(n); this.buf.fill(0, this.len, this.len + n); this.len += n; }
}

function writeScalar(s: ByteSink, type: number, v: unknown, key: string): void {
  const num = (): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new GgufError('INVALID_INPUT', `metadata "${key}": expected a finite number, got ${String(v)}`);
    return v;
  };
  const int = (lo: number, hi: number): number => {
    const n = num();
    if (!Number.isInteger(n) || n < lo || n > hi) throw new GgufError('INVALID_INPUT', `metadata "${key}": ${n} does not fit ${VALUE_TYPE_NAME[type]}`);
    return n;
  };
  switch (type) {
    case GGUF_TYPE.UINT8: return s.u8(int(0, 255));
    case GGUF_TYPE.INT8: return s.i8(int(-128, 127));
    case GGUF_TYPE.UINT16: return s.u16(int(0, 65535));
    case GGUF_TYPE.INT16: return s.i16(int(-32768, 32767));
    case GGUF_TYPE.UINT32: return s.u32(int(0, 0xffffffff));
    case GGUF_TYPE.INT32: return s.i32(int(-0x80000000, 0x7fffffff));
    case GGUF_TYPE.FLOAT32: return s.f32(typeof v === 'number' ? v : num());
    case GGUF_TYPE.FLOAT64: return s.f64(typeof v === 'number' ? v : num());
    case GGUF_TYPE.UINT64: return s.u64(typeof v === 'bigint' ? v : int(0, Number.MAX_SAFE_INTEGER));
    case GGUF_TYPE.INT64: return s.i64(typeof v === 'bigint' ? v : int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
    case GGUF_TYPE.BOOL:
      if (typeof v !== 'boolean') throw new GgufError('INVALID_INPUT', `metadata "${key}": expected a boolean`);
      return s.u8(v ? 1 : 0);
    case GGUF_TYPE.STRING:
      if (typeof v !== 'string') throw new GgufError('INVALID_INPUT', `metadata "${key}": expected a string`);
      return s.str(v);
    default:
      throw new GgufError('INVALID_INPUT', `metadata "${key}": value type ${type} cannot be written here`);
  }
}

/**
 * Serializes a GGUF v3 file. Metadata is written in the given order; `general.alignment` (when present, a u32 power
 * of two) sets the alignment. Tensors are laid out in the given order.
 */
export function encodeGguf(metadata: ReadonlyArray<readonly [string, GgufKV]> | ReadonlyMap<string, GgufKV>, tensors: readonly GgufTensorInput[]): Uint8Array {
  const entries = metadata instanceof Map ? [...metadata.entries()] : [...(metadata as ReadonlyArray<readonly [string, GgufKV]>)];
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const keys = new Set<string>();
  for (const [k, kv] of entries) {
    if (keys.has(k)) throw new GgufError('INVALID_INPUT', `duplicate metadata key "${k}"`);
    keys.add(k);
    if (k === 'general.alignment') {
      if (kv.type !== GGUF_TYPE.UINT32 || typeof kv.value !== 'number' || kv.value <= 0 || (kv.value & (kv.value - 1)) !== 0) {
        throw new GgufError('INVALID_INPUT', 'general.alignment must be a u32 power of two');
      }
      alignment = kv.value;
    }
  }
  const s = new ByteSink();
  s.u32(GGUF_MAGIC);
  s.u32(3);
  s.u64(tensors.length);
  s.u64(entries.length);
  for (const [k, kv] of entries) {
    s.str(k);
    s.u32(kv.type);
    if (kv.type === GGUF_TYPE.ARRAY) {
      const it = kv.itemType;
      if (it === undefined || it === GGUF_TYPE.ARRAY || SCALAR_SIZE[it] === undefined && it !== GGUF_TYPE.STRING) {
        throw new GgufError('INVALID_INPUT', `metadata "${k}": bad array item type ${String(it)}`);
      }
      const arr = kv.value as ArrayLike<unknown>;
      if (arr === null || typeof arr !== 'object' || typeof arr.length !== 'number') throw new GgufError('INVALID_INPUT', `metadata "${k}": expected an array`);
      s.u32(it);
      s.u64(arr.length);
      for (let i = 0; i < arr.length; i++) writeScalar(s, it, arr[i], k);
    } else {
      writeScalar(s, kv.type, kv.value, k);
    }
  }
  const names = new Set<string>();
  let off = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError('INVALID_INPUT', `duplicate tensor "${t.name}"`);
    names.add(t.name);
    const bt = GGML_BLOCK[t.type];
    if (!bt) throw new GgufError('INVALID_INPUT', `tensor "${t.name}": unknown type ${t.type}`);
    if (t.dims.length < 1 || t.dims.length > GGML_MAX_DIMS || t.dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new GgufError('INVALID_INPUT', `tensor "${t.name}": bad dims [${t.dims}]`);
    }
    if (t.dims[0] % bt[0] !== 0) throw new GgufError('INVALID_INPUT', `tensor "${t.name}": ne[0]=${t.dims[0]} is not a multiple of ${ggmlTypeName(t.type)}'s block of ${bt[0]}`);
    const nb = tensorByteLength(t.type, t.dims);
    if (t.data.length !== nb) throw new GgufError('INVALID_INPUT', `tensor "${t.name}": ${t.data.length} bytes, ${ggmlTypeName(t.type)} [${t.dims}] needs ${nb}`);
    s.str(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(t.type);
    s.u64(off);
    offsets.push(off);
    off += Math.ceil(nb / alignment) * alignment;
  }
  s.pad(alignment);
  for (const t of tensors) {
    s.bytes(t.data);
    s.pad(alignment);
  }
  return s.buf.slice(0, s.len);
}

// ----------------------------------------------------------------------------------------------- reader

const utf8dec = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos = 0;
  readonly view: DataView;
  constructor(readonly buf: Uint8Array, readonly fileSize: number) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  left(): number { return this.buf.length - this.pos; }
  /** Bytes left in the whole file (more than left() when only a header prefix was read). */
  fileLeft(): number { return this.fileSize - this.pos; }
  need(n: number, what: string): void {
    if (n > this.left()) throw new GgufError('TRUNCATED', `file ends at byte ${this.buf.length} while reading ${what} (needs ${n} bytes at ${this.pos})`);
  }
  u8(w: string) { this.need(1, w); return this.view.getUint8(this.pos++); }
  i8(w: string) { this.need(1, w); return this.view.getInt8(this.pos++); }
  u16(w: string) { this.need(2, w); const v = this.view.getUint16(this.pos, true); this.pos += 2; return v; }
  i16(w: string) { this.need(2, w); const v = this.view.getInt16(this.pos, true); this.pos += 2; return v; }
  u32(w: string) { this.need(4, w); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  i32(w: string) { this.need(4, w); const v = this.view.getInt32(this.pos, true); this.pos += 4; return v; }
  f32(w: string) { this.need(4, w); const v = this.view.getFloat32(this.pos, true); this.pos += 4; return v; }
  f64(w: string) { this.need(8, w); const v = this.view.getFloat64(this.pos, true); this.pos += 8; return v; }
  u64big(w: string) { this.need(8, w); const v = this.view.getBigUint64(this.pos, true); this.pos += 8; return v; }
  i64big(w: string) { this.need(8, w); const v = this.view.getBigInt64(this.pos, true); this.pos += 8; return v; }
  /** A u64 that must be a safe integer (counts, lengths, dims, offsets). */
  u64(w: string): number {
    const v = this.u64big(w);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError('ABSURD_COUNT', `${w} is ${v}, beyond any file`);
    return Number(v);
  }
  str(w: string): string {
    const n = this.u64(`${w} length`);
    if (n > this.left()) throw new GgufError('TRUNCATED', `${w}: string of ${n} bytes at ${this.pos} runs past the end of the file (${this.buf.length} bytes)`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return utf8dec.decode(b);
    } catch {
      throw new GgufError('BAD_STRING', `${w} is not valid UTF-8`);
    }
  }
}

function readScalar(r: Reader, type: number, w: string): GgufScalar {
  switch (type) {
    case GGUF_TYPE.UINT8: return r.u8(w);
    case GGUF_TYPE.INT8: return r.i8(w);
    case GGUF_TYPE.UINT16: return r.u16(w);
    case GGUF_TYPE.INT16: return r.i16(w);
    case GGUF_TYPE.UINT32: return r.u32(w);
    case GGUF_TYPE.INT32: return r.i32(w);
    case GGUF_TYPE.FLOAT32: return r.f32(w);
    case GGUF_TYPE.FLOAT64: return r.f64(w);
    case GGUF_TYPE.UINT64: { const v = r.u64big(w); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case GGUF_TYPE.INT64: { const v = r.i64big(w); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case GGUF_TYPE.BOOL: {
      const b = r.u8(w);
      if (b > 1) throw new GgufError('BAD_VALUE', `${w}: BOOL byte is ${b}, not 0 or 1`);
      return b === 1;
    }
    case GGUF_TYPE.STRING: return r.str(w);
    default: throw new GgufError('UNKNOWN_VALUE_TYPE', `${w}: unknown value type ${type}`);
  }
}

function readArray(r: Reader, key: string): GgufKV {
  const it = r.u32(`"${key}" array item type`);
  const n = r.u64(`"${key}" array length`);
  if (it === GGUF_TYPE.ARRAY) throw new GgufError('BAD_VALUE', `metadata "${key}": arrays of arrays are not supported`);
  const size = it === GGUF_TYPE.STRING ? 8 : SCALAR_SIZE[it];
  if (size === undefined) throw new GgufError('UNKNOWN_VALUE_TYPE', `metadata "${key}": unknown array item type ${it}`);
  if (n * size > r.fileLeft()) throw new GgufError('ABSURD_COUNT', `metadata "${key}": array of ${n} ${VALUE_TYPE_NAME[it]} cannot fit in the ${r.fileLeft()} bytes left`);
  r.need(n * size, `metadata "${key}" array`);
  const w = `metadata "${key}" item`;
  let value: GgufArrayValue;
  const fill = <T extends { [i: number]: number; length: number }>(a: T, f: () => number): T => { for (let i = 0; i < n; i++) a[i] = f(); return a; };
  switch (it) {
    case GGUF_TYPE.UINT8: value = fill(new Uint8Array(n), () => r.u8(w)); break;
    case GGUF_TYPE.INT8: value = fill(new Int8Array(n), () => r.i8(w)); break;
    case GGUF_TYPE.UINT16: value = fill(new Uint16Array(n), () => r.u16(w)); break;
    case GGUF_TYPE.INT16: value = fill(new Int16Array(n), () => r.i16(w)); break;
    case GGUF_TYPE.UINT32: value = fill(new Uint32Array(n), () => r.u32(w)); break;
    case GGUF_TYPE.INT32: value = fill(new Int32Array(n), () => r.i32(w)); break;
    case GGUF_TYPE.FLOAT32: value = fill(new Float32Array(n), () => r.f32(w)); break;
    case GGUF_TYPE.FLOAT64: value = fill(new Float64Array(n), () => r.f64(w)); break;
    default: {
      const out: GgufScalar[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readScalar(r, it, w);
      value = out as GgufArrayValue;
    }
  }
  return { type: GGUF_TYPE.ARRAY, itemType: it as GgufValueType, value };
}

export interface DecodeGgufOptions {
  /**
   * The size of the whole file when `buf` is only its first bytes (header validation without loading the data):
   * offsets are checked against it, and tensors whose data lies beyond `buf` get empty views.
   */
  fileSize?: number;
}

/** Parses and validates a whole GGUF file image (see the module comment for what is checked). */
export function decodeGguf(buf: Uint8Array, opts: DecodeGgufOptions = {}): DecodedGguf {
  if (!(buf instanceof Uint8Array)) throw new GgufError('INVALID_INPUT', 'expected a Uint8Array');
  const fileSize = Math.max(buf.length, opts.fileSize ?? buf.length);
  const r = new Reader(buf, fileSize);
  if (buf.length < 4) throw new GgufError('TRUNCATED', `file has ${buf.length} bytes, too short for the magic`);
  const magic = r.u32('magic');
  // the magic is the file's first bytes: never quoted (an error must not reveal what a file holds)
  if (magic !== GGUF_MAGIC) throw new GgufError('BAD_MAGIC', 'not a GGUF file (bad magic)');
  const version = r.u32('version');
  if (version !== 2 && version !== 3) throw new GgufError('BAD_VERSION', `version ${version} is not supported (2 or 3)`);
  const nTensors = r.u64('tensor_count');
  const nKv = r.u64('metadata_kv_count');
  // the smallest kv is 8 (key length) + 4 (type) + 1 byte; the smallest tensor info is 8 + 4 + 8 + 4 + 8
  if (nKv * 13 > r.fileLeft()) throw new GgufError('ABSURD_COUNT', `metadata_kv_count ${nKv} cannot fit in a file of ${fileSize} bytes`);
  if (nTensors * 32 > r.fileLeft()) throw new GgufError('ABSURD_COUNT', `tensor_count ${nTensors} cannot fit in a file of ${fileSize} bytes`);

  const metadata = new Map<string, GgufKV>();
  for (let i = 0; i < nKv; i++) {
    const key = r.str(`metadata key ${i}`);
    if (metadata.has(key)) throw new GgufError('DUPLICATE_KEY', `metadata key "${key}" appears twice`);
    const type = r.u32(`metadata "${key}" type`);
    if (type === GGUF_TYPE.ARRAY) metadata.set(key, readArray(r, key));
    else if (VALUE_TYPE_NAME[type] === undefined) throw new GgufError('UNKNOWN_VALUE_TYPE', `metadata "${key}": unknown value type ${type}`);
    else metadata.set(key, { type: type as GgufValueType, value: readScalar(r, type, `metadata "${key}"`) });
  }
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    if (al.type !== GGUF_TYPE.UINT32 || typeof al.value !== 'number' || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      throw new GgufError('BAD_ALIGNMENT', `general.alignment must be a u32 power of two, got ${String(al.value)} (${VALUE_TYPE_NAME[al.type]})`);
    }
    alignment = al.value;
  }

  const infos: Array<Omit<GgufTensorInfo, 'data'>> = [];
  const seen = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = r.str(`tensor ${i} name`);
    if (seen.has(name)) throw new GgufError('DUPLICATE_TENSOR', `tensor "${name}" appears twice`);
    seen.add(name);
    const nd = r.u32(`tensor "${name}" n_dims`);
    if (nd < 1 || nd > GGML_MAX_DIMS) throw new GgufError('BAD_DIMS', `tensor "${name}" has ${nd} dims (1..${GGML_MAX_DIMS})`);
    const dims: number[] = [];
    let numel = 1;
    for (let d = 0; d < nd; d++) {
      const v = r.u64(`tensor "${name}" dim ${d}`);
      if (v < 1) throw new GgufError('BAD_DIMS', `tensor "${name}" has dim ${d} = ${v}`);
      numel *= v;
      if (numel > Number.MAX_SAFE_INTEGER) throw new GgufError('BAD_DIMS', `tensor "${name}" has an absurd element count (dims [${dims.concat(v)}...])`);
      dims.push(v);
    }
    const type = r.u32(`tensor "${name}" type`);
    const bt = GGML_BLOCK[type];
    if (!bt) throw new GgufError('UNKNOWN_TENSOR_TYPE', `tensor "${name}" has unknown ggml type ${type}`);
    if (dims[0] % bt[0] !== 0) throw new GgufError('BAD_BLOCK_SHAPE', `tensor "${name}": ne[0]=${dims[0]} is not a multiple of ${ggmlTypeName(type)}'s block size ${bt[0]}`);
    const offset = r.u64(`tensor "${name}" offset`);
    if (offset % alignment !== 0) throw new GgufError('BAD_OFFSET', `tensor "${name}" offset ${offset} is not a multiple of the alignment ${alignment}`);
    infos.push({ name, type, dims, offset, byteLength: (numel / bt[0]) * bt[1] });
  }
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  if (nTensors > 0 && dataOffset > fileSize) throw new GgufError('TRUNCATED', `file ends at ${fileSize}, before the data section at ${dataOffset}`);
  const dataLen = fileSize - dataOffset;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of infos) {
    if (t.offset + t.byteLength > dataLen) {
      throw new GgufError('OUT_OF_BOUNDS', `tensor "${t.name}" (${ggmlTypeName(t.type)} [${t.dims}], ${t.byteLength} bytes at data offset ${t.offset}) ends past the end of the file (data section holds ${Math.max(0, dataLen)} bytes)`);
    }
  }
  const sorted = [...infos].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1], c = sorted[i];
    if (c.offset < p.offset + p.byteLength) throw new GgufError('OVERLAP', `tensors "${p.name}" [${p.offset}, ${p.offset + p.byteLength}) and "${c.name}" (at ${c.offset}) overlap`);
  }
  for (const t of infos) {
    const end = dataOffset + t.offset + t.byteLength;
    tensors.set(t.name, { ...t, data: end <= buf.length ? buf.subarray(dataOffset + t.offset, end) : new Uint8Array(0) });
  }
  return { version, metadata, tensors, alignment, dataOffset };
}

/** Metadata as plain values (arrays as their typed/plain arrays), for code that reads keys by name. */
export function metadataRecord(d: Pick<DecodedGguf, 'metadata'>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, kv] of d.metadata) out[k] = kv.value;
  return out;
}

export function valueTypeName(t: number): string {
  return VALUE_TYPE_NAME[t] ?? `unknown(${t})`;
}
