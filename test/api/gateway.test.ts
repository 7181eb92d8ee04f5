/**
 * The OpenAI-compatible gateway end to end, with the official `openai` client (v5) against a factory model made in
 * the test (an engine folder exported to GGUF by the gateway and served by llama.cpp): chat with and without
 * streaming, completions, embeddings, the model list, 401 and 403; bad input (malformed JSON, wrong types, absurd
 * max_tokens, a 10 MB prompt, an unknown model, a client that disconnects mid-stream or reads slowly) each answered
 * with a clear 4xx or cleaned up while other requests keep working; 429 when a model's queue is full; keys (scopes,
 * expiry, revocation, rate limit, token quota, usage); routes (fallback, weighted, an OpenAI-compatible endpoint);
 * fine-tune names usable at once, LoRA adapters over a shared base, prefix-tuned adapters on the engine; rollouts
 * without dropping a stream; JSON-schema output, logprobs, n; generated docs; /healthz and /metrics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { registerModel } from '../../src/serve/deployments.ts';
import { nowSeconds } from '../../src/store/store.ts';
import { makeModels, type GatewayFixture } from '../serve/gateway-fixtures.ts';

const ADMIN = 'sk-mf-test-admin-key-0123456789abcdef';
let dir: string, srv: ModelfabServer, url: string, fx: GatewayFixture, admin: OpenAI;

async function api(method: string, path: string, body?: unknown, key = ADMIN): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, json };
}

const client = (key: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0, timeout: 60_000 });
const hello = [{ role: 'user' as const, content: 'Hello, who are you?' }];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mf-gw-'));
  fx = makeModels(dir);
  srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false }, modelDirs: [dir] });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  admin = client(ADMIN);
  const r = await api('POST', '/v1/deployments', { name: 'tiny', path: fx.base, settings: { contextSize: 256, concurrency: 2, queue: 8 } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
});

after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

test('openai client: chat, streaming chat, completions, embeddings, models', async () => {
  const r = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 12, seed: 1 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'tiny');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage!.prompt_tokens > 5 && r.usage!.completion_tokens <= 12 && r.usage!.total_tokens === r.usage!.prompt_tokens + r.usage!.completion_tokens);

  const s = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 12, stream: true, stream_options: { include_usage: true }, temperature: 0 });
  let text = '', finish: string | null = null, usage: OpenAI.CompletionUsage | undefined, first = true;
  for await (const c of s) {
    if (c.usage) usage = c.usage;
    const ch = c.choices[0];
    if (!ch) continue;
    if (first) { assert.equal(ch.delta.role, 'assistant'); first = false; }
    text += ch.delta.content ?? '';
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.ok(finish === 'stop' || finish === 'length');
  assert.ok(usage && usage.completion_tokens > 0);
  // greedy: the stream and the non-streamed answer agree
  const g = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 12, temperature: 0 });
  assert.equal(g.choices[0].message.content, text);

  const c = await admin.completions.create({ model: 'tiny', prompt: 'The quick brown', max_tokens: 6, temperature: 0, echo: true });
  assert.equal(c.object, 'text_completion');
  assert.ok(c.choices[0].text.startsWith('The quick brown'));

  const e = await admin.embeddings.create({ model: 'tiny', input: ['hello world', 'the fox'] });
  assert.equal(e.data.length, 2);
  assert.equal(e.data[0].embedding.length, 64);
  assert.ok(e.usage.prompt_tokens > 0);
  const e64 = await admin.embeddings.create({ model: 'tiny', input: 'hello world' }); // the client asks for base64 and decodes it
  assert.deepEqual(e64.data[0].embedding.map((x) => +x.toFixed(4)), e.data[0].embedding.map((x) => +x.toFixed(4)));

  const models = await admin.models.list();
  assert.ok(models.data.some((m) => m.id === 'tiny' && m.object === 'model'));
  assert.equal((await admin.models.retrieve('tiny')).id, 'tiny');
});

test('keys: 401 without a valid key, 403 out of scope, expiry, revocation, rate limit, quota, usage', async () => {
  await assert.rejects(client('sk-mf-not-a-real-key-000000000000000000000').chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 2 }), (e: any) => e.status === 401 && e.code === 'invalid_api_key');
  const k = await api('POST', '/v1/keys', { name: 'app', owner: 'support-bot', models: ['tiny'], endpoints: ['chat.completions', 'models'] });
  assert.equal(k.status, 200);
  assert.match(k.json.key, /^sk-mf-/);
  const app = client(k.json.key);
  assert.equal((await app.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 2 })).object, 'chat.completion');
  await assert.rejects(app.chat.completions.create({ model: 'other', messages: hello, max_tokens: 2 }), (e: any) => e.status === 403 && e.code === 'model_not_allowed');
  await assert.rejects(app.embeddings.create({ model: 'tiny', input: 'x' }), (e: any) => e.status === 403 && e.code === 'endpoint_not_allowed');
  await assert.rejects(app.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 2 }), (e: any) => e.status === 403);
  assert.deepEqual((await app.models.list()).data.map((m) => m.id), ['tiny']);
  assert.equal((await api('POST', '/v1/keys', { name: 'x' }, k.json.key)).status, 403, 'user keys cannot administer');
  // listings never show the key or its hash
  const list = await api('GET', '/v1/keys');
  assert.ok(list.json.data.every((x: any) => x.key === undefined && x.hash === undefined));

  const exp = await api('POST', '/v1/keys', { name: 'old', expires_at: nowSeconds() - 5 });
  await assert.rejects(client(exp.json.key).chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 2 }), (e: any) => e.status === 401 && e.code === 'expired_api_key');

  const rev = await api('POST', '/v1/keys', { name: 'gone' });
  assert.equal((await api('DELETE', `/v1/keys/${rev.json.id}`)).status, 200);
  await assert.rejects(client(rev.json.key).models.list(), (e: any) => e.status === 401);

  const rl = await api('POST', '/v1/keys', { name: 'limited', rate_limit_rpm: 2 });
  const lim = client(rl.json.key);
  await lim.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 1 });
  await lim.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 1 });
  await assert.rejects(lim.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 1 }), (e: any) => e.status === 429 && e.code === 'rate_limit_exceeded');

  const q = await api('POST', '/v1/keys', { name: 'quota', token_quota: 10 });
  const qc = client(q.json.key);
  await qc.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 4 });
  await assert.rejects(qc.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 4 }), (e: any) => e.status === 429 && e.code === 'insufficient_quota');

  await new Promise((r) => setTimeout(r, 1300)); // usage is flushed every second
  const u = await api('GET', `/v1/usage?key_id=${q.json.id}`);
  assert.equal(u.json.data.length, 1);
  assert.equal(u.json.data[0].model, 'tiny');
  assert.equal(u.json.data[0].requests, 1);
  assert.ok(u.json.data[0].prompt_tokens > 0 && u.json.data[0].completion_tokens > 0);
});

test('bad input gets a clear 4xx and the server stays up', async () => {
  const bad = await api('POST', '/v1/chat/completions', '{"model": "tiny", "messages": [');
  assert.equal(bad.status, 400);
  assert.equal(typeof bad.json.error.message, 'string');
  for (const [body, param] of [
    [{ model: 'tiny', messages: 'hi' }, 'messages'],
    [{ model: 'tiny', messages: [] }, 'messages'],
    [{ model: 'tiny', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    [{ model: 'tiny', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    [{ model: 'tiny', messages: hello, temperature: 'hot' }, 'temperature'],
    [{ model: 'tiny', messages: hello, temperature: 3 }, 'temperature'],
    [{ model: 'tiny', messages: hello, max_tokens: 1e12 }, 'max_tokens'],
    [{ model: 'tiny', messages: hello, max_tokens: 100000 }, 'max_tokens'],
    [{ model: 'tiny', messages: hello, max_tokens: -1 }, 'max_tokens'],
    [{ model: 'tiny', messages: hello, stream: 'yes' }, 'stream'],
    [{ model: 'tiny', messages: hello, tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name'],
    [{ model: 'tiny', messages: hello, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }, 'tool_choice'],
    [{ model: 'tiny', messages: hello, tool_choice: 'required' }, 'tool_choice'],
    [{ model: 'tiny', messages: [{ role: 'tool', content: '{}' }] }, 'messages[0].tool_call_id'],
    [{ messages: hello }, 'model'],
    [[1, 2], ''],
  ] as const) {
    const r = await api('POST', '/v1/chat/completions', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.param ?? '', param, JSON.stringify(r.json));
  }
  const big = await api('POST', '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(10 * 1024 * 1024) }] });
  assert.equal(big.status, 413);
  const long = await api('POST', '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'word '.repeat(2000) }] });
  assert.equal(long.status, 400);
  assert.equal(long.json.error.code, 'context_length_exceeded');
  await assert.rejects(admin.chat.completions.create({ model: 'no-such-model', messages: hello }), (e: any) => e.status === 404 && e.code === 'model_not_found');
  const emb = await api('POST', '/v1/embeddings', { model: 'tiny', input: [1, 2, 3] });
  assert.equal(emb.status, 400);
  // still serving
  assert.equal((await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 2 })).object, 'chat.completion');
});

/** Opens a raw streaming request; resolves with the response once headers arrive. */
function rawStream(model: string, maxTokens: number): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  const u = new URL(url);
  const body = JSON.stringify({ model, stream: true, max_tokens: maxTokens, temperature: 0.8, messages: hello });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: '/v1/chat/completions', method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } }, (res) => resolve({ req, res }));
    req.on('error', reject);
    req.end(body);
  });
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => { let s = ''; res.setEncoding('utf8'); res.on('data', (d) => { s += d; }); res.on('end', () => resolve(s)); res.on('error', reject); });
}

async function inflight(model: string): Promise<number> {
  const m = await (await fetch(`${url}/metrics`)).text();
  const line = m.split('\n').find((l) => l.startsWith(`modelfab_inflight_requests{model="${model}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('disconnects, slow readers and a full queue (429)', async () => {
  const r = await api('POST', '/v1/deployments', { name: 'one', path: fx.base, settings: { contextSize: 256, concurrency: 1, queue: 0 } });
  assert.equal(r.status, 200);
  // a client that disconnects mid-stream frees its slot
  const a = await rawStream('one', 200);
  assert.equal(a.res.statusCode, 200);
  await new Promise<void>((resolve) => a.res.once('data', () => resolve()));
  a.req.destroy();
  for (let i = 0; i < 100 && (await inflight('one')) > 0; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(await inflight('one'), 0);
  // the slot is free again; while it is held, the next request gets 429 in OpenAI's shape
  const b = await rawStream('one', 200);
  assert.equal(b.res.statusCode, 200);
  b.res.pause(); // a slow reader
  const full = await api('POST', '/v1/chat/completions', { model: 'one', messages: hello, max_tokens: 2 });
  assert.equal(full.status, 429);
  assert.equal(full.json.error.code, 'model_overloaded');
  // other models are unaffected meanwhile
  assert.equal((await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 2 })).object, 'chat.completion');
  await new Promise((res) => setTimeout(res, 200));
  b.res.resume();
  const text = await readAll(b.res);
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'the slow reader still gets the whole stream');
  assert.match(text, /"finish_reason":"(stop|length)"/);
});

test('fine-tune names work at once; LoRA adapters share the base; prefix adapters run on the engine', async () => {
  await registerModel(srv.store, { name: 'ft:tiny:base:1', kind: 'engine', path: fx.base, ownedBy: 'user' });
  await registerModel(srv.store, { name: 'ft:tiny:lora:1', kind: 'engine', path: fx.lora, ownedBy: 'user' });
  await registerModel(srv.store, { name: 'ft:tiny:prefix:1', kind: 'engine', path: fx.prefix, ownedBy: 'user' });
  const base = await admin.chat.completions.create({ model: 'ft:tiny:base:1', messages: hello, max_tokens: 8, temperature: 0 });
  const lora = await admin.chat.completions.create({ model: 'ft:tiny:lora:1', messages: hello, max_tokens: 8, temperature: 0 });
  assert.notEqual(base.choices[0].message.content, lora.choices[0].message.content, 'the adapter changes the output');
  const again = await admin.chat.completions.create({ model: 'ft:tiny:base:1', messages: hello, max_tokens: 8, temperature: 0 });
  assert.equal(again.choices[0].message.content, base.choices[0].message.content, 'the base is not changed by its adapter');
  const status = await api('GET', '/v1/serve/status');
  const shared = status.json.loaded.filter((l: any) => l.kind === 'llama.cpp' && /\|c4\|x0\|/.test(l.backend));
  assert.equal(shared.length, 1, 'one base load serves the base and its adapter');
  const prefix = await admin.chat.completions.create({ model: 'ft:tiny:prefix:1', messages: hello, max_tokens: 6, temperature: 0 });
  assert.equal(prefix.object, 'chat.completion');
  assert.ok(status.json.loaded.length >= 1);
  const models = (await admin.models.list()).data.map((m) => m.id);
  for (const n of ['ft:tiny:base:1', 'ft:tiny:lora:1', 'ft:tiny:prefix:1']) assert.ok(models.includes(n));
});

test('routes: fallback over a dead endpoint, weighted, and an OpenAI-compatible endpoint backend', async () => {
  assert.equal((await api('POST', '/v1/serve/models', { name: 'dead', kind: 'endpoint', endpoint: { url: 'http://127.0.0.1:9/v1' } })).status, 200);
  assert.equal((await api('POST', '/v1/serve/models', { name: 'loop', kind: 'endpoint', endpoint: { url: `${url}/v1`, apiKey: ADMIN, model: 'tiny' } })).status, 200);
  assert.equal((await api('POST', '/v1/routes', { name: 'copilot', policy: 'fallback', targets: [{ model: 'dead' }, { model: 'tiny' }] })).status, 200);
  const r = await admin.chat.completions.create({ model: 'copilot', messages: hello, max_tokens: 4 });
  assert.equal(r.model, 'tiny');
  assert.equal((await api('POST', '/v1/routes', { name: 'ab', policy: 'weighted', targets: [{ model: 'tiny', weight: 0 }, { model: 'ft:tiny:lora:1', weight: 1 }] })).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await admin.chat.completions.create({ model: 'ab', messages: hello, max_tokens: 2 })).model, 'ft:tiny:lora:1');
  // the endpoint backend streams from upstream (here: this same server)
  const direct = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 8, temperature: 0 });
  const s = await admin.chat.completions.create({ model: 'loop', messages: hello, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '', usage: OpenAI.CompletionUsage | undefined;
  for await (const c of s) { text += c.choices[0]?.delta?.content ?? ''; if (c.usage) usage = c.usage; }
  assert.equal(text, direct.choices[0].message.content);
  assert.equal(usage!.completion_tokens, direct.usage!.completion_tokens);
  const bad = await api('POST', '/v1/routes', { name: 'x', policy: 'random', targets: [{ model: 'tiny' }] });
  assert.equal(bad.status, 400);
});

test('function calling: tools in, tool_calls out, on llama.cpp (constrained), through an endpoint, streaming; the engine says what it cannot do', async () => {
  // a deployment with room for the tool definitions in its prompt, and an endpoint in front of it
  assert.equal((await api('POST', '/v1/deployments', { name: 'tools', path: fx.base, settings: { contextSize: 512 } })).status, 200);
  assert.equal((await api('POST', '/v1/serve/models', { name: 'tools-loop', kind: 'endpoint', endpoint: { url: `${url}/v1`, apiKey: ADMIN, model: 'tools' } })).status, 200);
  const tools: OpenAI.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 8 }, days: { type: 'integer' } }, required: ['city', 'days'] } } },
    { type: 'function', function: { name: 'ticket', parameters: { type: 'object', properties: { urgent: { type: 'boolean' } }, required: ['urgent'] } } },
  ];
  const ask = [{ role: 'user' as const, content: '杭州明天天气？' }];
  for (const model of ['tools', 'tools-loop']) {
    const r = await admin.chat.completions.create({ model, messages: ask, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 150, temperature: 0 });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', `${model}: ${JSON.stringify(c)}`);
    assert.equal(c.message.content, null);
    assert.equal(c.message.tool_calls!.length, 1);
    const call = c.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.type, 'function');
    assert.match(call.id, /^call_/);
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args.city, 'string', call.function.arguments);
    assert.ok(Number.isInteger(args.days), call.function.arguments);

    // "required" picks one of the tools; streamed, the call arrives as tool_calls deltas
    const s = await admin.chat.completions.create({ model, messages: ask, tools, tool_choice: 'required', max_tokens: 150, temperature: 0, stream: true });
    const got: Record<number, { name: string; args: string }> = {};
    let finish: string | null = null;
    for await (const ch of s) {
      for (const d of ch.choices[0]?.delta?.tool_calls ?? []) {
        const g = (got[d.index] ??= { name: '', args: '' });
        g.name += d.function?.name ?? '';
        g.args += d.function?.arguments ?? '';
      }
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.ok(['get_weather', 'ticket'].includes(got[0]!.name), JSON.stringify(got));
    assert.equal(typeof JSON.parse(got[0]!.args), 'object');

    // the conversation goes on with the tool's result
    const next = await admin.chat.completions.create({
      model, max_tokens: 6, tools, messages: [...ask, c.message as OpenAI.ChatCompletionAssistantMessageParam, { role: 'tool', tool_call_id: call.id, content: '{"weather":"晴","high":18}' }],
    });
    assert.equal(next.object, 'chat.completion');
  }
  // the engine backend cannot constrain its output: a required call is refused with the reason, "auto" works
  await assert.rejects(admin.chat.completions.create({ model: 'ft:tiny:prefix:1', messages: ask, tools, tool_choice: 'required', max_tokens: 20 }),
    (e: any) => e.status === 400 && e.param === 'tool_choice' && /engine backend/.test(e.message));
  const auto = await admin.chat.completions.create({ model: 'ft:tiny:prefix:1', messages: ask, tools, max_tokens: 6 });
  assert.ok(['stop', 'length', 'tool_calls'].includes(auto.choices[0].finish_reason));
});

test('a new version rolls out without dropping a stream in flight', async () => {
  assert.equal((await api('POST', '/v1/deployments', { name: 'roll', path: fx.base, settings: { contextSize: 256, concurrency: 2 } })).status, 200);
  const v1 = await admin.chat.completions.create({ model: 'roll', messages: hello, max_tokens: 8, temperature: 0 });
  const s = await rawStream('roll', 120);
  s.res.pause();
  const d = await api('POST', '/v1/deployments', { name: 'roll', path: fx.lora, settings: { contextSize: 256, concurrency: 2 } });
  assert.equal(d.status, 200);
  assert.equal(d.json.version, 2);
  srv.gateway.invalidate();
  const v2 = await admin.chat.completions.create({ model: 'roll', messages: hello, max_tokens: 8, temperature: 0 });
  const lora = await admin.chat.completions.create({ model: 'ft:tiny:lora:1', messages: hello, max_tokens: 8, temperature: 0 });
  assert.notEqual(v2.choices[0].message.content, v1.choices[0].message.content);
  assert.equal(v2.choices[0].message.content, lora.choices[0].message.content);
  s.res.resume();
  const text = await readAll(s.res);
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'the old version finished its stream');
  // undeploy: the name is gone
  assert.equal((await api('DELETE', '/v1/deployments/roll')).status, 200);
  srv.gateway.invalidate();
  await assert.rejects(admin.chat.completions.create({ model: 'roll', messages: hello, max_tokens: 2 }), (e: any) => e.status === 404);
});

test('response_format json_schema, logprobs, n, presets, stop', async () => {
  const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'integer' } }, required: ['ok', 'n'], additionalProperties: false };
  const j = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 100, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } });
  if (j.choices[0].finish_reason === 'stop') {
    const v = JSON.parse(j.choices[0].message.content!);
    assert.equal(typeof v.ok, 'boolean');
    assert.equal(typeof v.n, 'number'); // node-llama-cpp's integer grammar also admits exponents (1e5)
  } else {
    assert.match(j.choices[0].message.content!, /^\s*\{/);
  }
  const lp = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 5, logprobs: true, top_logprobs: 3, temperature: 0 });
  const content = lp.choices[0].logprobs!.content!;
  assert.equal(content.length, lp.usage!.completion_tokens);
  for (const t of content) { assert.ok(t.logprob <= 0); assert.equal(t.top_logprobs.length, 3); }
  const n = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 4, n: 2, seed: 3 });
  assert.deepEqual(n.choices.map((c) => c.index), [0, 1]);
  const p = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 4, preset: 'conservative' } as never) as OpenAI.ChatCompletion;
  assert.equal(p.object, 'chat.completion');
  assert.equal((await api('POST', '/v1/chat/completions', { model: 'tiny', messages: hello, preset: 'wild' })).status, 400);
  // stop strings: cut the greedy answer at a piece of itself
  const g = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 16, temperature: 0 });
  const full = g.choices[0].message.content!;
  if (full.length > 6) {
    const stop = full.slice(3, 5);
    const cut = await admin.chat.completions.create({ model: 'tiny', messages: hello, max_tokens: 16, temperature: 0, stop });
    assert.equal(cut.choices[0].message.content, full.slice(0, full.indexOf(stop)));
    assert.equal(cut.choices[0].finish_reason, 'stop');
  }
});

test('generated docs, healthz and metrics', async () => {
  const d = await api('GET', '/v1/deployments/tiny/docs');
  assert.equal(d.status, 200);
  assert.equal(d.json.base_url, `${url}/v1`);
  for (const k of ['curl', 'typescript', 'python']) { assert.ok(d.json.snippets[k].includes(`${url}/v1`)); assert.ok(d.json.snippets[k].includes('tiny')); }
  const o = await api('GET', '/v1/deployments/tiny/openapi.json');
  assert.equal(o.json.openapi, '3.1.0');
  assert.equal(o.json.servers[0].url, `${url}/v1`);
  assert.ok(o.json.paths['/chat/completions'].post);
  const h = await fetch(`${url}/healthz`);
  assert.equal(h.status, 200);
  assert.equal(((await h.json()) as { status: string }).status, 'ok');
  const m = await (await fetch(`${url}/metrics`)).text();
  assert.match(m, /modelfab_requests_total\{model="tiny",endpoint="chat.completions",status="200"\} \d+/);
  assert.match(m, /modelfab_request_duration_seconds_bucket\{model="tiny",le="\+Inf"\} \d+/);
  assert.match(m, /modelfab_time_to_first_token_seconds_count\{model="tiny"\} \d+/);
  assert.match(m, /modelfab_queue_depth\{model="tiny"\} 0/);
  assert.match(m, /modelfab_tokens_per_second\{model="tiny"\}/);
  const deps = await api('GET', '/v1/deployments');
  assert.ok(deps.json.data.some((x: any) => x.name === 'tiny' && x.status === 'active'));
});
