/**
 * npm run bench:scheduler — the scheduler's policy on a thousand jobs, in virtual time.
 *
 * The cluster: 16 GPU nodes (8 GPUs of 80 GB, 96 threads, 1.5 TB each) and 4 CPU nodes (64 threads, 512 GB). The
 * jobs: 1,000, in three experiments of different mixes (many small runs; large runs; a mix), of 1, 2, 4 or 8 GPUs
 * or CPU only, 10% of them at a higher priority, a fifth of them later stages of another job of their experiment
 * (`then` chains: they become eligible when that job ends). A backlog of 200 is queued at t = 0 and the other 700
 * arrive at random (Poisson) at the rate the cluster can run them (offered load 0.95), so work keeps waiting and a
 * greedy policy keeps finding small jobs to start. Every job's run time is drawn; the policy is told an estimate
 * of 0.8x to 1.5x of it (a time limit), so reservations are sometimes wrong, as on a real cluster.
 *
 * The simulation is event driven: at t = 0 and whenever jobs end, one scheduling pass runs the scheduler's own
 * code (queue-policy.ts `fairOrder`, `agedFirst` and `planPass` over placement.ts `poolStates`), and what it
 * starts runs until its drawn end. Three policies over the same jobs:
 *   policy     backfill with reservations (reserveAfterMs 0: a blocked job reserves at once), fair share by
 *              GPU-seconds used, and aging: a job eligible for AGING_H hours or more goes first in its priority;
 *   previous   the same without aging (prev_*): an 8-GPU job at the head of its experiment's queue lost the node
 *              that freed first, pass after pass, to younger 8-GPU jobs of less-served experiments;
 *   reference  greedy backfill without reservations (reserveAfterMs Infinity), fair order, no aging (ref_*).
 * Figures (each for all three):
 *   gpu_util          busy GPU-seconds / (128 GPUs x seconds) over the time some eligible GPU job waits;
 *   fairness_max_dev  for each experiment, over the whole run while it has eligible GPU work waiting: its share
 *                     of the cluster's GPU-seconds against its max-min fair share (the 128 GPUs water-filled over
 *                     every experiment's demand: the GPUs its running and waiting jobs ask for), averaged over
 *                     that time; the largest distance over the experiments (fair_share_* and used_share_* per
 *                     experiment, waiting_h_* how long each had work waiting);
 *   max_wait_8gpu_s   longest time an 8-GPU job waited from eligible (submitted, and its dependency ended) to
 *                     start (virtual seconds); mean_wait_s the same over all jobs;
 *   pass_p95_ms       real time of one pass (order + pool state + plan), 95th percentile, on this machine;
 *   makespan_h        virtual hours until the last job ended.
 * Goal: gpu_util >= 0.9, fairness_max_dev small, max_wait_8gpu_s far below the reference's.
 */
import { agedFirst, fairOrder, planPass, type PassJob } from '../src/factory/queue-policy.ts';
import { poolStates, type PoolNode, type PoolHolding } from '../src/factory/placement.ts';
import type { Placement } from '../src/factory/resources.ts';
import type { Resources } from '../src/factory/job-spec.ts';

interface SimJob {
  id: string;
  seq: number;
  experimentId: string;
  priority: number;
  resources: Resources;
  durationS: number;
  estimateS: number;
  after: string | null;
  /** Submission time (virtual seconds). */
  submitS: number;
}

// ------------------------------------------------------------------ the cluster and the jobs

const GPU_NODES = 16, CPU_NODES = 4;
const nodes: PoolNode[] = [
  ...Array.from({ length: GPU_NODES }, (_, i) => ({ name: `gpu${i}`, capacity: { cpuThreads: 96, memoryMB: 1_500_000, gpus: 8, gpuMemoryMB: 80_000 } })),
  ...Array.from({ length: CPU_NODES }, (_, i) => ({ name: `cpu${i}`, capacity: { cpuThreads: 64, memoryMB: 512_000 } })),
];
const TOTAL_GPUS = GPU_NODES * 8;
const BACKLOG = 200, LOAD = 0.95;
/** The policy's aging: a job eligible this long goes first within its priority (the scheduler's default). */
const AGING_H = 6;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32; };
}

/** Job mixes per experiment: [gpus (0 = CPU only), weight, minutes min, minutes max]. */
const MIXES: Record<string, [number, number, number, number][]> = {
  sweep: [[1, 40, 30, 120], [2, 40, 30, 150], [0, 20, 5, 30]],
  mixed: [[1, 25, 10, 60], [2, 20, 20, 90], [4, 20, 30, 120], [8, 15, 60, 180], [0, 20, 5, 30]],
  scale: [[4, 50, 30, 90], [8, 30, 60, 150], [1, 20, 10, 60]],
};
/** Share of the jobs per experiment: many small runs, fewer large ones, about the same GPU time each. */
const EXPERIMENT_SHARE: Record<string, number> = { sweep: 0.55, mixed: 0.27, scale: 0.18 };

function makeJobs(count: number, seed: number): SimJob[] {
  const r = rng(seed);
  const exps = Object.keys(MIXES);
  const jobs: SimJob[] = [];
  const byExp = new Map<string, SimJob[]>();
  for (let i = 0; i < count; i++) {
    let e = r();
    const experimentId = exps.find((x) => (e -= EXPERIMENT_SHARE[x]) < 0) ?? exps[exps.length - 1];
    const mix = MIXES[experimentId];
    let pick = r() * mix.reduce((t, m) => t + m[1], 0);
    const [gpus, , lo, hi] = mix.find((m) => (pick -= m[1]) < 0) ?? mix[mix.length - 1];
    const durationS = Math.round((lo + r() * (hi - lo)) * 60);
    const resources: Resources = gpus > 0
      ? { cpuThreads: 8 * gpus, memoryMB: 100_000 * gpus, gpus }
      : { cpuThreads: 4 + Math.floor(r() * 13), memoryMB: 16_000 + Math.floor(r() * 48_000) };
    const earlier = byExp.get(experimentId) ?? [];
    const after = earlier.length > 0 && r() < 0.2 ? earlier[Math.floor(r() * earlier.length)].id : null;
    const job: SimJob = {
      id: `j${i}`, seq: i, experimentId, priority: r() < 0.1 ? 1 : 0, resources, durationS,
      estimateS: Math.round(durationS * (0.8 + r() * 0.7)), after, submitS: 0,
    };
    earlier.push(job);
    byExp.set(experimentId, earlier);
    jobs.push(job);
  }
  // arrivals: BACKLOG at t = 0, the rest at the rate the GPUs can run them
  const arriving = jobs.slice(BACKLOG);
  const gpuSeconds = arriving.reduce((t, j) => t + (j.resources.gpus ?? 0) * j.durationS, 0);
  const meanGapS = gpuSeconds / (TOTAL_GPUS * LOAD) / arriving.length;
  let t = 0;
  for (const j of arriving) { t += -Math.log(1 - r()) * meanGapS; j.submitS = Math.round(t); }
  return jobs;
}

// ------------------------------------------------------------------ the simulation

interface Running { job: SimJob; node: string; placement: Placement; start: number; end: number }

interface SimResult {
  gpuUtil: number;
  fairnessMaxDev: number;
  maxWait8: number;
  meanWaitS: number;
  /** Mean wait (s) of the jobs of each size (GPUs; 0 = CPU only). */
  meanWaitBySize: Record<number, number>;
  /** Per experiment: hours it had GPU work waiting, its share of the GPU-seconds then, its max-min fair share then. */
  fairness: Record<string, { waitingH: number; used: number; fair: number }>;
  passP95Ms: number;
  passes: number;
  makespanH: number;
}

/** GPU-seconds, the fair share's measure (CPU-only jobs run beside the GPUs and cost nothing in it). */
function cost(r: Resources, seconds: number): number {
  return (r.gpus ?? 0) * seconds;
}

/** Max-min fair split of `capacity` over `demand` (water-filling): nobody gets more than it asks for. */
function waterFill(capacity: number, demand: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  let left = capacity;
  const asks = [...demand].filter(([, d]) => d > 0).sort((a, b) => a[1] - b[1]);
  asks.forEach(([e, d], i) => { const give = Math.min(d, left / (asks.length - i)); out.set(e, give); left -= give; });
  return out;
}

function simulate(jobs: readonly SimJob[], reserveAfterMs: number, agingS: number): SimResult {
  const eligibleAt = new Map<string, number>();
  const done = new Set<string>();
  const waiting = new Map<string, SimJob>();
  const submitted = new Set<string>();
  const arrivals = jobs.slice().sort((a, b) => a.submitS - b.submitS);
  let nextArrival = 0;
  /** Jobs submitted by `t`; those without a pending dependency are eligible. */
  const arrive = (now: number) => {
    for (; nextArrival < arrivals.length && arrivals[nextArrival].submitS <= now; nextArrival++) {
      const j = arrivals[nextArrival];
      submitted.add(j.id);
      waiting.set(j.id, j);
      if (!j.after || done.has(j.after)) eligibleAt.set(j.id, now);
    }
  };
  arrive(0);
  const used = new Map<string, number>();
  let running: Running[] = [];
  const passMs: number[] = [];
  const waitBySize = new Map<number, [number, number]>();
  let t = 0, busyGpuS = 0, offeredGpuS = 0, maxWait8 = 0, waitSum = 0, started = 0;
  const exps = [...new Set(jobs.map((j) => j.experimentId))];
  const fair = new Map(exps.map((e) => [e, { waitingS: 0, usedGpuS: 0, fairGpuS: 0 }]));

  while (waiting.size > 0 || running.length > 0 || nextArrival < arrivals.length) {
    // 1. one pass, timed: the order, the pool's state, the plan
    const p0 = performance.now();
    const queued = [...waiting.values()].filter((j) => eligibleAt.has(j.id));
    const served = new Map<string, number>();
    for (const [g, u] of used) served.set(g, u);
    for (const x of running) served.set(x.job.experimentId, (served.get(x.job.experimentId) ?? 0) + cost(x.job.resources, t - x.start));
    const ordered = agedFirst(fairOrder(queued, served), (j) => t - eligibleAt.get(j.id)!, agingS);
    const states = poolStates(nodes, running.map((x): PoolHolding => ({ node: x.node, resources: x.job.resources, placement: x.placement, endsAt: (x.start + x.job.estimateS) * 1000 })));
    const passJobs: PassJob[] = ordered.map((j) => ({ id: j.id, priority: j.priority, resources: j.resources, waitedMs: (t - eligibleAt.get(j.id)!) * 1000, durationMs: j.estimateS * 1000 }));
    const plan = planPass(passJobs, states, t * 1000, { reserveAfterMs });
    passMs.push(performance.now() - p0);
    // 2. start what it planned
    for (const s of plan.starts) {
      const job = waiting.get(s.id)!;
      waiting.delete(s.id);
      running.push({ job, node: nodes[s.node].name, placement: s.placement, start: t, end: t + job.durationS });
      const wait = t - eligibleAt.get(job.id)!;
      waitSum += wait;
      started++;
      if (job.resources.gpus === 8) maxWait8 = Math.max(maxWait8, wait);
      const size = job.resources.gpus ?? 0;
      waitBySize.set(size, [(waitBySize.get(size)?.[0] ?? 0) + wait, (waitBySize.get(size)?.[1] ?? 0) + 1]);
    }
    const nextSubmit = nextArrival < arrivals.length ? arrivals[nextArrival].submitS : Infinity;
    if (running.length === 0 && nextSubmit === Infinity) {
      if (waiting.size === 0) break;
      throw new Error(`no job runs and ${waiting.size} wait: the policy is stuck at t=${t}`);
    }
    // 3. to the next end or arrival; the figures over the interval
    const next = Math.min(nextSubmit, ...running.map((x) => x.end));
    const dt = next - t;
    const waitingNow = [...waiting.values()].filter((j) => eligibleAt.has(j.id));
    if (waitingNow.some((j) => (j.resources.gpus ?? 0) > 0)) {
      busyGpuS += running.reduce((s, x) => s + (x.job.resources.gpus ?? 0), 0) * dt;
      offeredGpuS += TOTAL_GPUS * dt;
    }
    // fair share: each experiment's demand is what its running and waiting jobs ask for; the GPUs water-filled
    // over the demands are what each is owed; measured for an experiment while it has GPU work waiting
    const demand = new Map<string, number>(), usedNow = new Map<string, number>();
    for (const j of waitingNow) demand.set(j.experimentId, (demand.get(j.experimentId) ?? 0) + (j.resources.gpus ?? 0));
    const waitingExps = new Set([...demand].filter(([, d]) => d > 0).map(([e]) => e));
    for (const x of running) {
      const g = x.job.resources.gpus ?? 0;
      demand.set(x.job.experimentId, (demand.get(x.job.experimentId) ?? 0) + g);
      usedNow.set(x.job.experimentId, (usedNow.get(x.job.experimentId) ?? 0) + g);
    }
    const owed = waterFill(TOTAL_GPUS, demand);
    for (const e of waitingExps) {
      const f = fair.get(e)!;
      f.waitingS += dt;
      f.usedGpuS += (usedNow.get(e) ?? 0) * dt;
      f.fairGpuS += (owed.get(e) ?? 0) * dt;
    }
    t = next;
    const ended = running.filter((x) => x.end <= t);
    running = running.filter((x) => x.end > t);
    for (const x of ended) {
      done.add(x.job.id);
      used.set(x.job.experimentId, (used.get(x.job.experimentId) ?? 0) + cost(x.job.resources, x.job.durationS));
      for (const j of waiting.values()) if (j.after === x.job.id) eligibleAt.set(j.id, t);
    }
    arrive(t);
  }
  if (done.size !== jobs.length) throw new Error(`${jobs.length - done.size} jobs never ran`);
  const sorted = passMs.slice().sort((a, b) => a - b);
  return {
    gpuUtil: busyGpuS / offeredGpuS,
    fairnessMaxDev: Math.max(...exps.map((e) => { const f = fair.get(e)!; return f.waitingS > 0 ? Math.abs(f.usedGpuS - f.fairGpuS) / (TOTAL_GPUS * f.waitingS) : 0; })),
    fairness: Object.fromEntries(exps.map((e) => { const f = fair.get(e)!; const d = TOTAL_GPUS * Math.max(f.waitingS, 1e-9); return [e, { waitingH: f.waitingS / 3600, used: f.usedGpuS / d, fair: f.fairGpuS / d }]; })),
    maxWait8,
    meanWaitS: waitSum / started,
    meanWaitBySize: Object.fromEntries([...waitBySize].sort((a, b) => a[0] - b[0]).map(([g, [sum, n]]) => [g, sum / n])),
    passP95Ms: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))],
    passes: passMs.length,
    makespanH: t / 3600,
  };
}

// ------------------------------------------------------------------ the run

const JOBS = 1000;
const jobs = makeJobs(JOBS, 19);
const count = (g: number) => jobs.filter((j) => (j.resources.gpus ?? 0) === g).length;
console.log(`${JOBS} jobs: ${count(1)} x 1 GPU, ${count(2)} x 2, ${count(4)} x 4, ${count(8)} x 8, ${count(0)} CPU only; ${jobs.filter((j) => j.after).length} wait on another; ${jobs.filter((j) => j.priority > 0).length} at priority 1`);
console.log(`cluster: ${GPU_NODES} nodes x 8 GPUs, ${CPU_NODES} CPU nodes; ${BACKLOG} queued at t = 0, the rest arriving over ${(Math.max(...jobs.map((j) => j.submitS)) / 3600).toFixed(1)} h at load ${LOAD}`);
const policy = simulate(jobs, 0, AGING_H * 3600);
const previous = simulate(jobs, 0, Infinity);
const reference = simulate(jobs, Infinity, Infinity);
const round = (x: number, d = 3) => Number(x.toFixed(d));
for (const [name, r] of [[`policy (backfill with reservations, aging after ${AGING_H} h)`, policy], ['previous (backfill with reservations, no aging)', previous], ['reference (greedy backfill, no reservations)', reference]] as const) {
  console.log(`${name}: gpu_util ${r.gpuUtil.toFixed(3)}, fairness max dev ${r.fairnessMaxDev.toFixed(3)} (${Object.entries(r.fairness).map(([e, f]) => `${e}: ${f.used.toFixed(3)} of the GPUs vs fair ${f.fair.toFixed(3)} over ${f.waitingH.toFixed(1)} h waiting`).join('; ')}), max wait of an 8-GPU job ${(r.maxWait8 / 3600).toFixed(1)} h, mean wait ${(r.meanWaitS / 3600).toFixed(1)} h (by GPUs: ${Object.entries(r.meanWaitBySize).map(([g, w]) => `${g}: ${(w / 3600).toFixed(1)} h`).join(', ')}), makespan ${r.makespanH.toFixed(1)} h, pass p95 ${r.passP95Ms.toFixed(2)} ms over ${r.passes} passes`);
}
const shares = (r: SimResult, prefix: string) => Object.fromEntries(Object.entries(r.fairness).flatMap(([e, f]) => [[`${prefix}used_share_${e}`, round(f.used)], [`${prefix}fair_share_${e}`, round(f.fair)], [`${prefix}waiting_h_${e}`, round(f.waitingH, 1)]]));
console.log(JSON.stringify({
  bench: 'scheduler', jobs: JOBS, gpu_util: round(policy.gpuUtil), fairness_max_dev: round(policy.fairnessMaxDev), max_wait_8gpu_s: Math.round(policy.maxWait8),
  pass_p95_ms: round(policy.passP95Ms, 2), mean_wait_s: Math.round(policy.meanWaitS), mean_wait_8gpu_s: Math.round(policy.meanWaitBySize[8]), mean_wait_1gpu_s: Math.round(policy.meanWaitBySize[1]), makespan_h: round(policy.makespanH, 2), passes: policy.passes,
  aging_h: AGING_H, ...shares(policy, ''),
  prev_policy: 'backfill with reservations, no aging', prev_gpu_util: round(previous.gpuUtil), prev_fairness_max_dev: round(previous.fairnessMaxDev), prev_max_wait_8gpu_s: Math.round(previous.maxWait8),
  prev_mean_wait_s: Math.round(previous.meanWaitS), prev_mean_wait_8gpu_s: Math.round(previous.meanWaitBySize[8]), prev_mean_wait_1gpu_s: Math.round(previous.meanWaitBySize[1]),
  ref_policy: 'greedy backfill without reservations', ref_gpu_util: round(reference.gpuUtil), ref_fairness_max_dev: round(reference.fairnessMaxDev),
  ref_max_wait_8gpu_s: Math.round(reference.maxWait8), ref_pass_p95_ms: round(reference.passP95Ms, 2), ref_mean_wait_s: Math.round(reference.meanWaitS), ref_mean_wait_8gpu_s: Math.round(reference.meanWaitBySize[8]), ref_mean_wait_1gpu_s: Math.round(reference.meanWaitBySize[1]), ref_makespan_h: round(reference.makespanH, 2),
}));
