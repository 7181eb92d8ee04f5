/**
 * Llama-family models <-> Hugging Face model folders (what transformers' save_pretrained writes).
 *
 * Owns: `exportHfModel` (files by name: config.json, generation_config.json, tokenizer.json, tokenizer_config.json
 * with the chat template, model.safetensors or model-0000i-of-0000n.safetensors shards with
 * model.safetensors.index.json) and `importHfModel` (the reverse, from any folder of that shape for model_type llama
 * (Llama 2/3, SmolLM), mistral and qwen2; safetensors in F32, F16 or BF16, sharded or not).
 *   - config.json: LlamaForCausalLM, or Qwen2ForCausalLM when the model has QKV biases (HF Llama's attention_bias
 *     would also bias o_proj).
 *   - names: token_embd <-> model.embed_tokens, blk.N.attn_q <-> model.layers.N.self_attn.q_proj, ... (llama-layout.ts).
 *   - q_proj / k_proj weights and biases are permuted between the engine's adjacent-pair RoPE order and HF's
 *     rotate-half order (llama-layout.ts), the way llama.cpp's convert_hf_to_gguf.py does it.
 *   - tied embeddings: tie_word_embeddings true and no lm_head.weight (an lm_head in a tied checkpoint is ignored).
 * Import checks what it reads and throws ModelFileError naming the file, key or tensor: missing files, unsupported
 * architectures and options (hidden_act other than silu, mlp_bias, o_proj bias, head_dim != hidden/heads), missing,
 * unexpected or mis-shaped tensors, bad safetensors (SafetensorsError wrapped as BAD_FILE). rope_scaling and sliding
 * windows, which the engine does not implement, come back as warnings.
 *
 * Pure: files are given as a name -> bytes accessor; `readModelFolder` / `writeModelFolder` do the file I/O.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { headDim, tensorShapes, type LlamaConfig } from '../engine/config.ts';
import type { LlamaModel } from '../engine/llama-model.ts';
import type { Tokenizer } from '../engine/tokenizer/tokenizer.ts';
import { fromHfTokenizerJson, toHfTokenizerJson, type HfTokenizerConfig, type HfTokenizerJson } from '../engine/tokenizer/hf-tokenizer-json.ts';
import { decodeSafetensors, encodeSafetensors, jsonErrorAt, SafetensorsError, tensorToF32, type SafetensorsTensorInput } from '../formats/safetensors.ts';
import { f32ArrayToBf16, f32ArrayToF16 } from '../formats/half.ts';
import {
  baseTensors, engineToHfName, engineToHfRows, hfToEngineName, hfToEngineRows, mergedTensors, ModelFileError, ropeHeads,
  type ImportedModel,
} from './llama-layout.ts';

/** A folder's files by name (null when absent). */
export type FileSource = (name: string) => Uint8Array | null;

export interface HfExportOptions {
  /** safetensors dtype. Default F32. */
  dtype?: 'F32' | 'F16' | 'BF16';
  chatTemplate?: string;
  /** Split the weights into shards of at most this many bytes (plus model.safetensors.index.json). */
  maxShardBytes?: number;
  /** A model with LoRA pairs: 'merge' folds them in, 'base' writes the base alone. Required when the model has LoRA. */
  lora?: 'merge' | 'base';
}

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 2) + '\n');

export function hfConfigJson(c: LlamaConfig, tok?: Tokenizer): Record<string, unknown> {
  const qwen = c.qkvBias;
  const cfg: Record<string, unknown> = {
    architectures: [qwen ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: qwen ? 'qwen2' : 'llama',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.ffnSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    hidden_act: 'silu',
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.rmsEps,
    rope_theta: c.ropeBase,
    rope_scaling: null,
    tie_word_embeddings: c.tieEmbeddings,
    attention_dropout: 0.0,
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: 'float32',
  };
  if (qwen) Object.assign(cfg, { use_sliding_window: false, sliding_window: c.contextLength, max_window_layers: c.numLayers });
  else Object.assign(cfg, { head_dim: headDim(c), attention_bias: false, mlp_bias: false, pretraining_tp: 1 });
  if (tok?.bosId !== null && tok?.bosId !== undefined) cfg.bos_token_id = tok.bosId;
  if (tok?.eosId !== null && tok?.eosId !== undefined) cfg.eos_token_id = tok.eosId;
  return cfg;
}

function tokenizerConfigJson(tok: Tokenizer, c: LlamaConfig, chatTemplate?: string): Record<string, unknown> {
  const hf = toHfTokenizerJson(tok);
  const text = (id: number | null) => (id === null ? null : hf.added_tokens?.find((t) => t.id === id)?.content ?? null);
  const decoder: Record<string, unknown> = {};
  for (const t of hf.added_tokens ?? []) decoder[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: t.special };
  const out: Record<string, unknown> = {
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: decoder,
    bos_token: text(tok.bosId),
    eos_token: text(tok.eosId),
    pad_token: text(tok.padId),
    clean_up_tokenization_spaces: false,
    model_max_length: c.contextLength,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  if (chatTemplate !== undefined) out.chat_template = chatTemplate;
  return out;
}

/** The files of an HF folder holding the model (see the module comment). */
export function exportHfModel(model: LlamaModel | { config: LlamaConfig; tensors: Map<string, Float32Array> }, tokenizer: Tokenizer, opts: HfExportOptions = {}): Map<string, Uint8Array> {
  let c: LlamaConfig, tensors: Map<string, Float32Array>;
  if ('tensors' in model) ({ config: c, tensors } = model);
  else {
    if (model.prefix || model.prompt) throw new ModelFileError('UNSUPPORTED', 'prefix/prompt tuning: export the base here and the method tensors with exportPeftPromptLearning (peft.ts)');
    if (model.lora.size > 0 && !opts.lora) throw new ModelFileError('UNSUPPORTED', 'the model has LoRA pairs: pass lora: "merge" or "base" (and export the adapter with exportPeftLora)');
    c = model.config;
    tensors = opts.lora === 'merge' ? mergedTensors(model) : baseTensors(model);
  }
  const dtype = opts.dtype ?? 'F32';
  const list: SafetensorsTensorInput[] = [];
  for (const [name, shape] of tensorShapes(c)) {
    let w = tensors.get(name);
    if (!w) throw new ModelFileError('MISSING_TENSOR', `tensor "${name}" is missing`);
    const heads = ropeHeads(name, c);
    if (heads) w = engineToHfRows(w, heads, shape.length === 2 ? shape[1] : 1);
    const data = dtype === 'F32' ? w : dtype === 'F16' ? f32ArrayToF16(w) : f32ArrayToBf16(w);
    list.push({ name: engineToHfName(name)!, dtype, shape, data });
  }
  const cfg = hfConfigJson(c, tokenizer);
  cfg.torch_dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
  const files = new Map<string, Uint8Array>();
  files.set('config.json', json(cfg));
  const gen: Record<string, unknown> = {};
  if (tokenizer.bosId !== null) gen.bos_token_id = tokenizer.bosId;
  if (tokenizer.eosId !== null) gen.eos_token_id = tokenizer.eosId;
  files.set('generation_config.json', json(gen));
  files.set('tokenizer.json', json(toHfTokenizerJson(tokenizer)));
  files.set('tokenizer_config.json', json(tokenizerConfigJson(tokenizer, c, opts.chatTemplate)));
  const bytesOf = (t: SafetensorsTensorInput) => t.data.byteLength;
  const total = list.reduce((a, t) => a + bytesOf(t), 0);
  if (!opts.maxShardBytes || total <= opts.maxShardBytes) {
    files.set('model.safetensors', encodeSafetensors(list, { format: 'pt' }));
    return files;
  }
  const shards: SafetensorsTensorInput[][] = [[]];
  let size = 0;
  for (const t of list) {
    if (size > 0 && size + bytesOf(t) > opts.maxShardBytes) { shards.push([]); size = 0; }
    shards[shards.length - 1].push(t);
    size += bytesOf(t);
  }
  const n = shards.length, pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    files.set(file, encodeSafetensors(s, { format: 'pt' }));
    for (const t of s) weightMap[t.name] = file;
  });
  files.set('model.safetensors.index.json', json({ metadata: { total_size: total }, weight_map: weightMap }));
  return files;
}

// ----------------------------------------------------------------------------------------------- import

export function readJsonFile(files: FileSource, name: string, required: true): Record<string, unknown>;
export function readJsonFile(files: FileSource, name: string, required: false): Record<string, unknown> | null;
export function readJsonFile(files: FileSource, name: string, required: boolean): Record<string, unknown> | null {
  const b = files(name);
  if (!b) {
    if (required) throw new ModelFileError('MISSING_FILE', `${name} is missing`);
    return null;
  }
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b));
  } catch (e) {
    throw new ModelFileError('BAD_FILE', `${name} is not valid UTF-8 JSON${jsonErrorAt(e)}`, { cause: e });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ModelFileError('BAD_FILE', `${name} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** Decodes safetensors files (with the index when sharded), returning every tensor as F32 by name. */
export function readSafetensorsSet(files: FileSource, single: string, index: string): Map<string, { shape: number[]; data: Float32Array; file: string }> {
  const idx = readJsonFile(files, index, false);
  let names: string[];
  if (idx) {
    const wm = idx.weight_map as Record<string, unknown> | undefined;
    if (!wm || typeof wm !== 'object') throw new ModelFileError('BAD_FILE', `${index} has no weight_map`);
    names = [...new Set(Object.values(wm).map(String))];
    for (const f of names) if (!/^[\w.-]+$/.test(f)) throw new ModelFileError('BAD_FILE', `${index} names the file ${JSON.stringify(f)}`);
  } else {
    names = [single];
  }
  const out = new Map<string, { shape: number[]; data: Float32Array; file: string }>();
  for (const f of names) {
    const b = files(f);
    if (!b) throw new ModelFileError('MISSING_FILE', `${f} is missing${idx ? ` (named in ${index})` : ''}`);
    try {
      const d = decodeSafetensors(b);
      for (const [name, t] of d.tensors) {
        if (out.has(name)) throw new ModelFileError('BAD_FILE', `tensor "${name}" appears in ${out.get(name)!.file} and ${f}`);
        out.set(name, { shape: t.shape, data: tensorToF32(t, name), file: f });
      }
    } catch (e) {
      if (e instanceof SafetensorsError) throw new ModelFileError('BAD_FILE', `${f}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  if (idx) {
    for (const [name, f] of Object.entries(idx.weight_map as Record<string, string>)) {
      const t = out.get(name);
      if (!t) throw new ModelFileError('MISSING_TENSOR', `${index} maps "${name}" to ${f}, which does not hold it`);
      if (t.file !== f) throw new ModelFileError('BAD_FILE', `${index} maps "${name}" to ${f}, but it is in ${t.file}`);
    }
  }
  return out;
}

function num(cfg: Record<string, unknown>, key: string, opts: { min: number; max: number; fallback?: number; integer?: boolean }): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (opts.fallback === undefined) throw new ModelFileError('MISSING_KEY', `config.json: "${key}" is required`);
    return opts.fallback;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || ((opts.integer ?? true) && !Number.isInteger(v))) throw new ModelFileError('BAD_KEY', `config.json: "${key}" must be ${(opts.integer ?? true) ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
  if (v > opts.max) throw new ModelFileError('ABSURD_DIMENSION', `config.json: "${key}" = ${v} is beyond ${opts.max}`);
  if (v < opts.min) throw new ModelFileError('BAD_KEY', `config.json: "${key}" = ${v} is below ${opts.min}`);
  return v;
}

export const HF_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;

/** config.json -> LlamaConfig (and warnings), with the checks of the module comment. */
export function configFromHf(cfg: Record<string, unknown>): { config: LlamaConfig; warnings: string[] } {
  const type = cfg.model_type;
  if (typeof type !== 'string' || !(HF_MODEL_TYPES as readonly string[]).includes(type)) throw new ModelFileError('UNSUPPORTED', `config.json: model_type ${JSON.stringify(type)} is not supported (${HF_MODEL_TYPES.join(', ')})`);
  const warnings: string[] = [];
  const C = num(cfg, 'hidden_size', { min: 2, max: 1 << 16 });
  const H = num(cfg, 'num_attention_heads', { min: 1, max: 1024 });
  const KVH = num(cfg, 'num_key_value_heads', { min: 1, max: 1024, fallback: H });
  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ModelFileError('UNSUPPORTED', `config.json: hidden_act ${JSON.stringify(act)} (only silu)`);
  if (cfg.mlp_bias === true) throw new ModelFileError('UNSUPPORTED', 'config.json: mlp_bias is not supported');
  if (type !== 'qwen2' && cfg.attention_bias === true) throw new ModelFileError('UNSUPPORTED', 'config.json: attention_bias (which biases o_proj too) is not supported');
  if (cfg.head_dim !== undefined && cfg.head_dim !== null && cfg.head_dim !== C / H) throw new ModelFileError('UNSUPPORTED', `config.json: head_dim ${cfg.head_dim} differs from hidden_size / num_attention_heads`);
  if (cfg.rope_scaling) warnings.push(`rope_scaling ${JSON.stringify(cfg.rope_scaling)} is ignored by the engine`);
  const ctx = num(cfg, 'max_position_embeddings', { min: 1, max: 1 << 24, fallback: 2048 });
  const sw = cfg.sliding_window;
  if (typeof sw === 'number' && sw < ctx && (type === 'mistral' || cfg.use_sliding_window === true)) warnings.push(`sliding_window ${sw} is ignored by the engine (full attention)`);
  const config: LlamaConfig = {
    vocabSize: num(cfg, 'vocab_size', { min: 1, max: 1 << 22 }),
    hiddenSize: C,
    numLayers: num(cfg, 'num_hidden_layers', { min: 1, max: 1024 }),
    numHeads: H,
    numKvHeads: KVH,
    ffnSize: num(cfg, 'intermediate_size', { min: 1, max: 1 << 20 }),
    ropeBase: num(cfg, 'rope_theta', { min: 1e-9, max: 1e12, fallback: 10000, integer: false }),
    rmsEps: num(cfg, 'rms_norm_eps', { min: 1e-12, max: 0.5, fallback: 1e-6, integer: false }),
    tieEmbeddings: cfg.tie_word_embeddings === true,
    qkvBias: type === 'qwen2',
    contextLength: ctx,
  };
  if (C % H !== 0 || (C / H) % 2 !== 0) throw new ModelFileError('BAD_KEY', `config.json: hidden_size ${C} / num_attention_heads ${H} is not an even integer head size`);
  if (H % KVH !== 0) throw new ModelFileError('BAD_KEY', `config.json: num_attention_heads ${H} is not a multiple of num_key_value_heads ${KVH}`);
  return { config, warnings };
}

/** Reads an HF model folder (see the module comment). */
export function importHfModel(files: FileSource): ImportedModel {
  const { config, warnings } = configFromHf(readJsonFile(files, 'config.json', true));
  const raw = readSafetensorsSet(files, 'model.safetensors', 'model.safetensors.index.json');
  const byEngine = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of raw) {
    if (/\.rotary_emb\.inv_freq$/.test(name)) continue;
    if (name === 'lm_head.weight' && config.tieEmbeddings) { warnings.push('lm_head.weight of a tied checkpoint is ignored'); continue; }
    const e = hfToEngineName(name);
    if (!e) throw new ModelFileError('UNEXPECTED_TENSOR', `tensor "${name}" is not part of a Llama-family model`);
    byEngine.set(e, t);
  }
  const tensors = new Map<string, Float32Array>();
  const expected = new Set<string>();
  for (const [name, shape] of tensorShapes(config)) {
    expected.add(name);
    const t = byEngine.get(name);
    if (!t) throw new ModelFileError('MISSING_TENSOR', `tensor "${engineToHfName(name)}" is missing${name === 'output.weight' ? ' (and tie_word_embeddings is not set)' : ''}`);
    if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i])) throw new ModelFileError('SHAPE_MISMATCH', `tensor "${engineToHfName(name)}" has shape [${t.shape}], config.json implies [${shape}]`);
    const heads = ropeHeads(name, config);
    tensors.set(name, heads ? hfToEngineRows(t.data, heads, shape.length === 2 ? shape[1] : 1) : t.data);
  }
  for (const name of byEngine.keys()) if (!expected.has(name)) throw new ModelFileError('UNEXPECTED_TENSOR', `tensor "${engineToHfName(name)}" is not expected by config.json`);
  const tj = readJsonFile(files, 'tokenizer.json', true) as unknown as HfTokenizerJson;
  const tc = (readJsonFile(files, 'tokenizer_config.json', false) ?? {}) as HfTokenizerConfig & { chat_template?: unknown };
  let tokenizer: Tokenizer;
  try {
    tokenizer = fromHfTokenizerJson(tj, tc);
  } catch (e) {
    throw new ModelFileError('TOKENIZER', (e as Error).message, { cause: e });
  }
  if (tokenizer.vocabSize !== config.vocabSize) warnings.push(`the tokenizer has ${tokenizer.vocabSize} tokens, the embedding ${config.vocabSize} rows`);
  let chatTemplate: string | undefined;
  if (typeof tc.chat_template === 'string') chatTemplate = tc.chat_template;
  else {
    const j = files('chat_template.jinja');
    if (j) chatTemplate = new TextDecoder().decode(j);
  }
  return { config, tensors, tokenizer, chatTemplate, warnings };
}

// ----------------------------------------------------------------------------------------------- folders

/** A FileSource over a directory (file names are plain names inside it). */
export function readModelFolder(dir: string): FileSource {
  if (!existsSync(dir)) throw new ModelFileError('MISSING_FILE', `folder ${dir} does not exist`);
  return (name) => {
    const p = join(dir, name);
    return existsSync(p) ? readFileSync(p) : null;
  };
}

export function writeModelFolder(dir: string, files: Map<string, Uint8Array>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, b] of files) writeFileSync(join(dir, name), b);
}

export function filesFromMap(files: Map<string, Uint8Array>): FileSource {
  return (name) => files.get(name) ?? null;
}
