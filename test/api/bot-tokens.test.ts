// A bot's usage counts tokens, never characters: a bot answering with a model reports what the model's endpoint
// counted (its tokenizer: the grounded prompt with the passages, and the answer); a bot answering without one
// (quoting the best unit) counts the question and the answer with estimateTokens; a question refused by the guard
// counts none, as on the gateway.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { estimateTokens } from '../../src/data/dataset-limits.ts';

const ADMIN = 'sk-mf-test-admin-key-bot-tokens-0123456789';
const LAW = '# 示例保险条例\n\n第一条 为了规范保险活动，制定本条例。\n\n第二条 投保人可以在保险合同成立后的十五日内解除合同，保险人应当退还全部保险费。\n';
let dir: string, srv: ModelfabServer, url: string, upstream: http.Server, upstreamUrl: string;
const seenPrompts: string[] = [];

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

before(async () => {
  // the model's endpoint counts its own tokens: 1000 + characters of the prompt, 7 for the answer
  upstream = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const b = JSON.parse(raw) as { messages: { content: string }[] };
      const prompt = b.messages.map((m) => m.content).join('');
      seenPrompts.push(prompt);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: '十五日内可以解除[1]。' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1000 + prompt.length, completion_tokens: 7, total_tokens: 1007 + prompt.length } }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  dir = mkdtempSync(join(tmpdir(), 'mf-bot-tokens-'));
  srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false } });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  await api('PUT', '/v1/guard/policies/no-stocks', { checks: [{ name: 'offtopic', kind: 'topics', stage: 'input', action: 'refuse', topics: [{ name: 'stocks', keywords: ['股票'] }] }] });
  assert.equal((await api('POST', '/v1/bots/build', { name: 'quoting', filename: 'law.md', text: LAW, approve_all: true, config: { guard: 'no-stocks' } })).status, 200);
  assert.equal((await api('POST', '/v1/bots/build', { name: 'generating', filename: 'law.md', text: LAW, approve_all: true, config: { model: { baseUrl: upstreamUrl, model: 'm' } } })).status, 200);
});

after(async () => {
  await srv.close();
  await new Promise((r) => upstream.close(r));
  rmSync(dir, { recursive: true, force: true });
});

test('a bot with a model counts what the model counted; one without counts with the estimate; a refusal counts none', async () => {
  const q = '投保后多少天内可以解除合同？';
  const gen = await api('POST', '/v1/bots/generating/chat/completions', { messages: [{ role: 'user', content: q }], version: 1 });
  assert.equal(gen.status, 200, JSON.stringify(gen.json));
  assert.notEqual(gen.json.bot.generator, 'extractive');
  const prompt = seenPrompts.at(-1)!;
  assert.ok(prompt.includes(q) && prompt.includes('十五日'), 'the model read the question and the passage');
  assert.deepEqual(gen.json.usage, { prompt_tokens: 1000 + prompt.length, completion_tokens: 7, total_tokens: 1007 + prompt.length });

  const quote = await api('POST', '/v1/bots/quoting/chat/completions', { messages: [{ role: 'user', content: 'Within how many days, 15 or 30, can I cancel? 投保后多少天内可以解除合同' }], version: 1 });
  assert.equal(quote.status, 200, JSON.stringify(quote.json));
  assert.equal(quote.json.bot.generator, 'extractive');
  const content = quote.json.choices[0].message.content as string;
  const question = 'Within how many days, 15 or 30, can I cancel? 投保后多少天内可以解除合同';
  assert.deepEqual(quote.json.usage, { prompt_tokens: estimateTokens(question), completion_tokens: estimateTokens(content), total_tokens: estimateTokens(question) + estimateTokens(content) });
  assert.ok(quote.json.usage.prompt_tokens < question.length, 'English words are not counted letter by letter');

  const refused = await api('POST', '/v1/bots/quoting/chat/completions', { messages: [{ role: 'user', content: '买哪只股票好' }], version: 1 });
  assert.equal(refused.json.choices[0].finish_reason, 'content_filter');
  assert.deepEqual(refused.json.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
});
