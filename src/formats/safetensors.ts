/**
 * safetensors: a pure (no I/O) reader and writer, byte-compatible with the reference Rust implementation
 * (huggingface/safetensors).
 *
 * Owns: the file layout below, encoding, and strict decoding. Guarantees:
 *   - `encodeSafetensors` writes what the Rust `serialize` writes for the same input: same order, same JSON text,
 *     same padding, so files diff byte for byte.
 *   - `decodeSafetensors` either returns views that are exactly the declared tensors, or throws a
 *     `SafetensorsError` whose `code` names the problem and whose message names the tensor/offsets/sizes
 *     involved. It never throws anything else on any input (fuzzed in test/formats/safetensors.test.ts), and it
 *     never allocates according to a size it read from the file before checking it against the buffer.
 *
 * File layout (all integers little-endian):
 *
 *   1. header length N: u64, 8 bytes. N <= 100,000,000 (the reference limit) and 8 + N <= file size.
 *   2. header: N bytes of UTF-8 JSON, starting with '{' and right-padded with spaces (0x20) so that N is a multiple
 *      of 8 (the writer always pads; the reader accepts any N, like the reference). The JSON is one object:
 *        - optional "__metadata__": an object of string -> string (free-form; HF writes {"format": "pt"});
 *        - every other key is a tensor name -> {"dtype": D, "shape": [d0, d1, ...], "data_offsets": [begin, end]}.
 *      D is one of the dtypes in DTYPE_SIZE. shape may be [] (a scalar: one element) and may contain 0.
 *      Offsets are byte offsets relative to the start of the data section (item 3), begin <= end.
 *      Writer order: "__metadata__" first (its keys sorted, for reproducible files; the reference writes them in
 *      hash-map order), then tensors sorted by dtype in decreasing alignment (the Rust enum order, see DTYPE_ORDER),
 *      then by name (byte-wise), so with a single dtype it is simply name order; data offsets follow the same
 *      order. Keys inside a tensor entry are written as dtype, shape, data_offsets.
 *   3. data: the byte buffer, from file offset 8 + N to the end of the file. Tensors are C-order (row-major),
 *      little-endian. Sorted by begin offset, the tensors must tile the buffer exactly: the first begins at 0,
 *      each begins where the previous ends (no gap, no overlap), the last ends at the end of the file, and each
 *      spans exactly prod(shape) * size(dtype) bytes.
 *
 * Because N is a multiple of 8 and tensors are written by decreasing alignment, every tensor written here starts
 * at a file offset aligned to its element size.
 */
import { f16ArrayToF32, bf16ArrayToF32 } from './half.ts';

/** Element sizes in bytes of the dtypes the format defines. */
export const DTYPE_SIZE = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  F64: 8, I64: 8, U64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_SIZE;

/** The Rust `Dtype` enum order ("increasing alignment"); the writer sorts by it, descending. */
export const DTYPE_ORDER: readonly Dtype[] = [
  'BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64',
];

export const MAX_HEADER_SIZE = 100_000_000;

export type SafetensorsErrorCode =
  | 'FILE_TOO_SMALL' // fewer than 8 bytes
  | 'HEADER_TOO_LARGE' // N > MAX_HEADER_SIZE
  | 'HEADER_LENGTH' // 8 + N beyond the end of the file
  | 'INVALID_UTF8'
  | 'INVALID_HEADER_START' // does not start with '{'
  | 'INVALID_JSON'
  | 'INVALID_HEADER' // valid JSON, wrong structure (not an object, entry missing fields, bad metadata)
  | 'UNKNOWN_DTYPE'
  | 'INVALID_SHAPE'
  | 'INVALID_OFFSETS' // not two non-negative integers with begin <= end
  | 'OFFSETS_OVERLAP'
  | 'OFFSETS_GAP' // bytes between tensors (or before the first) that no tensor covers
  | 'OFFSETS_OUT_OF_BOUNDS' // a tensor ends past the end of the file
  | 'TRAILING_DATA' // bytes after the last tensor that no tensor covers
  | 'SIZE_MISMATCH' // end - begin != prod(shape) * size(dtype)
  | 'UNSUPPORTED_DTYPE' // tensorToF32 on a dtype it does not convert
  | 'INVALID_INPUT'; // encoder: bad tensor list

/** The only error type this module throws. */
export class SafetensorsError extends Error {
  constructor(public readonly code: SafetensorsErrorCode, message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

export interface SafetensorsTensorInput {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  /** The raw little-endian bytes, or any typed array whose bytes are them (e.g. a Float32Array for F32). */
  data: ArrayBufferView;
}

export interface SafetensorsTensorView {
  dtype: Dtype;
  shape: number[];
  /** A view into the decoded buffer (no copy). */
  data: Uint8Array;
  /** [begin, end] relative to the data section, as in the header. */
  dataOffsets: [number, number];
}

export interface DecodedSafetensors {
  metadata: Record<string, string> | null;
  /** In data-offset order. */
  tensors: Map<string, SafetensorsTensorView>;
  /** Byte length of the JSON header (N). */
  headerLength: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

const utf8 = new TextEncoder();
const SURROGATE = /[\ud800-\udfff]/;

function byteCompare(a: string, b: string): number {
  // Rust compares Strings byte-wise (UTF-8), which is code-point order. JS `<` compares UTF-16 code units: the
  // same order unless a character above U+FFFF (a surrogate pair) is involved; then compare the UTF-8 bytes.
  if (a === b) return 0;
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  const ea = utf8.encode(a), eb = utf8.encode(b);
  const n = Math.min(ea.length, eb.length);
  for (let i = 0; i < n; i++) if (ea[i] !== eb[i]) return ea[i] - eb[i];
  return ea.length - eb.length;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Serializes tensors into one safetensors file image. Throws SafetensorsError('INVALID_INPUT') for duplicate or
 * reserved names, unknown dtypes, bad shapes, or data whose byte length is not prod(shape) * size(dtype).
 */
export function encodeSafetensors(
  tensors: readonly SafetensorsTensorInput[],
  metadata?: Record<string, string> | null,
): Uint8Array {
  if (!LITTLE_ENDIAN) throw new SafetensorsError('INVALID_INPUT', 'big-endian hosts are not supported');
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== 'string') throw new SafetensorsError('INVALID_INPUT', 'tensor name must be a string');
    if (t.name === '__metadata__') throw new SafetensorsError('INVALID_INPUT', 'tensor name "__metadata__" is reserved');
    if (seen.has(t.name)) throw new SafetensorsError('INVALID_INPUT', `duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (!isDtype(t.dtype)) throw new SafetensorsError('INVALID_INPUT', `tensor "${t.name}": unknown dtype ${JSON.stringify(t.dtype)}`);
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new SafetensorsError('INVALID_INPUT', `tensor "${t.name}": bad shape [${t.shape}]`);
    }
    const want = numel(t.shape) * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== want) {
      throw new SafetensorsError('INVALID_INPUT',
        `tensor "${t.name}": ${t.dtype} shape [${t.shape}] needs ${want} bytes, data has ${t.data.byteLength}`);
    }
  }
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError('INVALID_INPUT', `metadata "${k}" must be a string, got ${typeof v}`);
    }
  }
  const rank = (d: Dtype) => DTYPE_ORDER.indexOf(d);
  const sorted = [...tensors].sort((a, b) => rank(b.dtype) - rank(a.dtype) || byteCompare(a.name, b.name));

  // Build the JSON by hand so that key order is exactly the Rust one (JSON.stringify of the pieces gives the
  // same string escaping as serde_json: \" \\ \b \f \n \r \t, \u00XX for other controls, nothing else escaped).
  const parts: string[] = [];
  if (metadata) {
    const entries = Object.keys(metadata).sort(byteCompare).map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
    parts.push(`"__metadata__":{${entries.join(',')}}`);
  }
  let offset = 0;
  for (const t of sorted) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const n = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + n + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, n, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let p = 8 + n;
  for (const t of sorted) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? 'a string' : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Entry { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }

/**
 * Parses and validates a whole safetensors file image. Tensor data are views into `buf` (no copy); the views
 * keep `buf` alive. Throws SafetensorsError (only) on any malformed input.
 */
/**
 * Where JSON.parse failed (", at position N"), without its message: V8's messages quote the text around the error,
 * and an error must not reveal what a file holds.
 */
export function jsonErrorAt(e: unknown): string {
  const m = /position (\d+)/.exec(e instanceof Error ? e.message : '');
  return m ? ` (at position ${m[1]})` : '';
}

export function decodeSafetensors(buf: Uint8Array): DecodedSafetensors {
  if (!(buf instanceof Uint8Array)) throw new SafetensorsError('INVALID_INPUT', 'decodeSafetensors expects a Uint8Array');
  const size = buf.length;
  if (size < 8) throw new SafetensorsError('FILE_TOO_SMALL', `file is ${size} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo; // exact below 2^53; anything with hi > 0 is far beyond the limit anyway
  if (hi !== 0 || n > MAX_HEADER_SIZE) {
    // the length is the file's first 8 bytes: never quoted (an error must not reveal what a file holds)
    throw new SafetensorsError('HEADER_TOO_LARGE', `header length exceeds the ${MAX_HEADER_SIZE}-byte limit (not a safetensors file?)`);
  }
  if (8 + n > size) {
    throw new SafetensorsError('HEADER_LENGTH', `header length reaches beyond the end of the ${size}-byte file (truncated, or not a safetensors file)`);
  }
  let text: string;
  try {
    text = utf8Strict.decode(buf.subarray(8, 8 + n));
  } catch {
    throw new SafetensorsError('INVALID_UTF8', `header (${n} bytes) is not valid UTF-8`);
  }
  if (text.length === 0 || text[0] !== '{') {
    throw new SafetensorsError('INVALID_HEADER_START', text.length ? "header must start with '{' (not a safetensors file?)" : "header must start with '{', but it is empty (N = 0)");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError('INVALID_JSON', `header is not valid JSON${jsonErrorAt(e)}`);
  }
  if (!isPlainObject(parsed)) throw new SafetensorsError('INVALID_HEADER', `header must be a JSON object, got ${describe(parsed)}`);

  let metadata: Record<string, string> | null = null;
  const entries: Entry[] = [];
  for (const name of Object.keys(parsed)) {
    const value = parsed[name];
    if (name === '__metadata__') {
      if (value === null) continue; // the reference reads null as "no metadata"
      if (!isPlainObject(value)) throw new SafetensorsError('INVALID_HEADER', `"__metadata__" must be an object of strings, got ${describe(value)}`);
      const md: Record<string, string> = {};
      for (const k of Object.keys(value)) {
        const v = value[k];
        if (typeof v !== 'string') throw new SafetensorsError('INVALID_HEADER', `"__metadata__"."${k}" must be a string, got ${describe(v)}`);
        // defineProperty: a key named "__proto__" stays a plain own property.
        Object.defineProperty(md, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      metadata = md;
      continue;
    }
    if (!isPlainObject(value)) throw new SafetensorsError('INVALID_HEADER', `tensor "${name}": entry must be an object, got ${describe(value)}`);
    const { dtype, shape, data_offsets: offs } = value;
    if (dtype === undefined || shape === undefined || offs === undefined) {
      const missing = ['dtype', 'shape', 'data_offsets'].filter((k) => value[k] === undefined);
      throw new SafetensorsError('INVALID_HEADER', `tensor "${name}": missing ${missing.join(', ')}`);
    }
    if (!isDtype(dtype)) throw new SafetensorsError('UNKNOWN_DTYPE', `tensor "${name}": unknown dtype ${typeof dtype === 'string' ? JSON.stringify(dtype) : describe(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError('INVALID_SHAPE', `tensor "${name}": shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      throw new SafetensorsError('INVALID_OFFSETS', `tensor "${name}": data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offs)}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin: offs[0] as number, end: offs[1] as number });
  }

  const dataStart = 8 + n;
  const dataLen = size - dataStart;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev = '';
  for (const e of entries) {
    if (e.begin < pos) {
      throw new SafetensorsError('OFFSETS_OVERLAP', `tensor "${e.name}" [${e.begin}, ${e.end}] overlaps tensor "${prev}" which ends at ${pos}`);
    }
    if (e.begin > pos) {
      throw new SafetensorsError('OFFSETS_GAP',
        `bytes [${pos}, ${e.begin}) ${prev ? `between tensor "${prev}" and tensor "${e.name}"` : `before the first tensor "${e.name}"`} are not covered by any tensor`);
    }
    if (e.end > dataLen) {
      throw new SafetensorsError('OFFSETS_OUT_OF_BOUNDS', `tensor "${e.name}" [${e.begin}, ${e.end}] ends past the data section of ${dataLen} bytes`);
    }
    // Like the reference's checked_mul: an element count that overflows (here: leaves the exact integers) is an
    // error even if a later 0 would bring it back.
    let count = 1;
    for (const d of e.shape) {
      count *= d;
      if (count > Number.MAX_SAFE_INTEGER) {
        throw new SafetensorsError('INVALID_SHAPE', `tensor "${e.name}": element count of shape [${e.shape}] overflows`);
      }
    }
    const want = count * DTYPE_SIZE[e.dtype];
    if (want !== e.end - e.begin) {
      throw new SafetensorsError('SIZE_MISMATCH',
        `tensor "${e.name}": ${e.dtype} shape [${e.shape}] needs ${want} bytes, data_offsets [${e.begin}, ${e.end}] span ${e.end - e.begin}`);
    }
    pos = e.end;
    prev = e.name;
  }
  if (pos !== dataLen) {
    throw new SafetensorsError('TRAILING_DATA',
      `${dataLen - pos} bytes at the end of the data section (from offset ${pos} of ${dataLen}) are not covered by any tensor`);
  }
  const tensors = new Map<string, SafetensorsTensorView>();
  for (const e of entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: buf.subarray(dataStart + e.begin, dataStart + e.end),
      dataOffsets: [e.begin, e.end],
    });
  }
  return { metadata, tensors, headerLength: n };
}

/** The number of elements of a shape (1 for a scalar []). */
export function shapeNumel(shape: readonly number[]): number {
  return numel(shape);
}

/**
 * A fresh Float32Array with the values of an F32, F16, BF16 or F64 tensor (a copy: independent of the file
 * buffer and aligned whatever the view's offset). Other dtypes throw SafetensorsError('UNSUPPORTED_DTYPE').
 */
export function tensorToF32(t: Pick<SafetensorsTensorView, 'dtype' | 'data'>, name = '(tensor)'): Float32Array {
  // Copy into a fresh, aligned buffer. (Not `.slice()`: on a Node Buffer that returns a view, not a copy.)
  const bytes = new Uint8Array(t.data);
  switch (t.dtype) {
    case 'F32': return new Float32Array(bytes.buffer, 0, bytes.length / 4);
    case 'F16': return f16ArrayToF32(new Uint16Array(bytes.buffer, 0, bytes.length / 2));
    case 'BF16': return bf16ArrayToF32(new Uint16Array(bytes.buffer, 0, bytes.length / 2));
    case 'F64': return Float32Array.from(new Float64Array(bytes.buffer, 0, bytes.length / 8));
    default: throw new SafetensorsError('UNSUPPORTED_DTYPE', `${name}: cannot convert ${t.dtype} to F32`);
  }
}
