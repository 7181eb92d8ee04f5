/**
 * The queue policy: in which order queued jobs are considered, and which of them start in one scheduling pass.
 *
 * Owns: `fairOrder` (priority, fair share across experiments, FIFO), `agedFirst` (a job that has waited long goes
 * first within its priority) and `planPass` (backfill with reservations over a pool of nodes, placement.ts). Guarantees of `planPass`, for jobs given in queue order:
 *   1. A job that fits now (on a node it may use) starts, unless the start would delay a reservation (4).
 *   2. A job that does not fit and has waited less than `reserveAfterMs` lets later jobs of its priority pass it
 *      (plain backfill) and stops every job of a lower priority in this pass.
 *   3. A job that does not fit and has waited `reserveAfterMs` or more gets a reservation: the node where enough
 *      resources are expected to be free earliest (placement.ts `earliestStart`), and that time (a job of N
 *      machines: the N nodes, or the cluster node, that have room earliest). One reservation per node; a blocked
 *      job finding no node without one is treated as in 2.
 *   4. Later jobs, of any priority, start on a reserved node only if they do not delay its reservation: they end
 *      before it (their expected duration is known and short enough) or use resources the reserved job does not
 *      need. A job of unknown duration is taken to run for ever, so on one machine a reservation blocks
 *      everything that would take what the reserved job waits for.
 *   5. The plan is deterministic, and pure (no I/O, no clock: `now` is given); the live scheduler (scheduler.ts)
 *      and the scheduler benchmark (bench/scheduler.ts) both run it.
 */
import { earliestGangStart, freeAt, holdOn, placeGang, type NodeState } from './placement.ts';
import { copyFree, place, takeHolding, type FreeResources, type Placement } from './resources.ts';
import type { Resources } from './job-spec.ts';

/** What the order needs of a job. */
export interface OrderedJob {
  priority: number;
  /** Fair-share group (an experiment; '' for jobs without one). */
  experimentId: string | null;
  /** Submission order. */
  seq: number;
}

function groupOf(j: OrderedJob): string {
  return j.experimentId ?? '';
}

/**
 * Queue order: priority desc, then round-robin across experiments, the least served group first (`served` holds
 * a number per group: the live scheduler a counter of when it last started one of its jobs, the benchmark the
 * GPU-seconds a group has used; a group missing from it goes first), then FIFO (seq).
 */
export function fairOrder<J extends OrderedJob>(queued: readonly J[], served: ReadonlyMap<string, number> = new Map()): J[] {
  const byPriority = new Map<number, J[]>();
  for (const j of queued) {
    const list = byPriority.get(j.priority) ?? [];
    list.push(j);
    byPriority.set(j.priority, list);
  }
  const out: J[] = [];
  for (const p of [...byPriority.keys()].sort((a, b) => b - a)) {
    const groups = new Map<string, J[]>();
    for (const j of byPriority.get(p)!.sort((a, b) => a.seq - b.seq)) {
      const g = groups.get(groupOf(j)) ?? [];
      g.push(j);
      groups.set(groupOf(j), g);
    }
    const order = [...groups.entries()].sort(([ka, a], [kb, b]) =>
      (served.get(ka) ?? -Infinity) - (served.get(kb) ?? -Infinity) || a[0].seq - b[0].seq);
    for (let round = 0; ; round++) {
      let any = false;
      for (const [, g] of order) if (round < g.length) { out.push(g[round]); any = true; }
      if (!any) break;
    }
  }
  return out;
}

/**
 * Aging: `ordered` (fairOrder's output) with, within each priority, the jobs that have waited `ageMs` or more
 * moved to the front, longest waiting first; the others keep their order. Fair share decides among jobs that have
 * waited less; a job that has waited that long goes first whatever its experiment has used, so its reservation
 * (planPass 3) is the first of the pass and stays with it until it starts: its wait is bounded by `ageMs` plus
 * the time until the node it reserved frees, instead of growing while younger jobs of less-served experiments
 * keep taking the node that frees first. Stable and pure.
 */
export function agedFirst<J extends { priority: number }>(ordered: readonly J[], waitedMs: (j: J) => number, ageMs: number): J[] {
  const aged = (j: J) => { const w = waitedMs(j); return w >= ageMs ? w : -1; };
  return ordered.map((j, i) => ({ j, i, w: aged(j) })).sort((a, b) => b.j.priority - a.j.priority || b.w - a.w || a.i - b.i).map((x) => x.j);
}

/** A queued job as the pass sees it. */
export interface PassJob {
  id: string;
  priority: number;
  resources: Resources;
  /** How long it has waited in the queue (ms). */
  waitedMs: number;
  /** Expected run time (ms); null or undefined when unknown (then it is taken to run for ever). */
  durationMs?: number | null;
  /** Names of the nodes it may run on; null or undefined: any. */
  nodes?: readonly string[] | null;
  /** Machines it spans, `resources` on each (placement.ts `placeGang`); absent: 1. */
  machines?: number;
}

export interface PassStart {
  id: string;
  /** Index of the node in the states (the first, for a job over several one-machine nodes). */
  node: number;
  placement: Placement;
  /** A job over several one-machine nodes: every node and its placement (the first is `node`). */
  parts?: { node: number; placement: Placement }[];
}

export interface Reservation {
  id: string;
  node: number;
  /** When the job is expected to start there (Infinity: once what runs there now has ended). */
  at: number;
  resources: Resources;
}

export interface PassPlan {
  starts: PassStart[];
  reservations: Reservation[];
}

export interface PassOptions {
  /** A blocked job gets a reservation once it has waited this long (ms). */
  reserveAfterMs: number;
}

/**
 * Plans one pass (see the header): `ordered` is the queue in fairOrder, `states` what is free on each node now
 * (placement.ts `poolStates`). `states` is updated with the starts, so a caller may plan again on it.
 */
export function planPass(ordered: readonly PassJob[], states: NodeState[], now: number, o: PassOptions): PassPlan {
  const starts: PassStart[] = [];
  const reservations: Reservation[] = [];
  const reservedNode = new Map<number, Reservation>();
  // per reserved node: what will be free there at the reservation's time, less what starts now and runs past it
  const atReservation = new Map<number, FreeResources>();
  let blockedPriority: number | null = null;
  for (const job of ordered) {
    if (blockedPriority !== null && job.priority < blockedPriority) break;
    const endsAt = job.durationMs != null ? now + job.durationMs : Infinity;
    const allowed = (i: number, placement: Placement, resources: Resources): boolean => {
      if (job.nodes && !job.nodes.includes(states[i].node.name)) return false;
      const r = reservedNode.get(i);
      if (!r || endsBefore(endsAt, r.at)) return true;
      // 4: what runs past the reservation's time must leave the reserved job room then (resources only come
      // back over time, so room at that time means no delay)
      const then = copyFree(atReservation.get(i)!);
      takeHolding(then, { resources, placement }, states[i].node.capacity);
      return place(r.resources, then, states[i].node.capacity) !== null;
    };
    const parts = placeGang(job.resources, job.machines ?? 1, states, allowed);
    if (parts) {
      for (const part of parts) {
        holdOn(states[part.node], part.resources, part.placement, endsAt);
        const r = reservedNode.get(part.node);
        if (r && !endsBefore(endsAt, r.at)) takeHolding(atReservation.get(part.node)!, { resources: part.resources, placement: part.placement }, states[part.node].node.capacity);
      }
      starts.push({ id: job.id, node: parts[0].node, placement: parts[0].placement, ...(parts.length > 1 ? { parts: parts.map((x) => ({ node: x.node, placement: x.placement })) } : {}) });
      continue;
    }
    const got = job.waitedMs >= o.reserveAfterMs ? reserve(job, states, reservedNode, now) : null;
    if (got) {
      for (const r of got) {
        reservations.push(r);
        reservedNode.set(r.node, r);
        atReservation.set(r.node, freeAt(states[r.node], r.at));
      }
    } else {
      blockedPriority ??= job.priority;
    }
  }
  return { starts, reservations };
}

/** Whether a run expected to end at `endsAt` has ended by `at` (a run of unknown end never has). */
function endsBefore(endsAt: number, at: number): boolean {
  return Number.isFinite(endsAt) && endsAt <= at;
}

/**
 * The earliest start of `job` on nodes without a reservation (ties: the earlier node): one reservation per node
 * it would take (several for a job of several machines), or null.
 */
function reserve(job: PassJob, states: readonly NodeState[], reserved: ReadonlyMap<number, Reservation>, now: number): Reservation[] | null {
  const usable = (i: number) => !reserved.has(i) && (!job.nodes || job.nodes.includes(states[i].node.name));
  const best = earliestGangStart(job.resources, job.machines ?? 1, states, now, usable);
  return best ? best.parts.map((p) => ({ id: job.id, node: p.node, at: best.at, resources: p.resources })) : null;
}
