/** The page as numbered passages, summary steps and the passages for a question (extension/src/lib/passages.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutText, groupForSummary, numberPassages, selectPassages, splitSentences, terms } from '../../extension/src/lib/passages.ts';

test('sentences end at Chinese and Latin marks, not inside numbers', () => {
  assert.deepEqual(splitSentences('Revenue rose 3.5% in Q3. Costs fell! Why? 收入增长。成本下降！'), ['Revenue rose 3.5% in Q3.', 'Costs fell!', 'Why?', '收入增长。', '成本下降！']);
  assert.deepEqual(splitSentences('no end mark'), ['no end mark']);
});

test('a long text is cut at sentence ends, a sentence longer than the limit hard', () => {
  const text = 'One two three. Four five six. Seven eight nine.';
  assert.deepEqual(cutText(text, 30), ['One two three. Four five six.', 'Seven eight nine.']);
  const long = cutText('x'.repeat(25), 10);
  assert.deepEqual(long.map((p) => p.length), [10, 10, 5]);
  assert.ok(cutText('第一句话。第二句话。第三句话。', 10).every((p) => p.length <= 10));
});

test('blocks become numbered passages: short ones join, a heading starts a new one, each knows its blocks', () => {
  const blocks = [
    { tag: 'h1', text: 'Quarterly report' },
    { tag: 'p', text: 'A short line.' },
    { tag: 'p', text: 'Revenue rose by twelve percent in the third quarter, led by the northern region and new customers.' },
    { tag: 'li', text: '   ' },
    { tag: 'h2', text: 'Costs' },
    { tag: 'p', text: 'Costs fell.' },
  ];
  const ps = numberPassages(blocks, { minChars: 40, maxChars: 700 });
  assert.deepEqual(ps.map((p) => p.id), ['p1', 'p2']);
  assert.deepEqual(ps[0]!.blocks, [0, 1, 2]);
  assert.match(ps[0]!.text, /^Quarterly report\nA short line\.\nRevenue rose/);
  assert.deepEqual(ps[1], { id: 'p2', text: 'Costs\nCosts fell.', blocks: [4, 5] });
  // one long block: several passages pointing at the same block, none over the limit
  const long = numberPassages([{ tag: 'p', text: Array.from({ length: 40 }, (_, i) => `Sentence number ${i} is here.`).join(' ') }], { maxChars: 200 });
  assert.ok(long.length >= 5);
  assert.ok(long.every((p) => p.text.length <= 200 && p.blocks[0] === 0));
});

test('summary steps: consecutive groups within the budget, an oversized passage alone', () => {
  const ps = [100, 100, 250, 600, 50].map((n, i) => ({ id: `p${i + 1}`, text: 'x'.repeat(n), blocks: [i] }));
  assert.deepEqual(groupForSummary(ps, 300).map((g) => g.map((p) => p.id)), [['p1', 'p2'], ['p3'], ['p4'], ['p5']]);
});

test('the passages for a question: shared terms (Chinese pairs too), document order, the start when nothing matches', () => {
  assert.deepEqual(terms('What is the refund policy?'), ['refund', 'policy']);
  assert.deepEqual(terms('退款政策'), ['退款', '款政', '政策']);
  const ps = ['Shipping takes five days.', 'Our refund policy: refunds within 30 days.', 'Contact us by mail.', '退款需要提供发票。', 'About the company.']
    .map((text, i) => ({ id: `p${i + 1}`, text, blocks: [i] }));
  assert.deepEqual(selectPassages('How does the refund policy work?', ps, 1).map((p) => p.id), ['p2']);
  assert.deepEqual(selectPassages('How does the refund policy work?', ps, 2).map((p) => p.id), ['p1', 'p2'], 'in document order');
  assert.equal(selectPassages('怎么退款', ps, 1)[0]!.id, 'p4');
  assert.deepEqual(selectPassages('zzz', ps, 2).map((p) => p.id), ['p1', 'p2']);
  assert.equal(selectPassages('anything', ps, 10).length, 5);
});
