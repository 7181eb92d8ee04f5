#!/usr/bin/env node
// Splits an independently written question set into a tune half and a measure half, at random but reproducibly.
//
// Guarantees:
//   1. The split depends only on the set's content and the seed: items are put in a canonical order (by question
//      text) before a seeded shuffle, so the order they were written in does not matter.
//   2. It is stratified by language, style and answerable-or-not: the items of each stratum are shuffled and dealt
//      alternately, so both halves hold the same mix (each stratum differs by at most one item) and their sizes
//      differ by at most one (none when the set is even).
//   3. `--check` re-splits the union of the two committed halves and fails if the files are not exactly what the
//      split gives: a hand edit that moved an item from one half to the other is caught.
//
// Usage:
//   node scripts/split-questions.mjs <insurance|cpl> <all.json>   write both halves from a full set ({"items": [...]})
//   node scripts/split-questions.mjs <insurance|cpl>              re-split the union of the committed halves
//   node scripts/split-questions.mjs --check                      verify every set's halves; exit 1 naming the file
//
// Adding questions after tuning has begun would re-deal items the tuner has seen: add a new set instead.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SEED = 20261207;

const WHO = 'Written by hand by an engineer working apart from the one who tunes the bot (the qset session, an AI model), ' +
  'without reading the bot\'s matcher, lexicons or rules or the older question sets; each gold was checked against the article text. ' +
  'Styles: situation (long, in the user\'s own words, with irrelevant detail), colloquial (everyday words for legal terms), direct, keyword, ' +
  'typo (typos, homophone or pinyin slips); lang: zh, en (English), zh-Hant (traditional characters). gold is the article that answers ' +
  '(also: others that answer in part); gold null means the law does not answer the question. ';
const SPLIT = 'The full set was split at random into two halves of equal size by scripts/split-questions.mjs ' +
  `(seed ${SEED}, stratified by language, style and answerable-or-not). `;

export const SETS = {
  insurance: {
    law: 'the Insurance Law of the PRC (shared/data/laws/insurance-law-zh.md)',
    tune: 'test/bots/questions/insurance-tune.json',
    measure: 'test/bots/questions/insurance-measure.json',
  },
  cpl: {
    law: 'the Consumer Rights Protection Law of the PRC (shared/data/laws/consumer-protection-law-zh.md)',
    tune: 'test/knowledge/questions/cpl-tune.json',
    measure: 'test/knowledge/questions/cpl-measure.json',
  },
};

function about(set, half) {
  const head = `Questions on ${set.law}, ${half.toUpperCase()} half. `;
  const use = half === 'tune'
    ? 'This half may be read and tuned on (lexicons, rules, glossaries, training data).'
    : 'This half must never be read for tuning: no word, phrase or pattern from it may reach a lexicon, a rule, a glossary or ' +
      'training data, and nobody who tunes may look at it; it is only scored.';
  return head + WHO + SPLIT + use;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const byCodePoint = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const stratum = (item) => `${item.lang}|${item.gold === null ? 'none' : 'law'}|${item.style}`;

/** The two halves of `items`: deterministic in (content, seed), stratified, sizes differing by at most one. */
export function splitQuestions(items, seed = SEED) {
  const next = rng(seed);
  const sorted = [...items].sort((a, b) => byCodePoint(a.q, b.q));
  const strata = new Map();
  for (const item of sorted) {
    const key = stratum(item);
    if (!strata.has(key)) strata.set(key, []);
    strata.get(key).push(item);
  }
  const halves = { tune: [], measure: [] };
  let dealt = 0;
  for (const key of [...strata.keys()].sort(byCodePoint)) {
    const group = strata.get(key);
    for (let i = group.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [group[i], group[j]] = [group[j], group[i]];
    }
    for (const item of group) (dealt++ % 2 === 0 ? halves.tune : halves.measure).push(item);
  }
  const order = (a, b) => (a.gold ?? Infinity) - (b.gold ?? Infinity) || byCodePoint(a.q, b.q);
  return { tune: halves.tune.sort(order), measure: halves.measure.sort(order) };
}

/** An item with its fields in one order, `also` only when present. */
function clean(item) {
  const out = { q: item.q, gold: item.gold };
  if (item.also && item.also.length) out.also = item.also;
  out.style = item.style;
  out.lang = item.lang;
  return out;
}

function render(set, half, items) {
  const lines = items.map((item) => '  ' + JSON.stringify(clean(item)));
  return `{\n "about": ${JSON.stringify(about(set, half))},\n "items": [\n${lines.join(',\n')}\n ]\n}\n`;
}

function readItems(path) {
  let parsed;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!parsed || !Array.isArray(parsed.items)) throw new Error(`${path}: expected {"items": [...]}`);
  return parsed.items.map(clean);
}

function union(set) {
  return [...readItems(join(ROOT, set.tune)), ...readItems(join(ROOT, set.measure))];
}

function main(argv) {
  if (argv[0] === '--check') {
    let ok = true;
    for (const [name, set] of Object.entries(SETS)) {
      const halves = splitQuestions(union(set));
      for (const half of ['tune', 'measure']) {
        const file = join(ROOT, set[half]);
        if (readFileSync(file, 'utf8') !== render(set, half, halves[half])) {
          console.error(`${set[half]}: not the seeded split of the ${name} set (run: node scripts/split-questions.mjs ${name})`);
          ok = false;
        }
      }
    }
    return ok ? 0 : 1;
  }
  const set = SETS[argv[0]];
  if (!set) {
    console.error(`usage: split-questions.mjs <${Object.keys(SETS).join('|')}> [all.json] | --check`);
    return 2;
  }
  const items = argv[1] ? readItems(argv[1]) : union(set);
  const halves = splitQuestions(items);
  for (const half of ['tune', 'measure']) {
    writeFileSync(join(ROOT, set[half]), render(set, half, halves[half]));
    console.log(`${set[half]}: ${halves[half].length} items`);
  }
  return 0;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) process.exitCode = main(process.argv.slice(2));
