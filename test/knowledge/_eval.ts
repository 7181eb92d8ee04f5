import { readFileSync } from 'node:fs';
import { readDocument } from '../../src/knowledge/ingest/readers.ts';
import { structureDocument } from '../../src/knowledge/ingest/structure.ts';
import { LexicalIndex } from '../../src/knowledge/index/lexical.ts';
import { Lexicon } from '../../src/knowledge/text/lexicon.ts';
import { CPL_PATH, INSURANCE_PATH, loadQuestions, accuracy, halves } from './quality.ts';
const lexPath = process.env.LEX;
const lex = lexPath ? Lexicon.parse(readFileSync(lexPath,'utf8')) : null;
const doc = await readDocument(CPL_PATH, readFileSync(CPL_PATH));
const { units } = structureDocument(doc);
const ins = structureDocument(await readDocument(INSURANCE_PATH, readFileSync(INSURANCE_PATH))).units;
console.log('articles', units.filter(u=>u.kind==='article').length, ins.filter(u=>u.kind==='article').length, units[26]?.label, units[26]?.path, ins.at(-1)?.label, ins.at(-1)?.path);
const idx = new LexicalIndex(lex);
const nums: number[] = [];
for (const u of units) { idx.add({ text: u.text, title: [u.label, ...u.path].join(' ') }); nums.push(u.number ?? -1); }
idx.finalize();
const qs = loadQuestions();
const {dev, held} = halves(qs);
const show = process.env.SHOW ?? 'dev';
for (const [name, set] of [['dev', dev], ['held', held], ['all', qs]] as const) {
  const r = await accuracy(set, (q) => idx.search(q, 10).map(h => nums[h.doc]!));
  console.log(name, r.n, r.top1.toFixed(3), r.top3.toFixed(3), r.top5.toFixed(3));
  if (name === show) for (const m of r.misses) console.log('  miss', m.gold, m.got.join(','), m.q);
}
