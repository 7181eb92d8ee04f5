/**
 * The page a browser extension sends to the Copilot: its passages are the first sources, each keeping the client's
 * id, so an answer's [n] points back into the page; knowledge passages follow; `copilot.page` is validated field by
 * field. The driving model is a function over the messages it receives (the Copilot's real loop, prompt and sources).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Copilot, type CopilotDeps } from '../../src/copilot/copilot.ts';
import { parseCopilotOptions, PAGE_LIMITS } from '../../src/api/routes/copilot-routes.ts';
import type { ChatMessageIn } from '../../src/serve/model-backend.ts';

function deps(answer: (messages: ChatMessageIn[]) => string, seen: ChatMessageIn[][]): CopilotDeps {
  return {
    async generate(model, req) { seen.push(req.messages); return { text: answer(req.messages), finishReason: 'stop', model }; },
    knowledgeBases: async () => [{ id: 'handbook', name: 'Handbook', description: '' }],
    search: async (_ids, q) => [{ kb: 'handbook', label: 'Returns §2', text: `Returns within 30 days (${q.length} chars asked).` }],
    bots: async () => [],
    askBot: async () => { throw new Error('no bots'); },
    models: async () => ['m'],
  };
}

test('page passages are sources [1..n] with their ids; retrieved knowledge follows; the prompt names the page', async () => {
  const seen: ChatMessageIn[][] = [];
  const page = { title: 'Quarterly report', url: 'http://127.0.0.1/report.html', passages: [{ id: 'p3', text: 'Revenue rose 12% in Q3.' }, { id: 'p7', text: 'Costs fell in Q4.' }] };
  const c = new Copilot(deps((m) => (String(m[0]!.content).includes('Revenue rose') ? 'Revenue rose 12% [1]; returns take 30 days [3].' : 'no page'), seen), { page, maxSteps: 1 });
  const r = await c.chat('m', [{ role: 'user', content: 'How did revenue change?' }]);
  assert.equal(r.answer, 'Revenue rose 12% [1]; returns take 30 days [3].');
  assert.deepEqual(r.sources.map((s) => [s.ref, s.kind, s.passage ?? null, s.from]), [[1, 'page', 'p3', page.url], [2, 'page', 'p7', page.url], [3, 'knowledge', null, 'handbook']]);
  const sys = String(seen[0]![0]!.content);
  assert.match(sys, /reading the page "Quarterly report"/);
  assert.match(sys, /\[1\] page p3\nRevenue rose 12% in Q3\./);
  assert.match(sys, /\[3\] Returns §2/);
  // a Chinese question: the labels and the line about the page are Chinese
  const zh = await new Copilot(deps(() => '收入增长[1]', seen), { page, maxSteps: 1, retrieve: 0 }).chat('m', [{ role: 'user', content: '收入怎么变化？' }]);
  assert.equal(zh.sources.length, 2);
  assert.equal(zh.sources[0]!.label, '网页 p3');
  assert.match(String(seen.at(-1)![0]!.content), /用户正在阅读网页「Quarterly report」/);
});

test('copilot.page is validated, each problem naming its field', () => {
  const ok = parseCopilotOptions({ copilot: { page: { title: 't', passages: [{ id: 'p1', text: 'x' }] } } });
  assert.deepEqual(ok.page, { title: 't', url: undefined, passages: [{ id: 'p1', text: 'x' }] });
  assert.equal(parseCopilotOptions({ copilot: {} }).page, undefined);
  const param = (page: unknown): string => {
    try { parseCopilotOptions({ copilot: { page } }); } catch (e) { return (e as { param: string }).param; }
    return 'accepted';
  };
  assert.equal(param('text'), 'copilot.page');
  assert.equal(param({ passages: [] }), 'copilot.page.passages');
  assert.equal(param({ passages: Array.from({ length: PAGE_LIMITS.passages + 1 }, (_, i) => ({ id: `p${i}`, text: 'x' })) }), 'copilot.page.passages');
  assert.equal(param({ passages: [{ id: 'p1', text: 'x' }, { id: '../etc', text: 'y' }] }), 'copilot.page.passages[1].id');
  assert.equal(param({ passages: [{ id: 'p1', text: 'x' }, { id: 'p1', text: 'y' }] }), 'copilot.page.passages[1].id');
  assert.equal(param({ passages: [{ id: 'p1', text: ' ' }] }), 'copilot.page.passages[0].text');
  assert.equal(param({ passages: [{ id: 'p1', text: 'x'.repeat(PAGE_LIMITS.passageChars + 1) }] }), 'copilot.page.passages[0].text');
  assert.equal(param({ title: 7, passages: [{ id: 'p1', text: 'x' }] }), 'copilot.page.title');
  assert.equal(param({ url: 'u'.repeat(PAGE_LIMITS.urlChars + 1), passages: [{ id: 'p1', text: 'x' }] }), 'copilot.page.url');
});
