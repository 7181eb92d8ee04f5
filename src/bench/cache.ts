/**
 * The result cache and the run store: what makes re-running a finished benchmark a cache hit, and where runs live
 * until the SQLite store takes them over (a store-backed ResultCache / RunStore implements the same interfaces).
 *
 * Owns: `ResultCache` (key: runner.ts `taskCacheKey` = hash(target id, task, version, template hash, seed, limit,
 * judge)), `JsonFileResultCache` (<dir>/<key>.json), `MemoryResultCache`, `RunStore` and `JsonFileRunStore`
 * (<dir>/<run id>.json).
 * Guarantees: writes are atomic (write, then rename); a corrupt or foreign cache file is a miss, never an error;
 * only results with status ok are cached (a failure is retried next time).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.ts';
import type { TaskResult } from './bench-types.ts';
import type { BenchmarkRun } from './run.ts';

export interface ResultCache {
  get(key: string): Promise<TaskResult | undefined>;
  put(key: string, result: TaskResult): Promise<void>;
}

const KEY = /^[0-9a-f]{16,64}$/;

export class JsonFileResultCache implements ResultCache {
  constructor(readonly dir: string) {}

  async get(key: string): Promise<TaskResult | undefined> {
    if (!KEY.test(key)) return undefined;
    const f = join(this.dir, `${key}.json`);
    if (!existsSync(f)) return undefined;
    try {
      const r = JSON.parse(readFileSync(f, 'utf8')) as TaskResult;
      return r.cacheKey === key && r.status === 'ok' ? r : undefined;
    } catch {
      return undefined;
    }
  }

  async put(key: string, result: TaskResult): Promise<void> {
    if (!KEY.test(key) || result.status !== 'ok') return;
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(join(this.dir, `${key}.json`), JSON.stringify(result));
  }
}

export class MemoryResultCache implements ResultCache {
  readonly map = new Map<string, TaskResult>();
  async get(key: string): Promise<TaskResult | undefined> { return this.map.get(key); }
  async put(key: string, result: TaskResult): Promise<void> { if (result.status === 'ok') this.map.set(key, result); }
}

export interface RunStore {
  save(run: BenchmarkRun): Promise<void>;
  get(id: string): Promise<BenchmarkRun | undefined>;
  /** Newest first. */
  list(): Promise<BenchmarkRun[]>;
}

export class JsonFileRunStore implements RunStore {
  constructor(readonly dir: string) {}

  async save(run: BenchmarkRun): Promise<void> {
    if (!/^[\w.-]+$/.test(run.id)) throw new Error(`run id ${run.id}: only [A-Za-z0-9_.-]`);
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(join(this.dir, `${run.id}.json`), JSON.stringify(run));
  }

  async get(id: string): Promise<BenchmarkRun | undefined> {
    if (!/^[\w.-]+$/.test(id)) return undefined;
    const f = join(this.dir, `${id}.json`);
    if (!existsSync(f)) return undefined;
    return JSON.parse(readFileSync(f, 'utf8')) as BenchmarkRun;
  }

  async list(): Promise<BenchmarkRun[]> {
    if (!existsSync(this.dir)) return [];
    const runs: BenchmarkRun[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try { runs.push(JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as BenchmarkRun); } catch { /* skip a partial file */ }
    }
    return runs.sort((a, b) => b.created_at - a.created_at || b.id.localeCompare(a.id));
  }
}
