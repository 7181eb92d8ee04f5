/**
 * The portable gemm: the WebAssembly SIMD kernel of gemm-kernel.mjs on worker threads that share ONE
 * WebAssembly.Memory({ shared: true }) with the calling thread.
 *
 * A call stays synchronous: the caller copies A, B (and C when beta != 0) into the shared memory, splits C into
 * one block per thread (rows when M >= N, else columns), writes each worker's job into its control slot, bumps
 * the slot's generation counter and Atomics.notify()s it, computes its own block, waits (spin, then
 * Atomics.wait, which Node allows on the main thread) for every worker's `done`, and copies C back.
 * Small problems run on the caller alone.
 *
 * Memory layout (bytes): [0, 1024) unused | control slots, 128 B per worker | per-thread scratch (packed A and B
 * blocks, edge tile) | A' | B' | C'. The memory only grows (to the largest problem seen); close() frees it.
 */
import os from 'node:os';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { KERNEL, buildGemmWasm, gemmBlock, kernelConfig, workBytes, type KernelConfig, type KernelExports } from './gemm-kernel.mjs';
import { checkSgemmArgs, scaleC } from './args.ts';
import type { Gemm } from './types.ts';

/** The slice of the WebAssembly JS API used here (tsconfig's lib has no WebAssembly declarations). */
interface WasmMemory { readonly buffer: SharedArrayBuffer; grow(pages: number): number }
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const CTRL_BASE = 1024;
const SLOT_BYTES = 128;
const SLOT_INTS = SLOT_BYTES / 4;
export const PORTABLE_MAX_THREADS = 16;
/** Control slot fields (Int32 index; ALPHA/BETA are Float32 at the same index). Same table in portable-worker.mjs. */
const S = { GEN: 0, DONE: 1, STATUS: 2, QUIT: 3, ALIVE: 4, TA: 5, TB: 6, M: 7, N: 8, K: 9, A: 10, LDA: 11, B: 12, LDB: 13, C: 14, LDC: 15, WORK: 16, ALPHA: 17, BETA: 18 } as const;

export interface PortableOptions {
  /** Threads including the caller (default: available cores, at most PORTABLE_MAX_THREADS). */
  threads?: number;
  /** Busy-wait iterations before sleeping in Atomics.wait (both sides). */
  spin?: number;
  /** Below this M*N*K the caller computes alone (thread sync would cost more than it saves). */
  minParallelWork?: number;
  /** Cap on the shared memory (default 4 GiB, the wasm32 limit); bigger problems are done in row chunks. */
  maxMemoryBytes?: number;
  /** Use relaxed-SIMD FMA (default: when the runtime supports it; Node >= 22). */
  fma?: boolean;
  /** Testing hook: at most this many rows of C per chunk. */
  maxChunkRows?: number;
}

export interface PortableGemm extends Gemm {
  readonly name: 'portable';
  readonly info: string;
}

const align = (n: number, a = 64) => Math.ceil(n / a) * a;

/** Whether this runtime can run the portable gemm (wasm SIMD + shared memory + threads). */
export function portableSupport(): { ok: true } | { ok: false; reason: string } {
  try {
    if (typeof SharedArrayBuffer !== 'function' || typeof Atomics?.wait !== 'function') return { ok: false, reason: 'no SharedArrayBuffer/Atomics' };
    new WA.Memory({ initial: 1, maximum: 1, shared: true });
    if (!WA.validate(buildGemmWasm(KERNEL, 1))) return { ok: false, reason: 'WebAssembly SIMD is not supported' };
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `WebAssembly threads/SIMD unavailable (${e instanceof Error ? e.message : String(e)})` };
  }
}

interface Part { M: number; N: number; A: number; B: number; C: number }

class Portable implements PortableGemm {
  readonly name = 'portable' as const;
  readonly info: string;
  private F: Float32Array;
  private closed = false;
  private readonly wb: number;
  private readonly dataBase: number;

  constructor(
    readonly threads: number,
    private readonly memory: WasmMemory,
    private readonly maxBytes: number,
    private readonly ex: KernelExports,
    private readonly cfg: KernelConfig,
    private readonly workers: Worker[],
    private readonly ports: MessagePort[],
    private readonly slots: Int32Array[],
    private readonly slotsF: Float32Array[],
    private readonly spin: number,
    private readonly minParallelWork: number,
    private readonly maxChunkRows: number,
  ) {
    this.wb = align(workBytes(cfg), 4096);
    this.dataBase = align(CTRL_BASE + PORTABLE_MAX_THREADS * SLOT_BYTES, 4096) + threads * this.wb;
    this.F = new Float32Array(memory.buffer);
    this.info = `WebAssembly SIMD ${cfg.MR}x${cfg.NR} kernel${cfg.fma ? ' + relaxed-SIMD FMA' : ''}`;
  }

  /** Scratch region of thread t (0 = caller). */
  private work(t: number): number {
    return align(CTRL_BASE + PORTABLE_MAX_THREADS * SLOT_BYTES, 4096) + t * this.wb;
  }

  private ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
    if (this.F.buffer.byteLength !== this.memory.buffer.byteLength) this.F = new Float32Array(this.memory.buffer);
  }

  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
  ): void {
    checkSgemmArgs(transA, transB, M, N, K, alpha, A, B, beta, C);
    if (this.closed) throw new Error('sgemm: the portable gemm was closed');
    if (M === 0 || N === 0) return;
    if (K === 0 || alpha === 0) return scaleC(C, M * N, beta);
    const nb = K * N;
    const perRow = 4 * (K + N);
    const avail = this.maxBytes - this.dataBase - 4 * nb - 256;
    if (avail < perRow) {
      throw new RangeError(`sgemm: ${M}x${N}x${K} does not fit the portable gemm's ${Math.floor(this.maxBytes / 2 ** 20)} MiB WebAssembly memory`);
    }
    const mChunk = Math.min(M, this.maxChunkRows, Math.floor(avail / perRow));
    const b = align(this.dataBase);
    const a = align(b + 4 * nb);
    const c = align(a + 4 * mChunk * K);
    this.ensure(c + 4 * mChunk * N + 64);
    const F = this.F;
    F.set(B.subarray(0, nb), b / 4);
    const ldb = transB ? K : N;
    for (let i0 = 0; i0 < M; i0 += mChunk) {
      const m = Math.min(mChunk, M - i0);
      let lda: number;
      if (!transA) {
        F.set(A.subarray(i0 * K, (i0 + m) * K), a / 4);
        lda = K;
      } else if (m === M) {
        F.set(A.subarray(0, K * M), a / 4);
        lda = M;
      } else { // columns i0..i0+m of the stored K x M matrix
        for (let k = 0; k < K; k++) F.set(A.subarray(k * M + i0, k * M + i0 + m), a / 4 + k * m);
        lda = m;
      }
      if (beta !== 0) F.set(C.subarray(i0 * N, (i0 + m) * N), c / 4);
      this.run(transA, transB, m, N, K, alpha, a, lda, b, ldb, beta, c);
      C.set(F.subarray(c / 4, c / 4 + m * N), i0 * N);
    }
  }

  /** C (m x N, compact) of wasm memory = alpha op(A) op(B) + beta C, split across the threads. */
  private run(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    a: number, lda: number, b: number, ldb: number, beta: number, c: number): void {
    const { MR, NR } = this.cfg;
    const byRows = M >= N;
    const units = byRows ? Math.ceil(M / MR) : Math.ceil(N / NR);
    const nt = M * N * K < this.minParallelWork ? 1 : Math.min(this.threads, units);
    if (nt === 1) {
      gemmBlock(this.ex, this.cfg, transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, N, this.work(0));
      return;
    }
    const part = (t: number): Part => {
      if (byRows) {
        const r0 = Math.min(M, Math.floor((units * t) / nt) * MR), r1 = Math.min(M, Math.floor((units * (t + 1)) / nt) * MR);
        return { M: r1 - r0, N, A: a + 4 * (transA ? r0 : r0 * lda), B: b, C: c + 4 * r0 * N };
      }
      const c0 = Math.min(N, Math.floor((units * t) / nt) * NR), c1 = Math.min(N, Math.floor((units * (t + 1)) / nt) * NR);
      return { M, N: c1 - c0, A: a, B: b + 4 * (transB ? c0 * ldb : c0), C: c + 4 * c0 };
    };
    const gens: number[] = [];
    for (let t = 1; t < nt; t++) {
      const p = part(t), s = this.slots[t - 1], sf = this.slotsF[t - 1];
      if (!Atomics.load(s, S.ALIVE)) throw new Error('sgemm: a portable gemm worker has exited');
      s[S.TA] = transA ? 1 : 0; s[S.TB] = transB ? 1 : 0;
      s[S.M] = p.M; s[S.N] = p.N; s[S.K] = K;
      s[S.A] = p.A; s[S.LDA] = lda; s[S.B] = p.B; s[S.LDB] = ldb; s[S.C] = p.C; s[S.LDC] = N;
      s[S.WORK] = this.work(t);
      sf[S.ALPHA] = alpha; sf[S.BETA] = beta;
      const g = (s[S.GEN] + 1) | 0;
      gens.push(g);
      Atomics.store(s, S.GEN, g);
      Atomics.notify(s, S.GEN);
    }
    const p0 = part(0);
    let err: unknown = null;
    try {
      gemmBlock(this.ex, this.cfg, transA, transB, p0.M, p0.N, K, alpha, p0.A, lda, p0.B, ldb, beta, p0.C, N, this.work(0));
    } catch (e) {
      err = e;
    }
    for (let t = 1; t < nt; t++) {
      const s = this.slots[t - 1], g = gens[t - 1];
      for (let i = 0, d; (d = Atomics.load(s, S.DONE)) !== g; i++) {
        if (!Atomics.load(s, S.ALIVE)) { err ??= new Error('sgemm: a portable gemm worker exited during a call'); break; }
        if (i >= this.spin) Atomics.wait(s, S.DONE, d, 1000);
      }
      if (Atomics.load(s, S.STATUS) !== 0) {
        const msg = receiveMessageOnPort(this.ports[t - 1])?.message as { error?: string } | undefined;
        err ??= new Error(`sgemm: portable gemm worker failed: ${msg?.error ?? 'unknown error'}`);
      }
    }
    if (err) throw err;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) {
      Atomics.store(s, S.QUIT, 1);
      Atomics.store(s, S.GEN, (s[S.GEN] + 1) | 0);
      Atomics.notify(s, S.GEN);
    }
    for (const w of this.workers) void w.terminate();
    for (const p of this.ports) p.close();
    this.F = new Float32Array(0);
  }
}

export async function createPortableGemm(opts: PortableOptions = {}): Promise<PortableGemm> {
  const support = portableSupport();
  if (!support.ok) throw new Error(`portable gemm unavailable: ${support.reason}`);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const threads = Math.max(1, Math.min(PORTABLE_MAX_THREADS, Math.floor(opts.threads ?? cores)));
  const spin = opts.spin ?? 20000;
  const minParallelWork = opts.minParallelWork ?? 1 << 18;
  const maxPages = Math.min(MAX_PAGES, Math.floor((opts.maxMemoryBytes ?? MAX_PAGES * PAGE) / PAGE));
  const cfg = kernelConfig({ fma: opts.fma });
  const module = new WA.Module(buildGemmWasm(cfg, maxPages));
  const base = align(CTRL_BASE + PORTABLE_MAX_THREADS * SLOT_BYTES, 4096) + threads * align(workBytes(cfg), 4096);
  const initial = Math.ceil((base + (1 << 20)) / PAGE);
  if (initial > maxPages) throw new RangeError('portable gemm: maxMemoryBytes is too small');
  const memory = new WA.Memory({ initial, maximum: maxPages, shared: true });
  const ex = new WA.Instance(module, { env: { memory } }).exports as unknown as KernelExports;

  const workers: Worker[] = [], ports: MessagePort[] = [], slots: Int32Array[] = [], slotsF: Float32Array[] = [];
  try {
    for (let w = 0; w < threads - 1; w++) {
      const slotByte = CTRL_BASE + w * SLOT_BYTES;
      slots.push(new Int32Array(memory.buffer, slotByte, SLOT_INTS));
      slotsF.push(new Float32Array(memory.buffer, slotByte, SLOT_INTS));
      const { port1, port2 } = new MessageChannel();
      ports.push(port1);
      const worker = new Worker(new URL('./portable-worker.mjs', import.meta.url), {
        workerData: { memory, module, slotByte, slotInts: SLOT_INTS, cfg, spin, port: port2 },
        transferList: [port2],
        execArgv: [], // plain JS: no TypeScript loader, whatever the parent runs under
      });
      workers.push(worker);
      await new Promise<void>((resolve, reject) => {
        const onMsg = (m: { ready?: boolean; error?: string }) => {
          cleanup();
          if (m.ready) resolve();
          else reject(new Error(`portable gemm worker failed to start: ${m.error ?? 'unknown error'}`));
        };
        const onErr = (e: Error) => { cleanup(); reject(e); };
        const onExit = (code: number) => { cleanup(); reject(new Error(`portable gemm worker exited (${code}) while starting`)); };
        const cleanup = () => { worker.off('message', onMsg); worker.off('error', onErr); worker.off('exit', onExit); };
        worker.on('message', onMsg);
        worker.on('error', onErr);
        worker.on('exit', onExit);
      });
      // After start-up, errors travel through the STATUS word and port1 (never started: read synchronously with
      // receiveMessageOnPort), not as events.
      worker.on('error', () => {});
      worker.unref();
    }
  } catch (e) {
    for (const w of workers) void w.terminate();
    for (const p of ports) p.close();
    throw e;
  }
  return new Portable(threads, memory, maxPages * PAGE, ex, cfg, workers, ports, slots, slotsF, spin, minParallelWork, Math.max(1, opts.maxChunkRows ?? Infinity));
}
