import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NF4_CODE, nf4Code, quantizeNf4, dequantizeNf4, dequantizeRowsNf4, dequantizeRangeNf4, nf4Bytes, nf4BytesPerParam,
  nf4Scales, DQ_GROUP, DYNAMIC_MAP, dynamicCode,
} from '../../src/engine/quant4.ts';
import { Rng } from '../../src/engine/rng.ts';

/** Standard normal CDF by Simpson integration of the density (error far below 1e-12 on |x| <= 3). */
function normCdf(x: number): number {
  const n = 4000, h = x / n;
  const phi = (t: number) => Math.exp(-t * t / 2) / Math.sqrt(2 * Math.PI);
  let s = phi(0) + phi(x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * phi(i * h);
  return 0.5 + (s * h) / 3;
}
function normPpf(p: number): number {
  let lo = -6, hi = 6;
  for (let i = 0; i < 80; i++) { const m = (lo + hi) / 2; if (normCdf(m) < p) lo = m; else hi = m; }
  return (lo + hi) / 2;
}

test('NF4 code book: the exact bitsandbytes values, and the QLoRA construction reproduces them', () => {
  const bnb = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
  ];
  assert.equal(NF4_CODE.length, 16);
  for (let i = 0; i < 16; i++) assert.equal(NF4_CODE[i], Math.fround(bnb[i]));
  assert.equal(NF4_CODE[7], 0);
  // create_normal_map(offset=0.9677083): 8 positive quantiles from linspace(offset, 0.5, 9), 7 negative from
  // linspace(offset, 0.5, 8) (last point dropped), an exact zero, all divided by the largest.
  const offset = 0.9677083;
  const lin = (a: number, b: number, n: number) => Array.from({ length: n }, (_, i) => Math.fround(a + ((b - a) * i) / (n - 1)));
  const pos = lin(offset, 0.5, 9).slice(0, -1).map(normPpf);
  const neg = lin(offset, 0.5, 8).slice(0, -1).map((p) => -normPpf(p));
  const v = [...pos, 0, ...neg].sort((a, b) => a - b);
  const max = Math.max(...v);
  // (bitsandbytes normalizes in float32, hence agreement to a few float32 ulps, not bit for bit)
  for (let i = 0; i < 16; i++) assert.ok(Math.abs(v[i] / max - NF4_CODE[i]) < 5e-7, `level ${i}: ${v[i] / max} vs ${NF4_CODE[i]}`);
});

test('nf4Code picks the nearest level', () => {
  const rng = new Rng(1);
  for (let k = 0; k < 20000; k++) {
    const x = k < 16 ? NF4_CODE[k] : rng.uniform() * 2 - 1;
    let best = 0;
    for (let i = 1; i < 16; i++) if (Math.abs(x - NF4_CODE[i]) < Math.abs(x - NF4_CODE[best])) best = i;
    assert.equal(nf4Code(x), best, `x=${x}`);
  }
});

test('packing: first value in the high nibble; hand example', () => {
  const q = quantizeNf4(new Float32Array([1, -1, 0, 0.5, -2, 2]), 4);
  // Block 0 (absmax 1): codes 15, 0, 7, 12 (0.5 is nearer 0.4407 than 0.5626). Block 1 (absmax 2): -1 -> 0, 1 -> 15.
  assert.deepEqual([...q.packed], [0xf0, 0x7c, 0x0f]);
  assert.deepEqual([...q.scales!], [1, 2]);
  assert.deepEqual([...dequantizeNf4(q)], [1, -1, 0, NF4_CODE[12], -2, 2]);
  // Odd length: the padding nibble is code 7.
  const odd = quantizeNf4(new Float32Array([0.25, -0.25, 0.25]), 4);
  assert.equal(odd.packed.length, 2);
  assert.equal(odd.packed[1] & 0x0f, 7);
  assert.throws(() => quantizeNf4(new Float32Array([1, NaN]), 2), RangeError);
  assert.throws(() => quantizeNf4(new Float32Array(4), 3), RangeError);
});

function intervalHalfGap(x: number): number {
  for (let i = 0; i < 15; i++) if (x <= NF4_CODE[i + 1]) return (NF4_CODE[i + 1] - NF4_CODE[i]) / 2;
  return 0;
}

function randomWeights(rng: Rng, n: number): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = rng.normal() * 0.02 * (rng.uniform() < 0.01 ? 20 : 1); // some outliers
  for (let i = 0; i < Math.min(n, 64); i++) w[i] = 0; // an all-zero first block
  return w;
}

test('NF4 round trip: every element within half its level gap times the block absmax', () => {
  const rng = new Rng(42);
  for (const n of [1, 63, 64, 65, 1000, 4096 + 33]) {
    const w = randomWeights(rng, n);
    const q = quantizeNf4(w);
    const d = dequantizeNf4(q);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const b = Math.floor(i / 64);
      const amax = q.scales![b];
      const bound = intervalHalfGap(amax ? w[i] / amax : 0) * amax * (1 + 1e-6) + 1e-12;
      const err = Math.abs(w[i] - d[i]);
      assert.ok(err <= bound, `n=${n} i=${i}: err ${err} > ${bound}`);
      assert.ok(err <= 0.152 * amax + 1e-12);
      if (amax) worst = Math.max(worst, err / amax);
      if (i < 64) assert.equal(d[i], 0); // zero block exact
    }
    assert.ok(worst <= 0.152);
  }
  // The largest level gap is the one from -1 to -0.6962.
  let maxGap = 0;
  for (let i = 0; i < 15; i++) maxGap = Math.max(maxGap, NF4_CODE[i + 1] - NF4_CODE[i]);
  assert.ok(Math.abs(maxGap / 2 - 0.1519036) < 1e-6);
});

test('dequantizeRowsNf4 / range equal the matching slice of a full dequantization', () => {
  const rng = new Rng(3);
  const rows = 7, cols = 45; // rows straddle blocks and start at odd offsets
  const w = randomWeights(rng, rows * cols);
  for (const doubleQuant of [false, true]) {
    const q = quantizeNf4(w, 64, { shape: [rows, cols], doubleQuant });
    const full = dequantizeNf4(q);
    for (let r0 = 0; r0 <= rows; r0++) {
      for (let r1 = r0; r1 <= rows; r1++) {
        const out = new Float32Array((r1 - r0) * cols + 3).fill(-99);
        dequantizeRowsNf4(q, r0, r1, out);
        assert.deepEqual([...out.subarray(0, (r1 - r0) * cols)], [...full.subarray(r0 * cols, r1 * cols)]);
        assert.deepEqual([...out.subarray((r1 - r0) * cols)], [-99, -99, -99]); // nothing written past the end
      }
    }
    for (let k = 0; k < 200; k++) {
      const a = rng.int(w.length + 1), b = a + rng.int(w.length - a + 1);
      const out = dequantizeRangeNf4(q, a, b, new Float32Array(b - a));
      assert.deepEqual([...out], [...full.subarray(a, b)]);
    }
    assert.throws(() => dequantizeRowsNf4(q, 2, 8, new Float32Array(1000)), RangeError);
    const empty = quantizeNf4(new Float32Array(0), 64, { shape: [0, 5], doubleQuant });
    assert.equal(dequantizeRowsNf4(empty, 0, 0, new Float32Array(0)).length, 0);
    assert.throws(() => dequantizeRowsNf4(q, 0, 2, new Float32Array(10)), RangeError);
  }
});

test('dynamic 8-bit map (double quantization of scales): shape and nearest-entry coding', () => {
  assert.equal(DYNAMIC_MAP.length, 256);
  for (let i = 1; i < 256; i++) assert.ok(DYNAMIC_MAP[i] > DYNAMIC_MAP[i - 1]);
  assert.equal(DYNAMIC_MAP[255], 1);
  assert.ok(DYNAMIC_MAP.includes(0));
  assert.ok(Math.abs(DYNAMIC_MAP[0] - -(1 - 0.9 / 128)) < 1e-7); // largest negative: mean of the top decade's last bin
  assert.ok(Math.abs(Math.min(...DYNAMIC_MAP.filter((x) => x > 0)) - 0.55e-6) < 1e-12); // 10^-6 * (0.1 + 1) / 2
  const rng = new Rng(11);
  for (let k = 0; k < 5000; k++) {
    const x = k < 256 ? DYNAMIC_MAP[k] : (rng.uniform() * 2 - 1) * (rng.uniform() < 0.5 ? 1 : 1e-3);
    let best = 0;
    for (let i = 1; i < 256; i++) if (Math.abs(x - DYNAMIC_MAP[i]) < Math.abs(x - DYNAMIC_MAP[best])) best = i;
    assert.equal(DYNAMIC_MAP[dynamicCode(x)], DYNAMIC_MAP[best], `x=${x}`);
  }
});

test('double quantization: 4.127 bits/param, error bound includes the scale error', () => {
  const rng = new Rng(9);
  const n = 64 * DQ_GROUP * 4 + 100; // 4 full scale groups and a partial one
  const w = randomWeights(rng, n);
  const plain = quantizeNf4(w, 64);
  const dq = quantizeNf4(w, 64, { doubleQuant: true });
  assert.equal(dq.scales, null);
  const nb = Math.ceil(n / 64);
  assert.equal(nf4Bytes(plain), Math.ceil(n / 2) + 4 * nb);
  assert.equal(nf4Bytes(dq), Math.ceil(n / 2) + nb + 4 * Math.ceil(nb / DQ_GROUP) + 4);
  assert.equal(nf4BytesPerParam(), 0.5625);
  assert.ok(Math.abs(nf4BytesPerParam(64, true) * 8 - 4.127) < 0.001);
  assert.ok(Math.abs(nf4Bytes(dq) / n - nf4BytesPerParam(64, true)) < 1e-3);
  // Same codes (weights are quantized against the exact absmax, as bitsandbytes does).
  assert.deepEqual(dq.packed, plain.packed);
  const s = plain.scales!, s2 = nf4Scales(dq);
  const d = dequantizeNf4(dq);
  let maxHalfGap = 0;
  for (let i = 1; i < 256; i++) maxHalfGap = Math.max(maxHalfGap, (DYNAMIC_MAP[i] - DYNAMIC_MAP[i - 1]) / 2);
  assert.ok(maxHalfGap < 0.0071);
  for (let b = 0; b < nb; b++) {
    const g = Math.floor(b / DQ_GROUP);
    assert.ok(Math.abs(s[b] - s2[b]) <= dq.dq!.groupScales[g] * maxHalfGap * (1 + 1e-5) + 1e-9, `scale ${b}`);
  }
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / 64);
    const bound = intervalHalfGap(s[b] ? w[i] / s[b] : 0) * s[b] + Math.abs(s[b] - s2[b]) + 1e-7;
    assert.ok(Math.abs(w[i] - d[i]) <= bound, `i=${i}`);
  }
  // On Gaussian weights (block absmaxes concentrated around their mean) the scales lose well under 1%.
  const g = new Float32Array(64 * DQ_GROUP * 2).map(() => rng.normal() * 0.02);
  const gs = quantizeNf4(g).scales!, gs2 = nf4Scales(quantizeNf4(g, 64, { doubleQuant: true }));
  let rel = 0;
  for (let b = 0; b < gs.length; b++) rel += Math.abs(gs[b] - gs2[b]) / gs[b];
  assert.ok(rel / gs.length < 0.003, `mean relative scale error ${rel / gs.length}`);
});

