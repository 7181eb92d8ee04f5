import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DualEncoder, infoNce, trainContrastive, type Bag } from '../../src/engine/dual-encoder.ts';
import { Rng } from '../../src/engine/rng.ts';

const bag = (ids: number[], weights?: number[]): Bag => ({ ids: Int32Array.from(ids), weights: Float32Array.from(weights ?? ids.map(() => 1)) });

test('the contrastive loss gradients agree with finite differences (embedding and projection)', () => {
  const enc = DualEncoder.init({ vocab: 11, dims: 4 }, 7);
  // perturb the projection away from the identity so its gradient is general
  const rng = new Rng(3);
  for (let i = 0; i < enc.projection.data.length; i++) enc.projection.data[i] += 0.3 * rng.normal();
  const qs = [bag([1, 2, 3], [1, 0.5, 2]), bag([4, 5]), bag([6, 1, 1])];
  const ps = [bag([1, 2, 7]), bag([4, 8, 9], [0.3, 1, 1]), bag([6, 10]), bag([3, 5, 9])];
  const positive = [0, 1, 2];
  const tau = 0.5;
  enc.embedding.zeroGrad(); enc.projection.zeroGrad();
  enc.contrastive(qs, ps, positive, tau, true);
  const grads = [enc.embedding.grad!.slice(), enc.projection.grad!.slice()];
  const eps = 1e-2;
  let checked = 0;
  for (const [t, g] of [[enc.embedding, grads[0]!], [enc.projection, grads[1]!]] as const) {
    for (let i = 0; i < t.data.length; i++) {
      const keep = t.data[i]!;
      t.data[i] = keep + eps; const up = enc.contrastive(qs, ps, positive, tau, false);
      t.data[i] = keep - eps; const down = enc.contrastive(qs, ps, positive, tau, false);
      t.data[i] = keep;
      const num = (up - down) / (2 * eps);
      assert.ok(Math.abs(num - g[i]!) <= 2e-3 + 2e-2 * Math.abs(num), `${t.name}[${i}]: analytic ${g[i]} vs numeric ${num}`);
      if (Math.abs(num) > 1e-3) checked++;
    }
  }
  assert.ok(checked > 20, `only ${checked} gradients were non-trivial`);
  // rows of the embedding no bag uses get no gradient
  assert.deepEqual([...grads[0]!.subarray(0, 4)], [0, 0, 0, 0]);
});

test('infoNce: the loss is log(D) for identical logits and small when each question points at its passage', () => {
  const d = 2;
  const same = infoNce(new Float32Array([1, 0, 1, 0]), new Float32Array([0, 1, 0, 1, 0, 1]), 2, 3, d, [0, 2], 1);
  assert.ok(Math.abs(same.loss - Math.log(3)) < 1e-9);
  const aligned = infoNce(new Float32Array([1, 0, 0, 1]), new Float32Array([1, 0, 0, 1]), 2, 2, d, [0, 1], 0.05);
  assert.ok(aligned.loss < 1e-6);
  assert.throws(() => infoNce(new Float32Array(2), new Float32Array(2), 1, 1, d, [3], 1), /positive\[0\] = 3/);
});

test('training separates passages that share words, and is deterministic for a seed', () => {
  // two "articles" share most tokens; a question's distinguishing token is rare in the passage
  const passages = [bag([0, 1, 2, 3, 10]), bag([0, 1, 2, 3, 20]), bag([4, 5, 6, 30])];
  const questions = [bag([10, 0]), bag([11, 10]), bag([20, 1]), bag([21, 20]), bag([30, 4]), bag([31, 30])];
  const data = { questions, passages, positive: [0, 0, 1, 1, 2, 2], hard: [[1], [1], [0], [0], [0], [0]] };
  const opts = { epochs: 60, batch: 3, lr: 0.05, tau: 0.1, weightDecay: 0, hardPerQuestion: 1, warmupSteps: 2, seed: 5 };
  const a = DualEncoder.init({ vocab: 40, dims: 8 }, 1), b = DualEncoder.init({ vocab: 40, dims: 8 }, 1);
  const curve = trainContrastive(a, data, opts);
  trainContrastive(b, data, opts);
  assert.deepEqual(a.params, b.params);
  assert.ok(curve.at(-1)! < curve[0]! * 0.5, `loss ${curve[0]} -> ${curve.at(-1)}`);
  // an unseen combination: token 11 was only seen with 10 in questions of passage 0
  const q = a.encode(bag([11]));
  const p = a.encodeAll(passages);
  const score = (j: number) => q.reduce((s, v, k) => s + v * p[j * 8 + k]!, 0);
  assert.ok(score(0) > score(1) && score(0) > score(2), `scores ${score(0)} ${score(1)} ${score(2)}`);
  assert.deepEqual([...a.encode(bag([]))], new Array(8).fill(0));
});
