/**
 * The Slurm runner, against a real one-node Slurm cluster (scripts/slurm-one-node.sh, started by
 * scripts/setup-test-env.sh): the batch script it writes; an experiment of three jobs run as Slurm jobs by
 * `modelfab serve --runner slurm`, the server killed with kill -9 mid-experiment and started again, which adopts
 * the jobs still in the cluster and finishes the experiment with every job done once; a cancel that ends the Slurm
 * job; and a time limit before which the trainer checkpoints, so the job goes on in a new run from its checkpoint.
 * Skipped where no cluster answers, except under MODELFAB_REQUIRE_SLURM=1 (CI). [slow: about 2 minutes]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../../src/api/server.ts';
import { parseScontrolJob, SlurmRunner, slurmExit, slurmScript } from '../../src/factory/slurm-runner.ts';
import { shellQuote } from '../../src/factory/trainer-launch.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';
import { readMetrics } from '../../src/engine/metrics-log.ts';
import { apiCall, tinyBaseAndData, until } from './server-helpers.ts';
import { FAKE_WORKER, runnerSuite } from './runner-suite.ts';

const KEY = 'sk-mf-slurm-test-key-0123456789abcdef';
const bin = new URL('../../bin/modelfab.js', import.meta.url).pathname;

function slurmUp(): boolean {
  try { return /idle|mixed|allocated/.test(execFileSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', timeout: 10_000 })); } catch { return false; }
}
const noSlurm = slurmUp() ? undefined : process.env.MODELFAB_REQUIRE_SLURM === '1' ? undefined : 'no Slurm cluster answers here (sudo bash scripts/slurm-one-node.sh starts one)';

const spec = (over: Partial<JobSpec> = {}): JobSpec => ({
  version: 1, id: 'ftjob-abc', name: 'x', stage: 'sft', base: { kind: 'engine', path: 'models/tiny' }, method: { type: 'full' },
  data: { train: { path: 'data/t.jsonl', kind: 'sft' } }, hyperparameters: { batchSize: 2, lr: 1e-3, seqLen: 32 }, seed: 0,
  outputDir: 'jobs/ftjob-abc', threads: 1, ...over,
});

test('the batch script: resources as #SBATCH lines, the trainer exec\'d with its arguments quoted', () => {
  const s = slurmScript(spec({ trainer: 'torch', processes: 2 }), { cwd: '/cluster/modelfab', partition: 'gpu', account: 'ml', qos: 'high', timeLimitMinutes: 90, extraSbatch: ['--constraint=a100'], torchPython: '/opt/py env/bin/python', env: { HF_HOME: '/cluster/hf' } },
    { cpuThreads: 8, memoryMB: 64_000, gpus: 2, gpuMemoryMB: 40_000 });
  const lines = s.split('\n');
  assert.equal(lines[0], '#!/bin/bash');
  for (const l of ['#SBATCH --job-name=modelfab-ftjob-abc', '#SBATCH --chdir=/cluster/modelfab', '#SBATCH --output=/cluster/modelfab/jobs/ftjob-abc/worker.log', '#SBATCH --cpus-per-task=8',
    '#SBATCH --mem=64000M', '#SBATCH --gres=gpu:2', '#SBATCH --partition=gpu', '#SBATCH --account=ml', '#SBATCH --qos=high', '#SBATCH --time=90', '#SBATCH --signal=B:TERM@120',
    '#SBATCH --constraint=a100', 'export HF_HOME=/cluster/hf']) assert.ok(lines.includes(l), `missing: ${l}\n${s}`);
  assert.ok(lines.includes("exec '/opt/py env/bin/python' -m torch.distributed.run --standalone --nproc_per_node=2 -m modelfab_torch jobs/ftjob-abc/job.json"), s);
  // the engine's worker: node with the tsx loader, the job.json relative to the shared folder
  assert.match(slurmScript(spec(), { cwd: '/cluster/modelfab' }), /\nexec \S+node\S* --import \S+ \S+engine-worker-main\.ts jobs\/ftjob-abc\/job\.json\n/);
  assert.throws(() => slurmScript(spec(), { cwd: '/x', partition: 'a\nrm -rf /' }), /partition must be one line/);
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  const f = parseScontrolJob('JobId=12 JobName=modelfab-ftjob-abc UserId=root(0) JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 NodeList=vm')!;
  assert.deepEqual([f.JobId, f.JobState, f.NodeList], ['12', 'FAILED', 'vm']);
  assert.deepEqual(slurmExit(f), { code: 3, signal: null });
  assert.deepEqual(slurmExit({ ExitCode: '0:9' }), { code: null, signal: 'SIGKILL' });
  assert.equal(parseScontrolJob('slurm_load_jobs error: Invalid job id specified'), null);
});

runnerSuite({
  name: 'slurm', skip: noSlurm, make: (mode, cwd) => new SlurmRunner({ cwd, entry: FAKE_WORKER, nodeArgs: [], env: { FAKE_MODE: mode }, pollMs: 200 }),
  killed: { code: 3, signal: null }, adoptedExit: { code: 3, signal: null },
});

/** A data folder with a tiny base model and a dataset, made in-process. */
async function prepare(dir: string): Promise<void> {
  const srv = await createServer({ dataDir: dir, adminKey: KEY });
  try { await tinyBaseAndData(srv, dir); } finally { await srv.close(); }
}

const api = <T>(port: number, method: string, path: string, body?: unknown) => apiCall<T>(port, KEY, method, path, body);

interface Job { id: string; status: string; modelfab: { step: number | null } }

/** Cancels what this test's data folder still has in the cluster. */
function cancelLeftovers(dir: string): void {
  try {
    const mine = new Set(readdirSync(join(dir, 'jobs')).map((id) => `modelfab-${id}`));
    for (const line of execFileSync('squeue', ['-h', '-o', '%i %j'], { encoding: 'utf8' }).split('\n')) {
      const [id, name] = line.trim().split(/\s+/);
      if (id && name && mine.has(name)) execFileSync('scancel', [id]);
    }
  } catch { /* no jobs folder, or nothing left */ }
}

const slurmIdOf = (dir: string, jobId: string): string | undefined => /Slurm job (\d+)/.exec(readFileSync(join(dir, 'jobs', jobId, 'worker.log'), 'utf8'))?.[1];

test('[slow] an experiment through Slurm; the server killed with -9 and started again adopts the jobs and finishes it, every job once', { skip: noSlurm, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-slurm-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  let proc: ChildProcess | null = null;
  const serve = () => spawn(process.execPath, [bin, 'serve', '--data', dir, '--port', String(port), '--no-base-models', '--runner', 'slurm'], { env: { ...process.env, MODELFAB_ADMIN_KEY: KEY }, stdio: 'ignore' });
  try {
    await prepare(dir);
    proc = serve();
    await until(() => api(port, 'GET', '/v1/experiments'), 60_000, 'the server');
    const exp = await api<{ id: string; jobs: Job[] }>(port, 'POST', '/v1/experiments', {
      name: 'slurm', base_models: ['tiny'], datasets: ['qa'], suites: [],
      methods: [{ name: 'full', spec: { type: 'full' } }, { name: 'lora', spec: { type: 'lora', rank: 4, alpha: 8 } }, { name: 'prompt', spec: { type: 'prompt', numVirtualTokens: 4 } }],
      hyperparameters: { batchSize: 4, seqLen: 64, maxSteps: 300, checkpointEvery: 5 },
    });
    assert.equal(exp.jobs.length, 3);
    // the cluster has two CPUs: two jobs run while the third waits; once one is past a checkpoint, the server dies
    await until(async () => {
      const e = await api<{ jobs: Job[] }>(port, 'GET', `/v1/experiments/${exp.id}`);
      return e.jobs.some((j) => j.status === 'running' && (j.modelfab.step ?? 0) >= 10) ? e : null;
    }, 120_000, 'a running job past a checkpoint');
    proc.kill('SIGKILL');
    await new Promise((r) => proc!.once('exit', r));
    const inCluster = execFileSync('squeue', ['-h', '-o', '%j'], { encoding: 'utf8' });
    assert.match(inCluster, /modelfab-/, 'the trainers outlive the server: they are Slurm jobs');

    proc = serve();
    const done = await until(async () => {
      const e = await api<{ status: string; jobs: Job[] }>(port, 'GET', `/v1/experiments/${exp.id}`);
      return ['succeeded', 'completed_with_failures', 'failed'].includes(e.status) ? e : null;
    }, 240_000, 'the experiment to finish');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.jobs.map((j) => [j.id, j.status])));
    for (const j of done.jobs) {
      const steps = readMetrics(join(dir, 'jobs', j.id, 'metrics.jsonl')).map((m) => m.step);
      assert.equal(steps.filter((s) => s === 1).length, 1, `${j.id} restarted from scratch`);
      assert.equal(Math.max(...steps), 300);
      assert.ok(existsSync(join(dir, 'jobs', j.id, 'manifest.json')));
      assert.ok(slurmIdOf(dir, j.id), `${j.id} ran as a Slurm job`);
      assert.match(readFileSync(join(dir, 'jobs', j.id, 'slurm.sbatch'), 'utf8'), /^#!\/bin\/bash\n#SBATCH --job-name=modelfab-/);
    }
  } finally {
    proc?.kill('SIGKILL');
    cancelLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('[slow] a cancel ends the Slurm job; a time limit makes the trainer checkpoint and the job go on in a new run', { skip: noSlurm, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-slurm-'));
  await prepare(dir);
  // runs of one minute, the trainer told to checkpoint 50 s before the end
  const srv = await createServer({ dataDir: dir, adminKey: KEY, factory: { runner: new SlurmRunner({ cwd: dir, timeLimitMinutes: 1, checkpointBeforeS: 50, pollMs: 500 }) } });
  try {
    const f = srv.factory.factory;
    const job = (maxSteps: number, checkpointEvery: number) => f.createJob({ model: 'tiny', dataset: 'qa', method: { type: 'supervised', supervised: { hyperparameters: { batch_size: 4 } } } },
      { hyperparameters: { maxSteps, seqLen: 64, checkpointEvery } });
    const long = await job(100_000, 5);
    await until(async () => ((await srv.factory.scheduler.get(long.id))?.step ?? 0) >= 3 ? true : null, 120_000, 'the long job to train');
    const slurmId = slurmIdOf(dir, long.id)!;
    await f.cancel(long.id);
    const cancelled = await srv.factory.scheduler.waitFor(long.id, undefined, 60_000);
    assert.equal(cancelled.status, 'cancelled');
    const state = parseScontrolJob(execFileSync('scontrol', ['show', 'job', '-o', slurmId], { encoding: 'utf8' }))!.JobState;
    assert.ok(['FAILED', 'CANCELLED', 'COMPLETED'].includes(state!), `the Slurm job ended (${state})`);
    assert.match(readFileSync(join(dir, 'jobs', long.id, 'events.jsonl'), 'utf8'), /stopped at step \d+; checkpoint written/, 'it checkpointed on the way out');

    // a long job in runs of one minute: Slurm signals the trainer 50 s before the limit (at its next periodic
    // check, so 10 to 40 s into the run); it checkpoints and stops, and the next run resumes from the checkpoint
    const timed = await job(1_000_000, 10);
    const events = () => readFileSync(join(dir, 'jobs', timed.id, 'events.jsonl'), 'utf8');
    await until(async () => (/resuming from the latest checkpoint/.test(events()) ? true : null), 180_000, 'a run stopped before its time limit and resumed');
    const stopped = /stopped at step (\d+); checkpoint written/.exec(events());
    assert.ok(stopped, 'Slurm\'s signal before the time limit stopped the first run with a checkpoint');
    const runs = ((await srv.factory.scheduler.get(timed.id))!).runs;
    assert.ok(runs >= 2, `queued again and started in a new run (${runs} runs)`);
    await until(async () => (readMetrics(join(dir, 'jobs', timed.id, 'metrics.jsonl')).some((m) => m.step > Number(stopped[1])) ? true : null), 60_000, 'the new run to train');
    const steps = readMetrics(join(dir, 'jobs', timed.id, 'metrics.jsonl')).map((m) => m.step);
    assert.equal(steps.filter((x) => x === 1).length, 1, 'the new run went on from the checkpoint, not from step 1');
    await f.cancel(timed.id);
    assert.equal((await srv.factory.scheduler.waitFor(timed.id, undefined, 60_000)).status, 'cancelled');
  } finally {
    await srv.close();
    cancelLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});
