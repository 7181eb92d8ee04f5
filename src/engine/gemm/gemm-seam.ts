/**
 * The one matrix-multiply seam of the engine. Every backend (native own kernels, OpenBLAS, portable WebAssembly,
 * reference TypeScript) implements this and passes the same conformance suite (test/engine/gemm.test.ts).
 *
 * Row-major, BLAS semantics: C = alpha * op(A) * op(B) + beta * C, where
 *   op(A) is M x K (A is stored M x K, or K x M when transA),
 *   op(B) is K x N (B is stored K x N, or N x K when transB),
 *   C is M x N.
 * Arrays may be longer than needed (subarray views are fine); only the leading elements are read or written.
 * With beta = 0, C is overwritten and its old contents (even NaN) are ignored.
 */
export interface Gemm {
  readonly name: 'native' | 'openblas' | 'portable' | 'reference';
  /** Threads this backend computes on (the caller included). */
  readonly threads: number;
  /**
   * Changes the threads of the calls that follow (a scheduler lending a job the machine's idle cores, or taking
   * them back); absent on backends whose thread count is fixed when made. Returns the count now in effect.
   */
  setThreads?(threads: number): number;
  /**
   * bf16: the products are mixed precision (operands rounded to bfloat16, float32 sums; the native backend's bf16
   * kernel), and the engine's own products outside this seam (fused attention) follow. Absent: float32.
   */
  readonly precision?: 'fp32' | 'bf16';
  sgemm(
    transA: boolean, transB: boolean,
    M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Float32Array,
    beta: number, C: Float32Array,
  ): void;
  /**
   * The same product with B given as bfloat16 bits (a frozen bf16 weight, engine/half-weight.ts): the bits sgemm
   * gives on the widened B, without widening it into memory first. Absent on backends that cannot (the caller
   * widens B itself).
   */
  sgemmBf16B?(
    transA: boolean, transB: boolean,
    M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Uint16Array,
    beta: number, C: Float32Array,
  ): void;
  /** Release threads and memory; the backend must not be used afterwards. */
  close(): void;
}
