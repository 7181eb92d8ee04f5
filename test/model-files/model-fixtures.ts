/** Shared fixtures of the model-file tests: a small trained byte-level BPE tokenizer and models of several shapes. */
import { CHATML_SPECIAL_TOKENS, trainBpe, type Tokenizer } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import type { LlamaConfig } from '../../src/engine/config.ts';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { Rng } from '../../src/engine/rng.ts';

export const CORPUS = [
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.',
  'function add(a, b) { return a + b; }\nconst x = add(1, 2);\nconsole.log(`x = ${x}`);',
  'def greet(name):\n    return f"Hello, {name}!"\n\nprint(greet("world"))',
  '今天天气很好，我们去公园散步吧。机器学习模型可以在本地训练。',
  'Emoji test 🙂🚀🎉 and more 👩‍💻 text, numbers 12345 and 3.14159.',
  'Once upon a time there was a small model that learned to speak.',
];

let cached: Tokenizer | null = null;
/** 320 tokens: 256 bytes, merges, then <|endoftext|> <|im_start|> <|im_end|> (eos <|im_end|>). */
export function testTokenizer(): Tokenizer {
  cached ??= trainBpe(Array.from({ length: 4 }, () => CORPUS).flat(), {
    vocabSize: 320, specialTokens: CHATML_SPECIAL_TOKENS, eos: '<|im_end|>', minFrequency: 2,
  });
  return cached;
}

export const TEXTS = {
  english: 'The quick brown fox jumps over the lazy dog, again and again.',
  chinese: '今天天气很好，我们去公园散步吧。你好世界！',
  code: 'function add(a, b) {\n  return a + b; // sum\n}\nconst s = `${add(1, 2)}`;',
  emoji: 'Emoji 🙂🚀 family 👨‍👩‍👧 flags 🇯🇵 done.',
};

export function shapeConfig(vocab: number, over: Partial<LlamaConfig>): LlamaConfig {
  return {
    vocabSize: vocab, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 128, ropeBase: 10000,
    rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: 256, ...over,
  };
}

/** Several shapes: GQA untied, MHA tied, Qwen2-style QKV bias, a large RoPE base. */
export function shapes(vocab: number): Record<string, LlamaConfig> {
  return {
    gqa: shapeConfig(vocab, {}),
    tied_mha: shapeConfig(vocab, { numKvHeads: 4, tieEmbeddings: true }),
    qkv_bias: shapeConfig(vocab, { qkvBias: true, numHeads: 2, numKvHeads: 1, ropeBase: 1_000_000 }),
    llama3: shapeConfig(vocab, { hiddenSize: 96, numHeads: 6, numKvHeads: 2, ffnSize: 160, ropeBase: 500000, numLayers: 3 }),
  };
}

/** A random model whose weights are larger than init's (so the distribution is far from uniform), biases random. */
export function randomModel(c: LlamaConfig, seed: number, std = 0.15): LlamaModel {
  const m = LlamaModel.init(c, seed);
  const rng = new Rng(seed + 1);
  for (const [name, t] of m.params) {
    if (name.endsWith('_norm.weight')) { for (let i = 0; i < t.size; i++) t.data[i] = 1 + 0.2 * rng.normal(); continue; }
    for (let i = 0; i < t.size; i++) t.data[i] = rng.normal() * (name.endsWith('.bias') ? 0.3 : std);
  }
  return m;
}

/** Gives every LoRA pair random (nonzero) A and B. */
export function randomizeLora(m: LlamaModel, seed: number, std = 0.2): void {
  const rng = new Rng(seed);
  for (const p of m.lora.values()) {
    for (let i = 0; i < p.a.size; i++) p.a.data[i] = rng.normal() * std;
    for (let i = 0; i < p.b.size; i++) p.b.data[i] = rng.normal() * std;
  }
}

export function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const out = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < logits.length; i++) { out[i] = Math.exp(logits[i] - max); z += out[i]; }
  for (let i = 0; i < out.length; i++) out[i] /= z;
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

import { createGemm } from '../../src/engine/gemm/create-gemm.ts';
import { pretrainExamples } from '../../src/engine/batches.ts';
import { train } from '../../src/engine/train.ts';
import type { Gemm } from '../../src/engine/gemm/gemm-seam.ts';
import { decodeGguf, encodeGguf, type GgufKV, type GgufTensorInput } from '../../src/formats/gguf.ts';

let gemmP: Promise<Gemm> | null = null;
export function testGemm(): Promise<Gemm> {
  gemmP ??= createGemm();
  return gemmP;
}

/** Trains the model's trainable tensors for a few steps on the corpus (a "trained" model, not a random one). */
export async function trainBriefly(m: LlamaModel, tok: Tokenizer, steps = 25, lr = 1e-2): Promise<number> {
  const ex = pretrainExamples(tok.encode(CORPUS.join('\n')), 32);
  const r = await train({ model: m, train: ex, gemm: await testGemm(), config: { batchSize: 4, maxSteps: steps, lr, seed: 3, padId: 0, maxGradNorm: 1 } });
  return r.finalLoss;
}

/** Next-token probabilities of the engine after `ids` (fresh KV cache). */
export async function engineProbs(m: LlamaModel, ids: readonly number[]): Promise<Float64Array> {
  const ctx = { gemm: await testGemm(), tape: null, rng: new Rng(0), training: false };
  return softmax(m.decode(ctx, Int32Array.from(ids), m.newCache(ids.length + m.promptLength)));
}

/** Decodes a GGUF, lets `edit` change its metadata and tensor list, and encodes it again. */
export function rewriteGguf(buf: Uint8Array, edit: (meta: Map<string, GgufKV>, tensors: GgufTensorInput[]) => void): Uint8Array {
  const d = decodeGguf(buf);
  const meta = new Map(d.metadata);
  const tensors: GgufTensorInput[] = [...d.tensors.values()].map((t) => ({ name: t.name, type: t.type, dims: t.dims.slice(), data: t.data.slice() }));
  edit(meta, tensors);
  return encodeGguf(meta, tensors);
}
