import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  f32ToF16, f16ToF32, f16ToF32Bits, f32BitsToF16, f32ToBf16, bf16ToF32, f32BitsToBf16,
  f32ArrayToF16, f16ArrayToF32, f32ArrayToBf16, bf16ArrayToF32,
} from '../../src/formats/half.ts';

/** Independent definition of binary16 from the standard, in double arithmetic. */
function f16Reference(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

const F = new Float32Array(1);
const U = new Uint32Array(F.buffer);
function bitsOf(x: number): number { F[0] = x; return U[0]; }
function fromBits(b: number): number { U[0] = b >>> 0; return F[0]; }
/** The next binary32 above / below a finite binary32 (by magnitude for positives). */
function nextUp(x: number): number { const b = bitsOf(x); if (x === 0) return fromBits(1); return x > 0 ? fromBits(b + 1) : fromBits(b - 1); }
function nextDown(x: number): number { return -nextUp(-x); }

test('f16ToF32 matches the binary16 definition for all 65536 patterns', () => {
  for (let h = 0; h < 65536; h++) {
    const want = f16Reference(h);
    const got = f16ToF32(h);
    if (Number.isNaN(want)) { assert.ok(Number.isNaN(got), `h=${h.toString(16)}`); continue; }
    assert.equal(Object.is(got, want), true, `h=0x${h.toString(16)}: got ${got}, want ${want}`);
  }
});

test('f32ToF16(f16ToF32(h)) === h for every non-NaN pattern; NaNs stay quiet NaNs with sign and payload', () => {
  for (let h = 0; h < 65536; h++) {
    const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    const back = f32BitsToF16(f16ToF32Bits(h));
    if (isNaN16) {
      assert.equal(back & 0x7c00, 0x7c00);
      assert.notEqual(back & 0x3ff, 0, 'a NaN must not become Inf');
      assert.equal(back, h | 0x200, `NaN 0x${h.toString(16)} keeps sign and payload, gains the quiet bit`);
    } else {
      assert.equal(back, h, `0x${h.toString(16)}`);
      assert.equal(f32ToF16(f16ToF32(h)), h);
    }
  }
});

test('f32ToF16 rounds to nearest, ties to even, at every midpoint between adjacent f16 values', () => {
  // Walk the positive finite f16 values in order (0x0000..0x7bff) and their negatives; midpoints between
  // neighbours are exact binary32 values (12 significant bits).
  for (let h = 0; h < 0x7bff; h++) {
    for (const sign of [0, 0x8000]) {
      const lo = f16ToF32(h | sign), hi = f16ToF32((h + 1) | sign);
      const mid = (lo + hi) / 2;
      assert.equal(Math.fround(mid), mid);
      const even = (h & 1) === 0 ? h : h + 1;
      assert.equal(f32ToF16(mid), even | sign, `tie between 0x${h.toString(16)} and next (sign ${sign})`);
      const towardHi = sign ? nextDown(mid) : nextUp(mid);
      const towardLo = sign ? nextUp(mid) : nextDown(mid);
      assert.equal(f32ToF16(towardHi), (h + 1) | sign);
      assert.equal(f32ToF16(towardLo), h | sign);
    }
  }
});

test('f32ToF16 edge cases: overflow, underflow, signed zero, Inf, NaN', () => {
  assert.equal(f32ToF16(65504), 0x7bff);
  assert.equal(f32ToF16(nextDown(65520)), 0x7bff); // just under the midpoint to 65536
  assert.equal(f32ToF16(65520), 0x7c00); // the tie goes to "even" 0x7c00 = Inf
  assert.equal(f32ToF16(1e10), 0x7c00);
  assert.equal(f32ToF16(-1e10), 0xfc00);
  assert.equal(f32ToF16(Infinity), 0x7c00);
  assert.equal(f32ToF16(-Infinity), 0xfc00);
  assert.equal(f32ToF16(0), 0);
  assert.equal(f32ToF16(-0), 0x8000);
  assert.equal(f32ToF16(2 ** -24), 1); // smallest subnormal
  assert.equal(f32ToF16(2 ** -25), 0); // exactly half of it: tie to even -> 0
  assert.equal(f32ToF16(nextUp(2 ** -25)), 1);
  assert.equal(f32ToF16(-(2 ** -26)), 0x8000);
  assert.equal(f32ToF16(1e-45), 0); // an f32 subnormal
  assert.equal(f32ToF16(2 ** -14), 0x0400); // smallest normal
  assert.equal(f32ToF16(2 ** -14 - 2 ** -25), 0x0400); // largest subnormal + half ulp: tie to even, carries into normal
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToF16(1 / 3), 0x3555);
  assert.equal(f32ToF16(Math.PI), 0x4248);
  const n = f32ToF16(NaN);
  assert.equal(n & 0x7c00, 0x7c00);
  assert.notEqual(n & 0x3ff, 0);
  // A signalling NaN whose payload sits only in the low bits still must not turn into Inf.
  assert.equal(f32BitsToF16(0x7f800001), 0x7e00);
  assert.equal(f32BitsToF16(0xff800001), 0xfe00);
});

test('bf16 <-> f32 exhaustive round trip and rounding', () => {
  for (let h = 0; h < 65536; h++) {
    const x = bf16ToF32(h);
    const isNaN16 = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
    if (isNaN16) {
      assert.ok(Number.isNaN(x));
      assert.equal(f32BitsToBf16((h << 16) >>> 0), h | 0x40);
      continue;
    }
    assert.equal(bitsOf(x), (h << 16) >>> 0);
    assert.equal(f32ToBf16(x), h);
    // Midpoint to the next pattern up in magnitude (finite ones only): tie to even.
    if ((h & 0x7fff) < 0x7f7f) {
      const midBits = ((h << 16) | 0x8000) >>> 0;
      const even = (h & 1) === 0 ? h : h + 1;
      assert.equal(f32BitsToBf16(midBits), even);
      assert.equal(f32BitsToBf16(midBits + 1), h + 1);
      assert.equal(f32BitsToBf16(midBits - 1), h);
    }
  }
  assert.equal(f32ToBf16(3.4028234663852886e38), 0x7f80); // max f32 rounds up to Inf in bf16
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(-0), 0x8000);
  assert.equal(f32BitsToBf16(0x7f800001), 0x7fc0); // sNaN with low payload stays NaN
});

test('bulk converters agree with the scalar ones and keep NaN payloads bit for bit', () => {
  const all = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) all[i] = i;
  const f = f16ArrayToF32(all);
  const fb = new Uint32Array(f.buffer);
  for (let i = 0; i < 65536; i++) assert.equal(fb[i], f16ToF32Bits(i));
  const back = f32ArrayToF16(f);
  for (let i = 0; i < 65536; i++) {
    const isNaN16 = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    assert.equal(back[i], isNaN16 ? i | 0x200 : i);
  }
  const b = bf16ArrayToF32(all);
  const bb = new Uint32Array(b.buffer);
  for (let i = 0; i < 65536; i++) assert.equal(bb[i], (i << 16) >>> 0);
  const b2 = f32ArrayToBf16(b);
  for (let i = 0; i < 65536; i++) {
    const isNaN16 = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
    assert.equal(b2[i], isNaN16 ? i | 0x40 : i);
  }
  // Random f32 values: bulk == scalar.
  const r = new Float32Array(10000);
  let s = 12345;
  for (let i = 0; i < r.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; r[i] = fromBits(s); }
  const rb = new Uint32Array(r.buffer);
  const h = f32ArrayToF16(r), hb = f32ArrayToBf16(r);
  for (let i = 0; i < r.length; i++) {
    assert.equal(h[i], f32BitsToF16(rb[i]));
    assert.equal(hb[i], f32BitsToBf16(rb[i]));
  }
  assert.throws(() => f16ArrayToF32(all, new Float32Array(3)), RangeError);
});
