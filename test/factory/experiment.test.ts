/** Experiment planning: the grid, rejected combinations with reasons, duplicates, names, estimates. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planExperiment, ExperimentError, type ExperimentSpec } from '../../src/factory/experiment.ts';

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
  assert.ok(p.jobs.some((j) => j.name === 'a x x x lora-r8 [lr=0.003] seed=2'));
});

test('a malformed experiment names the field', () => {
  assert.throws(() => planExperiment({ ...spec(), methods: [] }), (e: unknown) => e instanceof ExperimentError && /methods must be a non-empty list/.test((e as Error).message));
  assert.throws(() => planExperiment({ ...spec(), hyperparameters: { batchSize: 0, seqLen: 8, lr: 1 } }), /batchSize/);
  assert.throws(() => planExperiment({ ...spec(), stage: 'rl' as never }), /stage must be/);
});
