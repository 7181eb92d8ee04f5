/**
 * The OpenBLAS gemm: OpenBLAS's cblas_sgemm through the N-API addon native/openblas.c, built at install time by
 * scripts/build-native.mjs into build/Release/modelfab_openblas.node when OpenBLAS is installed. An option beside
 * the engine's own kernels (native.ts), picked only when asked for (MODELFAB_GEMM=openblas). The addon validates
 * every argument itself (wrong types, bad sizes and too-short arrays throw), so calls go straight through.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Gemm } from './gemm-seam.ts';

interface Addon {
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, B: Float32Array, beta: number, C: Float32Array): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  numProcs(): number;
  config(): string;
  corename(): string;
}

export interface OpenBlasGemm extends Gemm {
  readonly name: 'openblas';
  readonly info: string;
}

export const OPENBLAS_ADDON_PATH = fileURLToPath(new URL('../../../build/Release/modelfab_openblas.node', import.meta.url));

let loaded: { addon: Addon } | { error: string } | undefined;
/** OpenBLAS's current thread count as last set by us (-1: unknown). */
let blasThreads = -1;

/** Loads the addon once; returns it or why it is unavailable. */
export function loadOpenBlasAddon(): { addon: Addon } | { error: string } {
  if (loaded) return loaded;
  if (!existsSync(OPENBLAS_ADDON_PATH)) {
    loaded = { error: 'the OpenBLAS addon is not built (OpenBLAS was not installed at install time: apt-get install libopenblas-dev && npm run build)' };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(OPENBLAS_ADDON_PATH) as Addon;
    if (typeof addon.sgemm !== 'function' || typeof addon.config !== 'function') throw new Error('not a modelfab OpenBLAS addon');
    loaded = { addon };
  } catch (e) {
    loaded = { error: `the OpenBLAS addon does not load (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` };
  }
  return loaded;
}

/** Puts OpenBLAS's threads to rest (1 thread) when another backend takes over the cores; no-op if not loaded. */
export function quiesceOpenBlas(): void {
  if (loaded && 'addon' in loaded && blasThreads !== 1) {
    loaded.addon.setNumThreads(1);
    blasThreads = 1;
  }
}

export function createOpenBlasGemm(opts: { threads?: number } = {}): OpenBlasGemm {
  const l = loadOpenBlasAddon();
  if ('error' in l) throw new Error(`OpenBLAS gemm unavailable: ${l.error}`);
  const addon = l.addon;
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const threads = Math.max(1, Math.floor(opts.threads ?? cores));
  addon.setNumThreads(threads);
  blasThreads = threads;
  const cfg = String(addon.config()).trim();
  const version = /OpenBLAS\s+(\S+)/.exec(cfg)?.[1] ?? '?';
  const core = String(addon.corename()).trim();
  let actual = addon.getNumThreads(); // OpenBLAS caps at its MAX_THREADS
  let closed = false;
  return {
    name: 'openblas',
    get threads() { return actual; },
    setThreads(n: number) {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`setThreads: threads must be a positive integer, got ${String(n)}`);
      addon.setNumThreads(n);
      actual = addon.getNumThreads();
      blasThreads = actual;
      return actual;
    },
    info: `OpenBLAS ${version}${core ? ` (${core})` : ''}`,
    sgemm(transA, transB, M, N, K, alpha, A, B, beta, C) {
      if (closed) throw new Error('sgemm: the OpenBLAS gemm was closed');
      if (blasThreads !== actual) { // another instance or backend changed OpenBLAS's thread count
        addon.setNumThreads(actual);
        blasThreads = actual;
      }
      addon.sgemm(transA, transB, M, N, K, alpha, A, B, beta, C);
    },
    close() {
      closed = true;
    },
  };
}
