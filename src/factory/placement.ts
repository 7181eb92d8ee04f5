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
 *   - pure functions over plain values (no I/O, no clock): the scheduler and the scheduler benchmark run this code.
 */
import { copyFree, freeResources, normalizeResources, place, releaseHolding, takeHolding, type FreeResources, type Holding, type Placement } from './resources.ts';
import type { Resources } from './job-spec.ts';

export interface PoolNode {
  /** Unique in the pool (a runner's name, or a cluster node's). */
  name: string;
  capacity: Resources;
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
