/**
 * Optional native kernels, built with the gemm addon by `npm install` when a compiler is there:
 *   - `nativeKernels()` (native/kernels.c): the exp()-bound loops of a step (row softmax, sigmoid), vectorised with
 *     glibc's SIMD expf;
 *   - `nativeRowKernels()` (native/ops.c, in the gemm addon): RMSNorm, SwiGLU, RoPE, row softmax, the embedding and
 *     cross-entropy backward, gradient scaling and sums, AdamW and bf16 widening, vectorised and split over the job's
 *     threads through the gemm's own thread pool (so a lone job uses every core it has for the whole step, not just
 *     the gemms).
 * Every op that uses them keeps its TypeScript loop beside, used when the addon is absent or switched off
 * (MODELFAB_KERNELS=js, `useNativeKernels(false)`).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon } from '../gemm/native.ts';

export interface NativeKernels {
  softmaxRows(x: Float32Array, y: Float32Array, rows: number, cols: number, causalOffset: number, logz: Float32Array | null): void;
  sigmoid(x: Float32Array, y: Float32Array, n: number): void;
}

/** native/ops.c. Shapes as in the TypeScript ops; `threads` >= 1; results do not depend on it. */
export interface RowKernels {
  rmsnormForward(x: Float32Array, w: Float32Array, out: Float32Array, rstd: Float32Array, N: number, C: number, eps: number, threads: number): void;
  rmsnormBackward(x: Float32Array, w: Float32Array, rstd: Float32Array, dy: Float32Array, dx: Float32Array | null, dw: Float32Array | null, N: number, C: number, threads: number): void;
  swigluForward(gate: Float32Array, up: Float32Array, out: Float32Array, sig: Float32Array | null, n: number, threads: number): void;
  /** dg, du += ...; `freshDg` / `freshDu`: overwrite instead (a gradient buffer not yet written: gradTarget's beta 0). */
  swigluBackward(gate: Float32Array, up: Float32Array, sig: Float32Array, dy: Float32Array, dg: Float32Array | null, du: Float32Array | null, n: number, threads: number, freshDg?: boolean, freshDu?: boolean): void;
  softmaxRows(x: Float32Array, y: Float32Array, rows: number, cols: number, causalOffset: number, period: number, logz: Float32Array | null, threads: number): void;
  rope(src: Float32Array, dst: Float32Array, positions: Int32Array, cos: Float32Array, sin: Float32Array, H: number, D: number, dir: number, accumulate: boolean, threads: number): void;
  embeddingBackward(dy: Float32Array, ids: Int32Array, grad: Float32Array, N: number, C: number, threads: number): void;
  crossEntropyBackward(probs: Float32Array, labels: Int32Array, dx: Float32Array, N: number, V: number, g: number, accumulate: boolean, threads: number): void;
  scale(x: Float32Array, n: number, s: number, threads: number): void;
  /** dst = the bf16 bits of src as float32 (exact); absent in builds older than it. */
  widenBf16?(src: Uint16Array, dst: Float32Array, n: number, threads: number): void;
  /** out = a + s * b and dst += s * src, in double with one rounding (the TypeScript loops' bits); absent in older builds. */
  addScaled?(a: Float32Array, b: Float32Array, out: Float32Array, n: number, s: number, threads: number): void;
  accumulate?(dst: Float32Array, src: Float32Array, n: number, s: number, threads: number): void;
  /** AdamW in float32, PyTorch's arithmetic (the TypeScript loop's, with the same bits). */
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, b1: number, b2: number, eps: number, decay: number, stepSize: number, bc2Sqrt: number, threads: number): void;
  /** Sum of squares in double, by fixed blocks (the same on any thread count); absent in older builds. */
  sumSquares?(x: Float32Array, n: number, threads: number): number;
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

/** Elements from which an elementwise sum runs in the native kernel (below, the call costs more than the loop). */
export const NATIVE_SUM_MIN = 4096;

let loaded: NativeKernels | null | undefined;
let enabled = true;

/** The native kernels, or null when absent or switched off. */
export function nativeKernels(): NativeKernels | null {
  if (!enabled) return null;
  if (loaded === undefined) loaded = load();
  return loaded;
}

let rowKernels: RowKernels | null | undefined;

/** The row kernels of the gemm addon, or null when absent (or an older build), or switched off. */
export function nativeRowKernels(): RowKernels | null {
  if (!enabled || process.env.MODELFAB_KERNELS === 'js') return null;
  if (rowKernels === undefined) {
    const l = loadNativeAddon();
    const a = 'addon' in l ? (l.addon as unknown as Partial<RowKernels>) : null;
    rowKernels = a && typeof a.rmsnormForward === 'function' && typeof a.adamw === 'function' ? (a as RowKernels) : null;
  }
  return rowKernels;
}

/** Switches the native kernels on or off for this process (benchmarks of the portable path, tests). */
export function useNativeKernels(on: boolean): void {
  enabled = on;
}

/** Where a row softmax looks (`softmaxRows`). */
export interface SoftmaxOptions {
  /** Row r sees columns 0 .. causalOffset + r % period (absent or -1: every column); 0 is written beyond. */
  causalOffset?: number;
  /** Rows per block the causal limit restarts at (several heads' [T, S] scores in one array); default all rows. */
  period?: number;
  /** Receives each row's log-sum-exp. */
  logz?: Float32Array | null;
  threads?: number;
}

/**
 * y[r] = softmax of x[r] over its visible columns, 0 beyond (x and y may be the same array): the one row softmax
 * every op uses, in its forward and its backward alike. It runs on the gemm addon's row kernels (on threads) where
 * they are built, else on the kernels addon, else in this loop; which depends on the build only, so a pass that
 * recomputes a softmax gets the bits the other pass got.
 */
export function softmaxRows(x: Float32Array, y: Float32Array, rows: number, cols: number, o: SoftmaxOptions = {}): void {
  const offset = o.causalOffset ?? -1, period = o.period ?? rows, logz = o.logz ?? null;
  const rk = nativeRowKernels();
  if (rk) { rk.softmaxRows(x, y, rows, cols, offset, Math.max(1, period), logz, o.threads ?? 1); return; }
  const k = nativeKernels();
  if (k) {
    for (let r0 = 0; r0 < rows; r0 += period) {
      const n = Math.min(period, rows - r0);
      k.softmaxRows(x.subarray(r0 * cols, (r0 + n) * cols), y.subarray(r0 * cols, (r0 + n) * cols), n, cols, offset, logz ? logz.subarray(r0, r0 + n) : null);
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const o0 = r * cols, visible = offset < 0 ? cols : Math.min(cols, offset + (r % period) + 1);
    let max = -Infinity;
    for (let j = 0; j < visible; j++) if (x[o0 + j]! > max) max = x[o0 + j]!;
    let z = 0;
    for (let j = 0; j < visible; j++) { const e = Math.exp(x[o0 + j]! - max); y[o0 + j] = e; z += e; }
    const inv = 1 / z;
    for (let j = 0; j < visible; j++) y[o0 + j]! *= inv;
    y.fill(0, o0 + visible, o0 + cols);
    if (logz) logz[r] = max + Math.log(z);
  }
}
