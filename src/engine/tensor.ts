/**
 * Tensors and the autograd tape.
 *
 * A Tensor is a flat Float32Array with a shape (row-major) and, when it takes part in training, a gradient buffer of
 * the same size. There is no broadcasting machinery and no strides: every op in ops/ is a hand-written forward
 * kernel that, when a tape is recording, pushes its backward kernel onto the tape. `Tape.backward` replays those in
 * reverse. Gradients accumulate (+=), so a tensor used twice (tied embeddings) gets both contributions.
 *
 * Contract of an op: it never mutates its inputs' data; it writes input gradients only for inputs with
 * `requiresGrad`; it allocates its output's gradient lazily through `ensureGrad()`.
 */
import type { Gemm } from './gemm/gemm-seam.ts';
import type { Rng } from './rng.ts';
import type { BufferPool } from './pool.ts';
import { NATIVE_SUM_MIN, nativeRowKernels } from './ops/native-kernels.ts';

export class Tensor {
  grad: Float32Array | null = null;
  /** Set on op outputs made during a pooled step: their gradient comes from (and returns to) the same pool. */
  pool: BufferPool | null = null;

  constructor(
    public data: Float32Array,
    public readonly shape: readonly number[],
    public requiresGrad = false,
    public name = '',
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`Tensor ${name || '(anonymous)'}: shape [${shape}] needs ${n} values, got ${data.length}`);
  }

  /**
   * A tensor that carries its shape and no values: a weight held elsewhere (4-bit or bf16) that the model reads
   * through its own source. Its data is empty.
   */
  static held(shape: readonly number[], name: string): Tensor {
    const t = new Tensor(new Float32Array(0), [0], false, name);
    (t as { shape: readonly number[] }).shape = shape;
    return t;
  }

  static zeros(shape: readonly number[], requiresGrad = false, name = ''): Tensor {
    return new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, requiresGrad, name);
  }

  get size(): number {
    return this.data.length;
  }

  /** The gradient buffer, allocated (zeroed) on first use. */
  ensureGrad(): Float32Array {
    if (this.grad === null) this.grad = this.pool ? this.pool.take(this.data.length, true) : new Float32Array(this.data.length);
    return this.grad;
  }

  /**
   * Where a kernel writes a gradient contribution with a beta (c = alpha * ... + beta * c): when this pooled op
   * output has no gradient yet, a fresh pooled buffer the kernel overwrites (beta 0: no zero-fill, one pass less
   * over it); else the gradient, added to (beta 1).
   */
  gradTarget(): { grad: Float32Array; beta: 0 | 1 } {
    if (this.grad === null && this.pool !== null) return { grad: (this.grad = this.pool.take(this.data.length, false)), beta: 0 };
    return { grad: this.ensureGrad(), beta: 1 };
  }

  /**
   * grad += scale * g (the first contribution is a copy, no zero-fill); large sums run in the native kernel on up to
   * `threads` threads, with the loop's bits.
   */
  addGrad(g: Float32Array, scale = 1, threads = 1): void {
    const n = this.data.length;
    const rk = n >= NATIVE_SUM_MIN ? nativeRowKernels() : null;
    if (this.grad === null) {
      const d = (this.grad = this.pool ? this.pool.take(n, false) : new Float32Array(n));
      if (scale === 1) d.set(g.subarray(0, n));
      else if (rk) { d.set(g.subarray(0, n)); rk.scale(d, n, scale, threads); } // (float)(g * scale), as the loop
      else for (let i = 0; i < n; i++) d[i] = scale * g[i];
      return;
    }
    const d = this.grad;
    if (rk?.accumulate) rk.accumulate(d, g, n, scale, threads);
    else if (scale === 1) for (let i = 0; i < n; i++) d[i] += g[i];
    else for (let i = 0; i < n; i++) d[i] += scale * g[i];
  }

  /**
   * Adds `g` to this gradient. When there is none yet, `g` itself becomes the gradient (no copy): only for a
   * buffer nothing else will read or write afterwards (the gradient of an op's output, once its backward ran) and
   * that is handed to one input only.
   */
  takeGrad(g: Float32Array): void {
    if (this.grad === null && this.pool !== null && g.length === this.data.length) { this.grad = g; return; }
    this.addGrad(g);
  }

  zeroGrad(): void {
    if (this.grad) this.grad.fill(0);
  }
}

/** Records backward kernels in the order the forward ran them. */
export class Tape {
  private readonly backs: Array<() => void> = [];

  record(backward: () => void): void {
    this.backs.push(backward);
  }

  get length(): number {
    return this.backs.length;
  }

  /** Seeds d(loss)/d(loss) = 1 (scaled by `scale`, e.g. 1/accumulation steps) and runs every backward in reverse. */
  backward(loss: Tensor, scale = 1): void {
    if (loss.size !== 1) throw new Error(`backward: loss must be a scalar, got shape [${loss.shape}]`);
    loss.ensureGrad()[0] += scale;
    this.replay();
  }

  /** Runs every recorded backward in reverse and clears the tape (the caller has seeded the output gradients). */
  replay(): void {
    for (let i = this.backs.length - 1; i >= 0; i--) this.backs[i]();
    this.backs.length = 0;
  }
}

/**
 * What every op needs besides its inputs: the gemm backend, the tape (null when not recording: inference,
 * evaluation) and the random source for dropout. `training` switches dropout on.
 */
export interface Ctx {
  gemm: Gemm;
  tape: Tape | null;
  rng: Rng;
  training: boolean;
  /** Where op outputs and scratch come from during a step; none: plain allocation. */
  pool?: BufferPool;
}

/** A buffer for an op: from the step's pool when there is one. `zero` when the op does not write every element. */
export function alloc(ctx: Ctx, n: number, zero = false): Float32Array {
  return ctx.pool ? ctx.pool.take(n, zero) : new Float32Array(n);
}

/** An op's output tensor over `data`, tied to the step's pool for its gradient. */
export function output(ctx: Ctx, data: Float32Array, shape: readonly number[], requiresGrad: boolean): Tensor {
  const t = new Tensor(data, shape, requiresGrad);
  t.pool = ctx.pool ?? null;
  return t;
}

/** True when the op must record a backward for these inputs. */
export function needsGrad(ctx: Ctx, ...inputs: Tensor[]): boolean {
  if (ctx.tape === null) return false;
  for (const t of inputs) if (t.requiresGrad) return true;
  return false;
}
