/**
 * The Slurm Runner: each job is a Slurm batch job that runs the same trainer command as the local runner, on a
 * node of the cluster, in the job's folder on a path every node sees (the data folder on NFS, Lustre or a cloud
 * file share: `cwd`).
 *
 * Owns: the batch script (`slurmScript`, pure: `#!/bin/bash`, the #SBATCH lines for partition, account, QoS,
 * CPUs, memory, GPUs as `--gres=gpu:N`, time limit and the admin's extra lines, then `exec` of the trainer so that
 * Slurm's signals reach it; a torch job of several nodes gets `--nodes=N --ntasks-per-node=1`, its figures per
 * node, and `exec srun` of torchrun on every node under one c10d rendezvous at the first node's port 29500),
 * `sbatch --parsable`, following the job with `scontrol show job -o` (which works with
 * accounting off, for MinJobAge seconds after the end), cancelling with `scancel`, and adopting a job still in
 * the cluster after a server restart (the handle's ref "slurm:<id>", else the job's name `modelfab-<job id>`).
 * Guarantees:
 *   - `stop()` sends SIGTERM to the trainer alone (`scancel --batch --signal=TERM`): it checkpoints and exits 3;
 *     a job still pending is cancelled; `stop(true)` cancels it (`scancel`: Slurm sends SIGTERM to every
 *     process of the job, then SIGKILL after the cluster's KillWait);
 *   - with a time limit, `--signal=B:TERM@<s>` asks the trainer to checkpoint that long before Slurm would kill
 *     it; it exits 3 and the scheduler queues it again, and the next run resumes from the checkpoint;
 *   - `exited` resolves once, with the trainer's exit code as Slurm recorded it, or {null, null} when Slurm has
 *     forgotten the job (the scheduler then reads the outcome from the files: runners.ts `runOutcome`);
 *   - commands run with execFile (no shell), each argument of the trainer's command is shell-quoted in the script,
 *     and the script is written atomically beside job.json (`slurm.sbatch`), so what ran can be read.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../util/atomic-write.ts';
import type { Placement } from './resources.ts';
import { PolledRunHandle, type AdoptingRunner, type PlacingRunner, type RunExit, type SpanningRunner } from './runners.ts';
import type { JobSpec, Resources } from './job-spec.ts';
import { jobPaths, shellAssignments, shellQuote, trainerCommand, trainerEnv, writeJobFile, type TrainerCommandOptions } from './trainer-launch.ts';

const run = promisify(execFile);

export interface SlurmRunnerOptions extends TrainerCommandOptions {
  /** The shared folder the trainers run in (the data folder as every node sees it). Default process.cwd(). */
  cwd?: string;
  partition?: string;
  account?: string;
  qos?: string;
  /** Wall-clock limit per run, minutes (Slurm's --time); none by default. */
  timeLimitMinutes?: number;
  /** With a time limit: seconds before it when the trainer is told to checkpoint and stop (default 120). */
  checkpointBeforeS?: number;
  /** More #SBATCH lines, as written after "#SBATCH " (e.g. "--constraint=a100"). */
  extraSbatch?: string[];
  /** What modelfab may use of the partition at once; default: what `sinfo` reports for it. */
  cpuThreads?: number;
  memoryMB?: number;
  gpus?: number;
  gpuMemoryMB?: number;
  /** Nodes one job may span (`--nodes`); default: how many `sinfo` lists for the partition. */
  nodes?: number;
  /** Memory asked for a job the scheduler gave no figure (MB, default 2048). */
  defaultMemoryMB?: number;
  /** Extra environment for the trainers (exported in the script). */
  env?: Record<string, string>;
  /** How often a job's state is asked for (ms, default 1000). */
  pollMs?: number;
  /** Directory of sbatch, scontrol, scancel, squeue, sinfo (default: found on PATH). */
  binDir?: string;
}

const DEFAULT_MEMORY_MB = 2048;

/** Slurm states after which a job is done. */
const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'SPECIAL_EXIT', 'REVOKED']);

/** One #SBATCH value: no newline may end a line early and start a command. */
function sbatchValue(what: string, v: string): string {
  if (/[\r\n]/.test(v)) throw new Error(`slurm runner: ${what} must be one line`);
  return v;
}

/** The batch script of `spec` (see the header). `resources`: what the scheduler placed the job with. */
export function slurmScript(spec: JobSpec, o: SlurmRunnerOptions & { cwd: string }, resources?: Resources): string {
  const { outputDir, jobArg } = jobPaths(o.cwd, spec);
  const cmd = trainerCommand(spec, jobArg, o);
  const procs = spec.processes ?? 1;
  const nodes = spec.nodes ?? 1;
  if (nodes > 1 && spec.trainer !== 'torch') throw new Error(`slurm runner: job ${spec.id} spans ${nodes} nodes; only the torch trainer runs on several`);
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=modelfab-${spec.id}`,
    `#SBATCH --chdir=${sbatchValue('cwd', o.cwd)}`,
    `#SBATCH --output=${sbatchValue('the job folder', join(outputDir, 'worker.log'))}`,
    '#SBATCH --open-mode=append',
    ...(nodes > 1 ? [`#SBATCH --nodes=${nodes}`, '#SBATCH --ntasks-per-node=1'] : ['#SBATCH --nodes=1', '#SBATCH --ntasks=1']),
    // per machine: the scheduler's figure already counts every process's threads (scheduler.ts resourcesFor)
    `#SBATCH --cpus-per-task=${Math.max(1, resources?.cpuThreads ?? spec.threads * procs)}`,
  ];
  // always a memory figure: without one, Slurm gives a job the whole node's memory and runs one job per node
  lines.push(`#SBATCH --mem=${Math.ceil(resources?.memoryMB || o.defaultMemoryMB || DEFAULT_MEMORY_MB)}M`);
  const gpus = resources?.gpus ?? 0;
  if (gpus > 0) lines.push(`#SBATCH --gres=gpu:${gpus}`);
  if (o.partition) lines.push(`#SBATCH --partition=${sbatchValue('partition', o.partition)}`);
  if (o.account) lines.push(`#SBATCH --account=${sbatchValue('account', o.account)}`);
  if (o.qos) lines.push(`#SBATCH --qos=${sbatchValue('qos', o.qos)}`);
  if (o.timeLimitMinutes) {
    lines.push(`#SBATCH --time=${Math.ceil(o.timeLimitMinutes)}`);
    lines.push(`#SBATCH --signal=B:TERM@${Math.max(1, Math.round(o.checkpointBeforeS ?? 120))}`);
  }
  for (const x of o.extraSbatch ?? []) lines.push(`#SBATCH ${sbatchValue('extraSbatch', x)}`);
  lines.push('', '# written by modelfab: the trainer of job ' + spec.id + ' (' + (spec.trainer ?? 'engine') + '), in its job folder');
  for (const a of shellAssignments(trainerEnv(spec, o.env), 'slurm runner')) lines.push(`export ${a}`);
  lines.push(`echo "--- $(date -Is) modelfab slurm runner: starting the worker for ${spec.id} as Slurm job $SLURM_JOB_ID on $(hostname)"`);
  if (nodes > 1) {
    // one task per node; each runs torchrun, which joins the others at the first node's c10d rendezvous. srun is
    // the batch shell (exec) and passes --signal=B:TERM and scancel --batch on to every task's torchrun.
    lines.push('MODELFAB_RDZV_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)', 'export MODELFAB_RDZV_HOST');
    lines.push(`exec srun --kill-on-bad-exit=1 bash -c ${shellQuote(`exec ${multiNodeTorchrun(cmd.command, procs, jobArg)}`)}`, '');
    return lines.join('\n');
  }
  // exec: the trainer is the batch shell, so --signal=B:TERM and scancel --batch reach it
  lines.push(`exec ${[cmd.command, ...cmd.args].map(shellQuote).join(' ')}`, '');
  return lines.join('\n');
}

/**
 * The command each node's task runs (a shell line; the variables are the task's own, set by srun): torchrun with
 * `procs` processes on this node, its rank among the nodes, and the rendezvous at the first node, port 29500.
 */
export function multiNodeTorchrun(python: string, procs: number, jobArg: string): string {
  return [
    shellQuote(python), '-m', 'torch.distributed.run', '--nnodes="$SLURM_NNODES"', '--node_rank="$SLURM_NODEID"',
    `--nproc_per_node=${procs}`, '--rdzv_id="$SLURM_JOB_ID"', '--rdzv_backend=c10d', '--rdzv_endpoint="$MODELFAB_RDZV_HOST:29500"',
    '-m', 'modelfab_torch', shellQuote(jobArg),
  ].join(' ');
}

/** `scontrol show job -o <id>`'s fields (KEY=VALUE words), or null when Slurm no longer knows the job. */
export function parseScontrolJob(line: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const m of line.trim().matchAll(/(\w+)=(\S*)/g)) if (!(m[1]! in out)) out[m[1]!] = m[2]!;
  return out.JobId ? out : null;
}

/** What Slurm's JobState and ExitCode ("code:signal") say about a finished run. */
export function slurmExit(fields: Record<string, string>): RunExit {
  const [code, sig] = (fields.ExitCode ?? '').split(':').map((x) => Number(x));
  if (Number.isInteger(sig) && sig! > 0) return { code: null, signal: signalName(sig!) };
  if (Number.isInteger(code)) return { code: code!, signal: null };
  return { code: null, signal: null };
}

function signalName(n: number): string {
  return ({ 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' } as Record<number, string>)[n] ?? `SIG${n}`;
}

export class SlurmRunHandle extends PolledRunHandle {
  /** The node it runs on, once Slurm has placed it. */
  node: string | null = null;
  state = 'PENDING';

  constructor(jobId: string, readonly slurmId: string, private readonly bin: (name: string) => string, pollMs: number) {
    super(jobId, `slurm:${slurmId}`, pollMs);
  }

  protected async check(): Promise<RunExit | undefined> {
    const fields = await this.show();
    if (fields === null) return { code: null, signal: null };
    this.state = fields.JobState ?? this.state;
    if (fields.NodeList && fields.NodeList !== '(null)') this.node = fields.NodeList;
    return FINAL.has(this.state) ? slurmExit(fields) : undefined;
  }

  /** The job's fields, or null when Slurm does not know it (any more). */
  async show(): Promise<Record<string, string> | null> {
    try {
      const { stdout } = await run(this.bin('scontrol'), ['show', 'job', '-o', this.slurmId], { timeout: 30_000 });
      return parseScontrolJob(stdout);
    } catch (e) {
      const msg = String((e as { stderr?: string }).stderr ?? (e as Error).message);
      if (/Invalid job id/i.test(msg)) return null;
      throw e;
    }
  }

  stop(force = false): void {
    if (this.done) return;
    // the state as Slurm has it now (the poll may be behind): a pending job is only cancelled, a running one's
    // trainer (the batch shell, exec'd) gets the signal
    let state = this.state;
    try { state = parseScontrolJob(execFileSync(this.bin('scontrol'), ['show', 'job', '-o', this.slurmId], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] }))?.JobState ?? state; } catch { /* ask scancel anyway */ }
    const args = state === 'PENDING' || force ? [this.slurmId] : ['--batch', '--signal=TERM', this.slurmId];
    execFile(this.bin('scancel'), args, { timeout: 30_000 }, () => { /* a job that just ended: nothing to cancel */ });
  }
}

export class SlurmRunner implements PlacingRunner, AdoptingRunner, SpanningRunner {
  readonly name = 'slurm';
  private readonly o: SlurmRunnerOptions & { cwd: string };
  private cap: Resources | null = null;
  private nodeCount: number | null = null;

  constructor(opts: SlurmRunnerOptions = {}) {
    this.o = { ...opts, cwd: resolve(opts.cwd ?? process.cwd()) };
  }

  private bin = (name: string): string => (this.o.binDir ? join(this.o.binDir, name) : name);

  /** The options' figures, else the partition's nodes as `sinfo` reports them (summed; GPUs from their gres). */
  capacity(): Resources {
    if (this.cap) return this.cap;
    const o = this.o;
    let cpus = 0, mem = 0, gpus = 0;
    const seen = new Set<string>();
    if (o.cpuThreads === undefined || o.memoryMB === undefined || o.gpus === undefined) {
      for (const line of this.sinfo().split('\n')) {
        const [node, c, m, g] = line.trim().split(/\s+/);
        if (!node || seen.has(node)) continue;
        seen.add(node);
        cpus += Number(c) || 0;
        mem += Number(m) || 0;
        gpus += Number(/gpu(?::[^:(]+)?:(\d+)/.exec(g ?? '')?.[1] ?? 0);
      }
    }
    this.cap = { cpuThreads: o.cpuThreads ?? cpus, memoryMB: o.memoryMB ?? mem, gpus: o.gpus ?? gpus, gpuMemoryMB: o.gpuMemoryMB ?? 0 };
    if (seen.size > 0) this.nodeCount ??= seen.size;
    return this.cap;
  }

  /** The partition's nodes, one a line: name, CPUs, memory (MB), gres. */
  private sinfo(): string {
    return execFileSync(this.bin('sinfo'), ['-h', '-N', ...(this.o.partition ? ['-p', this.o.partition] : []), '-o', '%N %c %m %G'], { encoding: 'utf8', timeout: 30_000 });
  }

  /**
   * Nodes one job may span: the option, else the partition's node count (sinfo; while sinfo cannot be asked this
   * throws, as capacity() does, and the scheduler's pass is tried again).
   */
  machines(): number {
    if (this.o.nodes !== undefined) return this.o.nodes;
    this.nodeCount ??= Math.max(1, new Set(this.sinfo().split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean)).size);
    return this.nodeCount;
  }

  start(spec: JobSpec, _placement?: Placement, resources?: Resources): SlurmRunHandle {
    const { outputDir } = writeJobFile(this.o.cwd, spec);
    const script = join(outputDir, 'slurm.sbatch');
    writeFileAtomic(script, slurmScript(spec, this.o, resources));
    const out = execFileSync(this.bin('sbatch'), ['--parsable', script], { encoding: 'utf8', cwd: this.o.cwd, timeout: 60_000 }).trim();
    const id = /^(\d+)/.exec(out)?.[1];
    if (!id) throw new Error(`sbatch printed no job id for ${spec.id}: ${out.slice(0, 200)}`);
    return new SlurmRunHandle(spec.id, id, this.bin, this.o.pollMs ?? 1000);
  }

  adopt(spec: JobSpec, ref: string | null): SlurmRunHandle | null {
    let id = /^slurm:(\d+)$/.exec(ref ?? '')?.[1];
    if (!id) {
      // the server died between sbatch and recording the id: the job's name finds it
      const out = execFileSync(this.bin('squeue'), ['-h', '-n', `modelfab-${spec.id}`, '-o', '%i'], { encoding: 'utf8', timeout: 30_000 }).trim();
      id = out.split('\n')[0]?.trim() || undefined;
    }
    if (!id) return null;
    let line = '';
    try {
      line = execFileSync(this.bin('scontrol'), ['show', 'job', '-o', id], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      return null; // Slurm no longer knows it: ended, the files say how
    }
    const fields = parseScontrolJob(line);
    if (!fields || FINAL.has(fields.JobState ?? '') || fields.JobName !== `modelfab-${spec.id}`) return null;
    return new SlurmRunHandle(spec.id, id, this.bin, this.o.pollMs ?? 1000);
  }
}
