/**
 * The Hugging Face exports the torch trainer is given (`<data>/hf-cache/<fingerprint>/`, written by hfBaseFor) are
 * a cache: each can be made again from its engine folder or GGUF file. At real sizes one entry is several GB, so the
 * cache is kept under a size limit, least recently used first out, and never drops an entry a job still needs (one
 * queued, running, paused or failed: a failed job may be retried). Leftover `.tmp-<pid>` folders of exports that
 * died half-way go as well.
 */
import { existsSync, lstatSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Folder of the cache in a data folder. */
export const hfCacheRoot = (dataDir: string): string => join(resolve(dataDir), 'hf-cache');

/** Default size limit: room for a few 7B exports. MODELFAB_HF_CACHE_MAX_GB overrides it. */
export const DEFAULT_HF_CACHE_MAX_BYTES = 40 * 2 ** 30;

export function hfCacheMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.MODELFAB_HF_CACHE_MAX_GB;
  if (v === undefined || v === '') return DEFAULT_HF_CACHE_MAX_BYTES;
  const gb = Number(v);
  if (!Number.isFinite(gb) || gb < 0) throw new Error(`MODELFAB_HF_CACHE_MAX_GB=${v}: expected a number of GB (0 or more)`);
  return gb * 2 ** 30;
}

export interface HfCacheEntry {
  path: string;
  bytes: number;
  /** Last time a job was given it (ms). */
  usedAt: number;
  /** An export that never finished: `<fingerprint>.tmp-<pid>`. */
  partial: boolean;
  /** For a partial export, the process that was writing it. */
  pid?: number;
}

const USED = '.used';
const PARTIAL_GRACE_MS = 3600_000;

/** Marks an entry as just used (hfBaseFor calls it each time it hands the entry to a job). */
export function touchHfCacheEntry(dir: string, now = new Date()): void {
  const f = join(dir, USED);
  if (!existsSync(f)) writeFileSync(f, '');
  utimesSync(f, now, now);
}

function folderBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = lstatSync(p);
    n += s.isDirectory() ? folderBytes(p) : s.size;
  }
  return n;
}

/** What the cache holds now. */
export function listHfCache(dataDir: string): HfCacheEntry[] {
  const root = hfCacheRoot(dataDir);
  if (!existsSync(root)) return [];
  const out: HfCacheEntry[] = [];
  for (const name of readdirSync(root).sort()) {
    const path = join(root, name);
    if (!lstatSync(path).isDirectory()) continue;
    const m = /\.tmp-(\d+)$/.exec(name);
    const used = join(path, USED);
    const usedAt = (existsSync(used) ? statSync(used) : statSync(path)).mtimeMs;
    out.push({ path, bytes: folderBytes(path), usedAt, partial: m !== null, ...(m ? { pid: Number(m[1]) } : {}) });
  }
  return out;
}

export interface PrunePlan {
  remove: HfCacheEntry[];
  /** Bytes the kept entries hold afterwards. */
  keptBytes: number;
}

/**
 * Which entries to remove (pure): partial exports whose writer is gone, then complete entries not in `keep`, least
 * recently used first, until the rest fit in `maxBytes`. Entries in `keep` stay even when that leaves the cache over
 * its limit; `alive(pid)` says whether a partial export's writer still runs. A partial export is left alone for an
 * hour whatever its pid says: on a shared data folder the writer may be a server on another machine.
 */
export function planHfCachePrune(entries: readonly HfCacheEntry[], o: { maxBytes: number; keep: ReadonlySet<string>; alive: (pid: number) => boolean; now: number }): PrunePlan {
  const remove: HfCacheEntry[] = [];
  const kept: HfCacheEntry[] = [];
  for (const e of entries) {
    if (e.partial && o.now - e.usedAt > PARTIAL_GRACE_MS && !(e.pid !== undefined && o.alive(e.pid))) remove.push(e);
    else kept.push(e);
  }
  let total = kept.reduce((a, e) => a + e.bytes, 0);
  const candidates = kept.filter((e) => !e.partial && !o.keep.has(resolve(e.path))).sort((a, b) => a.usedAt - b.usedAt);
  for (const e of candidates) {
    if (total <= o.maxBytes) break;
    remove.push(e);
    total -= e.bytes;
  }
  return { remove, keptBytes: total };
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Applies planHfCachePrune to the data folder's cache; returns what was removed. */
export function pruneHfCache(dataDir: string, o: { maxBytes: number; keep: Iterable<string> }): PrunePlan {
  const plan = planHfCachePrune(listHfCache(dataDir), { maxBytes: o.maxBytes, keep: new Set([...o.keep].map((p) => resolve(p))), alive: pidAlive, now: Date.now() });
  for (const e of plan.remove) rmSync(e.path, { recursive: true, force: true });
  return plan;
}
