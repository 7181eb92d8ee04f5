/**
 * 16-bit floats: IEEE 754 binary16 (F16) and bfloat16 (BF16) <-> binary32 (F32).
 *
 * Owns: bit-exact conversions, scalar and bulk. Guarantees:
 *   - F32 -> F16 and F32 -> BF16 round to nearest, ties to even (the IEEE default, what numpy, PyTorch and
 *     `_cvtss_sh(x, 0)` do), overflow to +-Inf, gradual underflow through the subnormals, signed zeros kept.
 *   - F16 -> F32 and BF16 -> F32 are exact (every 16-bit value is representable in binary32).
 *   - NaN stays NaN: F32 -> 16-bit keeps the sign and the top payload bits and forces the quiet bit, so a NaN is
 *     never turned into an Inf; the bulk 16 -> 32 converters keep the payload bit for bit (they work on the
 *     integer view; a NaN passing through a JS `number` may have its payload canonicalized by the engine).
 * The scalar F32 -> 16-bit functions take a JS number and first round it to binary32 (Math.fround): they convert
 * the F32 value, not the double. Bit patterns are plain integers in [0, 65535].
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The F16 bit pattern nearest to the binary32 value of `x` (ties to even). */
export function f32ToF16(x: number): number {
  f32[0] = x;
  return f32BitsToF16(u32[0]);
}

/** F16 conversion of a binary32 given by its bit pattern. */
export function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its top 9 payload bits and gets the quiet bit (never collapses into Inf).
    return mant === 0 ? sign | 0x7c00 : sign | 0x7c00 | 0x200 | (mant >>> 13);
  }
  if (exp >= 113) {
    // Normal range of F16 (unbiased exponent >= -14), or overflow. Carry from rounding walks into the exponent,
    // and past 0x7bff into 0x7c00 = Inf, which is exactly IEEE overflow under round-to-nearest.
    if (exp > 142) return sign | 0x7c00;
    let h = ((exp - 112) << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  // Subnormal F16 (or zero): value = (1.mant) * 2^(exp-127) = m * 2^(exp-150) with m the 24-bit significand;
  // in units of the smallest subnormal 2^-24 that is m >> (126 - exp).
  if (exp < 102) return sign; // below half the smallest subnormal (2^-25): rounds to zero
  const m = mant | 0x800000;
  const shift = 126 - exp; // 14..24
  let h = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) !== 0)) h++; // may carry into the smallest normal: correct
  return sign | h;
}

/** The exact binary32 value of an F16 bit pattern. */
export function f16ToF32(h: number): number {
  u32[0] = f16ToF32Bits(h);
  return f32[0];
}

/** The binary32 bit pattern of an F16 bit pattern (exact, NaN payload kept). */
export function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // Subnormal: normalize. value = mant * 2^-24; find the leading one.
    let e = 113; // biased F32 exponent of 2^-14
    let m = mant;
    while ((m & 0x400) === 0) { m <<= 1; e--; }
    return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
  }
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

/** The BF16 bit pattern nearest to the binary32 value of `x` (ties to even). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  return f32BitsToBf16(u32[0]);
}

/** BF16 conversion of a binary32 given by its bit pattern. */
export function f32BitsToBf16(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff; // quiet NaN
  // Rounding carry walks into the exponent and up to Inf, as IEEE requires.
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The exact binary32 value of a BF16 bit pattern. */
export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

let f16Table: Uint32Array | null = null;

/** All 65536 F16 -> F32 bit patterns, built on first bulk use (256 KiB). */
function table(): Uint32Array {
  if (f16Table === null) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32Bits(h);
  }
  return f16Table;
}

function checkOut(name: string, n: number, out: { length: number }): void {
  if (out.length < n) throw new RangeError(`${name}: output holds ${out.length} values, needs ${n}`);
}

/** Bulk F32 -> F16 (round to nearest even). `out` defaults to a new array of the same length. */
export function f32ArrayToF16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkOut('f32ArrayToF16', src.length, out);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16(bits[i]);
  return out;
}

/** Bulk F16 -> F32, exact, through a 65536-entry table. */
export function f16ArrayToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  checkOut('f16ArrayToF32', src.length, out);
  const t = table();
  const o = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) o[i] = t[src[i]];
  return out;
}

/** Bulk F32 -> BF16 (round to nearest even). */
export function f32ArrayToBf16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkOut('f32ArrayToBf16', src.length, out);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16(bits[i]);
  return out;
}

/** Bulk BF16 -> F32, exact. */
export function bf16ArrayToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  checkOut('bf16ArrayToF32', src.length, out);
  const o = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) o[i] = src[i] << 16;
  return out;
}
