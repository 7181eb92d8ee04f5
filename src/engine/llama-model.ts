/**
 * The Llama-family decoder: token embedding, L blocks of (RMSNorm, GQA attention with RoPE, residual, RMSNorm,
 * SwiGLU FFN, residual), final RMSNorm, output projection (separate or tied). Optional QKV biases (Qwen2).
 *
 * The model owns its base tensors (one Float32Array with a named view per tensor) and the state of at most one
 * fine-tuning method (LoRA pairs, quantized base weights, prefixes, soft prompt). `forward` reads as the
 * architecture, one op a line; the backward is the tape replayed in reverse. `decode` runs the same layers
 * without a tape over a KV cache, for generation.
 *
 * At real sizes (0.5B-8B) three things keep a training step's memory bounded:
 * - `forwardLoss` fuses the output projection with the cross-entropy over chunks of rows and vocabulary tiles
 *   (ops/linear-loss.ts) once tokens x vocabulary exceeds `lossChunkAbove`, so the logits never exist whole;
 * - frozen base matrices can be held in bf16 (`holdFrozenInHalf`, or `init(..., { half: true })` for a model
 *   built straight into bf16), widened where they are read (half-weight.ts);
 * - with `checkpointing`, each decoder layer runs its forward without a tape and keeps only its input; its
 *   backward recomputes the layer on a tape of its own (the same dropout draws) and replays it.
 */
import { headDim, MODULE_TENSOR, parameterCount, tensorShapes, validateConfig, type LlamaConfig } from './config.ts';
import { loraScale, normalizeMethod, freezeTrainable, type MethodSpec } from './methods.ts';
import { Tape, Tensor, alloc, output, type Ctx } from './tensor.ts';
import { BufferPool } from './pool.ts';
import { HalfWeight } from './half-weight.ts';
import { linearCrossEntropy, wholeLinearCrossEntropy } from './ops/linear-loss.ts';
import { Rng } from './rng.ts';
import { add, addLowRank, dropout, embedding, linear, prependRows, rmsnorm, swiglu, type Weight, type WeightSource } from './ops/basic.ts';
import { rope, ropeInPlace } from './ops/rope.ts';
import { attention, causalSoftmax } from './ops/attention.ts';
import { crossEntropy, IGNORE_INDEX, type CrossEntropyResult } from './ops/loss.ts';
import { f32ArrayToBf16 } from '../formats/half.ts';
import { dequantizeNf4, nf4Bytes, quantizeNf4, type Nf4Tensor } from "./quant4.ts";

export interface LoraPair { a: Tensor; b: Tensor; scale: number; dropout: number }

/** Folds one LoRA pair into its base weight in place: W += scale * B A (W [out, in], B [out, r], A [r, in]). */
export function foldLora(w: Float32Array, p: LoraPair): void {
  const [o, r] = p.b.shape, inp = p.a.shape[1];
  const A = p.a.data, B = p.b.data;
  for (let i = 0; i < o; i++) {
    for (let k = 0; k < r; k++) {
      const s = p.scale * B[i * r + k];
      if (s === 0) continue;
      for (let j = 0; j < inp; j++) w[i * inp + j] += s * A[k * inp + j];
    }
  }
}

/** A base weight held 4-bit; materialize() dequantizes it into a scratch buffer shared by weights of its size. */
class Nf4Weight implements WeightSource {
  private static scratch = new Map<number, Float32Array>();
  constructor(readonly shape: readonly number[], readonly q: Nf4Tensor) {}
  materialize(): Float32Array {
    const n = this.shape[0] * this.shape[1];
    let buf = Nf4Weight.scratch.get(n);
    if (!buf) { buf = new Float32Array(n); Nf4Weight.scratch.set(n, buf); }
    dequantizeNf4(this.q, buf);
    return buf;
  }
}

export interface ForwardResult { logits: Tensor; loss: CrossEntropyResult | null; rows: number }

/** Per-layer keys and values of the positions decoded so far (batch of one). */
export interface KVCache { k: Float32Array[]; v: Float32Array[]; len: number; capacity: number }

/**
 * Where each token's sequence starts in its row, from packed positions [B*T] (each 0, or one more than the token
 * before it in the row): starts[i] = t - positions[i]. Throws, naming the token, on anything else.
 */
export function sequenceStarts(positions: Int32Array, B: number, T: number): Int32Array {
  if (positions.length !== B * T) throw new Error(`forward: ${positions.length} positions for ${B * T} tokens`);
  const starts = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const i = b * T + t, p = positions[i]!;
      if (p !== 0 && (t === 0 || p !== positions[i - 1]! + 1)) throw new Error(`forward: position ${p} of token ${t} in row ${b} neither starts a sequence (0) nor follows the one before`);
      starts[i] = t - p;
    }
  }
  return starts;
}

export class LlamaModel {
  readonly params = new Map<string, Tensor>();
  method: MethodSpec = { type: 'full' };
  readonly lora = new Map<string, LoraPair>();
  readonly quantized = new Map<string, Nf4Weight>();
  /** Frozen matrices held in bf16; their tensors keep the shape and no data. */
  readonly half = new Map<string, HalfWeight>();
  /** Recompute each layer's activations in the backward pass instead of keeping them (training only). */
  checkpointing = false;
  /** `forwardLoss` takes the chunked output projection + cross-entropy above this many logits (tokens x vocab). */
  lossChunkAbove = 2 ** 26;
  prefix: Array<{ k: Tensor; v: Tensor }> | null = null;
  prompt: Tensor | null = null;

  /** `storage` holds every float tensor in `tensorShapes` order; with `halfMatrices`, the vectors only. */
  private constructor(readonly config: LlamaConfig, public storage: Float32Array, halfMatrices = false) {
    let off = 0;
    for (const [name, shape] of tensorShapes(config)) {
      const n = shape.reduce((a, b) => a * b, 1);
      if (halfMatrices && shape.length === 2) { this.params.set(name, Tensor.held(shape, name)); continue; }
      this.params.set(name, new Tensor(storage.subarray(off, off + n), shape, true, name));
      off += n;
    }
  }

  /**
   * A new model with GPT-2-style initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2L), norms 1.
   * With `half`, every matrix is built straight into bf16 (the same draws, rounded) and frozen: the float32 copy
   * of a large model never exists, and only methods that leave the matrices frozen apply.
   */
  static init(config: LlamaConfig, seed: number, o: { half?: boolean } = {}): LlamaModel {
    validateConfig(config);
    const half = o.half ?? false;
    const vectors = half ? [...tensorShapes(config)].filter(([, s]) => s.length !== 2).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0) : parameterCount(config);
    const m = new LlamaModel(config, new Float32Array(vectors), half);
    const rng = new Rng(seed);
    const chunk = half ? new Float32Array(1 << 20) : null;
    for (const [name, t] of m.params) {
      const std = /attn_output|ffn_down/.test(name) ? 0.02 / Math.sqrt(2 * config.numLayers) : 0.02;
      if (half && t.shape.length === 2) {
        const n = t.shape[0] * t.shape[1], bits = new Uint16Array(n);
        for (let i = 0; i < n; i += chunk!.length) {
          const c = chunk!.subarray(0, Math.min(chunk!.length, n - i));
          rng.fillNormal(c, std);
          f32ArrayToBf16(c, bits.subarray(i, i + c.length));
        }
        m.half.set(name, new HalfWeight(t.shape, bits));
        t.requiresGrad = false;
        continue;
      }
      if (name.endsWith('_norm.weight')) { t.data.fill(1); continue; }
      if (name.endsWith('.bias')) continue;
      rng.fillNormal(t.data, std);
    }
    return m;
  }

  /**
   * Holds every frozen matrix in bf16 from now on (call after `applyMethod`): the float32 copies are released and
   * the remaining float tensors moved into a storage of their own. Returns the bytes saved.
   */
  holdFrozenInHalf(): number {
    let saved = 0;
    for (const [name, t] of this.params) {
      if (t.requiresGrad || t.shape.length !== 2 || this.quantized.has(name) || this.half.has(name)) continue;
      this.half.set(name, HalfWeight.fromFloat(t.shape, t.data));
      saved += t.data.byteLength / 2;
      t.data = new Float32Array(0);
    }
    let n = 0;
    for (const t of this.params.values()) n += t.data.length;
    const storage = new Float32Array(n);
    let off = 0;
    for (const t of this.params.values()) {
      if (t.data.length === 0) continue;
      const view = storage.subarray(off, off + t.data.length);
      view.set(t.data);
      t.data = view;
      off += view.length;
    }
    this.storage = storage;
    return saved;
  }

  /** A model over existing weights (every tensor of the config must be present with its shape). */
  static fromTensors(config: LlamaConfig, tensors: Map<string, Float32Array> | Record<string, Float32Array>): LlamaModel {
    validateConfig(config);
    const get = (n: string) => (tensors instanceof Map ? tensors.get(n) : tensors[n]);
    const m = new LlamaModel(config, new Float32Array(parameterCount(config)));
    for (const [name, t] of m.params) {
      const src = get(name);
      if (!src) throw new Error(`model weights: tensor "${name}" is missing`);
      if (src.length !== t.size) throw new Error(`model weights: tensor "${name}" has ${src.length} values, expected ${t.size} [${t.shape}]`);
      t.data.set(src);
    }
    return m;
  }

  param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`model has no tensor "${name}"`);
    return t;
  }

  private weight(name: string): Weight {
    return this.quantized.get(name) ?? this.half.get(name) ?? this.param(name);
  }

  /** The token embedding [N, C] of ids, from a float or a bf16 table. */
  private embed(ctx: Ctx, ids: Int32Array): Tensor {
    const h = this.half.get('token_embd.weight');
    if (!h) return embedding(ctx, this.param('token_embd.weight'), ids);
    const out = new Float32Array(ids.length * this.config.hiddenSize);
    h.gatherRows(ids, out);
    return output(ctx, out, [ids.length, this.config.hiddenSize], false);
  }

  /** The output matrix [V, C]: the tied embedding or `output.weight`, float or bf16. */
  private outputWeight(): Tensor | HalfWeight {
    const name = this.config.tieEmbeddings ? 'token_embd.weight' : 'output.weight';
    return this.half.get(name) ?? this.param(name);
  }

  /**
   * Installs a fine-tuning method: marks what trains, adds its tensors. Call once, on a model without a method.
   * Everything else is frozen (requiresGrad false), so its gradient is never computed.
   */
  applyMethod(spec: MethodSpec, seed: number): void {
    if (this.method.type !== 'full' || this.lora.size || this.prefix || this.prompt) throw new Error('applyMethod: the model already has a method');
    const m = normalizeMethod(spec);
    this.method = m;
    const c = this.config, rng = new Rng(seed), D = headDim(c);
    for (const [name, t] of this.params) {
      t.requiresGrad = m.type === 'full' || (m.type === 'freeze' && freezeTrainable(name, c.numLayers, m));
      if (t.requiresGrad && this.half.has(name)) throw new Error(`applyMethod: ${m.type} trains "${name}", which this model holds in bf16 (frozen weights only)`);
    }
    if (m.type === 'lora' || m.type === 'qlora') {
      const scale = loraScale(m.rank, m.alpha, m.rslora ?? false);
      for (let l = 0; l < c.numLayers; l++) {
        for (const mod of m.targets as (keyof typeof MODULE_TENSOR)[]) {
          const name = `blk.${l}.${MODULE_TENSOR[mod]}.weight`;
          const [out, inp] = this.param(name).shape;
          const a = Tensor.zeros([m.rank, inp], true, `${name}.lora_a`);
          const bound = 1 / Math.sqrt(inp); // kaiming_uniform(a = sqrt(5)), as PEFT
          for (let i = 0; i < a.size; i++) a.data[i] = (rng.uniform() * 2 - 1) * bound;
          this.lora.set(name, { a, b: Tensor.zeros([out, m.rank], true, `${name}.lora_b`), scale, dropout: m.dropout ?? 0 });
        }
      }
      if (m.type === 'qlora') {
        for (const [name, t] of this.params) {
          if (/^blk\.\d+\.(attn_[qkvo]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(name)) {
            const h = this.half.get(name);
            this.quantized.set(name, new Nf4Weight(t.shape, quantizeNf4(h ? h.toFloat() : t.data, m.blockSize ?? 64)));
            this.half.delete(name);
            t.data = new Float32Array(0); // the float copy is released; the 4-bit one is the weight now
          }
        }
      }
    } else if (m.type === 'prefix') {
      const P = m.numVirtualTokens, KW = c.numKvHeads * D;
      this.prefix = [];
      for (let l = 0; l < c.numLayers; l++) {
        const k = Tensor.zeros([P, KW], true, `blk.${l}.prefix_k`), v = Tensor.zeros([P, KW], true, `blk.${l}.prefix_v`);
        for (let i = 0; i < k.size; i++) { k.data[i] = rng.normal() * 0.02; v.data[i] = rng.normal() * 0.02; }
        this.prefix.push({ k, v });
      }
    } else if (m.type === 'prompt') {
      // Initialised from the embeddings of random vocabulary tokens (PEFT's sample-vocab init): a sensible start.
      const P = m.numVirtualTokens, C = c.hiddenSize, emb = this.param('token_embd.weight').data, h = this.half.get('token_embd.weight');
      const p = Tensor.zeros([P, C], true, 'prompt_embd');
      for (let i = 0; i < P; i++) {
        const id = rng.int(c.vocabSize);
        if (h) h.gatherRows(Int32Array.of(id), p.data.subarray(i * C, i * C + C));
        else p.data.set(emb.subarray(id * C, id * C + C), i * C);
      }
      this.prompt = p;
    }
  }

  /**
   * Folds the LoRA pairs into the base weights (4-bit QLoRA bases dequantized first, as PEFT's merge does) and
   * drops the method: the model is a plain model again, ready for another method. Prefixes and soft prompts are
   * not weight updates and cannot be folded.
   */
  mergeAdapter(): void {
    if (this.prefix || this.prompt) throw new Error(`mergeAdapter: a ${this.method.type} adapter cannot be folded into the weights`);
    this.widenHalf();
    let off = 0;
    for (const [name, shape] of tensorShapes(this.config)) {
      const n = shape.reduce((a, b) => a * b, 1);
      const q = this.quantized.get(name);
      if (q) {
        const view = this.storage.subarray(off, off + n);
        view.set(q.materialize());
        this.param(name).data = view;
      }
      off += n;
    }
    for (const [name, p] of this.lora) foldLora(this.param(name).data, p);
    this.lora.clear();
    this.quantized.clear();
    this.method = { type: 'full' };
    for (const t of this.params.values()) t.requiresGrad = true;
  }

  /** Brings bf16-held matrices back to float32 in one storage of every tensor, as a freshly loaded model has. */
  widenHalf(): void {
    if (this.half.size === 0) return;
    const storage = new Float32Array(parameterCount(this.config));
    let off = 0;
    for (const [name, shape] of tensorShapes(this.config)) {
      const n = shape.reduce((a, b) => a * b, 1), t = this.param(name), h = this.half.get(name);
      const view = storage.subarray(off, off + n);
      if (h) view.set(h.toFloat()); else if (t.data.length === n) view.set(t.data);
      if (h || t.data.length === n) t.data = view;
      off += n;
    }
    this.half.clear();
    this.storage = storage;
  }

  /** The tensors the method adds (LoRA pairs, prefixes, soft prompt), by name. */
  methodTensors(): Tensor[] {
    const out: Tensor[] = [];
    for (const p of this.lora.values()) out.push(p.a, p.b);
    if (this.prefix) for (const p of this.prefix) out.push(p.k, p.v);
    if (this.prompt) out.push(this.prompt);
    return out;
  }

  /** Every tensor that trains under the current method. */
  trainableParams(): Tensor[] {
    return [...[...this.params.values()].filter((t) => t.requiresGrad), ...this.methodTensors()];
  }

  /** Bytes held by weights: float base tensors, 4-bit tensors, method tensors. */
  weightBytes(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.data.byteLength;
    for (const q of this.quantized.values()) n += nf4Bytes(q.q);
    for (const h of this.half.values()) n += h.bytes;
    for (const t of this.methodTensors()) n += t.data.byteLength;
    return n;
  }

  /** Soft-prompt length (rows placed before each sequence). */
  get promptLength(): number {
    return this.prompt ? this.prompt.shape[0] : 0;
  }

  /** A base linear with its LoRA update, if any. */
  private lin(ctx: Ctx, x: Tensor, name: string, bias: Tensor | null = null): Tensor {
    const y = linear(ctx, x, this.weight(name), bias);
    const lp = this.lora.get(name);
    if (!lp) return y;
    return addLowRank(ctx, y, linear(ctx, dropout(ctx, x, lp.dropout), lp.a), lp.b, lp.scale);
  }

  private bias(l: number, p: 'q' | 'k' | 'v'): Tensor | null {
    return this.config.qkvBias ? this.param(`blk.${l}.attn_${p}.bias`) : null;
  }

  /**
   * Training / scoring forward over B sequences of T tokens. ids [B*T]; labels [B*T] hold the next token of each
   * position or IGNORE_INDEX. With prompt tuning the rows grow to B*(P+T) and the soft rows are never scored.
   */
  forward(ctx: Ctx, ids: Int32Array, B: number, labels: Int32Array | null = null, positions?: Int32Array): ForwardResult {
    const x = this.hidden(ctx, ids, B, positions);
    const logits = linear(ctx, x, this.outputWeight());
    let loss: CrossEntropyResult | null = null;
    if (labels) loss = crossEntropy(ctx, logits, this.checkedLabels(labels, ids, B));
    return { logits, loss, rows: x.shape[0] };
  }

  /**
   * The loss alone (training, evaluation): as `forward(...).loss`, through the chunked output projection and
   * cross-entropy once rows x vocabulary exceeds `lossChunkAbove`, so the logits are never held whole.
   */
  forwardLoss(ctx: Ctx, ids: Int32Array, B: number, labels: Int32Array, positions?: Int32Array): CrossEntropyResult {
    const x = this.hidden(ctx, ids, B, positions), al = this.checkedLabels(labels, ids, B);
    if (x.shape[0] * this.config.vocabSize <= this.lossChunkAbove) return wholeLinearCrossEntropy(ctx, x, this.outputWeight(), al);
    return linearCrossEntropy(ctx, x, this.outputWeight(), al);
  }

  private checkedLabels(labels: Int32Array, ids: Int32Array, B: number): Int32Array {
    if (labels.length !== ids.length) throw new Error(`forward: ${labels.length} labels for ${ids.length} ids`);
    return this.alignLabels(labels, B);
  }

  /**
   * The decoder up to the final norm: hidden rows [B*(P+T), C]. `positions` (packed rows, batches.ts): each token's
   * position in its own sequence; a token at position 0 starts a sequence that attends to nothing before it.
   */
  hidden(ctx: Ctx, ids: Int32Array, B: number, positions?: Int32Array): Tensor {
    const c = this.config;
    if (ids.length % B !== 0) throw new Error(`forward: ${ids.length} ids do not split into ${B} sequences`);
    let x = this.embed(ctx, ids);
    const P = this.promptLength, T = ids.length / B + P;
    if (this.prompt) x = prependRows(ctx, this.prompt, x, B);
    let pos: Int32Array, starts: Int32Array | null = null;
    if (positions) {
      if (P || this.prefix) throw new Error('forward: packed rows do not work with prompt or prefix tuning (a row\'s sequences would share its virtual tokens)');
      starts = sequenceStarts(positions, B, T);
      pos = positions;
    } else {
      pos = new Int32Array(B * T);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) pos[b * T + t] = t;
    }
    for (let l = 0; l < c.numLayers; l++) {
      x = this.checkpointing && ctx.tape ? this.checkpointedLayer(ctx, x, l, pos, B, T, starts) : this.layer(ctx, x, l, pos, B, T, starts);
    }
    return rmsnorm(ctx, x, this.param('output_norm.weight'), c.rmsEps);
  }

  /** One decoder block over x [B*T, C]. */
  private layer(ctx: Ctx, x: Tensor, l: number, pos: Int32Array, B: number, T: number, starts: Int32Array | null): Tensor {
    const c = this.config, D = headDim(c), p = `blk.${l}.`;
    let h = rmsnorm(ctx, x, this.param(p + 'attn_norm.weight'), c.rmsEps);
    let q = this.lin(ctx, h, p + 'attn_q.weight', this.bias(l, 'q'));
    let k = this.lin(ctx, h, p + 'attn_k.weight', this.bias(l, 'k'));
    const v = this.lin(ctx, h, p + 'attn_v.weight', this.bias(l, 'v'));
    q = rope(ctx, q, pos, c.numHeads, D, c.ropeBase);
    k = rope(ctx, k, pos, c.numKvHeads, D, c.ropeBase);
    const a = attention(ctx, q, k, v, { B, T, H: c.numHeads, KVH: c.numKvHeads, D }, this.prefix?.[l] ?? null, starts);
    x = add(ctx, x, this.lin(ctx, a, p + 'attn_output.weight'));
    h = rmsnorm(ctx, x, this.param(p + 'ffn_norm.weight'), c.rmsEps);
    const g = this.lin(ctx, h, p + 'ffn_gate.weight');
    const u = this.lin(ctx, h, p + 'ffn_up.weight');
    return add(ctx, x, this.lin(ctx, swiglu(ctx, g, u), p + 'ffn_down.weight'));
  }

  /** Scratch for one checkpointed layer's activations, reused by every layer in turn. */
  private readonly layerPool = new BufferPool();

  /**
   * `layer` keeping only its input and output: the forward runs without a tape, on scratch released at once;
   * the backward runs the layer again from the same input and the same random state on a tape of its own,
   * seeds its output with this output's gradient and replays it (parameter gradients land where they would).
   */
  private checkpointedLayer(ctx: Ctx, x: Tensor, l: number, pos: Int32Array, B: number, T: number, starts: Int32Array | null): Tensor {
    const rngState = ctx.rng.state(), scratch = this.layerPool;
    const y0 = this.layer({ ...ctx, tape: null, pool: scratch }, x, l, pos, B, T, starts);
    const out = alloc(ctx, y0.size);
    out.set(y0.data);
    scratch.release();
    const y = output(ctx, out, y0.shape, x.requiresGrad || this.layerTrains(l));
    if (y.requiresGrad) {
      ctx.tape!.record(() => {
        if (!y.grad) return;
        const tape = new Tape(), xin = new Tensor(x.data, x.shape, x.requiresGrad);
        const y1 = this.layer({ ...ctx, tape, pool: scratch, rng: new Rng(rngState) }, xin, l, pos, B, T, starts);
        y1.grad = y.grad;
        tape.replay();
        if (xin.grad) x.addGrad(xin.grad);
        scratch.release();
      });
    }
    return y;
  }

  private layerTrains(l: number): boolean {
    const p = `blk.${l}.`;
    for (const [name, t] of this.params) if (t.requiresGrad && name.startsWith(p)) return true;
    for (const name of this.lora.keys()) if (name.startsWith(p)) return true;
    return this.prefix !== null;
  }

  /**
   * Labels of B sequences aligned with the rows `forward` produces: with prompt tuning each sequence gains the
   * soft-prompt rows in front, which are never scored.
   */
  alignLabels(labels: Int32Array, B: number): Int32Array {
    const P = this.promptLength;
    if (P === 0) return labels;
    const t0 = labels.length / B, T = t0 + P;
    const out = new Int32Array(B * T).fill(IGNORE_INDEX);
    for (let b = 0; b < B; b++) out.set(labels.subarray(b * t0, (b + 1) * t0), b * T + P);
    return out;
  }

  newCache(capacity: number): KVCache {
    const KW = this.config.numKvHeads * headDim(this.config);
    const mk = () => Array.from({ length: this.config.numLayers }, () => new Float32Array(capacity * KW));
    return { k: mk(), v: mk(), len: 0, capacity };
  }

  /**
   * Inference over a KV cache (one sequence): feeds `ids` after the cached positions and returns the logits of the
   * last position [V], or with `every` those of each of `ids`' positions [ids.length * V] (scoring a prompt). The
   * first call also feeds the soft prompt, if any (its positions are never returned).
   */
  decode(ctx: Ctx, ids: Int32Array, cache: KVCache, every = false): Float32Array {
    const xn = this.decodeHidden(ctx, ids, cache, every);
    return linear(ctx, xn, this.outputWeight()).data;
  }

  /**
   * `decode` up to the final norm: the last position's hidden state [1, C] (what llama.cpp returns as a causal
   * model's embedding), or with `every` each of `ids`' positions [ids.length, C].
   */
  decodeHidden(ctx: Ctx, ids: Int32Array, cache: KVCache, every = false): Tensor {
    if (ctx.tape) throw new Error('decode runs without a tape');
    const c = this.config, D = headDim(c), H = c.numHeads, KVH = c.numKvHeads, KW = KVH * D, QW = H * D;
    let x = this.embed(ctx, ids);
    if (this.prompt && cache.len === 0) x = prependRows(ctx, this.prompt, x, 1);
    const T = x.size / c.hiddenSize, start = cache.len;
    if (start + T > cache.capacity) throw new Error(`decode: ${start + T} positions exceed the cache of ${cache.capacity}`);
    const pos = new Int32Array(T);
    for (let t = 0; t < T; t++) pos[t] = start + t;
    const P = this.prefix ? this.prefix[0].k.shape[0] : 0;
    const S = P + start + T, group = H / KVH, scale = 1 / Math.sqrt(D);
    const Kh = new Float32Array(S * D), Vh = new Float32Array(S * D), Qh = new Float32Array(T * D);
    const sc = new Float32Array(T * S), Oh = new Float32Array(T * D);
    for (let l = 0; l < c.numLayers; l++) {
      const p = `blk.${l}.`;
      let h = rmsnorm(ctx, x, this.param(p + 'attn_norm.weight'), c.rmsEps);
      const q = this.lin(ctx, h, p + 'attn_q.weight', this.bias(l, 'q')).data;
      const k = this.lin(ctx, h, p + 'attn_k.weight', this.bias(l, 'k')).data;
      const v = this.lin(ctx, h, p + 'attn_v.weight', this.bias(l, 'v')).data;
      ropeInPlace(q, pos, H, D, c.ropeBase);
      ropeInPlace(k, pos, KVH, D, c.ropeBase);
      cache.k[l].set(k, start * KW);
      cache.v[l].set(v, start * KW);
      const out = new Float32Array(T * QW);
      for (let kh = 0; kh < KVH; kh++) {
        for (let s = 0; s < S; s++) {
          const fromPrefix = s < P;
          const srcK = fromPrefix ? this.prefix![l].k.data : cache.k[l], srcV = fromPrefix ? this.prefix![l].v.data : cache.v[l];
          const row = (fromPrefix ? s : s - P) * KW + kh * D;
          Kh.set(srcK.subarray(row, row + D), s * D);
          Vh.set(srcV.subarray(row, row + D), s * D);
        }
        for (let g = 0; g < group; g++) {
          const hh = kh * group + g;
          for (let t = 0; t < T; t++) Qh.set(q.subarray(t * QW + hh * D, t * QW + hh * D + D), t * D);
          ctx.gemm.sgemm(false, true, T, S, D, scale, Qh, Kh, 0, sc);
          causalSoftmax(sc, T, S, P + start);
          ctx.gemm.sgemm(false, false, T, D, S, 1, sc, Vh, 0, Oh);
          for (let t = 0; t < T; t++) out.set(Oh.subarray(t * D, t * D + D), t * QW + hh * D);
        }
      }
      x = add(ctx, x, this.lin(ctx, new Tensor(out, [T, QW]), p + 'attn_output.weight'));
      h = rmsnorm(ctx, x, this.param(p + 'ffn_norm.weight'), c.rmsEps);
      const g = this.lin(ctx, h, p + 'ffn_gate.weight');
      const u = this.lin(ctx, h, p + 'ffn_up.weight');
      x = add(ctx, x, this.lin(ctx, swiglu(ctx, g, u), p + 'ffn_down.weight'));
    }
    cache.len += T;
    const C = c.hiddenSize;
    const rows = every ? ids.length : 1;
    const out = new Tensor(x.data.slice((T - rows) * C, T * C), [rows, C]);
    return rmsnorm(ctx, out, this.param('output_norm.weight'), c.rmsEps);
  }
}
