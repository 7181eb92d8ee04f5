/** Types for gemm-kernel.mjs (plain JavaScript, shared by the calling thread and the worker threads). */
export interface KernelConfig {
  readonly MR: number;
  readonly NR: number;
  readonly KC: number;
  readonly MC: number;
  readonly NC: number;
  /** k unroll of the micro-kernel (default 1) */
  readonly KU?: number;
  /** use relaxed SIMD f32x4.relaxed_madd */
  readonly fma?: boolean;
}
export interface KernelExports {
  ukernel(kc: number, ap: number, bp: number, c: number, ldcB: number, alpha: number, beta: number): void;
  macro(mc: number, nc: number, kc: number, ap: number, bp: number, c: number, ldcB: number, alpha: number, beta: number, tile: number): void;
  packA(src: number, sR: number, sK: number, rows: number, kc: number, dst: number): void;
  packB(src: number, sR: number, sK: number, rows: number, kc: number, dst: number): void;
}
export const KERNEL: KernelConfig;
export function relaxedSimdSupported(): boolean;
export function kernelConfig(opts?: { fma?: boolean }): KernelConfig;
export function workBytes(cfg?: KernelConfig): number;
export function buildGemmWasm(cfg?: KernelConfig, maxPages?: number): Uint8Array;
export function gemmBlock(
  ex: KernelExports, cfg: KernelConfig, transA: boolean, transB: boolean, M: number, N: number, K: number,
  alpha: number, A: number, lda: number, B: number, ldb: number, beta: number, C: number, ldc: number, work: number,
): void;
