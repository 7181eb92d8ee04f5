/**
 * Conformance suite of the gemm seam (src/engine/gemm/gemm-seam.ts), run against every available backend:
 * reference always; native (the own micro-kernels) with every kernel this processor runs (AVX-512, AVX2+FMA, plain
 * C) at 1 and 2 threads when the addon is built; openblas when its addon is built; portable (WebAssembly SIMD, 1
 * and 2 threads, and the chunked path) when the runtime supports wasm threads + SIMD (Node >= 20 does).
 *
 * A backend that is not available is skipped with the reason. Set MODELFAB_GEMM_REQUIRE=native,portable (CI)
 * to make unavailability a failure instead (openblas may be named too).
 *
 * Results are compared with a float64 computation, with a tolerance relative to sum_k |alpha a_ik b_kj| + |beta c_ij|:
 * float32's for float32 kernels, bfloat16's for the mixed-precision ones (which must also match a float64 product of
 * the operands rounded to bfloat16 to float32's tolerance).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createGemm, describeGemm, gemmAvailability, type Gemm } from '../../src/engine/gemm/create-gemm.ts';
import { relaxedSimdSupported } from '../../src/engine/gemm/gemm-kernel.mjs';
import { createPortableGemm, type PortableOptions } from '../../src/engine/gemm/portable.ts';
import { createNativeGemm, nativeKernels, precisionRefusal } from '../../src/engine/gemm/native.ts';
import { bf16ArrayToF32, bf16ToF32, f32ArrayToBf16, f32ToBf16 } from '../../src/formats/half.ts';

// ---- helpers -----------------------------------------------------------------------------------------------
let seed = 12345;
function rand(): number { // xorshift, deterministic
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return ((seed >>> 0) / 2 ** 32) * 2 - 1;
}
function randArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand();
  return a;
}

/** Expected C (float64) and an error bound per element. */
function expected(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, B: Float32Array, beta: number, C: Float32Array): { want: Float64Array; bound: Float64Array } {
  const want = new Float64Array(M * N), bound = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, sa = 0;
      for (let k = 0; k < K; k++) {
        const p = (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
        s += p; sa += Math.abs(p);
      }
      const c = beta === 0 ? 0 : beta * C[i * N + j];
      want[i * N + j] = alpha * s + c;
      bound[i * N + j] = Math.abs(alpha) * sa + Math.abs(c);
    }
  }
  return { want, bound };
}

/** Round to bfloat16 (nearest even), as the mixed-precision kernels round their operands. */
const bf16 = (x: number) => bf16ToF32(f32ToBf16(x));

function checkAt(g: Gemm, tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, beta: number,
  opts: { offset?: number; nanC?: boolean; bf16?: 'loose' | 'rounded' } = {}): void {
  const off = opts.offset ?? 0;
  const pad = 5;
  const mk = (n: number) => {
    const whole = randArray(n + off + pad);
    return { whole, view: whole.subarray(off, off + n + pad) }; // views longer than needed, at an offset
  };
  const a = mk(M * K), b = mk(K * N), c = mk(M * N);
  if (opts.nanC || beta === 0) c.view.fill(NaN, 0, M * N);
  const c0 = c.whole.slice();
  const round = opts.bf16 === 'rounded' ? (v: Float32Array) => v.map(bf16) : (v: Float32Array) => v;
  const { want, bound } = expected(tA, tB, M, N, K, alpha, round(a.view), round(b.view), beta, c.view);
  const aCopy = a.whole.slice(), bCopy = b.whole.slice();
  g.sgemm(tA, tB, M, N, K, alpha, a.view, b.view, beta, c.view);
  // float32 accumulation over K terms; operands rounded to bfloat16 (8 significant bits, unit roundoff 2^-8) add
  // up to 2^-7 relative to each product
  const tol = 2 * 2 ** -23 * (K + 2) + (opts.bf16 === 'loose' ? 2 ** -7 : 0);
  const what = `${g.name} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta} offset=${off}`;
  for (let i = 0; i < M * N; i++) {
    const got = c.view[i];
    const err = Math.abs(got - want[i]);
    if (!(err <= tol * bound[i] + 1e-30)) {
      assert.fail(`${what}: C[${Math.floor(i / N)},${i % N}] = ${got}, want ${want[i]} (err ${err}, bound ${tol * bound[i]})`);
    }
  }
  // nothing outside the first M*N elements of the view is touched, inputs are unchanged
  for (let i = 0; i < c.whole.length; i++) {
    if (i >= off && i < off + M * N) continue;
    if (!Object.is(c.whole[i], c0[i])) assert.fail(`${what}: C element ${i - off} outside the result was written`);
  }
  assert.deepEqual(a.whole, aCopy, `${what}: A modified`);
  assert.deepEqual(b.whole, bCopy, `${what}: B modified`);
}

const check = checkAt;

const TRANS: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];
/** Odd sizes in every position; each of 1, 3, 17, 63, 65, 129, 300 appears as M, N and K. */
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 3, 3], [17, 17, 17], [63, 65, 129],
  [1, 300, 17], [300, 1, 63], [17, 65, 1], [3, 129, 65], [63, 3, 300], [65, 17, 129], [129, 63, 3], [300, 129, 65],
  [129, 300, 1], [65, 1, 300], [1, 63, 129], [300, 17, 3], [4, 8, 256], [8, 16, 257], [33, 31, 513],
];

// ---- the suite ---------------------------------------------------------------------------------------------
function conformance(label: string, make: () => Promise<Gemm>, skip: string | false, precision: 'fp32' | 'bf16' = 'fp32'): void {
  const check = (g: Gemm, tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, beta: number, opts: Parameters<typeof checkAt>[8] = {}) =>
    checkAt(g, tA, tB, M, N, K, alpha, beta, precision === 'bf16' ? { bf16: 'loose', ...opts } : opts);
  describe(label, { skip }, () => {
    let g: Gemm;
    before(async () => { g = await make(); });
    after(() => g?.close());

    test('describes itself', () => {
      assert.match(describeGemm(g), /^gemm: (native|openblas|portable|reference)\b.*, \d+ threads?$/);
      assert.ok(Number.isInteger(g.threads) && g.threads >= 1);
    });

    for (const [tA, tB] of TRANS) {
      test(`odd sizes, ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`, () => {
        for (const [M, N, K] of SHAPES) check(g, tA, tB, M, N, K, 1, 0);
      });
      test(`alpha and beta, ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`, () => {
        for (const [M, N, K] of [[17, 65, 63], [65, 17, 129], [1, 1, 5], [129, 129, 17]] as const) {
          check(g, tA, tB, M, N, K, 1, 1); // accumulate
          check(g, tA, tB, M, N, K, -0.5, 0.25);
          check(g, tA, tB, M, N, K, 2.5, 0, { nanC: true }); // beta = 0 ignores NaN in C
          check(g, tA, tB, M, N, K, 0, 0.5); // alpha = 0 only scales C
          check(g, tA, tB, M, N, K, 0, 0, { nanC: true });
        }
      });
      test(`subarray views with offsets, ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`, () => {
        for (const off of [1, 3, 7]) {
          check(g, tA, tB, 17, 65, 63, 1, 0, { offset: off });
          check(g, tA, tB, 63, 17, 129, 0.5, 1, { offset: off });
        }
      });
    }

    test('K = 0 gives beta * C; M = 0 or N = 0 is a no-op', () => {
      const C = new Float32Array([1, 2, NaN, 4, 5, 6]);
      g.sgemm(false, false, 2, 3, 0, 1, new Float32Array(0), new Float32Array(0), 2, C);
      assert.deepEqual([...C].slice(0, 2), [2, 4]);
      assert.ok(Number.isNaN(C[2]));
      g.sgemm(true, true, 2, 3, 0, 1, new Float32Array(0), new Float32Array(0), 0, C);
      assert.deepEqual([...C], [0, 0, 0, 0, 0, 0]);
      const D = new Float32Array([7]);
      g.sgemm(false, false, 0, 1, 3, 1, new Float32Array(0), new Float32Array(3), 0, D);
      g.sgemm(false, false, 1, 0, 3, 1, new Float32Array(3), new Float32Array(0), 0, D);
      assert.equal(D[0], 7);
    });

    test('a larger problem (300 x 129 x 300)', () => {
      check(g, false, true, 300, 129, 300, 1, 0);
      check(g, true, false, 129, 300, 300, 1, 1);
    });

    test('too-short arrays and wrong types throw, and the backend still works', () => {
      const M = 9, N = 7, K = 5;
      const A = randArray(M * K), B = randArray(K * N), C = new Float32Array(M * N);
      assert.throws(() => g.sgemm(false, false, M, N, K, 1, A.subarray(1), B, 0, C), RangeError);
      assert.throws(() => g.sgemm(false, false, M, N, K, 1, A, B.subarray(0, K * N - 1), 0, C), RangeError);
      assert.throws(() => g.sgemm(true, true, M, N, K, 1, A, B, 0, C.subarray(2)), RangeError);
      assert.throws(() => g.sgemm(false, false, M, N, K + 1, 1, A, B, 0, C), RangeError);
      assert.throws(() => g.sgemm(false, false, -1, N, K, 1, A, B, 0, C), RangeError);
      assert.throws(() => g.sgemm(false, false, 2.5, N, K, 1, A, B, 0, C), RangeError);
      assert.throws(() => g.sgemm(false, false, M, N, K, 1, new Float64Array(M * K) as unknown as Float32Array, B, 0, C), TypeError);
      assert.throws(() => g.sgemm(false, false, 1, 1, 1, 1, A, B, 0, null as unknown as Float32Array), TypeError);
      check(g, false, false, M, N, K, 1, 0);
    });
  });
}

const avail = gemmAvailability();
const required = new Set((process.env.MODELFAB_GEMM_REQUIRE ?? '').split(',').map((s) => s.trim()).filter(Boolean));
function skipReason(name: 'native' | 'openblas' | 'portable'): string | false {
  const a = avail[name];
  if (a.ok) return false;
  if (required.has(name)) {
    test(`${name} gemm is required (MODELFAB_GEMM_REQUIRE)`, () => assert.fail(`${name} gemm unavailable: ${a.reason}`));
  }
  return `${name} gemm unavailable: ${a.reason}`;
}
const nativeSkip = skipReason('native');
const openblasSkip = skipReason('openblas');
const portableSkip = skipReason('portable');
const kernels = nativeKernels();
// minParallelWork: 0 makes even tiny problems go through the worker path
const portable = (o: PortableOptions) => () => createPortableGemm({ minParallelWork: 0, ...o });

conformance('reference gemm', () => createGemm({ backend: 'reference' }), false);
conformance('native gemm (own kernels, the default)', () => createGemm({ backend: 'native' }), nativeSkip);
for (const k of kernels) {
  const skip = nativeSkip || (k.supported ? false : `this processor does not run the ${k.name} kernel`);
  for (const threads of [1, 2]) {
    conformance(`native gemm, ${k.name} kernel (${k.mr}x${k.nr}${k.bf16 ? ', bf16 operands' : ''}), ${threads} thread${threads > 1 ? 's' : ''}`,
      async () => createNativeGemm({ kernel: k.name, threads, ...(k.bf16 ? { precision: 'bf16' as const } : {}) }), skip, k.bf16 ? 'bf16' : 'fp32');
  }
}
conformance('openblas gemm', () => createGemm({ backend: 'openblas' }), openblasSkip);
conformance('openblas gemm, 1 thread', () => createGemm({ backend: 'openblas', threads: 1 }), openblasSkip);

describe('native gemm kernels', { skip: nativeSkip }, () => {
  test('the plain C kernel is always there and runs; the default is the fastest supported float32 one', async () => {
    const fp32 = kernels.filter((k) => !k.bf16);
    assert.equal(fp32.at(-1)?.name, 'generic');
    assert.ok(fp32.at(-1)?.supported);
    const g = await createNativeGemm({ threads: 1 });
    try {
      assert.equal(g.kernel, fp32.find((k) => k.supported)?.name);
      assert.equal(g.precision, 'fp32');
      assert.equal(describeGemm(g), `gemm: native ${g.kernel} (own kernels), 1 thread`);
    } finally {
      g.close();
    }
  });

  test('1 and 2 threads give the same bits, for every kernel and transpose', async () => {
    for (const k of kernels.filter((x) => x.supported)) {
      const one = createNativeGemm({ kernel: k.name, threads: 1 }), two = createNativeGemm({ kernel: k.name, threads: 2 });
      try {
        // past the size where work is split; rows and columns not multiples of any micro-tile; K over two slices;
        // one and two rows (the unpacked path, split by columns); 13 rows split as 12 + 1
        for (const [M, N, K] of [[301, 129, 65], [65, 301, 300], [129, 67, 517], [1, 1000, 300], [2, 700, 257], [13, 8, 3000]] as const) {
          for (const [tA, tB] of TRANS) {
            const A = randArray(M * K), B = randArray(K * N), C1 = randArray(M * N), C2 = C1.slice();
            one.sgemm(tA, tB, M, N, K, 0.75, A, B, 0.5, C1);
            two.sgemm(tA, tB, M, N, K, 0.75, A, B, 0.5, C2);
            assert.deepEqual(C2, C1, `${k.name} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K}`);
          }
        }
        check(two, true, true, 129, 67, 517, 1, 0.5, k.bf16 ? { bf16: 'loose' } : {});
      } finally {
        one.close();
        two.close();
      }
    }
  });

  test('an unknown or unsupported kernel is refused with the choices', () => {
    assert.throws(() => createNativeGemm({ kernel: 'sse9' }), /kernel must be one of .*generic.*; got 'sse9'/);
    const saved = process.env.MODELFAB_GEMM_KERNEL;
    try {
      process.env.MODELFAB_GEMM_KERNEL = 'fastest';
      assert.throws(() => createNativeGemm(), /MODELFAB_GEMM_KERNEL must be one of/);
      process.env.MODELFAB_GEMM_KERNEL = 'generic';
      const g = createNativeGemm({ threads: 1 });
      assert.equal(g.kernel, 'generic');
      g.close();
    } finally {
      if (saved === undefined) delete process.env.MODELFAB_GEMM_KERNEL;
      else process.env.MODELFAB_GEMM_KERNEL = saved;
    }
    const missing = kernels.find((k) => !k.supported);
    if (missing) assert.throws(() => createNativeGemm({ kernel: missing.name }), /does not run/);
  });

  const bf16Why = precisionRefusal('bf16');
  test('precision bf16: operands rounded to bfloat16, products summed in float32', { skip: bf16Why ?? false }, async () => {
    const g = await createGemm({ precision: 'bf16', threads: 2 });
    try {
      assert.equal((g as ReturnType<typeof createNativeGemm>).precision, 'bf16');
      assert.match(describeGemm(g), /^gemm: native (amx-bf16|avx512-bf16) \(own kernels, bf16 operands, float32 sums\), 2 threads$/);
      // every bf16 kernel, on the packed path (more than 2 rows, more than 8 columns): float32's tolerance around
      // the rounded operands
      for (const k of kernels.filter((x) => x.bf16 && x.supported)) {
        const one = createNativeGemm({ kernel: k.name, threads: 1 });
        try {
          for (const [tA, tB] of TRANS) {
            for (const [M, N, K] of [[3, 9, 1], [17, 65, 63], [63, 65, 129], [300, 129, 65], [33, 31, 513], [129, 300, 300], [13, 40, 1031]] as const) {
              check(one, tA, tB, M, N, K, 1, 0, { bf16: 'rounded' });
              check(one, tA, tB, M, N, K, -0.5, 0.25, { bf16: 'rounded' });
            }
          }
        } finally {
          one.close();
        }
      }
      // and it does round: the float32 product of the same operands differs by far more than float32's error
      const A = randArray(64 * 64), B = randArray(64 * 64), C = new Float32Array(64 * 64), D = new Float32Array(64 * 64);
      g.sgemm(false, false, 64, 64, 64, 1, A, B, 0, C);
      const f = createNativeGemm({ threads: 1 });
      f.sgemm(false, false, 64, 64, 64, 1, A, B, 0, D);
      f.close();
      const worst = Math.max(...C.map((x, i) => Math.abs(x - D[i])));
      assert.ok(worst > 1e-4 && worst < 0.2, `largest difference from float32: ${worst}`);
    } finally {
      g.close();
    }
    await assert.rejects(createGemm({ backend: 'portable', precision: 'bf16' }), /precision bf16 runs on the native backend only/);
  });

  test('precision bf16 where the processor has no bf16 kernel: refused, saying why', { skip: bf16Why ? false : 'this processor has AMX-BF16' }, async () => {
    assert.match(bf16Why!, /needs a processor with AMX-BF16/);
    await assert.rejects(createGemm({ precision: 'bf16' }), /needs a processor with AMX-BF16/);
    assert.throws(() => createNativeGemm({ precision: 'bf16' }), /needs a processor with AMX-BF16/);
  });

  test('B as bfloat16 bits (sgemmBf16B): the bits of sgemm on the widened B, for every kernel, shape and transpose', () => {
    for (const k of kernels.filter((x) => x.supported)) {
      const g = createNativeGemm({ kernel: k.name, threads: 2 });
      try {
        // the unpacked path (1-2 rows), the thin and transposed ones (few columns), the packed one; odd sizes, K over
        // one slice
        for (const [M, N, K] of [[1, 300, 65], [2, 129, 17], [300, 3, 129], [65, 8, 300], [17, 65, 63], [129, 300, 300], [33, 31, 1030]] as const) {
          for (const [tA, tB] of TRANS) {
            const A = randArray(M * K), bits = f32ArrayToBf16(randArray(K * N)), B = bf16ArrayToF32(bits);
            const C1 = randArray(M * N), C2 = C1.slice();
            g.sgemm(tA, tB, M, N, K, 0.75, A, B, 0.5, C1);
            g.sgemmBf16B!(tA, tB, M, N, K, 0.75, A, bits, 0.5, C2);
            assert.deepEqual(C2, C1, `${k.name} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K}`);
          }
        }
        const C = new Float32Array(4);
        assert.throws(() => g.sgemmBf16B!(false, false, 2, 2, 2, 1, new Float32Array(4), new Float32Array(4) as unknown as Uint16Array, 0, C), /B must be a Uint16Array/);
        assert.throws(() => g.sgemmBf16B!(false, false, 2, 2, 2, 1, new Float32Array(4), new Uint16Array(3), 0, C), /B is too short/);
      } finally {
        g.close();
      }
    }
  });

  test('a closed backend refuses work', () => {
    const g = createNativeGemm({ threads: 2 });
    g.close();
    assert.throws(() => g.sgemm(false, false, 1, 1, 1, 1, new Float32Array(1), new Float32Array(1), 0, new Float32Array(1)), /closed/);
  });
});
conformance('portable gemm, 2 threads', portable({ threads: 2 }), portableSkip);
conformance('portable gemm, 1 thread, plain SIMD (mul + add)', portable({ threads: 1, fma: false }), portableSkip);
conformance('portable gemm, 2 threads, relaxed-SIMD FMA', portable({ threads: 2, fma: true }),
  portableSkip || (relaxedSimdSupported() ? false : 'relaxed SIMD needs Node >= 22 (or --experimental-wasm-relaxed-simd)'));
conformance('portable gemm, 3 threads, in row chunks of 7', portable({ threads: 3, maxChunkRows: 7 }), portableSkip);

describe('portable gemm threading', { skip: portableSkip }, () => {
  test('2 threads and 1 thread agree bit for bit, splitting rows or columns', async () => {
    const one = await createPortableGemm({ threads: 1 });
    const two = await createPortableGemm({ threads: 2, minParallelWork: 0 });
    try {
      assert.equal(one.threads, 1);
      assert.equal(two.threads, 2);
      for (const [M, N, K] of [[300, 129, 65], [65, 300, 129], [1024, 256, 256], [256, 1024, 300]] as const) {
        for (const [tA, tB] of TRANS) {
          const A = randArray(M * K), B = randArray(K * N), C1 = randArray(M * N), C2 = C1.slice();
          one.sgemm(tA, tB, M, N, K, 0.75, A, B, 0.5, C1);
          two.sgemm(tA, tB, M, N, K, 0.75, A, B, 0.5, C2);
          assert.deepEqual(C2, C1, `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K}`);
        }
      }
      check(two, false, false, 1024, 256, 256, 1, 0);
      assert.ok(two.stats.threadedJobs > 0 && two.stats.chunks >= 2 * two.stats.threadedJobs);
      assert.equal(one.stats.threadedJobs, 0);
    } finally {
      one.close();
      two.close();
    }
  });

  test('a closed backend refuses work', async () => {
    const g = await createPortableGemm({ threads: 2 });
    g.close();
    assert.throws(() => g.sgemm(false, false, 1, 1, 1, 1, new Float32Array(1), new Float32Array(1), 0, new Float32Array(1)));
  });
});

describe('backend selection', () => {
  test('MODELFAB_GEMM overrides auto; an explicit backend wins over it', async () => {
    const saved = process.env.MODELFAB_GEMM;
    try {
      process.env.MODELFAB_GEMM = 'reference';
      const g = await createGemm();
      assert.equal(g.name, 'reference');
      assert.equal(describeGemm(g), 'gemm: reference TypeScript, 1 thread');
      g.close();
      const r = await createGemm({ backend: 'reference' });
      assert.equal(r.name, 'reference');
      r.close();
      process.env.MODELFAB_GEMM = 'bogus';
      await assert.rejects(createGemm(), /MODELFAB_GEMM/);
    } finally {
      if (saved === undefined) delete process.env.MODELFAB_GEMM;
      else process.env.MODELFAB_GEMM = saved;
    }
  });

  test('auto picks native (never openblas) when available, else portable', { skip: process.env.MODELFAB_GEMM ? 'MODELFAB_GEMM is set' : false }, async () => {
    const g = await createGemm({ threads: 2 });
    try {
      assert.equal(g.name, avail.native.ok ? 'native' : avail.portable.ok ? 'portable' : 'reference');
      if (g.name !== 'reference') assert.match(describeGemm(g), /, 2 threads$/);
    } finally {
      g.close();
    }
  });

  test('bad options are rejected', async () => {
    await assert.rejects(createGemm({ backend: 'fast' as never }), /unknown backend/);
    await assert.rejects(createGemm({ backend: 'reference', threads: 0 }), RangeError);
  });
});
