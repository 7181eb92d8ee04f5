/**
 * The factory's side of the torch trainer without torch: which python and command run it, --info and nvidia-smi
 * parsed, trainer options checked in jobs and experiments, torch jobs refused at submission when the trainer is
 * missing (nothing queued), bases converted once into the data folder's HF cache, and results (HF folder, PEFT
 * LoRA, PEFT prompt) imported into engine folders that compute what the trained model computes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, readModelInfo, saveModel } from '../../src/engine/io.ts';
import { exportHfModel, writeModelFolder } from '../../src/model-files/hf-folder.ts';
import { exportPeftLora, exportPeftPromptLearning } from '../../src/model-files/peft.ts';
import { LocalRunner } from '../../src/factory/local-runner.ts';
import { runOutcome } from '../../src/factory/runners.ts';
import {
  hfBaseFor, importTorchResult, parseNvidiaSmi, parseTorchInfo, probeTorch, torchCommand, torchPython, torchRefusal, TorchTrainer,
} from '../../src/factory/torch-trainer.ts';
import { trainerOptions, FactoryError } from '../../src/factory/factory-service.ts';
import { precisionRefusal } from '../../src/engine/gemm/native.ts';
import { validateExperimentRequest } from '../../src/factory/experiment-file.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';
import { estimateJob, torchGpuMemoryMB } from '../../src/factory/experiment.ts';
import type { LlamaConfig as LlamaConfigT } from '../../src/engine/config.ts';
import { createServer } from '../../src/api/server.ts';
import { ADMIN_KEY } from '../api/helpers.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';
import { engineProbs, maxAbsDiff, randomizeLora, randomModel, shapes, testTokenizer, TEXTS } from '../model-files/model-fixtures.ts';

const tok = testTokenizer();
const C = shapes(tok.vocabSize).gqa;
const IDS = tok.encode(TEXTS.english).slice(0, 12);
const tmp = () => mkdtempSync(join(tmpdir(), 'mf-torchw-'));

test('the python: MODELFAB_TORCH_PYTHON, else the repository .venv-torch; the command is python -m modelfab_torch job.json', () => {
  assert.equal(torchPython({ MODELFAB_TORCH_PYTHON: '/opt/py/bin/python' }, '/repo'), '/opt/py/bin/python');
  assert.equal(torchPython({}, '/repo'), '/repo/.venv-torch/bin/python');
  assert.equal(torchPython({ MODELFAB_TORCH_PYTHON: '  ' }, '/repo'), '/repo/.venv-torch/bin/python');
  assert.deepEqual(torchCommand('/py', 'jobs/j1/job.json'), { command: '/py', args: ['-m', 'modelfab_torch', 'jobs/j1/job.json'] });
  const runner = new LocalRunner({ torchPython: '/venv/bin/python', nodeArgs: [], entry: '/w.mjs' });
  const spec = { id: 'j', trainer: 'torch' } as JobSpec;
  assert.deepEqual(runner.command(spec, 'jobs/j/job.json'), { command: '/venv/bin/python', args: ['-m', 'modelfab_torch', 'jobs/j/job.json'] });
  assert.deepEqual(runner.command({ ...spec, trainer: 'engine' }, 'jobs/j/job.json'), { command: process.execPath, args: ['/w.mjs', 'jobs/j/job.json'] });
  assert.deepEqual(runner.command({ id: 'j' } as JobSpec, 'x.json').command, process.execPath, 'no trainer: the engine');
});

test('--info and nvidia-smi output parsed; a missing python is a refusal naming the install command', async () => {
  const info = parseTorchInfo('some warning\n{"trainer": "torch", "torch": "2.11.0", "transformers": "5.17.0", "peft": "0.21.0", "cuda": null, "devices": [], "methods": ["full", "lora"], "stages": ["sft"]}\n');
  assert.equal(info?.torch, '2.11.0');
  assert.deepEqual(info?.methods, ['full', 'lora']);
  assert.equal(parseTorchInfo('{"trainer": "engine"}'), null);
  assert.equal(parseTorchInfo('not json'), null);
  assert.deepEqual(parseNvidiaSmi('0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA A10, 23028\n\n'), [
    { index: 0, name: 'NVIDIA H100 80GB HBM3', memoryMB: 81559 }, { index: 1, name: 'NVIDIA A10', memoryMB: 23028 },
  ]);
  const p = await probeTorch('/no/such/python');
  assert.equal(p.ok, false);
  const why = await new TorchTrainer('/no/such/python').refusal('sft', 'lora');
  assert.match(why!, /not installed: no python at \/no\/such\/python/);
  assert.match(why!, /bash trainers\/torch\/setup-venv\.sh/);
  const dir = tmp();
  try {
    const py = join(dir, 'python');
    writeFileSync(py, '#!/bin/sh\necho "/usr/bin/python3: No module named modelfab_torch" >&2\nexit 1\n');
    chmodSync(py, 0o755);
    const failed = await probeTorch(py);
    assert.equal(failed.ok, false);
    assert.match((failed as { reason: string }).reason, /cannot run modelfab_torch \(\/usr\/bin\/python3: No module named modelfab_torch\)/);
    writeFileSync(py, `#!/bin/sh\necho '${JSON.stringify({ trainer: 'torch', torch: '2', transformers: '5', peft: '0', methods: ['lora'], stages: ['sft'] })}'\n`);
    const ok = await new TorchTrainer(py).probe();
    assert.ok(ok.ok && ok.info.torch === '2');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trainer options of the jobs API: checked, and what the engine does not do is a 400 naming the field', () => {
  assert.deepEqual(trainerOptions({}), {});
  assert.deepEqual(trainerOptions({ trainer: 'torch', precision: 'bf16', packing: true, gradient_checkpointing: true }), { trainer: 'torch', precision: 'bf16', packing: true, gradientCheckpointing: true });
  assert.deepEqual(trainerOptions({ trainer: 'engine', precision: 'fp32' }), { trainer: 'engine', precision: 'fp32' });
  const err = (h: object, param: string, re: RegExp) => assert.throws(() => trainerOptions(h), (e: unknown) => e instanceof FactoryError && e.status === 400 && e.param === param && re.test(e.message));
  err({ trainer: 'pytorch' }, 'hyperparameters.trainer', /one of engine, torch/);
  err({ precision: 'fp8' }, 'hyperparameters.precision', /fp32, bf16, fp16/);
  err({ precision: 'fp16' }, 'hyperparameters.precision', /engine trains in fp32 or bf16; use trainer torch/);
  // bf16 on the engine: mixed precision where this processor has a bf16 kernel, else a 400 that says why
  if (precisionRefusal('bf16') === null) assert.deepEqual(trainerOptions({ precision: 'bf16' }), { precision: 'bf16' });
  else err({ precision: 'bf16' }, 'hyperparameters.precision', /needs a processor with AMX-BF16.*or use trainer torch/);
  // the engine packs and recomputes activations too
  assert.deepEqual(trainerOptions({ trainer: 'engine', packing: true, gradient_checkpointing: true }), { trainer: 'engine', packing: true, gradientCheckpointing: true });
  err({ gradient_checkpointing: 'yes' }, 'hyperparameters.gradient_checkpointing', /true or false/);
  // data parallelism: torchrun with N processes on the torch trainer; one process is no option at all
  assert.deepEqual(trainerOptions({ trainer: 'torch', nproc_per_node: 2 }), { trainer: 'torch', processes: 2 });
  assert.deepEqual(trainerOptions({ trainer: 'torch', nproc_per_node: 1 }), { trainer: 'torch' });
  assert.deepEqual(trainerOptions({ trainer: 'torch', nproc_per_node: 2, strategy: 'fsdp' }), { trainer: 'torch', processes: 2, strategy: 'fsdp' });
  err({ trainer: 'torch', strategy: 'zero3' }, 'hyperparameters.strategy', /one of ddp, fsdp/);
  err({ strategy: 'fsdp' }, 'hyperparameters.strategy', /engine trains in one process/);
  assert.deepEqual(trainerOptions({ trainer: 'torch', nproc_per_node: 4, strategy: 'deepspeed-zero3' }), { trainer: 'torch', processes: 4, strategy: 'deepspeed-zero3' });
  err({ strategy: 'deepspeed-zero2' }, 'hyperparameters.strategy', /strategy deepspeed-zero2: the engine trains in one process/);
  err({ nproc_per_node: 2 }, 'hyperparameters.nproc_per_node', /engine trains in one process.*use trainer torch/);
  err({ trainer: 'torch', nproc_per_node: 1.5 }, 'hyperparameters.nproc_per_node', /integer from 1 to 64/);
  assert.deepEqual(torchCommand('py', 'jobs/j/job.json', 2), { command: 'py', args: ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', '-m', 'modelfab_torch', 'jobs/j/job.json'] });
  assert.deepEqual(torchCommand('py', 'jobs/j/job.json'), { command: 'py', args: ['-m', 'modelfab_torch', 'jobs/j/job.json'] });
});

test('experiment files: trainer and its options validated with the field and a suggestion', () => {
  const base = { name: 'e', base_models: ['m'], datasets: ['d'], methods: [{ type: 'lora' }] };
  assert.deepEqual(validateExperimentRequest({ ...base, trainer: 'torch', precision: 'bf16', packing: true, gradient_checkpointing: false, nproc_per_node: 2 }, { file: 'x.yaml' }), []);
  assert.deepEqual(validateExperimentRequest({ ...base, nproc_per_node: 2 }, { file: 'x.yaml' }).map((p) => [p.path, /needs trainer: torch/.test(p.message)]), [['nproc_per_node', true]]);
  assert.deepEqual(validateExperimentRequest({ ...base, trainer: 'torch', nproc_per_node: 2, strategy: 'fsdp' }, { file: 'x.yaml' }), []);
  assert.deepEqual(validateExperimentRequest({ ...base, trainer: 'torch', strategy: 'zero' }, { file: 'x.yaml' }).map((p) => p.path), ['strategy']);
  assert.deepEqual(validateExperimentRequest({ ...base, trainer: 'torch', nproc_per_node: 2, strategy: 'deepspeed-zero2' }, { file: 'x.yaml' }), []);
  assert.deepEqual(validateExperimentRequest({ ...base, strategy: 'deepspeed-zero3' }, { file: 'x.yaml' }).map((p) => p.path), ['strategy']);
  assert.deepEqual(validateExperimentRequest({ ...base, trainer: 'torch', nproc_per_node: 0 }, { file: 'x.yaml' }).map((p) => p.path), ['nproc_per_node']);
  const probs = validateExperimentRequest({ ...base, trainer: 'toch', precision: 'half', packing: 'yes' }, { file: 'x.yaml' });
  assert.deepEqual(probs.map((p) => p.path), ['trainer', 'precision', 'packing']);
  assert.match(probs[0].message, /did you mean 'torch'/);
  const engine = validateExperimentRequest({ ...base, precision: 'fp16', gradient_checkpointing: true, packing: true }, { file: 'x.yaml' });
  assert.deepEqual(engine.map((p) => [p.path, /needs trainer: torch/.test(p.message)]), [['precision', true]]);
  const syn = validateExperimentRequest({ ...base, backend: 'torch' }, { file: 'x.yaml' });
  assert.match(syn[0].message, /did you mean 'trainer'/);
});

test('a torch job or experiment without the trainer installed is refused at submission, and nothing is queued', { timeout: 60_000 }, async () => {
  const dir = tmp();
  const srv = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, factory: { torchPython: join(dir, 'no-python'), localRunner: { cpuThreads: 2, memoryMB: 64_000 } } });
  try {
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const api = async (path: string, body: unknown) => {
      const res = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() as { error: { message: string; code: string; param: string } } };
    };
    saveModel(join(dir, 'tiny'), randomModel(C, 1), tok, { chatTemplate: 'chatml' });
    await srv.factory.factory.catalogRegister({ name: 'tiny', kind: 'engine', path: join(dir, 'tiny'), role: 'base', config: C, createdAt: Date.now() });
    writeFileSync(join(dir, 'qa.jsonl'), supportQA(0).train.slice(0, 8).map((r) => JSON.stringify(r)).join('\n'));
    await srv.service.importDataset({ name: 'qa', source: { path: join(dir, 'qa.jsonl') } });
    const job = await api('/v1/fine_tuning/jobs', { model: 'tiny', dataset: 'qa', hyperparameters: { trainer: 'torch' } });
    assert.equal(job.status, 400);
    assert.equal(job.body.error.code, 'trainer_unavailable');
    assert.equal(job.body.error.param, 'hyperparameters.trainer');
    assert.match(job.body.error.message, /torch trainer is not installed.*setup-venv\.sh/);
    const exp = await api('/v1/experiments', { name: 'e', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'lora' }], trainer: 'torch' });
    assert.equal(exp.status, 400);
    assert.equal(exp.body.error.code, 'trainer_unavailable');
    assert.equal((await srv.factory.factory.listJobs()).data.length, 0, 'nothing queued');
    assert.equal((await srv.factory.factory.listExperiments()).length, 0, 'no experiment made');
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an engine base becomes an HF folder once, cached in the data folder by its files; a changed base is converted again', () => {
  const dir = tmp();
  try {
    saveModel(join(dir, 'base'), randomModel(C, 2), tok, { chatTemplate: 'qwen2' });
    const a = hfBaseFor(dir, { kind: 'engine', path: 'base' });
    assert.match(a.path, /hf-cache\/[0-9a-f]{20}$/);
    assert.equal(a.chatTemplate, 'qwen2');
    const cfg = JSON.parse(readFileSync(join(a.path, 'config.json'), 'utf8'));
    assert.equal(cfg.hidden_size, C.hiddenSize);
    const mtime = statSync(join(a.path, 'model.safetensors')).mtimeMs;
    const b = hfBaseFor(dir, { kind: 'engine', path: join(dir, 'base') });
    assert.equal(b.path, a.path);
    assert.equal(statSync(join(b.path, 'model.safetensors')).mtimeMs, mtime, 'not converted twice');
    saveModel(join(dir, 'base'), randomModel(C, 3), tok);
    const c = hfBaseFor(dir, { kind: 'engine', path: 'base' });
    assert.notEqual(c.path, a.path);
    assert.deepEqual(readdirSync(join(dir, 'hf-cache')).filter((n) => n.includes('.tmp-')), [], 'no half-written folder left');
    assert.deepEqual(hfBaseFor(dir, { kind: 'hf', path: '/some/hf' }), { path: '/some/hf' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('results come back as engine folders computing what was trained: HF folder, PEFT LoRA (an adapter over the engine base), PEFT prompt (over an engine base, or carrying an HF base)', async () => {
  const dir = tmp();
  try {
    const base = randomModel(C, 4);
    saveModel(join(dir, 'base'), base, tok);
    const source = { kind: 'engine' as const, path: 'base' };

    const full = randomModel(C, 5);
    writeModelFolder(join(dir, 'full-hf'), exportHfModel(full, tok));
    const f = importTorchResult(dir, { modelDir: join(dir, 'full-hf'), format: 'hf', chatTemplate: 'chatml', base: source, meta: { trainer: 'torch' } }, join(dir, 'full-engine'));
    assert.equal(f.kind, 'model');
    assert.equal(readModelInfo(f.dir).chatTemplate, 'chatml');
    assert.ok(maxAbsDiff(await engineProbs(loadModel(f.dir).model, IDS), await engineProbs(full, IDS)) < 1e-5);

    const lora = randomModel(C, 4);
    lora.applyMethod({ type: 'lora', rank: 4, alpha: 8, targets: ['all'], rslora: true }, 1);
    randomizeLora(lora, 6);
    writeModelFolder(join(dir, 'lora-peft'), exportPeftLora(lora));
    const l = importTorchResult(dir, { modelDir: join(dir, 'lora-peft'), format: 'peft', base: source, meta: {} }, join(dir, 'jobs', 'j', 'model-engine'));
    assert.equal(l.kind, 'adapter');
    assert.equal(l.basePath, join(dir, 'base'));
    assert.equal(JSON.parse(readFileSync(join(l.dir, 'modelfab.json'), 'utf8')).base, '../../../base', 'named relative to the adapter');
    const back = loadModel(l.dir).model;
    assert.ok(maxAbsDiff(await engineProbs(back, IDS), await engineProbs(lora, IDS)) < 1e-5);
    assert.ok(maxAbsDiff(await engineProbs(back, IDS), await engineProbs(base, IDS)) > 1e-4, 'the adapter changes the outputs');

    const prompt = randomModel(C, 4);
    prompt.applyMethod({ type: 'prompt', numVirtualTokens: 3 }, 2);
    writeModelFolder(join(dir, 'prompt-peft'), exportPeftPromptLearning(prompt));
    const p = importTorchResult(dir, { modelDir: join(dir, 'prompt-peft'), format: 'peft', base: source, meta: {} }, join(dir, 'prompt-engine'));
    assert.equal(p.kind, 'adapter');
    assert.ok(maxAbsDiff(await engineProbs(loadModel(p.dir).model, IDS), await engineProbs(prompt, IDS)) < 1e-5);

    // over a base that is no engine folder, a LoRA result is merged into a full model
    writeModelFolder(join(dir, 'base-hf'), exportHfModel(base, tok));
    const m = importTorchResult(dir, { modelDir: join(dir, 'lora-peft'), format: 'peft', base: { kind: 'hf', path: 'base-hf' }, meta: {} }, join(dir, 'merged'));
    assert.equal(m.kind, 'model');
    assert.ok(maxAbsDiff(await engineProbs(loadModel(m.dir).model, IDS), await engineProbs(lora, IDS)) < 1e-4);
    // a prompt adapter over it cannot be merged: the result carries the base it was trained over
    const q = importTorchResult(dir, { modelDir: join(dir, 'prompt-peft'), format: 'peft', chatTemplate: 'chatml', base: { kind: 'hf', path: 'base-hf' }, meta: {} }, join(dir, 'prompt-over-hf'));
    assert.equal(q.kind, 'adapter');
    assert.equal(q.basePath, join(dir, 'prompt-over-hf', 'base'));
    assert.equal(JSON.parse(readFileSync(join(q.dir, 'modelfab.json'), 'utf8')).base, 'base');
    assert.equal(readModelInfo(join(q.dir, 'base')).chatTemplate, 'chatml');
    assert.ok(maxAbsDiff(await engineProbs(loadModel(q.dir).model, IDS), await engineProbs(prompt, IDS)) < 1e-4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("what the installed trainer says it runs decides: stage, method, precision, packing, gradient checkpointing", () => {
  const info = parseTorchInfo(JSON.stringify({ trainer: 'torch', torch: '2', transformers: '5', peft: '0', methods: ['full', 'lora'], stages: ['sft'], precisions: ['fp32'], packing: false, gradient_checkpointing: false }))!;
  assert.equal(torchRefusal(info, 'sft', 'lora'), null);
  assert.equal(torchRefusal(info, 'sft', 'lora', { precision: 'fp32', packing: false }), null);
  assert.match(torchRefusal(info, 'dpo', 'lora')!, /does not run stage dpo yet \(it runs sft\); use trainer engine/);
  assert.match(torchRefusal(info, 'sft', 'prefix')!, /does not run method prefix yet \(it runs full, lora\)/);
  assert.match(torchRefusal(info, 'sft', 'lora', { precision: 'bf16' })!, /does not train in bf16 yet/);
  assert.match(torchRefusal(info, 'sft', 'lora', { packing: true })!, /does not pack/);
  assert.match(torchRefusal(info, 'sft', 'lora', { gradientCheckpointing: true })!, /gradient checkpointing/);
  const now = { ...info, methods: ['full', 'lora', 'prefix'], precisions: ['fp32', 'bf16'], gradient_checkpointing: true };
  assert.equal(torchRefusal(now, 'sft', 'lora', { precision: 'bf16', gradientCheckpointing: true }), null);
  assert.match(torchRefusal(now, 'sft', 'lora', { precision: 'fp16' })!, /does not train in fp16 yet \(it trains in fp32, bf16\)/);
  assert.match(torchRefusal(now, 'sft', 'prefix', { gradientCheckpointing: true })!, /not work with prefix tuning/);
  const packs = { ...now, stages: ['sft', 'dpo'], methods: ['full', 'lora', 'prompt'], packing: true };
  assert.equal(torchRefusal(packs, 'sft', 'lora', { packing: true }), null);
  assert.match(torchRefusal(packs, 'dpo', 'lora', { packing: true })!, /packing does not apply to stage dpo/);
  assert.match(torchRefusal(packs, 'sft', 'prompt', { packing: true })!, /packing does not work with prompt tuning/);
  assert.match(torchRefusal({ ...packs, strategies: ['ddp'] }, 'sft', 'lora', { strategy: 'fsdp' })!, /does not run strategy fsdp yet \(it runs ddp\)/);
  const shards = { ...packs, precisions: ['fp32', 'bf16', 'fp16'], strategies: ['ddp', 'fsdp'] };
  assert.equal(torchRefusal(shards, 'sft', 'lora', { strategy: 'fsdp', precision: 'bf16' }), null);
  assert.match(torchRefusal(shards, 'sft', 'prompt', { strategy: 'fsdp' })!, /fsdp does not shard prompt tuning/);
  assert.match(torchRefusal(shards, 'sft', 'full', { strategy: 'fsdp', precision: 'fp16' })!, /fsdp does not train in fp16/);
  // DeepSpeed only where the trainer's --info lists it (deepspeed installed)
  assert.match(torchRefusal(shards, 'sft', 'lora', { strategy: 'deepspeed-zero3' })!, /does not run strategy deepspeed-zero3 yet \(it runs ddp, fsdp\)/);
  const zero = { ...shards, strategies: ['ddp', 'fsdp', 'deepspeed-zero2', 'deepspeed-zero3'] };
  assert.equal(torchRefusal(zero, 'sft', 'lora', { strategy: 'deepspeed-zero3', precision: 'fp16' }), null);
  assert.equal(torchRefusal(zero, 'sft', 'prompt', { strategy: 'deepspeed-zero2' }), null);
  assert.equal(torchRefusal(zero, 'sft', 'prompt', { strategy: 'deepspeed-zero3' }), null);
  const older = parseTorchInfo(JSON.stringify({ trainer: 'torch', torch: '2', transformers: '5', peft: '0', methods: ['lora'], stages: ['sft'] }))!;
  assert.equal(torchRefusal(older, 'sft', 'lora', { precision: 'bf16', packing: true }), null, 'a trainer that does not say is left to refuse at launch');
});

/** A "python" in `dir` that runs the stand-in trainer: the runner starts it as <python> -m modelfab_torch job.json. */
function standInPython(dir: string): string {
  const python = join(dir, 'python');
  const fixture = fileURLToPath(new URL('./fixtures/stand-in-torch.ts', import.meta.url));
  writeFileSync(python, `#!/bin/sh\nexec "${process.execPath}" --import "${import.meta.resolve('tsx')}" "${fixture}" "$@"\n`);
  chmodSync(python, 0o755);
  return python;
}

test('through the server with a stand-in torch trainer: converted base, PEFT result imported, benchmarked, on the leaderboard, served', { timeout: 240_000 }, async () => {
  const dir = tmp();
  const python = standInPython(dir);
  const srv = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, factory: { torchPython: python, localRunner: { cpuThreads: 2, memoryMB: 64_000 } } });
  try {
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: await res.json() as any };
    };
    const base = randomModel(C, 7);
    saveModel(join(dir, 'tiny'), base, tok, { chatTemplate: 'chatml' });
    await srv.factory.factory.catalogRegister({ name: 'tiny', kind: 'engine', path: join(dir, 'tiny'), role: 'base', config: C, createdAt: Date.now() });
    writeFileSync(join(dir, 'qa.jsonl'), supportQA(0).train.slice(0, 12).map((r) => JSON.stringify(r)).join('\n'));
    await srv.service.importDataset({ name: 'qa', source: { path: join(dir, 'qa.jsonl') }, validationSplit: 0.25, seed: 1 });

    const refused = await api('POST', '/v1/experiments', { name: 'p', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'prompt' }], trainer: 'torch' });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.param, 'methods[0]');
    assert.match(refused.body.error.message, /does not run method prompt yet \(it runs lora\)/);

    const made = await api('POST', '/v1/experiments', { name: 'e', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'lora', rank: 2 }], trainer: 'torch', hyperparameters: { maxSteps: 1, batchSize: 2, seqLen: 64 } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const jobId: string = made.body.jobs[0].id;
    const done = await srv.factory.scheduler.waitFor(jobId, undefined, 120_000);
    assert.equal(done.status, 'succeeded', `${done.error}\n${readFileSync(join(dir, 'jobs', jobId, 'worker.log'), 'utf8').slice(-1500)}`);
    await srv.factory.factory.idle();
    assert.ok(existsSync(join(dir, 'jobs', jobId, 'bench.json')), 'benchmarked by the factory, as the engine benchmarks its jobs');
    const board = (await api('GET', `/v1/experiments/${made.body.id}/leaderboard`)).body;
    assert.equal(board.pending, 0);
    assert.equal(board.leaderboard.rows.length, 2, `the fine-tune and its base: ${board.text}`);
    const job = (await api('GET', `/v1/fine_tuning/jobs/${jobId}`)).body;
    assert.deepEqual([job.modelfab.trainer, job.modelfab.device], ['torch', 'cpu (stand-in)']);
    const served = loadModel(join(dir, 'jobs', jobId, 'model-engine'));
    assert.ok(maxAbsDiff(await engineProbs(served.model, IDS), await engineProbs(base, IDS)) > 1e-4, 'the adapter is applied');
    const chat = await api('POST', '/v1/chat/completions', { model: job.fine_tuned_model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 });
    assert.equal(chat.status, 200, JSON.stringify(chat.body));
    assert.ok(chat.body.usage.completion_tokens > 0);
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GPU memory of a torch job: fp32 base, optimizer state per trainable parameter, activations; sizes as the field knows them', () => {
  // Qwen2.5-7B's shape
  const q7: LlamaConfigT = { vocabSize: 152064, hiddenSize: 3584, numLayers: 28, numHeads: 28, numKvHeads: 4, ffnSize: 18944, ropeBase: 1e6, rmsEps: 1e-6, tieEmbeddings: false, qkvBias: true, contextLength: 32768 };
  const h = { batchSize: 1, seqLen: 2048, lr: 1e-4 };
  const lora = { type: 'lora' as const, rank: 16, alpha: 32, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] };
  const total = estimateJob(q7, { type: 'full' }, h, { name: 'd', train: { path: 'd.jsonl', kind: 'sft' }, rows: 100 }, 1).trainableParams;
  const loraTrainable = estimateJob(q7, lora, h, { name: 'd', train: { path: 'd.jsonl', kind: 'sft' }, rows: 100 }, 1).trainableParams;
  const full = torchGpuMemoryMB(q7, { type: 'full' }, h, total, { precision: 'bf16' });
  const withLora = torchGpuMemoryMB(q7, lora, h, loraTrainable, { precision: 'bf16' });
  const qlora = torchGpuMemoryMB(q7, { ...lora, type: 'qlora' }, h, loraTrainable, { precision: 'bf16' });
  // 7.6B parameters: full about 16 bytes each (fp32 weight, gradient, two moments), LoRA about 4, QLoRA under 1,
  // plus about 12 GB of bf16 activations for 2,048 tokens without checkpointing
  assert.ok(full > 125_000 && full < 145_000, `full ${full} MB`);
  assert.ok(withLora > 38_000 && withLora < 48_000, `lora ${withLora} MB`);
  assert.ok(qlora > 14_000 && qlora < 22_000, `qlora ${qlora} MB`);
  assert.ok(torchGpuMemoryMB(q7, lora, h, loraTrainable, { precision: 'fp32' }) > withLora, 'fp32 activations cost more than bf16');
  assert.ok(torchGpuMemoryMB(q7, lora, h, loraTrainable, { precision: 'bf16', gradientCheckpointing: true }) < withLora, 'checkpointing keeps less');
  const h8 = { ...h, batchSize: 8 };
  assert.ok(torchGpuMemoryMB(q7, lora, h8, loraTrainable, { precision: 'bf16', processes: 4 }) < torchGpuMemoryMB(q7, lora, h8, loraTrainable, { precision: 'bf16' }), 'each process holds its share of the batch');
  // FSDP: each of 8 processes holds an eighth of the weights, gradients and moments
  const ddp8 = torchGpuMemoryMB(q7, { type: 'full' }, h8, total, { precision: 'bf16', processes: 8 });
  const fsdp8 = torchGpuMemoryMB(q7, { type: 'full' }, h8, total, { precision: 'bf16', processes: 8, strategy: 'fsdp' });
  assert.ok(fsdp8 < ddp8 / 4 && fsdp8 > 14 * 7_600 / 8, `fsdp ${fsdp8} MB, ddp ${ddp8} MB`);
  // ZeRO-2: whole 16-bit weights (2 bytes a parameter), an eighth of the gradients, moments and fp32 master copies;
  // ZeRO-3: an eighth of everything
  const zero2 = torchGpuMemoryMB(q7, { type: 'full' }, h8, total, { precision: 'bf16', processes: 8, strategy: 'deepspeed-zero2' });
  const zero3 = torchGpuMemoryMB(q7, { type: 'full' }, h8, total, { precision: 'bf16', processes: 8, strategy: 'deepspeed-zero3' });
  assert.ok(zero2 < ddp8 / 2 && zero2 > 3.5 * 7_600, `zero2 ${zero2} MB, ddp ${ddp8} MB`);
  // (18 bytes a parameter over 8 in bf16: 16-bit weight, gradient and master copy, two moments: more than FSDP's 16)
  assert.ok(zero3 < zero2 - 10_000 && zero3 > 16 * 7_600 / 8 && zero3 > fsdp8, `zero3 ${zero3} MB, zero2 ${zero2} MB, fsdp ${fsdp8} MB`);
  const zero3fp32 = torchGpuMemoryMB(q7, { type: 'full' }, h8, total, { precision: 'fp32', processes: 8, strategy: 'deepspeed-zero3' });
  const fsdp8fp32 = torchGpuMemoryMB(q7, { type: 'full' }, h8, total, { precision: 'fp32', processes: 8, strategy: 'fsdp' });
  assert.equal(zero3fp32, fsdp8fp32, 'in fp32 ZeRO-3 partitions what FSDP shards');
});

test('a run that ended in the trainer\'s "stopped" event is stopped, however its launcher ended', () => {
  const dir = tmp();
  try {
    const events = (...lines: object[]) => writeFileSync(join(dir, 'events.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''));
    events({ level: 'info', message: 'started' }, { level: 'info', message: 'stopped at step 2; checkpoint written' });
    assert.deepEqual(runOutcome({ code: 1, signal: null }, dir), { kind: 'stopped', reason: 'stopped at step 2; checkpoint written' }, 'torchrun exits 1 for a worker\'s 3');
    assert.equal(runOutcome({ code: null, signal: 'SIGTERM' }, dir).kind, 'stopped');
    assert.equal(runOutcome({ code: 3, signal: null }, dir).kind, 'stopped');
    events({ level: 'info', message: 'started' }, { level: 'error', message: 'out of memory' });
    assert.deepEqual(runOutcome({ code: 1, signal: null }, dir), { kind: 'failed', reason: 'worker failed: out of memory' });
    assert.equal(runOutcome({ code: null, signal: 'SIGKILL' }, dir).kind, 'lost');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on a machine with GPUs a torch job takes one per process, sized by the estimate; one no GPU can hold is refused with the figures', { timeout: 120_000 }, async () => {
  const dir = tmp();
  const python = standInPython(dir);
  const small = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, factory: { torchPython: python, localRunner: { cpuThreads: 2, memoryMB: 64_000, gpus: 2, gpuMemoryMB: 100 } } });
  try {
    saveModel(join(dir, 'tiny'), randomModel(C, 7), tok, { chatTemplate: 'chatml' });
    await small.factory.factory.catalogRegister({ name: 'tiny', kind: 'engine', path: join(dir, 'tiny'), role: 'base', config: C, createdAt: Date.now() });
    writeFileSync(join(dir, 'qa.jsonl'), supportQA(0).train.slice(0, 12).map((r) => JSON.stringify(r)).join('\n'));
    await small.service.importDataset({ name: 'qa', source: { path: join(dir, 'qa.jsonl') }, validationSplit: 0.25, seed: 1 });
    const req = { name: 'e', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'lora', rank: 2 }], trainer: 'torch', hyperparameters: { maxSteps: 1, batchSize: 2, seqLen: 64 } };
    await assert.rejects(small.factory.factory.createExperiment(req as never), (e: unknown) => e instanceof FactoryError && e.status === 400 && /MB per GPU; the runner's GPUs have 100 MB/.test(e.message));
  } finally {
    await small.close();
  }
  const big = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, factory: { torchPython: python, localRunner: { cpuThreads: 2, memoryMB: 64_000, gpus: 2, gpuMemoryMB: 80_000 } } });
  try {
    const made = await big.factory.factory.createExperiment({ name: 'e2', base_models: ['tiny'], datasets: ['qa'], methods: [{ type: 'lora', rank: 2 }], trainer: 'torch', nproc_per_node: 2, hyperparameters: { maxSteps: 1, batchSize: 2, seqLen: 64 } } as never);
    const job = made.jobs[0]!;
    assert.equal(job.modelfab.processes, 2);
    assert.equal(job.modelfab.estimate.gpus, 2, 'one GPU per process');
    assert.ok(job.modelfab.estimate.gpuMemoryMB! >= 1024 && job.modelfab.estimate.gpuMemoryMB! < 2048, `a tiny model: CUDA's 1 GB and a little (${job.modelfab.estimate.gpuMemoryMB} MB)`);
    await big.factory.scheduler.cancel(job.id).catch(() => undefined);
  } finally {
    await big.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
