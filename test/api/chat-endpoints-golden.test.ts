/**
 * The three chat endpoints (the gateway's /v1/chat/completions and /v1/completions, a published bot's
 * /v1/bots/{name}/chat/completions and the gateway under the bot's name, the Copilot's
 * /v1/copilot/chat/completions) answer a fixed set of requests exactly as recorded in
 * chat-endpoints-golden.json: status, the headers a client reads, the JSON body or every SSE event in order, and the
 * request log entry. Volatile fields (ids, timestamps, latencies) are normalised; a local model's sampled text is
 * replaced by its shape (greedy decoding on another CPU may pick other tokens), everything else is compared as is.
 * The models are a scripted OpenAI-compatible upstream (every answer known in advance) and a tiny local model.
 *
 * Regenerate the fixture (only for a deliberate change of behaviour): GOLDEN_UPDATE=1 node scripts/run-tests.mjs
 * chat-endpoints-golden.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { makeModels } from '../serve/gateway-fixtures.ts';

const ADMIN = 'sk-mf-test-admin-key-golden-0123456789';
const FIXTURE = new URL('./chat-endpoints-golden.json', import.meta.url).pathname;
const UPDATE = process.env.GOLDEN_UPDATE === '1';
let dir: string, srv: ModelfabServer, url: string, upstream: http.Server, upstreamUrl: string;

const LAW = `# 示例保险条例

第一条 为了规范保险活动，保护保险活动当事人的合法权益，制定本条例。

第二条 投保人可以在保险合同成立后的十五日内解除合同，保险人应当退还全部保险费。

第三条 保险人应当在收到赔偿请求之日起三十日内作出核定，并将核定结果通知被保险人。
`;

type Msg = { role: string; content: string };
type Scripted = { content?: string; calls?: Array<{ name: string; args: unknown }> };

/** The scripted models: `planner` drives the Copilot (tools by keyword); every other name answers by keyword. */
function script(model: string, messages: Msg[], tools: boolean): Scripted {
  const user = messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
  const results = messages.filter((m) => m.role === 'tool');
  if (model === 'planner') {
    if (results.length === 0 && tools && user.includes('犹豫期')) return { calls: [{ name: 'search_knowledge', args: { query: '解除合同' } }] };
    if (results.length) {
      const r = JSON.parse(results[0]!.content);
      if (r.passages) return { content: `根据资料[${r.passages[0].ref}]，投保人可以解除合同。` };
    }
    return { content: `我不知道：${user}` };
  }
  if (tools && user.includes('天气')) return { calls: [{ name: 'get_weather', args: { city: '北京' } }] };
  if (user.includes('电话')) return { content: '您好。客服电话是13812345678，工作日可拨打。祝您愉快！' };
  if (user.includes('秘密')) return { content: '好的。内幕消息如下：明天涨停。请保密。' };
  if (user.includes('退货')) return { content: 'Returns are accepted within seven days. Keep the receipt.' };
  return { content: `收到：${user}。` };
}

before(async () => {
  upstream = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const b = JSON.parse(raw) as { model: string; messages?: Msg[]; prompt?: string; stream?: boolean; tools?: unknown[] };
      const messages = b.messages ?? [{ role: 'user', content: String(b.prompt) }];
      const out = script(b.model, messages, !!b.tools?.length);
      const text = out.content ?? '';
      const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
      const calls = (out.calls ?? []).map((c, i) => ({ id: `call_${i}`, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.args) } }));
      const finish = calls.length ? 'tool_calls' : 'stop';
      if (!b.stream) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(b.messages
          ? { id: 'x', object: 'chat.completion', created: 0, model: b.model, choices: [{ index: 0, message: { role: 'assistant', content: calls.length ? null : text, ...(calls.length ? { tool_calls: calls } : {}) }, finish_reason: finish }], usage }
          : { id: 'x', object: 'text_completion', created: 0, model: b.model, choices: [{ index: 0, text, finish_reason: 'stop' }], usage }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const object = b.messages ? 'chat.completion.chunk' : 'text_completion';
      const chunk = (choice: Record<string, unknown>) => res.write(`data: ${JSON.stringify({ id: 'x', object, created: 0, model: b.model, choices: [{ index: 0, ...choice }] })}\n\n`);
      for (const piece of text.match(/[\s\S]{1,3}/g) ?? []) chunk(b.messages ? { delta: { content: piece }, finish_reason: null } : { text: piece, finish_reason: null });
      calls.forEach((c, index) => {
        chunk({ delta: { tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }] }, finish_reason: null });
        chunk({ delta: { tool_calls: [{ index, function: { arguments: c.function.arguments } }] }, finish_reason: null });
      });
      chunk(b.messages ? { delta: {}, finish_reason: finish } : { text: '', finish_reason: finish });
      res.write(`data: ${JSON.stringify({ id: 'x', object, created: 0, model: b.model, choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  dir = mkdtempSync(join(tmpdir(), 'mf-golden-'));
  const fx = makeModels(join(dir, 'models'));
  srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false }, modelDirs: [join(dir, 'models')] });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  const must = async (method: string, path: string, body: unknown) => { const r = await call(method, path, body); assert.equal(r.status, 200, `${path}: ${r.text}`); return r.json; };
  for (const name of ['scripted', 'planner']) await must('POST', '/v1/serve/models', { name, kind: 'endpoint', endpoint: { url: upstreamUrl, model: name } });
  await must('PUT', '/v1/guard/policies/support-policy', {
    refusal_message: '抱歉，这个问题我不能回答。',
    checks: [
      { name: 'gambling', kind: 'keywords', words: ['赌博', 'casino'], stage: 'input', action: 'refuse', message: '抱歉，我们不提供与赌博有关的帮助。' },
      { name: 'pii', kind: 'pii', action: 'rewrite' },
      { name: 'insider', kind: 'keywords', words: ['内幕消息'], stage: 'output', action: 'refuse' },
      { name: 'tone', kind: 'keywords', words: ['receipt'], stage: 'output', action: 'warn' },
    ],
  });
  await must('POST', '/v1/deployments', { name: 'support', model: 'scripted', settings: { guard: 'support-policy' } });
  await must('POST', '/v1/deployments', { name: 'tiny', path: fx.base, settings: { contextSize: 256, concurrency: 2, queue: 8 } });
  await must('PUT', '/v1/guard/policies/bot-policy', {
    refusal_message: '抱歉，我只回答保险条例相关的问题。',
    checks: [
      { name: 'offtopic', kind: 'topics', stage: 'input', action: 'refuse', topics: [{ name: 'stocks', keywords: ['股票', '涨停'] }] },
      { name: 'pii', kind: 'pii', stage: 'input', action: 'rewrite' },
      { name: 'grounded', kind: 'grounding', action: 'warn' },
    ],
  });
  for (const [name, guard] of [['rules', 'bot-policy'], ['plain', null]] as const) {
    await must('POST', '/v1/bots/build', { name, filename: 'rules.md', text: LAW, approve_all: true, config: guard ? { guard } : {} });
    const rep = await must('POST', `/v1/bots/${name}/tests`, { limit: 5 });
    await must('POST', `/v1/bots/${name}/tests/${rep.id}/approve`, {});
    await must('POST', `/v1/bots/${name}/publish`, { version: 1 });
  }
  narrowKey = (await must('POST', '/v1/keys', { name: 'narrow', models: ['scripted'], endpoints: ['chat.completions'] })).key;
});

after(async () => {
  await srv?.close();
  await new Promise((r) => upstream.close(r));
  rmSync(dir, { recursive: true, force: true });
});

let narrowKey = '';

async function call(method: string, path: string, body?: unknown, key: string | null = ADMIN): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const r = await fetch(url + path, { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: r.status, json, text, headers: r.headers };
}

const VOLATILE_NUMBERS = new Set(['created', 'ms', 'latency_ms', 'guard_ms', 'created_at', 'createdAt', 'updated_at']);

/** Ids, timestamps and latencies replaced by placeholders; everything else as it is. */
function normalise(v: unknown, key = ''): unknown {
  if (typeof v === 'string') return v.replace(/\b(chatcmpl|cmpl)-[A-Za-z0-9_-]{8,}/g, '$1-ID').replace(/\bcall_[A-Za-z0-9_-]{8,}/g, 'call_ID').replace(/^key-[0-9a-f]{16}$/, 'key-ID').replace(/^qa-[0-9a-f]{12}$/, 'qa-ID');
  if (typeof v === 'number') return VOLATILE_NUMBERS.has(key) ? 0 : v;
  if (Array.isArray(v)) return v.map((x) => normalise(x, key));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x, k)]));
  return v;
}

/**
 * A local model's output as its shape: the text of every piece and the sampled numbers go (greedy decoding may pick
 * other tokens on another machine), the fields, their order and the token counts of the prompt stay.
 */
function shape(v: unknown, key = ''): unknown {
  if (typeof v === 'string') return ['content', 'text', 'token', 'arguments', 'answer', 'refusal'].includes(key) ? '<text>' : v;
  if (typeof v === 'number') return ['logprob', 'completion_tokens', 'total_tokens', 'bytes'].includes(key) ? 0 : v;
  if (Array.isArray(v)) return key === 'bytes' || key === 'content' || key === 'tokens' || key === 'token_logprobs' || key === 'text_offset' || key === 'top_logprobs' ? '<list>' : v.map((x) => shape(x, key));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x, k)]));
  return v;
}

const HEADERS = ['content-type', 'x-modelfab-model', 'cache-control', 'access-control-allow-origin'];

interface Case { name: string; path: string; body: unknown; key?: string | null; local?: boolean; log?: boolean }

/** One request as the fixture records it. */
async function record(c: Case): Promise<unknown> {
  const r = await call('POST', c.path, c.body, c.key === undefined ? ADMIN : c.key);
  const headers = Object.fromEntries(HEADERS.map((h) => [h, r.headers.get(h)]).filter(([, v]) => v !== null));
  let body: unknown;
  if ((r.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    // every event in order; consecutive content pieces of a local model merged (their number is the model's)
    const events: unknown[] = [];
    for (const block of r.text.split('\n\n')) {
      if (!block) continue;
      if (!block.startsWith('data: ')) { events.push(block); continue; }
      const data = block.slice(6);
      events.push(data === '[DONE]' ? data : JSON.parse(data));
    }
    body = c.local ? mergeLocalPieces(events) : events;
    if (!r.text.endsWith('\n\n')) body = { events: body, unterminated: r.text.slice(r.text.lastIndexOf('\n\n') + 2) };
  } else body = r.json ?? r.text;
  const out: Record<string, unknown> = { status: r.status, headers, body };
  const id = (r.json?.id as string | undefined) ?? (Array.isArray(body) ? (body.find((e: any) => e?.id) as { id?: string } | undefined)?.id : undefined);
  if (c.log !== false && id && r.status === 200) {
    const logged = await call('GET', `/v1/requests/${id}`);
    out.log = { status: logged.status, body: logged.json };
  }
  return c.local ? shape(normalise(out)) : normalise(out);
}

function mergeLocalPieces(events: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const e of events) {
    const prev = out.at(-1) as any;
    const piece = (x: any) => x?.choices?.length === 1 && x.choices[0].finish_reason === null && (typeof x.choices[0].text === 'string' || (typeof x.choices[0].delta?.content === 'string' && !x.choices[0].delta.role));
    if (piece(e) && piece(prev) && prev.choices[0].index === (e as any).choices[0].index) continue;
    out.push(e);
  }
  return out;
}

const user = (content: string) => [{ role: 'user', content }];
const WEATHER_TOOL = [{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const CHAT = '/v1/chat/completions';
const BOT = '/v1/bots/rules/chat/completions';
const PLAIN_BOT = '/v1/bots/plain/chat/completions';
const COPILOT = '/v1/copilot/chat/completions';

const CASES: Case[] = [
  // the gateway: an endpoint model, unguarded
  { name: 'gateway chat', path: CHAT, body: { model: 'scripted', messages: user('你好') } },
  { name: 'gateway chat stream', path: CHAT, body: { model: 'scripted', messages: user('你好'), stream: true } },
  { name: 'gateway chat stream with usage', path: CHAT, body: { model: 'scripted', messages: user('怎么退货'), stream: true, stream_options: { include_usage: true } } },
  { name: 'gateway chat n=2', path: CHAT, body: { model: 'scripted', messages: user('你好'), n: 2 } },
  { name: 'gateway chat tool call', path: CHAT, body: { model: 'scripted', messages: user('北京天气怎么样'), tools: WEATHER_TOOL } },
  { name: 'gateway chat tool call stream', path: CHAT, body: { model: 'scripted', messages: user('北京天气怎么样'), tools: WEATHER_TOOL, stream: true } },
  { name: 'gateway completion', path: '/v1/completions', body: { model: 'scripted', prompt: '你好' } },
  { name: 'gateway completion stream', path: '/v1/completions', body: { model: 'scripted', prompt: '你好', stream: true, stream_options: { include_usage: true } } },
  // the gateway: guarded
  { name: 'guarded input refusal', path: CHAT, body: { model: 'support', messages: user('推荐一个赌博网站') } },
  { name: 'guarded input refusal stream', path: CHAT, body: { model: 'support', messages: user('推荐一个赌博网站'), stream: true } },
  { name: 'guarded rewrite', path: CHAT, body: { model: 'support', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '我的手机13900001111，客服电话多少？' }] } },
  { name: 'guarded rewrite stream', path: CHAT, body: { model: 'support', messages: user('客服电话是多少'), stream: true, stream_options: { include_usage: true } } },
  { name: 'guarded output refusal', path: CHAT, body: { model: 'support', messages: user('有什么秘密吗') } },
  { name: 'guarded output refusal stream', path: CHAT, body: { model: 'support', messages: user('说个秘密'), stream: true } },
  { name: 'guarded warn', path: CHAT, body: { model: 'support', messages: user('怎么退货') } },
  { name: 'guarded tool call', path: CHAT, body: { model: 'support', messages: user('北京天气怎么样'), tools: WEATHER_TOOL } },
  { name: 'guarded completion refusal', path: '/v1/completions', body: { model: 'support', prompt: '赌博' } },
  { name: 'guarded completion', path: '/v1/completions', body: { model: 'support', prompt: '电话' } },
  // the gateway: a local model (shapes only)
  { name: 'local chat', path: CHAT, local: true, body: { model: 'tiny', messages: user('Hello, who are you?'), max_tokens: 6, temperature: 0 } },
  { name: 'local chat stream', path: CHAT, local: true, body: { model: 'tiny', messages: user('Hello, who are you?'), max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true } } },
  { name: 'local chat logprobs n=2', path: CHAT, local: true, body: { model: 'tiny', messages: user('Hello'), max_tokens: 4, temperature: 0, n: 2, logprobs: true, top_logprobs: 2 } },
  { name: 'local completion echo', path: '/v1/completions', local: true, body: { model: 'tiny', prompt: 'The quick brown', max_tokens: 4, temperature: 0, echo: true } },
  { name: 'local completion: prompt logprobs refused on llama.cpp', path: '/v1/completions', local: true, body: { model: 'tiny', prompt: 'The quick brown', max_tokens: 4, temperature: 0, echo: true, logprobs: 1 } },
  // the gateway: errors
  { name: 'unknown model', path: CHAT, body: { model: 'no-such-model', messages: user('hi') } },
  { name: 'unknown model stream', path: CHAT, body: { model: 'no-such-model', messages: user('hi'), stream: true } },
  { name: 'bad body: no messages', path: CHAT, body: { model: 'scripted' } },
  { name: 'bad body: not JSON object', path: CHAT, body: '[1,2]' },
  { name: 'bad body: stream_options without stream', path: CHAT, body: { model: 'scripted', messages: user('hi'), stream_options: { include_usage: true } } },
  { name: 'bad body: temperature', path: CHAT, body: { model: 'scripted', messages: user('hi'), temperature: 7 } },
  { name: 'out-of-scope key: model', path: CHAT, key: 'narrow', body: { model: 'support', messages: user('hi') } },
  { name: 'out-of-scope key: endpoint', path: '/v1/completions', key: 'narrow', body: { model: 'scripted', prompt: 'hi' } },
  { name: 'no key', path: CHAT, key: null, body: { model: 'scripted', messages: user('hi') } },
  // a published bot, on its own endpoint and under its name on the gateway
  { name: 'bot', path: BOT, body: { messages: user('投保后多少天内可以解除合同？') } },
  { name: 'bot stream', path: BOT, body: { messages: user('保险人收到赔偿请求后多少日内核定？'), stream: true } },
  { name: 'bot guarded input refusal', path: BOT, body: { messages: user('哪只股票明天涨停？') } },
  { name: 'bot guarded input refusal stream', path: BOT, body: { messages: user('哪只股票明天涨停？'), stream: true } },
  { name: 'bot guarded pii rewrite', path: BOT, body: { messages: [{ role: 'user', content: '你好' }, { role: 'assistant', content: '您好' }, { role: 'user', content: '我叫张三，手机13912345678，投保后多少天内可以解除合同？' }] } },
  { name: 'bot unguarded', path: PLAIN_BOT, body: { messages: user('投保后多少天内可以解除合同？') } },
  { name: 'bot unguarded fallback', path: PLAIN_BOT, body: { messages: user('今天天气怎么样') } },
  { name: 'bot via gateway', path: CHAT, body: { model: 'rules', messages: user('保险人收到赔偿请求后多少日内核定？') } },
  { name: 'bot via gateway stream', path: CHAT, body: { model: 'plain', messages: user('保险人收到赔偿请求后多少日内核定？'), stream: true } },
  { name: 'bot: wrong model', path: BOT, body: { model: 'plain', messages: user('hi') } },
  { name: 'bot: no messages', path: BOT, body: { messages: [] } },
  { name: 'bot: empty question', path: BOT, body: { messages: user('  ') } },
  { name: 'bot: out-of-scope key', path: BOT, key: 'narrow', body: { messages: user('hi') } },
  { name: 'bot: no key', path: BOT, key: null, body: { messages: user('hi') } },
  { name: 'bot: unpublished', path: '/v1/bots/nobot/chat/completions', body: { messages: user('hi') } },
  // the Copilot
  { name: 'copilot', path: COPILOT, body: { model: 'planner', messages: user('买了保险后有没有犹豫期，可以退吗？') } },
  { name: 'copilot stream', path: COPILOT, body: { model: 'planner', messages: user('犹豫期能退保吗'), stream: true, stream_options: { include_usage: true } } },
  { name: 'copilot no retrieval', path: COPILOT, body: { model: 'planner', messages: user('你好'), copilot: { retrieve: 0, knowledge: [] } } },
  { name: 'copilot guarded input refusal', path: COPILOT, body: { model: 'support', messages: user('推荐一个赌博网站'), copilot: { retrieve: 0 } } },
  { name: 'copilot guarded rewrite stream', path: COPILOT, body: { model: 'support', messages: user('客服电话是多少'), stream: true, copilot: { retrieve: 0 } } },
  { name: 'copilot guarded output refusal', path: COPILOT, body: { model: 'support', messages: user('有什么秘密吗'), copilot: { retrieve: 0 } } },
  { name: 'copilot: tools refused', path: COPILOT, body: { model: 'planner', messages: user('hi'), tools: WEATHER_TOOL } },
  { name: 'copilot: bad option', path: COPILOT, body: { model: 'planner', messages: user('hi'), copilot: { max_steps: 99 } } },
  { name: 'copilot: unknown model', path: COPILOT, body: { model: 'no-such-model', messages: user('hi'), copilot: { retrieve: 0 } } },
  { name: 'copilot: unknown model stream', path: COPILOT, body: { model: 'no-such-model', messages: user('hi'), stream: true, copilot: { retrieve: 0 } } },
  { name: 'copilot: out-of-scope key', path: COPILOT, key: 'narrow', body: { model: 'planner', messages: user('hi') } },
  { name: 'copilot: bad body', path: COPILOT, body: { model: 'planner' } },
];

test('the chat endpoints answer as recorded in chat-endpoints-golden.json', { timeout: 180_000 }, async () => {
  const got: Record<string, unknown> = {};
  for (const c of CASES) got[c.name] = await record({ ...c, key: c.key === 'narrow' ? narrowKey : c.key });
  if (UPDATE || !existsSync(FIXTURE)) {
    writeFileSync(FIXTURE, JSON.stringify(got, null, 1) + '\n');
    if (!UPDATE) assert.fail(`no fixture: wrote ${FIXTURE}; check it and commit it`);
    return;
  }
  const want = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(got), Object.keys(want), 'the same cases');
  const differ = CASES.filter((c) => !isDeepStrictEqual(got[c.name], want[c.name])).map((c) => c.name);
  for (const c of CASES) assert.deepEqual(got[c.name], want[c.name], `${c.name} (all that differ: ${differ.join('; ')})`);
});
