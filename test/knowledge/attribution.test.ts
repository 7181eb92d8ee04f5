// Attribution: sentence splitting (zh/en, citations kept), and precision/recall of the unsupported-sentence flags on
// hand-written answers with planted unsupported sentences (attribution-set.json). Bar: P >= 0.9 and R >= 0.9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDocument } from '../../src/knowledge/ingest/readers.ts';
import { structureDocument } from '../../src/knowledge/ingest/structure.ts';
import { attribute, quantities, splitSentences } from '../../src/knowledge/attribution.ts';
import { CPL, CPL_PATH } from './quality.ts';
import { needsShared } from '../shared-data.ts';

test('sentences split at Chinese and English punctuation; [n] stays with its sentence', () => {
  const s = splitSentences('七日内可以退货[1]。运费由消费者承担。[2] It is fine. Version 1.5 is out!\n第二行');
  assert.deepEqual(s.map((x) => x.text), ['七日内可以退货[1]。', '运费由消费者承担。[2]', 'It is fine.', 'Version 1.5 is out!', '第二行']);
  assert.deepEqual(s[1]!.citations, [2]);
  const text = 'A b. C d.';
  for (const x of splitSentences(text)) assert.equal(text.slice(x.start, x.end), x.text);
  assert.deepEqual(quantities('7天内退货，赔偿三倍'), ['七日', '三倍']);
});

test('flags planted unsupported sentences: precision and recall >= 0.9', needsShared(CPL), async () => {
  const { units } = structureDocument(await readDocument(CPL_PATH, readFileSync(CPL_PATH)));
  const art = new Map(units.filter((u) => u.kind === 'article').map((u) => [u.number!, u.text]));
  const set = (JSON.parse(readFileSync(join(import.meta.dirname, 'attribution-set.json'), 'utf8')) as { answers: { sources: number[]; sentences: [string, boolean][] }[] }).answers;
  let tp = 0, fp = 0, fn = 0, n = 0;
  for (const a of set) {
    const r = await attribute(a.sentences.map((x) => x[0]).join(''), a.sources.map((num, i) => ({ id: String(num), ref: i + 1, text: art.get(num)! })));
    assert.equal(r.sentences.length, a.sentences.length);
    r.sentences.forEach((s, i) => {
      const planted = !a.sentences[i]![1];
      n++;
      if (!s.supported && planted) tp++;
      else if (!s.supported) fp++;
      else if (planted) fn++;
    });
  }
  const precision = tp / (tp + fp), recall = tp / (tp + fn);
  console.log(JSON.stringify({ attribution: 'cpl-planted', sentences: n, planted: tp + fn, precision: +precision.toFixed(3), recall: +recall.toFixed(3) }));
  assert.ok(precision >= 0.9, `precision ${precision}`);
  assert.ok(recall >= 0.9, `recall ${recall}`);
});
