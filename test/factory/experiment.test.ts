/** Experiment planning: the grid, rejected combinations with reasons, duplicates, names, estimates. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planExperiment, planFollowUps, modelSuffix, ExperimentError, METHOD_LR, type ExperimentSpec } from '../../src/factory/experiment.ts';

const config = { vocabSize: 1000, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 128, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 128 };

function spec(over: Partial<ExperimentSpec> = {}): ExperimentSpec {
  return {
    name: 'grid', stage: 'sft',
    baseModels: ['a', 'b', 'c'].map((n) => ({ name: n, ref: { kind: 'engine', path: `/m/${n}` }, config })),
    datasets: ['x', 'y', 'z'].map((n) => ({ name: n, train: { path: `/d/${n}.jsonl`, kind: 'sft' }, rows: 400, meanTokens: 60 })),
    methods: [{ spec: { type: 'full' } }, { spec: { type: 'lora', rank: 8, alpha: 16 } }, { spec: { type: 'prefix', numVirtualTokens: 8 } }],
    hyperparameters: { batchSize: 8, seqLen: 128, lr: 1e-3, epochs: 1 },
    ...over,
  };
}

test('3 x 3 x 3 expands to 27 named jobs with estimates', () => {
  const p = planExperiment(spec());
  assert.equal(p.jobs.length, 27);
  assert.equal(p.rejected.length, 0);
  assert.equal(new Set(p.jobs.map((j) => j.name)).size, 27);
  assert.ok(p.jobs.some((j) => j.name === 'b x y x lora-r8'));
  for (const j of p.jobs) {
    assert.equal(j.estimate.steps, 50);
    assert.equal(j.estimate.tokens, 50 * 8 * 60);
    assert.ok(j.estimate.seconds > 0 && j.estimate.resources.memoryMB > 0);
  }
  const full = p.jobs.find((j) => j.methodName === 'full')!, lora = p.jobs.find((j) => j.methodName === 'lora-r8')!;
  assert.ok(lora.estimate.trainableParams < full.estimate.trainableParams / 10);
  assert.ok(lora.estimate.seconds < full.estimate.seconds);
});

test('invalid combinations are rejected with a reason; the rest still run', () => {
  const s = spec({
    stage: 'dpo',
    datasets: [{ name: 'prefs', train: { path: '/d/p.jsonl', kind: 'preference' } }, { name: 'chats', train: { path: '/d/c.jsonl', kind: 'sft' } }],
    baseModels: [{ name: 'q4', ref: { kind: 'gguf', path: '/m/q4.gguf' }, quantized: true, config }],
    methods: [{ spec: { type: 'qlora', rank: 4, alpha: 8 } }, { spec: { type: 'full', rank: 8 } as never }, { spec: { type: 'lora', rank: 4, alpha: 8 } }],
  });
  const p = planExperiment(s);
  assert.deepEqual(p.jobs.map((j) => j.name), ['q4 x prefs x lora-r4']);
  const reasons = p.rejected.map((r) => `${r.name}: ${r.reason}`).join('\n');
  assert.match(reasons, /q4 x chats x .*DPO needs a preference dataset, but chats is a sft dataset/);
  assert.match(reasons, /QLoRA quantizes the base to 4 bits, but q4 is already quantized/);
  assert.match(reasons, /rank is a LoRA option, but the method is full/);
});

test('sweeps and seeds multiply; duplicates are skipped', () => {
  const s = spec({ baseModels: [spec().baseModels[0]], datasets: [spec().datasets[0]], methods: [{ spec: { type: 'lora', rank: 8, alpha: 16 } }, { spec: { type: 'lora', rank: 8, alpha: 16, targets: ['q', 'v'] } }], sweep: { lr: [1e-3, 3e-3] }, seeds: [1, 2] });
  const p = planExperiment(s);
  assert.equal(p.jobs.length, 4);
  assert.equal(p.duplicates, 4);
  assert.ok(p.jobs.some((j) => j.name === 'a x x x lora-r8 x lr=0.003 x seed=2'));
});

test('every swept value reaches its job: defaults < method lr < the experiment\'s values < the sweep point', () => {
  const one = { baseModels: [spec().baseModels[0]], datasets: [spec().datasets[0]] };
  // nothing given: the method's own learning rate, and the defaults
  const byMethod = planExperiment(spec({ ...one, hyperparameters: {} }));
  for (const j of byMethod.jobs) {
    assert.equal(j.hyperparameters.lr, METHOD_LR[j.method.type], j.name);
    assert.equal(j.hyperparameters.batchSize, 16);
    assert.equal(j.hyperparameters.seqLen, 128);
  }
  // the experiment's value wins over the method's
  const given = planExperiment(spec({ ...one, hyperparameters: { lr: 5e-4, batchSize: 4, seqLen: 64 } }));
  assert.deepEqual(given.jobs.map((j) => j.hyperparameters.lr), [5e-4, 5e-4, 5e-4]);
  // the sweep point wins over both, for every method and any hyperparameter
  const swept = planExperiment(spec({ ...one, hyperparameters: { lr: 5e-4, batchSize: 4, seqLen: 64 }, sweep: { lr: [1e-3, 3e-3], batchSize: [2, 8] } }));
  assert.equal(swept.jobs.length, 3 * 4);
  assert.equal(swept.duplicates, 0);
  for (const j of swept.jobs) {
    const [, lr, bs] = /lr=([\d.e-]+) x batchSize=(\d+)$/.exec(j.name) ?? [];
    assert.ok(lr && bs, j.name);
    assert.equal(j.hyperparameters.lr, Number(lr), j.name);
    assert.equal(j.hyperparameters.batchSize, Number(bs), j.name);
    assert.equal(j.hyperparameters.seqLen, 64);
  }
  assert.ok(swept.jobs.some((j) => j.name === 'a x x x lora-r8 x lr=0.003 x batchSize=8'));
  // names and model suffixes tell every sweep point apart
  assert.equal(new Set(swept.jobs.map((j) => j.name)).size, 12);
  assert.equal(new Set(swept.jobs.map((j) => modelSuffix(j, false))).size, 12);
  assert.equal(modelSuffix(swept.jobs.find((j) => j.name === 'a x x x lora-r8 x lr=0.003 x batchSize=8')!, false), 'lora-r8-lr0.003-batchSize8');
  // seeds too
  const seeded = planExperiment(spec({ ...one, methods: [{ spec: { type: 'full' } }], seeds: [3, 4] }));
  assert.deepEqual(seeded.jobs.map((j) => [j.name, j.seed, modelSuffix(j, true)]), [['a x x x full x seed=3', 3, 'full-seed3'], ['a x x x full x seed=4', 4, 'full-seed4']]);
});

test('two different methods never share a name; a later stage inherits its parent\'s sweep point', () => {
  const one = { baseModels: [spec().baseModels[0]], datasets: [spec().datasets[0]] };
  const p = planExperiment(spec({ ...one, methods: [{ spec: { type: 'lora', rank: 8, alpha: 16 } }, { spec: { type: 'lora', rank: 8, alpha: 16, targets: ['all'] } }, { spec: { type: 'lora', rank: 8, alpha: 16, targets: ['v', 'q'] } }] }));
  assert.deepEqual(p.jobs.map((j) => j.name), ['a x x x lora-r8', 'a x x x lora-r8-2']);
  assert.equal(p.duplicates, 1);
  // options left out take the defaults: rank 8, alpha twice the rank, 16 virtual tokens
  const bare = planExperiment(spec({ ...one, methods: [{ spec: { type: 'lora' } as never }, { spec: { type: 'prefix' } as never }] }));
  assert.deepEqual(bare.jobs.map((j) => [j.name, j.method]), [
    ['a x x x lora-r8', { type: 'lora', rank: 8, alpha: 16, dropout: 0, targets: ['q', 'v'], rslora: false }], ['a x x x prefix-16', { type: 'prefix', numVirtualTokens: 16 }],
  ]);
  assert.throws(() => planExperiment(spec({ ...one, methods: [{ name: 'm', spec: { type: 'full' } }, { name: 'm', spec: { type: 'lora', rank: 4, alpha: 8 } }] })), /methods\[1\]\.name: "m" is the name of another method/);

  const sft = planExperiment(spec({ ...one, methods: [{ spec: { type: 'lora', rank: 8, alpha: 16 } }], hyperparameters: { epochs: 2, batchSize: 8, seqLen: 64 }, sweep: { lr: [1e-3, 3e-3] } }));
  const prefs = { name: 'prefs', train: { path: '/d/p.jsonl', kind: 'preference' as const } };
  const later = planFollowUps(sft.jobs, [{ stage: 'dpo', datasets: [prefs], hyperparameters: { epochs: 1 } }]);
  assert.deepEqual(later.stages[0].map((j) => [j.name, j.hyperparameters.lr, j.hyperparameters.epochs, j.hyperparameters.batchSize]), [
    ['a x x x lora-r8 x lr=0.001 → dpo prefs', 1e-3, 1, 8], ['a x x x lora-r8 x lr=0.003 → dpo prefs', 3e-3, 1, 8],
  ]);
  const own = planFollowUps(sft.jobs, [{ stage: 'dpo', datasets: [prefs], hyperparameters: { lr: 1e-4 } }]);
  assert.deepEqual(own.stages[0].map((j) => j.hyperparameters.lr), [1e-4, 1e-4]);
});

test('a malformed experiment names the field', () => {
  assert.throws(() => planExperiment({ ...spec(), methods: [] }), (e: unknown) => e instanceof ExperimentError && /methods must be a non-empty list/.test((e as Error).message));
  assert.throws(() => planExperiment({ ...spec(), hyperparameters: { batchSize: 0, seqLen: 8, lr: 1 } }), /batchSize/);
  assert.throws(() => planExperiment({ ...spec(), sweep: { seqLen: [64, 1] } }), /x seqLen=1: seqLen must be an integer > 1/);
  assert.throws(() => planExperiment({ ...spec(), stage: 'rl' as never }), /stage must be/);
});
