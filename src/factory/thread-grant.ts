/**
 * Idle cores lent to running jobs. A job's spec says how many threads it was placed with (its share of the
 * machine); when cores sit idle (a job running alone, the last jobs of an experiment), the scheduler lends them to
 * the jobs that are running, and takes them back before it starts another job there. The loan travels as a file in
 * the job's folder, `threads` (a decimal integer: the threads the trainer may use from its next step on), so any
 * trainer in any language can follow it; the engine's threads are per call, so a change costs nothing.
 *
 * Pure arithmetic (`shareIdle`) and the file's two sides (`writeThreadGrant` for the scheduler, `ThreadGrantReader`
 * for a trainer, which stats the file once a step and reads it only when it changed).
 */
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.ts';

export const THREAD_GRANT_FILE = 'threads';

/** Writes the threads a job may use now (atomically: a trainer never reads half a number). */
export function writeThreadGrant(outputDir: string, threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`thread grant must be a positive integer, got ${String(threads)}`);
  writeFileAtomic(join(outputDir, THREAD_GRANT_FILE), `${threads}\n`);
}

/** Removes a job's grant (a new run of it starts on its spec's threads); never throws. */
export function clearThreadGrant(outputDir: string): void {
  try { rmSync(join(outputDir, THREAD_GRANT_FILE), { force: true }); } catch { /* a folder this machine cannot reach */ }
}

/** The grant in a job's folder, or null when there is none or it is not a positive integer. */
export function readThreadGrant(outputDir: string): number | null {
  let text: string;
  try { text = readFileSync(join(outputDir, THREAD_GRANT_FILE), 'utf8'); } catch { return null; }
  const n = Number(text.trim());
  return Number.isInteger(n) && n >= 1 ? n : null;
}

/** A trainer's side: `poll()` once a step returns the new grant when the file changed since the last poll, else null. */
export class ThreadGrantReader {
  private seen = '';

  constructor(private readonly outputDir: string, private readonly max = 256) {}

  poll(): number | null {
    let key: string;
    try {
      const st = statSync(join(this.outputDir, THREAD_GRANT_FILE));
      key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return null;
    }
    if (key === this.seen) return null;
    this.seen = key;
    const n = readThreadGrant(this.outputDir);
    return n === null ? null : Math.min(n, this.max);
  }
}

/**
 * How `idle` spare threads are shared among running jobs (their own `base` threads, in placement order): round
 * robin, one thread at a time, no job above `cap` threads in all. Returns each job's total (base + lent).
 */
export function shareIdle(base: readonly number[], idle: number, cap: number): number[] {
  const total = base.map((b) => b);
  let left = Math.max(0, Math.floor(idle));
  while (left > 0) {
    let gave = false;
    for (let i = 0; i < total.length && left > 0; i++) {
      if (total[i] >= cap) continue;
      total[i]++; left--; gave = true;
    }
    if (!gave) break;
  }
  return total;
}
