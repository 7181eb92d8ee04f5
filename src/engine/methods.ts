/**
 * Fine-tuning methods: what each one adds to a model and which parameters it trains.
 *
 *   full    every base parameter trains.
 *   freeze  only the last (or first) N layers and/or the named modules train (LLaMA-Factory's freeze tuning).
 *   lora    W x + (alpha/r) B A dropout(x) on the target linears; A [r, in] Kaiming-uniform, B [out, r] zero, so
 *           the model starts unchanged; rsLoRA scales by alpha/sqrt(r). Base frozen.
 *   qlora   lora over base linears held 4-bit (NF4, blocks of 64) and dequantized on the fly; base frozen.
 *   prefix  P-Tuning v2 / prefix tuning: trainable key and value prefixes [P, KVH*D] in every layer, seen by every
 *           query; base frozen.
 *   prompt  prompt tuning: P trainable soft-prompt embeddings placed before every sequence; base frozen.
 *
 * Method state tensors are named as in GGUF adapters (`blk.N.attn_q.weight.lora_a`) so they export directly.
 */
import { parseModules, type LinearModule, MODULE_TENSOR } from './config.ts';

export type MethodSpec =
  | { type: 'full' }
  | {
      type: 'freeze';
      /** Train the last N layers (negative: the first |N|). Default 1 when no modules are named. */
      trainableLayers?: number;
      /** Within the trainable layers, which parts train: 'all' (default), or any of attn, ffn, norm, and linear module names. */
      trainableModules?: string[];
      /** Whole tensors outside the layers that also train: token_embd, output, output_norm. */
      extraModules?: string[];
    }
  | LoraSpec
  | (Omit<LoraSpec, 'type'> & { type: 'qlora'; blockSize?: number })
  | { type: 'prefix'; numVirtualTokens: number }
  | { type: 'prompt'; numVirtualTokens: number };

export interface LoraSpec {
  type: 'lora';
  rank: number;
  alpha: number;
  dropout?: number;
  /** Target modules (q, k, v, o, gate, up, down, their q_proj/attn_q spellings, or 'all'); default q and v. */
  targets?: string[];
  rslora?: boolean;
}

export type MethodType = MethodSpec['type'];
export const METHOD_TYPES: readonly MethodType[] = ['full', 'freeze', 'lora', 'qlora', 'prefix', 'prompt'];

export function isMethodType(x: unknown): x is MethodType {
  return typeof x === 'string' && (METHOD_TYPES as readonly string[]).includes(x);
}

/** Checks a method spec and fills defaults; throws with the offending field named. */
export function normalizeMethod(m: MethodSpec): MethodSpec {
  if (!m || !METHOD_TYPES.includes(m.type)) throw new Error(`method.type must be one of ${METHOD_TYPES.join(', ')}, got ${JSON.stringify(m?.type)}`);
  switch (m.type) {
    case 'full': return { type: 'full' };
    case 'freeze': {
      const layers = m.trainableLayers ?? 1;
      if (!Number.isInteger(layers) || layers === 0) throw new Error(`method.trainableLayers must be a non-zero integer, got ${m.trainableLayers}`);
      return { type: 'freeze', trainableLayers: layers, trainableModules: m.trainableModules ?? ['all'], extraModules: m.extraModules ?? [] };
    }
    case 'lora': case 'qlora': {
      if (!Number.isInteger(m.rank) || m.rank <= 0) throw new Error(`method.rank must be a positive integer, got ${m.rank}`);
      if (!(m.alpha > 0)) throw new Error(`method.alpha must be > 0, got ${m.alpha}`);
      const dropout = m.dropout ?? 0;
      if (!(dropout >= 0 && dropout < 1)) throw new Error(`method.dropout must be in [0, 1), got ${m.dropout}`);
      const targets = parseModules(m.targets ?? ['q', 'v']);
      if (targets.length === 0) throw new Error('method.targets names no module');
      const base = { rank: m.rank, alpha: m.alpha, dropout, targets, rslora: m.rslora ?? false };
      return m.type === 'lora' ? { type: 'lora', ...base } : { type: 'qlora', ...base, blockSize: m.blockSize ?? 64 };
    }
    case 'prefix': case 'prompt': {
      if (!Number.isInteger(m.numVirtualTokens) || m.numVirtualTokens <= 0) {
        throw new Error(`method.numVirtualTokens must be a positive integer, got ${m.numVirtualTokens}`);
      }
      return { type: m.type, numVirtualTokens: m.numVirtualTokens };
    }
  }
}

export function loraScale(rank: number, alpha: number, rslora: boolean): number {
  return rslora ? alpha / Math.sqrt(rank) : alpha / rank;
}

/** Which base tensors train under `freeze`, given the layer count. */
export function freezeTrainable(
  name: string, numLayers: number, spec: { trainableLayers?: number; trainableModules?: string[]; extraModules?: string[] },
): boolean {
  const extras = spec.extraModules ?? [];
  const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name);
  if (!m) return extras.some((e) => name === e || name.startsWith(e + '.'));
  const layer = Number(m[1]), part = m[2];
  const n = spec.trainableLayers ?? 1;
  const inRange = n > 0 ? layer >= numLayers - n : layer < -n;
  if (!inRange) return false;
  const mods = spec.trainableModules ?? ['all'];
  if (mods.includes('all')) return true;
  if (mods.includes('attn') && part.startsWith('attn_') && part !== 'attn_norm') return true;
  if (mods.includes('ffn') && part.startsWith('ffn_') && part !== 'ffn_norm') return true;
  if (mods.includes('norm') && part.endsWith('_norm')) return true;
  const linear = mods.filter((x) => x !== 'attn' && x !== 'ffn' && x !== 'norm');
  return linear.length > 0 && parseModules(linear).some((t: LinearModule) => MODULE_TENSOR[t] === part);
}

/** The fields that shape a method's tensors (what must match for its trained tensors to be reused). */
function shapeKey(m: MethodSpec): string {
  const n = normalizeMethod(m);
  switch (n.type) {
    case 'lora': case 'qlora': return JSON.stringify([n.type, n.rank, n.alpha, [...(n.targets ?? [])].sort(), n.rslora ?? false, n.type === 'qlora' ? n.blockSize : null]);
    case 'prefix': case 'prompt': return JSON.stringify([n.type, n.numVirtualTokens]);
    default: return n.type;
  }
}

/**
 * Training a method on top of a model that already carries an adapter (SFT with LoRA, then DPO): the same
 * adapter method (type and shape) continues that adapter, as LLaMA-Factory does with `adapter_name_or_path`;
 * any other method over a LoRA/QLoRA adapter first folds it into the weights ('merge'); a prefix or prompt
 * adapter cannot be folded, so anything but the same method is refused with the reason.
 */
export function stackMethod(adapter: MethodSpec, next: MethodSpec): 'continue' | 'merge' {
  if (shapeKey(adapter) === shapeKey(next)) return 'continue';
  if (adapter.type === 'lora' || adapter.type === 'qlora') return 'merge';
  const a = normalizeMethod(adapter) as { type: string; numVirtualTokens?: number };
  throw new Error(`the base is a ${a.type} adapter (${a.numVirtualTokens} virtual tokens), which cannot be folded into the weights: train it further with the same method (${a.type}, numVirtualTokens ${a.numVirtualTokens}), or start from its base model`);
}
