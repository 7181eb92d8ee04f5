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

/** Threading protocol (see gemm-kernel.mjs). */
export const CTRL: {
  readonly JOBGEN: number; readonly DONE: number; readonly ERR: number; readonly QUIT: number;
  readonly NCHUNKS: number; readonly BYROWS: number; readonly UNITS: number; readonly TA: number; readonly TB: number;
  readonly M: number; readonly N: number; readonly K: number; readonly A: number; readonly LDA: number;
  readonly B: number; readonly LDB: number; readonly C: number; readonly LDC: number; readonly ALPHA: number;
  readonly BETA: number; readonly CLAIM_BYTE: number; readonly ALIVE: number; readonly INTS: number; readonly BYTES: number;
};
export interface Job {
  nChunks: number; byRows: boolean; units: number; transA: boolean; transB: boolean;
  M: number; N: number; K: number; A: number; lda: number; B: number; ldb: number; C: number; ldc: number;
  alpha: number; beta: number;
}
export function runChunk(ex: KernelExports, cfg: KernelConfig, job: Job, idx: number, work: number): void;
export function writeJob(ctrl: Int32Array, ctrlF: Float32Array, job: Job): void;
export function readJob(ctrl: Int32Array, ctrlF: Float32Array): Job;
export function claimWord(jobId: number, nChunks: number): bigint;
export function claimChunks(
  ex: KernelExports, cfg: KernelConfig, ctrl: Int32Array, ctrlF: Float32Array, claim: BigInt64Array, work: number,
  job: Job | null,
): number;
