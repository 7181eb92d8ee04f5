/**
 * The runners file: several runners at once, each named, with its capacity (`modelfab serve --runners FILE`).
 *
 *     {"runners": [
 *       {"name": "here", "kind": "local", "cpu_threads": 16, "memory_mb": 64000},
 *       {"name": "a100", "kind": "slurm", "partition": "gpu", "gpus": 8, "gpu_memory_mb": 80000, "time_minutes": 240},
 *       {"name": "ray", "kind": "ray", "address": "http://ray-head:8265"},
 *       {"name": "k8s", "kind": "kubernetes", "kubeconfig": "/etc/modelfab/kubeconfig", "namespace": "ml",
 *        "image": "registry.example.com/modelfab:1.0", "pvc": "modelfab-data", "gpus": 32, "nodes": 4}
 *     ]}
 *
 * Owns: `parseRunnersFile` (pure: JSON text to configs, every problem named by file and field) and `buildRunners`
 * (configs to runners, each under its own name). Guarantees: names are unique and match [A-Za-z0-9._-]; unknown
 * keys are refused with the keys a kind accepts; capacities are positive integers; the file is only ever written by
 * the server's administrator (a client never names a runner's address or path).
 */
import { canAdopt, machinesOf, type AdoptingRunner, type PlacingRunner, type RefRunHandle, type SpanningRunner } from './runners.ts';
import { LocalRunner } from './local-runner.ts';
import { SlurmRunner } from './slurm-runner.ts';
import { RayRunner } from './ray-runner.ts';
import { KubernetesRunner } from './kubernetes-runner.ts';
import type { Placement } from './resources.ts';
import type { JobSpec, Resources, Runner } from './job-spec.ts';

export type RunnerKind = 'local' | 'slurm' | 'ray' | 'kubernetes';
const KINDS: readonly RunnerKind[] = ['local', 'slurm', 'ray', 'kubernetes'];

export interface RunnerConfig {
  name: string;
  kind: RunnerKind;
  cpuThreads?: number;
  memoryMB?: number;
  gpus?: number;
  gpuMemoryMB?: number;
  /** slurm */
  partition?: string;
  account?: string;
  qos?: string;
  timeMinutes?: number;
  sbatch?: string[];
  /** ray: the head's dashboard address */
  address?: string;
  /** slurm, kubernetes: machines one job may span (default: the cluster's node count) */
  nodes?: number;
  /** kubernetes: the kubeconfig file, namespace, image, the data folder's PersistentVolumeClaim and its mount path */
  kubeconfig?: string;
  namespace?: string;
  image?: string;
  pvc?: string;
  dataPath?: string;
  gpuResource?: string;
  runtime?: string;
}

const CAPACITY: Record<string, 'cpuThreads' | 'memoryMB' | 'gpus' | 'gpuMemoryMB' | 'timeMinutes' | 'nodes'> = {
  cpu_threads: 'cpuThreads', memory_mb: 'memoryMB', gpus: 'gpus', gpu_memory_mb: 'gpuMemoryMB', time_minutes: 'timeMinutes', nodes: 'nodes',
};
const KUBE_STRINGS: Record<string, 'kubeconfig' | 'namespace' | 'image' | 'pvc' | 'dataPath' | 'gpuResource' | 'runtime'> = {
  kubeconfig: 'kubeconfig', namespace: 'namespace', image: 'image', pvc: 'pvc', data_path: 'dataPath', gpu_resource: 'gpuResource', runtime: 'runtime',
};
const KEYS: Record<RunnerKind, string[]> = {
  local: ['name', 'kind', 'cpu_threads', 'memory_mb', 'gpus', 'gpu_memory_mb'],
  slurm: ['name', 'kind', 'cpu_threads', 'memory_mb', 'gpus', 'gpu_memory_mb', 'nodes', 'partition', 'account', 'qos', 'time_minutes', 'sbatch'],
  ray: ['name', 'kind', 'cpu_threads', 'memory_mb', 'gpus', 'gpu_memory_mb', 'address'],
  kubernetes: ['name', 'kind', 'cpu_threads', 'memory_mb', 'gpus', 'gpu_memory_mb', 'nodes', ...Object.keys(KUBE_STRINGS)],
};

/** Configs from a runners file's text; throws an Error naming `file` and every bad field. */
export function parseRunnersFile(text: string, file: string): RunnerConfig[] {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { throw new Error(`${file}: not JSON: ${(e as Error).message}`); }
  const runners = (doc as { runners?: unknown } | null)?.runners;
  if (!Array.isArray(runners) || runners.length === 0) throw new Error(`${file}: must be {"runners": [{"name", "kind", ...}, ...]} with at least one runner`);
  const problems: string[] = [];
  const out: RunnerConfig[] = [];
  const seen = new Set<string>();
  runners.forEach((r: unknown, i) => {
    const at = `runners[${i}]`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) { problems.push(`${at}: must be an object`); return; }
    const o = r as Record<string, unknown>;
    if (typeof o.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.name)) problems.push(`${at}.name: must be 1-64 characters of [A-Za-z0-9._-], got ${JSON.stringify(o.name)}`);
    else if (seen.has(o.name)) problems.push(`${at}.name: ${o.name} is already the name of another runner`);
    else seen.add(o.name);
    if (!KINDS.includes(o.kind as RunnerKind)) { problems.push(`${at}.kind: must be local, slurm, ray or kubernetes, got ${JSON.stringify(o.kind)}`); return; }
    const kind = o.kind as RunnerKind;
    const cfg: RunnerConfig = { name: String(o.name), kind };
    for (const [k, v] of Object.entries(o)) {
      if (!KEYS[kind].includes(k)) { problems.push(`${at}.${k}: unknown key for a ${kind} runner (known: ${KEYS[kind].join(', ')})`); continue; }
      if (k in CAPACITY) {
        if (!Number.isInteger(v) || (v as number) < 0) problems.push(`${at}.${k}: must be an integer >= 0, got ${JSON.stringify(v)}`);
        else cfg[CAPACITY[k]] = v as number;
      } else if (k === 'sbatch') {
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.includes('\n'))) problems.push(`${at}.sbatch: must be a list of one-line strings (extra #SBATCH options)`);
        else cfg.sbatch = v as string[];
      } else if (k === 'partition' || k === 'account' || k === 'qos' || k === 'address') {
        if (typeof v !== 'string' || !v || /\s/.test(v)) problems.push(`${at}.${k}: must be a non-empty string without spaces, got ${JSON.stringify(v)}`);
        else cfg[k] = v;
      } else if (k in KUBE_STRINGS) {
        if (typeof v !== 'string' || !v || /\s/.test(v)) problems.push(`${at}.${k}: must be a non-empty string without spaces, got ${JSON.stringify(v)}`);
        else cfg[KUBE_STRINGS[k]] = v;
      }
    }
    if (kind === 'kubernetes') {
      for (const k of ['kubeconfig', 'image', 'pvc'] as const) if (cfg[k] === undefined && o[k] === undefined) problems.push(`${at}.${k}: is required for a kubernetes runner`);
      if (cfg.dataPath !== undefined && !cfg.dataPath.startsWith('/')) problems.push(`${at}.data_path: must be an absolute path in the pods, got ${JSON.stringify(cfg.dataPath)}`);
      for (const k of ['namespace', 'pvc'] as const) if (cfg[k] !== undefined && !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(cfg[k])) problems.push(`${at}.${k}: must be a Kubernetes name (lower-case letters, digits, '-'), got ${JSON.stringify(cfg[k])}`);
    }
    if (cfg.nodes === 0) problems.push(`${at}.nodes: must be at least 1`);
    if (kind === 'ray' && cfg.address !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(cfg.address)) problems.push(`${at}.address: must be the head's http(s)://host:port, got ${JSON.stringify(cfg.address)}`);
    out.push(cfg);
  });
  if (problems.length) throw new Error(`${file}: ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  ${problems.join('\n  ')}`);
  return out;
}

/** The runners of `configs`, each answering to its config's name; trainers run in `dataDir`. */
export function buildRunners(configs: readonly RunnerConfig[], dataDir: string, o: { torchPython?: string } = {}): Runner[] {
  return configs.map((c) => {
    const cap = { cpuThreads: c.cpuThreads, memoryMB: c.memoryMB, gpus: c.gpus, gpuMemoryMB: c.gpuMemoryMB };
    const inner: Runner = c.kind === 'local' ? new LocalRunner({ ...cap, cwd: dataDir, torchPython: o.torchPython })
      : c.kind === 'slurm' ? new SlurmRunner({ ...cap, nodes: c.nodes, cwd: dataDir, partition: c.partition, account: c.account, qos: c.qos, timeLimitMinutes: c.timeMinutes, extraSbatch: c.sbatch })
        : c.kind === 'ray' ? new RayRunner({ ...cap, cwd: dataDir, address: c.address })
          : new KubernetesRunner({ ...cap, nodes: c.nodes, cwd: dataDir, kubeconfig: c.kubeconfig!, namespace: c.namespace, image: c.image!, claim: c.pvc!, dataPath: c.dataPath, gpuResource: c.gpuResource, runtime: c.runtime });
    return named(inner, c.name);
  });
}

/** `inner` under another name (the name a job records and a request binds to); adopts (spans machines) only if `inner` does. */
export function named(inner: Runner, name: string): Runner {
  if (inner.name === name) return inner;
  const runner: PlacingRunner & Partial<Pick<AdoptingRunner, 'adopt'> & Pick<SpanningRunner, 'machines'>> = {
    name,
    capacity: (): Resources => inner.capacity(),
    start: (spec: JobSpec, placement?: Placement, resources?: Resources): RefRunHandle => (inner as PlacingRunner).start(spec, placement, resources),
  };
  if (canAdopt(inner)) runner.adopt = (spec, ref) => inner.adopt(spec, ref);
  if (typeof (inner as Partial<SpanningRunner>).machines === 'function') runner.machines = () => machinesOf(inner);
  return runner;
}
