/**
 * Training checkpoints on disk, written atomically.
 *
 * Owns: the checkpoint folder layout, writing, listing, reading and retention. Layout:
 *
 *   <dir>/checkpoints/step-<N>/model.safetensors      trainable weights (or the adapter), F32, {"format": "pt"}
 *   <dir>/checkpoints/step-<N>/optimizer.safetensors  AdamW m and v as "m.<param>" / "v.<param>" (flat F32);
 *                                                     step counts in the metadata (absent without optimizer state)
 *   <dir>/checkpoints/step-<N>/trainer_state.json     caller's JSON: data position, rng state, epoch, best loss...
 *
 * Guarantees: a checkpoint is built in `<dir>/checkpoints/.tmp-step-<N>-<pid>-<hex>/` (every file fsync'd,
 * then the folder) and renamed into place in one `renameSync`, then the parent folder is fsync'd; so a
 * `step-<N>` folder is always complete, and a write interrupted at any point leaves at most a dot-folder that
 * listing ignores and `latestCheckpoint` / the next write delete. Re-writing an existing step replaces it
 * (the old folder is moved aside first; a crash in that window loses that one step, never an older one).
 * Retention (`keepLast`) deletes only after the new checkpoint is in place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  encodeSafetensors, decodeSafetensors, tensorToF32, SafetensorsError, type SafetensorsTensorInput, type DecodedSafetensors,
} from '../formats/safetensors.ts';
import { writeFileAtomic, fsyncDir } from '../util/atomic-write.ts';
import type { AdamWState } from './optim.ts';

export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_STATE_FILE = 'trainer_state.json';
/** A sharded torch job's checkpoint holds its shards here instead of model.safetensors (trainers/torch fsdp.py). */
export const SHARDED_DIR = 'sharded';

export interface CheckpointTensor {
  data: Float32Array;
  shape: readonly number[];
}

export interface CheckpointData {
  /** Trainable weights by name (a Tensor fits: it has data and shape). */
  tensors: Record<string, CheckpointTensor>;
  /** AdamW state; omit or null for a weights-only checkpoint. */
  optimizer?: AdamWState | null;
  /** Anything JSON-serializable (NaN and Infinity become null, as JSON.stringify does). */
  trainerState: Record<string, unknown>;
}

export interface CheckpointInfo {
  step: number;
  path: string;
}

export interface LoadedCheckpoint {
  step: number;
  path: string;
  tensors: Record<string, { data: Float32Array; shape: number[] }>;
  optimizer: AdamWState | null;
  trainerState: Record<string, unknown>;
  /** The model file's safetensors metadata. */
  metadata: Record<string, string> | null;
}

export interface WriteCheckpointOptions {
  /** After writing, keep only the newest N checkpoints (by step). */
  keepLast?: number;
  /** Steps never deleted by retention (e.g. the best evaluation so far). */
  protect?: readonly number[];
  /** Extra string metadata for model.safetensors. */
  metadata?: Record<string, string>;
}

const STEP_DIR = /^step-(\d+)$/;
const TEMP_DIR = /^\.(?:tmp|old)-step-\d+-(\d+)-[0-9a-f]+$/;

export function checkpointsDir(dir: string): string {
  return path.join(dir, 'checkpoints');
}

/** Writes checkpoint `step` under `dir` atomically; returns its folder. */
export function writeCheckpoint(dir: string, step: number, data: CheckpointData, opts: WriteCheckpointOptions = {}): string {
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`writeCheckpoint: step must be a non-negative integer, got ${step}`);
  if (opts.keepLast !== undefined && !(Number.isInteger(opts.keepLast) && opts.keepLast >= 1)) {
    throw new RangeError(`writeCheckpoint: keepLast must be an integer >= 1, got ${opts.keepLast}`);
  }
  const parent = checkpointsDir(dir);
  fs.mkdirSync(parent, { recursive: true });
  cleanStaleTemps(dir);

  // Encode everything first: a bad input throws before anything touches the disk.
  const model = encodeSafetensors(
    Object.entries(data.tensors).map(([name, t]): SafetensorsTensorInput => ({ name, dtype: 'F32', shape: t.shape, data: t.data })),
    { format: 'pt', ...opts.metadata },
  );
  const optimizer = data.optimizer ? encodeOptimizer(data.optimizer) : null;
  const trainerState = JSON.stringify(data.trainerState, null, 2) + '\n';

  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = path.join(parent, `.tmp-step-${step}-${suffix}`);
  const final = path.join(parent, `step-${step}`);
  fs.mkdirSync(tmp);
  try {
    writeFileAtomic(path.join(tmp, MODEL_FILE), model);
    if (optimizer) writeFileAtomic(path.join(tmp, OPTIMIZER_FILE), optimizer);
    writeFileAtomic(path.join(tmp, TRAINER_STATE_FILE), trainerState);
    fsyncDir(tmp);
    if (fs.existsSync(final)) {
      const old = path.join(parent, `.old-step-${step}-${suffix}`);
      fs.renameSync(final, old);
      fs.renameSync(tmp, final);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, final);
    }
    fsyncDir(parent);
  } catch (e) {
    try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* keep the original error */ }
    throw e;
  }
  if (opts.keepLast !== undefined) pruneCheckpoints(dir, opts.keepLast, opts.protect);
  return final;
}

function encodeOptimizer(s: AdamWState): Uint8Array {
  const tensors: SafetensorsTensorInput[] = [];
  for (const name of Object.keys(s.m)) {
    tensors.push({ name: `m.${name}`, dtype: 'F32', shape: [s.m[name].length], data: s.m[name] });
    tensors.push({ name: `v.${name}`, dtype: 'F32', shape: [s.v[name].length], data: s.v[name] });
  }
  return encodeSafetensors(tensors, {
    format: 'modelfab-adamw',
    step: String(s.step),
    param_steps: JSON.stringify(s.paramSteps),
  });
}

/** Reads and decodes a safetensors file; decoding errors keep their type and gain the file name. */
function readSafetensorsFile(file: string): DecodedSafetensors {
  const buf = fs.readFileSync(file);
  try {
    return decodeSafetensors(buf);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new SafetensorsError(e.code, `${file}: ${e.message.replace(/^safetensors: /, '')}`);
    throw e;
  }
}

function decodeOptimizer(file: string): AdamWState {
  const st = readSafetensorsFile(file);
  const md = st.metadata ?? {};
  const step = Number(md.step);
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`${file}: metadata "step" is missing or not an integer`);
  let paramSteps: Record<string, number>;
  try {
    paramSteps = md.param_steps ? JSON.parse(md.param_steps) as Record<string, number> : {};
  } catch {
    throw new Error(`${file}: metadata "param_steps" is not valid JSON`);
  }
  const out: AdamWState = { step, paramSteps, m: {}, v: {} };
  for (const [name, t] of st.tensors) {
    const kind = name.slice(0, 2);
    if (kind !== 'm.' && kind !== 'v.') throw new Error(`${file}: unexpected tensor "${name}" (expected m.<param> / v.<param>)`);
    (kind === 'm.' ? out.m : out.v)[name.slice(2)] = tensorToF32(t, name);
  }
  for (const name of Object.keys(out.m)) if (!out.v[name]) throw new Error(`${file}: "m.${name}" has no matching "v.${name}"`);
  for (const name of Object.keys(out.v)) if (!out.m[name]) throw new Error(`${file}: "v.${name}" has no matching "m.${name}"`);
  return out;
}

/** Complete: the trainer state and the weights, whole or (a sharded torch job's) torch.distributed.checkpoint shards. */
function isComplete(folder: string): boolean {
  const weights = fs.existsSync(path.join(folder, MODEL_FILE)) || fs.existsSync(path.join(folder, SHARDED_DIR, '.metadata'));
  return weights && fs.existsSync(path.join(folder, TRAINER_STATE_FILE));
}

/** Complete checkpoints under `dir`, oldest first. Temporary folders are never listed. No side effects. */
export function listCheckpoints(dir: string): CheckpointInfo[] {
  const parent = checkpointsDir(dir);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: CheckpointInfo[] = [];
  for (const name of names) {
    const m = STEP_DIR.exec(name);
    if (!m) continue;
    const p = path.join(parent, name);
    if (isComplete(p)) out.push({ step: Number(m[1]), path: p });
  }
  return out.sort((a, b) => a.step - b.step);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return false; // our own writes are synchronous: a leftover of ours is dead
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Deletes leftovers of interrupted writes (`.tmp-step-*`, `.old-step-*`) whose writing process is gone (or is
 * this process). Folders of another live process are left alone: it may be writing right now. Returns the
 * deleted paths.
 */
export function cleanStaleTemps(dir: string): string[] {
  const parent = checkpointsDir(dir);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_DIR.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    const p = path.join(parent, name);
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

/** The newest complete checkpoint, or null; cleans up stale temporary folders first. */
export function latestCheckpoint(dir: string): CheckpointInfo | null {
  cleanStaleTemps(dir);
  const all = listCheckpoints(dir);
  return all.length ? all[all.length - 1] : null;
}

/** Deletes all but the newest `keepLast` checkpoints (and never those in `protect`); returns deleted paths. */
export function pruneCheckpoints(dir: string, keepLast: number, protect: readonly number[] = []): string[] {
  const all = listCheckpoints(dir);
  const keep = new Set(all.slice(Math.max(0, all.length - keepLast)).map((c) => c.step));
  for (const s of protect) keep.add(s);
  const removed: string[] = [];
  for (const c of all) {
    if (keep.has(c.step)) continue;
    // Rename first so a crash mid-delete leaves a dot-folder (cleaned later), not a half-deleted step-N.
    const doomed = path.join(path.dirname(c.path), `.old-step-${c.step}-${process.pid}-${randomBytes(4).toString('hex')}`);
    fs.renameSync(c.path, doomed);
    fs.rmSync(doomed, { recursive: true, force: true });
    removed.push(c.path);
  }
  return removed;
}

/** Reads a checkpoint folder (as returned by writeCheckpoint / listCheckpoints). */
export function readCheckpoint(folder: string): LoadedCheckpoint {
  const m = STEP_DIR.exec(path.basename(folder));
  if (!m) throw new Error(`readCheckpoint: ${folder} is not a step-<N> checkpoint folder`);
  const modelFile = path.join(folder, MODEL_FILE);
  const model = readSafetensorsFile(modelFile);
  const tensors: LoadedCheckpoint['tensors'] = {};
  for (const [name, t] of model.tensors) tensors[name] = { data: tensorToF32(t, `${modelFile}: ${name}`), shape: t.shape };
  const optFile = path.join(folder, OPTIMIZER_FILE);
  const optimizer = fs.existsSync(optFile) ? decodeOptimizer(optFile) : null;
  const stateFile = path.join(folder, TRAINER_STATE_FILE);
  let trainerState: Record<string, unknown>;
  try {
    trainerState = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`readCheckpoint: ${stateFile}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { step: Number(m[1]), path: folder, tensors, optimizer, trainerState, metadata: model.metadata };
}
