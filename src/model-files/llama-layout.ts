/**
 * Shared pieces of the model-file converters: the error type, RoPE row permutations, HF <-> GGUF tensor names,
 * reading a model's base weights, and the imported-model shape.
 *
 * RoPE layouts: the engine (and llama.cpp's "llama" architecture, "norm" RoPE) rotates adjacent pairs (2i, 2i+1) of
 * each head; Hugging Face Llama / Qwen2 (and llama.cpp's "qwen2" architecture, NEOX RoPE) rotate halves (i, i+D/2).
 * The Q and K projections therefore store their rows in a different order per head:
 *   engine row  h*D + 2i + j   ==   HF row  h*D + j*(D/2) + i      (j in {0, 1}, i < D/2)
 * `hfToEngineRows` is convert_hf_to_gguf.py's permute(w, n_head) (reshape(n_head, 2, D/2, ...).swapaxes(1, 2));
 * `engineToHfRows` is its inverse. They apply to q/k weights, q/k biases and the LoRA B of q/k (whose rows are
 * output rows), never to LoRA A, v or anything else.
 */
import type { LlamaConfig } from '../engine/config.ts';
import { foldLora, type LlamaModel } from '../engine/llama-model.ts';
import type { Tokenizer } from '../engine/tokenizer/tokenizer.ts';

export type ModelFileErrorCode =
  | 'MISSING_KEY' // a required metadata / config key is absent
  | 'BAD_KEY' // a key of the wrong type or an impossible value
  | 'ABSURD_DIMENSION' // a size far beyond any real model
  | 'UNSUPPORTED' // a valid file of something this engine does not run (architecture, rope scaling, tensor type)
  | 'MISSING_TENSOR'
  | 'UNEXPECTED_TENSOR'
  | 'SHAPE_MISMATCH' // a tensor's shape disagrees with the metadata
  | 'TOKENIZER' // tokenizer data missing or inconsistent
  | 'NOT_A_MODEL' // e.g. an adapter file where a model is expected
  | 'NOT_AN_ADAPTER'
  | 'ARCH_MISMATCH' // an adapter for another architecture or base
  | 'RANK_MISMATCH' // LoRA A/B ranks disagree, or differ from the expected rank
  | 'MISSING_FILE'
  | 'BAD_FILE'; // a file that cannot be parsed (wraps GgufError / SafetensorsError / JSON errors)

/** The error the model-file converters throw for anything wrong with a file (the readers' own errors are wrapped). */
export class ModelFileError extends Error {
  constructor(public readonly code: ModelFileErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelFileError';
  }
}

/** What every importer returns; `LlamaModel.fromTensors(config, tensors)` loads it. */
export interface ImportedModel {
  config: LlamaConfig;
  tensors: Map<string, Float32Array>;
  tokenizer: Tokenizer;
  chatTemplate?: string;
  name?: string;
  /** Things the file holds that the engine ignores (e.g. rope scaling). */
  warnings: string[];
}

/** Rows of a [rows, cols] matrix (or a bias, cols = 1) reordered from HF (rotate-half) to engine (adjacent-pair) order. */
export function hfToEngineRows(w: Float32Array, nHeads: number, cols: number): Float32Array {
  return permuteRows(w, nHeads, cols, true);
}

/** The inverse of hfToEngineRows. */
export function engineToHfRows(w: Float32Array, nHeads: number, cols: number): Float32Array {
  return permuteRows(w, nHeads, cols, false);
}

function permuteRows(w: Float32Array, nHeads: number, cols: number, toEngine: boolean): Float32Array {
  const rows = w.length / cols, D = rows / nHeads, half = D / 2;
  if (!Number.isInteger(rows) || !Number.isInteger(D) || D % 2 !== 0) throw new Error(`permuteRows: ${w.length} values do not split into ${nHeads} heads of even size`);
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const e = h * D + 2 * i + j, f = h * D + j * half + i;
        const [dst, src] = toEngine ? [e, f] : [f, e];
        out.set(w.subarray(src * cols, src * cols + cols), dst * cols);
      }
    }
  }
  return out;
}

/** HF parameter name of an engine tensor name (null for names HF has no equivalent of). */
export function engineToHfName(name: string): string | null {
  if (name === 'token_embd.weight') return 'model.embed_tokens.weight';
  if (name === 'output_norm.weight') return 'model.norm.weight';
  if (name === 'output.weight') return 'lm_head.weight';
  const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name);
  if (!m) return null;
  const sub = HF_SUB[m[2]];
  return sub ? `model.layers.${m[1]}.${sub}.${m[3]}` : null;
}

const HF_SUB: Record<string, string> = {
  attn_norm: 'input_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj', attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj', ffn_norm: 'post_attention_layernorm', ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};
const ENGINE_SUB: Record<string, string> = Object.fromEntries(Object.entries(HF_SUB).map(([k, v]) => [v, k]));

/** Engine tensor name of an HF parameter name (null when unknown). */
export function hfToEngineName(name: string): string | null {
  if (name === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (name === 'model.norm.weight') return 'output_norm.weight';
  if (name === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return null;
  const sub = ENGINE_SUB[m[2]];
  return sub ? `blk.${m[1]}.${sub}.${m[3]}` : null;
}

/** Whether an engine tensor's rows are in RoPE order (q/k weights and biases), and with how many heads. */
export function ropeHeads(name: string, c: LlamaConfig): number {
  if (/^blk\.\d+\.attn_q\.(weight|bias)$/.test(name)) return c.numHeads;
  if (/^blk\.\d+\.attn_k\.(weight|bias)$/.test(name)) return c.numKvHeads;
  return 0;
}

/** The model's base weights as float arrays (4-bit QLoRA bases dequantized into fresh copies). */
export function baseTensors(model: LlamaModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of model.params) {
    const q = model.quantized.get(name) as { materialize(): Float32Array } | undefined;
    out.set(name, q ? q.materialize().slice() : t.data);
  }
  return out;
}

/** Base weights with every LoRA pair folded in: W + scale * B A. */
export function mergedTensors(model: LlamaModel): Map<string, Float32Array> {
  const out = baseTensors(model);
  for (const [name, p] of model.lora) {
    const w = out.get(name)!.slice();
    foldLora(w, p);
    out.set(name, w);
  }
  return out;
}

/** The shortest decimal that is the same float32 (so an f32-stored 1e-5 reads back as 1e-5). */
export function shortestF32(v: number): number {
  const f = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}



