/**
 * A page summarised in steps (extension/src/lib/summarise.ts), with a model that is a function of the messages it
 * gets: parts then the whole, progress before each call, and Stop between or during calls keeping what was done.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summariseInSteps, type SummaryProgress } from '../../extension/src/lib/summarise.ts';
import { autoDirection, isMostlyChinese, translatePrompt, type Message } from '../../extension/src/lib/prompts.ts';

const passages = (n: number, size: number) => Array.from({ length: n }, (_, i) => ({ id: `p${i + 1}`, text: `Passage ${i + 1}: ${'word '.repeat(size / 5)}`, blocks: [i] }));
const lastUser = (m: Message[]) => m.filter((x) => x.role === 'user').at(-1)!.content;

test('a long page: each part, then the parts into one; progress before each step', async () => {
  const calls: string[] = [];
  const progress: SummaryProgress[] = [];
  const model = async (m: Message[], _s: AbortSignal, onText?: (t: string) => void) => {
    const u = lastUser(m);
    calls.push(u);
    const part = /part (\d+) of (\d+)/.exec(u);
    const out = part ? `- part ${part[1]} in short` : `Overall: ${(u.match(/part \d+ in short/g) ?? []).length} parts`;
    onText?.(out);
    return out;
  };
  let streamed = '';
  const r = await summariseInSteps(passages(6, 1000), model, { title: 'Report', signal: new AbortController().signal, partChars: 2500, onProgress: (p) => progress.push(p), onText: (t) => { streamed += t; } });
  assert.equal(calls.length, 4);
  assert.deepEqual(progress, [{ step: 1, total: 4, phase: 'part' }, { step: 2, total: 4, phase: 'part' }, { step: 3, total: 4, phase: 'part' }, { step: 4, total: 4, phase: 'final' }]);
  assert.deepEqual(r.parts, ['- part 1 in short', '- part 2 in short', '- part 3 in short']);
  assert.equal(r.summary, 'Overall: 3 parts');
  assert.equal(streamed, 'Overall: 3 parts', 'only the final summary streams');
  assert.equal(r.stopped, false);
  // a short page: one call with the whole text
  const one = await summariseInSteps(passages(2, 100), model, { title: 'Short', signal: new AbortController().signal });
  assert.equal(one.parts.length, 0);
  assert.match(calls.at(-1)!, /^The text of the page "Short"/);
});

test('Stop: between steps and during a call; the parts done are kept', async () => {
  const ac = new AbortController();
  let n = 0;
  const r = await summariseInSteps(passages(6, 1000), async () => { if (++n === 2) ac.abort(); return `part ${n}`; }, { title: 'T', signal: ac.signal, partChars: 2500 });
  assert.deepEqual(r, { summary: '', parts: ['part 1', 'part 2'], stopped: true });
  assert.equal(n, 2);
  const during = new AbortController();
  const r2 = await summariseInSteps(passages(6, 1000), (_m, signal) => new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
    setTimeout(() => during.abort(), 5);
  }), { title: 'T', signal: during.signal, partChars: 2500 });
  assert.deepEqual(r2, { summary: '', parts: [], stopped: true });
  // a model failure is not a stop
  await assert.rejects(summariseInSteps(passages(1, 10), async () => { throw new Error('upstream 502'); }, { title: 'T', signal: new AbortController().signal }), /upstream 502/);
});

test('Chinese pages are summarised in Chinese; translation goes both ways', async () => {
  let prompt = '';
  await summariseInSteps([{ id: 'p1', text: '本季度收入增长了百分之十二。', blocks: [0] }], async (m) => { prompt = lastUser(m); return '收入增长'; }, { title: '季报', signal: new AbortController().signal });
  assert.match(prompt, /^网页「季报」的内容/);
  assert.equal(isMostlyChinese('收入 rose'), true);
  assert.equal(autoDirection('本季度收入增长'), 'zh-en');
  assert.equal(autoDirection('Revenue rose'), 'en-zh');
  assert.match(translatePrompt('你好', 'zh-en')[0]!.content, /into natural, accurate English/);
  assert.match(translatePrompt('hello', 'en-zh')[0]!.content, /译成简体中文/);
});
