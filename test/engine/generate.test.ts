/**
 * Generation: greedy is the argmax; sampling is reproducible for a seed and respects top-k / top-p; stop ids and
 * stop strings end generation; the token budget is honoured; throughput is counted as the llama.cpp backend counts it
 * (the decode steps are the forward passes after the prefill).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate, generationRates, sampleToken } from '../../src/engine/generate.ts';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { Rng } from '../../src/engine/rng.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import { TINY } from './fixtures.ts';

const logits = Float32Array.from([0.1, 2.0, 1.9, -1, 0.5]);

test('greedy picks the argmax', () => {
  assert.equal(sampleToken(logits, {}, new Rng(1)), 1);
  assert.equal(sampleToken(logits, { temperature: 0 }, new Rng(1)), 1);
});

test('top-k 2 only ever draws the two best; top-p keeps the smallest set over p', () => {
  const seen = new Set<number>();
  const rng = new Rng(2);
  for (let i = 0; i < 500; i++) seen.add(sampleToken(logits, { temperature: 1, topK: 2 }, rng));
  assert.deepEqual([...seen].sort(), [1, 2]);
  // p(1) ~ 0.42, p(2) ~ 0.38: top-p 0.4 keeps token 1 alone.
  for (let i = 0; i < 100; i++) assert.equal(sampleToken(logits, { temperature: 1, topP: 0.4 }, rng), 1);
});

test('sampling frequencies follow the softmax at the temperature', () => {
  const rng = new Rng(3), counts = new Array(5).fill(0), n = 20000;
  for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 0.7 }, rng)]++;
  const z = [...logits].map((l) => Math.exp(l / 0.7)), s = z.reduce((a, b) => a + b, 0);
  z.forEach((p, i) => assert.ok(Math.abs(counts[i] / n - p / s) < 0.02, `token ${i}: ${counts[i] / n} vs ${p / s}`));
});

test('generate: reproducible for a seed, budget, stop ids and stop strings', () => {
  const model = LlamaModel.init(TINY, 3), gemm = referenceGemm();
  const decode = (ids: number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');
  const a = generate(model, gemm, [1, 2, 3], decode, { temperature: 1, seed: 7, maxTokens: 12 });
  const b = generate(model, gemm, [1, 2, 3], decode, { temperature: 1, seed: 7, maxTokens: 12 });
  const c = generate(model, gemm, [1, 2, 3], decode, { temperature: 1, seed: 8, maxTokens: 12 });
  assert.deepEqual(a.ids, b.ids);
  assert.notDeepEqual(a.ids, c.ids);
  assert.equal(a.ids.length, 12);
  assert.equal(a.finishReason, 'length');
  const stopAt = a.ids[4];
  const s = generate(model, gemm, [1, 2, 3], decode, { temperature: 1, seed: 7, maxTokens: 12, stopIds: [stopAt] });
  assert.equal(s.finishReason, 'stop');
  assert.ok(!s.ids.includes(stopAt));
  const needle = a.text.slice(5, 7);
  const t = generate(model, gemm, [1, 2, 3], decode, { temperature: 1, seed: 7, maxTokens: 12, stop: [needle] });
  assert.equal(t.finishReason, 'stop');
  assert.equal(t.text, a.text.slice(0, a.text.indexOf(needle)));
});

test('generation rates: prefill tokens over the prefill, the tokens after the first over the decode time', () => {
  assert.deepEqual(generationRates({ promptTokens: 256, generated: 64, prefillMs: 512, decodeMs: 630 }), { prefillTokS: 500, genTokS: 100, decodeTokens: 63 });
  // ended by a stop token: the step that made it counts
  assert.deepEqual(generationRates({ promptTokens: 10, generated: 9, stopped: true, prefillMs: 100, decodeMs: 90 }), { prefillTokS: 100, genTokS: 100, decodeTokens: 9 });
  assert.deepEqual(generationRates({ promptTokens: 10, generated: 1, prefillMs: 100, decodeMs: 0.01 }), { prefillTokS: 100, genTokS: 0, decodeTokens: 0 });
  assert.deepEqual(generationRates({ promptTokens: 10, generated: 0, stopped: true, prefillMs: 100, decodeMs: 0 }), { prefillTokS: 100, genTokS: 0, decodeTokens: 0 });
});

test('generate reports its prefill and decode times; the decode tokens counted are its forward passes after the prefill', () => {
  const model = LlamaModel.init(TINY, 3), gemm = referenceGemm();
  const decode = (ids: number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');
  let passes = 0;
  const forward = model.decode.bind(model);
  model.decode = ((...a: Parameters<typeof forward>) => { passes++; return forward(...a); }) as typeof model.decode;
  const run = (maxTokens: number, stopIds?: number[]) => {
    passes = 0;
    const g = generate(model, gemm, [1, 2, 3], decode, { temperature: 1, seed: 7, maxTokens, stopIds });
    assert.ok(g.prefillMs >= 0 && g.decodeMs >= 0, `${g.prefillMs} ms, ${g.decodeMs} ms`);
    const r = generationRates({ promptTokens: g.promptTokens, generated: g.ids.length, stopped: g.finishReason === 'stop', prefillMs: g.prefillMs, decodeMs: g.decodeMs });
    assert.equal(r.decodeTokens, passes - 1, `${g.ids.length} tokens (${g.finishReason}): ${passes} forward passes`);
    return g;
  };
  const full = run(12);
  assert.equal(full.ids.length, 12);
  const stopped = run(12, [full.ids[5]]);
  assert.equal(stopped.finishReason, 'stop');
  assert.equal(run(1).ids.length, 1);
});
