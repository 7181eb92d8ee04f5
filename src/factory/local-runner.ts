/**
 * The local Runner: one trainer process per job on this machine.
 *
 * Owns: spawning `node --import tsx src/factory/engine-worker-main.ts <outputDir>/job.json` (or, for a spec with
 * `trainer: 'torch'`, `<python> -m modelfab_torch <outputDir>/job.json`: src/factory/torch-trainer.ts), the machine's capacity, and
 * finding a trainer again after the server that started it died (`adopt`). Guarantees:
 *   - job.json is written atomically before the process starts, so a trainer never reads half a spec; its paths
 *     inside the runner's working directory (the data folder, when the factory runs the runner) are written
 *     relative to it, and the trainer runs there, so a data folder that moves keeps every job's files valid,
 *     even for a trainer that is running while its folder is renamed;
 *   - stdout and stderr go to `<outputDir>/worker.log` (appended, one header line per start), never to a pipe:
 *     a trainer outlives a dead server without dying of SIGPIPE, and its log is complete;
 *   - workers are spawned with `detached: false` (they share the server's process group, so a terminal's Ctrl-C
 *     reaches them and they checkpoint) but nothing ties their life to the server: when the server is killed
 *     they keep running, and `adopt` finds them by pid (the handle's ref "local:<pid>", or the pid in the
 *     heartbeat file) and only when that pid is verifiably this job's worker: alive, not a zombie, and (on
 *     Linux) its command line names this job's job.json (and, for a relative name, its working directory is this
 *     runner's), so a recycled pid is never mistaken for a trainer;
 *   - `stop()` sends SIGTERM (the trainer checkpoints and exits 3); `stop(true)` sends SIGKILL. `exited` resolves
 *     once with {code, signal}; for an adopted process, whose status nobody can wait for, with {null, null}
 *     (the scheduler then reads the outcome from the files, src/factory/runners.ts `runOutcome`);
 *   - thread counts are pinned in the environment (OMP/OpenBLAS) to the spec's `threads`, and GPU jobs see only
 *     their placed devices (CUDA_VISIBLE_DEVICES), so placement is not undone by a library grabbing every core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readlinkSync, realpathSync, writeSync } from 'node:fs';
import os from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Placement } from './resources.ts';
import type { AdoptingRunner, PlacingRunner, RefRunHandle, RunExit } from './runners.ts';
import type { JobSpec, Resources } from './job-spec.ts';
import { jobPaths, trainerCommand, trainerEnv, writeJobFile } from './trainer-launch.ts';

export interface LocalRunnerOptions {
  /** Default: os.availableParallelism(). */
  cpuThreads?: number;
  /** Default: `memoryFraction` of os.totalmem(). */
  memoryMB?: number;
  /** Share of the machine's memory offered to jobs when memoryMB is not given (default 0.9). */
  memoryFraction?: number;
  /** GPUs on this machine and memory per GPU (default none; nothing here detects them yet). */
  gpus?: number;
  gpuMemoryMB?: number;
  /** The trainer entry (default src/factory/engine-worker-main.ts) and the node arguments before it (default --import tsx). */
  entry?: string;
  nodeArgs?: string[];
  /**
   * Working directory of the trainers: relative paths in specs resolve against it, and job.json names the paths
   * inside it relatively. The factory sets it to the data folder (src/factory/factory-runtime.ts). Default process.cwd().
   */
  cwd?: string;
  /** The python of the torch trainer (default torchPython(): MODELFAB_TORCH_PYTHON, else <repo>/.venv-torch/bin/python). */
  torchPython?: string;
  /** Extra environment for the trainers. */
  env?: Record<string, string>;
  /** How often an adopted trainer is checked for exit (ms, default 250). */
  pollMs?: number;
}

/** 'alive', 'zombie' (exited, not yet reaped: as good as gone) or 'gone'. */
export function processState(pid: number): 'alive' | 'zombie' | 'gone' {
  if (!Number.isInteger(pid) || pid <= 0) return 'gone';
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return 'gone';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return 'zombie';
  } catch { /* no /proc here (or it just exited): kill(0) said alive */ }
  return 'alive';
}

/**
 * How a trainer is told its job: the job.json argument, the working directory a relative one is in, and the
 * absolute path (what trainers started by earlier versions were given).
 */
interface WorkerIdentity { arg: string; cwd: string; abs: string }

function sameDir(a: string, b: string): boolean {
  try { return realpathSync(a) === realpathSync(b); } catch { return false; }
}

/**
 * True when `pid`'s command line names the job.json argument, and a relative argument is relative to the same
 * folder (the process's working directory follows a renamed folder); true where /proc is not available.
 */
function isWorkerFor(pid: number, w: WorkerIdentity): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    try { readFileSync('/proc/self/cmdline'); } catch { return true; } // no /proc on this platform
    return false; // /proc exists but not this pid: gone
  }
  const args = cmdline.split('\0');
  if (args.includes(w.abs)) return true;
  if (isAbsolute(w.arg) || !args.includes(w.arg)) return false;
  try { return sameDir(readlinkSync(`/proc/${pid}/cwd`), w.cwd); } catch { return false; }
}

function readHeartbeatPid(outputDir: string): number | null {
  try {
    const hb = JSON.parse(readFileSync(join(outputDir, 'heartbeat'), 'utf8')) as { pid?: unknown };
    return typeof hb.pid === 'number' ? hb.pid : null;
  } catch {
    return null;
  }
}

export class LocalRunHandle implements RefRunHandle {
  readonly ref: string;
  /** This machine's host name: where the trainer runs. */
  readonly node = os.hostname();
  private poll: NodeJS.Timeout | null = null;
  private done = false;
  readonly exited: Promise<RunExit>;

  constructor(readonly jobId: string, readonly pid: number, private readonly worker: WorkerIdentity, source: ChildProcess | { pollMs: number }) {
    this.ref = `local:${pid}`;
    this.exited = new Promise<RunExit>((resolveExit) => {
      const finish = (r: RunExit) => { if (this.done) return; this.done = true; if (this.poll) clearInterval(this.poll); resolveExit(r); };
      if ('pollMs' in source) {
        // Not unref'd: watching a live trainer keeps the process alive, as a child would (dispose() lets go).
        this.poll = setInterval(() => { if (processState(pid) !== 'alive') finish({ code: null, signal: null }); }, source.pollMs);
      } else {
        source.once('exit', (code, signal) => finish({ code, signal }));
        source.once('error', () => finish({ code: 127, signal: null }));
      }
    });
  }

  /** True for a trainer started by an earlier server (its exit status is unknown). */
  get adopted(): boolean {
    return this.poll !== null;
  }

  stop(force = false): void {
    if (this.done) return;
    // An adopted pid is re-verified first, so a recycled pid is never signalled.
    if (this.adopted && (processState(this.pid) !== 'alive' || !isWorkerFor(this.pid, this.worker))) return;
    try { process.kill(this.pid, force ? 'SIGKILL' : 'SIGTERM'); } catch { /* already gone */ }
  }

  /** Stops watching an adopted trainer without signalling it. */
  dispose(): void {
    if (this.poll) clearInterval(this.poll);
  }
}

export class LocalRunner implements PlacingRunner, AdoptingRunner {
  readonly name = 'local';
  readonly hostBound = true;
  private readonly opts: LocalRunnerOptions;
  private readonly cwd: string;

  constructor(opts: LocalRunnerOptions = {}) {
    this.opts = opts;
    this.cwd = resolve(opts.cwd ?? process.cwd());
  }

  capacity(): Resources {
    const o = this.opts;
    const mem = o.memoryMB ?? Math.floor((os.totalmem() / 2 ** 20) * (o.memoryFraction ?? 0.9));
    return { cpuThreads: o.cpuThreads ?? os.availableParallelism(), memoryMB: mem, gpus: o.gpus ?? 0, gpuMemoryMB: o.gpuMemoryMB ?? 0 };
  }

  private paths(spec: JobSpec): { outputDir: string; worker: WorkerIdentity } {
    const { outputDir, jobPath, jobArg } = jobPaths(this.cwd, spec);
    return { outputDir, worker: { arg: jobArg, cwd: this.cwd, abs: jobPath } };
  }

  /** The program and arguments that run `spec`'s trainer on `jobArg` (its job.json, as the trainer is told it). */
  command(spec: JobSpec, jobArg: string): { command: string; args: string[] } {
    return trainerCommand(spec, jobArg, this.opts);
  }

  start(spec: JobSpec, placement?: Placement): LocalRunHandle {
    const { outputDir, worker } = this.paths(spec);
    writeJobFile(this.cwd, spec);
    const env: NodeJS.ProcessEnv = { ...process.env, ...trainerEnv(spec, this.opts.env) };
    if ((this.opts.gpus ?? 0) > 0 || placement?.gpuIds.length) env.CUDA_VISIBLE_DEVICES = (placement?.gpuIds ?? []).join(',');
    const log = openSync(join(outputDir, 'worker.log'), 'a');
    let child: ChildProcess;
    try {
      const cmd = this.command(spec, worker.arg);
      writeSync(log, `--- ${new Date().toISOString()} modelfab local runner: starting the worker for ${spec.id} (${spec.trainer ?? 'engine'} trainer)\n`);
      child = spawn(cmd.command, cmd.args, {
        cwd: this.cwd, env, stdio: ['ignore', log, log], detached: false,
      });
    } finally {
      closeSync(log);
    }
    return new LocalRunHandle(spec.id, child.pid ?? -1, worker, child);
  }

  adopt(spec: JobSpec, ref: string | null): LocalRunHandle | null {
    const { outputDir, worker } = this.paths(spec);
    const candidates: number[] = [];
    const m = /^local:(\d+)$/.exec(ref ?? '');
    if (m) candidates.push(Number(m[1]));
    const hb = readHeartbeatPid(outputDir);
    if (hb !== null && !candidates.includes(hb)) candidates.push(hb);
    for (const pid of candidates) {
      if (pid === process.pid) continue;
      if (processState(pid) === 'alive' && isWorkerFor(pid, worker)) return new LocalRunHandle(spec.id, pid, worker, { pollMs: this.opts.pollMs ?? 250 });
    }
    return null;
  }
}
