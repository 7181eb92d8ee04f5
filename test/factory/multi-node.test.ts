/**
 * Torch jobs over several machines: the spec's `nodes` as the Slurm batch script writes it (one task per node,
 * torchrun under one c10d rendezvous; the srun line run through bash to see what each node's task would execute),
 * placement of a job of N machines (N one-machine nodes, or N shares on a cluster runner), the scheduler and the
 * factory refusing it where the runner is one machine, and the machine a run is on recorded with the job. The
 * one-node Slurm cluster of the Slurm tests cannot run two nodes: nothing here starts a second machine.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { slurmScript, multiNodeTorchrun } from '../../src/factory/slurm-runner.ts';
import { earliestGangStart, placeGang, poolStates, type PoolNode } from '../../src/factory/placement.ts';
import { planPass } from '../../src/factory/queue-policy.ts';
import { MemoryJobRepository } from '../../src/factory/job-repository.ts';
import { Scheduler, SchedulerError } from '../../src/factory/scheduler.ts';
import { rayDriverNode } from '../../src/factory/ray-runner.ts';
import { trainerOptions, FactoryError } from '../../src/factory/factory-service.ts';
import { parseExperimentFile } from '../../src/factory/experiment-file.ts';
import type { PlacingRunner, RefRunHandle, RunExit, SpanningRunner } from '../../src/factory/runners.ts';
import type { Placement } from '../../src/factory/resources.ts';
import type { JobSpec, Resources } from '../../src/factory/job-spec.ts';
import { specFor } from './repository-suite.ts';

const root = mkdtempSync(join(tmpdir(), 'mf-nodes-'));
after(() => rmSync(root, { recursive: true, force: true }));

const spec = (over: Partial<JobSpec> = {}): JobSpec => ({
  version: 1, id: 'ftjob-abc', name: 'x', stage: 'sft', base: { kind: 'hf', path: 'hf-cache/tiny' }, method: { type: 'lora', rank: 8, alpha: 16 },
  data: { train: { path: 'data/t.jsonl', kind: 'sft' } }, hyperparameters: { batchSize: 8, lr: 1e-4, seqLen: 64 }, seed: 0,
  outputDir: 'jobs/ftjob-abc', threads: 4, ...over,
});

test('Slurm: a job of 4 nodes asks for 4 nodes of one task, its figures per node, and srun starts torchrun on each', () => {
  const s = slurmScript(spec({ trainer: 'torch', processes: 8, nodes: 4 }), { cwd: '/cluster/modelfab', partition: 'gpu', torchPython: '/opt/py/bin/python', timeLimitMinutes: 60 },
    { cpuThreads: 64, memoryMB: 500_000, gpus: 8, gpuMemoryMB: 80_000 });
  const lines = s.split('\n');
  for (const l of ['#SBATCH --nodes=4', '#SBATCH --ntasks-per-node=1', '#SBATCH --cpus-per-task=64', '#SBATCH --mem=500000M', '#SBATCH --gres=gpu:8', '#SBATCH --signal=B:TERM@120',
    'MODELFAB_RDZV_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)']) assert.ok(lines.includes(l), `missing: ${l}\n${s}`);
  assert.ok(!lines.includes('#SBATCH --ntasks=1') && !lines.includes('#SBATCH --nodes=1'), s);
  const srun = lines.find((l) => l.startsWith('exec srun '));
  assert.ok(srun, s);
  // what one node's task runs: bash expands the task's own variables (here node 2 of 4 of Slurm job 77)
  const python = '/bin/echo';
  const inner = multiNodeTorchrun(python, 8, 'jobs/ftjob-abc/job.json');
  const out = execFileSync('bash', ['-c', inner], { encoding: 'utf8', env: { SLURM_NNODES: '4', SLURM_NODEID: '2', SLURM_JOB_ID: '77', MODELFAB_RDZV_HOST: 'gpu-a01' } }).trim();
  assert.equal(out, '-m torch.distributed.run --nnodes=4 --node_rank=2 --nproc_per_node=8 --rdzv_id=77 --rdzv_backend=c10d --rdzv_endpoint=gpu-a01:29500 -m modelfab_torch jobs/ftjob-abc/job.json');
  assert.ok(srun.includes('/opt/py/bin/python -m torch.distributed.run --nnodes="$SLURM_NNODES"'), srun);
  // the batch line itself, as the batch shell parses it: srun, its option, and bash -c with the task's line intact
  const words = execFileSync('bash', ['-c', `printf '%s\\n' ${srun.slice('exec srun '.length)}`], { encoding: 'utf8', env: {} }).trimEnd().split('\n');
  assert.deepEqual(words.slice(0, 3), ['--kill-on-bad-exit=1', 'bash', '-c']);
  assert.equal(words[3], `exec ${multiNodeTorchrun('/opt/py/bin/python', 8, 'jobs/ftjob-abc/job.json')}`);
  assert.throws(() => slurmScript(spec({ nodes: 2 }), { cwd: '/x' }), /only the torch trainer runs on several/);
});

const gpuNode = (name: string, machines?: number): PoolNode => ({ name, capacity: { cpuThreads: 64 * (machines ?? 1), memoryMB: 1_000_000 * (machines ?? 1), gpus: 8 * (machines ?? 1), gpuMemoryMB: 80_000 }, ...(machines ? { machines } : {}) });
const gpus = (n: number): Resources => ({ cpuThreads: n, memoryMB: 1000 * n, gpus: n });

test('placement: N machines are N distinct nodes each with the share, or N shares on a cluster node', () => {
  const states = poolStates([gpuNode('a'), gpuNode('b'), gpuNode('c')], [{ node: 'b', resources: gpus(6), placement: { gpuIds: [0, 1, 2, 3, 4, 5] } }]);
  assert.deepEqual(placeGang(gpus(8), 2, states)!.map((p) => p.node), [0, 2], 'b has 2 GPUs free: not for an 8-GPU share');
  assert.deepEqual(placeGang(gpus(2), 3, states)!.map((p) => p.node), [1, 0, 2], 'best fit first, each node once');
  assert.equal(placeGang(gpus(8), 3, states), null, 'never two shares on one machine');
  const cluster = poolStates([gpuNode('slurm', 4)], []);
  const [one] = placeGang(gpus(8), 4, cluster)!;
  assert.deepEqual([one.node, one.resources.gpus, one.placement.gpuIds.length], [0, 32, 32], 'a cluster runner holds the N shares');
  assert.equal(placeGang(gpus(8), 5, cluster), null, 'more machines than the cluster has');
  // when it could start: the second of the two nodes that free earliest
  const busy = poolStates([gpuNode('a'), gpuNode('b'), gpuNode('c')], [
    { node: 'a', resources: gpus(8), placement: { gpuIds: [0, 1, 2, 3, 4, 5, 6, 7] }, endsAt: 5000 },
    { node: 'b', resources: gpus(8), placement: { gpuIds: [0, 1, 2, 3, 4, 5, 6, 7] }, endsAt: 9000 },
    { node: 'c', resources: gpus(8), placement: { gpuIds: [0, 1, 2, 3, 4, 5, 6, 7] }, endsAt: 2000 },
  ]);
  const e = earliestGangStart(gpus(8), 2, busy, 0)!;
  assert.deepEqual([e.at, e.parts.map((p) => p.node)], [5000, [2, 0]]);
  const plan = planPass([{ id: 'wide', priority: 0, resources: gpus(8), machines: 2, waitedMs: 0, durationMs: 1000 }, { id: 'small', priority: 0, resources: gpus(1), waitedMs: 0, durationMs: 100_000 }], busy, 0, { reserveAfterMs: 0 });
  assert.deepEqual(plan.reservations.map((r) => [r.id, r.node, r.at]), [['wide', 2, 5000], ['wide', 0, 5000], ['small', 1, 9000]], 'one reservation per node it takes');
  assert.deepEqual(plan.starts, [], 'nothing fits without delaying it');
  const free = planPass([{ id: 'wide', priority: 0, resources: gpus(8), machines: 2, waitedMs: 0 }], poolStates([gpuNode('a'), gpuNode('b')], []), 0, { reserveAfterMs: 0 });
  assert.deepEqual(free.starts[0].parts?.map((p) => p.node), [0, 1]);
});

class Runner1 implements PlacingRunner {
  readonly started: Array<{ id: string; resources?: Resources }> = [];
  node: string | null = null;
  constructor(readonly name: string, private readonly cap: Resources) {}
  capacity(): Resources { return this.cap; }
  start(spec: JobSpec, _p?: Placement, resources?: Resources): RefRunHandle {
    this.started.push({ id: spec.id, resources });
    const nodeNow = () => this.node;
    return { jobId: spec.id, ref: `${this.name}:${spec.id}`, get node() { return nodeNow(); }, exited: new Promise<RunExit>(() => {}), stop: () => {} };
  }
}
class Cluster extends Runner1 implements SpanningRunner {
  constructor(name: string, cap: Resources, private readonly n: number) { super(name, cap); }
  machines(): number { return this.n; }
}

test('scheduler: a job of several machines goes only to a runner that spans them, holding a share on each; the node is recorded', async () => {
  const here = new Runner1('here', { cpuThreads: 64, memoryMB: 1_000_000, gpus: 8, gpuMemoryMB: 80_000 });
  const slurm = new Cluster('slurm', { cpuThreads: 256, memoryMB: 4_000_000, gpus: 32, gpuMemoryMB: 80_000 }, 4);
  const repo = new MemoryJobRepository();
  const s = new Scheduler({ repository: repo, runners: [here, slurm], defaultMemoryMB: 100 });
  const torch = (id: string, nodes: number): JobSpec => ({ ...specFor(id, join(root, id)), trainer: 'torch', nodes });
  assert.equal(s.machines(), 4);
  assert.equal(s.machines('here'), 1);
  await assert.rejects(s.submit(torch('pinned', 2), { runner: 'here', estimate: { gpus: 8 } }), (e: unknown) => e instanceof SchedulerError && /spans 2 machines; here runs a job on one machine/.test(e.message));
  await assert.rejects(s.submit(torch('too-many', 5), { estimate: { gpus: 8 } }), /spans 5 machines/);
  await s.submit(torch('wide', 3), { estimate: { gpus: 8, cpuThreads: 16 } });
  await s.submit(torch('wide2', 2), { estimate: { gpus: 8, cpuThreads: 16 } });
  await s.submit(torch('one', 1), { estimate: { gpus: 8 } });
  slurm.node = 'gpu[01-03]';
  await s.tick();
  assert.deepEqual(slurm.started.map((x) => [x.id, x.resources?.gpus]), [['wide', 8]], 'the runner is asked for the per-node share; wide2 waits for 2 more nodes\' GPUs');
  assert.deepEqual(here.started.map((x) => x.id), ['one']);
  const wide = (await s.get('wide'))!;
  assert.equal(wide.placement?.gpuIds.length, 24, 'it holds three shares');
  assert.equal(wide.placement?.node, 'gpu[01-03]');
  slurm.node = 'gpu[01-02,04]';
  await s.tick();
  assert.equal((await s.get('wide'))!.placement?.node, 'gpu[01-02,04]', 'a node the runner learns later is recorded on the next full pass');
  assert.ok((await repo.events('wide')).some((e) => e.type === 'node'));
  await s.stop();
});

test('the factory refuses nnodes for the engine and checks it; experiment files name the field; Ray\'s driver node', () => {
  assert.deepEqual(trainerOptions({ trainer: 'torch', nnodes: 2, nproc_per_node: 4 }), { trainer: 'torch', processes: 4, nodes: 2 });
  assert.deepEqual(trainerOptions({ trainer: 'torch', nnodes: 1 }), { trainer: 'torch' });
  assert.throws(() => trainerOptions({ nnodes: 2 }), (e: unknown) => e instanceof FactoryError && e.param === 'hyperparameters.nnodes' && /engine trains on one machine/.test(e.message));
  assert.throws(() => trainerOptions({ trainer: 'torch', nnodes: 0 }), (e: unknown) => e instanceof FactoryError && e.param === 'hyperparameters.nnodes');
  const base = 'name: x\nbase_models: [m]\ndatasets: [d]\nmethods: [{type: lora}]\nhyperparameters: {batchSize: 4}\n';
  const problems = (text: string) => parseExperimentFile(text, 'exp.yaml').problems.map((p) => JSON.stringify(p));
  assert.match(problems(`${base}nnodes: 2\n`).join('\n'), /nnodes.*needs trainer: torch/);
  assert.match(problems(`${base}trainer: torch\nnnodes: 100\n`).join('\n'), /nnodes.*from 1 to 64/);
  assert.equal(parseExperimentFile(`${base}trainer: torch\nnnodes: 2\n`, 'exp.yaml').request?.nnodes, 2);
  assert.equal(rayDriverNode({ status: 'RUNNING', driver_info: { node_ip_address: '10.0.0.7' }, driver_node_id: 'abc' }), '10.0.0.7');
  assert.equal(rayDriverNode({ status: 'RUNNING', driver_node_id: 'abc' }), 'abc');
  assert.equal(rayDriverNode({ status: 'PENDING' }), null);
  assert.ok(hostname());
});
