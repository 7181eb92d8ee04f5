/**
 * Llama-family models and LoRA adapters <-> GGUF files, as llama.cpp reads and writes them.
 *
 * Owns:
 *   - `exportGgufModel`: a base or fully fine-tuned model (or one with LoRA merged in) with its tokenizer as a GGUF v3
 *     file of architecture "llama": F32, F16 or Q8_0 matrices (norms and biases stay F32; a matrix whose rows are not
 *     whole Q8_0 blocks falls back to F16, as llama.cpp's converter does), every `llama.*` key, `tokenizer.*`
 *     (byte-level BPE as "gpt2" with its pre-tokenizer, token types, merges, BOS/EOS, chat template) and
 *     `general.alignment` 32. The engine's tensors are llama.cpp's: same names, [out, in] = ne [in, out], and the same
 *     adjacent-pair RoPE, so nothing is permuted.
 *   - `exportGgufLora`: the model's LoRA pairs as a llama.cpp adapter (`general.type` adapter, `adapter.type` lora,
 *     `adapter.lora.alpha`; tensors `<base>.lora_a` ne [in, r] and `<base>.lora_b` ne [r, out], i.e. PyTorch's lora_A
 *     [r, in] and lora_B [out, r] row-major, as llama-adapter.cpp checks them). llama.cpp scales by alpha / r with
 *     r = lora_b ne[0], so alpha is written as scale * r (exact for rsLoRA too).
 *   - `importGgufModel` / `importGgufLora`: the reverse, for F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K tensors
 *     (dequantized on load), architectures "llama" (Llama 2/3, Mistral, SmolLM) and "qwen2" (whose NEOX-RoPE q/k rows
 *     are permuted into the engine's order).
 *   - `validateGgufModel` / `validateGgufAdapter`: everything llama.cpp would otherwise abort or fail on later:
 *     required keys per architecture and their types, absurd sizes, each expected tensor present with the shape the
 *     metadata implies, no unknown tensors, tokenizer arrays consistent with the vocabulary; for adapters: the type
 *     keys, the architecture and tensor shapes against the base, paired A/B with one rank.
 *
 * Prefix and prompt tuning cannot be expressed in GGUF for llama.cpp (it has no per-layer KV prefix or soft-prompt
 * input in its model files); export those with peft.ts (PEFT-style safetensors). `exportGgufModel` refuses them.
 *
 * Every failure is a ModelFileError (its `code` names the problem) or, for a file that does not parse, a
 * ModelFileError('BAD_FILE') wrapping the GgufError.
 */
import { readFileSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { headDim, tensorShapes, type LlamaConfig } from '../engine/config.ts';
import type { LlamaModel } from '../engine/llama-model.ts';
import { Tokenizer } from '../engine/tokenizer/tokenizer.ts';
import { toGgufTokenizerMetadata, fromGgufTokenizerMetadata } from '../engine/tokenizer/gguf-metadata.ts';
import {
  decodeGguf, encodeGguf, GgufError, GGML_BLOCK, GGML_TYPE, GGUF_TYPE, ggmlTypeName, gv, valueTypeName,
  type DecodedGguf, type GgufKV, type GgufTensorInput,
} from '../formats/gguf.ts';
import { dequantize, quantize, DEQUANTIZABLE } from '../formats/gguf-quants.ts';
import {
  baseTensors, hfToEngineRows, mergedTensors, ModelFileError, ropeHeads, shortestF32, type ImportedModel,
} from './llama-layout.ts';

export type GgufWeightType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

/** llama_ftype of a file whose matrices are mostly of a type. */
const FILE_TYPE: Record<GgufWeightType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K: 15, Q6_K: 18, BF16: 32 };

export interface GgufExportOptions {
  /** Matrix type. Default F32. BF16 too; Q4_0/Q4_K/Q6_K use simple encoders (gguf-quants.ts), for tests and experiments. */
  weightType?: GgufWeightType;
  /** general.name. Default "modelfab". */
  name?: string;
  /** tokenizer.chat_template (Jinja). */
  chatTemplate?: string;
  /** tokenizer.ggml.add_bos_token. Default false. */
  addBos?: boolean;
  /** A model with LoRA pairs: 'merge' folds them in, 'base' writes the base alone. Required when the model has LoRA. */
  lora?: 'merge' | 'base';
}

/** A model as plain tensors (what importers return), accepted wherever a LlamaModel is. */
export interface ModelTensors { config: LlamaConfig; tensors: Map<string, Float32Array> }

function modelTensors(model: LlamaModel | ModelTensors, lora: 'merge' | 'base' | undefined): ModelTensors {
  if ('tensors' in model) return model;
  if (model.prefix || model.prompt) {
    throw new ModelFileError('UNSUPPORTED', `a ${model.prefix ? 'prefix' : 'prompt'}-tuned model cannot be expressed in GGUF for llama.cpp; export the base here and the ${model.prefix ? 'prefix' : 'soft prompt'} with exportPeftPromptLearning (peft.ts)`);
  }
  if (model.lora.size > 0 && !lora) {
    throw new ModelFileError('UNSUPPORTED', 'the model has LoRA pairs: pass lora: "merge" to fold them in, or lora: "base" and export the adapter with exportGgufLora');
  }
  return { config: model.config, tensors: lora === 'merge' ? mergedTensors(model) : baseTensors(model) };
}

function tokenizerKVs(tok: Tokenizer, opts: { addBos?: boolean; chatTemplate?: string }, vocabSize: number): Array<[string, GgufKV]> {
  const meta = toGgufTokenizerMetadata(tok, { addBos: opts.addBos ?? false, chatTemplate: opts.chatTemplate, vocabSize });
  const out: Array<[string, GgufKV]> = [];
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v === 'string') out.push([k, gv.str(v)]);
    else if (typeof v === 'boolean') out.push([k, gv.bool(v)]);
    else if (typeof v === 'number') out.push([k, gv.u32(v)]);
    else if (Array.isArray(v)) out.push([k, gv.strs(v)]);
    else out.push([k, gv.i32s(v)]);
  }
  return out;
}

/** A GGUF v3 image of the model (see the module comment). */
export function exportGgufModel(model: LlamaModel | ModelTensors, tokenizer: Tokenizer, opts: GgufExportOptions = {}): Uint8Array {
  const { config: c, tensors } = modelTensors(model, opts.lora);
  const wt = opts.weightType ?? 'F32';
  if (!(wt in FILE_TYPE)) throw new ModelFileError('UNSUPPORTED', `weightType ${wt} is not one of ${Object.keys(FILE_TYPE).join(', ')}`);
  // A padded vocabulary (more embedding rows than tokens) is exported with filler tokens; fewer rows is an error.
  if (tokenizer.vocabSize > c.vocabSize) throw new ModelFileError('TOKENIZER', `the tokenizer has ${tokenizer.vocabSize} tokens, more than the model's ${c.vocabSize} embedding rows`);
  const arch = 'llama';
  const meta: Array<[string, GgufKV]> = [
    ['general.architecture', gv.str(arch)],
    ['general.type', gv.str('model')],
    ['general.name', gv.str(opts.name ?? 'modelfab')],
    ['general.file_type', gv.u32(FILE_TYPE[wt])],
    ['general.alignment', gv.u32(32)],
  ];
  if (wt !== 'F32' && wt !== 'F16' && wt !== 'BF16') meta.push(['general.quantization_version', gv.u32(2)]);
  meta.push(
    [`${arch}.vocab_size`, gv.u32(c.vocabSize)],
    [`${arch}.context_length`, gv.u32(c.contextLength)],
    [`${arch}.embedding_length`, gv.u32(c.hiddenSize)],
    [`${arch}.block_count`, gv.u32(c.numLayers)],
    [`${arch}.feed_forward_length`, gv.u32(c.ffnSize)],
    [`${arch}.attention.head_count`, gv.u32(c.numHeads)],
    [`${arch}.attention.head_count_kv`, gv.u32(c.numKvHeads)],
    [`${arch}.rope.freq_base`, gv.f32(c.ropeBase)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(c.rmsEps)],
    [`${arch}.rope.dimension_count`, gv.u32(headDim(c))],
  );
  meta.push(...tokenizerKVs(tokenizer, opts, c.vocabSize));
  const type = GGML_TYPE[wt];
  const out: GgufTensorInput[] = [];
  for (const [name, shape] of tensorShapes(c)) {
    const data = tensors.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!data || data.length !== n) throw new ModelFileError('MISSING_TENSOR', `tensor "${name}" is missing or has the wrong size`);
    let t: number = GGML_TYPE.F32;
    if (shape.length === 2 && wt !== 'F32') {
      t = shape[1] % GGML_BLOCK[type][0] === 0 ? type : GGML_TYPE.F16;
    }
    out.push({ name, type: t, dims: [...shape].reverse(), data: quantize(t, data) });
  }
  return encodeGguf(meta, out);
}

export interface GgufLoraExportOptions {
  name?: string;
}

/** The model's LoRA pairs as a llama.cpp GGUF adapter. */
export function exportGgufLora(model: LlamaModel, opts: GgufLoraExportOptions = {}): Uint8Array {
  if (model.lora.size === 0) throw new ModelFileError('UNSUPPORTED', 'the model has no LoRA pairs');
  const scales = new Set([...model.lora.values()].map((p) => p.scale));
  if (scales.size !== 1) throw new ModelFileError('UNSUPPORTED', 'LoRA pairs with different scales cannot share one adapter.lora.alpha');
  const ranks = new Set([...model.lora.values()].map((p) => p.a.shape[0]));
  if (ranks.size !== 1) throw new ModelFileError('RANK_MISMATCH', 'LoRA pairs of different ranks');
  const rank = [...ranks][0], scale = [...scales][0];
  const meta: Array<[string, GgufKV]> = [
    ['general.architecture', gv.str('llama')],
    ['general.type', gv.str('adapter')],
    ['general.name', gv.str(opts.name ?? 'modelfab-lora')],
    ['general.alignment', gv.u32(32)],
    ['adapter.type', gv.str('lora')],
    ['adapter.lora.alpha', gv.f32(scale * rank)],
  ];
  const tensors: GgufTensorInput[] = [];
  for (const [name, p] of model.lora) {
    const [r, inp] = p.a.shape, out = p.b.shape[0];
    tensors.push({ name: `${name}.lora_a`, type: GGML_TYPE.F32, dims: [inp, r], data: quantize(GGML_TYPE.F32, p.a.data) });
    tensors.push({ name: `${name}.lora_b`, type: GGML_TYPE.F32, dims: [r, out], data: quantize(GGML_TYPE.F32, p.b.data) });
  }
  return encodeGguf(meta, tensors);
}

// ----------------------------------------------------------------------------------------------- reading

function decode(buf: Uint8Array, opts?: { fileSize?: number }): DecodedGguf {
  try {
    return decodeGguf(buf, opts);
  } catch (e) {
    if (e instanceof GgufError) throw new ModelFileError('BAD_FILE', e.message, { cause: e });
    throw e;
  }
}

const INT_TYPES: number[] = [GGUF_TYPE.UINT8, GGUF_TYPE.INT8, GGUF_TYPE.UINT16, GGUF_TYPE.INT16, GGUF_TYPE.UINT32, GGUF_TYPE.INT32, GGUF_TYPE.UINT64, GGUF_TYPE.INT64];

function getInt(d: DecodedGguf, key: string, opts: { required: boolean; min: number; max: number; fallback?: number }): number {
  const kv = d.metadata.get(key);
  if (!kv) {
    if (opts.required || opts.fallback === undefined) throw new ModelFileError('MISSING_KEY', `GGUF metadata "${key}" is required and missing`);
    return opts.fallback;
  }
  if (!INT_TYPES.includes(kv.type) || typeof kv.value !== 'number') {
    throw new ModelFileError('BAD_KEY', `GGUF metadata "${key}" must be an integer, got ${valueTypeName(kv.type)}${kv.type === GGUF_TYPE.ARRAY ? ' (per-layer values are not supported)' : ''}`);
  }
  const v = kv.value;
  if (v < opts.min || v > opts.max) throw new ModelFileError(v > opts.max ? 'ABSURD_DIMENSION' : 'BAD_KEY', `GGUF metadata "${key}" = ${v} is outside ${opts.min}..${opts.max}`);
  return v;
}

function getFloat(d: DecodedGguf, key: string, fallback: number | undefined, check: (v: number) => boolean): number {
  const kv = d.metadata.get(key);
  if (!kv) {
    if (fallback === undefined) throw new ModelFileError('MISSING_KEY', `GGUF metadata "${key}" is required and missing`);
    return fallback;
  }
  if ((kv.type !== GGUF_TYPE.FLOAT32 && kv.type !== GGUF_TYPE.FLOAT64) || typeof kv.value !== 'number') throw new ModelFileError('BAD_KEY', `GGUF metadata "${key}" must be a float, got ${valueTypeName(kv.type)}`);
  if (!check(kv.value)) throw new ModelFileError('BAD_KEY', `GGUF metadata "${key}" = ${kv.value} is not a valid value`);
  return kv.type === GGUF_TYPE.FLOAT32 ? shortestF32(kv.value) : kv.value;
}

function getString(d: DecodedGguf, key: string): string | undefined {
  const kv = d.metadata.get(key);
  if (!kv) return undefined;
  if (kv.type !== GGUF_TYPE.STRING) throw new ModelFileError('BAD_KEY', `GGUF metadata "${key}" must be a string, got ${valueTypeName(kv.type)}`);
  return kv.value as string;
}

export const GGUF_ARCHITECTURES = ['llama', 'qwen2'] as const;

export interface ValidatedGgufModel {
  arch: string;
  config: LlamaConfig;
  warnings: string[];
}

/**
 * Checks a decoded GGUF holds a Llama-family model this engine and llama.cpp can run; returns its config. Tensor
 * types must be ones the engine dequantizes unless `anyKnownType` (llama.cpp runs more types than the engine reads).
 */
export function validateGgufModel(d: DecodedGguf, opts: { anyKnownType?: boolean } = {}): ValidatedGgufModel {
  const gtype = getString(d, 'general.type');
  if (gtype === 'adapter') throw new ModelFileError('NOT_A_MODEL', 'this GGUF is an adapter (general.type = adapter), not a model');
  const arch = getString(d, 'general.architecture');
  if (arch === undefined) throw new ModelFileError('MISSING_KEY', 'GGUF metadata "general.architecture" is required and missing');
  if (!(GGUF_ARCHITECTURES as readonly string[]).includes(arch)) throw new ModelFileError('UNSUPPORTED', `architecture "${arch}" is not supported (${GGUF_ARCHITECTURES.join(', ')})`);
  const warnings: string[] = [];
  const C = getInt(d, `${arch}.embedding_length`, { required: true, min: 2, max: 1 << 16 });
  const L = getInt(d, `${arch}.block_count`, { required: true, min: 1, max: 1024 });
  const F = getInt(d, `${arch}.feed_forward_length`, { required: true, min: 1, max: 1 << 20 });
  const H = getInt(d, `${arch}.attention.head_count`, { required: true, min: 1, max: 1024 });
  const KVH = getInt(d, `${arch}.attention.head_count_kv`, { required: false, min: 1, max: 1024, fallback: H });
  const ctx = getInt(d, `${arch}.context_length`, { required: true, min: 1, max: 1 << 24 });
  const ropeBase = getFloat(d, `${arch}.rope.freq_base`, 10000, (v) => v > 0 && Number.isFinite(v));
  const eps = getFloat(d, `${arch}.attention.layer_norm_rms_epsilon`, undefined, (v) => v > 0 && v < 1);
  if (C % H !== 0) throw new ModelFileError('BAD_KEY', `embedding_length ${C} is not divisible by head_count ${H}`);
  if (H % KVH !== 0) throw new ModelFileError('BAD_KEY', `head_count ${H} is not a multiple of head_count_kv ${KVH}`);
  const D = C / H;
  if (D % 2 !== 0) throw new ModelFileError('BAD_KEY', `head size ${D} is odd`);
  const rdim = getInt(d, `${arch}.rope.dimension_count`, { required: false, min: 1, max: 1 << 16, fallback: D });
  if (rdim !== D) throw new ModelFileError('UNSUPPORTED', `rope.dimension_count ${rdim} differs from the head size ${D} (partial RoPE is not supported)`);
  for (const k of ['key_length', 'value_length']) {
    if (d.metadata.has(`${arch}.attention.${k}`)) {
      const v = getInt(d, `${arch}.attention.${k}`, { required: true, min: 1, max: 1 << 16 });
      if (v !== D) throw new ModelFileError('UNSUPPORTED', `attention.${k} ${v} differs from embedding_length / head_count = ${D}`);
    }
  }
  if (d.metadata.has(`${arch}.rope.scaling.type`) && getString(d, `${arch}.rope.scaling.type`) !== 'none') {
    warnings.push(`rope scaling "${getString(d, `${arch}.rope.scaling.type`)}" is ignored by the engine`);
  }
  const emb = d.tensors.get('token_embd.weight');
  if (!emb) throw new ModelFileError('MISSING_TENSOR', 'tensor "token_embd.weight" is missing');
  if (emb.dims.length !== 2 || emb.dims[0] !== C) throw new ModelFileError('SHAPE_MISMATCH', `token_embd.weight has ne [${emb.dims}], expected [${C}, vocab]`);
  const V = emb.dims[1];
  if (V > 1 << 22) throw new ModelFileError('ABSURD_DIMENSION', `vocabulary of ${V} tokens`);
  if (d.metadata.has(`${arch}.vocab_size`)) {
    const vs = getInt(d, `${arch}.vocab_size`, { required: true, min: 1, max: 1 << 22 });
    if (vs !== V) throw new ModelFileError('SHAPE_MISMATCH', `${arch}.vocab_size ${vs} but token_embd.weight has ${V} rows`);
  }
  const qkvBias = d.tensors.has('blk.0.attn_q.bias');
  const config: LlamaConfig = {
    vocabSize: V, hiddenSize: C, numLayers: L, numHeads: H, numKvHeads: KVH, ffnSize: F, ropeBase, rmsEps: eps,
    tieEmbeddings: !d.tensors.has('output.weight'), qkvBias, contextLength: ctx,
  };
  const expected = new Map(tensorShapes(config));
  if (!config.tieEmbeddings) expected.set('output.weight', [V, C]);
  for (const [name, shape] of expected) {
    const t = d.tensors.get(name);
    if (!t) throw new ModelFileError('MISSING_TENSOR', `tensor "${name}" is missing (block_count ${L}${qkvBias ? ', with QKV bias' : ''})`);
    const want = [...shape].reverse();
    if (t.dims.length !== want.length || t.dims.some((x, i) => x !== want[i])) {
      throw new ModelFileError('SHAPE_MISMATCH', `tensor "${name}" has ne [${t.dims}], the metadata implies [${want}]`);
    }
    if (!opts.anyKnownType && !DEQUANTIZABLE.includes(t.type)) throw new ModelFileError('UNSUPPORTED', `tensor "${name}" has type ${ggmlTypeName(t.type)}, which the engine cannot read (${DEQUANTIZABLE.map(ggmlTypeName).join(', ')})`);
  }
  for (const [name, t] of d.tensors) {
    if (expected.has(name)) continue;
    if (name === 'rope_freqs.weight' && t.dims.length === 1 && t.dims[0] === D / 2) {
      warnings.push('rope_freqs.weight (Llama 3.1 rope scaling) is ignored by the engine');
      continue;
    }
    throw new ModelFileError('UNEXPECTED_TENSOR', `tensor "${name}" (ne [${t.dims}]) is not part of a ${arch} model with these hyperparameters`);
  }
  validateTokenizerKeys(d, V);
  return { arch, config, warnings };
}

function validateTokenizerKeys(d: DecodedGguf, V: number): void {
  const model = getString(d, 'tokenizer.ggml.model');
  if (model === undefined) throw new ModelFileError('TOKENIZER', 'GGUF metadata "tokenizer.ggml.model" is missing');
  const arr = (key: string, item: number): unknown[] | ArrayLike<number> | undefined => {
    const kv = d.metadata.get(key);
    if (!kv) return undefined;
    if (kv.type !== GGUF_TYPE.ARRAY || (item === GGUF_TYPE.STRING ? kv.itemType !== GGUF_TYPE.STRING : !INT_TYPES.includes(kv.itemType ?? -1))) {
      throw new ModelFileError('TOKENIZER', `GGUF metadata "${key}" has the wrong type`);
    }
    return kv.value as unknown[];
  };
  const tokens = arr('tokenizer.ggml.tokens', GGUF_TYPE.STRING);
  if (!tokens) throw new ModelFileError('TOKENIZER', 'GGUF metadata "tokenizer.ggml.tokens" is missing');
  if (tokens.length !== V) throw new ModelFileError('TOKENIZER', `tokenizer.ggml.tokens has ${tokens.length} tokens, token_embd.weight ${V} rows`);
  const types = arr('tokenizer.ggml.token_type', GGUF_TYPE.INT32);
  if (types && types.length !== V) throw new ModelFileError('TOKENIZER', `tokenizer.ggml.token_type has ${types.length} entries for ${V} tokens`);
  if (model === 'gpt2' && !arr('tokenizer.ggml.merges', GGUF_TYPE.STRING)) throw new ModelFileError('TOKENIZER', 'tokenizer.ggml.merges is missing for a "gpt2" (BPE) tokenizer');
  for (const k of ['bos', 'eos', 'padding', 'eot', 'unknown']) {
    const key = `tokenizer.ggml.${k}_token_id`;
    if (!d.metadata.has(key)) continue;
    const kv = d.metadata.get(key)!;
    if (!INT_TYPES.includes(kv.type) || typeof kv.value !== 'number' || kv.value < 0 || kv.value >= V) {
      throw new ModelFileError('TOKENIZER', `${key} = ${String(kv.value)} is not a token id (vocabulary of ${V})`);
    }
  }
}

function tensorF32(d: DecodedGguf, name: string): Float32Array {
  const t = d.tensors.get(name)!;
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== t.byteLength) throw new ModelFileError('BAD_FILE', `tensor "${name}" data is not in the buffer (decoded from a header only)`);
  try {
    return dequantize(t.type, t.data, n);
  } catch (e) {
    throw new ModelFileError('UNSUPPORTED', `tensor "${name}": ${(e as Error).message}`, { cause: e });
  }
}

/** Decodes, validates and dequantizes a GGUF model file image. */
export function importGgufModel(buf: Uint8Array): ImportedModel {
  const d = decode(buf);
  const { arch, config, warnings } = validateGgufModel(d);
  const tensors = new Map<string, Float32Array>();
  for (const [name, shape] of tensorShapes(config)) {
    let w = tensorF32(d, name);
    const heads = ropeHeads(name, config);
    if (arch === 'qwen2' && heads) w = hfToEngineRows(w, heads, shape.length === 2 ? shape[1] : 1);
    tensors.set(name, w);
  }
  let tokenizer: Tokenizer;
  const meta: Record<string, unknown> = {};
  for (const [k, kv] of d.metadata) if (k.startsWith('tokenizer.')) meta[k] = kv.value;
  try {
    tokenizer = fromGgufTokenizerMetadata(meta);
  } catch (e) {
    throw new ModelFileError('TOKENIZER', `GGUF tokenizer: ${(e as Error).message}`, { cause: e });
  }
  const chatTemplate = getString(d, 'tokenizer.chat_template');
  const name = getString(d, 'general.name');
  return { config, tensors, tokenizer, chatTemplate, name, warnings };
}

// ----------------------------------------------------------------------------------------------- adapters

export interface GgufLoraAdapter {
  arch: string;
  alpha: number;
  rank: number;
  /** By base tensor name: A [r, in] and B [out, r] row-major. */
  pairs: Map<string, { a: Float32Array; b: Float32Array; in: number; out: number }>;
}

/** The base a LoRA adapter is checked against: architecture and each tensor's ne dims. */
export interface AdapterBase {
  arch: string;
  tensors: Map<string, readonly number[]>;
}

export function adapterBaseOf(d: DecodedGguf): AdapterBase {
  const arch = getString(d, 'general.architecture') ?? '';
  return { arch, tensors: new Map([...d.tensors].map(([n, t]) => [n, t.dims])) };
}

export function adapterBaseOfConfig(c: LlamaConfig): AdapterBase {
  return { arch: 'llama', tensors: new Map(tensorShapes(c).map(([n, s]) => [n, [...s].reverse()])) };
}

/**
 * Checks a decoded GGUF is a LoRA adapter llama.cpp can apply to `base`: type keys, same architecture, every tensor a
 * `<base>.lora_a` / `.lora_b` pair of a 2-D base tensor, A ne [in, r], B ne [r, out], one rank (= `expectedRank`
 * when given), F32/F16 tensors. Returns the architecture, alpha and rank.
 */
export function validateGgufAdapter(d: DecodedGguf, base?: AdapterBase, expectedRank?: number): { arch: string; alpha: number; rank: number } {
  if (getString(d, 'general.type') !== 'adapter') throw new ModelFileError('NOT_AN_ADAPTER', `general.type is ${JSON.stringify(getString(d, 'general.type') ?? null)}, not "adapter"`);
  if (getString(d, 'adapter.type') !== 'lora') throw new ModelFileError('NOT_AN_ADAPTER', `adapter.type is ${JSON.stringify(getString(d, 'adapter.type') ?? null)}, not "lora"`);
  const arch = getString(d, 'general.architecture');
  if (arch === undefined) throw new ModelFileError('MISSING_KEY', 'GGUF metadata "general.architecture" is required and missing');
  if (base && arch !== base.arch) throw new ModelFileError('ARCH_MISMATCH', `the adapter is for architecture "${arch}", the model is "${base.arch}"`);
  const alpha = getFloat(d, 'adapter.lora.alpha', 0, (v) => v >= 0 && Number.isFinite(v));
  const names = new Set<string>();
  for (const name of d.tensors.keys()) {
    const m = /^(.+)\.lora_([ab])$/.exec(name);
    if (!m) throw new ModelFileError('UNEXPECTED_TENSOR', `adapter tensor "${name}" is not a <base>.lora_a / .lora_b tensor`);
    names.add(m[1]);
  }
  if (names.size === 0) throw new ModelFileError('NOT_AN_ADAPTER', 'the adapter has no tensors');
  let rank = -1;
  for (const n of names) {
    const a = d.tensors.get(`${n}.lora_a`), b = d.tensors.get(`${n}.lora_b`);
    if (!a || !b) throw new ModelFileError('MISSING_TENSOR', `adapter tensor "${n}.lora_${a ? 'b' : 'a'}" is missing (its pair exists)`);
    for (const t of [a, b]) {
      if (t.type !== GGML_TYPE.F32 && t.type !== GGML_TYPE.F16) throw new ModelFileError('UNSUPPORTED', `adapter tensor "${t.name}" has type ${ggmlTypeName(t.type)} (F32 or F16 expected)`);
      if (t.dims.length !== 2) throw new ModelFileError('SHAPE_MISMATCH', `adapter tensor "${t.name}" has ${t.dims.length} dims, expected 2`);
    }
    if (a.dims[1] !== b.dims[0]) throw new ModelFileError('RANK_MISMATCH', `"${n}": lora_a has rank ${a.dims[1]} (ne [${a.dims}]), lora_b rank ${b.dims[0]} (ne [${b.dims}])`);
    const r = a.dims[1];
    if (rank === -1) rank = r;
    else if (r !== rank) throw new ModelFileError('RANK_MISMATCH', `"${n}" has rank ${r}, other pairs rank ${rank}`);
    if (expectedRank !== undefined && r !== expectedRank) throw new ModelFileError('RANK_MISMATCH', `"${n}" has rank ${r}, expected ${expectedRank}`);
    if (base) {
      const bt = base.tensors.get(n);
      if (!bt) throw new ModelFileError('ARCH_MISMATCH', `the adapter targets "${n}", which the model does not have`);
      if (bt.length !== 2 || bt[0] !== a.dims[0] || bt[1] !== b.dims[1]) {
        throw new ModelFileError('SHAPE_MISMATCH', `"${n}" is ne [${bt}] in the model; lora_a ne [${a.dims}] and lora_b ne [${b.dims}] need [in=${a.dims[0]}, out=${b.dims[1]}] (maybe A/B are transposed, or the adapter is for another model size)`);
      }
    }
  }
  return { arch, alpha, rank };
}

/** Decodes and validates a GGUF LoRA adapter (against a base config when given). */
export function importGgufLora(buf: Uint8Array, base?: LlamaConfig | AdapterBase, expectedRank?: number): GgufLoraAdapter {
  const d = decode(buf);
  const b = base === undefined ? undefined : 'tensors' in base ? base : adapterBaseOfConfig(base);
  const { arch, alpha, rank } = validateGgufAdapter(d, b, expectedRank);
  const pairs: GgufLoraAdapter['pairs'] = new Map();
  for (const [name, t] of d.tensors) {
    if (!name.endsWith('.lora_a')) continue;
    const n = name.slice(0, -'.lora_a'.length), bt = d.tensors.get(`${n}.lora_b`)!;
    pairs.set(n, { a: tensorF32(d, name), b: tensorF32(d, `${n}.lora_b`), in: t.dims[0], out: bt.dims[1] });
  }
  return { arch, alpha, rank, pairs };
}

/**
 * Installs an imported adapter on a model without a method (as a LoRA method with the adapter's targets), so the
 * engine computes what llama.cpp does at `scale` (llama.cpp's per-adapter scale; 1 by default).
 */
export function applyLoraAdapter(model: LlamaModel, adapter: GgufLoraAdapter, scale = 1): void {
  const targets = new Set<string>();
  for (const n of adapter.pairs.keys()) {
    const m = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.exec(n);
    if (!m) throw new ModelFileError('UNSUPPORTED', `the engine cannot apply LoRA to "${n}"`);
    targets.add(m[1]);
  }
  model.applyMethod({ type: 'lora', rank: adapter.rank, alpha: adapter.alpha || adapter.rank, targets: [...targets] }, 0);
  const s = (adapter.alpha ? adapter.alpha / adapter.rank : 1) * scale;
  for (const [name, p] of model.lora) {
    const src = adapter.pairs.get(name);
    if (!src) { p.b.data.fill(0); p.a.data.fill(0); continue; }
    p.a.data.set(src.a);
    p.b.data.set(src.b);
    p.scale = s;
  }
}

// ----------------------------------------------------------------------------------------------- files

/**
 * Reads and structurally decodes a GGUF file's header without loading its tensor data (tensor views are empty), for
 * validating multi-gigabyte files cheaply. Offsets are still checked against the file size.
 */
export function readGgufHeader(path: string): DecodedGguf {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ModelFileError('MISSING_FILE', `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    let n = Math.min(size, 1 << 22);
    for (;;) {
      const buf = new Uint8Array(n);
      readSync(fd, buf, 0, n, 0);
      try {
        return decodeGguf(buf, { fileSize: size });
      } catch (e) {
        if (e instanceof GgufError && e.code === 'TRUNCATED' && n < size) { n = Math.min(size, n * 4); continue; }
        if (e instanceof GgufError) throw new ModelFileError('BAD_FILE', `${path}: ${e.message}`, { cause: e });
        throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

export function readGgufFile(path: string): DecodedGguf {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new ModelFileError('MISSING_FILE', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return decode(buf);
}
