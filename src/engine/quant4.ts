/**
 * Block quantization of frozen weights: NF4 for QLoRA (4-bit NormalFloat, Dettmers et al. 2023). (GGUF's Q8_0
 * blocks are file-format math: formats/gguf-quants.ts.)
 *
 * Owns: the NF4 code book, packing, the (optional) double quantization of the block scales, dequantization of a
 * whole tensor or of a row range (on the fly, for a matmul that streams a frozen base matrix), and memory
 * accounting. Guarantees:
 *   - Codes, packing and scales follow bitsandbytes' `quantize_4bit(quant_type='nf4')`: one absmax (f32) per block
 *     of `blockSize` consecutive values (row-major flat order, blocks may span rows), each value mapped to the
 *     nearest of the 16 NF4 levels times that absmax, two codes per byte with the FIRST value in the HIGH nibble.
 *   - Without double quantization, |w - dequant(w)| <= (half the gap between the two levels around w/absmax)
 *     * absmax for every element; the worst case over the code book is 0.1519 * absmax (the gap from -1 to
 *     -0.6962). Zero blocks are reproduced exactly (scale 0).
 *   - Double quantization (`doubleQuant: true`): the f32 block scales are themselves quantized, as QLoRA and
 *     bitsandbytes do, to 8 bits in groups of 256 after subtracting their mean: scale ~= offset +
 *     DYNAMIC_MAP[code] * groupAbsmax, where DYNAMIC_MAP is bitsandbytes' signed 8-bit "dynamic" code (a sign, a
 *     decimal exponent 10^-6..10^0 and a linear fraction; `create_dynamic_map(signed=True)`), the code being the
 *     nearest entry. Cost: 4 + 8/64 + 32/(64*256) = 4.127 bits = 0.5159 bytes per parameter, versus 4.5 bits
 *     (0.5625 B) with f32 scales. Error bound: the one above plus |scale - dequantized scale| (at most half the
 *     largest map gap, 0.0070, times groupAbsmax). Measured mean relative scale error: 0.16% on Gaussian weights,
 *     0.6% on Student-t(4) weights (a plain linear int8 code would give 0.12% / 0.7%: no clear winner, so the
 *     bitsandbytes code is kept). Weights are quantized against the exact absmax, as bitsandbytes does.
 *   - Non-finite weights are rejected (RangeError): a NaN in a frozen base model is a bug upstream.
 */

/** The 16 NF4 levels (bitsandbytes' table, float32 values, ascending; code 7 is exactly 0). */
export const NF4_CODE = new Float32Array([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
  -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** Decision thresholds: midpoints between adjacent levels (value > MID[i] => code > i). */
const NF4_MID = new Float64Array(15);
for (let i = 0; i < 15; i++) NF4_MID[i] = (NF4_CODE[i] + NF4_CODE[i + 1]) / 2;
const [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14] = NF4_MID;

/** Group size of the second-level (scale) quantization. */
export const DQ_GROUP = 256;

/**
 * bitsandbytes' signed dynamic 8-bit map (`create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)`):
 * for i = 0..6, the 2^i midpoints of linspace(0.1, 1, 2^i + 1) times 10^(i-6), both signs; plus 0 and 1; sorted.
 * 256 entries in [-1, 1], dense near 0 (relative precision) and coarse near +-1.
 */
export const DYNAMIC_MAP: Float32Array = (() => {
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const items = 2 ** i + 1;
    const bounds = Array.from({ length: items }, (_, k) => Math.fround(0.1 + (0.9 * k) / (items - 1)));
    for (let k = 0; k + 1 < items; k++) {
      const mean = Math.fround((bounds[k] + bounds[k + 1]) / 2);
      data.push(10 ** (i - 6) * mean, -(10 ** (i - 6)) * mean);
    }
  }
  data.push(0, 1);
  return Float32Array.from(data.sort((a, b) => a - b));
})();

/** Midpoints between adjacent DYNAMIC_MAP entries, for nearest-entry search. */
const DYNAMIC_MID = new Float64Array(255);
for (let i = 0; i < 255; i++) DYNAMIC_MID[i] = (DYNAMIC_MAP[i] + DYNAMIC_MAP[i + 1]) / 2;

/** Index of the DYNAMIC_MAP entry nearest to x in [-1, 1]. */
export function dynamicCode(x: number): number {
  let lo = 0, hi = 255; // answer in [lo, hi]
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x > DYNAMIC_MID[mid]) lo = mid + 1; else hi = mid;
  }
  return lo;
}

export interface Nf4DoubleQuant {
  /** One byte per block: the DYNAMIC_MAP index of (absmax - offset) / groupAbsmax. */
  codes: Uint8Array;
  /** One f32 per group of DQ_GROUP blocks: the absmax of (absmax - offset) over the group. */
  groupScales: Float32Array;
  /** Mean of all block absmaxes, subtracted before quantizing. */
  offset: number;
}

export interface Nf4Tensor {
  /** Number of values. */
  length: number;
  /** Logical shape (product = length); rows for `dequantizeRowsNf4` are along the first dimension. */
  shape: number[];
  blockSize: number;
  /** ceil(length / 2) bytes, two codes per byte, first value in the high nibble; an odd tail pads with code 7 (0). */
  packed: Uint8Array;
  /** One absmax per block (ceil(length / blockSize)), or null when double quantized. */
  scales: Float32Array | null;
  /** The quantized scales, when double quantized. */
  dq: Nf4DoubleQuant | null;
}

export interface QuantizeNf4Options {
  /** Logical shape; defaults to [w.length]. */
  shape?: readonly number[];
  /** Quantize the block scales to 8 bits in groups of 256 (QLoRA's double quantization). */
  doubleQuant?: boolean;
}

/** The NF4 code (0..15) of a value already divided by its block absmax (in [-1, 1]). */
export function nf4Code(x: number): number {
  // The number of thresholds below x. Branch-free: on real weights a 4-compare binary search mispredicts most of
  // its branches and measures about twice as slow.
  return (+(x > T0)) + (+(x > T1)) + (+(x > T2)) + (+(x > T3)) + (+(x > T4)) + (+(x > T5)) + (+(x > T6)) + (+(x > T7))
    + (+(x > T8)) + (+(x > T9)) + (+(x > T10)) + (+(x > T11)) + (+(x > T12)) + (+(x > T13)) + (+(x > T14));
}

export function quantizeNf4(w: Float32Array, blockSize = 64, opts: QuantizeNf4Options = {}): Nf4Tensor {
  if (!Number.isInteger(blockSize) || blockSize < 2 || blockSize % 2 !== 0) {
    throw new RangeError(`quantizeNf4: blockSize must be an even integer >= 2, got ${blockSize}`);
  }
  const n = w.length;
  // Index arithmetic below uses 32-bit shifts (i >> 1): one quantized tensor holds at most 2^31 - 1 values.
  if (n > 0x7fffffff) throw new RangeError(`quantizeNf4: ${n} values; at most 2^31 - 1 per tensor (split it)`);
  const shape = opts.shape ? [...opts.shape] : [n];
  if (shape.reduce((a, b) => a * b, 1) !== n) throw new RangeError(`quantizeNf4: shape [${shape}] does not hold ${n} values`);
  const nBlocks = Math.ceil(n / blockSize);
  const scales = new Float32Array(nBlocks);
  const packed = new Uint8Array(Math.ceil(n / 2));
  for (let b = 0; b < nBlocks; b++) {
    const start = b * blockSize;
    const end = Math.min(start + blockSize, n);
    let amax = 0;
    for (let i = start; i < end; i++) {
      const a = Math.abs(w[i]);
      if (!(a <= 3.4028234663852886e38)) throw new RangeError(`quantizeNf4: non-finite value ${w[i]} at index ${i}`);
      if (a > amax) amax = a;
    }
    scales[b] = amax;
    const inv = amax > 0 ? 1 / amax : 0;
    // blockSize is even, so a block starts on a byte boundary; an odd tail pads with code 7.
    for (let i = start; i < end; i += 2) {
      const hi = nf4Code(w[i] * inv);
      const lo = i + 1 < end ? nf4Code(w[i + 1] * inv) : 7;
      packed[i >> 1] = (hi << 4) | lo;
    }
  }
  const q: Nf4Tensor = { length: n, shape, blockSize, packed, scales, dq: null };
  if (opts.doubleQuant) {
    q.dq = quantizeScales(scales);
    q.scales = null;
  }
  return q;
}

function quantizeScales(s: Float32Array): Nf4DoubleQuant {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i];
  const offset = Math.fround(s.length ? sum / s.length : 0);
  const nGroups = Math.ceil(s.length / DQ_GROUP);
  const codes = new Uint8Array(s.length);
  const groupScales = new Float32Array(nGroups);
  for (let g = 0; g < nGroups; g++) {
    const start = g * DQ_GROUP, end = Math.min(start + DQ_GROUP, s.length);
    let amax = 0;
    for (let i = start; i < end; i++) amax = Math.max(amax, Math.abs(s[i] - offset));
    groupScales[g] = amax;
    const inv = amax > 0 ? 1 / Math.fround(amax) : 0;
    for (let i = start; i < end; i++) codes[i] = dynamicCode((s[i] - offset) * inv);
  }
  return { codes, groupScales, offset };
}

/** The block scales as f32 (dequantizing them when double quantized). */
export function nf4Scales(q: Nf4Tensor): Float32Array {
  if (q.scales) return q.scales;
  const dq = q.dq!;
  const out = new Float32Array(dq.codes.length);
  for (let b = 0; b < out.length; b++) out[b] = dq.offset + DYNAMIC_MAP[dq.codes[b]] * dq.groupScales[(b / DQ_GROUP) | 0];
  return out;
}

function blockScale(q: Nf4Tensor, b: number): number {
  if (q.scales) return q.scales[b];
  const dq = q.dq!;
  return Math.fround(dq.offset + DYNAMIC_MAP[dq.codes[b]] * dq.groupScales[(b / DQ_GROUP) | 0]);
}

/**
 * Dequantizes values [start, end) of the flat tensor into out[0 .. end - start). The inner loop is a 16-entry
 * table lookup times the block scale, two values per packed byte.
 */
export function dequantizeRangeNf4(q: Nf4Tensor, start: number, end: number, out: Float32Array): Float32Array {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= q.length)) {
    throw new RangeError(`dequantizeNf4: range [${start}, ${end}) outside [0, ${q.length})`);
  }
  if (out.length < end - start) throw new RangeError(`dequantizeNf4: output holds ${out.length} values, needs ${end - start}`);
  const code = NF4_CODE, packed = q.packed, bs = q.blockSize;
  let i = start;
  let o = 0;
  while (i < end) {
    const b = (i / bs) | 0;
    const s = blockScale(q, b);
    const blockEnd = Math.min((b + 1) * bs, end);
    // A leading odd element (low nibble of its byte).
    if ((i & 1) === 1) { out[o++] = code[packed[i >> 1] & 0x0f] * s; i++; }
    // Whole bytes.
    const pairsEnd = blockEnd - ((blockEnd - i) & 1);
    for (; i < pairsEnd; i += 2) {
      const byte = packed[i >> 1];
      out[o] = code[byte >> 4] * s;
      out[o + 1] = code[byte & 0x0f] * s;
      o += 2;
    }
    // A trailing lone element (high nibble).
    if (i < blockEnd) { out[o++] = code[packed[i >> 1] >> 4] * s; i++; }
  }
  return out;
}

/** Dequantizes the whole tensor into `out` (length >= q.length). */
export function dequantizeNf4(q: Nf4Tensor, out: Float32Array = new Float32Array(q.length)): Float32Array {
  return dequantizeRangeNf4(q, 0, q.length, out);
}

/** Elements per row: the product of all dimensions after the first (the whole tensor for 1-D). */
export function nf4RowLength(q: Nf4Tensor): number {
  return q.shape.length >= 2 ? q.shape.slice(1).reduce((a, b) => a * b, 1) : q.length;
}

/**
 * Dequantizes rows [rowStart, rowEnd) (along the first dimension of `q.shape`) into out[0 ..), row-major: the
 * on-the-fly path for multiplying by a frozen quantized matrix a panel at a time.
 */
export function dequantizeRowsNf4(q: Nf4Tensor, rowStart: number, rowEnd: number, out: Float32Array): Float32Array {
  const cols = nf4RowLength(q);
  const rows = q.shape.length >= 2 ? q.shape[0] : 1;
  if (!(Number.isInteger(rowStart) && Number.isInteger(rowEnd) && 0 <= rowStart && rowStart <= rowEnd && rowEnd <= rows)) {
    throw new RangeError(`dequantizeRowsNf4: rows [${rowStart}, ${rowEnd}) outside [0, ${rows})`);
  }
  return dequantizeRangeNf4(q, rowStart * cols, rowEnd * cols, out);
}

/** Bytes held by the quantized tensor: packed codes + scales (+ the double-quantization arrays and offset). */
export function nf4Bytes(q: Nf4Tensor): number {
  let bytes = q.packed.byteLength;
  if (q.scales) bytes += q.scales.byteLength;
  if (q.dq) bytes += q.dq.codes.byteLength + q.dq.groupScales.byteLength + 4;
  return bytes;
}

/** Asymptotic bytes per parameter: 0.5625 for NF4 with f32 scales (block 64), 0.5159 double quantized. */
export function nf4BytesPerParam(blockSize = 64, doubleQuant = false): number {
  return 0.5 + (doubleQuant ? (1 + 4 / DQ_GROUP) : 4) / blockSize;
}
