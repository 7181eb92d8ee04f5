/**
 * Test helpers for the Bot Factory: the Insurance Law in the shared data (a test that reads it takes
 * `needsShared(INSURANCE)` as its options), the hand-written question set (insurance-questions.json: even positions =
 * dev half used while tuning, odd = held out), and a bot service over a fresh temporary data folder (temp-service.ts,
 * for tests that need no shared data).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shared } from '../shared-data.ts';

export { tempService } from './temp-service.ts';

/** The Insurance Law, relative to the shared data (for `needsShared`), and its absolute path. */
export const INSURANCE = 'laws/insurance-law-zh.md';
export const INSURANCE_PATH = shared(INSURANCE);
/** The Consumer Protection Law, likewise. */
export const CPL = 'laws/consumer-protection-law-zh.md';
export const CPL_PATH = shared(CPL);

export interface Question { q: string; gold: number; style: 'situation' | 'direct' | 'keyword' }

export function loadInsuranceQuestions(): Question[] {
  return (JSON.parse(readFileSync(join(import.meta.dirname, 'insurance-questions.json'), 'utf8')) as { items: Question[] }).items;
}

export function halves<T>(xs: T[]): { dev: T[]; held: T[] } {
  return { dev: xs.filter((_, i) => i % 2 === 0), held: xs.filter((_, i) => i % 2 === 1) };
}
