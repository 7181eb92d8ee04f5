/**
 * The question sets the bots and search benchmarks score, and the scoring: sets written independently
 * (test/bots/questions/insurance-*.json, test/knowledge/questions/cpl-*.json: {about, items: [{q, gold, also?, style,
 * lang}]}, split into a tune half and a measure half) and the older hand-written sets. A set is read here only to be
 * scored: nothing of a measure half is printed but figures (counts and shares by half, style and language); the
 * misses of a tune half are printed on request (`--misses`), those of a measure half never.
 * Scoring: a question is right at k when one of its first k cited articles is its gold article or one of `also`; a
 * question the law does not answer (`gold: null`) is handled when the answer is marked not sure (or cites nothing).
 */
import { existsSync, readFileSync } from 'node:fs';

export interface SetQuestion { q: string; gold: number | null; also?: number[]; style: string; lang?: string }

/** The items of a question file, or null when the file is not there (the sets are written elsewhere). */
export function loadSet(path: string): SetQuestion[] | null {
  if (!existsSync(path)) return null;
  const items = (JSON.parse(readFileSync(path, 'utf8')) as { items?: SetQuestion[] }).items;
  if (!Array.isArray(items)) throw new Error(`${path}: no "items" array`);
  items.forEach((x, i) => {
    if (typeof x.q !== 'string' || !(x.gold === null || Number.isInteger(x.gold))) throw new Error(`${path}: items[${i}] needs q and gold (an article number or null)`);
  });
  return items;
}

/** What one answer gave: the cited articles in order, and whether it was marked sure. */
export interface Outcome { articles: (number | null)[]; sure: boolean }

interface Figures { n: number; t1: number; t3: number; none: number; nulls: number; unsure: number; sure: number; sureRight: number }

export class Tally {
  readonly rows = new Map<string, Figures>();
  readonly misses: { q: string; gold: number | null; got: (number | null)[] }[] = [];

  /** Counts one question under every key given. */
  add(keys: string[], item: SetQuestion, o: Outcome, keepMiss = false): void {
    const ok = new Set([item.gold, ...(item.also ?? [])]);
    const rank = item.gold === null ? -1 : o.articles.findIndex((a) => a !== null && ok.has(a));
    for (const k of keys) {
      const f = this.rows.get(k) ?? { n: 0, t1: 0, t3: 0, none: 0, nulls: 0, unsure: 0, sure: 0, sureRight: 0 };
      if (item.gold === null) { f.nulls++; if (!o.sure || !o.articles.length) f.unsure++; }
      else {
        f.n++; if (rank === 0) f.t1++; if (rank >= 0 && rank < 3) f.t3++; if (!o.articles.length) f.none++;
        if (o.sure && o.articles.length) { f.sure++; if (rank === 0) f.sureRight++; }
      }
      this.rows.set(k, f);
    }
    if (keepMiss && rank !== 0 && item.gold !== null) this.misses.push({ q: item.q, gold: item.gold, got: o.articles.slice(0, 3) });
  }

  /**
   * top-1, top-3 and no-citation share over the answerable questions of a key, the share answered sure and how many
   * of those were right (top-1); the not-sure share of the unanswerable ones.
   */
  get(k: string): { n: number; top1: number | null; top3: number | null; noCitation: number | null; sureRate: number | null; surePrecision: number | null; nulls: number; nullUnsure: number | null } {
    const f = this.rows.get(k);
    const r3 = (x: number, n: number) => (n ? +(x / n).toFixed(3) : null);
    if (!f) return { n: 0, top1: null, top3: null, noCitation: null, sureRate: null, surePrecision: null, nulls: 0, nullUnsure: null };
    return { n: f.n, top1: r3(f.t1, f.n), top3: r3(f.t3, f.n), noCitation: r3(f.none, f.n), sureRate: r3(f.sure, f.n), surePrecision: r3(f.sureRight, f.sure), nulls: f.nulls, nullUnsure: r3(f.unsure, f.nulls) };
  }

  print(title: string): void {
    console.log(`${title}\n${'set'.padEnd(36)} answerable  top-1   top-3   no-cite  sure   sure-right | unanswerable  not-sure`);
    for (const k of [...this.rows.keys()].sort()) {
      const g = this.get(k);
      const f = (x: number | null) => (x === null ? '  -  ' : x.toFixed(3));
      console.log(`${k.padEnd(36)} ${String(g.n).padStart(10)}  ${f(g.top1)}   ${f(g.top3)}   ${f(g.noCitation)}    ${f(g.sureRate)}  ${f(g.surePrecision)}      | ${String(g.nulls).padStart(12)}  ${f(g.nullUnsure)}`);
    }
  }
}

/** The keys a question of a split set counts under: the half, and the half by style and by language. */
export function splitKeys(set: string, half: 'tune' | 'measure', item: SetQuestion): string[] {
  return [`${set}:${half}`, `${set}:${half}:style:${item.style}`, `${set}:${half}:lang:${item.lang ?? 'zh'}`];
}
