/**
 * Node-aware placement over a pool: which node a job goes to, and when a job that does not fit now could start.
 *
 * Owns: `PoolNode` (a machine, or a runner the scheduler treats as one: this machine, a Slurm partition's node
 * shape, a Ray cluster), `NodeState` (what is free on it now and when its running jobs are expected to give
 * resources back), `poolStates`, `placeOnPool` `earliestStart` and `freeAt`. Guarantees:
 *   - a job's GPUs are on one node, and its threads and memory fit that node (resources.ts `place` per node), so
 *     nothing is ever oversubscribed on any node;
 *   - best fit: a GPU job goes to the node left with the fewest free GPUs after it (whole nodes stay free for
 *     the 8-GPU jobs); a CPU-only job prefers nodes without GPUs, then the node left with the fewest free threads;
 *     ties go to the earlier node, so the result is deterministic;
 *   - `earliestStart` walks the node's expected releases in time order and returns the first time the job fits
 *     (a release with no known end counts as `Infinity`: "once what runs now has ended"), or null when it never
 *     would on that node;
 *   - a job of N machines (`placeGang`) takes its per-machine share on each of N distinct one-machine nodes, or
 *     N shares at once on one node that stands for a cluster of at least N machines (a runner that starts it);
 *   - pure functions over plain values (no I/O, no clock): the scheduler and the scheduler benchmark run this code.
 */
import { copyFree, freeResources, normalizeResources, place, releaseHolding, takeHolding, type FreeResources, type Holding, type Placement } from './resources.ts';
import type { Resources } from './job-spec.ts';

export interface PoolNode {
  /** Unique in the pool (a runner's name, or a cluster node's). */
  name: string;
  capacity: Resources;
  /**
   * How many machines a job may span on it when it stands for a cluster (a Slurm partition, a Kubernetes cluster,
   * its capacity their sum); absent: it is one machine.
   */
  machines?: number;
}

/** A running job's holding and when it is expected to end (`Infinity` when nobody knows). */
export interface Release extends Holding {
  endsAt: number;
}

export interface NodeState {
  node: PoolNode;
  free: FreeResources;
  /** The running jobs on the node, in no particular order. */
  releases: Release[];
}

/** A running job as the pool sees it: the node it holds resources on. */
export interface PoolHolding extends Holding {
  node: string;
  /** Expected end (epoch ms); undefined or null when unknown. */
  endsAt?: number | null;
}

/** What is free on every node of `nodes`, given the running jobs (holdings on nodes not in the pool are ignored). */
export function poolStates(nodes: readonly PoolNode[], running: readonly PoolHolding[]): NodeState[] {
  const byNode = new Map<string, PoolHolding[]>();
  for (const h of running) {
    const list = byNode.get(h.node) ?? [];
    list.push(h);
    byNode.set(h.node, list);
  }
  return nodes.map((node) => {
    const held = byNode.get(node.name) ?? [];
    return {
      node,
      free: freeResources(node.capacity, held),
      releases: held.map((h) => ({ resources: h.resources, placement: h.placement, endsAt: h.endsAt ?? Infinity })),
    };
  });
}

export interface PoolChoice {
  /** Index of the node in the states. */
  node: number;
  placement: Placement;
}

/**
 * Where `job` fits best now (see the header), or null. `allowed(i, placement)` may refuse a node or a placement
 * (a job bound to one runner; a start that would delay a reservation). Does not change `states`.
 */
export function placeOnPool(job: Resources, states: readonly NodeState[], allowed?: (node: number, placement: Placement) => boolean): PoolChoice | null {
  const j = normalizeResources(job);
  let best: PoolChoice | null = null;
  let bestKey: [number, number, number] | null = null;
  for (let i = 0; i < states.length; i++) {
    const s = states[i];
    if (j.cpuThreads > s.free.cpuThreads || j.memoryMB > s.free.memoryMB) continue;
    if (j.gpus > 0) {
      const need = j.gpuMemoryMB > 0 ? j.gpuMemoryMB : normalizeResources(s.node.capacity).gpuMemoryMB;
      let devices = 0;
      for (const mb of s.free.gpuFreeMB) if (mb >= need) devices++;
      if (devices < j.gpus) continue;
    }
    const trial = copyFree(s.free);
    const placement = place(j, trial, s.node.capacity);
    if (!placement || (allowed && !allowed(i, placement))) continue;
    const freeGpus = trial.gpuFreeMB.filter((mb) => mb > 0).length;
    const key: [number, number, number] = j.gpus > 0
      ? [freeGpus, trial.cpuThreads, 0]
      : [trial.gpuFreeMB.length > 0 ? 1 : 0, trial.cpuThreads, trial.memoryMB];
    if (!bestKey || key[0] < bestKey[0] || (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && key[2] < bestKey[2])))) {
      best = { node: i, placement };
      bestKey = key;
    }
  }
  return best;
}

/** Takes `placement` on node state `s` for a job expected to end at `endsAt` (Infinity: unknown). */
export function holdOn(s: NodeState, job: Resources, placement: Placement, endsAt: number): void {
  const h: Release = { resources: job, placement, endsAt };
  takeHolding(s.free, h, s.node.capacity);
  s.releases.push(h);
}

/**
 * What will be free on `s` at time `t` once the releases expected by then have happened (a release of unknown end
 * counts only for `t` = Infinity). A new copy.
 */
export function freeAt(s: NodeState, t: number): FreeResources {
  const free = copyFree(s.free);
  for (const r of s.releases) if (r.endsAt <= t) releaseHolding(free, r, s.node.capacity);
  return free;
}

/**
 * The first time (>= now) at which `job` fits on node state `s` as its running jobs end in their expected order;
 * `Infinity` when only jobs of unknown end free enough; null when it never fits there.
 */
export function earliestStart(job: Resources, s: NodeState, now: number): number | null {
  const free = copyFree(s.free);
  const cap = s.node.capacity;
  if (place(job, copyFree(free), cap)) return now;
  const releases = s.releases.slice().sort((a, b) => a.endsAt - b.endsAt);
  for (let k = 0; k < releases.length; k++) {
    releaseHolding(free, releases[k], cap);
    // releases ending together free their resources together
    if (k + 1 < releases.length && releases[k + 1].endsAt === releases[k].endsAt) continue;
    if (place(job, copyFree(free), cap)) return Math.max(now, releases[k].endsAt);
  }
  return null;
}

/** `n` machines' worth of a per-machine share. */
export function scaleResources(r: Resources, n: number): Resources {
  const j = normalizeResources(r);
  const out: Resources = { cpuThreads: j.cpuThreads * n, memoryMB: j.memoryMB * n };
  if (j.gpus) { out.gpus = j.gpus * n; if (j.gpuMemoryMB) out.gpuMemoryMB = j.gpuMemoryMB; }
  return out;
}

/** One node's part of a job's placement, and what the job holds there. */
export interface GangPart extends PoolChoice {
  resources: Resources;
}

/**
 * Where a job of `count` machines, `job` on each, fits now (see the header), or null: one part for a job of one
 * machine or one on a cluster node, else `count` parts on distinct one-machine nodes (each best fit). `allowed`
 * is asked with each part's resources. Does not change `states`.
 */
export function placeGang(job: Resources, count: number, states: readonly NodeState[], allowed?: (node: number, placement: Placement, resources: Resources) => boolean): GangPart[] | null {
  const ok = (r: Resources, extra: (i: number) => boolean) => (i: number, p: Placement) => extra(i) && (!allowed || allowed(i, p, r));
  if (count <= 1) {
    const c = placeOnPool(job, states, ok(job, () => true));
    return c ? [{ ...c, resources: job }] : null;
  }
  const whole = scaleResources(job, count);
  const c = placeOnPool(whole, states, ok(whole, (i) => (states[i].node.machines ?? 1) >= count));
  if (c) return [{ ...c, resources: whole }];
  const parts: GangPart[] = [];
  const used = new Set<number>();
  for (let k = 0; k < count; k++) {
    const p = placeOnPool(job, states, ok(job, (i) => states[i].node.machines === undefined && !used.has(i)));
    if (!p) return null;
    used.add(p.node);
    parts.push({ ...p, resources: job });
  }
  return parts;
}

/**
 * The first time a job of `count` machines could start (as `earliestStart`), and the nodes it would take then
 * (each with what it holds there); null when it never fits. `usable(i)` may refuse nodes (already reserved).
 */
export function earliestGangStart(job: Resources, count: number, states: readonly NodeState[], now: number, usable: (i: number) => boolean = () => true): { at: number; parts: { node: number; resources: Resources }[] } | null {
  let best: { at: number; parts: { node: number; resources: Resources }[] } | null = null;
  const whole = count > 1 ? scaleResources(job, count) : job;
  for (let i = 0; i < states.length; i++) {
    if (!usable(i) || (count > 1 && (states[i].node.machines ?? 1) < count)) continue;
    const at = earliestStart(whole, states[i], now);
    if (at !== null && (!best || at < best.at)) best = { at, parts: [{ node: i, resources: whole }] };
  }
  if (count > 1) {
    const single = states.map((s, i) => ({ i, at: usable(i) && s.node.machines === undefined ? earliestStart(job, s, now) : null }))
      .filter((x): x is { i: number; at: number } => x.at !== null).sort((a, b) => a.at - b.at || a.i - b.i).slice(0, count);
    if (single.length === count) {
      const at = single[count - 1].at;
      if (!best || at < best.at) best = { at, parts: single.map((x) => ({ node: x.i, resources: job })) };
    }
  }
  return best;
}
