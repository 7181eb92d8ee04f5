/**
 * The Kubernetes Runner: each job is the manifests of kubernetes-manifests.ts (a batch/v1 Job, or a Kubeflow
 * TrainJob for a torch job of several processes or nodes), applied with `kubectl apply -f -` under the configured
 * kubeconfig and namespace; the pods mount the data folder from a PersistentVolumeClaim, the same folder this
 * server writes job.json into (`cwd`), and the scheduler follows the job through its files as with every runner.
 *
 * Owns: the kubectl command lines (`kubectlArgs`, pure), reading what `kubectl get -o json` prints (pure:
 * `workloadEnded` for a Job's or TrainJob's conditions, `podsState` for its pods: phase, exit codes, nodes),
 * following a run (`KubernetesRunHandle`: the workload, then its pods), stopping it (`kubectl delete`), adopting
 * it after a server restart (the handle's ref "k8s:<namespace>/<kind>/<name>", else the name the job's id gives),
 * and the cluster's capacity when the settings give none (`clusterCapacity` over `kubectl get nodes -o json`).
 * Guarantees:
 *   - every kubectl call is execFile with an argument list (no shell); the manifests go on stdin; nothing a client
 *     sends reaches a command line (names are DNS labels of job ids the server made);
 *   - `stop()` deletes the workload with `--cascade=foreground`, so its pods get SIGTERM and their grace period
 *     (the trainer checkpoints and exits 3) while the workload stays visible until they are gone; `stop(true)`
 *     also deletes the pods at once (`--grace-period=0 --force`);
 *   - `exited` resolves once: with the trainer container's exit code when every pod has ended (a code of 128+N
 *     as signal N; OOMKilled as SIGKILL), or {null, null} when the workload and its pods are gone (runners.ts
 *     `runOutcome` then reads the files);
 *   - Kubernetes does not retry (backoffLimit 0): the scheduler decides, and the next run (the previous run's
 *     ended workload deleted first, since a Job cannot be changed in place) resumes from the checkpoint.
 * Tested on recorded `kubectl -o json` outputs written from the Kubernetes API reference; no cluster is reachable
 * where this was written, so no command here has run against a real API server.
 */
import { execFile, execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { dnsLabel, kubernetesManifests, type KubernetesOptions, type Manifest } from './kubernetes-manifests.ts';
import { PolledRunHandle, type AdoptingRunner, type PlacingRunner, type RunExit, type SpanningRunner } from './runners.ts';
import type { Placement } from './resources.ts';
import type { JobSpec, Resources } from './job-spec.ts';
import { relativeSpec, writeJobFile } from './trainer-launch.ts';

const run = promisify(execFile);

export interface KubernetesRunnerOptions extends KubernetesOptions {
  /** The kubeconfig kubectl uses (required: the runner never falls back to whatever kubectl finds). */
  kubeconfig: string;
  /** The data folder as this server sees it (the claim's contents). Default process.cwd(). */
  cwd?: string;
  /** kubectl (default: found on PATH). */
  kubectl?: string;
  /** What modelfab may use of the cluster at once; default: the nodes' allocatable resources (kubectl get nodes). */
  cpuThreads?: number;
  memoryMB?: number;
  gpus?: number;
  gpuMemoryMB?: number;
  /** Nodes one job may span (a TrainJob's numNodes); default: the cluster's node count. */
  nodes?: number;
  /** How often a run is asked about (ms, default 2000). */
  pollMs?: number;
}

/** The workload a job runs as: its kind as kubectl names it, and its name. */
export interface Workload { kind: 'job' | 'trainjob'; name: string; namespace: string }

/** The ref of a run ("k8s:<namespace>/<kind>/<name>"), and back (null when it is none). */
export function workloadRef(w: Workload): string {
  return `k8s:${w.namespace}/${w.kind}/${w.name}`;
}
export function parseWorkloadRef(ref: string | null): Workload | null {
  const m = /^k8s:([a-z0-9-]{1,63})\/(job|trainjob)\/([a-z0-9-]{1,63})$/.exec(ref ?? '');
  return m ? { namespace: m[1], kind: m[2] as Workload['kind'], name: m[3] } : null;
}

/** The workload of a manifest list (its first item: the Job or the TrainJob). */
export function workloadOf(manifests: readonly Manifest[], namespace: string): Workload {
  const m = manifests[0] as { kind?: string; metadata?: { name?: string } };
  const kind = m.kind === 'TrainJob' ? 'trainjob' : m.kind === 'Job' ? 'job' : null;
  if (!kind || !m.metadata?.name) throw new Error(`kubernetes runner: the manifests start with ${JSON.stringify(m.kind)}, not a Job or TrainJob`);
  return { kind, name: m.metadata.name, namespace };
}

/** The label selector of a workload's pods (a Job's controller label; a TrainJob's JobSet's). */
export function podSelector(w: Workload): string {
  return w.kind === 'job' ? `batch.kubernetes.io/job-name=${w.name}` : `jobset.sigs.k8s.io/jobset-name=${w.name}`;
}

/** kubectl's arguments for one action on a workload (pure; see the header). */
export function kubectlArgs(kubeconfig: string, w: Workload, action: 'apply' | 'get' | 'pods' | 'delete' | 'kill' | 'clear'): string[] {
  const base = ['--kubeconfig', kubeconfig, '--namespace', w.namespace];
  switch (action) {
    case 'apply': return [...base, 'apply', '-f', '-', '-o', 'name'];
    case 'get': return [...base, 'get', `${w.kind === 'job' ? 'jobs.batch' : 'trainjobs.trainer.kubeflow.org'}/${w.name}`, '-o', 'json'];
    case 'pods': return [...base, 'get', 'pods', '-l', podSelector(w), '-o', 'json'];
    case 'delete': return [...base, 'delete', `${w.kind === 'job' ? 'jobs.batch' : 'trainjobs.trainer.kubeflow.org'}/${w.name}`, '--cascade=foreground', '--wait=false', '--ignore-not-found'];
    // before a new run: the previous run's ended workload goes (a Job's template cannot be changed in place)
    case 'clear': return [...base, 'delete', `${w.kind === 'job' ? 'jobs.batch' : 'trainjobs.trainer.kubeflow.org'}/${w.name}`, '--cascade=foreground', '--ignore-not-found', '--wait=true', '--timeout=120s'];
    case 'kill': return [...base, 'delete', 'pods', '-l', podSelector(w), '--grace-period=0', '--force', '--wait=false', '--ignore-not-found'];
  }
}

interface Condition { type?: string; status?: string; reason?: string; message?: string }

/** Whether a Job's or TrainJob's conditions say it ended: 'complete', 'failed', or null while it has not. */
export function workloadEnded(obj: unknown): 'complete' | 'failed' | null {
  const conds = ((obj as { status?: { conditions?: Condition[] } } | null)?.status?.conditions ?? []).filter((c) => c.status === 'True');
  if (conds.some((c) => c.type === 'Failed')) return 'failed';
  if (conds.some((c) => c.type === 'Complete')) return 'complete';
  return null;
}

interface ContainerState { terminated?: { exitCode?: number; signal?: number; reason?: string }; running?: unknown; waiting?: { reason?: string } }
interface Pod {
  metadata?: { name?: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string; reason?: string; containerStatuses?: Array<{ name?: string; state?: ContainerState }> };
}

/** What a workload's pods say: none yet (or gone), some pending or running, or all ended with an exit. */
export type PodsState =
  | { state: 'none' }
  | { state: 'pending' | 'running'; nodes: string[] }
  | { state: 'ended'; nodes: string[]; exit: RunExit; reason: string };

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/** One ended pod's exit: its first container's terminated state (128+N as signal N, OOMKilled as SIGKILL). */
function podExit(p: Pod): { exit: RunExit; reason: string } {
  const t = p.status?.containerStatuses?.[0]?.state?.terminated;
  const name = p.metadata?.name ?? 'pod';
  if (!t) return { exit: { code: null, signal: null }, reason: `${name} ${p.status?.phase ?? 'ended'}${p.status?.reason ? ` (${p.status.reason})` : ''} without a container exit` };
  if (t.reason === 'OOMKilled') return { exit: { code: null, signal: 'SIGKILL' }, reason: `${name}: OOMKilled` };
  const code = typeof t.exitCode === 'number' ? t.exitCode : null;
  if (typeof t.signal === 'number' && t.signal > 0) return { exit: { code: null, signal: SIGNALS[t.signal] ?? `SIG${t.signal}` }, reason: `${name}: signal ${t.signal}` };
  if (code !== null && code > 128) return { exit: { code: null, signal: SIGNALS[code - 128] ?? `SIG${code - 128}` }, reason: `${name}: exit ${code}` };
  return { exit: { code, signal: null }, reason: `${name}: exit ${code ?? 'unknown'}${t.reason ? ` (${t.reason})` : ''}` };
}

/**
 * The state of a workload's pods from `kubectl get pods -l ... -o json` (a List): ended once every pod has (a
 * several-node job: the first pod that failed gives the exit, else the first's), else running if any runs.
 */
export function podsState(list: unknown): PodsState {
  const pods = ((list as { items?: Pod[] } | null)?.items ?? []).slice().sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
  if (pods.length === 0) return { state: 'none' };
  const nodes = [...new Set(pods.map((p) => p.spec?.nodeName).filter((n): n is string => !!n))];
  const phase = (p: Pod) => p.status?.phase ?? 'Pending';
  if (pods.every((p) => phase(p) === 'Succeeded' || phase(p) === 'Failed')) {
    const failed = pods.find((p) => phase(p) === 'Failed');
    return { state: 'ended', nodes, ...podExit(failed ?? pods[0]) };
  }
  return { state: pods.some((p) => phase(p) === 'Running') ? 'running' : 'pending', nodes };
}

/** What `kubectl get nodes -o json` says the cluster offers (allocatable, summed), and how many nodes it has. */
export function clusterCapacity(list: unknown, gpuResource = 'nvidia.com/gpu'): Resources & { nodes: number } {
  const items = (list as { items?: Array<{ status?: { allocatable?: Record<string, string> }; spec?: { unschedulable?: boolean } }> } | null)?.items ?? [];
  let cpu = 0, mem = 0, gpus = 0, nodes = 0;
  for (const n of items) {
    if (n.spec?.unschedulable) continue;
    const a = n.status?.allocatable ?? {};
    nodes++;
    cpu += Math.floor(cpuQuantity(a.cpu ?? '0'));
    mem += Math.floor(bytesQuantity(a.memory ?? '0') / 2 ** 20);
    gpus += Number(a[gpuResource] ?? 0) || 0;
  }
  return { cpuThreads: cpu, memoryMB: mem, gpus, nodes };
}

function cpuQuantity(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q) || 0;
}

function bytesQuantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGTPE]i?|[kmgtpe])?$/.exec(q.trim());
  if (!m) return 0;
  const units: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
  return Number(m[1]) * (units[m[2] ?? ''] ?? 1);
}

/** Whether kubectl's error says the object does not exist. */
function notFound(e: unknown): boolean {
  return /NotFound|not found/i.test(String((e as { stderr?: string }).stderr ?? (e as Error).message));
}

export class KubernetesRunHandle extends PolledRunHandle {
  /** The nodes its pods run on, once scheduled (comma-separated). */
  node: string | null = null;

  constructor(jobId: string, readonly workload: Workload, private readonly kubectl: (args: string[]) => Promise<string>, private readonly kill: (args: string[]) => void, private readonly kubeconfig: string, pollMs: number) {
    super(jobId, workloadRef(workload), pollMs);
  }

  protected async check(): Promise<RunExit | undefined> {
    const pods = podsState(JSON.parse(await this.kubectl(kubectlArgs(this.kubeconfig, this.workload, 'pods'))));
    if (pods.state !== 'none' && pods.nodes.length) this.node = pods.nodes.join(',');
    if (pods.state === 'ended') return pods.exit;
    if (pods.state !== 'none') return undefined;
    // no pods: not created yet, or gone with the workload
    let obj: unknown;
    try { obj = JSON.parse(await this.kubectl(kubectlArgs(this.kubeconfig, this.workload, 'get'))); } catch (e) {
      if (notFound(e)) return { code: null, signal: null };
      throw e;
    }
    // ended without pods (e.g. its deadline passed before one started): the files say the rest
    return workloadEnded(obj) ? { code: null, signal: null } : undefined;
  }

  stop(force = false): void {
    if (this.done) return;
    this.kill(kubectlArgs(this.kubeconfig, this.workload, 'delete'));
    if (force) this.kill(kubectlArgs(this.kubeconfig, this.workload, 'kill'));
  }
}

export class KubernetesRunner implements PlacingRunner, AdoptingRunner, SpanningRunner {
  readonly name = 'kubernetes';
  private readonly o: KubernetesRunnerOptions & { cwd: string; namespace: string };
  private cap: (Resources & { nodes: number }) | null = null;

  constructor(opts: KubernetesRunnerOptions) {
    if (!opts.kubeconfig) throw new Error('kubernetes runner: a kubeconfig is required');
    if (!opts.image) throw new Error('kubernetes runner: an image is required');
    if (!opts.claim) throw new Error('kubernetes runner: a PersistentVolumeClaim (pvc) is required');
    this.o = { ...opts, kubeconfig: resolve(opts.kubeconfig), cwd: resolve(opts.cwd ?? process.cwd()), namespace: dnsLabel(opts.namespace ?? 'default') };
  }

  private bin(): string {
    return this.o.kubectl ?? 'kubectl';
  }

  private kubectl = async (args: string[]): Promise<string> => (await run(this.bin(), args, { timeout: 60_000, maxBuffer: 64 * 2 ** 20 })).stdout;

  private fireAndForget = (args: string[]): void => {
    execFile(this.bin(), args, { timeout: 60_000 }, () => { /* gone already: nothing to delete */ });
  };

  /** The settings' figures, else the cluster's allocatable resources (kubectl get nodes). */
  capacity(): Resources {
    if (!this.cap) {
      const o = this.o;
      let found: Resources & { nodes: number } = { cpuThreads: 0, memoryMB: 0, gpus: 0, nodes: 1 };
      if (o.cpuThreads === undefined || o.memoryMB === undefined || o.gpus === undefined || o.nodes === undefined) {
        found = clusterCapacity(JSON.parse(execFileSync(this.bin(), ['--kubeconfig', o.kubeconfig, 'get', 'nodes', '-o', 'json'], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 2 ** 20 })), o.gpuResource);
      }
      this.cap = { cpuThreads: o.cpuThreads ?? found.cpuThreads, memoryMB: o.memoryMB ?? found.memoryMB, gpus: o.gpus ?? found.gpus, gpuMemoryMB: o.gpuMemoryMB ?? 0, nodes: o.nodes ?? Math.max(1, found.nodes) };
    }
    const { nodes: _n, ...r } = this.cap;
    return r;
  }

  machines(): number {
    if (!this.cap) this.capacity();
    return this.cap!.nodes;
  }

  /** The manifests of `spec` as this runner applies them (paths relative to the data folder the pods mount). */
  manifests(spec: JobSpec, resources?: Resources): Manifest[] {
    return kubernetesManifests(relativeSpec(this.o.cwd, spec), resources, { ...this.o, dataPath: this.o.dataPath });
  }

  start(spec: JobSpec, _placement?: Placement, resources?: Resources): KubernetesRunHandle {
    writeJobFile(this.o.cwd, spec);
    const manifests = this.manifests(spec, resources);
    const w = workloadOf(manifests, this.o.namespace);
    execFileSync(this.bin(), kubectlArgs(this.o.kubeconfig, w, 'clear'), { encoding: 'utf8', timeout: 150_000, stdio: ['ignore', 'pipe', 'pipe'] });
    execFileSync(this.bin(), kubectlArgs(this.o.kubeconfig, w, 'apply'), { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }), encoding: 'utf8', timeout: 60_000 });
    return this.handle(spec.id, w);
  }

  private handle(jobId: string, w: Workload): KubernetesRunHandle {
    return new KubernetesRunHandle(jobId, w, (args) => this.kubectl(args), this.fireAndForget, this.o.kubeconfig, this.o.pollMs ?? 2000);
  }

  adopt(spec: JobSpec, ref: string | null): KubernetesRunHandle | null {
    const w = parseWorkloadRef(ref) ?? workloadOf(this.manifests(spec), this.o.namespace);
    let obj: unknown;
    try {
      obj = JSON.parse(execFileSync(this.bin(), kubectlArgs(this.o.kubeconfig, w, 'get'), { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] }));
    } catch {
      return null; // gone: the files say how it ended
    }
    const labels = (obj as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {};
    if (labels['modelfab.io/job'] !== dnsLabel(spec.id) || workloadEnded(obj)) return null;
    return this.handle(spec.id, w);
  }
}
