/**
 * The outbound OpenAI-compatible client against a tiny local HTTP server: the base URL forms, what goes over the
 * wire compared with the official `openai` package, error mapping (upstream status, type, code, param; no secret in
 * a message), server-sent events split anywhere across chunks, abort, timeout and retries only where safe.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { OpenAIClient, SseParser, UpstreamError, normalizeBaseURL, redactUrl } from '../../src/openai/openai-client.ts';
import { StatusError } from '../../src/util/status-error.ts';

interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: string }
const seen: Seen[] = [];
let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void = () => {};
let server: Server;
let root: string;

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  root = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => { server.closeAllConnections(); server.close(); });

const chatAnswer = { id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
const json = (res: ServerResponse, status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };

test('normalizeBaseURL: /v1, /v1/ and a bare host are the same; other paths kept; credentials never shown', () => {
  assert.equal(normalizeBaseURL('http://h:1/v1'), 'http://h:1/v1');
  assert.equal(normalizeBaseURL('http://h:1/v1/'), 'http://h:1/v1');
  assert.equal(normalizeBaseURL('http://h:1/v1//'), 'http://h:1/v1');
  assert.equal(normalizeBaseURL('http://h:1'), 'http://h:1/v1');
  assert.equal(normalizeBaseURL('http://h:1/'), 'http://h:1/v1');
  assert.equal(normalizeBaseURL(' https://api.example.com/openai/v1/ '), 'https://api.example.com/openai/v1');
  assert.equal(normalizeBaseURL('http://h/api'), 'http://h/api');
  assert.throws(() => normalizeBaseURL('ftp://h/v1'), (e: unknown) => e instanceof StatusError && e.status === 400);
  assert.throws(() => normalizeBaseURL('not a url'), StatusError);
  assert.equal(redactUrl('http://user:secret@h:1/v1?key=secret'), 'http://h:1/v1');
  assert.doesNotMatch(new OpenAIClient({ baseURL: 'http://user:secret@h:1/v1' }).name, /secret/);
});

test('every URL form reaches /v1/chat/completions; a path of its own is kept', async () => {
  handler = (_req, res) => json(res, 200, chatAnswer);
  for (const base of [`${root}/v1`, `${root}/v1/`, root, `${root}/`]) {
    seen.length = 0;
    const r = await new OpenAIClient({ baseURL: base }).chatCompletion({ model: 'm', messages: [] });
    assert.equal(r.choices?.[0]?.message?.content, 'hi');
    assert.equal(seen[0]!.url, '/v1/chat/completions', base);
  }
  seen.length = 0;
  await new OpenAIClient({ baseURL: root.replace('//', '//u%40x:p@') }).chatCompletion({ model: 'm', messages: [] });
  assert.equal(seen[0]!.headers.authorization, `Basic ${Buffer.from('u@x:p').toString('base64')}`);
  seen.length = 0;
  await new OpenAIClient({ baseURL: `${root}/proxy/v1/` }).embeddings({ model: 'e', input: ['a'] }).catch(() => undefined);
  assert.equal(seen[0]!.url, '/proxy/v1/embeddings');
});

test('sends what the official openai client sends (method, path, auth, content type, body)', async () => {
  handler = (_req, res) => json(res, 200, chatAnswer);
  const body = { model: 'm', messages: [{ role: 'user' as const, content: '你好' }], max_tokens: 5, temperature: 0 };
  for (const base of [`${root}/v1`, `${root}/v1/`]) {
    seen.length = 0;
    await new OpenAI({ baseURL: base, apiKey: 'sk-test-key-123', maxRetries: 0 }).chat.completions.create(body);
    await new OpenAIClient({ baseURL: base, apiKey: 'sk-test-key-123' }).chatCompletion(body);
    const [theirs, ours] = seen;
    assert.equal(ours!.method, theirs!.method);
    assert.equal(ours!.url, theirs!.url);
    assert.equal(ours!.headers.authorization, theirs!.headers.authorization);
    assert.equal(ours!.headers['content-type'], theirs!.headers['content-type']);
    assert.deepEqual(JSON.parse(ours!.body), JSON.parse(theirs!.body));
  }
  // streaming: the official client asks with stream: true and reads SSE; so do we
  handler = (_req, res) => { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.end('data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n'); };
  seen.length = 0;
  const theirs: string[] = [];
  for await (const c of await new OpenAI({ baseURL: `${root}/v1`, apiKey: 'k', maxRetries: 0 }).chat.completions.create({ ...body, stream: true })) theirs.push(c.choices[0]?.delta.content ?? '');
  const ours: string[] = [];
  for await (const c of new OpenAIClient({ baseURL: `${root}/v1`, apiKey: 'k' }).streamChatCompletion(body)) ours.push(c.choices?.[0]?.delta?.content ?? '');
  assert.deepEqual(ours, theirs);
  assert.deepEqual(JSON.parse(seen[1]!.body), JSON.parse(seen[0]!.body));
});

test('errors keep the upstream status, type, code, param and message; no secret in the message', async () => {
  const key = 'sk-verysecretkey-0123456789';
  const c = new OpenAIClient({ baseURL: `${root}/v1`, apiKey: key, maxRetries: 0 });
  handler = (_req, res) => json(res, 400, { error: { message: `Invalid 'max_tokens' (key ${key})`, type: 'invalid_request_error', code: 'invalid_value', param: 'max_tokens' } });
  await assert.rejects(c.chatCompletion({ model: 'm', messages: [] }), (e: unknown) => {
    assert.ok(e instanceof UpstreamError && e instanceof StatusError);
    assert.equal(e.status, 400);
    assert.equal(e.upstreamStatus, 400);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.code, 'invalid_value');
    assert.equal(e.param, 'max_tokens');
    assert.match(e.message, /Invalid 'max_tokens'/);
    assert.doesNotMatch(e.message, /verysecret/);
    return true;
  });
  handler = (_req, res) => { res.writeHead(500, { 'content-type': 'text/plain' }); res.end('upstream exploded'); };
  await assert.rejects(c.completion({ model: 'm', prompt: 'x' }), (e: unknown) => e instanceof UpstreamError && e.status === 500 && e.type === 'server_error' && /upstream exploded/.test(e.message));
  handler = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{not json'); };
  await assert.rejects(c.chatCompletion({ model: 'm', messages: [] }), (e: unknown) => e instanceof UpstreamError && e.status === 502 && e.failure === 'malformed');
  // nothing listening: 502 unreachable, the URL's credentials not shown
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  const dead = new OpenAIClient({ baseURL: `http://user:hunter2@127.0.0.1:${deadPort}/v1`, maxRetries: 0 });
  await assert.rejects(dead.chatCompletion({ model: 'm', messages: [] }), (e: unknown) => e instanceof UpstreamError && e.status === 502 && e.failure === 'network' && !/hunter2/.test(e.message) && /ECONNREFUSED/.test(e.message));
});

test('SSE: events split at every byte (CRLF, multi-byte UTF-8, multi-line data, comments) parse the same', async () => {
  const events = [{ choices: [{ delta: { content: '七天' } }] }, { choices: [{ delta: { content: ' ok\u2028' } }] }];
  const wire = Buffer.from(`: keep-alive\r\n\r\nevent: message\r\ndata: ${JSON.stringify(events[0])}\r\n\r\ndata: ${JSON.stringify(events[1])}\n\nretry: 10\ndata: [DONE]\n\n`);
  handler = async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < wire.length; i++) {
      res.write(wire.subarray(i, i + 1));
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    res.end();
  };
  const got: unknown[] = [];
  for await (const c of new OpenAIClient({ baseURL: root }).streamChatCompletion({ model: 'm', messages: [] })) got.push(c);
  assert.deepEqual(got, events);
  // the parser itself: every split point of a CRLF stream gives the same events; data lines join with \n
  const text = 'data: a\r\ndata: b\r\n\r\nid: 7\rdata:c\r\r: x\ndata: d';
  const whole = new SseParser();
  const expect = [...whole.push(text), ...whole.end()];
  assert.deepEqual(expect, [{ event: 'message', data: 'a\nb' }, { event: 'message', data: 'c', id: '7' }, { event: 'message', data: 'd', id: '7' }]);
  for (let i = 0; i <= text.length; i++) {
    const p = new SseParser();
    assert.deepEqual([...p.push(text.slice(0, i)), ...p.push(text.slice(i)), ...p.end()], expect, `split at ${i}`);
  }
});

test('an error inside a stream throws with the upstream message', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"error":{"message":"model crashed","type":"server_error","code":"boom"}}\n\n');
  };
  const got: string[] = [];
  await assert.rejects(async () => {
    for await (const c of new OpenAIClient({ baseURL: root }).streamChatCompletion({ model: 'm', messages: [] })) got.push(c.choices?.[0]?.delta?.content ?? '');
  }, (e: unknown) => e instanceof UpstreamError && e.failure === 'stream' && e.status === 502 && e.code === 'boom' && /model crashed/.test(e.message));
  assert.deepEqual(got, ['a']);
});

test('abort: the caller\'s signal ends a waiting call and a running stream with 499', async () => {
  let open: ServerResponse | null = null;
  handler = (_req, res) => { open = res; }; // never answers
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(new OpenAIClient({ baseURL: root }).chatCompletion({ model: 'm', messages: [] }, { signal: ac.signal }), (e: unknown) => e instanceof UpstreamError && e.status === 499 && e.failure === 'aborted');
  (open as ServerResponse | null)?.destroy();
  let closed = false;
  handler = (req, res) => { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.write('data: {"n":1}\n\n'); req.socket.on('close', () => { closed = true; }); };
  const ac2 = new AbortController();
  const got: unknown[] = [];
  await assert.rejects(async () => {
    for await (const c of new OpenAIClient({ baseURL: root }).stream('/chat/completions', {}, { signal: ac2.signal })) { got.push(c); ac2.abort(); }
  }, (e: unknown) => e instanceof UpstreamError && e.status === 499);
  assert.deepEqual(got, [{ n: 1 }]);
  for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(closed, 'the upstream connection is closed after the abort');
});

test('timeout: 504, and a timed-out call is not retried', async () => {
  let open: ServerResponse[] = [];
  handler = (_req, res) => { open.push(res); };
  seen.length = 0;
  const t0 = Date.now();
  await assert.rejects(new OpenAIClient({ baseURL: root, timeoutMs: 80 }).chatCompletion({ model: 'm', messages: [] }), (e: unknown) => e instanceof UpstreamError && e.status === 504 && e.failure === 'timeout' && e.code === 'upstream_timeout');
  assert.ok(Date.now() - t0 < 2000);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, 1);
  for (const r of open) r.destroy();
  open = [];
});

test('retries: a 503 or 429 is retried (Retry-After honoured), a 500 or 400 is not', async () => {
  let n = 0;
  handler = (_req, res) => {
    n++;
    if (n === 1) { res.writeHead(503, { 'retry-after': '0' }); res.end('{"error":{"message":"busy"}}'); return; }
    if (n === 2) { res.writeHead(429, { 'retry-after': '0' }); res.end('{"error":{"message":"slow down"}}'); return; }
    json(res, 200, chatAnswer);
  };
  const c = new OpenAIClient({ baseURL: root });
  assert.equal((await c.chatCompletion({ model: 'm', messages: [] })).choices?.[0]?.message?.content, 'hi');
  assert.equal(n, 3);
  n = 0;
  await assert.rejects(new OpenAIClient({ baseURL: root, maxRetries: 1 }).chatCompletion({ model: 'm', messages: [] }), (e: unknown) => e instanceof UpstreamError && e.status === 429);
  assert.equal(n, 2);
  for (const status of [500, 400]) {
    n = 0;
    handler = (_req, res) => { n++; json(res, status, { error: { message: 'no' } }); };
    await assert.rejects(c.chatCompletion({ model: 'm', messages: [] }), (e: unknown) => e instanceof UpstreamError && e.status === status);
    assert.equal(n, 1, `status ${status} not retried`);
  }
});
