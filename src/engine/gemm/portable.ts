/**
 * The portable gemm: the WebAssembly SIMD kernel of gemm-kernel.mjs on worker threads that share ONE
 * WebAssembly.Memory({ shared: true }) with the calling thread.
 *
 * A call stays synchronous: the caller copies A, B (and C when beta != 0) into the shared memory, publishes a
 * job (C cut into a few row or column chunks) and wakes the workers (Atomics.notify); every thread, the caller
 * too, claims chunks until none is left (see claimChunks in gemm-kernel.mjs); the caller then waits (spin, then
 * Atomics.wait, which Node allows on the main thread) for chunks still being computed, and copies C back.
 * Since chunks are claimed, not assigned, a worker that is slow to wake (a busy machine) costs at most its
 * chunk, never a stall. Small problems run on the caller alone.
 *
 * Memory layout (bytes): [0, 1024) unused | control block (CTRL) | per-thread scratch (packed A and B blocks,
 * edge tile) | B' | A' | C'. The memory only grows (to the largest problem seen); close() lets it go.
 */
import os from 'node:os';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import {
  CTRL, KERNEL, buildGemmWasm, claimChunks, claimWord, gemmBlock, kernelConfig, workBytes, writeJob,
  type Job, type KernelConfig, type KernelExports,
} from './gemm-kernel.mjs';
import { checkSgemmArgs, scaleC } from './args.ts';
import type { Gemm } from './gemm-seam.ts';

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
const CTRL_BYTE = 1024;
export const PORTABLE_MAX_THREADS = 16;
/** Split a job into 2 chunks per thread (better balance on a busy machine) when each stays this many rows/columns. */
const MIN_CHUNK_FOR_2X = 512;

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
  /** Counters since creation: threaded jobs, their chunks, and how many of those the caller computed itself. */
  readonly stats: { calls: number; threadedJobs: number; chunks: number; callerChunks: number };
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

/** Byte offset of thread t's scratch (0 = caller). */
function workOffset(cfg: KernelConfig, t: number): number {
  return align(CTRL_BYTE + CTRL.BYTES, 4096) + t * align(workBytes(cfg), 4096);
}

class Portable implements PortableGemm {
  readonly name = 'portable' as const;
  readonly info: string;
  private F: Float32Array;
  private closed = false;
  private jobId = 0;
  readonly stats = { calls: 0, threadedJobs: 0, chunks: 0, callerChunks: 0 };
  private readonly dataBase: number;
  private readonly ctrl: Int32Array;
  private readonly ctrlF: Float32Array;
  private readonly claim: BigInt64Array;

  constructor(
    readonly threads: number,
    private readonly memory: WasmMemory,
    private readonly maxBytes: number,
    private readonly ex: KernelExports,
    private readonly cfg: KernelConfig,
    private readonly workers: Worker[],
    private readonly ports: MessagePort[],
    private readonly spin: number,
    private readonly minParallelWork: number,
    private readonly maxChunkRows: number,
  ) {
    this.dataBase = workOffset(cfg, threads);
    this.F = new Float32Array(memory.buffer);
    this.ctrl = new Int32Array(memory.buffer, CTRL_BYTE, CTRL.INTS);
    this.ctrlF = new Float32Array(memory.buffer, CTRL_BYTE, CTRL.INTS);
    this.claim = new BigInt64Array(memory.buffer, CTRL_BYTE + CTRL.CLAIM_BYTE, 1);
    this.info = `WebAssembly SIMD ${cfg.MR}x${cfg.NR} kernel${cfg.fma ? ' + relaxed-SIMD FMA' : ''}`;
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
    this.stats.calls++;
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

  /** C (M x N, compact, in wasm memory) = alpha op(A) op(B) + beta C, on all threads. */
  private run(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    a: number, lda: number, b: number, ldb: number, beta: number, c: number): void {
    const { MR, NR } = this.cfg;
    const byRows = M >= N;
    const units = byRows ? Math.ceil(M / MR) : Math.ceil(N / NR);
    const nt = M * N * K < this.minParallelWork || this.workers.length === 0 ? 1 : this.threads;
    const perChunk2x = (byRows ? M : N) / (2 * nt);
    const nChunks = nt === 1 ? 1 : Math.min(units, nt * (perChunk2x >= MIN_CHUNK_FOR_2X ? 2 : 1));
    if (nChunks <= 1) {
      gemmBlock(this.ex, this.cfg, transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, N, workOffset(this.cfg, 0));
      return;
    }
    const ctrl = this.ctrl;
    const job: Job = { nChunks, byRows, units, transA, transB, M, N, K, A: a, lda, B: b, ldb, C: c, ldc: N, alpha, beta };
    this.jobId = (this.jobId + 1) >>> 0;
    writeJob(ctrl, this.ctrlF, job);
    Atomics.store(ctrl, CTRL.DONE, 0);
    Atomics.store(ctrl, CTRL.ERR, 0);
    Atomics.store(this.claim, 0, claimWord(this.jobId, nChunks));
    Atomics.add(ctrl, CTRL.JOBGEN, 1);
    Atomics.notify(ctrl, CTRL.JOBGEN);
    let err: unknown = null;
    this.stats.threadedJobs++;
    this.stats.chunks += nChunks;
    try {
      this.stats.callerChunks += claimChunks(this.ex, this.cfg, ctrl, this.ctrlF, this.claim, workOffset(this.cfg, 0), job);
    } catch (e) {
      err = e;
    }
    for (let i = 0, d; (d = Atomics.load(ctrl, CTRL.DONE)) < nChunks; i++) {
      if (i < this.spin) continue;
      if (this.workers.some((_, w) => Atomics.load(ctrl, CTRL.ALIVE + w) === 0)) {
        err ??= new Error('sgemm: a portable gemm worker exited during a call');
        break;
      }
      Atomics.wait(ctrl, CTRL.DONE, d, 1000);
    }
    if (Atomics.load(ctrl, CTRL.ERR) !== 0) {
      let msg: string | undefined;
      for (const p of this.ports) msg ??= (receiveMessageOnPort(p)?.message as { error?: string } | undefined)?.error;
      err ??= new Error(`sgemm: portable gemm worker failed: ${msg ?? 'unknown error'}`);
    }
    if (err) throw err;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctrl, CTRL.QUIT, 1);
    Atomics.add(this.ctrl, CTRL.JOBGEN, 1);
    Atomics.notify(this.ctrl, CTRL.JOBGEN);
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
  const initial = Math.ceil((workOffset(cfg, threads) + (1 << 20)) / PAGE);
  if (initial > maxPages) throw new RangeError('portable gemm: maxMemoryBytes is too small');
  const memory = new WA.Memory({ initial, maximum: maxPages, shared: true });
  const ex = new WA.Instance(module, { env: { memory } }).exports as unknown as KernelExports;

  const workers: Worker[] = [], ports: MessagePort[] = [];
  try {
    for (let w = 0; w < threads - 1; w++) {
      const { port1, port2 } = new MessageChannel();
      ports.push(port1);
      const worker = new Worker(new URL('./portable-worker.mjs', import.meta.url), {
        workerData: { memory, module, ctrlByte: CTRL_BYTE, slot: w, workByte: workOffset(cfg, w + 1), cfg, spin, port: port2 },
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
      // After start-up, errors travel through ERR and port1 (never started: read synchronously with
      // receiveMessageOnPort), not as events; the workers must not keep the process alive.
      worker.on('error', () => {});
      worker.unref();
    }
  } catch (e) {
    for (const w of workers) void w.terminate();
    for (const p of ports) p.close();
    throw e;
  }
  return new Portable(threads, memory, maxPages * PAGE, ex, cfg, workers, ports, spin, minParallelWork, Math.max(1, Math.floor(opts.maxChunkRows ?? Infinity)));
}
