/**
 * What a training step of the engine holds in memory, counted from the model's shapes the way llama-model.ts
 * allocates it (a planning estimate: the scheduler reserves it, `npm run bench:scale` measures it against the
 * peak resident memory of a real step).
 *
 * 1. weights: float32 tensors at 4 bytes, bf16-held frozen matrices at 2, NF4 at its packed size;
 * 2. optimizer: per trained value its gradient and AdamW's two moments (12 bytes; 16 for method tensors, which
 *    the weights do not count);
 * 3. activations: a step's buffer pool holds every op output of the forward and, after the backward, a gradient
 *    of most (measured: 1.75x the outputs). Per token and layer, in floats: the norms (2C), q/k/v and their RoPE
 *    copies, attention's output, o, the residual adds, gate/up/SwiGLU and its sigmoid (4F), down, per LoRA target
 *    its r-wide product (its update is added into the base output in place); and the attention probabilities
 *    (H x (T + P), kept once). With checkpointing only each layer's input and its gradient stay per layer (2C) and
 *    one layer's worth is scratch;
 * 4. the loss: one [tokens x vocabulary] buffer (the logits, turned into their gradient in place) on the whole
 *    path, or two tiles of 512 x 8192 on the chunked one (ops/linear-loss.ts) and the tile of the output matrix
 *    widened;
 * 5. the runtime: Node, V8 and the gemm backend (a constant, measured).
 */
import { headDim, MODULE_TENSOR, parameterCount, tensorShapes, type LlamaConfig, type LinearModule } from './config.ts';
import { freezeTrainable, normalizeMethod, type MethodSpec } from './methods.ts';
import { nf4BytesPerParam } from './quant4.ts';

export interface TrainingMemoryOptions {
  seqLen: number;
  batchSize: number;
  /** Frozen matrices held in bf16 (LlamaModel.holdFrozenInHalf). */
  halfBase?: boolean;
  /** LlamaModel.checkpointing. */
  checkpointing?: boolean;
  /** LlamaModel.lossChunkAbove (default 2^26 logits). */
  lossChunkAbove?: number;
}

/** Models of this many parameters or more train with the memory savers on (the sizes users import: 0.5B-8B). */
export const REAL_SIZE_PARAMS = 100_000_000;

/**
 * How the engine holds a model of this size while training it: from REAL_SIZE_PARAMS up, frozen matrices in bf16
 * and gradient checkpointing; below, everything in float32 with every activation kept (the fastest, and what the
 * small models' results were measured with). The engine worker applies it and the scheduler's estimate reads it.
 */
export function engineMemoryPlan(config: LlamaConfig, method: MethodSpec): { halfBase: boolean; checkpointing: boolean } {
  const real = parameterCount(config) >= REAL_SIZE_PARAMS;
  return { halfBase: real && normalizeMethod(method).type !== 'full', checkpointing: real };
}

export interface TrainingMemory { weights: number; optimizer: number; activations: number; loss: number; runtime: number; total: number }

/** Node, V8, the tokenizer and the gemm backend's threads: measured at about this much on a small model. */
export const RUNTIME_BYTES = 120 * 2 ** 20;
const ROW_CHUNK = 512, VOCAB_TILE = 8192, GRADIENT_SHARE = 1.75;

/** Trainable values the method adds or unfreezes, by the model's shapes. */
export function trainableCount(config: LlamaConfig, method: MethodSpec): { added: number; base: number } {
  const m = normalizeMethod(method), C = config.hiddenSize, L = config.numLayers, D = headDim(config);
  const shapes = new Map(tensorShapes(config));
  if (m.type === 'full') return { added: 0, base: parameterCount(config) };
  if (m.type === 'lora' || m.type === 'qlora') {
    let n = 0;
    for (const t of m.targets as LinearModule[]) { const [o, i] = shapes.get(`blk.0.${MODULE_TENSOR[t]}.weight`)!; n += m.rank * (o + i); }
    return { added: L * n, base: 0 };
  }
  if (m.type === 'prefix') return { added: L * 2 * m.numVirtualTokens * config.numKvHeads * D, base: 0 };
  if (m.type === 'prompt') return { added: m.numVirtualTokens * C, base: 0 };
  const total = parameterCount(config);
  return { added: 0, base: Math.round(total * Math.min(1, Math.abs(m.trainableLayers ?? 1) / L)) };
}

export function trainingMemory(config: LlamaConfig, method: MethodSpec, o: TrainingMemoryOptions): TrainingMemory {
  const m = normalizeMethod(method), c = config, C = c.hiddenSize, F = c.ffnSize, L = c.numLayers, D = headDim(c);
  const QW = c.numHeads * D, KW = c.numKvHeads * D;
  const { added, base } = trainableCount(c, m);
  // 1. weights
  let weights = 0, widened = 0;
  for (const [name, shape] of tensorShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const quantized = m.type === 'qlora' && /^blk\.\d+\.(attn_[qkv]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(name);
    const trains = m.type === 'full' || (m.type === 'freeze' && freezeTrainable(name, L, m));
    if (quantized) weights += n * nf4BytesPerParam(m.blockSize ?? 64);
    else if (o.halfBase && shape.length === 2 && !trains) { weights += n * 2; widened = 1; } else weights += n * 4;
  }
  // Widened copies: one scratch per matrix size (half-weight.ts), the 4-bit ones likewise.
  if (widened || m.type === 'qlora') weights += (C * QW + KW * C + F * C) * 4;
  // 2. optimizer
  const optimizer = base * 12 + added * 16;
  // 3. activations, floats per token of one layer's forward
  const P = m.type === 'prefix' ? m.numVirtualTokens : 0, Pp = m.type === 'prompt' ? m.numVirtualTokens : 0;
  const T = o.seqLen + Pp, tokens = o.batchSize * T;
  const lora = m.type === 'lora' || m.type === 'qlora' ? m.rank * (m.targets as LinearModule[]).length : 0;
  const outputs = 2 * C + 2 + 2 * QW + 2 * KW + KW + QW + C + C + 4 * F + C + C + lora;
  // Gradients: measured at 1.75x the outputs (some are handed on, not copied); attention keeps one set of probabilities.
  const perLayer = GRADIENT_SHARE * outputs + c.numHeads * (T + P);
  const layers = o.checkpointing ? L * 2 * C + perLayer : L * perLayer;
  const activations = (tokens * (layers + 4 * C)) * 4;
  // 4. the loss
  const logits = tokens * c.vocabSize;
  const chunked = logits > (o.lossChunkAbove ?? 2 ** 26);
  const loss = chunked ? (2 * Math.min(ROW_CHUNK, tokens) * Math.min(VOCAB_TILE, c.vocabSize) + Math.min(VOCAB_TILE, c.vocabSize) * C) * 4 : logits * 4;
  const total = weights + optimizer + activations + loss + RUNTIME_BYTES;
  return { weights, optimizer, activations, loss, runtime: RUNTIME_BYTES, total };
}
