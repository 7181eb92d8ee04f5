/**
 * Test helper: search quality on the consumer-protection law and the hand-written question set
 * (cpl-questions.json). Owns the article-accuracy measurement (top-1/3/5, per half and style) used by the quality
 * test and printed for the README. Items at even positions are the dev half, odd positions the held-out half.
 * The statutes live in the shared data: a test that reads one takes `needsShared(CPL)` (and so on) as its options.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shared } from '../shared-data.ts';

export interface Question { q: string; gold: number; style: 'situation' | 'direct' | 'keyword' }
/** The statutes, relative to the shared data (for `needsShared`), and their absolute paths. */
export const CPL = 'laws/consumer-protection-law-zh.md';
export const INSURANCE = 'laws/insurance-law-zh.md';
export const LAWS = shared('laws');
export const CPL_PATH = shared(CPL);
export const INSURANCE_PATH = shared(INSURANCE);

export function loadQuestions(): Question[] {
  return (JSON.parse(readFileSync(join(import.meta.dirname, 'cpl-questions.json'), 'utf8')) as { items: Question[] }).items;
}

export interface Accuracy { n: number; top1: number; top3: number; top5: number }

/** rank(q) returns article numbers best first (deduplicated by the caller or here). */
export async function accuracy(questions: Question[], rank: (q: string) => Promise<number[]> | number[]): Promise<Accuracy & { misses: { q: string; gold: number; got: number[] }[] }> {
  let t1 = 0, t3 = 0, t5 = 0;
  const misses: { q: string; gold: number; got: number[] }[] = [];
  for (const item of questions) {
    const got = [...new Set(await rank(item.q))].slice(0, 5);
    const i = got.indexOf(item.gold);
    if (i === 0) t1++;
    if (i >= 0 && i < 3) t3++;
    if (i >= 0 && i < 5) t5++;
    if (i !== 0) misses.push({ q: item.q, gold: item.gold, got });
  }
  const n = questions.length;
  return { n, top1: t1 / n, top3: t3 / n, top5: t5 / n, misses };
}

export function halves<T>(xs: T[]): { dev: T[]; held: T[] } {
  return { dev: xs.filter((_, i) => i % 2 === 0), held: xs.filter((_, i) => i % 2 === 1) };
}
