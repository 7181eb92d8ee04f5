/**
 * Curation of normalised records: exact and near-duplicate removal, the seeded train/validation split, and the
 * content hash that names a dataset version.
 *
 * Near duplicates: MinHash over character 5-grams of the record's text (lower-cased, whitespace collapsed), 64 hash
 * functions, LSH in 16 bands of 4; a candidate pair counts when its estimated Jaccard similarity is at least the
 * threshold (default 0.9). The first record of a group is kept. Linear in the number of records on average.
 */
import { createHash } from 'node:crypto';
import { Rng } from '../engine/rng.ts';
import { recordTexts, type AnyRecord, type Stage } from './records.ts';

export type DedupMode = 'none' | 'exact' | 'near';

export interface DedupResult<R> { kept: R[]; exactRemoved: number; nearRemoved: number }

export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : x));
}

export function dedupRecords<R extends AnyRecord>(stage: Stage, records: readonly R[], mode: DedupMode, threshold = 0.9): DedupResult<R> {
  if (mode === 'none') return { kept: [...records], exactRemoved: 0, nearRemoved: 0 };
  const seen = new Set<string>();
  let kept: R[] = [];
  for (const r of records) {
    const h = createHash('sha256').update(canonicalJson(r)).digest('base64');
    if (seen.has(h)) continue;
    seen.add(h);
    kept.push(r);
  }
  const exactRemoved = records.length - kept.length;
  if (mode === 'exact') return { kept, exactRemoved, nearRemoved: 0 };
  const before = kept.length;
  kept = nearDedup(kept, (r) => recordTexts(stage, r).join('\n'), threshold);
  return { kept, exactRemoved, nearRemoved: before - kept.length };
}

const NUM_HASHES = 64, BANDS = 16, ROWS = NUM_HASHES / BANDS, SHINGLE = 5;

function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** MinHash signature of a text's character shingles. */
export function minhash(text: string): Uint32Array {
  const t = text.toLowerCase().replace(/\s+/g, ' ').trim();
  const sig = new Uint32Array(NUM_HASHES).fill(0xffffffff);
  const n = Math.max(1, t.length - SHINGLE + 1);
  // one base hash per shingle, then cheap per-function mixing (a, b odd multipliers)
  for (let i = 0; i < n; i++) {
    const base = fnv1a(t.slice(i, i + SHINGLE), 0);
    for (let k = 0; k < NUM_HASHES; k++) {
      let x = (base ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0;
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
      x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
      x = (x ^ (x >>> 16)) >>> 0;
      if (x < sig[k]) sig[k] = x;
    }
  }
  return sig;
}

export function similarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

export function nearDedup<R>(records: readonly R[], text: (r: R) => string, threshold: number): R[] {
  const sigs = records.map((r) => minhash(text(r)));
  const buckets = new Map<string, number[]>();
  const removed = new Uint8Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const sig = sigs[i];
    let dup = false;
    const keys: string[] = [];
    for (let b = 0; b < BANDS; b++) {
      const key = `${b}:${Array.from(sig.subarray(b * ROWS, (b + 1) * ROWS)).join(',')}`;
      keys.push(key);
      for (const j of buckets.get(key) ?? []) {
        if (similarity(sig, sigs[j]) >= threshold) { dup = true; break; }
      }
      if (dup) break;
    }
    if (dup) { removed[i] = 1; continue; }
    for (const key of keys) {
      const list = buckets.get(key);
      if (list) list.push(i); else buckets.set(key, [i]);
    }
  }
  return records.filter((_, i) => !removed[i]);
}

/** A seeded split: `fraction` of the records (at least one when fraction > 0 and there are two or more) to validation. */
export function splitRecords<R>(records: readonly R[], fraction: number, seed: number): { train: R[]; validation: R[] } {
  if (!(fraction > 0) || records.length < 2) return { train: [...records], validation: [] };
  if (fraction >= 1) throw new Error('validation fraction must be below 1');
  const n = Math.min(records.length - 1, Math.max(1, Math.round(records.length * fraction)));
  const order = new Rng(seed >>> 0).shuffle(Array.from({ length: records.length }, (_, i) => i));
  const val = new Set(order.slice(0, n));
  return { train: records.filter((_, i) => !val.has(i)), validation: records.filter((_, i) => val.has(i)) };
}

export function toJsonl(records: readonly unknown[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : '');
}

/** The content hash of a version: stage, train and validation records (sha256, hex). */
export function contentHash(stage: Stage, trainJsonl: string, validationJsonl: string): string {
  return createHash('sha256').update(`modelfab-dataset-v1\n${stage}\n`).update(trainJsonl).update('\n--validation--\n').update(validationJsonl).digest('hex');
}
