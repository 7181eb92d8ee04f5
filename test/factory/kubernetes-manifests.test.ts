/**
 * Jobs as Kubernetes manifests: a batch/v1 Job for one process, a Kubeflow TrainJob for a distributed torch job,
 * the shared volume, GPUs and the trainer's command; both round-trip unchanged through the reference models of
 * the published schemas (kubeflow-trainer-api from PyPI: TrainJob, and Kubernetes' batch/v1 Job), which would drop
 * a misspelled field or refuse a wrong type; and `GET /v1/fine_tuning/jobs/{id}/manifests` with its checks. No
 * cluster is reachable here: nothing is applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { dnsLabel, kubernetesManifests, type Manifest } from '../../src/factory/kubernetes-manifests.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';
import { createServer } from '../../src/api/server.ts';
import { tinyBaseAndData } from './server-helpers.ts';

const KEY = 'sk-mf-k8s-test-key-0123456789abcdef';
const root = join(import.meta.dirname, '..', '..');
const python = process.env.MODELFAB_TORCH_PYTHON || join(root, '.venv-torch', 'bin', 'python');
const noPython = !existsSync(python) && process.env.MODELFAB_REQUIRE_PYTHON_TESTS !== '1' ? `no Python environment at ${python}` : undefined;

const spec = (over: Partial<JobSpec> = {}): JobSpec => ({
  version: 1, id: 'ftjob-AbC1', name: 'x', stage: 'sft', base: { kind: 'hf', path: 'hf-cache/tiny' }, method: { type: 'lora', rank: 8, alpha: 16 },
  data: { train: { path: 'jobs/ftjob-AbC1/train.jsonl', kind: 'sft' } }, hyperparameters: { batchSize: 8, lr: 1e-4, seqLen: 2048 }, seed: 0,
  outputDir: 'jobs/ftjob-AbC1', threads: 4, ...over,
});
const opts = { image: 'registry.example.com/modelfab:1.0', claim: 'modelfab-data', namespace: 'ml' };

function manifests(): Manifest[] {
  return [
    ...kubernetesManifests(spec(), { cpuThreads: 4, memoryMB: 8000 }, opts),
    ...kubernetesManifests(spec({ trainer: 'torch' }), { cpuThreads: 4, memoryMB: 30_000, gpus: 1, gpuMemoryMB: 40_000 }, opts),
    ...kubernetesManifests(spec({ trainer: 'torch', processes: 4, strategy: 'fsdp' }), { cpuThreads: 16, memoryMB: 120_000, gpus: 4, gpuMemoryMB: 40_000 }, { ...opts, runtime: 'torch-distributed' }),
    ...kubernetesManifests(spec({ trainer: 'torch', processes: 8, nodes: 4 }), { cpuThreads: 64, memoryMB: 500_000, gpus: 8, gpuMemoryMB: 80_000 }, opts),
  ];
}

test('one process: a batch/v1 Job over the shared volume; several: a Kubeflow TrainJob with torchrun\'s processes', () => {
  const [engine, torch1, torchN, nodes4] = manifests() as any[];
  // several nodes: a TrainJob of numNodes, its resources per node
  assert.deepEqual([nodes4.kind, nodes4.spec.trainer.numNodes, nodes4.spec.trainer.numProcPerNode], ['TrainJob', 4, 8]);
  assert.deepEqual(nodes4.spec.trainer.resourcesPerNode.limits, { memory: '500000Mi', 'nvidia.com/gpu': '8' });
  assert.deepEqual(kubernetesManifests(spec({ trainer: 'torch', nodes: 2 }), undefined, opts)[0].kind, 'TrainJob', 'one process on each of two nodes');
  assert.throws(() => kubernetesManifests(spec({ nodes: 2 }), undefined, opts), /only the torch trainer runs on several/);
  assert.deepEqual([engine.apiVersion, engine.kind, engine.metadata.name, engine.metadata.namespace], ['batch/v1', 'Job', 'modelfab-ftjob-abc1', 'ml']);
  const pod = engine.spec.template.spec;
  assert.equal(pod.restartPolicy, 'Never');
  assert.equal(engine.spec.backoffLimit, 0, 'the scheduler retries, from the checkpoint');
  const c = pod.containers[0];
  assert.equal(c.workingDir, '/data');
  assert.deepEqual(c.command.slice(0, 3), ['node', '--import', 'tsx']);
  assert.deepEqual(c.command.slice(-2), ['/app/src/factory/engine-worker-main.ts', 'jobs/ftjob-AbC1/job.json']);
  assert.deepEqual(c.resources, { requests: { cpu: '4', memory: '8000Mi' }, limits: { memory: '8000Mi' } });
  assert.deepEqual(pod.volumes, [{ name: 'data', persistentVolumeClaim: { claimName: 'modelfab-data' } }]);
  assert.deepEqual(torch1.spec.template.spec.containers[0].command, ['python3', '-m', 'modelfab_torch', 'jobs/ftjob-AbC1/job.json']);
  assert.deepEqual(torch1.spec.template.spec.containers[0].resources.limits, { memory: '30000Mi', 'nvidia.com/gpu': '1' });
  assert.deepEqual([torchN.apiVersion, torchN.kind], ['trainer.kubeflow.org/v1alpha1', 'TrainJob']);
  assert.equal(torchN.spec.runtimeRef.name, 'torch-distributed');
  assert.equal(torchN.spec.trainer.numProcPerNode, 4);
  assert.equal(torchN.spec.trainer.numNodes, 1);
  assert.deepEqual(torchN.spec.trainer.command, ['python3', '-m', 'torch.distributed.run', '-m', 'modelfab_torch', 'jobs/ftjob-AbC1/job.json']);
  assert.equal(torchN.spec.trainer.resourcesPerNode.limits['nvidia.com/gpu'], '4');
  const podPatch = torchN.spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template.spec;
  assert.deepEqual(podPatch.containers[0].volumeMounts, [{ name: 'data', mountPath: '/data' }]);
  assert.throws(() => kubernetesManifests(spec({ outputDir: '/elsewhere/j' }), undefined, opts), /not inside the data folder/);
  assert.equal(dnsLabel('ftjob_X.y--'), 'ftjob-x-y');
});

test('the manifests round-trip through the published schemas\' reference models (kubeflow-trainer-api)', { skip: noPython }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-k8s-'));
  try {
    const file = join(dir, 'm.json');
    const list = manifests();
    writeFileSync(file, JSON.stringify(list));
    const check = [
      'import json, sys',
      'from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob, IoK8sApiBatchV1Job',
      'out = []',
      'for m in json.load(open(sys.argv[1])):',
      '    cls = {"TrainJob": TrainerV1alpha1TrainJob, "Job": IoK8sApiBatchV1Job}[m["kind"]]',
      '    out.append(cls.from_dict(m).to_dict())',
      'print(json.dumps(out))',
    ].join('\n');
    const r = spawnSync(python, ['-c', check, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), list, 'every field survives: none misspelled, none of the wrong type');
    // and a wrong type is refused
    writeFileSync(file, JSON.stringify([{ ...list[2], spec: { ...(list[2] as any).spec, trainer: { numProcPerNode: 'four' } } }]));
    assert.notEqual(spawnSync(python, ['-c', check, file], { encoding: 'utf8' }).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GET /v1/fine_tuning/jobs/{id}/manifests: YAML of the job; the query checked', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-k8s-'));
  const srv = await createServer({ dataDir: dir, adminKey: KEY });
  try {
    await tinyBaseAndData(srv, dir, 12);
    const job = await srv.factory.factory.createJob({ model: 'tiny', dataset: 'qa' }, { hyperparameters: { maxSteps: 2, seqLen: 64 } });
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const get = async (q: string) => { const r = await fetch(`${url}/v1/fine_tuning/jobs/${job.id}/manifests?${q}`, { headers: { authorization: `Bearer ${KEY}` } }); return { status: r.status, body: await r.json() as any }; };
    const ok = await get('image=ghcr.io/acme/modelfab:2&claim=data&namespace=ml');
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const docs = parseAllDocuments(ok.body.yaml).map((d) => d.toJS());
    assert.deepEqual(docs, ok.body.data);
    assert.equal(docs[0].kind, 'Job');
    assert.equal(docs[0].spec.template.spec.containers[0].command.at(-1), `jobs/${job.id}/job.json`);
    // a job over several machines: refused on this server, whose one runner is this machine
    const post = await fetch(`${url}/v1/fine_tuning/jobs`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', dataset: 'qa', hyperparameters: { trainer: 'torch', nnodes: 2 } }) });
    const refused = await post.json() as any;
    assert.equal(post.status, 400);
    assert.equal(refused.error.param, 'hyperparameters.nnodes');
    assert.match(refused.error.message, /runs a job on one machine|spans 2 machines/);
    for (const bad of ['claim=data', 'image=x%0Arm&claim=data', 'image=x&claim=Data_1', 'image=x&claim=d&data_path=relative', 'image=x&claim=d&extra=1']) {
      assert.equal((await get(bad)).status, 400, bad);
    }
    await srv.factory.scheduler.waitFor(job.id, undefined, 60_000);
    // where it ran: this machine, kept with the job after it ended
    const shown = await fetch(`${url}/v1/fine_tuning/jobs/${job.id}`, { headers: { authorization: `Bearer ${KEY}` } }).then((r) => r.json()) as any;
    assert.deepEqual([shown.modelfab.runner_node, shown.modelfab.nodes], [hostname(), 1]);
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
