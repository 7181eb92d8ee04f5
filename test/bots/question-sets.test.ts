// The independently written question sets (test/bots/questions/insurance-*.json, test/knowledge/questions/cpl-*.json):
// their shape, that every gold and `also` names an article of the law (read from the shared data, skipped with the
// reason when absent), that the tune and measure halves do not overlap and are the seeded split of
// scripts/split-questions.mjs, the English share, the unanswerable share and the spread of gold over the law.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseChineseNumeral } from '../../src/util/chinese-numerals.ts';
import { needsShared, shared } from '../shared-data.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const STYLES = ['situation', 'colloquial', 'direct', 'keyword', 'typo'];
const LANGS = ['zh', 'en', 'zh-Hant'];

interface Item { q: string; gold: number | null; also?: number[]; style: string; lang: string }
interface QuestionSet { name: string; law: string; min: number; minArticles: number; halves: Record<'tune' | 'measure', string> }

const SETS: QuestionSet[] = [
  { name: 'insurance', law: 'laws/insurance-law-zh.md', min: 320, minArticles: 150,
    halves: { tune: 'test/bots/questions/insurance-tune.json', measure: 'test/bots/questions/insurance-measure.json' } },
  { name: 'cpl', law: 'laws/consumer-protection-law-zh.md', min: 160, minArticles: 55,
    halves: { tune: 'test/knowledge/questions/cpl-tune.json', measure: 'test/knowledge/questions/cpl-measure.json' } },
];

/** The items of one half, every problem named by file, item index and field. */
function load(rel: string): Item[] {
  const parsed = JSON.parse(readFileSync(join(ROOT, rel), 'utf8')) as { about?: unknown; items?: unknown };
  assert.equal(typeof parsed.about, 'string', `${rel}: about must be a string`);
  assert.match(parsed.about as string, rel.includes('measure') ? /never be read for tuning/ : /may be read and tuned on/, `${rel}: about`);
  assert.ok(Array.isArray(parsed.items), `${rel}: items must be an array`);
  const items = parsed.items as Item[];
  items.forEach((it, i) => {
    const at = `${rel} item ${i}`;
    assert.deepEqual(Object.keys(it).filter((k) => !['q', 'gold', 'also', 'style', 'lang'].includes(k)), [], `${at}: unknown field`);
    assert.ok(typeof it.q === 'string' && it.q.trim().length >= 4, `${at}: q`);
    assert.ok(it.gold === null || (Number.isInteger(it.gold) && it.gold > 0), `${at}: gold must be an article number or null`);
    if (it.also !== undefined) {
      assert.ok(it.gold !== null && Array.isArray(it.also) && it.also.length > 0, `${at}: also needs a gold and at least one article`);
      assert.ok(it.also.every((a) => Number.isInteger(a) && a !== it.gold), `${at}: also must be other article numbers`);
      assert.equal(new Set(it.also).size, it.also.length, `${at}: also repeats an article`);
    }
    assert.ok(STYLES.includes(it.style), `${at}: style ${String(it.style)} not one of ${STYLES.join(', ')}`);
    assert.ok(LANGS.includes(it.lang), `${at}: lang ${String(it.lang)} not one of ${LANGS.join(', ')}`);
    // a question in pinyin is Chinese without Chinese characters; an English one never has them
    if (it.lang === 'en') assert.ok(!/[\u4e00-\u9fff]/.test(it.q), `${at}: lang "en" but the question has Chinese characters`);
    else assert.ok(/[\u4e00-\u9fff]/.test(it.q) || it.style === 'typo', `${at}: lang ${it.lang} but no Chinese characters (pinyin is style "typo")`);
  });
  return items;
}

/** The article numbers of a statute file: lines that open with 第…条. */
function articles(path: string): Set<number> {
  const out = new Set<number>();
  for (const m of readFileSync(path, 'utf8').matchAll(/^第([零〇一二三四五六七八九十百千]+)条[\s\u3000]/gmu)) {
    const n = parseChineseNumeral(m[1]!);
    if (n !== null) out.add(n);
  }
  return out;
}

const norm = (q: string) => q.normalize('NFKC').toLowerCase().replace(/[\s\p{P}]+/gu, '');

for (const set of SETS) {
  test(`${set.name}: shape, size, equal halves, English and unanswerable shares, styles and spread`, () => {
    const tune = load(set.halves.tune);
    const measure = load(set.halves.measure);
    const all = [...tune, ...measure];
    assert.ok(all.length >= set.min, `${set.name}: ${all.length} questions, want >= ${set.min}`);
    assert.equal(tune.length, measure.length, `${set.name}: halves of equal size`);
    for (const [half, items] of [['tune', tune], ['measure', measure]] as const) {
      const en = items.filter((i) => i.lang === 'en').length / items.length;
      assert.ok(en >= 0.2, `${set.name} ${half}: English share ${en.toFixed(3)} < 0.2`);
      const none = items.filter((i) => i.gold === null).length / items.length;
      assert.ok(none >= 0.03 && none <= 0.08, `${set.name} ${half}: unanswerable share ${none.toFixed(3)} not about 5%`);
      for (const style of STYLES) assert.ok(items.some((i) => i.style === style), `${set.name} ${half}: no ${style} question`);
      assert.ok(items.some((i) => i.lang === 'zh-Hant'), `${set.name} ${half}: no question in traditional characters`);
      assert.ok(items.some((i) => i.lang === 'en' && i.style === 'situation'), `${set.name} ${half}: no English situation`);
    }
    const golds = new Set(all.map((i) => i.gold).filter((g) => g !== null));
    assert.ok(golds.size >= set.minArticles, `${set.name}: gold covers ${golds.size} articles, want >= ${set.minArticles}`);
  });

  test(`${set.name}: no question repeats, within a half or across the halves`, () => {
    const seen = new Map<string, string>();
    for (const half of ['tune', 'measure'] as const) {
      load(set.halves[half]).forEach((it, i) => {
        const key = norm(it.q);
        const where = `${set.halves[half]} item ${i}`;
        assert.ok(!seen.has(key), `${where} repeats ${seen.get(key)}: ${it.q}`);
        seen.set(key, where);
      });
    }
  });

  test(`${set.name}: every gold and also names an article of the law`, needsShared(set.law), () => {
    const known = articles(shared(set.law));
    assert.ok(known.size > 50, `${shared(set.law)}: found only ${known.size} articles`);
    for (const half of ['tune', 'measure'] as const) {
      load(set.halves[half]).forEach((it, i) => {
        for (const a of [it.gold, ...(it.also ?? [])]) {
          if (a !== null) assert.ok(known.has(a), `${set.halves[half]} item ${i}: article ${a} is not in ${set.law}`);
        }
      });
    }
  });
}

test('the halves are exactly the seeded split of scripts/split-questions.mjs', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'split-questions.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
