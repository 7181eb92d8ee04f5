/**
 * A factory job as Kubernetes manifests, for clusters where jobs run as pods: a `batch/v1` Job for a one-process
 * job (the engine, or the torch trainer on one process), and a Kubeflow Trainer `TrainJob`
 * (trainer.kubeflow.org/v1alpha1, over the cluster's `torch-distributed` ClusterTrainingRuntime) for a torch job
 * of several processes or several nodes (`numNodes` = the spec's `nodes`, its resources per node), whose runtime
 * sets torchrun's rendezvous in the PET_* environment.
 *
 * Owns: `kubernetesManifests` (pure). Every pod mounts the data folder from a PersistentVolumeClaim at the same
 * path (`dataPath`), works in it, and runs the trainer on `jobs/<id>/job.json`, exactly as the local and Slurm
 * runners do, so the scheduler follows it through the same files. GPUs are requested as `nvidia.com/gpu` (or the
 * configured resource), memory and CPUs from the scheduler's estimate; the grace period lets the trainer
 * checkpoint on SIGTERM. Names are DNS-1123 labels (`modelfab-<job id>`).
 * Guarantees: the manifests round-trip through the reference models of kubeflow-trainer-api (the published
 * OpenAPI of TrainJob and of batch/v1 Job) unchanged (a test checks it).
 */
import { isAbsolute } from 'node:path';
import type { JobSpec, Resources } from './job-spec.ts';
import { jobPaths, trainerCommand, trainerEnv } from './trainer-launch.ts';

export interface KubernetesOptions {
  /** The container image with modelfab (node, at `appDir`) and the torch trainer (python with modelfab_torch). */
  image: string;
  /** The PersistentVolumeClaim that holds the data folder (ReadWriteMany: every node mounts it). */
  claim: string;
  /** Where the data folder is mounted in the pods (default /data). */
  dataPath?: string;
  namespace?: string;
  /** modelfab's folder in the image (default /app). */
  appDir?: string;
  /** The python of the torch trainer in the image (default python3). */
  python?: string;
  /** The GPU resource name (default nvidia.com/gpu). */
  gpuResource?: string;
  /** The ClusterTrainingRuntime of distributed torch jobs (default torch-distributed). */
  runtime?: string;
  serviceAccount?: string;
  /** Seconds a pod has after SIGTERM to checkpoint (default 120). */
  gracePeriodS?: number;
}

export type Manifest = Record<string, unknown>;

/** A DNS-1123 label from `s`: lower case, [a-z0-9-], at most 63 characters, alphanumeric at both ends. */
export function dnsLabel(s: string): string {
  const out = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  if (!out) throw new Error(`cannot make a Kubernetes name of ${JSON.stringify(s)}`);
  return out;
}

function quantities(r: Resources | undefined, spec: JobSpec, gpuResource: string): { requests: Record<string, string>; limits: Record<string, string> } {
  const cpu = String(Math.max(1, r?.cpuThreads ?? spec.threads * (spec.processes ?? 1)));
  const memory = `${Math.max(256, Math.ceil(r?.memoryMB ?? 2048))}Mi`;
  const requests: Record<string, string> = { cpu, memory };
  const limits: Record<string, string> = { memory };
  if (r?.gpus) { requests[gpuResource] = String(r.gpus); limits[gpuResource] = String(r.gpus); }
  return { requests, limits };
}

/**
 * The manifests that run `spec` (see the header), whose paths are relative to the data folder (as the job
 * repository stores them); `resources`: what the scheduler reserves for it.
 */
export function kubernetesManifests(spec: JobSpec, resources: Resources | undefined, o: KubernetesOptions): Manifest[] {
  const dataPath = o.dataPath ?? '/data';
  if (!dataPath.startsWith('/')) throw new Error(`dataPath must be absolute, got ${JSON.stringify(dataPath)}`);
  const name = dnsLabel(`modelfab-${spec.id}`);
  const labels = { 'app.kubernetes.io/name': 'modelfab', 'app.kubernetes.io/component': 'trainer', 'modelfab.io/job': dnsLabel(spec.id) };
  const metadata = { name, ...(o.namespace ? { namespace: dnsLabel(o.namespace) } : {}), labels };
  if (isAbsolute(spec.outputDir)) throw new Error(`job ${spec.id}: its folder ${spec.outputDir} is not inside the data folder, which is what the pods mount`);
  const { jobArg } = jobPaths(dataPath, spec);
  const env = Object.entries(trainerEnv(spec, { HF_HUB_OFFLINE: '1' })).map(([name, value]) => ({ name, value }));
  const gpuResource = o.gpuResource ?? 'nvidia.com/gpu';
  const resourcesOf = quantities(resources, spec, gpuResource);
  const volumes = [{ name: 'data', persistentVolumeClaim: { claimName: o.claim } }];
  const volumeMounts = [{ name: 'data', mountPath: dataPath }];
  const appDir = o.appDir ?? '/app';
  const grace = Math.round(o.gracePeriodS ?? 120);

  if ((spec.nodes ?? 1) > 1 && spec.trainer !== 'torch') throw new Error(`job ${spec.id} spans ${spec.nodes} nodes; only the torch trainer runs on several`);
  if (spec.trainer === 'torch' && ((spec.processes ?? 1) > 1 || (spec.nodes ?? 1) > 1)) {
    // the runtime starts torchrun on every node with PET_NNODES, PET_NPROC_PER_NODE, PET_MASTER_ADDR, ... set
    return [{
      apiVersion: 'trainer.kubeflow.org/v1alpha1', kind: 'TrainJob', metadata,
      spec: {
        runtimeRef: { name: o.runtime ?? 'torch-distributed' },
        trainer: {
          image: o.image, command: [o.python ?? 'python3', '-m', 'torch.distributed.run', '-m', 'modelfab_torch', jobArg],
          numNodes: spec.nodes ?? 1, numProcPerNode: spec.processes ?? 1, resourcesPerNode: resourcesOf, env,
        },
        runtimePatches: [{
          manager: 'modelfab',
          trainingRuntimeSpec: { template: { spec: { replicatedJobs: [{
            name: 'node',
            template: { spec: { template: { spec: {
              volumes, containers: [{ name: 'node', volumeMounts }], terminationGracePeriodSeconds: grace,
              ...(o.serviceAccount ? { serviceAccountName: o.serviceAccount } : {}),
            } } } },
          }] } } },
        }],
      },
    }];
  }
  const cmd = trainerCommand(spec, jobArg, { node: 'node', nodeArgs: ['--import', 'tsx'], entry: `${appDir}/src/factory/engine-worker-main.ts`, torchPython: o.python ?? 'python3' });
  return [{
    apiVersion: 'batch/v1', kind: 'Job', metadata,
    spec: {
      // the scheduler decides about retries (it resumes from the checkpoint), not Kubernetes
      backoffLimit: 0,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never', terminationGracePeriodSeconds: grace,
          ...(o.serviceAccount ? { serviceAccountName: o.serviceAccount } : {}),
          containers: [{ name: 'trainer', image: o.image, workingDir: dataPath, command: [cmd.command, ...cmd.args], env, resources: resourcesOf, volumeMounts }],
          volumes,
        },
      },
    },
  }];
}
