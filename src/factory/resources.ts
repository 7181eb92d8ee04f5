/**
 * Resource arithmetic and placement for the scheduler: what a runner offers (Resources), what running jobs hold,
 * and whether a job fits what is free.
 *
 * Owns: `normalizeResources`, `freeResources`, `place`, `takeHolding`/`releaseHolding` and the `Placement` a started job records. Guarantees:
 *   - threads and memory are never oversubscribed: `place` returns null unless the job's cpuThreads and memoryMB
 *     fit in capacity minus what every running job holds;
 *   - GPUs are modelled as devices with memory: `capacity.gpus` devices of `capacity.gpuMemoryMB` each. A job asks
 *     for `gpus` devices and `gpuMemoryMB` on each (default: the whole device, i.e. exclusive use); devices are
 *     shared by memory and chosen best-fit (the fullest device that still fits), and the chosen device ids are
 *     recorded in the Placement so that the runner can expose exactly those (CUDA_VISIBLE_DEVICES);
 *   - pure functions over plain JSON values (no I/O), so the same code places jobs for any runner.
 */
import type { Resources } from './job-spec.ts';

/**
 * Where a started job was placed: the GPU devices it holds (empty without GPUs), and the machine(s) its runner
 * put it on once the runner says (a host name, a Slurm NodeList; kept after the run ends). Plain JSON.
 */
export interface Placement {
  gpuIds: number[];
  node?: string;
}

/** A job that holds resources right now. */
export interface Holding {
  resources: Resources;
  placement: Placement | null;
}

/** Fills the optional fields with 0 and rounds, so sums and comparisons never see undefined or fractions. */
export function normalizeResources(r: Partial<Resources>): Required<Resources> {
  const n = (x: number | undefined) => (typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : 0);
  return { cpuThreads: Math.ceil(n(r.cpuThreads)), memoryMB: Math.ceil(n(r.memoryMB)), gpus: Math.ceil(n(r.gpus)), gpuMemoryMB: Math.ceil(n(r.gpuMemoryMB)) };
}

export interface FreeResources {
  cpuThreads: number;
  memoryMB: number;
  /** Free memory per GPU device, indexed by device id. */
  gpuFreeMB: number[];
}

/** Per-device memory a job takes on each of its GPUs (the whole device when it names no memory). */
function perDeviceNeed(job: Required<Resources>, capacity: Required<Resources>): number {
  return job.gpuMemoryMB > 0 ? job.gpuMemoryMB : capacity.gpuMemoryMB;
}

/** What is left of `capacity` once `holdings` are subtracted (may go negative if the capacity shrank). */
export function freeResources(capacity: Resources, holdings: readonly Holding[]): FreeResources {
  const cap = normalizeResources(capacity);
  const free: FreeResources = { cpuThreads: cap.cpuThreads, memoryMB: cap.memoryMB, gpuFreeMB: Array.from({ length: cap.gpus }, () => cap.gpuMemoryMB) };
  for (const h of holdings) takeHolding(free, h, cap);
  return free;
}

/** Takes a holding out of `free` (devices as its placement names them); `free` may go negative. */
export function takeHolding(free: FreeResources, h: Holding, capacity: Resources): void {
  const r = normalizeResources(h.resources), cap = normalizeResources(capacity);
  free.cpuThreads -= r.cpuThreads;
  free.memoryMB -= r.memoryMB;
  for (const id of h.placement?.gpuIds ?? []) if (id >= 0 && id < free.gpuFreeMB.length) free.gpuFreeMB[id] -= perDeviceNeed(r, cap);
}

/** Gives a holding back to `free` (the inverse of `place`), e.g. to see what is free once a running job ends. */
export function releaseHolding(free: FreeResources, h: Holding, capacity: Resources): void {
  const r = normalizeResources(h.resources), cap = normalizeResources(capacity);
  free.cpuThreads += r.cpuThreads;
  free.memoryMB += r.memoryMB;
  for (const id of h.placement?.gpuIds ?? []) if (id >= 0 && id < free.gpuFreeMB.length) free.gpuFreeMB[id] += perDeviceNeed(r, cap);
}

/** A copy of `free` that `place` may change without touching the original. */
export function copyFree(free: FreeResources): FreeResources {
  return { cpuThreads: free.cpuThreads, memoryMB: free.memoryMB, gpuFreeMB: free.gpuFreeMB.slice() };
}

/** Why a job can never run on `capacity` (even on an empty machine), or null if it can. */
export function neverFits(job: Resources, capacity: Resources): string | null {
  const j = normalizeResources(job), c = normalizeResources(capacity);
  if (j.cpuThreads > c.cpuThreads) return `needs ${j.cpuThreads} CPU threads; the runner offers ${c.cpuThreads}`;
  if (j.memoryMB > c.memoryMB) return `needs ${j.memoryMB} MB of memory; the runner offers ${c.memoryMB} MB`;
  if (j.gpus > c.gpus) return `needs ${j.gpus} GPUs; the runner offers ${c.gpus}`;
  if (j.gpus > 0 && j.gpuMemoryMB > c.gpuMemoryMB) return `needs ${j.gpuMemoryMB} MB per GPU; the runner's GPUs have ${c.gpuMemoryMB} MB`;
  return null;
}

/**
 * Places `job` in `free` (mutating `free` to take it) and returns its Placement, or returns null and leaves `free`
 * untouched when it does not fit.
 */
export function place(job: Resources, free: FreeResources, capacity: Resources): Placement | null {
  const j = normalizeResources(job), cap = normalizeResources(capacity);
  if (j.cpuThreads > free.cpuThreads || j.memoryMB > free.memoryMB) return null;
  const gpuIds: number[] = [];
  if (j.gpus > 0) {
    const need = perDeviceNeed(j, cap);
    const candidates = free.gpuFreeMB.map((mb, id) => ({ id, mb })).filter((d) => d.mb >= need).sort((a, b) => a.mb - b.mb || a.id - b.id);
    if (candidates.length < j.gpus) return null;
    for (const d of candidates.slice(0, j.gpus)) gpuIds.push(d.id);
    gpuIds.sort((a, b) => a - b);
    for (const id of gpuIds) free.gpuFreeMB[id] -= need;
  }
  free.cpuThreads -= j.cpuThreads;
  free.memoryMB -= j.memoryMB;
  return { gpuIds };
}
