import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { Tensor } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { AdamW } from '../../src/engine/optim.ts';
import {
  writeCheckpoint, readCheckpoint, listCheckpoints, SHARDED_DIR, latestCheckpoint, pruneCheckpoints, cleanStaleTemps,
  MODEL_FILE, OPTIMIZER_FILE, TRAINER_STATE_FILE,
} from '../../src/engine/checkpoint.ts';
import { decodeSafetensors, SafetensorsError } from '../../src/formats/safetensors.ts';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'modelfab-ckpt-'));
}

/** A pid that is not running (the highest pids are almost never in use; checked). */
function deadPid(): number {
  for (let pid = 4_194_000; pid > 4_000_000; pid--) {
    try { process.kill(pid, 0); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ESRCH') return pid; }
  }
  throw new Error('no free pid found');
}

function smallModel() {
  const rng = new Rng(3);
  const w = new Tensor(Float32Array.from({ length: 12 }, () => rng.normal()), [3, 4], true, 'layers.0.w');
  const b = new Tensor(Float32Array.from({ length: 4 }, () => rng.normal()), [4], true, 'layers.0.b');
  const opt = new AdamW([w, b], { lr: 1e-2 });
  for (let s = 0; s < 3; s++) {
    w.ensureGrad().set(Float32Array.from({ length: 12 }, () => rng.normal()));
    b.ensureGrad().set(Float32Array.from({ length: 4 }, () => rng.normal()));
    opt.step();
  }
  return { w, b, opt, rng };
}

test('write and read back a checkpoint: weights, optimizer state, trainer state', () => {
  const dir = tmpDir();
  const { w, b, opt, rng } = smallModel();
  const trainerState = { step: 3, epoch: 0, dataPosition: 1234, rng: rng.state(), bestEvalLoss: 2.5, note: 'ok' };
  const folder = writeCheckpoint(dir, 3, { tensors: { [w.name]: w, [b.name]: b }, optimizer: opt.state(), trainerState });
  assert.equal(folder, path.join(dir, 'checkpoints', 'step-3'));
  assert.deepEqual(fs.readdirSync(folder).sort(), [MODEL_FILE, OPTIMIZER_FILE, TRAINER_STATE_FILE].sort());
  assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')), ['step-3'], 'no temporary leftovers');
  // model.safetensors is a standard file with HF's metadata.
  const st = decodeSafetensors(fs.readFileSync(path.join(folder, MODEL_FILE)));
  assert.deepEqual(st.metadata, { format: 'pt' });
  assert.deepEqual([...st.tensors.keys()], ['layers.0.b', 'layers.0.w']);

  const ck = readCheckpoint(folder);
  assert.equal(ck.step, 3);
  assert.deepEqual(ck.tensors['layers.0.w'], { data: w.data, shape: [3, 4] });
  assert.deepEqual(ck.tensors['layers.0.b'], { data: b.data, shape: [4] });
  assert.deepEqual(ck.optimizer, opt.state());
  // JSON: the rng's NaN "no spare" slot becomes null, and Rng accepts it back.
  assert.deepEqual(ck.trainerState, JSON.parse(JSON.stringify(trainerState)));
  const restored = new Rng(ck.trainerState.rng as number[]);
  assert.equal(restored.nextU32(), new Rng(rng.state()).nextU32());

  // A resumed optimizer continues exactly.
  const w2 = new Tensor(ck.tensors['layers.0.w'].data, [3, 4], true, 'layers.0.w');
  const b2 = new Tensor(ck.tensors['layers.0.b'].data, [4], true, 'layers.0.b');
  const opt2 = new AdamW([w2, b2], { lr: 1e-2 });
  opt2.loadState(ck.optimizer!);
  for (const [p, q] of [[w, w2], [b, b2]]) { p.grad!.fill(0.3); q.ensureGrad().fill(0.3); }
  opt.step(); opt2.step();
  assert.deepEqual(w2.data, w.data);

  // Weights-only checkpoint: no optimizer file.
  const f2 = writeCheckpoint(dir, 4, { tensors: { x: { data: new Float32Array([1, 2]), shape: [2] } }, trainerState: {} });
  assert.equal(fs.existsSync(path.join(f2, OPTIMIZER_FILE)), false);
  assert.equal(readCheckpoint(f2).optimizer, null);
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [3, 4]);
  // A sharded torch job's checkpoint (trainers/torch fsdp.py): shards and their .metadata, no model.safetensors.
  const sharded = path.join(dir, 'checkpoints', 'step-6', SHARDED_DIR);
  fs.mkdirSync(sharded, { recursive: true });
  fs.writeFileSync(path.join(sharded, '__0_0.distcp'), '');
  fs.writeFileSync(path.join(dir, 'checkpoints', 'step-6', 'trainer_state.json'), '{}');
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [3, 4], 'no .metadata yet: still being written');
  fs.writeFileSync(path.join(sharded, '.metadata'), '');
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [3, 4, 6]);
  fs.rmSync(dir, { recursive: true });
});

test('interrupted writes never show up as checkpoints, and stale leftovers are cleaned', () => {
  const dir = tmpDir();
  const parent = path.join(dir, 'checkpoints');
  assert.deepEqual(listCheckpoints(dir), []);
  assert.equal(latestCheckpoint(dir), null);
  writeCheckpoint(dir, 10, { tensors: { a: { data: new Float32Array([1]), shape: [1] } }, trainerState: { step: 10 } });
  writeCheckpoint(dir, 20, { tensors: { a: { data: new Float32Array([2]), shape: [1] } }, trainerState: { step: 20 } });
  // A crash mid-write of step 30 by a process that is gone: a temp folder with a partial file.
  const dead = deadPid();
  const stale = path.join(parent, `.tmp-step-30-${dead}-deadbeef`);
  fs.mkdirSync(stale);
  fs.writeFileSync(path.join(stale, MODEL_FILE), 'partial');
  // A crash in the middle of replacing step 20: the moved-aside old copy.
  const staleOld = path.join(parent, `.old-step-20-${dead}-0badf00d`);
  fs.mkdirSync(staleOld);
  // Another live process (our parent) writing right now: must be left alone.
  const live = path.join(parent, `.tmp-step-40-${process.ppid}-cafe0001`);
  fs.mkdirSync(live);
  // A step folder somebody made by hand without the files: not a checkpoint.
  fs.mkdirSync(path.join(parent, 'step-50'));

  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [10, 20]);
  assert.ok(fs.existsSync(stale), 'listing has no side effects');
  assert.deepEqual(latestCheckpoint(dir), { step: 20, path: path.join(parent, 'step-20') });
  assert.equal(fs.existsSync(stale), false);
  assert.equal(fs.existsSync(staleOld), false);
  assert.equal(fs.existsSync(live), true);
  assert.deepEqual(readCheckpoint(latestCheckpoint(dir)!.path).trainerState, { step: 20 });
  assert.deepEqual(cleanStaleTemps(dir), []);
  fs.rmSync(dir, { recursive: true });
});

test('a failure during the write (injected) leaves the previous checkpoints intact and no temp folder', () => {
  const dir = tmpDir();
  writeCheckpoint(dir, 1, { tensors: { a: { data: new Float32Array([1]), shape: [1] } }, trainerState: { step: 1 } });
  const realRename = fs.renameSync;
  const inject = (pred: (from: string) => boolean) => {
    fs.renameSync = ((from: fs.PathLike, to: fs.PathLike) => {
      if (pred(String(from))) throw Object.assign(new Error('injected: disk full'), { code: 'ENOSPC' });
      return realRename(from, to);
    }) as typeof fs.renameSync;
    syncBuiltinESMExports();
  };
  try {
    // Fail on the final folder rename.
    inject((from) => path.basename(from).startsWith('.tmp-step-'));
    assert.throws(() => writeCheckpoint(dir, 2, { tensors: { a: { data: new Float32Array([2]), shape: [1] } }, trainerState: { step: 2 } }), /injected/);
    // Fail while writing the second file inside the temp folder.
    inject((from) => path.basename(from).startsWith(`.${TRAINER_STATE_FILE}.tmp-`));
    assert.throws(() => writeCheckpoint(dir, 3, { tensors: { a: { data: new Float32Array([3]), shape: [1] } }, trainerState: { step: 3 } }), /injected/);
  } finally {
    fs.renameSync = realRename;
    syncBuiltinESMExports();
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')), ['step-1']);
  assert.equal(latestCheckpoint(dir)!.step, 1);
  // Bad input fails before touching the disk.
  assert.throws(() => writeCheckpoint(dir, 5, { tensors: { a: { data: new Float32Array(3), shape: [2] } }, trainerState: {} }), SafetensorsError);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')), ['step-1']);
  fs.rmSync(dir, { recursive: true });
});

test('keepLast retention (with protected steps) and re-writing a step', () => {
  const dir = tmpDir();
  for (let s = 1; s <= 5; s++) {
    writeCheckpoint(dir, s * 100, { tensors: { a: { data: new Float32Array([s]), shape: [1] } }, trainerState: { s } }, { keepLast: 2, protect: [200] });
  }
  assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [200, 400, 500]);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')).sort(), ['step-200', 'step-400', 'step-500']);
  // Steps sort numerically, not as strings.
  writeCheckpoint(dir, 1000, { tensors: {}, trainerState: {} });
  assert.equal(latestCheckpoint(dir)!.step, 1000);
  // Re-writing an existing step replaces it.
  writeCheckpoint(dir, 400, { tensors: { a: { data: new Float32Array([42]), shape: [1] } }, trainerState: { again: true } });
  const ck = readCheckpoint(path.join(dir, 'checkpoints', 'step-400'));
  assert.deepEqual([...ck.tensors.a.data], [42]);
  assert.deepEqual(ck.trainerState, { again: true });
  assert.deepEqual(pruneCheckpoints(dir, 1).map((p) => path.basename(p)), ['step-200', 'step-400', 'step-500']);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')), ['step-1000']);
  assert.throws(() => writeCheckpoint(dir, 1, { tensors: {}, trainerState: {} }, { keepLast: 0 }), RangeError);
  assert.throws(() => writeCheckpoint(dir, -1, { tensors: {}, trainerState: {} }), RangeError);
  fs.rmSync(dir, { recursive: true });
});

test('readCheckpoint reports a corrupted file with its path and a typed error', () => {
  const dir = tmpDir();
  const folder = writeCheckpoint(dir, 7, { tensors: { a: { data: new Float32Array([1, 2]), shape: [2] } }, trainerState: {} });
  const file = path.join(folder, MODEL_FILE);
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, bytes.subarray(0, bytes.length - 3));
  assert.throws(() => readCheckpoint(folder), (e: unknown) =>
    e instanceof SafetensorsError && e.code === 'OFFSETS_OUT_OF_BOUNDS' && e.message.includes(file));
  fs.writeFileSync(path.join(folder, TRAINER_STATE_FILE), '{"trunc');
  fs.writeFileSync(file, bytes);
  assert.throws(() => readCheckpoint(folder), /trainer_state\.json/);
  assert.throws(() => readCheckpoint(dir), /not a step-<N> checkpoint folder/);
  fs.rmSync(dir, { recursive: true });
});
