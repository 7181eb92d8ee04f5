import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { AdamW, clipGradNorm, gradNorm, lrAt, type LrScheduleOptions } from '../../src/engine/optim.ts';

function param(name: string, values: number[], shape: number[] = [values.length]): Tensor {
  return new Tensor(Float32Array.from(values), shape, true, name);
}

function close(a: number, b: number, tol: number, what = ''): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
}

test('AdamW: hand-computed two steps, without and with weight decay', () => {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8; p0 = 1; gradients 0.5 then -1.
  // Step 1: m = 0.05, v = 0.00025; m^ = 0.05 / 0.1 = 0.5, v^ = 0.00025 / 0.001 = 0.25;
  //         p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002.
  // Step 2: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975;
  //         m^ = -0.055 / 0.19 = -0.28947368, sqrt(v^) = sqrt(0.00124975 / 0.001999) = 0.79068811;
  //         p = 0.900000002 + 0.1 * 0.28947368 / (0.79068811 + 1e-8) = 0.93661035.
  // With decoupled weight decay 0.1 (a 2-D parameter): p is first multiplied by 1 - 0.1 * 0.1 = 0.99:
  //         step 1: 0.99 - 0.1 = 0.890000002; step 2: 0.890000002 * 0.99 + 0.0366103542 = 0.91771035.
  const a = param('a', [1]);
  const b = param('b', [1], [1, 1]);
  const opt = new AdamW([a, b], { lr: 0.1, weightDecay: 0.1 });
  assert.deepEqual(opt.paramGroups().map((g) => g.weightDecay), [0, 0.1]); // 1-D: no decay; 2-D: decay
  for (const [g, wantA, wantB] of [[0.5, 0.900000002, 0.890000002], [-1, 0.9366103542405654, 0.9177103542205653]]) {
    a.ensureGrad()[0] = g;
    b.ensureGrad()[0] = g;
    opt.step();
    close(a.data[0], wantA, 1e-7, 'no decay');
    close(b.data[0], wantB, 1e-7, 'decay');
  }
  assert.equal(opt.stepCount, 2);
});

/** PyTorch's _single_tensor_adamw, op by op, each tensor op rounded to float32 as torch does. */
function torchAdamW(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, step: number,
  lr: number, b1: number, b2: number, eps: number, wd: number): void {
  const f = Math.fround;
  for (let i = 0; i < p.length; i++) p[i] = f(p[i] * f(1 - lr * wd)); // param.mul_(1 - lr * weight_decay)
  for (let i = 0; i < p.length; i++) m[i] = f(m[i] + f(f(1 - b1) * f(g[i] - m[i]))); // exp_avg.lerp_(grad, 1 - beta1)
  for (let i = 0; i < p.length; i++) v[i] = f(f(v[i] * b2) + f(f(g[i] * g[i]) * f(1 - b2))); // mul_(beta2).addcmul_(g, g, 1 - beta2)
  const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
  const stepSize = lr / bc1, bc2Sqrt = Math.sqrt(bc2);
  for (let i = 0; i < p.length; i++) {
    const denom = f(f(f(Math.sqrt(v[i])) / f(bc2Sqrt)) + f(eps)); // (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
    p[i] = f(p[i] + f(f(-stepSize) * f(m[i] / denom))); // param.addcdiv_(exp_avg, denom, value=-step_size)
  }
}

test('AdamW matches the PyTorch update rule over many steps (weight decay, varying lr, groups)', () => {
  const rng = new Rng(1);
  const n = 257;
  const init = Float32Array.from({ length: n }, () => rng.normal());
  const w = new Tensor(init.slice(), [n, 1], true, 'w');
  const ref = { p: init.slice(), m: new Float32Array(n), v: new Float32Array(n) };
  const opt = new AdamW([{ params: [w], weightDecay: 0.05, lrScale: 2 }], { lr: 1e-3, betas: [0.8, 0.99], eps: 1e-6 });
  for (let step = 1; step <= 50; step++) {
    const g = Float32Array.from({ length: n }, () => rng.normal() * (step % 7 === 0 ? 1e-4 : 0.1));
    w.ensureGrad().set(g);
    const lr = lrAt(step - 1, { lr: 1e-3, warmupSteps: 5, totalSteps: 50, schedule: 'cosine' });
    opt.step(lr);
    torchAdamW(ref.p, g, ref.m, ref.v, step, lr * 2, 0.8, 0.99, 1e-6, 0.05);
  }
  let maxDiff = 0;
  for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs(w.data[i] - ref.p[i]) / Math.max(1, Math.abs(ref.p[i])));
  assert.ok(maxDiff < 2e-6, `max relative difference ${maxDiff}`);
  const s = opt.state();
  for (let i = 0; i < n; i++) {
    // (torch's lerp and our b1 * m + (1 - b1) * g round differently: compare at the scale of the gradients)
    close(s.m.w[i], ref.m[i], 1e-7, 'm');
    close(s.v.w[i], ref.v[i], 1e-6 * Math.max(1e-4, Math.abs(ref.v[i])), 'v');
  }
});

test('AdamW skips frozen parameters and parameters without a gradient; groups and decay predicate', () => {
  const frozen = new Tensor(new Float32Array([1, 2]), [2], false, 'frozen');
  frozen.grad = new Float32Array([1, 1]);
  const noGrad = param('noGrad', [3, 4]);
  const live = param('live', [5, 6]);
  const opt = new AdamW([frozen, noGrad, live], { lr: 0.1, decay: () => true, weightDecay: 0.5 });
  assert.deepEqual(opt.paramGroups().map((g) => g.weightDecay), [0.5, 0.5, 0.5]);
  live.ensureGrad().fill(1);
  opt.step();
  assert.deepEqual([...frozen.data], [1, 2]);
  assert.deepEqual([...noGrad.data], [3, 4]);
  assert.notDeepEqual([...live.data], [5, 6]);
  const s = opt.state();
  assert.deepEqual(Object.keys(s.m), ['live']);
  // A parameter that gets its first gradient later counts its own steps (bias correction from 1), like PyTorch.
  noGrad.ensureGrad().fill(1);
  opt.step();
  const s2 = opt.state();
  assert.deepEqual(s2.paramSteps, { live: 2, noGrad: 1 });
  assert.equal(s2.step, 2);
  close(noGrad.data[0], 3 * (1 - 0.05) - 0.1, 1e-6, 'first update of a late parameter is ~lr');
  // Names are required and unique.
  assert.throws(() => new AdamW([new Tensor(new Float32Array(1), [1], true)], { lr: 1 }), /needs a name/);
  assert.throws(() => new AdamW([param('x', [1]), param('x', [1])], { lr: 1 }), /duplicate parameter name "x"/);
  assert.throws(() => new AdamW([param('x', [1])], { lr: 1, betas: [1, 0.9] }), /betas/);
});

test('AdamW state round trip: a restored optimizer continues bit for bit; no reallocation per step', () => {
  const rng = new Rng(5);
  const mk = () => [param('w', [0.1, -0.2, 0.3, 0.4], [2, 2]), param('b', [0.5, -0.5])];
  const grads = Array.from({ length: 6 }, () => [0, 1].map((k) => Float32Array.from({ length: k ? 2 : 4 }, () => rng.normal())));
  const run = (ps: Tensor[], opt: AdamW, from: number, to: number) => {
    for (let s = from; s < to; s++) { ps.forEach((p, k) => p.ensureGrad().set(grads[s][k])); opt.step(0.01); }
  };
  const a = mk();
  const optA = new AdamW(a, { lr: 0.01 });
  run(a, optA, 0, 3);
  const live = optA.state({ copy: false });
  const saved = optA.state();
  const savedParams = a.map((p) => p.data.slice());
  run(a, optA, 3, 6);
  assert.equal(optA.state({ copy: false }).m.w, live.m.w, 'the same buffer is updated in place');
  assert.notDeepEqual(saved.m.w, live.m.w, 'state() copies by default');

  const b = mk();
  b.forEach((p, k) => p.data.set(savedParams[k]));
  const optB = new AdamW(b, { lr: 0.01 });
  optB.loadState(saved);
  assert.equal(optB.stepCount, 3);
  run(b, optB, 3, 6);
  for (let k = 0; k < 2; k++) assert.deepEqual(b[k].data, a[k].data);
  assert.deepEqual(optB.state(), optA.state());

  assert.throws(() => optB.loadState({ ...saved, m: { ...saved.m, zzz: new Float32Array(1) }, v: { ...saved.v, zzz: new Float32Array(1) } }), /unknown parameter "zzz"/);
  assert.throws(() => optB.loadState({ ...saved, m: { ...saved.m, w: new Float32Array(3) } }), /"w" has 4 values, state has m 3/);
});

test('clipGradNorm: global L2 norm, clips only above maxNorm, returns the pre-clip norm', () => {
  const a = param('a', [0, 0]), b = param('b', [0]), c = param('c', [0]);
  a.ensureGrad().set([3, 4]);
  b.ensureGrad().set([12]);
  // c has no gradient: ignored.
  assert.equal(gradNorm([a, b, c]), 13);
  assert.equal(clipGradNorm([a, b, c], 20), 13);
  assert.deepEqual([...a.grad!, ...b.grad!], [3, 4, 12]);
  assert.equal(clipGradNorm([a, b, c], 6.5), 13);
  const coef = 6.5 / (13 + 1e-6);
  assert.deepEqual([...a.grad!, ...b.grad!], [3, 4, 12].map((x) => Math.fround(x * coef)));
  close(gradNorm([a, b]), 6.5, 1e-5, 'norm after clipping');
  a.grad![0] = NaN;
  const before = [...a.grad!, ...b.grad!];
  assert.ok(Number.isNaN(clipGradNorm([a, b], 1)));
  assert.deepEqual([...a.grad!, ...b.grad!], before);
  b.grad![0] = Infinity; a.grad![0] = 0;
  assert.equal(clipGradNorm([a, b], 1), Infinity);
});

test('lrAt: warm-up, cosine / linear / constant decay, min ratio; values from the HF formulas', () => {
  const base: LrScheduleOptions = { lr: 3e-4, warmupSteps: 10, totalSteps: 110, schedule: 'cosine' };
  // Expected values computed with the Python of transformers.optimization (lambda * base lr).
  const cos: [number, number][] = [[0, 0], [1, 2.9999999999999997e-05], [5, 0.00015], [10, 0.0003], [11, 0.0002999259840548597],
    [35, 0.00025606601717798207], [60, 0.00015], [85, 4.3933982822017876e-05], [109, 7.401594514025999e-08], [110, 0]];
  const lin: [number, number][] = [[0, 0], [5, 0.00015], [10, 0.0003], [11, 0.00029699999999999996], [35, 0.000225],
    [60, 0.00015], [85, 7.5e-05], [109, 2.9999999999999997e-06], [110, 0]];
  const cosMin: [number, number][] = [[5, 0.00015], [10, 0.0003], [11, 0.0002999333856493737], [35, 0.0002604594154601839],
    [60, 0.000165], [85, 6.954058453981609e-05], [109, 3.0066614350626232e-05], [110, 2.9999999999999997e-05]];
  const eq = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 1e-15 * Math.abs(want), `${what}: ${got} vs ${want}`);
  for (const [s, want] of cos) eq(lrAt(s, base), want, `cosine ${s}`);
  for (const [s, want] of lin) eq(lrAt(s, { ...base, schedule: 'linear' }), want, `linear ${s}`);
  for (const [s, want] of cosMin) eq(lrAt(s, { ...base, minLrRatio: 0.1 }), want, `cosine min ${s}`);
  for (const s of [0, 5, 10, 60, 110, 500]) eq(lrAt(s, { ...base, schedule: 'constant' }), s < 10 ? 3e-4 * (s / 10) : 3e-4, `constant ${s}`);
  // Past the end: held at the floor (HF's cosine would rise again).
  assert.equal(lrAt(150, base), 0);
  eq(lrAt(150, { ...base, minLrRatio: 0.1 }), 3e-5, 'floor');
  assert.equal(lrAt(150, { ...base, schedule: 'linear' }), 0);
  // No warm-up: the first step already has the full rate.
  assert.equal(lrAt(0, { ...base, warmupSteps: 0 }), 3e-4);
  // Monotone decay after warm-up.
  for (let s = 10; s < 110; s++) assert.ok(lrAt(s + 1, base) <= lrAt(s, base));
  assert.throws(() => lrAt(1, { ...base, schedule: 'step' as never }), /unknown schedule/);
  assert.throws(() => lrAt(1, { ...base, minLrRatio: 2 }), RangeError);
});
