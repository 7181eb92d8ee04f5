/**
 * Text generation for the engine's own models: greedy or sampled decoding (temperature, top-k, top-p, seed),
 * stop strings and stop tokens, a token budget, over a KV cache. Sampling is deterministic for a seed.
 * (Serving large models is llama.cpp's job; this is for small models, tests and the demo.)
 */
import { Rng } from './rng.ts';
import type { Ctx } from './tensor.ts';
import type { Gemm } from './gemm/types.ts';
import type { LlamaModel } from './model.ts';

export interface SamplingOptions {
  maxTokens?: number;
  /** 0 (the default) is greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Token ids that end generation (not emitted), e.g. the EOS and end-of-turn tokens. */
  stopIds?: readonly number[];
  /** Strings that end generation; the text is cut before the stop string. */
  stop?: readonly string[];
  /** Ids at or above this are never sampled: the padding rows of a padded vocabulary (more rows than tokens). */
  vocabSize?: number;
}

export interface GenerateResult {
  ids: number[];
  text: string;
  finishReason: 'stop' | 'length';
  promptTokens: number;
}

/** Picks the next token from logits [V]. Pure given the rng. */
export function sampleToken(logits: Float32Array, opts: SamplingOptions, rng: Rng): number {
  if (opts.vocabSize !== undefined && opts.vocabSize < logits.length) logits = logits.subarray(0, opts.vocabSize);
  const temp = opts.temperature ?? 0;
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temp <= 0) return best;
  let idx = Array.from({ length: logits.length }, (_, i) => i);
  if (opts.topK && opts.topK > 0 && opts.topK < idx.length) {
    idx.sort((a, b) => logits[b] - logits[a]);
    idx = idx.slice(0, opts.topK);
  }
  const max = logits[best];
  let probs = idx.map((i) => Math.exp((logits[i] - max) / temp));
  let z = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / z);
  const topP = opts.topP ?? 1;
  if (topP < 1) {
    const order = probs.map((_, j) => j).sort((a, b) => probs[b] - probs[a]);
    const keep: number[] = [];
    let acc = 0;
    for (const j of order) { keep.push(j); acc += probs[j]; if (acc >= topP) break; }
    idx = keep.map((j) => idx[j]);
    probs = keep.map((j) => probs[j]);
    z = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / z);
  }
  let r = rng.uniform();
  for (let j = 0; j < probs.length; j++) { r -= probs[j]; if (r < 0) return idx[j]; }
  return idx[idx.length - 1];
}

/**
 * Generates after `promptIds`. `decode` turns ids into text (for stop strings and the result). `onToken` is called
 * with each emitted id (streaming).
 */
export function generate(
  model: LlamaModel, gemm: Gemm, promptIds: readonly number[], decode: (ids: number[]) => string,
  opts: SamplingOptions = {}, onToken?: (id: number) => void,
): GenerateResult {
  const maxTokens = opts.maxTokens ?? 128;
  if (promptIds.length === 0) throw new Error('generate: the prompt is empty');
  const capacity = model.promptLength + promptIds.length + maxTokens;
  const ctx: Ctx = { gemm, tape: null, rng: new Rng(opts.seed ?? 0), training: false };
  const rng = new Rng(opts.seed ?? 0);
  const cache = model.newCache(capacity);
  const stopIds = new Set(opts.stopIds ?? []);
  const out: number[] = [];
  let logits = model.decode(ctx, Int32Array.from(promptIds), cache);
  let finishReason: 'stop' | 'length' = 'length';
  let text = '';
  while (out.length < maxTokens) {
    const id = sampleToken(logits, opts, rng);
    if (stopIds.has(id)) { finishReason = 'stop'; break; }
    out.push(id);
    onToken?.(id);
    if (opts.stop?.length) {
      text = decode(out);
      const hit = opts.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0);
      if (hit.length) { text = text.slice(0, Math.min(...hit)); finishReason = 'stop'; return { ids: out, text, finishReason, promptTokens: promptIds.length }; }
    }
    if (out.length >= maxTokens || cache.len >= cache.capacity) break;
    logits = model.decode(ctx, Int32Array.from([id]), cache);
  }
  return { ids: out, text: decode(out), finishReason, promptTokens: promptIds.length };
}
