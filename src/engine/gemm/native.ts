/**
 * The native gemm: the engine's own sgemm micro-kernels (native/sgemm.c, native/sgemm-kernels.c: packed and
 * cache-blocked, AVX-512, AVX2+FMA or plain C chosen at run time by what the processor supports) through the N-API
 * addon native/gemm.c, built by `npm install` (scripts/build-native.mjs) into build/Release/modelfab_gemm.node
 * with the compiler that builds the other native modules. No BLAS library is needed.
 *
 * The addon validates every argument itself (wrong types, bad sizes and too-short arrays throw), so calls go
 * straight through. Threads are per call: a backend made for 2 threads splits each large product in two (the
 * caller computes one half); results are the same bits whatever the thread count. MODELFAB_GEMM_KERNEL names a
 * kernel to use instead of the fastest (e.g. `avx2+fma` on an AVX-512 machine, to measure or test it).
 *
 * Precision bf16 (mixed precision, as PyTorch's autocast): a bf16 kernel rounds both operands of every product to
 * bfloat16 as it packs them and sums the products in float32; C stays float32. AMX-BF16 (Intel Xeon from Sapphire
 * Rapids on: float32 tiles) where the processor has it, else AVX512-BF16 (AMD Zen 4, Intel Cooper Lake: vdpbf16ps);
 * never the default.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Gemm } from './gemm-seam.ts';

export interface KernelInfo {
  readonly name: string;
  readonly supported: boolean;
  /** The micro-tile: MR rows x NR columns of C per kernel call. */
  readonly mr: number;
  readonly nr: number;
  /** A mixed-precision kernel: operands rounded to bfloat16, products summed in float32. */
  readonly bf16: boolean;
}

/** What a product's operands are rounded to: fp32 (none), or bf16 with float32 sums (mixed precision). */
export type GemmPrecision = 'fp32' | 'bf16';

/**
 * Attention over all heads at once on the own sgemm (native/attention.c); shapes as in ops/attention.ts. `bf16`:
 * the products on a mixed-precision kernel, true for the fastest or a kernel's index (an error where the processor
 * does not run it). attnBackward's `fresh` (bits 1 dq, 2 dk, 4 dv): those gradients are overwritten, not added to
 * (gradTarget's beta 0).
 */
export interface AttentionKernels {
  attnScores(q: Float32Array, k: Float32Array, s: Float32Array, B: number, T: number, H: number, KVH: number, D: number, scale: number, threads: number, bf16?: boolean | number): void;
  attnApply(p: Float32Array, v: Float32Array, out: Float32Array, B: number, T: number, H: number, KVH: number, D: number, threads: number, bf16?: boolean | number): void;
  attnBackward(q: Float32Array, k: Float32Array, v: Float32Array, p: Float32Array, dout: Float32Array,
    dq: Float32Array | null, dk: Float32Array | null, dv: Float32Array | null,
    B: number, T: number, H: number, KVH: number, D: number, scale: number, threads: number, bf16?: boolean | number,
    fresh?: number): void;
}

interface Addon extends Partial<AttentionKernels> {
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, B: Float32Array, beta: number, C: Float32Array, threads?: number, kernel?: number): void;
  sgemmBf16B?(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, B: Uint16Array, beta: number, C: Float32Array, threads?: number, kernel?: number): void;
  kernels(): KernelInfo[];
  best(): number;
}

export interface NativeGemm extends Gemm {
  readonly name: 'native';
  /** e.g. "avx512 (own kernels)" */
  readonly info: string;
  /** The micro-kernel in use: "avx512", "avx2+fma", "generic", "amx-bf16" or "avx512-bf16". */
  readonly kernel: string;
  /** The kernel's index in nativeKernels() (what the fused attention is told to use in bf16). */
  readonly kernelIndex: number;
  readonly precision: GemmPrecision;
}

export interface NativeOptions {
  threads?: number;
  /** A kernel name from nativeKernels() (default: MODELFAB_GEMM_KERNEL, else the fastest supported). */
  kernel?: string;
  /** bf16: the fastest mixed-precision kernel this processor runs (an error where it has none). Default fp32. */
  precision?: GemmPrecision;
}

export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../../build/Release/modelfab_gemm.node', import.meta.url));

let loaded: { addon: Addon } | { error: string } | undefined;

/** Loads the addon once; returns it or why it is unavailable. */
export function loadNativeAddon(): { addon: Addon } | { error: string } {
  if (loaded) return loaded;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    loaded = { error: 'the native addon is not built (no C compiler at install time, or the build failed)' };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as Addon;
    if (typeof addon.sgemm !== 'function' || typeof addon.kernels !== 'function') throw new Error('not a modelfab gemm addon');
    loaded = { addon };
  } catch (e) {
    loaded = { error: `the native addon does not load (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` };
  }
  return loaded;
}

/** Every kernel the addon has, fastest first, with whether this processor runs it; [] without the addon. */
export function nativeKernels(): KernelInfo[] {
  const l = loadNativeAddon();
  return 'addon' in l ? l.addon.kernels() : [];
}

/** Why this machine cannot multiply in `precision`, or null when it can (bf16 needs a mixed-precision kernel). */
export function precisionRefusal(precision: GemmPrecision): string | null {
  if (precision === 'fp32') return null;
  const l = loadNativeAddon();
  if ('error' in l) return `precision bf16 runs on the native gemm, and ${l.error}`;
  const list = l.addon.kernels();
  if (list.some((k) => k.bf16 && k.supported)) return null;
  const has = list.filter((k) => k.bf16).map((k) => k.name);
  return `precision bf16 needs a processor with AMX-BF16 or AVX512-BF16 (the ${has.join(', ') || 'bf16'} kernels); this one runs ${list.filter((k) => k.supported && !k.bf16).map((k) => k.name).join(', ')}: train in fp32`;
}

/** The index of the kernel to use: `name` (or MODELFAB_GEMM_KERNEL) when given, else the fastest supported. */
function pickKernel(addon: Addon, name: string | undefined, precision: GemmPrecision): number {
  const list = addon.kernels();
  if (precision === 'bf16') {
    const why = precisionRefusal('bf16');
    if (why) throw new Error(why);
    const i = list.findIndex((k) => k.bf16 && k.supported && (name === undefined || k.name === name));
    if (i < 0) throw new Error(`kernel '${name}' is not a bf16 kernel this processor runs`);
    return i;
  }
  const wanted = name ?? (process.env.MODELFAB_GEMM_KERNEL?.trim() || undefined);
  if (wanted === undefined) return addon.best();
  const i = list.findIndex((k) => k.name === wanted);
  const from = name === undefined ? 'MODELFAB_GEMM_KERNEL' : 'kernel';
  const runnable = list.filter((k) => k.supported).map((k) => k.name).join(', ');
  if (i < 0) throw new Error(`${from} must be one of ${list.map((k) => k.name).join(', ')}; got '${wanted}'`);
  if (!list[i].supported) throw new Error(`${from}: this processor does not run the ${wanted} kernel (it runs ${runnable})`);
  return i;
}

/** The fused attention kernels of the addon, or null without it (or with an older build that lacks them). */
export function nativeAttention(): AttentionKernels | null {
  const l = loadNativeAddon();
  if (!('addon' in l)) return null;
  const a = l.addon;
  return a.attnScores && a.attnApply && a.attnBackward ? (a as AttentionKernels) : null;
}

export function createNativeGemm(opts: NativeOptions = {}): NativeGemm {
  const l = loadNativeAddon();
  if ('error' in l) throw new Error(`native gemm unavailable: ${l.error}`);
  const addon = l.addon;
  const kernel = pickKernel(addon, opts.kernel, opts.precision ?? 'fp32');
  const { name, bf16 } = addon.kernels()[kernel];
  const precision: GemmPrecision = bf16 ? 'bf16' : 'fp32';
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  let threads = Math.max(1, Math.floor(opts.threads ?? cores));
  let closed = false;
  return {
    name: 'native',
    get threads() { return threads; },
    setThreads(n: number) {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`setThreads: threads must be a positive integer, got ${String(n)}`);
      return (threads = n);
    },
    kernel: name,
    kernelIndex: kernel,
    precision,
    info: `${name} (own kernels${precision === 'bf16' ? ', bf16 operands, float32 sums' : ''})`,
    sgemm(transA, transB, M, N, K, alpha, A, B, beta, C) {
      if (closed) throw new Error('sgemm: the native gemm was closed');
      addon.sgemm(transA, transB, M, N, K, alpha, A, B, beta, C, threads, kernel);
    },
    ...(addon.sgemmBf16B ? {
      sgemmBf16B(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, B: Uint16Array, beta: number, C: Float32Array) {
        if (closed) throw new Error('sgemm: the native gemm was closed');
        addon.sgemmBf16B!(transA, transB, M, N, K, alpha, A, B, beta, C, threads, kernel);
      },
    } : {}),
    close() {
      closed = true;
    },
  };
}
