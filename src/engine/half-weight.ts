/**
 * Frozen base matrices held in bfloat16: 2 bytes a weight instead of 4, widened to float32 where they are used.
 *
 * A fine-tuning method that leaves the base frozen (LoRA, QLoRA's unquantized embeddings, prefix and prompt
 * tuning, freeze's frozen layers) never writes those matrices, so they need only as much precision as the
 * products read from them: bf16 keeps float32's exponent and 8 bits of mantissa (round to nearest even), the
 * precision a bf16 checkpoint ships in anyway. Widening is exact (the bf16 bits become the top half of a float32).
 *
 * Where they are widened: `materialize` (the whole matrix, for a linear) into a scratch shared by matrices of one
 * size, valid until the next call; `rows` (a tile of rows, for the chunked output projection) into a tile
 * scratch; `gatherRows` (embedding lookups) straight into the destination. Widening runs in C on the job's
 * threads where the native addon is built (native/ops.c widenBf16). Where the gemm reads bf16 itself
 * (Gemm.sgemmBf16B: the native backend packs its panels straight from the bits), linear and the output loss hand it
 * `bf16Bits` instead, and nothing is widened into memory.
 */
import { bf16ArrayToF32, f32ArrayToBf16 } from '../formats/half.ts';
import type { WeightSource } from './ops/basic.ts';
import { nativeRowKernels } from './ops/native-kernels.ts';
import type { RowTiles } from './ops/linear-loss.ts';

/** bf16 bits into float32: the native row kernel on the job's threads where built, else the TypeScript loop. */
function widen(src: Uint16Array, out: Float32Array, threads: number): Float32Array {
  const rk = nativeRowKernels();
  if (!rk?.widenBf16 || src.length === 0) return bf16ArrayToF32(src, out);
  rk.widenBf16(src, out, src.length, threads);
  return out;
}

export class HalfWeight implements WeightSource, RowTiles {
  private static scratch = new Map<number, Float32Array>();
  private tile: Float32Array | null = null;

  constructor(readonly shape: readonly number[], readonly bits: Uint16Array) {
    if (shape.length !== 2 || shape[0] * shape[1] !== bits.length) throw new Error(`HalfWeight: shape [${shape}] needs ${shape[0] * shape[1]} values, got ${bits.length}`);
  }

  /** The bf16 copy of a float32 [rows, cols] matrix (round to nearest even). */
  static fromFloat(shape: readonly number[], data: Float32Array): HalfWeight {
    return new HalfWeight(shape, f32ArrayToBf16(data));
  }

  get bytes(): number {
    return this.bits.byteLength;
  }

  /** The bits themselves, for a gemm that packs them directly (Gemm.sgemmBf16B): no widened copy at all. */
  get bf16Bits(): Uint16Array {
    return this.bits;
  }

  materialize(threads = 1): Float32Array {
    const n = this.bits.length;
    let buf = HalfWeight.scratch.get(n);
    if (!buf) { buf = new Float32Array(n); HalfWeight.scratch.set(n, buf); }
    return widen(this.bits, buf, threads);
  }

  rows(v0: number, v1: number, threads = 1): Float32Array {
    const C = this.shape[1], n = (v1 - v0) * C;
    if (!this.tile || this.tile.length < n) this.tile = new Float32Array(n);
    return widen(this.bits.subarray(v0 * C, v1 * C), this.tile.subarray(0, n), threads);
  }

  /** out[n, :] = row ids[n] widened (an embedding lookup); ids are checked against the row count. */
  gatherRows(ids: Int32Array, out: Float32Array): void {
    const [V, C] = this.shape;
    for (let n = 0; n < ids.length; n++) {
      const id = ids[n];
      if (id < 0 || id >= V) throw new Error(`embedding: token id ${id} at position ${n} is outside the vocabulary (0..${V - 1})`);
      bf16ArrayToF32(this.bits.subarray(id * C, id * C + C), out.subarray(n * C, n * C + C));
    }
  }

  /** The whole matrix as a new float32 array (merging, saving). */
  toFloat(): Float32Array {
    return bf16ArrayToF32(this.bits);
  }
}
