/**
 * Paths inside a data folder are stored relative to it, so a folder that is copied or moved keeps working: rows,
 * job specs and the JSON files the factory writes hold `jobs/ftjob-x/model`, not `/srv/modelfab-data/jobs/...`,
 * and are resolved against the folder where it is now when read. A path outside the folder (a user's GGUF file
 * registered from elsewhere) stays absolute. Relative paths use `/` on every platform.
 *
 * Pure functions over strings (no file system access).
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** True when `p` (absolute) is `root` itself or inside it. */
export function isInside(root: string, p: string): boolean {
  const rel = relative(resolve(root), resolve(p));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** How a path is stored: relative to `root` when inside it (`.` for the root itself), else unchanged. */
export function storedPath(root: string, p: string): string {
  if (!isAbsolute(p)) return p;
  if (!isInside(root, p)) return p;
  const rel = relative(resolve(root), resolve(p));
  return rel === '' ? '.' : rel.split(sep).join('/');
}

/** A stored path as an absolute path: relative ones against `root` (where the folder is now), absolute ones unchanged. */
export function resolveStored(root: string, p: string): string {
  return isAbsolute(p) ? p : resolve(root, p);
}

/** Both directions over one folder; `null` root (a database in memory) changes nothing. */
export interface DataPaths {
  readonly root: string | null;
  toStored(p: string): string;
  fromStored(p: string): string;
}

export function dataPaths(root: string | null): DataPaths {
  if (root === null) return { root: null, toStored: (p) => p, fromStored: (p) => p };
  const r = resolve(root);
  return { root: r, toStored: (p) => storedPath(r, p), fromStored: (p) => resolveStored(r, p) };
}

/** A nullable column through one direction. */
export function mapNullable(p: string | null | undefined, f: (p: string) => string): string | null | undefined {
  return typeof p === 'string' ? f(p) : p;
}

/**
 * Migration of a folder that stored absolute paths: `p` under one of `oldRoots` (where the folder was when the path
 * was written) becomes relative to that root; any other string is returned unchanged. Longest root first, so a
 * folder nested in another old location is matched exactly.
 */
export function relocate(oldRoots: readonly string[], p: string): string {
  if (!isAbsolute(p)) return p;
  for (const root of [...oldRoots].sort((a, b) => b.length - a.length)) {
    if (isInside(root, p)) return storedPath(root, p);
  }
  return p;
}

/** Every string in a JSON value passed through `f` (objects and arrays copied; other values as they are). */
export function mapJsonStrings(v: unknown, f: (s: string) => string): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapJsonStrings(x, f));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapJsonStrings(x, f)]));
  return v;
}
