/**
 * Argument checks shared by the TypeScript-side backends (the native addon does the same checks in C).
 * A malformed call throws TypeError / RangeError before anything is read or written.
 */

function dim(name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
    throw new RangeError(`sgemm: ${name} must be an integer in [0, 2^31), got ${String(v)}`);
  }
}

function arr(name: string, v: Float32Array, need: number): void {
  if (!(v instanceof Float32Array)) throw new TypeError(`sgemm: ${name} must be a Float32Array`);
  if (v.length < need) {
    throw new RangeError(`sgemm: ${name} is too short: it has ${v.length} elements, the problem needs ${need}`);
  }
}

export function checkSgemmArgs(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
): void {
  if (typeof transA !== 'boolean') throw new TypeError('sgemm: transA must be a boolean');
  if (typeof transB !== 'boolean') throw new TypeError('sgemm: transB must be a boolean');
  dim('M', M);
  dim('N', N);
  dim('K', K);
  if (typeof alpha !== 'number') throw new TypeError('sgemm: alpha must be a number');
  if (typeof beta !== 'number') throw new TypeError('sgemm: beta must be a number');
  arr('A', A, M * K);
  arr('B', B, K * N);
  arr('C', C, M * N);
}

/** C = beta * C over the first n elements; beta == 0 overwrites (old NaN ignored). */
export function scaleC(C: Float32Array, n: number, beta: number): void {
  if (beta === 0) C.fill(0, 0, n);
  else if (beta !== 1) for (let i = 0; i < n; i++) C[i] *= beta;
}
