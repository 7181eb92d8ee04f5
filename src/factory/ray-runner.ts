/**
 * The Ray Runner: each run of a job is a Ray job, submitted through the Ray Jobs REST API of a Ray head's
 * dashboard (`POST /api/jobs/`, `GET /api/jobs/{id}`, `POST /api/jobs/{id}/stop`), running the same trainer command
 * as the local runner in the job's folder on a path every Ray node sees (`cwd`).
 *
 * Owns: the entrypoint (`rayEntrypoint`, pure: `cd` to the shared folder, the thread pins, the trainer `exec`'d
 * with its output appended to worker.log, so a stop's SIGTERM reaches it), the submission with the job's CPUs,
 * GPUs and memory as the entrypoint's Ray resources, following it by polling, stopping it, and adopting a run
 * still in the cluster after a server restart (the handle's ref "ray:<submission id>").
 * Guarantees:
 *   - `stop()` asks Ray to stop the run: Ray sends the trainer SIGTERM (it checkpoints and exits 3) and SIGKILL
 *     after the head's RAY_JOB_STOP_WAIT_TIME_S (start the head with enough for a checkpoint, e.g. 120);
 *   - `exited` resolves once: SUCCEEDED as exit 0, FAILED with Ray's driver exit code, STOPPED as SIGTERM (Ray
 *     does not keep the stopped trainer's code; runners.ts reads the trainer's last event), a run Ray has
 *     forgotten as unknown;
 *   - calls to the head go through one small client with a timeout (node's http: the dashboard refuses fetch's
 *     requests as browser traffic); the calls the scheduler makes synchronously (capacity, start, adopt) run in a
 *     short-lived child process with a 40 s limit.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Placement } from './resources.ts';
import { PolledRunHandle, type AdoptingRunner, type PlacingRunner, type RunExit } from './runners.ts';
import type { JobSpec, Resources } from './job-spec.ts';
import { jobPaths, shellAssignments, shellQuote, trainerCommand, trainerEnv, writeJobFile, type TrainerCommandOptions } from './trainer-launch.ts';

export interface RayRunnerOptions extends TrainerCommandOptions {
  /** The Ray head's dashboard, e.g. http://ray-head:8265 (default http://127.0.0.1:8265). */
  address?: string;
  /** The shared folder the trainers run in (the data folder as every Ray node sees it). Default process.cwd(). */
  cwd?: string;
  /** What modelfab may use of the cluster at once; default: the cluster's totals as the head reports them. */
  cpuThreads?: number;
  memoryMB?: number;
  gpus?: number;
  gpuMemoryMB?: number;
  env?: Record<string, string>;
  /** How often a run's status is asked for (ms, default 1000). */
  pollMs?: number;
}

type RayStatus = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'STOPPED';
export interface RayJobInfo {
  status: RayStatus; driver_exit_code?: number | null; message?: string | null;
  /** Where the entrypoint (the trainer) runs, once started (Ray's JobDetails). */
  driver_info?: { node_ip_address?: string | null } | null; driver_node_id?: string | null;
}

/** The machine a Ray job's driver runs on, as the Jobs API says it: its IP address, else Ray's node id; null before it starts. */
export function rayDriverNode(info: RayJobInfo | null): string | null {
  const ip = info?.driver_info?.node_ip_address;
  if (typeof ip === 'string' && ip) return ip;
  return typeof info?.driver_node_id === 'string' && info.driver_node_id ? info.driver_node_id : null;
}

const FINAL = new Set<RayStatus>(['SUCCEEDED', 'FAILED', 'STOPPED']);

/**
 * One request to the head, with node's http client: the dashboard refuses fetch's requests as "browser traffic"
 * (they carry Sec-Fetch-* headers). Resolves with the status and the body.
 */
function request(url: string, method: string, body: unknown, timeoutMs: number): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((done, fail) => {
    const req = (u.protocol === 'https:' ? https : http).request(u, {
      method, timeout: timeoutMs, headers: { accept: 'application/json', ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end(data);
  });
}

function answer<T>(method: string, path: string, r: { status: number; text: string }): T | null {
  if (r.status === 404) return null;
  if (r.status < 200 || r.status >= 300) throw new Error(`Ray head ${method} ${path}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text) as T;
}

/** A call to the head; `null` for 404 (Ray does not know that job). */
async function call<T>(base: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<T | null> {
  return answer<T>(method, path, await request(`${base}${path}`, method, body, timeoutMs));
}

/**
 * The child of callSync, plain CommonJS for `node -e` (no loader to start): reads {url, method, body} from stdin
 * and prints {status, text} or {error}, with node's http client as `request` does.
 */
const CHILD = `
const i = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const u = new URL(i.url);
const data = i.body === undefined ? undefined : Buffer.from(JSON.stringify(i.body));
const out = (o) => process.stdout.write(JSON.stringify(o));
const req = require(u.protocol === 'https:' ? 'https' : 'http').request(u, { method: i.method, timeout: 30000,
  headers: Object.assign({ accept: 'application/json' }, data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}) },
  (res) => { const c = []; res.on('data', (x) => c.push(x)); res.on('end', () => out({ status: res.statusCode, text: Buffer.concat(c).toString('utf8') })); });
req.on('timeout', () => req.destroy(new Error('no answer within 30000 ms')));
req.on('error', (e) => out({ error: e.message }));
req.end(data);
`;

/** `call` from synchronous code: a child node process makes the request (see the header). */
function callSync<T>(base: string, method: 'GET' | 'POST', path: string, body?: unknown): T | null {
  const out = JSON.parse(execFileSync(process.execPath, ['-e', CHILD], { input: JSON.stringify({ url: `${base}${path}`, method, body }), encoding: 'utf8', timeout: 40_000 })) as { status?: number; text?: string; error?: string };
  if (out.error) throw new Error(`Ray head ${method} ${path}: ${out.error}`);
  return answer<T>(method, path, { status: out.status ?? 0, text: out.text ?? '' });
}

/** What a finished run's status says. */
export function rayExit(info: RayJobInfo | null): RunExit {
  if (!info) return { code: null, signal: null };
  if (info.status === 'SUCCEEDED') return { code: 0, signal: null };
  if (info.status === 'STOPPED') return { code: null, signal: 'SIGTERM' };
  return { code: typeof info.driver_exit_code === 'number' ? info.driver_exit_code : null, signal: null };
}

/** The shell line Ray runs for `spec` (see the header). */
export function rayEntrypoint(spec: JobSpec, o: RayRunnerOptions & { cwd: string }, submissionId: string): string {
  const { outputDir, jobArg } = jobPaths(o.cwd, spec);
  const cmd = trainerCommand(spec, jobArg, o);
  const log = shellQuote(join(outputDir, 'worker.log'));
  const env = shellAssignments(trainerEnv(spec, o.env), 'ray runner');
  const header = `--- $(date -Is) modelfab ray runner: starting the worker for ${spec.id} as Ray job ${submissionId} on $(hostname)`;
  return `cd ${shellQuote(o.cwd)} && echo "${header}" >> ${log} && exec env ${env.join(' ')} ${[cmd.command, ...cmd.args].map(shellQuote).join(' ')} >> ${log} 2>&1`;
}

export class RayRunHandle extends PolledRunHandle {
  /** The driver's node, once Ray reports it. */
  node: string | null = null;

  constructor(jobId: string, readonly submissionId: string, private readonly base: string, pollMs: number) {
    super(jobId, `ray:${submissionId}`, pollMs);
  }

  protected async check(): Promise<RunExit | undefined> {
    const info = await call<RayJobInfo>(this.base, 'GET', `/api/jobs/${encodeURIComponent(this.submissionId)}`);
    this.node = rayDriverNode(info) ?? this.node;
    return !info || FINAL.has(info.status) ? rayExit(info) : undefined;
  }

  /** Ray stops a run with SIGTERM, then SIGKILL after its stop wait; a forced stop asks the same (Ray has no other). */
  stop(_force = false): void {
    if (this.done) return;
    call(this.base, 'POST', `/api/jobs/${encodeURIComponent(this.submissionId)}/stop`).catch(() => { /* ended meanwhile */ });
  }
}

export class RayRunner implements PlacingRunner, AdoptingRunner {
  readonly name = 'ray';
  private readonly o: RayRunnerOptions & { cwd: string };
  private readonly base: string;
  private cap: Resources | null = null;

  constructor(opts: RayRunnerOptions = {}) {
    this.o = { ...opts, cwd: resolve(opts.cwd ?? process.cwd()) };
    const url = new URL(opts.address ?? 'http://127.0.0.1:8265');
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`ray runner: the address must be http(s), got ${url.protocol}`);
    this.base = url.origin;
  }

  /** The options' figures, else the cluster's totals from the head's /api/cluster_status. */
  capacity(): Resources {
    if (this.cap) return this.cap;
    const o = this.o;
    let usage: Record<string, [number, number]> = {};
    if (o.cpuThreads === undefined || o.memoryMB === undefined || o.gpus === undefined) {
      const r = callSync<{ data?: { clusterStatus?: { loadMetricsReport?: { usage?: Record<string, [number, number]> } } } }>(this.base, 'GET', '/api/cluster_status');
      usage = r?.data?.clusterStatus?.loadMetricsReport?.usage ?? {};
    }
    this.cap = {
      cpuThreads: o.cpuThreads ?? Math.floor(usage.CPU?.[1] ?? 0), memoryMB: o.memoryMB ?? Math.floor((usage.memory?.[1] ?? 0) / 2 ** 20),
      gpus: o.gpus ?? Math.floor(usage.GPU?.[1] ?? 0), gpuMemoryMB: o.gpuMemoryMB ?? 0,
    };
    return this.cap;
  }

  start(spec: JobSpec, _placement?: Placement, resources?: Resources): RayRunHandle {
    const { outputDir } = writeJobFile(this.o.cwd, spec);
    // one submission per run (a job that resumes runs again); Ray's ids take [A-Za-z0-9_-]
    const submissionId = `modelfab-${spec.id}-${Date.now().toString(36)}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const body = {
      submission_id: submissionId, entrypoint: rayEntrypoint(spec, this.o, submissionId),
      entrypoint_num_cpus: Math.max(1, resources?.cpuThreads ?? spec.threads * (spec.processes ?? 1)),
      ...(resources?.gpus ? { entrypoint_num_gpus: resources.gpus } : {}),
      ...(resources?.memoryMB ? { entrypoint_memory: Math.ceil(resources.memoryMB * 2 ** 20) } : {}),
      metadata: { modelfab_job: spec.id },
    };
    try {
      callSync(this.base, 'POST', '/api/jobs/', body);
    } catch (e) {
      appendFileSync(join(outputDir, 'worker.log'), `--- ${new Date().toISOString()} modelfab ray runner: the Ray head refused ${spec.id}: ${(e as Error).message}\n`);
      throw e;
    }
    return new RayRunHandle(spec.id, submissionId, this.base, this.o.pollMs ?? 1000);
  }

  adopt(spec: JobSpec, ref: string | null): RayRunHandle | null {
    const id = /^ray:([A-Za-z0-9_-]+)$/.exec(ref ?? '')?.[1];
    if (!id || !id.startsWith(`modelfab-${spec.id}-`.replace(/[^A-Za-z0-9_-]/g, '_'))) return null;
    const info = callSync<RayJobInfo>(this.base, 'GET', `/api/jobs/${encodeURIComponent(id)}`);
    if (!info || FINAL.has(info.status)) return null; // ended: the files say how
    return new RayRunHandle(spec.id, id, this.base, this.o.pollMs ?? 1000);
  }
}
