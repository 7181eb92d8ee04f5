/**
 * Fine-tuning methods <-> PEFT adapter folders (adapter_config.json + adapter_model.safetensors).
 *
 * Owns:
 *   - LoRA: `exportPeftLora` / `importPeftLora`. Tensors `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`
 *     [r, in] and `...lora_B.weight` [out, r]; the lora_B rows of q_proj / k_proj are permuted to HF's rotate-half
 *     order (llama-layout.ts), like the base q/k weights. adapter_config: peft_type LORA, r, lora_alpha, use_rslora,
 *     target_modules (HF names). Import maps back and returns the same `GgufLoraAdapter` shape as the GGUF importer
 *     (alpha there is llama.cpp's: effective scale * r), so `applyLoraAdapter` installs either.
 *   - Prompt tuning and prefix tuning (`exportPeftPromptLearning` / `importPeftPromptLearning`), the two methods GGUF
 *     cannot carry for llama.cpp. One tensor `prompt_embeddings`, as PEFT's get_peft_model_state_dict saves it:
 *       PROMPT_TUNING   [P, hidden]: the soft-prompt rows.
 *       PREFIX_TUNING   [P, layers * 2 * kv_heads * head_dim] (prefix_projection false): for each virtual token, per
 *                       layer l the key prefix (slot 2l) then the value prefix (slot 2l+1), each kv_heads x head_dim,
 *                       the view PEFT's get_prompt makes of it with num_attention_heads = num_key_value_heads.
 *                       Key prefixes are permuted per head into HF order (queries are, so q.k is unchanged);
 *                       values are not.
 *     Which formats carry which method: full / freeze / merged LoRA -> GGUF model and HF folder; LoRA -> GGUF adapter
 *     and PEFT LoRA folder; prefix and prompt tuning -> PEFT folder only (plus the base as GGUF / HF).
 * Every failure is a ModelFileError naming the file, key or tensor.
 */
import { headDim, type LlamaConfig } from '../engine/config.ts';
import type { LlamaModel } from '../engine/llama-model.ts';
import { encodeSafetensors, type SafetensorsTensorInput } from '../formats/safetensors.ts';
import { engineToHfName, engineToHfRows, hfToEngineRows, ModelFileError } from './llama-layout.ts';
import { readJsonFile, readSafetensorsSet, type FileSource } from './hf-folder.ts';
import type { GgufLoraAdapter } from './gguf-model.ts';

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 2) + '\n');

const HF_MODULE: Record<string, string> = {
  attn_q: 'q_proj', attn_k: 'k_proj', attn_v: 'v_proj', attn_output: 'o_proj', ffn_gate: 'gate_proj', ffn_up: 'up_proj', ffn_down: 'down_proj',
};

function peftPrefix(baseName: string): string {
  return `base_model.model.${engineToHfName(baseName)!.replace(/\.weight$/, '')}`;
}

function ropeHeadsOf(baseName: string, c: LlamaConfig): number {
  if (/\.attn_q\.weight$/.test(baseName)) return c.numHeads;
  if (/\.attn_k\.weight$/.test(baseName)) return c.numKvHeads;
  return 0;
}

export interface PeftExportOptions {
  baseModelName?: string;
}

/** A PEFT LoRA folder (file name -> bytes) of the model's LoRA pairs. */
export function exportPeftLora(model: LlamaModel, opts: PeftExportOptions = {}): Map<string, Uint8Array> {
  if (model.lora.size === 0) throw new ModelFileError('UNSUPPORTED', 'the model has no LoRA pairs');
  const pairs = [...model.lora];
  const rank = pairs[0][1].a.shape[0], scale = pairs[0][1].scale;
  if (pairs.some(([, p]) => p.a.shape[0] !== rank)) throw new ModelFileError('RANK_MISMATCH', 'LoRA pairs of different ranks');
  if (pairs.some(([, p]) => p.scale !== scale)) throw new ModelFileError('UNSUPPORTED', 'LoRA pairs with different scales');
  const m = model.method;
  const rslora = (m.type === 'lora' || m.type === 'qlora') && (m.rslora ?? false);
  const alpha = rslora ? scale * Math.sqrt(rank) : scale * rank;
  const dropout = (m.type === 'lora' || m.type === 'qlora') ? (m.dropout ?? 0) : 0;
  const targets = new Set<string>();
  const list: SafetensorsTensorInput[] = [];
  for (const [name, p] of pairs) {
    const mod = /^blk\.\d+\.(\w+)\.weight$/.exec(name)?.[1];
    if (!mod || !HF_MODULE[mod]) throw new ModelFileError('UNSUPPORTED', `LoRA on "${name}" has no PEFT name`);
    targets.add(HF_MODULE[mod]);
    const heads = ropeHeadsOf(name, model.config);
    const b = heads ? engineToHfRows(p.b.data, heads, rank) : p.b.data;
    list.push({ name: `${peftPrefix(name)}.lora_A.weight`, dtype: 'F32', shape: p.a.shape, data: p.a.data });
    list.push({ name: `${peftPrefix(name)}.lora_B.weight`, dtype: 'F32', shape: p.b.shape, data: b });
  }
  const config = {
    peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: opts.baseModelName ?? null, inference_mode: true,
    r: rank, lora_alpha: alpha, lora_dropout: dropout, use_rslora: rslora, use_dora: false, bias: 'none', fan_in_fan_out: false,
    target_modules: [...targets].sort(), modules_to_save: null, rank_pattern: {}, alpha_pattern: {}, init_lora_weights: true,
  };
  return new Map([['adapter_config.json', json(config)], ['adapter_model.safetensors', encodeSafetensors(list, { format: 'pt' })]]);
}

/** Reads a PEFT LoRA folder for a model of config `c`. */
export function importPeftLora(files: FileSource, c: LlamaConfig): GgufLoraAdapter {
  const cfg = readJsonFile(files, 'adapter_config.json', true);
  if (cfg.peft_type !== 'LORA') throw new ModelFileError('NOT_AN_ADAPTER', `adapter_config.json: peft_type ${JSON.stringify(cfg.peft_type)} is not LORA`);
  const r = cfg.r, alpha = cfg.lora_alpha;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) throw new ModelFileError('BAD_KEY', `adapter_config.json: r ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new ModelFileError('BAD_KEY', `adapter_config.json: lora_alpha ${JSON.stringify(alpha)}`);
  for (const k of ['rank_pattern', 'alpha_pattern']) {
    if (cfg[k] && typeof cfg[k] === 'object' && Object.keys(cfg[k] as object).length > 0) throw new ModelFileError('UNSUPPORTED', `adapter_config.json: ${k} is not supported`);
  }
  if (cfg.use_dora === true) throw new ModelFileError('UNSUPPORTED', 'adapter_config.json: DoRA is not supported');
  if (cfg.fan_in_fan_out === true) throw new ModelFileError('UNSUPPORTED', 'adapter_config.json: fan_in_fan_out is not supported');
  const scale = cfg.use_rslora === true ? alpha / Math.sqrt(r) : alpha / r;
  const raw = readSafetensorsSet(files, 'adapter_model.safetensors', 'adapter_model.safetensors.index.json');
  const byBase = new Map<string, { a?: { shape: number[]; data: Float32Array }; b?: { shape: number[]; data: Float32Array } }>();
  for (const [name, t] of raw) {
    const m = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$/.exec(name);
    const mod = m && Object.entries(HF_MODULE).find(([, v]) => v === m[3])?.[0];
    if (!m || !mod) throw new ModelFileError('UNEXPECTED_TENSOR', `adapter tensor "${name}" is not a LoRA tensor of a Llama-family linear`);
    const l = Number(m[1]);
    if (l >= c.numLayers) throw new ModelFileError('ARCH_MISMATCH', `adapter tensor "${name}" is for layer ${l}, the model has ${c.numLayers}`);
    const base = `blk.${l}.${mod}.weight`;
    const e = byBase.get(base) ?? {};
    e[m[4] === 'A' ? 'a' : 'b'] = t;
    byBase.set(base, e);
  }
  const D = headDim(c);
  const dims: Record<string, [number, number]> = {
    attn_q: [c.numHeads * D, c.hiddenSize], attn_k: [c.numKvHeads * D, c.hiddenSize], attn_v: [c.numKvHeads * D, c.hiddenSize],
    attn_output: [c.hiddenSize, c.numHeads * D], ffn_gate: [c.ffnSize, c.hiddenSize], ffn_up: [c.ffnSize, c.hiddenSize], ffn_down: [c.hiddenSize, c.ffnSize],
  };
  const pairs: GgufLoraAdapter['pairs'] = new Map();
  for (const [base, { a, b }] of byBase) {
    if (!a || !b) throw new ModelFileError('MISSING_TENSOR', `${peftPrefix(base)}.lora_${a ? 'B' : 'A'}.weight is missing`);
    const [out, inp] = dims[/^blk\.\d+\.(\w+)\.weight$/.exec(base)![1]];
    if (a.shape.length !== 2 || b.shape.length !== 2) throw new ModelFileError('SHAPE_MISMATCH', `${peftPrefix(base)}: LoRA tensors must be 2-D`);
    if (a.shape[0] !== r || b.shape[1] !== r) throw new ModelFileError('RANK_MISMATCH', `${peftPrefix(base)}: lora_A [${a.shape}] / lora_B [${b.shape}] do not have rank r = ${r}`);
    if (a.shape[1] !== inp || b.shape[0] !== out) throw new ModelFileError('SHAPE_MISMATCH', `${peftPrefix(base)}: lora_A [${a.shape}] / lora_B [${b.shape}] do not fit a [${out}, ${inp}] weight`);
    const heads = ropeHeadsOf(base, c);
    pairs.set(base, { a: a.data, b: heads ? hfToEngineRows(b.data, heads, r) : b.data, in: inp, out });
  }
  return { arch: 'llama', alpha: scale * r, rank: r, pairs };
}

// ----------------------------------------------------------------------------------------------- prompt learning

export type PromptLearning =
  | { type: 'prompt'; numVirtualTokens: number; prompt: Float32Array }
  | { type: 'prefix'; numVirtualTokens: number; prefix: Array<{ k: Float32Array; v: Float32Array }> };

/** A PEFT folder of a prompt- or prefix-tuned model's method tensors (the base is exported separately). */
export function exportPeftPromptLearning(model: LlamaModel, opts: PeftExportOptions = {}): Map<string, Uint8Array> {
  const c = model.config, D = headDim(c), KW = c.numKvHeads * D;
  let cfg: Record<string, unknown>, t: SafetensorsTensorInput;
  const common = { task_type: 'CAUSAL_LM', base_model_name_or_path: opts.baseModelName ?? null, inference_mode: true, num_transformer_submodules: 1, num_layers: c.numLayers };
  if (model.prompt) {
    const P = model.prompt.shape[0];
    cfg = { peft_type: 'PROMPT_TUNING', ...common, num_virtual_tokens: P, token_dim: c.hiddenSize, num_attention_heads: c.numHeads, prompt_tuning_init: 'RANDOM' };
    t = { name: 'prompt_embeddings', dtype: 'F32', shape: [P, c.hiddenSize], data: model.prompt.data };
  } else if (model.prefix) {
    const P = model.prefix[0].k.shape[0], L = c.numLayers, row = L * 2 * KW;
    const data = new Float32Array(P * row);
    for (let l = 0; l < L; l++) {
      const k = engineToHfRows(model.prefix[l].k.data, P * c.numKvHeads, 1); // per head (rows of D values), to HF order
      const v = model.prefix[l].v.data;
      for (let p = 0; p < P; p++) {
        data.set(k.subarray(p * KW, p * KW + KW), p * row + 2 * l * KW);
        data.set(v.subarray(p * KW, p * KW + KW), p * row + (2 * l + 1) * KW);
      }
    }
    cfg = { peft_type: 'PREFIX_TUNING', ...common, num_virtual_tokens: P, token_dim: KW, num_attention_heads: c.numKvHeads, encoder_hidden_size: c.hiddenSize, prefix_projection: false };
    t = { name: 'prompt_embeddings', dtype: 'F32', shape: [P, row], data };
  } else {
    throw new ModelFileError('UNSUPPORTED', 'the model is neither prompt- nor prefix-tuned');
  }
  return new Map([['adapter_config.json', json(cfg)], ['adapter_model.safetensors', encodeSafetensors([t], { format: 'pt' })]]);
}

export function importPeftPromptLearning(files: FileSource, c: LlamaConfig): PromptLearning {
  const cfg = readJsonFile(files, 'adapter_config.json', true);
  const D = headDim(c), KW = c.numKvHeads * D;
  const P = cfg.num_virtual_tokens;
  if (typeof P !== 'number' || !Number.isInteger(P) || P < 1 || P > 1 << 16) throw new ModelFileError('BAD_KEY', `adapter_config.json: num_virtual_tokens ${JSON.stringify(P)}`);
  const raw = readSafetensorsSet(files, 'adapter_model.safetensors', 'adapter_model.safetensors.index.json');
  const t = raw.get('prompt_embeddings');
  if (!t) throw new ModelFileError('MISSING_TENSOR', 'adapter_model.safetensors has no prompt_embeddings');
  if (cfg.peft_type === 'PROMPT_TUNING') {
    if (t.shape[0] !== P || t.shape[1] !== c.hiddenSize || t.shape.length !== 2) throw new ModelFileError('SHAPE_MISMATCH', `prompt_embeddings [${t.shape}], expected [${P}, ${c.hiddenSize}]`);
    return { type: 'prompt', numVirtualTokens: P, prompt: t.data };
  }
  if (cfg.peft_type === 'PREFIX_TUNING') {
    if (cfg.prefix_projection === true) throw new ModelFileError('UNSUPPORTED', 'prefix tuning with prefix_projection is not supported');
    const L = c.numLayers, row = L * 2 * KW;
    if (t.shape.length !== 2 || t.shape[0] !== P || t.shape[1] !== row) throw new ModelFileError('SHAPE_MISMATCH', `prompt_embeddings [${t.shape}], expected [${P}, ${row}] (layers x 2 x kv_heads x head_dim)`);
    const prefix: Array<{ k: Float32Array; v: Float32Array }> = [];
    for (let l = 0; l < L; l++) {
      const k = new Float32Array(P * KW), v = new Float32Array(P * KW);
      for (let p = 0; p < P; p++) {
        k.set(t.data.subarray(p * row + 2 * l * KW, p * row + (2 * l + 1) * KW), p * KW);
        v.set(t.data.subarray(p * row + (2 * l + 1) * KW, p * row + (2 * l + 2) * KW), p * KW);
      }
      prefix.push({ k: hfToEngineRows(k, P * c.numKvHeads, 1), v });
    }
    return { type: 'prefix', numVirtualTokens: P, prefix };
  }
  throw new ModelFileError('NOT_AN_ADAPTER', `adapter_config.json: peft_type ${JSON.stringify(cfg.peft_type)} is not PROMPT_TUNING or PREFIX_TUNING`);
}

/** Installs imported prompt-learning tensors on a model without a method. */
export function applyPromptLearning(model: LlamaModel, p: PromptLearning): void {
  model.applyMethod({ type: p.type, numVirtualTokens: p.numVirtualTokens }, 0);
  if (p.type === 'prompt') model.prompt!.data.set(p.prompt);
  else p.prefix.forEach((x, l) => { model.prefix![l].k.data.set(x.k); model.prefix![l].v.data.set(x.v); });
}

