/**
 * The Kubernetes runner's pure parts: kubectl's command lines, the ref of a run, what recorded `kubectl get -o json`
 * outputs say (fixtures/kubectl/: written from the Kubernetes API reference, Job, Pod and Node, and Kubeflow
 * Trainer's TrainJob; not captured from a live cluster), how an ended pod's exit maps to what the scheduler does,
 * the cluster's capacity, and the runner's settings (runners file, serve flags). No cluster is reachable here and
 * no kubectl is installed: nothing is applied, and no fake kubectl stands in for one.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  clusterCapacity, KubernetesRunner, kubectlArgs, parseWorkloadRef, podSelector, podsState, workloadEnded, workloadOf, workloadRef, type Workload,
} from '../../src/factory/kubernetes-runner.ts';
import { runOutcome, machinesOf } from '../../src/factory/runners.ts';
import { buildRunners, parseRunnersFile } from '../../src/factory/runners-file.ts';
import { runnerFromOptions } from '../../src/cli/serve-commands.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'mf-k8s-runner-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const recorded = (name: string): unknown => JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'kubectl', `${name}.json`), 'utf8'));

const job: Workload = { kind: 'job', name: 'modelfab-ftjob-abc', namespace: 'ml' };
const big: Workload = { kind: 'trainjob', name: 'modelfab-ftjob-big', namespace: 'ml' };

test('kubectl command lines: apply from stdin, get, the pods by their controller\'s label, delete in the foreground', () => {
  const k = ['--kubeconfig', '/etc/mf/kubeconfig', '--namespace', 'ml'];
  assert.deepEqual(kubectlArgs('/etc/mf/kubeconfig', job, 'apply'), [...k, 'apply', '-f', '-', '-o', 'name']);
  assert.deepEqual(kubectlArgs('/etc/mf/kubeconfig', job, 'get'), [...k, 'get', 'jobs.batch/modelfab-ftjob-abc', '-o', 'json']);
  assert.deepEqual(kubectlArgs('/etc/mf/kubeconfig', big, 'get'), [...k, 'get', 'trainjobs.trainer.kubeflow.org/modelfab-ftjob-big', '-o', 'json']);
  assert.deepEqual(kubectlArgs('/etc/mf/kubeconfig', job, 'pods'), [...k, 'get', 'pods', '-l', 'batch.kubernetes.io/job-name=modelfab-ftjob-abc', '-o', 'json']);
  assert.equal(podSelector(big), 'jobset.sigs.k8s.io/jobset-name=modelfab-ftjob-big');
  assert.deepEqual(kubectlArgs('/etc/mf/kubeconfig', job, 'delete'), [...k, 'delete', 'jobs.batch/modelfab-ftjob-abc', '--cascade=foreground', '--wait=false', '--ignore-not-found']);
  assert.deepEqual(kubectlArgs('/etc/mf/kubeconfig', big, 'kill'), [...k, 'delete', 'pods', '-l', 'jobset.sigs.k8s.io/jobset-name=modelfab-ftjob-big', '--grace-period=0', '--force', '--wait=false', '--ignore-not-found']);
  assert.ok(kubectlArgs('/etc/mf/kubeconfig', job, 'clear').includes('--wait=true'), 'the previous run\'s workload is gone before the next is applied');
  assert.equal(workloadRef(big), 'k8s:ml/trainjob/modelfab-ftjob-big');
  assert.deepEqual(parseWorkloadRef('k8s:ml/trainjob/modelfab-ftjob-big'), big);
  for (const bad of [null, 'slurm:12', 'k8s:ml/pod/x', 'k8s:ML/job/x', 'k8s:ml/job/x;rm']) assert.equal(parseWorkloadRef(bad), null, String(bad));
  assert.deepEqual(workloadOf([{ kind: 'TrainJob', metadata: { name: 'modelfab-x' } }], 'ml'), { kind: 'trainjob', name: 'modelfab-x', namespace: 'ml' });
  assert.throws(() => workloadOf([{ kind: 'Pod', metadata: { name: 'x' } }], 'ml'), /not a Job or TrainJob/);
});

test('recorded kubectl outputs: a workload\'s conditions, its pods\' phase, nodes and exits', () => {
  assert.equal(workloadEnded(recorded('job-running')), null);
  assert.equal(workloadEnded(recorded('job-failed')), 'failed');
  assert.equal(workloadEnded(recorded('trainjob-complete')), 'complete');
  assert.deepEqual(podsState({ kind: 'List', items: [] }), { state: 'none' });
  assert.deepEqual(podsState(recorded('pods-pending')), { state: 'pending', nodes: [] });
  assert.deepEqual(podsState(recorded('pods-running')), { state: 'running', nodes: ['gpu-node-03'] });
  const stopped = podsState(recorded('pods-stopped'));
  assert.deepEqual(stopped.state === 'ended' && [stopped.exit, stopped.nodes], [{ code: 3, signal: null }, ['gpu-node-03']]);
  const oom = podsState(recorded('pods-oom'));
  assert.deepEqual(oom.state === 'ended' && [oom.exit, oom.reason], [{ code: null, signal: 'SIGKILL' }, 'modelfab-ftjob-abc-x7k2p: OOMKilled']);
  const evicted = podsState(recorded('pods-evicted'));
  assert.deepEqual(evicted.state === 'ended' && evicted.exit, { code: null, signal: null });
  assert.match(evicted.state === 'ended' ? evicted.reason : '', /Failed \(Evicted\) without a container exit/);
  // a TrainJob of two nodes: one pod done, one still running: it runs, on both nodes
  assert.deepEqual(podsState(recorded('pods-trainjob')), { state: 'running', nodes: ['gpu-node-01', 'gpu-node-04'] });
  const both = recorded('pods-trainjob') as { items: any[] };
  both.items[1].status = { phase: 'Failed', containerStatuses: [{ name: 'node', state: { terminated: { exitCode: 143 } } }] };
  const ended = podsState(both);
  assert.deepEqual(ended.state === 'ended' && ended.exit, { code: null, signal: 'SIGTERM' }, 'the failed pod gives the exit; 128+15 is SIGTERM');
});

test('an ended pod\'s exit through runOutcome: stopped with a checkpoint, failed, lost, succeeded', () => {
  const out = join(dir, 'job');
  const exitOf = (name: string) => { const s = podsState(recorded(name)); assert.equal(s.state, 'ended'); return (s as { exit: { code: number | null; signal: string | null } }).exit; };
  mkdirSync(out, { recursive: true });
  assert.equal(runOutcome(exitOf('pods-oom'), out).kind, 'lost', 'killed for memory: the scheduler runs it again');
  assert.equal(runOutcome(exitOf('pods-evicted'), out).kind, 'lost', 'evicted with no word from the trainer');
  writeFileSync(join(out, 'events.jsonl'), JSON.stringify({ level: 'info', message: 'stopped at step 40' }) + '\n');
  assert.equal(runOutcome(exitOf('pods-stopped'), out).kind, 'stopped', 'exit 3 after a delete: requeued, resumes from its checkpoint');
  assert.equal(runOutcome({ code: null, signal: null }, out).kind, 'stopped', 'workload gone after the trainer said it stopped');
  writeFileSync(join(out, 'manifest.json'), '{}');
  assert.equal(runOutcome({ code: null, signal: null }, out).kind, 'succeeded', 'gone, but the manifest was written');
});

test('the cluster\'s capacity from kubectl get nodes: allocatable summed, cordoned nodes left out', () => {
  assert.deepEqual(clusterCapacity(recorded('nodes')), { cpuThreads: 95 + 96 + 64, memoryMB: Math.floor(1584129160 / 1024) + 1500 * 1024 + Math.floor(512e9 / 2 ** 20), gpus: 16, nodes: 3 });
});

test('settings: a kubernetes entry in the runners file, --runner kubernetes; a job\'s manifests as the runner applies them', () => {
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
  const bad = JSON.stringify({ runners: [{ name: 'k', kind: 'kubernetes', namespace: 'ML', data_path: 'data' }] });
  assert.throws(() => parseRunnersFile(bad, 'r.json'), (e: Error) => /runners\[0\]\.kubeconfig: is required/.test(e.message) && /runners\[0\]\.image: is required/.test(e.message)
    && /runners\[0\]\.pvc: is required/.test(e.message) && /runners\[0\]\.namespace: must be a Kubernetes name/.test(e.message) && /data_path: must be an absolute path/.test(e.message));
  const cfg = parseRunnersFile(JSON.stringify({ runners: [{ name: 'k8s', kind: 'kubernetes', kubeconfig, namespace: 'ml', image: 'registry.example.com/modelfab:1.0', pvc: 'modelfab-data', cpu_threads: 256, memory_mb: 4_000_000, gpus: 32, gpu_memory_mb: 80_000, nodes: 4 }] }), 'r.json');
  const [k8s] = buildRunners(cfg, dir);
  assert.equal(k8s.name, 'k8s');
  assert.deepEqual(k8s.capacity(), { cpuThreads: 256, memoryMB: 4_000_000, gpus: 32, gpuMemoryMB: 80_000 });
  assert.equal(machinesOf(k8s), 4, 'a renamed Kubernetes runner still spans its nodes');
  assert.equal(typeof (k8s as { adopt?: unknown }).adopt, 'function');
  assert.throws(() => runnerFromOptions({ runner: 'kubernetes', kubeconfig, k8sImage: 'img' }, dir), /--runner kubernetes needs --k8s-pvc/);
  assert.throws(() => runnerFromOptions({ runner: 'kubernetes', kubeconfig: join(dir, 'missing'), k8sImage: 'img', k8sPvc: 'data' }, dir), /missing/);
  assert.throws(() => runnerFromOptions({ runner: 'nomad' }, dir), /must be local, slurm, ray or kubernetes/);
  const r = runnerFromOptions({ runner: 'kubernetes', kubeconfig, k8sImage: 'img', k8sPvc: 'data', k8sNamespace: 'ml' }, dir) as KubernetesRunner;
  const spec: JobSpec = {
    version: 1, id: 'ftjob-big', name: 'x', stage: 'sft', base: { kind: 'hf', path: join(dir, 'hf-cache', 'tiny') }, method: { type: 'lora', rank: 8, alpha: 16 },
    data: { train: { path: join(dir, 'jobs', 'ftjob-big', 'train.jsonl'), kind: 'sft' } }, hyperparameters: { batchSize: 8, lr: 1e-4, seqLen: 64 }, seed: 0,
    outputDir: join(dir, 'jobs', 'ftjob-big'), threads: 4, trainer: 'torch', processes: 8, nodes: 2,
  };
  const [m] = r.manifests(spec, { cpuThreads: 64, memoryMB: 500_000, gpus: 8 }) as any[];
  assert.deepEqual([m.kind, m.metadata.namespace, m.spec.trainer.numNodes, m.spec.trainer.command.at(-1)], ['TrainJob', 'ml', 2, 'jobs/ftjob-big/job.json'], 'paths relative to the data folder the pods mount');
  assert.deepEqual(workloadOf([m], 'ml'), big);
});
