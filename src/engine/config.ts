/**
 * Llama-family model configuration and the one table of parameter names.
 *
 * Parameter names follow GGUF / llama.cpp (`token_embd.weight`, `blk.N.attn_q.weight`, ...), so a model's
 * tensors map one to one onto a GGUF file; model-files/ maps them to Hugging Face names. Every weight matrix is
 * [out, in] row-major, like PyTorch's nn.Linear and GGUF's (ne0 = in, ne1 = out).
 */
export interface LlamaConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads (grouped-query attention); equal to numHeads for plain multi-head attention. */
  numKvHeads: number;
  ffnSize: number;
  ropeBase: number;
  rmsEps: number;
  /** The output matrix is the token embedding (SmolLM, Qwen2-0.5B) instead of a separate `output.weight`. */
  tieEmbeddings: boolean;
  /** Biases on the q, k and v projections (Qwen2 family). */
  qkvBias: boolean;
  /** Longest sequence the model is trained for (GGUF `context_length`). */
  contextLength: number;
}

export function headDim(c: LlamaConfig): number {
  return c.hiddenSize / c.numHeads;
}

export function validateConfig(c: LlamaConfig): void {
  const problems: string[] = [];
  const positive = ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'ffnSize', 'contextLength'] as const;
  for (const k of positive) if (!Number.isInteger(c[k]) || c[k] <= 0) problems.push(`${k} must be a positive integer, got ${c[k]}`);
  if (c.hiddenSize % c.numHeads !== 0) problems.push(`hiddenSize ${c.hiddenSize} is not divisible by numHeads ${c.numHeads}`);
  else if (headDim(c) % 2 !== 0) problems.push(`head size ${headDim(c)} must be even for RoPE`);
  if (c.numHeads % c.numKvHeads !== 0) problems.push(`numHeads ${c.numHeads} is not a multiple of numKvHeads ${c.numKvHeads}`);
  if (!(c.ropeBase > 0)) problems.push(`ropeBase must be > 0, got ${c.ropeBase}`);
  if (!(c.rmsEps > 0)) problems.push(`rmsEps must be > 0, got ${c.rmsEps}`);
  if (problems.length) throw new Error(`invalid model config: ${problems.join('; ')}`);
}

/** The modules a method can target, by their short names. */
export const LINEAR_MODULES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LinearModule = (typeof LINEAR_MODULES)[number];

/** GGUF tensor name suffix of each linear module. */
export const MODULE_TENSOR: Record<LinearModule, string> = {
  q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output', gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down',
};

/** Accepted spellings of a module: ours, PEFT / Hugging Face's, and GGUF's. */
const MODULE_ALIASES: Record<string, LinearModule> = {
  q: 'q', q_proj: 'q', attn_q: 'q', k: 'k', k_proj: 'k', attn_k: 'k', v: 'v', v_proj: 'v', attn_v: 'v',
  o: 'o', o_proj: 'o', attn_output: 'o', gate: 'gate', gate_proj: 'gate', ffn_gate: 'gate',
  up: 'up', up_proj: 'up', ffn_up: 'up', down: 'down', down_proj: 'down', ffn_down: 'down',
};

export function parseModules(names: readonly string[]): LinearModule[] {
  const out = new Set<LinearModule>();
  for (const raw of names) {
    const n = raw.trim();
    if (n === 'all') { LINEAR_MODULES.forEach((m) => out.add(m)); continue; }
    const m = MODULE_ALIASES[n];
    if (!m) throw new Error(`unknown target module "${n}"; expected one of ${Object.keys(MODULE_ALIASES).join(', ')} or "all"`);
    out.add(m);
  }
  return LINEAR_MODULES.filter((m) => out.has(m));
}

/** Every base tensor of a config with its shape, in the order they are laid out in memory. */
export function tensorShapes(c: LlamaConfig): Array<[string, number[]]> {
  const D = headDim(c), C = c.hiddenSize;
  const out: Array<[string, number[]]> = [['token_embd.weight', [c.vocabSize, C]]];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `blk.${l}.`;
    out.push([p + 'attn_norm.weight', [C]]);
    out.push([p + 'attn_q.weight', [c.numHeads * D, C]]);
    out.push([p + 'attn_k.weight', [c.numKvHeads * D, C]]);
    out.push([p + 'attn_v.weight', [c.numKvHeads * D, C]]);
    if (c.qkvBias) {
      out.push([p + 'attn_q.bias', [c.numHeads * D]]);
      out.push([p + 'attn_k.bias', [c.numKvHeads * D]]);
      out.push([p + 'attn_v.bias', [c.numKvHeads * D]]);
    }
    out.push([p + 'attn_output.weight', [C, c.numHeads * D]]);
    out.push([p + 'ffn_norm.weight', [C]]);
    out.push([p + 'ffn_gate.weight', [c.ffnSize, C]]);
    out.push([p + 'ffn_up.weight', [c.ffnSize, C]]);
    out.push([p + 'ffn_down.weight', [C, c.ffnSize]]);
  }
  out.push(['output_norm.weight', [C]]);
  if (!c.tieEmbeddings) out.push(['output.weight', [c.vocabSize, C]]);
  return out;
}

export function parameterCount(c: LlamaConfig): number {
  return tensorShapes(c).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
}
