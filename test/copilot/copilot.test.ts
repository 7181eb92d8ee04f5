/**
 * The Copilot over HTTP with the official `openai` client (`baseURL: <server>/v1/copilot`): the passages for the
 * question are retrieved before the model says a word; a model that calls tools searches the Insurance-Law
 * knowledge base, asks the published bot and another model, and answers citing the sources; the loop stops after
 * max_steps; the key decides what it reaches; streaming; the request log has the answer; and a small local model
 * whose context cannot hold the tools still answers from the retrieved passages. The driving model is a scripted
 * OpenAI-compatible upstream, so every tool call is known in advance.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { makeModels } from '../serve/gateway-fixtures.ts';
import { needsShared, shared } from '../shared-data.ts';

const ADMIN = 'sk-mf-test-admin-key-copilot-0123456789';
// Every test asks about the Insurance Law of the shared data: without it the file's tests are skipped, naming it.
const NEED = needsShared('laws/insurance-law-zh.md');
const LAW = shared('laws/insurance-law-zh.md');
let dir: string, srv: ModelfabServer, url: string, upstream: http.Server, upstreamUrl: string;
/** Every request the scripted models got. */
const seen: Array<{ model: string; messages: any[]; tools: boolean }> = [];

/** The scripted models: `planner` calls tools by keyword and answers from the tool results; `echo` echoes. */
function script(model: string, messages: any[], tools: boolean): { content?: string; calls?: Array<{ name: string; args: unknown }> } {
  const user = messages.filter((m) => m.role === 'user').at(-1).content as string;
  if (model === 'echo') return { content: `echo: ${user}` };
  const results = messages.filter((m) => m.role === 'tool');
  if (user.includes('一直调用')) return tools ? { calls: [{ name: 'list_models', args: {} }] } : { content: '不再调用工具了。' };
  if (results.length === 0 && tools) {
    if (user.includes('犹豫期')) return { calls: [{ name: 'search_knowledge', args: { query: '保险合同 解除 投保人' } }] };
    if (user.includes('问机器人')) return { calls: [{ name: 'ask_bot', args: { bot: 'insurance-law', question: '保险公司多久内要核定理赔？' } }] };
    if (user.includes('问另一个模型')) return { calls: [{ name: 'ask_model', args: { model: 'echo', prompt: '你好' } }, { name: 'search_knowledge', args: { query: '告知义务', base: 'no-such-kb' } }] };
  }
  if (results.length) {
    const r = JSON.parse(results[0].content);
    if (r.passages) return { content: `根据资料[${r.passages[0].ref}]，投保人一般可以解除保险合同。` };
    if (r.answer && r.refs) return { content: `机器人说：${r.answer.slice(0, 20)}[${r.refs[0]}]` };
    if (r.answer) return { content: `另一个模型说：${r.answer}` };
  }
  return { content: '我不知道。' };
}

before(async () => {
  if (NEED.skip) return;
  upstream = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const b = JSON.parse(raw) as { model: string; messages: any[]; tools?: unknown[] };
      seen.push({ model: b.model, messages: b.messages, tools: !!b.tools?.length });
      const out = script(b.model, b.messages, !!b.tools?.length);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: unknown, finish: string | null) => res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: b.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
      if (out.content) for (const piece of out.content.match(/[\s\S]{1,4}/g)!) chunk({ content: piece }, null);
      out.calls?.forEach((c, index) => {
        const args = JSON.stringify(c.args);
        chunk({ tool_calls: [{ index, id: `call_${index}`, type: 'function', function: { name: c.name, arguments: '' } }] }, null);
        chunk({ tool_calls: [{ index, function: { arguments: args.slice(0, 5) } }] }, null);
        chunk({ tool_calls: [{ index, function: { arguments: args.slice(5) } }] }, null);
      });
      chunk({}, out.calls ? 'tool_calls' : 'stop');
      res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: b.model, choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  dir = mkdtempSync(join(tmpdir(), 'mf-copilot-'));
  srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false }, modelDirs: [join(dir, 'models')] });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  for (const name of ['planner', 'echo']) {
    const r = await api('POST', '/v1/serve/models', { name, kind: 'endpoint', endpoint: { url: upstreamUrl, model: name } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }
  // the Insurance Law as a knowledge base and a published bot
  const b = await api('POST', '/v1/bots/build', { name: 'insurance-law', filename: 'insurance-law-zh.md', text: readFileSync(LAW, 'utf8'), lexicon_name: 'insurance-zh', approve_all: true });
  assert.equal(b.status, 200, JSON.stringify(b.json));
  const rep = await api('POST', '/v1/bots/insurance-law/tests', { limit: 10 });
  await api('POST', `/v1/bots/insurance-law/tests/${rep.json.id}/approve`, { by: 'reviewer' });
  assert.equal((await api('POST', '/v1/bots/insurance-law/publish', { version: 1 })).status, 200);
});

after(async () => {
  if (NEED.skip) return;
  await srv.close();
  await new Promise((r) => upstream.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function api(method: string, path: string, body?: unknown, key = ADMIN): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

const copilot = (key = ADMIN) => new OpenAI({ apiKey: key, baseURL: `${url}/v1/copilot`, maxRetries: 0 });
type WithCopilot = { copilot: { model: string; steps: Array<{ tool: string; arguments: any; result: string; ok: boolean }>; sources: Array<{ ref: number; kind: string; from: string; label: string; text: string }> } };

test('retrieval first, then tools: search the knowledge base, ask the bot, ask another model; sources cited', NEED, async () => {
  const r = await copilot().chat.completions.create({ model: 'planner', messages: [{ role: 'user', content: '买了保险后有没有犹豫期，可以退吗？' }] }) as OpenAI.ChatCompletion & WithCopilot;
  assert.match(r.choices[0].message.content!, /^根据资料\[\d\]，投保人一般可以解除保险合同。$/);
  assert.deepEqual(r.copilot.steps.map((s) => [s.tool, s.ok]), [['search_knowledge', true]]);
  const sys = seen.find((s) => s.model === 'planner')!.messages[0];
  assert.equal(sys.role, 'system');
  assert.match(sys.content, /资料：\n+\[1\] /, 'the retrieved passages are in the prompt before the first call');
  assert.match(sys.content, /机器人: insurance-law/);
  const cited = Number(/\[(\d)\]/.exec(r.choices[0].message.content!)![1]);
  const src = r.copilot.sources.find((s) => s.ref === cited)!;
  assert.equal(src.kind, 'knowledge');
  assert.match(src.label, /第[一二三四五六七八九十百]+条/);
  assert.ok(r.usage!.prompt_tokens >= 20, 'both model calls are counted');

  const bot = await copilot().chat.completions.create({ model: 'planner', messages: [{ role: 'user', content: '帮我问机器人理赔时限' }] }) as OpenAI.ChatCompletion & WithCopilot;
  assert.match(bot.choices[0].message.content!, /^机器人说：/);
  assert.equal(bot.copilot.steps[0].tool, 'ask_bot');
  assert.ok(bot.copilot.sources.some((s) => s.kind === 'bot' && s.from === 'insurance-law'));

  // two calls in one step; a tool error is the model's to read, not the request's failure
  const other = await copilot().chat.completions.create({ model: 'planner', messages: [{ role: 'user', content: '问另一个模型打个招呼' }] }) as OpenAI.ChatCompletion & WithCopilot;
  assert.equal(other.choices[0].message.content, '另一个模型说：echo: 你好');
  assert.deepEqual(other.copilot.steps.map((s) => [s.tool, s.ok]), [['ask_model', true], ['search_knowledge', false]]);
  assert.match(other.copilot.steps[1].result, /no knowledge base .*no-such-kb/);
});

test('the loop stops after max_steps; streaming; the request log; what a key may reach', NEED, async () => {
  const before = seen.length;
  const r = await copilot().chat.completions.create({ model: 'planner', messages: [{ role: 'user', content: '请一直调用工具' }], copilot: { max_steps: 3 } } as never) as OpenAI.ChatCompletion & WithCopilot;
  assert.equal(r.choices[0].message.content, '不再调用工具了。');
  assert.equal(r.copilot.steps.length, 2);
  assert.equal(seen.length - before, 3, 'three model calls, the last without tools');
  assert.equal(seen.at(-1)!.tools, false);

  const s = await copilot().chat.completions.create({ model: 'planner', messages: [{ role: 'user', content: '犹豫期能退保吗' }], stream: true, stream_options: { include_usage: true } });
  let text = '', info: WithCopilot['copilot'] | undefined, finish: string | null = null;
  for await (const c of s) {
    text += c.choices[0]?.delta?.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    if ((c as unknown as WithCopilot).copilot) info = (c as unknown as WithCopilot).copilot;
  }
  assert.match(text, /^根据资料\[\d\]/);
  assert.equal(finish, 'stop');
  assert.equal(info!.steps[0].tool, 'search_knowledge');

  // the answer is in the request log (source copilot), so feedback by response id works
  const logged = await api('GET', `/v1/requests?source=copilot`);
  assert.ok(logged.json.data.length >= 2);
  assert.equal(logged.json.data[0].source, 'copilot');

  // a key for the planner only, with no knowledge base: no passages, and ask_model is refused inside the loop
  const k = await api('POST', '/v1/keys', { name: 'narrow', models: ['planner'], knowledge: [] });
  assert.equal(k.status, 200, JSON.stringify(k.json));
  const narrow = await copilot(k.json.key).chat.completions.create({ model: 'planner', messages: [{ role: 'user', content: '问另一个模型打个招呼' }] }) as OpenAI.ChatCompletion & WithCopilot;
  assert.equal(narrow.copilot.sources.length, 0);
  assert.equal(narrow.copilot.steps[0].ok, false);
  assert.match(narrow.copilot.steps[0].result, /not available to this key/);
  await assert.rejects(copilot(k.json.key).chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e.status === 403);
  await assert.rejects(copilot().chat.completions.create({ model: 'planner', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f' } }] }), (e: any) => e.status === 400 && e.param === 'tools');
  const bad = await api('POST', '/v1/copilot/chat/completions', { model: 'planner', messages: [{ role: 'user', content: 'hi' }], copilot: { max_steps: 99 } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, 'copilot.max_steps');
  const pre = await fetch(`${url}/v1/copilot/chat/completions`, { method: 'OPTIONS' });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
});

test('a small local model whose context cannot hold the tools answers from the retrieved passages', NEED, async () => {
  const fx = makeModels(join(dir, 'models'), { contextLength: 512 });
  assert.equal((await api('POST', '/v1/deployments', { name: 'small', path: fx.base, settings: { contextSize: 1024 } })).status, 200);
  const r = await copilot().chat.completions.create({ model: 'small', messages: [{ role: 'user', content: '投保人解除保险合同' }], max_tokens: 8, temperature: 0 }) as OpenAI.ChatCompletion & WithCopilot;
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.copilot.sources.length >= 1 && r.copilot.sources.length <= 2, JSON.stringify(r.copilot));
  assert.ok(r.copilot.steps.every((s) => s.tool === '(none)'));
  assert.match(r.copilot.steps[0].result, /the tools do not fit this model's context/);
  // a context too small even for one short passage: the conversation alone, citing nothing
  assert.equal((await api('POST', '/v1/deployments', { name: 'tiny-ctx', path: fx.base, settings: { contextSize: 128 } })).status, 200);
  const bare = await copilot().chat.completions.create({ model: 'tiny-ctx', messages: [{ role: 'user', content: '投保人解除保险合同' }], max_tokens: 4, temperature: 0 }) as OpenAI.ChatCompletion & WithCopilot;
  assert.equal(bare.copilot.sources.length, 0);
  assert.match(bare.copilot.steps.at(-1)!.result, /answering the conversation alone/);
});
