/**
 * ggml tensor encodings: float arrays <-> the bytes of a GGUF tensor of a given ggml type.
 *
 * Owns: the block layouts of ggml-common.h and the dequantization of ggml-quants.c, per type (QK_K = 256):
 *   F32    4-byte floats.          F16 / BF16   2-byte halves (formats/half.ts).
 *   Q8_0   32 values: f16 d, int8 qs[32];                        x = d * q
 *   Q4_0   32 values: f16 d, u8 qs[16];                          x[j] = d * ((qs[j] & 15) - 8), x[j+16] = d * ((qs[j] >> 4) - 8)
 *   Q4_K   256 values (8 sub-blocks of 32): f16 d, f16 dmin, u8 scales[12] (eight 6-bit scales and eight 6-bit
 *          mins, packed as get_scale_min_k4 reads them), u8 qs[128]; per 64 values, 32 bytes whose low nibbles
 *          are sub-block 2i and high nibbles sub-block 2i+1;   x = d*sc * q - dmin*m
 *   Q6_K   256 values (16 sub-blocks of 16): u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), int8 scales[16],
 *          f16 d; per 128 values, ql[l] holds values l (low nibble) and l+64 (high), ql[l+32] values l+32 and
 *          l+96, qh[l] the high bits of l, l+32, l+64, l+96 (2 bits each, from bit 0);   x = d * sc * (q - 32)
 * Dequantization follows ggml's float32 arithmetic step by step (Math.fround), so it is bit-exact.
 * Quantization is provided for F32, F16, BF16, Q8_0 (ggml's reference rounding, `quantizeQ8_0` below) and, for
 * tests and small exports, simple (not ggml's search-optimal) Q4_0, Q4_K and Q6_K encoders that produce valid blocks.
 */
import { f16ToF32, f32ToF16, f32ArrayToF16, f16ArrayToF32, f32ArrayToBf16, bf16ArrayToF32 } from './half.ts';
import { GGML_BLOCK, GGML_TYPE, ggmlTypeName } from './gguf.ts';

const QK_K = 256;
const fr = Math.fround;

export class GgufQuantError extends Error {
  constructor(message: string) {
    super(`GGUF tensor: ${message}`);
    this.name = 'GgufQuantError';
  }
}

/** Types this module can decode to float. */
export const DEQUANTIZABLE: readonly number[] = [GGML_TYPE.F32, GGML_TYPE.F16, GGML_TYPE.BF16, GGML_TYPE.Q8_0, GGML_TYPE.Q4_0, GGML_TYPE.Q4_K, GGML_TYPE.Q6_K];
/** Types this module can encode. */
export const QUANTIZABLE: readonly number[] = DEQUANTIZABLE;

function checkSize(type: number, bytes: Uint8Array, n: number): void {
  const bt = GGML_BLOCK[type];
  if (!bt) throw new GgufQuantError(`unknown type ${type}`);
  if (n % bt[0] !== 0) throw new GgufQuantError(`${n} values are not whole ${ggmlTypeName(type)} blocks of ${bt[0]}`);
  const need = (n / bt[0]) * bt[1];
  if (bytes.length !== need) throw new GgufQuantError(`${ggmlTypeName(type)}: ${n} values need ${need} bytes, got ${bytes.length}`);
}

const h16 = (b: Uint8Array, o: number) => f16ToF32(b[o] | (b[o + 1] << 8));

/** Decodes `n` values of a tensor of ggml `type` from its bytes. */
export function dequantize(type: number, bytes: Uint8Array, n: number): Float32Array {
  checkSize(type, bytes, n);
  const out = new Float32Array(n);
  switch (type) {
    case GGML_TYPE.F32: {
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case GGML_TYPE.F16: case GGML_TYPE.BF16: {
      const h = new Uint16Array(n);
      new Uint8Array(h.buffer).set(bytes);
      return type === GGML_TYPE.F16 ? f16ArrayToF32(h, out) : bf16ArrayToF32(h, out);
    }
    case GGML_TYPE.Q8_0: {
      for (let b = 0; b < n / 32; b++) {
        const o = b * 34, d = h16(bytes, o);
        for (let j = 0; j < 32; j++) out[b * 32 + j] = ((bytes[o + 2 + j] << 24) >> 24) * d;
      }
      return out;
    }
    case GGML_TYPE.Q4_0: {
      for (let b = 0; b < n / 32; b++) {
        const o = b * 18, d = h16(bytes, o), y = b * 32;
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j];
          out[y + j] = ((q & 15) - 8) * d;
          out[y + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      return out;
    }
    case GGML_TYPE.Q4_K: {
      for (let b = 0; b < n / QK_K; b++) {
        const o = b * 144, d = h16(bytes, o), dmin = h16(bytes, o + 2), sc = o + 4;
        let q = o + 16, y = b * QK_K, is = 0;
        for (let j = 0; j < QK_K; j += 64) {
          const [s1, m1] = scaleMinK4(is, bytes, sc), [s2, m2] = scaleMinK4(is + 1, bytes, sc);
          const d1 = fr(d * s1), mm1 = fr(dmin * m1), d2 = fr(d * s2), mm2 = fr(dmin * m2);
          for (let l = 0; l < 32; l++) out[y++] = fr(fr(d1 * (bytes[q + l] & 15)) - mm1);
          for (let l = 0; l < 32; l++) out[y++] = fr(fr(d2 * (bytes[q + l] >> 4)) - mm2);
          q += 32;
          is += 2;
        }
      }
      return out;
    }
    case GGML_TYPE.Q6_K: {
      for (let b = 0; b < n / QK_K; b++) {
        const o = b * 210, d = h16(bytes, o + 208);
        let ql = o, qh = o + 128, sc = o + 192, y = b * QK_K;
        for (let half = 0; half < 2; half++) {
          for (let l = 0; l < 32; l++) {
            const is = l >> 4, h = bytes[qh + l];
            const q1 = ((bytes[ql + l] & 15) | ((h & 3) << 4)) - 32;
            const q2 = ((bytes[ql + l + 32] & 15) | (((h >> 2) & 3) << 4)) - 32;
            const q3 = ((bytes[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const q4 = ((bytes[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
            const s = (i: number) => (bytes[sc + i] << 24) >> 24;
            out[y + l] = fr(fr(d * s(is)) * q1);
            out[y + l + 32] = fr(fr(d * s(is + 2)) * q2);
            out[y + l + 64] = fr(fr(d * s(is + 4)) * q3);
            out[y + l + 96] = fr(fr(d * s(is + 6)) * q4);
          }
          y += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
      }
      return out;
    }
    default:
      throw new GgufQuantError(`type ${ggmlTypeName(type)} cannot be dequantized (supported: ${DEQUANTIZABLE.map(ggmlTypeName).join(', ')})`);
  }
}

/** ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 packed bytes at `o`. */
function scaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63];
  return [(q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4), (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4)];
}

const roundHalfAway = (x: number) => Math.sign(x) * Math.round(Math.abs(x));
const clamp = (x: number, lo: number, hi: number) => (x < lo ? lo : x > hi ? hi : x);

/** Encodes float values as a tensor of ggml `type`; n must be whole blocks. */
export function quantize(type: number, x: Float32Array): Uint8Array {
  const bt = GGML_BLOCK[type];
  if (!bt) throw new GgufQuantError(`unknown type ${type}`);
  const n = x.length;
  if (n % bt[0] !== 0) throw new GgufQuantError(`${n} values are not whole ${ggmlTypeName(type)} blocks of ${bt[0]}`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) throw new GgufQuantError(`non-finite value ${x[i]} at index ${i}`);
  const out = new Uint8Array((n / bt[0]) * bt[1]);
  switch (type) {
    case GGML_TYPE.F32: out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)); return out;
    case GGML_TYPE.F16: { const h = f32ArrayToF16(x); out.set(new Uint8Array(h.buffer)); return out; }
    case GGML_TYPE.BF16: { const h = f32ArrayToBf16(x); out.set(new Uint8Array(h.buffer)); return out; }
    case GGML_TYPE.Q8_0: return encodeQ8_0Blocks(quantizeQ8_0(x));
    case GGML_TYPE.Q4_0: {
      // ggml's quantize_row_q4_0_ref: d = (value of largest magnitude) / -8, q = min(15, trunc(x/d + 8.5))
      for (let b = 0; b < n / 32; b++) {
        let amax = 0, max = 0;
        for (let j = 0; j < 32; j++) { const v = x[b * 32 + j]; if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; } }
        const d = fr(max / -8), id = d ? fr(1 / d) : 0, o = b * 18, hd = f32ToF16(d);
        out[o] = hd & 255; out[o + 1] = hd >> 8;
        for (let j = 0; j < 16; j++) {
          const q0 = Math.min(15, Math.trunc(fr(fr(x[b * 32 + j] * id) + 8.5)));
          const q1 = Math.min(15, Math.trunc(fr(fr(x[b * 32 + j + 16] * id) + 8.5)));
          out[o + 2 + j] = q0 | (q1 << 4);
        }
      }
      return out;
    }
    case GGML_TYPE.Q4_K: {
      for (let b = 0; b < n / QK_K; b++) {
        const base = b * QK_K, o = b * 144;
        const scl = new Float64Array(8), mins = new Float64Array(8);
        for (let s = 0; s < 8; s++) {
          let lo = 0, hi = 0;
          for (let l = 0; l < 32; l++) { const v = x[base + s * 32 + l]; if (v < lo) lo = v; if (v > hi) hi = v; }
          scl[s] = (hi - lo) / 15;
          mins[s] = -lo;
        }
        const d = f16ToF32(f32ToF16(Math.max(...scl) / 63)), dmin = f16ToF32(f32ToF16(Math.max(...mins) / 63));
        const hd = f32ToF16(d), hm = f32ToF16(dmin);
        out[o] = hd & 255; out[o + 1] = hd >> 8; out[o + 2] = hm & 255; out[o + 3] = hm >> 8;
        const L = new Uint8Array(8), M = new Uint8Array(8);
        for (let s = 0; s < 8; s++) {
          L[s] = d > 0 ? clamp(Math.round(scl[s] / d), 0, 63) : 0;
          M[s] = dmin > 0 ? clamp(Math.ceil(mins[s] / dmin), 0, 63) : 0;
        }
        const sc = o + 4;
        for (let j = 0; j < 8; j++) {
          if (j < 4) { out[sc + j] = L[j]; out[sc + j + 4] = M[j]; }
          else {
            out[sc + j + 4] = (L[j] & 15) | ((M[j] & 15) << 4);
            out[sc + j - 4] |= (L[j] >> 4) << 6;
            out[sc + j] |= (M[j] >> 4) << 6;
          }
        }
        for (let s = 0; s < 8; s++) {
          const ds = fr(d * L[s]), ms = fr(dmin * M[s]);
          const qs = o + 16 + (s >> 1) * 32, shift = (s & 1) * 4;
          for (let l = 0; l < 32; l++) {
            const q = ds > 0 ? clamp(Math.round((x[base + s * 32 + l] + ms) / ds), 0, 15) : 0;
            out[qs + l] |= q << shift;
          }
        }
      }
      return out;
    }
    case GGML_TYPE.Q6_K: {
      for (let b = 0; b < n / QK_K; b++) {
        const base = b * QK_K, o = b * 210;
        const sf = new Float64Array(16);
        for (let s = 0; s < 16; s++) {
          let amax = 0;
          for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[base + s * 16 + l]));
          sf[s] = amax / 31;
        }
        const d = f16ToF32(f32ToF16(Math.max(...sf) / 127));
        const hd = f32ToF16(d);
        out[o + 208] = hd & 255; out[o + 209] = hd >> 8;
        const S = new Int8Array(16);
        for (let s = 0; s < 16; s++) S[s] = d > 0 ? clamp(roundHalfAway(sf[s] / d), -128, 127) : 0;
        for (let s = 0; s < 16; s++) out[o + 192 + s] = S[s] & 255;
        const Q = new Uint8Array(QK_K);
        for (let i = 0; i < QK_K; i++) {
          const ds = fr(d * S[i >> 4]);
          Q[i] = (ds !== 0 ? clamp(Math.round(x[base + i] / ds), -32, 31) : 0) + 32;
        }
        for (let half = 0; half < 2; half++) {
          const ql = o + half * 64, qh = o + 128 + half * 32, q = half * 128;
          for (let l = 0; l < 32; l++) {
            const q1 = Q[q + l], q2 = Q[q + l + 32], q3 = Q[q + l + 64], q4 = Q[q + l + 96];
            out[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
            out[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
            out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
          }
        }
      }
      return out;
    }
    default:
      throw new GgufQuantError(`type ${ggmlTypeName(type)} cannot be encoded (supported: ${QUANTIZABLE.map(ggmlTypeName).join(', ')})`);
  }
}

// Q8_0 (GGUF): blocks of 32 int8 values with one f16 scale d = absmax / 127; x ~= d * q.

export const Q8_0_BLOCK = 32;
/** Bytes of one Q8_0 block in a GGUF file: f16 d, then 32 int8. */
export const Q8_0_BLOCK_BYTES = 34;

export interface Q8_0Tensor {
  length: number;
  /** f16 bit patterns, one per block. */
  d: Uint16Array;
  /** ceil(length / 32) * 32 int8 values (the tail of the last block is 0). */
  qs: Int8Array;
}

/**
 * Quantizes like ggml's `quantize_row_q8_0_ref`: d = amax / 127 (f32), q = round-half-away(x / d), and d is
 * stored as f16. Lengths need not be a multiple of 32 (the last block is zero-padded); GGUF itself requires it.
 */
export function quantizeQ8_0(w: Float32Array): Q8_0Tensor {
  const nb = Math.ceil(w.length / Q8_0_BLOCK);
  const d = new Uint16Array(nb);
  const qs = new Int8Array(nb * Q8_0_BLOCK);
  for (let b = 0; b < nb; b++) {
    const start = b * Q8_0_BLOCK, end = Math.min(start + Q8_0_BLOCK, w.length);
    let amax = 0;
    for (let i = start; i < end; i++) {
      const a = Math.abs(w[i]);
      if (!(a <= 3.4028234663852886e38)) throw new RangeError(`quantizeQ8_0: non-finite value ${w[i]} at index ${i}`);
      if (a > amax) amax = a;
    }
    const df = Math.fround(amax / 127);
    const id = df ? Math.fround(1 / df) : 0;
    d[b] = f32ToF16(df);
    for (let i = start; i < end; i++) {
      const x = Math.fround(w[i] * id);
      qs[i] = Math.sign(x) * Math.round(Math.abs(x)); // roundf: half away from zero
    }
  }
  return { length: w.length, d, qs };
}

export function dequantizeQ8_0(q: Q8_0Tensor, out: Float32Array = new Float32Array(q.length)): Float32Array {
  if (out.length < q.length) throw new RangeError(`dequantizeQ8_0: output holds ${out.length} values, needs ${q.length}`);
  for (let b = 0; b < q.d.length; b++) {
    const s = f16ToF32(q.d[b]);
    const start = b * Q8_0_BLOCK, end = Math.min(start + Q8_0_BLOCK, q.length);
    for (let i = start; i < end; i++) out[i] = q.qs[i] * s;
  }
  return out;
}

/** The GGUF byte image of a Q8_0 tensor: per block, f16 d (little-endian) then 32 int8. */
export function encodeQ8_0Blocks(q: Q8_0Tensor): Uint8Array {
  const out = new Uint8Array(q.d.length * Q8_0_BLOCK_BYTES);
  for (let b = 0; b < q.d.length; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    out[o] = q.d[b] & 0xff;
    out[o + 1] = q.d[b] >> 8;
    out.set(new Uint8Array(q.qs.buffer, q.qs.byteOffset + b * Q8_0_BLOCK, Q8_0_BLOCK), o + 2);
  }
  return out;
}

/** Reads a GGUF Q8_0 byte image of `length` values back. */
export function decodeQ8_0Blocks(bytes: Uint8Array, length: number): Q8_0Tensor {
  const nb = Math.ceil(length / Q8_0_BLOCK);
  if (bytes.length !== nb * Q8_0_BLOCK_BYTES) throw new RangeError(`decodeQ8_0Blocks: ${length} values need ${nb * Q8_0_BLOCK_BYTES} bytes, got ${bytes.length}`);
  const d = new Uint16Array(nb);
  const qs = new Int8Array(nb * Q8_0_BLOCK);
  for (let b = 0; b < nb; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    d[b] = bytes[o] | (bytes[o + 1] << 8);
    qs.set(new Int8Array(bytes.buffer, bytes.byteOffset + o + 2, Q8_0_BLOCK), b * Q8_0_BLOCK);
  }
  return { length, d, qs };
}
