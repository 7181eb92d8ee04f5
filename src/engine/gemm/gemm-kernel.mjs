/**
 * The portable gemm kernel: a WebAssembly SIMD (f32x4) sgemm, generated here as a binary module (no toolchain,
 * no download: wasm-asm.mjs is a small assembler), the blocked driver that runs it, and the threading protocol.
 *
 * Plain JavaScript so that both the calling thread (via portable.ts) and the worker threads
 * (portable-worker.mjs) use the very same code, with or without a TypeScript loader.
 *
 * Algorithm (GotoBLAS / BLIS): C is computed in NC-column slabs; K in KC-deep slices. For each slice the KC x NC
 * block of op(B) is packed into NR-wide column panels (k-major, zero padded), then for each MC-row block of op(A)
 * into MR-high row panels, and the macro-kernel sweeps MR x NR register tiles: the B micro-panel (KC x NR,
 * 8 KiB) stays in L1 while A panels stream from L2. The micro-kernel keeps the MR x NR tile of C in MR*NR/4 v128
 * registers; per k it loads NR/4 vectors of B and splats MR values of A (v128.load32_splat). Packing uses vector
 * copies or 4x4 transposes where the source is contiguous, so every transpose combination runs at full speed.
 * Plain wasm SIMD has no fused multiply-add, so it is mul + add; relaxed SIMD's relaxed_madd is used when the
 * runtime has it (Node >= 22). V8 gives wasm ~15 xmm registers on x64, hence the small tile.
 *
 * All addresses are byte offsets in the (shared) memory; strides are in elements.
 */
import { ModuleBuilder, T, get, set, i32, f32, v128, f32x4, block, loop, br, br_if, if_, call, range } from './wasm-asm.mjs';

/**
 * Register tile and cache blocking (MC % MR == 0, NC % NR == 0); KU: k unroll of the micro-kernel; fma: use
 * relaxed SIMD's f32x4.relaxed_madd (on by default from Node 22; Node 20 needs --experimental-wasm-relaxed-simd).
 * Measured on Zen 4 (Node 20): 4x8 is the largest tile V8 keeps in registers (4x12, 5x8, 6x8 spill, and so does
 * KU > 1 because TurboFan hoists the loads); blocking sizes barely matter with a 1 MiB L2. ~40 GFLOP/s per core
 * with mul+add, ~50 with FMA, about the peak of 128-bit SIMD there.
 */
export const KERNEL = Object.freeze({ MR: 4, NR: 8, KC: 256, MC: 128, NC: 2048, KU: 1, fma: false });

/** Whether this runtime validates relaxed SIMD (f32x4.relaxed_madd). */
export function relaxedSimdSupported() {
  try {
    const m = new ModuleBuilder();
    const f = m.declare('madd', [['a', T.v128], ['b', T.v128], ['c', T.v128]], [T.v128]);
    m.define(f, f32x4.relaxed_madd(get(f.p.a), get(f.p.b), get(f.p.c)));
    return WebAssembly.validate(m.bytes());
  } catch {
    return false;
  }
}

/** The kernel configuration to use here: KERNEL with fma when the runtime has relaxed SIMD (unless told). */
export function kernelConfig(opts = {}) {
  return Object.freeze({ ...KERNEL, fma: opts.fma ?? relaxedSimdSupported() });
}

/** Bytes of per-thread scratch the driver needs: packed A block, packed B block, one edge tile. */
export function workBytes(cfg = KERNEL) {
  return 4 * (cfg.MC * cfg.KC + cfg.KC * cfg.NC + cfg.MR * cfg.NR) + 64;
}

const c32 = (n) => i32.const(n);
const addI = (a, b) => i32.add(a, b);
const mulI = (a, b) => i32.mul(a, b);
const inc = (l, by) => set(l, addI(get(l), typeof by === 'number' ? c32(by) : by));
const minI = (l, a, b) => set(l, i32.select(a, b, i32.lt_s(a, b)));

/** Builds the kernel module; imports env.memory (shared, maxPages). Returns the module bytes. */
export function buildGemmWasm(cfg = KERNEL, maxPages = 65536) {
  const { MR, NR } = cfg;
  if (NR % 4 !== 0) throw new Error('NR must be a multiple of 4');
  const NV = NR / 4;
  const m = new ModuleBuilder();
  m.importSharedMemory('env', 'memory', 1, maxPages);

  // ---- micro-kernel: C[MR x NR] (row stride ldcB bytes) = alpha * Ap·Bp + beta * C (beta == 0: C not read) -----
  const uk = m.declare('ukernel', [['kc', T.i32], ['ap', T.i32], ['bp', T.i32], ['c', T.i32], ['ldcB', T.i32], ['alpha', T.f32], ['beta', T.f32]]);
  {
    const { kc, ap, bp, c, ldcB, alpha, beta } = uk.p;
    const acc = Array.from({ length: MR }, () => Array.from({ length: NV }, () => uk.local(T.v128)));
    const b = Array.from({ length: NV }, () => uk.local(T.v128));
    const a = uk.local(T.v128), av = uk.local(T.v128), bv = uk.local(T.v128);
    const end = uk.local(T.i32), cp = uk.local(T.i32);
    const U = cfg.KU ?? 1; // k unroll
    const step = (u) => [
      b.map((bl, j) => set(bl, v128.load(get(bp), 4 * (u * NR + 4 * j)))),
      acc.map((row, r) => [
        set(a, v128.load32_splat(get(ap), 4 * (u * MR + r))),
        row.map((x, j) => set(x, cfg.fma
          ? f32x4.relaxed_madd(get(a), get(b[j]), get(x))
          : f32x4.add(get(x), f32x4.mul(get(a), get(b[j]))))),
      ]),
    ];
    const advance = (n) => [inc(ap, 4 * MR * n), inc(bp, 4 * NR * n)];
    const store = (withBeta) =>
      acc.map((row) => [
        row.map((x, j) =>
          v128.store(get(cp),
            withBeta
              ? f32x4.add(f32x4.mul(get(x), get(av)), f32x4.mul(v128.load(get(cp), 16 * j), get(bv)))
              : f32x4.mul(get(x), get(av)),
            16 * j)),
        set(cp, addI(get(cp), get(ldcB))),
      ]);
    m.define(uk, [
      acc.flat().map((x) => set(x, v128.zero())),
      set(end, addI(get(ap), mulI(get(kc), c32(4 * MR)))),
      U > 1
        ? block(loop(br_if(1, i32.gt_u(addI(get(ap), c32(4 * MR * U)), get(end))),
          Array.from({ length: U }, (_, u) => step(u)), advance(U), br(0)))
        : [],
      block(loop(br_if(1, i32.ge_u(get(ap), get(end))), step(0), advance(1), br(0))),
      set(av, f32x4.splat(get(alpha))),
      set(bv, f32x4.splat(get(beta))),
      set(cp, get(c)),
      if_(f32.eq(get(beta), f32.const(0)), store(false), store(true)),
    ]);
  }

  // ---- macro-kernel: C[mc x nc] (+)= alpha * Ap·Bp over one kc slice ------------------------------------------
  const mk = m.declare('macro', [['mc', T.i32], ['nc', T.i32], ['kc', T.i32], ['ap', T.i32], ['bp', T.i32], ['c', T.i32], ['ldcB', T.i32], ['alpha', T.f32], ['beta', T.f32], ['tile', T.i32]]);
  {
    const { mc, nc, kc, ap, bp, c, ldcB, alpha, beta, tile } = mk.p;
    const jr = mk.local(T.i32), ir = mk.local(T.i32), nr = mk.local(T.i32), mr = mk.local(T.i32);
    const bpJ = mk.local(T.i32), apI = mk.local(T.i32), cJ = mk.local(T.i32), cI = mk.local(T.i32);
    const r = mk.local(T.i32), j = mk.local(T.i32), p = mk.local(T.i32), t = mk.local(T.i32);
    const merge = range(r, c32(0), get(mr), c32(1),
      set(p, addI(get(cI), mulI(get(r), get(ldcB)))),
      set(t, addI(get(tile), mulI(get(r), c32(4 * NR)))),
      range(j, c32(0), get(nr), c32(1),
        if_(f32.eq(get(beta), f32.const(0)),
          f32.store(get(p), f32.mul(get(alpha), f32.load(get(t)))),
          f32.store(get(p), f32.add(f32.mul(get(alpha), f32.load(get(t))), f32.mul(get(beta), f32.load(get(p)))))),
        inc(p, 4), inc(t, 4)));
    m.define(mk, [
      set(bpJ, get(bp)), set(cJ, get(c)),
      range(jr, c32(0), get(nc), c32(NR),
        minI(nr, c32(NR), i32.sub(get(nc), get(jr))),
        set(apI, get(ap)), set(cI, get(cJ)),
        range(ir, c32(0), get(mc), c32(MR),
          minI(mr, c32(MR), i32.sub(get(mc), get(ir))),
          if_(i32.and(i32.eq(get(mr), c32(MR)), i32.eq(get(nr), c32(NR))),
            call(uk, get(kc), get(apI), get(bpJ), get(cI), get(ldcB), get(alpha), get(beta)),
            [call(uk, get(kc), get(apI), get(bpJ), get(tile), c32(4 * NR), f32.const(1), f32.const(0)), merge]),
          inc(apI, mulI(get(kc), c32(4 * MR))),
          inc(cI, mulI(get(ldcB), c32(MR)))),
        inc(bpJ, mulI(get(kc), c32(4 * NR))),
        inc(cJ, 4 * NR)),
    ]);
  }

  // ---- packing: `rows` rows of a strided matrix (element (r, k) at src + 4*(r*sR + k*sK)) into P-row panels, -----
  //      each kc*P floats, k-major, the last one zero padded.
  const declarePack = (name, P) => {
    const f = m.declare(name, [['src', T.i32], ['sR', T.i32], ['sK', T.i32], ['rows', T.i32], ['kc', T.i32], ['dst', T.i32]]);
    const { src, sR, sK, rows, kc, dst } = f.p;
    const p0 = f.local(T.i32), w = f.local(T.i32), s = f.local(T.i32), k = f.local(T.i32), r = f.local(T.i32);
    const q = f.local(T.i32), sRB = f.local(T.i32), sKB = f.local(T.i32), d = f.local(T.i32);
    const x = Array.from({ length: 8 }, () => f.local(T.v128));
    // dst[k*P + r] = src[r*sR + k*sK] (0 beyond w), one panel, scalar
    const scalarPanel = [
      range(r, c32(0), c32(P), c32(1),
        set(s, addI(get(src), mulI(get(r), get(sRB)))),
        set(d, addI(get(dst), mulI(get(r), c32(4)))),
        if_(i32.lt_s(get(r), get(w)),
          range(k, c32(0), get(kc), c32(1), f32.store(get(d), f32.load(get(s))), inc(s, get(sKB)), inc(d, 4 * P)),
          range(k, c32(0), get(kc), c32(1), f32.store(get(d), f32.const(0)), inc(d, 4 * P)))),
    ];
    const lanes = (l) => l.flatMap((e) => [4 * e, 4 * e + 1, 4 * e + 2, 4 * e + 3]);
    let fast = [];
    if (P % 4 === 0) {
      // rows contiguous in the panel direction (sR == 1): straight vector copies, one k at a time
      const copy = [
        set(s, get(src)), set(d, get(dst)),
        range(k, c32(0), get(kc), c32(1),
          Array.from({ length: P / 4 }, (_, v) => v128.store(get(d), v128.load(get(s), 16 * v), 16 * v)),
          inc(s, get(sKB)), inc(d, 4 * P)),
      ];
      // rows contiguous along k (sK == 1): 4x4 transposes
      const tr = [
        set(k, c32(0)),
        block(loop(br_if(1, i32.gt_s(addI(get(k), c32(4)), get(kc))),
          Array.from({ length: P / 4 }, (_, g) => [
            set(s, addI(get(src), addI(mulI(c32(4 * g), get(sRB)), mulI(get(k), c32(4))))),
            set(x[0], v128.load(get(s))), inc(s, get(sRB)),
            set(x[1], v128.load(get(s))), inc(s, get(sRB)),
            set(x[2], v128.load(get(s))), inc(s, get(sRB)),
            set(x[3], v128.load(get(s))),
            set(x[4], v128.shuffle(get(x[0]), get(x[1]), lanes([0, 4, 1, 5]))),
            set(x[5], v128.shuffle(get(x[0]), get(x[1]), lanes([2, 6, 3, 7]))),
            set(x[6], v128.shuffle(get(x[2]), get(x[3]), lanes([0, 4, 1, 5]))),
            set(x[7], v128.shuffle(get(x[2]), get(x[3]), lanes([2, 6, 3, 7]))),
            set(d, addI(get(dst), addI(mulI(get(k), c32(4 * P)), c32(16 * g)))),
            v128.store(get(d), v128.shuffle(get(x[4]), get(x[6]), lanes([0, 1, 4, 5])), 0),
            v128.store(get(d), v128.shuffle(get(x[4]), get(x[6]), lanes([2, 3, 6, 7])), 4 * P),
            v128.store(get(d), v128.shuffle(get(x[5]), get(x[7]), lanes([0, 1, 4, 5])), 8 * P),
            v128.store(get(d), v128.shuffle(get(x[5]), get(x[7]), lanes([2, 3, 6, 7])), 12 * P),
          ]),
          inc(k, 4), br(0))),
        // the k % 4 tail, scalar
        set(q, get(k)),
        range(r, c32(0), c32(P), c32(1),
          set(s, addI(get(src), addI(mulI(get(r), get(sRB)), mulI(get(q), c32(4))))),
          set(d, addI(get(dst), mulI(addI(mulI(get(q), c32(P)), get(r)), c32(4)))),
          range(k, get(q), get(kc), c32(1), f32.store(get(d), f32.load(get(s))), inc(s, 4), inc(d, 4 * P))),
      ];
      fast = [copy, tr];
    }
    m.define(f, [
      set(sRB, mulI(get(sR), c32(4))), set(sKB, mulI(get(sK), c32(4))),
      range(p0, c32(0), get(rows), c32(P),
        minI(w, c32(P), i32.sub(get(rows), get(p0))),
        P % 4 === 0
          ? if_(i32.and(i32.eq(get(w), c32(P)), i32.eq(get(sR), c32(1))), fast[0],
            if_(i32.and(i32.eq(get(w), c32(P)), i32.eq(get(sK), c32(1))), fast[1], scalarPanel))
          : scalarPanel,
        inc(src, mulI(get(sRB), c32(P))),
        inc(dst, mulI(get(kc), c32(4 * P)))),
    ]);
    return f;
  };
  declarePack('packA', MR);
  declarePack('packB', NR);
  return m.bytes();
}

/**
 * C (M x N, row stride ldc) = alpha * op(A) * op(B) + beta * C, all in wasm memory, on the calling thread.
 * ex: the kernel instance's exports. A, B, C, work: byte addresses; lda/ldb/ldc: row strides of the stored
 * matrices in elements. `work` must have workBytes(cfg) bytes. K >= 1, M, N >= 1.
 */
export function gemmBlock(ex, cfg, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, work) {
  const { MR, NR, KC, MC, NC } = cfg;
  // op(A)(i, k) at A + 4*(i*aR + k*aK); op(B)(k, j) at B + 4*(j*bR + k*bK)
  const aR = transA ? 1 : lda, aK = transA ? lda : 1;
  const bR = transB ? ldb : 1, bK = transB ? 1 : ldb;
  const Ap = work, Bp = work + 4 * MC * KC, tile = Bp + 4 * KC * NC;
  void MR; void NR;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const b = pc === 0 ? beta : 1;
      ex.packB(B + 4 * (jc * bR + pc * bK), bR, bK, nc, kc, Bp);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        ex.packA(A + 4 * (ic * aR + pc * aK), aR, aK, mc, kc, Ap);
        ex.macro(mc, nc, kc, Ap, Bp, C + 4 * (ic * ldc + jc), 4 * ldc, alpha, b, tile);
      }
    }
  }
}

// ---- threading protocol (shared by portable.ts and portable-worker.mjs) -----------------------------------------
/**
 * One job at a time, described in a control block of the shared memory. C is cut into `nChunks` chunks along
 * rows (byRows) or columns; every thread, the caller included, claims chunks with a compare-exchange on CLAIM
 * (a 64-bit word: job id << 32 | next chunk) and computes them. So a worker that is late (asleep, or not
 * scheduled on a busy machine) never holds the caller up: the caller simply takes its chunks. The id in CLAIM
 * makes a late worker's claim fail once its job is over, and job params are only rewritten after every chunk
 * of the previous job is DONE.
 *
 * Int32 fields of the control block (at byte CTRL_BYTES_AT); CLAIM is a BigInt64 at byte offset CTRL.CLAIM_BYTE
 * from the block; ALIVE flags (one Int32 per worker) follow at CTRL.ALIVE.
 */
export const CTRL = Object.freeze({
  JOBGEN: 0, DONE: 1, ERR: 2, QUIT: 3, NCHUNKS: 4, BYROWS: 5, UNITS: 6, TA: 7, TB: 8, M: 9, N: 10, K: 11,
  A: 12, LDA: 13, B: 14, LDB: 15, C: 16, LDC: 17, ALPHA: 18, BETA: 19,
  CLAIM_BYTE: 128, ALIVE: 64, INTS: 64 + 64, BYTES: 512,
});

/** Chunk `idx` of the job in `j` (a params object read with readJob), on the calling thread. */
export function runChunk(ex, cfg, j, idx, work) {
  const step = j.byRows ? cfg.MR : cfg.NR;
  const lim = j.byRows ? j.M : j.N;
  const s0 = Math.min(lim, Math.floor((j.units * idx) / j.nChunks) * step);
  const s1 = Math.min(lim, Math.floor((j.units * (idx + 1)) / j.nChunks) * step);
  if (s1 <= s0) return;
  if (j.byRows) {
    gemmBlock(ex, cfg, j.transA, j.transB, s1 - s0, j.N, j.K, j.alpha, j.A + 4 * (j.transA ? s0 : s0 * j.lda), j.lda,
      j.B, j.ldb, j.beta, j.C + 4 * s0 * j.ldc, j.ldc, work);
  } else {
    gemmBlock(ex, cfg, j.transA, j.transB, j.M, s1 - s0, j.K, j.alpha, j.A, j.lda,
      j.B + 4 * (j.transB ? s0 * j.ldb : s0), j.ldb, j.beta, j.C + 4 * s0, j.ldc, work);
  }
}

export function writeJob(ctrl, ctrlF, j) {
  ctrl[CTRL.NCHUNKS] = j.nChunks; ctrl[CTRL.BYROWS] = j.byRows ? 1 : 0; ctrl[CTRL.UNITS] = j.units;
  ctrl[CTRL.TA] = j.transA ? 1 : 0; ctrl[CTRL.TB] = j.transB ? 1 : 0;
  ctrl[CTRL.M] = j.M; ctrl[CTRL.N] = j.N; ctrl[CTRL.K] = j.K;
  ctrl[CTRL.A] = j.A; ctrl[CTRL.LDA] = j.lda; ctrl[CTRL.B] = j.B; ctrl[CTRL.LDB] = j.ldb;
  ctrl[CTRL.C] = j.C; ctrl[CTRL.LDC] = j.ldc;
  ctrlF[CTRL.ALPHA] = j.alpha; ctrlF[CTRL.BETA] = j.beta;
}

export function readJob(ctrl, ctrlF) {
  return {
    nChunks: ctrl[CTRL.NCHUNKS], byRows: ctrl[CTRL.BYROWS] !== 0, units: ctrl[CTRL.UNITS],
    transA: ctrl[CTRL.TA] !== 0, transB: ctrl[CTRL.TB] !== 0, M: ctrl[CTRL.M], N: ctrl[CTRL.N], K: ctrl[CTRL.K],
    A: ctrl[CTRL.A] >>> 0, lda: ctrl[CTRL.LDA], B: ctrl[CTRL.B] >>> 0, ldb: ctrl[CTRL.LDB],
    C: ctrl[CTRL.C] >>> 0, ldc: ctrl[CTRL.LDC], alpha: ctrlF[CTRL.ALPHA], beta: ctrlF[CTRL.BETA],
  };
}

/** The CLAIM word of a new job: id << 32 | nChunks << 16 | next chunk (0). nChunks < 65536. */
export function claimWord(jobId, nChunks) {
  return (BigInt(jobId >>> 0) << 32n) | (BigInt(nChunks) << 16n);
}

/**
 * Claims and computes chunks of the current job until none is left. `job` is the caller's params object, or
 * null on a worker. Returns the number of chunks done. A chunk's DONE is counted even when it throws (so the
 * caller never waits for it); the error propagates.
 *
 * Why a worker may read the params: it reads them only after seeing the CLAIM word of a job with chunks left,
 * and uses them only for a chunk whose compare-exchange on that very word succeeded; so the job was unfinished
 * from before the read until after the claim, and the caller rewrites params only once a job is finished.
 */
export function claimChunks(ex, cfg, ctrl, ctrlF, claim, work, job) {
  let mine = 0;
  let jobId = -1;
  for (;;) {
    const v = Atomics.load(claim, 0);
    const id = Number(v >> 32n);
    const n = Number((v >> 16n) & 0xffffn);
    const idx = Number(v & 0xffffn);
    if (idx >= n) return mine;
    if (jobId !== id) {
      if (jobId !== -1) return mine; // a newer job began: go back to waiting, then start afresh
      jobId = id;
      job ??= readJob(ctrl, ctrlF);
    }
    if (Atomics.compareExchange(claim, 0, v, v + 1n) !== v) continue;
    try {
      runChunk(ex, cfg, job, idx, work);
    } finally {
      mine++;
      if (Atomics.add(ctrl, CTRL.DONE, 1) + 1 === n) Atomics.notify(ctrl, CTRL.DONE);
    }
  }
}
