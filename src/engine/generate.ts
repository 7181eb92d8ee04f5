/**
 * Text generation for the engine's own models: greedy or sampled decoding (temperature, top-k, top-p, seed),
 * stop strings and stop tokens, a token budget, over a KV cache. Sampling is deterministic for a seed.
 * (Serving large models is llama.cpp's job; this is for small models, tests and the demo.)
 */
import { Rng } from './rng.ts';
import type { Ctx } from './tensor.ts';
import type { Gemm } from './gemm/gemm-seam.ts';
import type { LlamaModel } from './llama-model.ts';

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
  /** The prompt's forward pass and the choice of the first token (as the llama.cpp backend measures it). */
  prefillMs: number;
  /** Everything after: one forward pass per further token (`ids.length - 1` of them when the budget ends it). */
  decodeMs: number;
}

/** One generation's counts and times, as both the engine and the llama.cpp backend report them. */
export interface GenerationTiming {
  promptTokens: number;
  /** Tokens generated (the prompt not included, a stop token not included). */
  generated: number;
  /** Ended by a stop token (which a decode step made too) rather than by the budget. */
  stopped?: boolean;
  prefillMs: number;
  decodeMs: number;
}

/**
 * Throughput of one generation, counted alike for every backend: prefill = prompt tokens per second of the prefill
 * (whose last forward pass also gives the first generated token); generation = the tokens the decode steps made
 * (every generated token but the first, plus the stop token that ended it, if one did) per second of decoding.
 * 0 when there was nothing to count.
 */
export function generationRates(t: GenerationTiming): { prefillTokS: number; genTokS: number; decodeTokens: number } {
  const decodeTokens = Math.max(0, t.generated - 1 + (t.stopped && t.generated > 0 ? 1 : 0));
  return {
    prefillTokS: t.prefillMs > 0 ? t.promptTokens / (t.prefillMs / 1000) : 0,
    genTokS: decodeTokens > 0 && t.decodeMs > 0 ? decodeTokens / (t.decodeMs / 1000) : 0,
    decodeTokens,
  };
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
  const t0 = performance.now();
  let t1 = t0;
  let logits = model.decode(ctx, Int32Array.from(promptIds), cache);
  let finishReason: 'stop' | 'length' = 'length';
  let text = '';
  const timing = () => ({ promptTokens: promptIds.length, prefillMs: (out.length ? t1 : performance.now()) - t0, decodeMs: out.length ? performance.now() - t1 : 0 });
  while (out.length < maxTokens) {
    const id = sampleToken(logits, opts, rng);
    if (out.length === 0) t1 = performance.now();
    if (stopIds.has(id)) { finishReason = 'stop'; break; }
    out.push(id);
    onToken?.(id);
    if (opts.stop?.length) {
      text = decode(out);
      const hit = opts.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0);
      if (hit.length) { const times = timing(); text = text.slice(0, Math.min(...hit)); return { ids: out, text, finishReason: 'stop', ...times }; }
    }
    if (out.length >= maxTokens || cache.len >= cache.capacity) break;
    logits = model.decode(ctx, Int32Array.from([id]), cache);
  }
  const times = timing(); // before the text is decoded, as the llama.cpp backend measures
  return { ids: out, text: decode(out), finishReason, ...times };
}
