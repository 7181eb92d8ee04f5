/**
 * The optimizer side of training: AdamW, gradient clipping by global L2 norm, and learning-rate schedules.
 *
 * Owns: parameter updates, optimizer state and its (de)serialization, the LR curve. Guarantees:
 *   - AdamW is PyTorch's `torch.optim.AdamW` (amsgrad=False, maximize=False) step for step: decoupled weight decay
 *     applied to the parameter before the Adam update, bias-corrected moments, eps added after the bias-corrected
 *     square root. State (m, v: Float32Array, one step count per parameter) is allocated on a parameter's first
 *     update, like PyTorch's lazy state; after that a step allocates nothing.
 *   - Only tensors with `requiresGrad` and a non-null `grad` are touched; others are skipped for that step (and
 *     their step counts do not advance, as in PyTorch).
 *   - `lrAt` reproduces Hugging Face `get_cosine_schedule_with_warmup` / `get_linear_schedule_with_warmup` /
 *     `get_constant_schedule_with_warmup` (and `get_cosine_with_min_lr_schedule_with_warmup` for minLrRatio > 0)
 *     over [0, totalSteps]; see its comment for the formula and the one deliberate difference past totalSteps.
 */
import type { Tensor } from './tensor.ts';
import { nativeRowKernels } from './ops/native-kernels.ts';

const f = Math.fround;

// ---------------------------------------------------------------------------------------------------------------
// AdamW

export interface ParamGroup {
  params: readonly Tensor[];
  /** Overrides the optimizer's weightDecay for this group. */
  weightDecay?: number;
  /** Multiplies the learning rate for this group (default 1). */
  lrScale?: number;
}

export interface AdamWOptions {
  lr: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Decoupled weight decay (PyTorch's default is 0.01). */
  weightDecay?: number;
  /**
   * For a flat parameter list: which tensors get weight decay. Default: tensors with 2 or more dimensions
   * (matrices, embeddings); 1-D tensors (norm gains, biases) get none. Ignored when groups are given.
   */
  decay?: (t: Tensor) => boolean;
  /** Threads the native update may use (the job's, as its gemm has; default 1). The result is the same bits. */
  threads?: number;
}

export interface AdamWState {
  /** Number of `step()` calls. */
  step: number;
  /** Per-parameter update counts (equal to `step` unless some parameters had no gradient on some steps). */
  paramSteps: Record<string, number>;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

interface Slot {
  t: Tensor;
  group: number;
  m: Float32Array | null;
  v: Float32Array | null;
  steps: number;
}

interface Group {
  weightDecay: number;
  lrScale: number;
}

export const defaultDecay = (t: Tensor): boolean => t.shape.length >= 2;

export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Threads the native update runs on; the training loop keeps it equal to the gemm's. */
  threads: number;
  private readonly groups: Group[] = [];
  private readonly slots: Slot[] = [];
  private readonly byName = new Map<string, Slot>();
  private steps = 0;

  /**
   * `params`: a flat list (split into decay / no-decay groups by `opts.decay`) or explicit groups. Every parameter
   * needs a unique non-empty `name`: state is keyed by it.
   */
  constructor(params: readonly Tensor[] | readonly ParamGroup[], opts: AdamWOptions) {
    this.lr = opts.lr;
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.threads = Math.max(1, Math.floor(opts.threads ?? 1));
    const wd = opts.weightDecay ?? 0.01;
    check(Number.isFinite(this.lr) && this.lr >= 0, `lr must be >= 0, got ${this.lr}`);
    check(this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1, `betas must be in [0, 1), got [${this.beta1}, ${this.beta2}]`);
    check(this.eps >= 0, `eps must be >= 0, got ${this.eps}`);
    check(wd >= 0, `weightDecay must be >= 0, got ${wd}`);
    const isGroups = params.length > 0 && !isTensorLike(params[0]);
    if (isGroups) {
      for (const g of params as readonly ParamGroup[]) {
        const gi = this.groups.push({ weightDecay: g.weightDecay ?? wd, lrScale: g.lrScale ?? 1 }) - 1;
        check(this.groups[gi].weightDecay >= 0 && this.groups[gi].lrScale >= 0, `group ${gi}: weightDecay and lrScale must be >= 0`);
        for (const t of g.params) this.add(t, gi);
      }
    } else {
      const decay = opts.decay ?? defaultDecay;
      this.groups.push({ weightDecay: wd, lrScale: 1 }, { weightDecay: 0, lrScale: 1 });
      for (const t of params as readonly Tensor[]) this.add(t, decay(t) ? 0 : 1);
    }
  }

  private add(t: Tensor, group: number): void {
    check(typeof t.name === 'string' && t.name !== '', `every parameter needs a name (state is keyed by it); got an unnamed tensor of shape [${t.shape}]`);
    check(!this.byName.has(t.name), `duplicate parameter name "${t.name}"`);
    const slot: Slot = { t, group, m: null, v: null, steps: 0 };
    this.slots.push(slot);
    this.byName.set(t.name, slot);
  }

  /** Number of `step()` calls so far (restored by `loadState`). */
  get stepCount(): number {
    return this.steps;
  }

  /** The parameters and the weight decay each gets, for inspection. */
  paramGroups(): { name: string; weightDecay: number; lrScale: number }[] {
    return this.slots.map((s) => ({ name: s.t.name, ...this.groups[s.group] }));
  }

  /**
   * One update of every parameter that requires grad and has a gradient, at learning rate `lr` (default: the
   * `lr` field, which a trainer sets from `lrAt` before each step). Per element, with t the parameter's step:
   *   p <- p * (1 - lr * wd)
   *   m <- b1 * m + (1 - b1) * g;   v <- b2 * v + (1 - b2) * g^2
   *   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
   * in float32, as PyTorch computes it.
   */
  step(lr = this.lr): void {
    this.steps++;
    const b1 = this.beta1, b2 = this.beta2, eps = this.eps;
    const c1 = 1 - b1, c2 = 1 - b2;
    for (const slot of this.slots) {
      const t = slot.t;
      const g = t.grad;
      if (!t.requiresGrad || g === null) continue;
      const p = t.data;
      if (slot.m === null) { slot.m = new Float32Array(p.length); slot.v = new Float32Array(p.length); }
      const m = slot.m, v = slot.v!;
      const n = p.length;
      const step = ++slot.steps;
      const group = this.groups[slot.group];
      const glr = lr * group.lrScale;
      const decay = 1 - glr * group.weightDecay;
      const stepSize = glr / (1 - b1 ** step);
      const bc2Sqrt = Math.sqrt(1 - b2 ** step);
      const rk = nativeRowKernels();
      // The same update in the native kernels, vectorised (and on threads): the same bits.
      if (rk) { rk.adamw(p, g, m, v, b1, b2, eps, decay, stepSize, bc2Sqrt, this.threads); continue; }
      // float32 arithmetic as PyTorch's: every operation rounded to float (a double result of two floats, rounded
      // once, is the float operation's result for +, -, *, / and sqrt).
      const b1f = f(b1), b2f = f(b2), c1f = f(c1), c2f = f(c2), epsf = f(eps), decayf = f(decay), sf = f(stepSize), bcf = f(bc2Sqrt);
      for (let i = 0; i < n; i++) {
        const gi = g[i];
        const mi = f(f(b1f * m[i]) + f(c1f * gi));
        const vi = f(f(b2f * v[i]) + f(c2f * f(gi * gi)));
        m[i] = mi;
        v[i] = vi;
        p[i] = f(f(p[i] * decayf) - f(sf * f(mi / f(f(f(Math.sqrt(vi)) / bcf) + epsf))));
      }
    }
  }

  /** Zeroes the gradient buffers of all parameters (keeps the buffers). */
  zeroGrad(): void {
    for (const s of this.slots) s.t.zeroGrad();
  }

  /**
   * The state to checkpoint. By default m and v are copies; with `{ copy: false }` they are the live buffers
   * (no memory doubling; valid until the next step).
   */
  state(opts: { copy?: boolean } = {}): AdamWState {
    const copy = opts.copy ?? true;
    const out: AdamWState = { step: this.steps, paramSteps: {}, m: {}, v: {} };
    for (const s of this.slots) {
      if (s.m === null) continue;
      out.paramSteps[s.t.name] = s.steps;
      out.m[s.t.name] = copy ? s.m.slice() : s.m;
      out.v[s.t.name] = copy ? s.v!.slice() : s.v!;
    }
    return out;
  }

  /**
   * Restores `state()` output (copying it). Parameters absent from the state start fresh; a name the optimizer
   * does not know, or a buffer of the wrong size, is an error (and nothing is changed).
   */
  loadState(state: AdamWState): void {
    check(Number.isInteger(state.step) && state.step >= 0, `loadState: bad step ${state.step}`);
    for (const name of new Set([...Object.keys(state.m), ...Object.keys(state.v)])) {
      const slot = this.byName.get(name);
      check(slot !== undefined, `loadState: unknown parameter "${name}"`);
      const m = state.m[name], v = state.v[name];
      check(m !== undefined && v !== undefined, `loadState: parameter "${name}" needs both m and v`);
      check(m.length === slot.t.data.length && v.length === slot.t.data.length,
        `loadState: "${name}" has ${slot.t.data.length} values, state has m ${m.length} / v ${v.length}`);
    }
    this.steps = state.step;
    for (const slot of this.slots) {
      const name = slot.t.name;
      const m = state.m[name];
      if (m === undefined) { slot.m = slot.v = null; slot.steps = 0; continue; }
      slot.m = Float32Array.from(m);
      slot.v = Float32Array.from(state.v[name]);
      slot.steps = state.paramSteps?.[name] ?? state.step;
    }
  }
}

function isTensorLike(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && 'data' in x && 'shape' in x;
}

function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`AdamW: ${msg}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Gradient clipping

/**
 * Scales all gradients in place so that their global L2 norm is at most `maxNorm`, like
 * `torch.nn.utils.clip_grad_norm_`: total = sqrt(sum of g^2 over every parameter with a gradient) (accumulated in
 * double), coef = maxNorm / (total + 1e-6), applied only when coef < 1. Returns the pre-clip norm. A non-finite
 * norm (NaN/Inf gradients) is returned without touching the gradients: the caller should skip the step. `threads`:
 * how many threads the native scaling may use (the job's); the result is the same bits.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, threads = 1): number {
  const grads: Float32Array[] = [];
  let sumSq = 0;
  for (const t of params) {
    const g = t.grad;
    if (g === null) continue;
    grads.push(g);
    sumSq += sumSquares(g, threads);
  }
  const total = Math.sqrt(sumSq);
  if (!Number.isFinite(total)) return total;
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) {
    const rk = nativeRowKernels();
    for (const g of grads) {
      if (rk) rk.scale(g, g.length, coef, threads); // the same products, on threads
      else for (let i = 0; i < g.length; i++) g[i] *= coef;
    }
  }
  return total;
}

/** The global L2 norm of the gradients (no clipping). */
export function gradNorm(params: Iterable<Tensor>, threads = 1): number {
  let sumSq = 0;
  for (const t of params) if (t.grad !== null) sumSq += sumSquares(t.grad, threads);
  return Math.sqrt(sumSq);
}

/** Elements per partial sum of `sumSquares` (the native kernel's SQ_BLOCK). */
const SQ_BLOCK = 65536;

/**
 * Sum of x[i]^2 in double: per block of SQ_BLOCK elements in 8 lanes (element i into lane i mod 8), the lanes in
 * order, then the blocks in order. The native kernel sums in the same order on any thread count: the same bits.
 */
export function sumSquares(x: Float32Array, threads = 1): number {
  const rk = nativeRowKernels();
  if (rk?.sumSquares) return rk.sumSquares(x, x.length, threads);
  let total = 0;
  const acc = new Float64Array(8);
  for (let b = 0; b < x.length; b += SQ_BLOCK) {
    const end = Math.min(x.length, b + SQ_BLOCK);
    acc.fill(0);
    let i = b;
    for (; i + 8 <= end; i += 8) for (let l = 0; l < 8; l++) acc[l] += x[i + l] * x[i + l];
    for (; i < end; i++) acc[0] += x[i] * x[i];
    let s = 0;
    for (let l = 0; l < 8; l++) s += acc[l];
    total += s;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------------------
// Learning-rate schedules

export type Schedule = 'cosine' | 'linear' | 'constant';

export interface LrScheduleOptions {
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  schedule: Schedule;
  /** Floor of the decay as a fraction of lr (HF's min_lr_rate); default 0. Not applied to 'constant'. */
  minLrRatio?: number;
}

/**
 * The learning rate for the update with 0-based index `step` (the number of updates already applied: HF's
 * LambdaLR evaluates its lambda at `last_epoch`, which is 0 for the first optimizer.step(), so under warm-up the
 * very first update uses lr 0). With W = warmupSteps, T = totalSteps, r = minLrRatio:
 *
 *   step < W:   lr * (step / max(1, W))                                 (linear warm-up from 0)
 *   otherwise:  lr * max(0, f * (1 - r) + r), where, with progress = (step - W) / max(1, T - W):
 *     cosine:   f = 0.5 * (1 + cos(pi * min(1, progress)))
 *     linear:   f = max(0, (T - step) / max(1, T - W))
 *     constant: lr (no decay, r unused)
 *
 * With r = 0 these are exactly HF's get_cosine_schedule_with_warmup (num_cycles = 0.5),
 * get_linear_schedule_with_warmup and get_constant_schedule_with_warmup; cosine with r > 0 is HF's
 * get_cosine_with_min_lr_schedule_with_warmup(min_lr_rate = r); linear with r > 0 applies the same floor.
 * One deliberate difference: past T, HF's cosine climbs back up (cos beyond pi); here progress is clamped to 1,
 * so it stays at the floor lr * r (linear already stays there in HF too).
 */
export function lrAt(step: number, o: LrScheduleOptions): number {
  const W = o.warmupSteps, T = o.totalSteps, r = o.minLrRatio ?? 0;
  if (!(W >= 0 && T >= 0 && r >= 0 && r <= 1 && o.lr >= 0)) {
    throw new RangeError(`lrAt: need warmupSteps >= 0, totalSteps >= 0, 0 <= minLrRatio <= 1, lr >= 0; got ${JSON.stringify(o)}`);
  }
  if (o.schedule !== 'cosine' && o.schedule !== 'linear' && o.schedule !== 'constant') {
    throw new RangeError(`lrAt: unknown schedule ${JSON.stringify(o.schedule)}`);
  }
  // The same operations in the same order as the Python, so that results agree to the last bit.
  if (step < W) return o.lr * (step / Math.max(1, W));
  if (o.schedule === 'constant') return o.lr;
  const span = Math.max(1, T - W);
  let factor: number;
  if (o.schedule === 'cosine') factor = 0.5 * (1 + Math.cos(Math.PI * Math.min(1, (step - W) / span)));
  else factor = Math.max(0, (T - step) / span); // linear
  return o.lr * Math.max(0, factor * (1 - r) + r);
}
