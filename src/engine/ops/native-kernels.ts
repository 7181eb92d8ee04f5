/**
 * Optional native kernels (native/kernels.c, built with the gemm addon by `npm install` when a compiler is there):
 * the exp()-bound loops of a step (row softmax, sigmoid), vectorised with glibc's SIMD expf. Every op that uses
 * them keeps its TypeScript loop beside, used when the addon is absent or switched off (MODELFAB_KERNELS=js).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface NativeKernels {
  softmaxRows(x: Float32Array, y: Float32Array, rows: number, cols: number, causalOffset: number, logz: Float32Array | null): void;
  sigmoid(x: Float32Array, y: Float32Array, n: number): void;
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, b1: number, b2: number, eps: number, decay: number, stepSize: number, bc2Sqrt: number): void;
  sumSquares(x: Float32Array): number;
}

const ADDON = fileURLToPath(new URL('../../../build/Release/modelfab_kernels.node', import.meta.url));

function load(): NativeKernels | null {
  if (process.env.MODELFAB_KERNELS === 'js' || !existsSync(ADDON)) return null;
  try {
    return createRequire(import.meta.url)(ADDON) as NativeKernels;
  } catch {
    return null;
  }
}

let loaded: NativeKernels | null | undefined;
let enabled = true;

/** The native kernels, or null when absent or switched off. */
export function nativeKernels(): NativeKernels | null {
  if (!enabled) return null;
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** Switches the native kernels on or off for this process (benchmarks of the portable path, tests). */
export function useNativeKernels(on: boolean): void {
  enabled = on;
}
