/**
 * Preference training: DPO, ORPO and SimPO losses against central finite differences in float64, the per-sequence
 * log-prob op against a float64 reference, and DPO end to end raising the chosen-vs-rejected margin and the reward
 * accuracy on held-out pairs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, Tape, type Ctx } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import { preferenceLoss, preferencePair, type PreferenceConfig, type PreferencePair } from '../../src/engine/preference.ts';
import { sequenceLogProbs } from '../../src/engine/ops/sequence.ts';
import { IGNORE_INDEX } from '../../src/engine/ops/loss.ts';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { train, preferenceObjective, referenceLogps } from '../../src/engine/train.ts';
import { createGemm } from '../../src/engine/gemm/create-gemm.ts';
import { trainBpe, encodeChat, CHATML_SPECIAL_TOKENS } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import { preferences } from '../../src/demo/demo-datasets.ts';

const ctx = (): Ctx => ({ gemm: referenceGemm(), tape: new Tape(), rng: new Rng(0), training: false });

for (const cfg of [{ loss: 'dpo' }, { loss: 'dpo', beta: 0.5 }, { loss: 'orpo', lambda: 0.3 }, { loss: 'simpo', beta: 2, gamma: 0.4 }] as PreferenceConfig[]) {
  test(`${cfg.loss} loss gradient matches finite differences (${JSON.stringify(cfg)})`, () => {
    const rng = new Rng(4), P = 3;
    const lp = Float64Array.from({ length: 2 * P }, () => -1 - rng.uniform() * 20);
    const counts = Int32Array.from({ length: 2 * P }, () => 1 + rng.int(12));
    const ref = Float64Array.from({ length: 2 * P }, () => -1 - rng.uniform() * 20);
    const c = ctx();
    const t = new Tensor(Float32Array.from(lp), [2 * P], true);
    const { loss } = preferenceLoss(c, t, counts, cfg, ref);
    c.tape!.backward(loss);
    const f = (x: Float64Array) => preferenceLoss({ ...ctx(), tape: null }, new Tensor(Float32Array.from(x), [2 * P]), counts, cfg, ref).stats.loss;
    for (let i = 0; i < 2 * P; i++) {
      const h = 1e-2, xp = lp.slice(), xm = lp.slice();
      xp[i] += h; xm[i] -= h;
      const num = (f(xp) - f(xm)) / (2 * h);
      assert.ok(Math.abs(num - t.grad![i]) < 1e-4 + 1e-3 * Math.abs(num), `d/dlogp[${i}]: ${t.grad![i]} vs ${num}`);
    }
  });
}

test('sequence log-probs: sums of log-softmax at the labels, and their gradient', () => {
  const rng = new Rng(5), B = 2, T = 3, V = 4;
  const x = Float64Array.from({ length: B * T * V }, () => rng.normal());
  const labels = Int32Array.from([1, IGNORE_INDEX, 3, 0, 2, IGNORE_INDEX]);
  const f = (x: Float64Array) => {
    const out = [0, 0];
    for (let n = 0; n < B * T; n++) {
      if (labels[n] === IGNORE_INDEX) continue;
      const row = Array.from(x.subarray(n * V, n * V + V)), m = Math.max(...row);
      out[Math.floor(n / T)] += row[labels[n]] - m - Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    }
    return out;
  };
  const c = ctx(), logits = new Tensor(Float32Array.from(x), [B * T, V], true);
  const { logps, counts } = sequenceLogProbs(c, logits, labels, B);
  assert.deepEqual([...counts], [2, 2]);
  f(x).forEach((v, b) => assert.ok(Math.abs(v - logps.data[b]) < 1e-5));
  logps.grad = Float32Array.from([0.7, -1.3]);
  c.tape!.replay();
  for (let i = 0; i < x.length; i++) {
    const xp = x.slice(), xm = x.slice(); xp[i] += 1e-6; xm[i] -= 1e-6;
    const [ap, bp] = f(xp), [am, bm] = f(xm);
    const num = (0.7 * (ap - am) - 1.3 * (bp - bm)) / 2e-6;
    assert.ok(Math.abs(num - logits.grad![i]) < 1e-4, `logit ${i}: ${logits.grad![i]} vs ${num}`);
  }
});

// Brush-offs of the same kind as the training set's rude answers, in words it never uses: the held-out pairs reject
// these, so the held-out reward accuracy measures the preference learned, not strings seen in training.
const HELD_OUT_RUDE = {
  zh: ['这个我不管，你找别人去。', '自己上网搜，别烦我。', '没空，回头再说吧。', '问这么多干嘛，去翻手册。', '不清楚，别再来问了。'],
  en: ["Don't bother me with this.", 'Go read the handbook, not my job.', 'No clue. Figure it out alone.', 'Stop asking me; search online.', 'Ask somebody who cares.'],
};

test('DPO raises the margin and the reward accuracy on held-out pairs: prompts, chosen and rejected answers never trained on', async () => {
  const data = preferences(0);
  // Hold out whole items: every fourth distinct answer, with all its questions, is never trained on.
  const answer = (r: (typeof data.train)[number]) => r.preferred_output[0].content;
  const answers = [...new Set([...data.train, ...data.val].map(answer))].sort();
  const heldAnswers = new Set(answers.filter((_, i) => i % 4 === 0));
  const trainRows = data.train.filter((r) => !heldAnswers.has(answer(r))).slice(0, 160);
  const seen = new Set<string>();
  const heldRows = [...data.val, ...data.train].filter((r) => heldAnswers.has(answer(r)) && !seen.has(answer(r)) && seen.add(answer(r))).slice(0, 48).map((r, i) => {
    const zh = /[\u4e00-\u9fff]/.test(answer(r));
    return { ...r, non_preferred_output: [{ role: 'assistant' as const, content: HELD_OUT_RUDE[zh ? 'zh' : 'en'][i % 5] }] };
  });
  const trainTexts = trainRows.flatMap((r) => [...r.input.messages.map((m) => m.content), answer(r), r.non_preferred_output[0].content]);
  const trainText = new Set(trainTexts);
  assert.ok(heldRows.length >= 32, `${heldRows.length} held-out pairs: too few to measure accuracy`);
  for (const r of heldRows) {
    assert.ok(!trainText.has(r.input.messages.at(-1)!.content), `held-out prompt trained on: ${r.input.messages.at(-1)!.content}`);
    assert.ok(!trainText.has(answer(r)), `held-out chosen answer trained on: ${answer(r)}`);
    assert.ok(!trainText.has(r.non_preferred_output[0].content), `held-out rejected answer trained on: ${r.non_preferred_output[0].content}`);
  }

  const tok = trainBpe(trainTexts, { vocabSize: 600, specialTokens: [...CHATML_SPECIAL_TOKENS], eos: '<|im_end|>', pad: '<|endoftext|>' } as Parameters<typeof trainBpe>[1]);
  const encode = (m: Parameters<typeof encodeChat>[1]) => encodeChat(tok, m);
  const toPairs = (rows: typeof data.train) => rows.map((r) => preferencePair(encode, r.input.messages, answer(r), r.non_preferred_output[0].content, 96)).filter((p): p is PreferencePair => p !== null);
  const trainPairs = toPairs(trainRows), heldPairs = toPairs(heldRows);
  assert.equal(heldPairs.length, heldRows.length);
  const gemm = await createGemm();
  const model = LlamaModel.init({ vocabSize: tok.vocabSize, hiddenSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 96, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 128 }, 1);
  model.applyMethod({ type: 'lora', rank: 8, alpha: 16, targets: ['all'] }, 2);
  const padId = tok.padId!;
  referenceLogps(model, gemm, trainPairs, 16, padId);
  referenceLogps(model, gemm, heldPairs, 16, padId);
  const objective = preferenceObjective({ loss: 'dpo', beta: 0.1 }, padId);
  const before = objective.evaluate(model, gemm, heldPairs, 16);
  await train({ model, train: trainPairs, objective, gemm, config: { batchSize: 8, epochs: 3, lr: 5e-3, warmupSteps: 5, seed: 1, padId, evalEvery: 0 } });
  const after = objective.evaluate(model, gemm, heldPairs, 16);
  process.stdout.write(`# held-out pairs (${heldPairs.length}): reward margin ${after.metrics!.reward_margin.toFixed(3)}, accuracy ${after.metrics!.reward_accuracy.toFixed(3)}, loss ${before.loss.toFixed(3)} -> ${after.loss.toFixed(3)}\n`);
  assert.equal(before.metrics!.reward_margin, 0, 'the model starts as its own reference');
  assert.ok(after.metrics!.reward_margin > 0.05, `margin ${after.metrics!.reward_margin}`);
  // Before training every reward is 0, so the accuracy is 0.
  assert.ok(after.metrics!.reward_accuracy >= 0.75, `reward accuracy ${after.metrics!.reward_accuracy}`);
  assert.ok(after.loss < before.loss, `held-out loss ${before.loss} -> ${after.loss}`);
  gemm.close();
});

test('DPO trains under every method (full, freeze, LoRA, QLoRA, prefix, prompt): the margin on its pairs rises, the base stays put', async () => {
  const data = preferences(0);
  const rows = data.train.slice(0, 24);
  const texts = rows.flatMap((r) => [...r.input.messages.map((m) => m.content), r.preferred_output[0].content, r.non_preferred_output[0].content]);
  const tok = trainBpe(texts, { vocabSize: 400, specialTokens: [...CHATML_SPECIAL_TOKENS], eos: '<|im_end|>', pad: '<|endoftext|>' } as Parameters<typeof trainBpe>[1]);
  const encode = (m: Parameters<typeof encodeChat>[1]) => encodeChat(tok, m);
  const gemm = await createGemm();
  const padId = tok.padId!;
  const methods = [
    { type: 'full' }, { type: 'freeze', trainableLayers: 1 }, { type: 'lora', rank: 4, alpha: 8, targets: ['all'] },
    { type: 'qlora', rank: 4, alpha: 8, targets: ['all'] }, { type: 'prefix', numVirtualTokens: 4 }, { type: 'prompt', numVirtualTokens: 4 },
  ] as const;
  // The model is random, not pretrained: a few virtual tokens (prefix, prompt) steer it only a little, so for those
  // the check is the direction (margin up, loss down), for the others a clear rise.
  for (const method of methods) {
    const pairs = rows.map((r) => preferencePair(encode, r.input.messages, r.preferred_output[0].content, r.non_preferred_output[0].content, 80)).filter((p): p is PreferencePair => p !== null);
    const model = LlamaModel.init({ vocabSize: tok.vocabSize, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 128 }, 3);
    model.applyMethod(method as never, 2);
    const frozen = [...model.params].filter(([, t]) => !t.requiresGrad).map(([n, t]) => [n, t.data.slice()] as const);
    referenceLogps(model, gemm, pairs, 8, padId);
    const objective = preferenceObjective({ loss: 'dpo', beta: 0.1 }, padId);
    const before = objective.evaluate(model, gemm, pairs, 8);
    await train({ model, train: pairs, val: pairs, objective, gemm, config: { batchSize: 8, epochs: method.type === 'prefix' || method.type === 'prompt' ? 8 : 4, lr: method.type === 'full' || method.type === 'freeze' ? 3e-3 : method.type === 'prefix' || method.type === 'prompt' ? 5e-2 : 1e-2, warmupSteps: 2, seed: 1, padId, evalEvery: 0 } });
    const after = objective.evaluate(model, gemm, pairs, 8);
    assert.ok(after.metrics!.reward_margin > before.metrics!.reward_margin + (method.type === 'prefix' || method.type === 'prompt' ? 1e-3 : 0.02), `${method.type}: margin ${before.metrics!.reward_margin} -> ${after.metrics!.reward_margin}`);
    assert.ok(after.loss < before.loss, `${method.type}: loss ${before.loss} -> ${after.loss}`);
    for (const [n, d] of frozen) assert.deepEqual(model.params.get(n)!.data, d, `${method.type}: frozen ${n} changed`);
  }
  gemm.close();
});
