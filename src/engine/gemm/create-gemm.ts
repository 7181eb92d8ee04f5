/**
 * Chooses the engine's gemm backend at start-up.
 *
 *   native     the engine's own sgemm micro-kernels (AVX-512, AVX2+FMA or plain C, chosen at run time) through the
 *              N-API addon build/Release/modelfab_gemm.node, built by `npm install` with the machine's C compiler
 *   openblas   OpenBLAS's sgemm (build/Release/modelfab_openblas.node, built only where OpenBLAS is installed);
 *              never chosen automatically: MODELFAB_GEMM=openblas or { backend: 'openblas' }
 *   portable   WebAssembly SIMD kernel on worker threads sharing one memory (always available on Node >= 20)
 *   reference  plain TypeScript, the fallback of last resort
 *
 * createGemm({ backend: 'auto' }) (the default) picks native when the addon loads, else portable (printing a
 * one-line notice once per process on stderr), else reference. MODELFAB_GEMM=native|openblas|portable|reference|auto
 * overrides the automatic choice (an explicit `backend` option wins over it). Only one backend's threads work
 * at a time: OpenBLAS's pool is parked at 1 thread whenever another backend is created. { precision: 'bf16' }
 * asks for mixed precision (the native backend's bf16 kernels: AMX-BF16 or AVX512-BF16), refused where the
 * processor has neither.
 */
import { checkSgemmArgs } from './args.ts';
import { createNativeGemm, loadNativeAddon, precisionRefusal, type GemmPrecision } from './native.ts';
import { createOpenBlasGemm, loadOpenBlasAddon, quiesceOpenBlas } from './openblas.ts';
import { createPortableGemm, portableSupport } from './portable.ts';
import { sgemmReference } from './reference.ts';
import type { Gemm } from './gemm-seam.ts';

export type { Gemm } from './gemm-seam.ts';
export type GemmBackend = Gemm['name'];

export interface CreateGemmOptions {
  backend?: GemmBackend | 'auto';
  /** Threads to compute on (default: the number of cores). Ignored by the reference backend. */
  threads?: number;
  /** bf16: mixed precision on the native backend's bf16 kernel (native.ts); an error where there is none. */
  precision?: GemmPrecision;
}

const BACKENDS: readonly string[] = ['native', 'openblas', 'portable', 'reference', 'auto'];
export const NATIVE_HINT = 'For the fast native kernels: a C compiler (apt-get install build-essential), then npm rebuild modelfab (or npm run build)';

let noticed = false;
function noticeOnce(line: string): void {
  if (noticed) return;
  noticed = true;
  process.stderr.write(`${line}\n`);
}

/** The reference backend, with the same argument checks as the others. */
function referenceBackend(): Gemm & { info: string } {
  return {
    name: 'reference',
    threads: 1,
    info: 'TypeScript',
    sgemm(transA, transB, M, N, K, alpha, A, B, beta, C) {
      checkSgemmArgs(transA, transB, M, N, K, alpha, A, B, beta, C);
      sgemmReference(transA, transB, M, N, K, alpha, A, B, beta, C);
    },
    close() {},
  };
}

/** Which backends can run here, and why not. */
export function gemmAvailability(): Record<GemmBackend, { ok: true } | { ok: false; reason: string }> {
  const n = loadNativeAddon();
  const o = loadOpenBlasAddon();
  return {
    native: 'error' in n ? { ok: false, reason: n.error } : { ok: true },
    openblas: 'error' in o ? { ok: false, reason: o.error } : { ok: true },
    portable: portableSupport(),
    reference: { ok: true },
  };
}

export async function createGemm(opts: CreateGemmOptions = {}): Promise<Gemm> {
  let backend = opts.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) throw new Error(`createGemm: unknown backend '${String(backend)}'`);
  if (backend === 'auto') {
    const env = process.env.MODELFAB_GEMM?.trim().toLowerCase();
    if (env) {
      if (!BACKENDS.includes(env)) {
        throw new Error(`MODELFAB_GEMM must be one of native, openblas, portable, reference, auto; got '${process.env.MODELFAB_GEMM}'`);
      }
      backend = env as GemmBackend | 'auto';
    }
  }
  const threads = opts.threads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    throw new RangeError(`createGemm: threads must be a positive integer, got ${String(threads)}`);
  }
  if (opts.precision === 'bf16') {
    if (backend !== 'native' && backend !== 'auto') throw new Error(`createGemm: precision bf16 runs on the native backend only, not ${backend}`);
    const why = precisionRefusal('bf16');
    if (why) throw new Error(why);
    quiesceOpenBlas();
    return createNativeGemm({ threads, precision: 'bf16' });
  }
  switch (backend) {
    case 'openblas':
      return createOpenBlasGemm({ threads });
    case 'native':
      quiesceOpenBlas();
      return createNativeGemm({ threads });
    case 'portable':
      quiesceOpenBlas();
      return createPortableGemm({ threads });
    case 'reference':
      quiesceOpenBlas();
      return referenceBackend();
  }
  // auto
  quiesceOpenBlas();
  const native = loadNativeAddon();
  if ('addon' in native) return createNativeGemm({ threads });
  try {
    const g = await createPortableGemm({ threads });
    noticeOnce(`modelfab: ${native.error}; using the portable WebAssembly gemm. ${NATIVE_HINT}`);
    return g;
  } catch (e) {
    noticeOnce(`modelfab: ${native.error}, and the portable WebAssembly gemm failed (${e instanceof Error ? e.message : String(e)}); using the slow reference gemm. ${NATIVE_HINT}`);
    return referenceBackend();
  }
}

/** One line for logs, e.g. "gemm: native avx512 (own kernels), 2 threads" or "gemm: openblas OpenBLAS 0.3.21 (Zen), 1 thread". */
export function describeGemm(g: Gemm): string {
  const info = (g as Gemm & { info?: unknown }).info;
  const detail = typeof info === 'string' && info ? ` ${info}` : '';
  return `gemm: ${g.name}${detail}, ${g.threads} thread${g.threads === 1 ? '' : 's'}`;
}
