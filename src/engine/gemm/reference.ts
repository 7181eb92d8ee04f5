/**
 * The reference gemm: plain TypeScript, obviously correct, used by tests and as the fallback of last resort.
 * i-k-j loop order with op(A) and op(B) resolved by index arithmetic.
 */
import type { Gemm } from './gemm-seam.ts';

export function sgemmReference(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
): void {
  const row = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    row.fill(0);
    for (let k = 0; k < K; k++) {
      const a = transA ? A[k * M + i] : A[i * K + k];
      if (a === 0) continue;
      if (transB) for (let j = 0; j < N; j++) row[j] += a * B[j * K + k];
      else { const off = k * N; for (let j = 0; j < N; j++) row[j] += a * B[off + j]; }
    }
    const c = i * N;
    if (beta === 0) for (let j = 0; j < N; j++) C[c + j] = alpha * row[j];
    else for (let j = 0; j < N; j++) C[c + j] = alpha * row[j] + beta * C[c + j];
  }
}

export function referenceGemm(): Gemm {
  return { name: 'reference', threads: 1, sgemm: sgemmReference, close() {} };
}
