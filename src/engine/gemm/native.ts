/**
 * The native gemm: OpenBLAS's cblas_sgemm through the N-API addon native/gemm.c, built at install time by
 * scripts/build-native.mjs into build/Release/modelfab_gemm.node. The addon validates every argument itself
 * (wrong types, bad sizes and too-short arrays throw), so calls go straight through.
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

export interface NativeGemm extends Gemm {
  readonly name: 'native';
  readonly info: string;
}

export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../../build/Release/modelfab_gemm.node', import.meta.url));

let loaded: { addon: Addon } | { error: string } | undefined;
/** OpenBLAS's current thread count as last set by us (-1: unknown). */
let blasThreads = -1;

/** Loads the addon once; returns it or why it is unavailable. */
export function loadNativeAddon(): { addon: Addon } | { error: string } {
  if (loaded) return loaded;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    loaded = { error: 'the native addon is not built (OpenBLAS was missing at install time, or the build failed)' };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as Addon;
    if (typeof addon.sgemm !== 'function') throw new Error('not a modelfab gemm addon');
    loaded = { addon };
  } catch (e) {
    loaded = { error: `the native addon does not load (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` };
  }
  return loaded;
}

/** Puts OpenBLAS's threads to rest (1 thread) when another backend takes over the cores; no-op if not loaded. */
export function quiesceNative(): void {
  if (loaded && 'addon' in loaded && blasThreads !== 1) {
    loaded.addon.setNumThreads(1);
    blasThreads = 1;
  }
}

export function createNativeGemm(opts: { threads?: number } = {}): NativeGemm {
  const l = loadNativeAddon();
  if ('error' in l) throw new Error(`native gemm unavailable: ${l.error}`);
  const addon = l.addon;
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const threads = Math.max(1, Math.floor(opts.threads ?? cores));
  addon.setNumThreads(threads);
  blasThreads = threads;
  const cfg = String(addon.config()).trim();
  const version = /OpenBLAS\s+(\S+)/.exec(cfg)?.[1] ?? '?';
  const core = String(addon.corename()).trim();
  const actual = addon.getNumThreads(); // OpenBLAS caps at its MAX_THREADS
  let closed = false;
  return {
    name: 'native',
    threads: actual,
    info: `OpenBLAS ${version}${core ? ` (${core})` : ''}`,
    sgemm(transA, transB, M, N, K, alpha, A, B, beta, C) {
      if (closed) throw new Error('sgemm: the native gemm was closed');
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
