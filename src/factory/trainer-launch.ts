/**
 * What every runner does before a trainer starts, wherever it runs: job.json written atomically into the job's
 * folder (paths inside the runner's working directory written relative to it, so the data folder can move, or be
 * mounted at another path on another machine), and the command that runs the spec's trainer on it.
 *
 * Owns: `writeJobFile` and `trainerCommand` (the engine's worker under node, or the torch trainer: one process, or
 * torchrun for several: src/factory/torch-trainer.ts), and `shellQuote` for runners that hand a shell the command.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { storedPath } from '../store/paths.ts';
import { mapSpecPaths } from './spec-paths.ts';
import type { JobSpec } from './job-spec.ts';
import { torchCommand, torchPython } from './torch-trainer.ts';

export interface TrainerCommandOptions {
  /** The engine worker's entry (default src/factory/engine-worker-main.ts) and the node arguments before it (default --import tsx). */
  entry?: string;
  nodeArgs?: string[];
  /** node itself (default: this process's). */
  node?: string;
  /** The torch trainer's python (default torchPython()). */
  torchPython?: string;
}

const DEFAULT_ENTRY = fileURLToPath(new URL('./engine-worker-main.ts', import.meta.url));

function tsxImport(): string {
  try { return import.meta.resolve('tsx'); } catch { return 'tsx'; }
}

/** The program and arguments that run `spec`'s trainer on `jobArg` (its job.json, as the trainer is told it). */
export function trainerCommand(spec: JobSpec, jobArg: string, o: TrainerCommandOptions = {}): { command: string; args: string[] } {
  if (spec.trainer === 'torch') return torchCommand(o.torchPython ?? torchPython(), jobArg, spec.processes);
  return { command: o.node ?? process.execPath, args: [...(o.nodeArgs ?? ['--import', tsxImport()]), o.entry ?? DEFAULT_ENTRY, jobArg] };
}

/** A word for the shell, quoted unless it is plainly safe (batch scripts, Ray entrypoints). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The environment every runner gives a trainer: its thread count pinned (OpenMP, OpenBLAS), then `extra`. */
export function trainerEnv(spec: JobSpec, extra: Record<string, string> = {}): Record<string, string> {
  const threads = String(spec.threads);
  return { OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads, ...extra };
}

/** `NAME=value` words for a shell, each value quoted; a name that is no shell variable name is an Error naming it. */
export function shellAssignments(env: Record<string, string>, who: string): string[] {
  return Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`${who}: env name ${JSON.stringify(k)} is not a shell variable name`);
    return `${k}=${shellQuote(v)}`;
  });
}

/** `spec` with its paths inside `cwd` written relative to it (as job.json holds them, and as pods mounting it see them). */
export function relativeSpec(cwd: string, spec: JobSpec): JobSpec {
  return mapSpecPaths(spec, (x) => storedPath(cwd, resolve(cwd, x)));
}

/** Where a job's files are for a runner working in `cwd`: its folder, its job.json, and job.json as the trainer is told it. */
export function jobPaths(cwd: string, spec: JobSpec): { outputDir: string; jobPath: string; jobArg: string } {
  const outputDir = resolve(cwd, spec.outputDir);
  const jobPath = join(outputDir, 'job.json');
  return { outputDir, jobPath, jobArg: storedPath(cwd, jobPath) };
}

/** Writes `<outputDir>/job.json` atomically (the folder made first); returns jobPaths. */
export function writeJobFile(cwd: string, spec: JobSpec): { outputDir: string; jobPath: string; jobArg: string } {
  const p = jobPaths(cwd, spec);
  mkdirSync(p.outputDir, { recursive: true });
  writeFileAtomic(p.jobPath, JSON.stringify(relativeSpec(cwd, spec), null, 2) + '\n');
  return p;
}
