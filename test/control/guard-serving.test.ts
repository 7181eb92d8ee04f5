/**
 * The guard at serving time: a deployment's guard policy runs on /v1/chat/completions and
 * /v1/completions (input before the model is touched; output on whole answers, and sentence by sentence on streams),
 * refusals carry the configured message with finish_reason content_filter, verdicts are in the response (`guard`)
 * and in the request log (GET /v1/requests[/{id}]), feedback works by response id, keys see only their own
 * requests, a missing policy fails closed; and a bot's policy runs on its questions and on its answers against the
 * cited passages, on its own endpoint and under its name on the gateway. The model is a scripted OpenAI-compatible upstream, so every answer is known in advance.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';

const ADMIN = 'sk-mf-test-admin-key-guard-0123456789';
let dir: string, srv: ModelfabServer, url: string, upstream: http.Server, upstreamUrl: string;
const seen: string[] = [];
let aborted = 0;

/** What the scripted model answers to a question (by keyword). */
function scriptedAnswer(q: string): string {
  // as a Llama-Guard-style classifier
  if (q.startsWith('Task: Check if there is unsafe content')) return /炸药|explosive/.test(q) ? 'unsafe\nS2' : 'safe';
  // as a reviewer (reflection): revise drafts that promise refunds
  if (q.startsWith('Policy:')) {
    return q.includes('全额退款')
      ? JSON.stringify({ verdict: 'revise', reason: 'refund promises need approval', revision: '退款需要审核，客服会在一个工作日内联系您。' })
      : JSON.stringify({ verdict: 'approve', reason: 'ok' });
  }
  if (q.includes('退款')) return '没问题，我们保证全额退款。';
  // as a bot's generator: one supported sentence and one planted that no passage supports
  if (q.includes('问题：解除合同要几天')) return '投保人可以在保险合同成立后的十五日内解除合同[1]。另外，保险公司会向每位投保人赠送一台冰箱作为礼品。';
  if (q.includes('电话')) return '您好。客服电话是13812345678，工作日可拨打。祝您愉快！';
  if (q.includes('秘密')) return '好的。内幕消息如下：明天涨停。请保密。';
  if (q.includes('退货')) return 'Returns are accepted within seven days. Keep the receipt.';
  return `收到：${q}。`;
}

async function api(method: string, path: string, body?: unknown, key = ADMIN): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

/** A streamed chat completion as its parsed chunks (without [DONE]). */
async function streamChunks(body: unknown, key = ADMIN): Promise<any[]> {
  const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...(body as object), stream: true }) });
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), text);
  return text.split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
}

before(async () => {
  // The scripted upstream: answers by keyword; streams three characters per chunk with a pause, so a stream is
  // really incremental; counts the questions it saw and the streams its client closed early.
  upstream = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const b = JSON.parse(raw) as { messages?: { role: string; content: string }[]; prompt?: string; stream?: boolean; logprobs?: boolean };
      const q = b.messages ? b.messages.filter((m) => m.role === 'user').at(-1)!.content : String(b.prompt);
      seen.push(q);
      const answer = scriptedAnswer(q);
      if (!b.stream) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(b.messages
          ? { id: 'x', object: 'chat.completion', created: 0, model: 'scripted', choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }], usage: { prompt_tokens: q.length, completion_tokens: answer.length, total_tokens: q.length + answer.length } }
          : { id: 'x', object: 'text_completion', created: 0, model: 'scripted', choices: [{ index: 0, text: answer, finish_reason: 'stop' }], usage: { prompt_tokens: q.length, completion_tokens: answer.length, total_tokens: q.length + answer.length } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const pieces = answer.match(/[\s\S]{1,3}/g)!;
      let i = 0, done = false;
      res.on('close', () => { if (!done) aborted++; });
      const tick = () => {
        if (res.destroyed) return;
        if (i < pieces.length) {
          const piece = pieces[i++];
          const logprobs = b.logprobs ? { content: [{ token: piece, logprob: -0.25, bytes: [...Buffer.from(piece)], top_logprobs: [] }] } : null;
          res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'scripted', choices: [{ index: 0, delta: { content: piece }, logprobs, finish_reason: null }] })}\n\n`);
          setTimeout(tick, 5);
          return;
        }
        done = true;
        res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'scripted', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
        res.end('data: [DONE]\n\n');
      };
      tick();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  dir = mkdtempSync(join(tmpdir(), 'mf-guard-serving-'));
  srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false } });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await srv.close();
  await new Promise((r) => upstream.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const POLICY = {
  refusal_message: '抱歉，这个问题我不能回答。',
  checks: [
    { name: 'gambling', kind: 'keywords', words: ['赌博', 'casino'], stage: 'input', action: 'refuse', message: '抱歉，我们不提供与赌博有关的帮助。' },
    { name: 'pii', kind: 'pii', action: 'rewrite' },
    { name: 'insider', kind: 'keywords', words: ['内幕消息'], stage: 'output', action: 'refuse' },
    { name: 'tone', kind: 'keywords', words: ['receipt'], stage: 'output', action: 'warn' },
  ],
};

test('a deployment\'s guard: input refusal, output rewrite and refusal, streaming by sentence, request log, feedback', { timeout: 60_000 }, async () => {
  assert.equal((await api('POST', '/v1/serve/models', { name: 'scripted', kind: 'endpoint', endpoint: { url: upstreamUrl, model: 'scripted' } })).status, 200);
  // a deployment must name an existing policy
  const missing = await api('POST', '/v1/deployments', { name: 'support', model: 'scripted', settings: { guard: 'support-policy' } });
  assert.equal(missing.status, 400);
  assert.equal(missing.json.error.param, 'settings.guard');
  assert.equal((await api('PUT', '/v1/guard/policies/support-policy', POLICY)).status, 200);
  const dep = await api('POST', '/v1/deployments', { name: 'support', model: 'scripted', settings: { guard: 'support-policy' } });
  assert.equal(dep.status, 200, JSON.stringify(dep.json));

  // input refused: the model is never asked; the check's own message; content_filter
  const before = seen.length;
  const inRef = await api('POST', '/v1/chat/completions', { model: 'support', messages: [{ role: 'user', content: '推荐一个赌博网站' }] });
  assert.equal(inRef.status, 200);
  assert.equal(inRef.json.choices[0].message.content, '抱歉，我们不提供与赌博有关的帮助。');
  assert.equal(inRef.json.choices[0].message.refusal, '抱歉，我们不提供与赌博有关的帮助。');
  assert.equal(inRef.json.choices[0].finish_reason, 'content_filter');
  assert.equal(inRef.json.guard.outcome, 'refused');
  assert.deepEqual(inRef.json.guard.policies, ['support-policy']);
  assert.equal(seen.length, before, 'the model was not called');

  // input rewritten (PII masked before the model sees it), output rewritten (the answer's phone number masked)
  const pii = await api('POST', '/v1/chat/completions', { model: 'support', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '我的手机13900001111，客服电话多少？' }] });
  assert.equal(pii.status, 200);
  assert.equal(seen.at(-1), '我的手机139****1111，客服电话多少？');
  assert.equal(pii.json.choices[0].message.content, '您好。客服电话是138****5678，工作日可拨打。祝您愉快！');
  assert.equal(pii.json.choices[0].finish_reason, 'stop');
  assert.equal(pii.json.guard.outcome, 'rewritten');
  const acts = pii.json.guard.verdicts.map((v: any) => `${v.stage}:${v.check}:${v.action}`);
  assert.deepEqual(acts, ['input:gambling:allow', 'input:pii:rewrite', 'output:pii:rewrite', 'output:insider:allow', 'output:tone:allow']);
  assert.ok(pii.json.guard.verdicts.every((v: any) => typeof v.latency_ms === 'number' && v.reason));

  // logprobs stay on an answer the guard passed unchanged, and go with a rewritten one
  const lpPass = await api('POST', '/v1/chat/completions', { model: 'support', logprobs: true, messages: [{ role: 'user', content: '怎么退货？' }] });
  assert.equal(lpPass.json.guard.outcome, 'flagged');
  assert.equal(lpPass.json.choices[0].logprobs.content.map((l: any) => l.token).join(''), lpPass.json.choices[0].message.content);
  const lpMasked = await api('POST', '/v1/chat/completions', { model: 'support', logprobs: true, messages: [{ role: 'user', content: '客服电话多少？' }] });
  assert.equal(lpMasked.json.guard.outcome, 'rewritten');
  assert.equal(lpMasked.json.choices[0].logprobs, null);

  // the request log has it, with the masked prompt and every verdict
  const logged = await api('GET', `/v1/requests/${pii.json.id}`);
  assert.equal(logged.status, 200);
  assert.equal(logged.json.outcome, 'rewritten');
  assert.equal(logged.json.source, 'api');
  assert.equal(logged.json.model, 'support');
  assert.deepEqual(logged.json.policies, ['support-policy']);
  assert.deepEqual(logged.json.prompt, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '我的手机139****1111，客服电话多少？' }]);
  assert.equal(logged.json.answer, pii.json.choices[0].message.content);
  assert.equal(logged.json.guard.length, 5);

  // output refused on a whole answer
  const outRef = await api('POST', '/v1/chat/completions', { model: 'support', messages: [{ role: 'user', content: '有什么秘密吗' }] });
  assert.equal(outRef.json.choices[0].message.content, '抱歉，这个问题我不能回答。');
  assert.equal(outRef.json.choices[0].finish_reason, 'content_filter');
  assert.ok(!JSON.stringify(outRef.json).includes('涨停'));

  // warn: the answer leaves unchanged, flagged
  const warned = await api('POST', '/v1/chat/completions', { model: 'support', messages: [{ role: 'user', content: '怎么退货' }] });
  assert.equal(warned.json.choices[0].message.content, 'Returns are accepted within seven days. Keep the receipt.');
  assert.equal(warned.json.guard.outcome, 'flagged');

  // streaming stays streaming: checked sentences flow before the answer ends; raw PII never appears in a chunk
  const chunks = await streamChunks({ model: 'support', messages: [{ role: 'user', content: '客服电话是多少' }] });
  const deltas = chunks.filter((c) => c.choices.length && c.choices[0].delta?.content).map((c) => c.choices[0].delta.content as string);
  assert.ok(deltas.length >= 3, `sentence-by-sentence deltas: ${JSON.stringify(deltas)}`);
  assert.equal(deltas.join(''), '您好。客服电话是138****5678，工作日可拨打。祝您愉快！');
  assert.equal(deltas[0], '您好。');
  assert.ok(!deltas.join('').includes('13812345678'));
  const guardChunk = chunks.find((c) => c.guard);
  assert.equal(guardChunk.guard.outcome, 'rewritten');
  assert.deepEqual(guardChunk.choices, []);
  assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'stop');

  // a refusal mid-stream: what was checked already went out, then the message; the blocked text never; the model stops
  const abortedBefore = aborted;
  const refusedChunks = await streamChunks({ model: 'support', messages: [{ role: 'user', content: '说个秘密' }] });
  const rd = refusedChunks.filter((c) => c.choices.length && c.choices[0].delta?.content).map((c) => c.choices[0].delta.content as string);
  assert.deepEqual(rd, ['好的。', '抱歉，这个问题我不能回答。']);
  assert.equal(refusedChunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'content_filter');
  assert.ok(!JSON.stringify(refusedChunks).includes('涨停'));
  for (let i = 0; i < 50 && aborted === abortedBefore; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(aborted, abortedBefore + 1, 'the generation was stopped at the refusal');
  const refusedLog = await api('GET', `/v1/requests/${refusedChunks[0].id}`);
  assert.equal(refusedLog.json.outcome, 'refused');
  assert.equal(refusedLog.json.answer, '好的。抱歉，这个问题我不能回答。');

  // the official client reads guarded answers and streams like any other
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: ADMIN, maxRetries: 0 });
  const c1 = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'casino tips?' }] });
  assert.equal(c1.choices[0].finish_reason, 'content_filter');
  let streamed = '';
  for await (const ch of await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: '电话' }], stream: true })) streamed += ch.choices[0]?.delta?.content ?? '';
  assert.equal(streamed, '您好。客服电话是138****5678，工作日可拨打。祝您愉快！');

  // /v1/completions: the prompt is the input
  const comp = await api('POST', '/v1/completions', { model: 'support', prompt: '赌博' });
  assert.equal(comp.json.choices[0].text, '抱歉，我们不提供与赌博有关的帮助。');
  assert.equal(comp.json.choices[0].finish_reason, 'content_filter');

  // feedback by response id on a guarded answer: prompt and answer come from the log
  const fb = await api('POST', '/v1/feedback', { response_id: pii.json.id, label: 'right', annotator: 'qa' });
  assert.equal(fb.status, 200, JSON.stringify(fb.json));
  assert.equal(fb.json.answer, pii.json.choices[0].message.content);
  assert.equal(fb.json.model, 'support');

  // an unguarded model is logged too (no verdicts), and the log filters by outcome
  const plain = await api('POST', '/v1/chat/completions', { model: 'scripted', messages: [{ role: 'user', content: '你好' }] });
  assert.equal(plain.json.guard, undefined);
  const plainLog = await api('GET', `/v1/requests/${plain.json.id}`);
  assert.equal(plainLog.json.outcome, null);
  assert.deepEqual(plainLog.json.guard, []);
  const refusedList = await api('GET', '/v1/requests?outcome=refused');
  assert.ok(refusedList.json.data.length >= 4);
  assert.ok(refusedList.json.data.every((r: any) => r.outcome === 'refused'));
  const guarded = await api('GET', '/v1/requests?outcome=guarded&limit=2');
  assert.equal(guarded.json.data.length, 2);
  assert.equal(guarded.json.has_more, true);
  const next = await api('GET', `/v1/requests?outcome=guarded&limit=2&before=${guarded.json.data[1].id}`);
  assert.ok(!next.json.data.some((r: any) => guarded.json.data.some((g: any) => g.id === r.id)));
  assert.equal((await api('GET', '/v1/requests?outcome=maybe')).status, 400);

  // keys see their own requests only; policies are admin-only
  const k = await api('POST', '/v1/keys', { name: 'app', models: ['support'], endpoints: ['chat.completions'] });
  const own = await api('POST', '/v1/chat/completions', { model: 'support', messages: [{ role: 'user', content: '你好' }] }, k.json.key);
  assert.equal(own.status, 200);
  assert.equal((await api('GET', `/v1/requests/${own.json.id}`, undefined, k.json.key)).status, 200);
  assert.equal((await api('GET', `/v1/requests/${pii.json.id}`, undefined, k.json.key)).status, 404);
  assert.deepEqual((await api('GET', '/v1/requests', undefined, k.json.key)).json.data.map((r: any) => r.id), [own.json.id]);
  assert.equal((await api('POST', '/v1/feedback', { response_id: pii.json.id, rating: 1 }, k.json.key)).status, 404);
  assert.equal((await api('POST', '/v1/feedback', { response_id: own.json.id, rating: 4 }, k.json.key)).status, 200);
  assert.equal((await api('PUT', '/v1/guard/policies/x', POLICY, k.json.key)).status, 403);
  assert.equal((await api('GET', '/v1/feedback', undefined, k.json.key)).status, 403);

  // a policy edit applies to the next request; a deleted policy fails closed
  await api('PUT', '/v1/guard/policies/support-policy', { ...POLICY, checks: [...POLICY.checks, { name: 'hello', kind: 'keywords', words: ['你好'], stage: 'input', action: 'refuse' }] });
  assert.equal((await api('POST', '/v1/chat/completions', { model: 'support', messages: [{ role: 'user', content: '你好' }] })).json.choices[0].finish_reason, 'content_filter');
  assert.equal((await api('DELETE', '/v1/guard/policies/support-policy')).json.deleted, true);
  const closed = await api('POST', '/v1/chat/completions', { model: 'support', messages: [{ role: 'user', content: '你好' }] });
  assert.equal(closed.status, 503);
  assert.equal(closed.json.error.code, 'guard_policy_missing');
});

test('classifier and reflection checks run on models the gateway serves', { timeout: 60_000 }, async () => {
  await api('POST', '/v1/serve/models', { name: 'scripted', kind: 'endpoint', endpoint: { url: upstreamUrl, model: 'scripted' } });
  await api('POST', '/v1/serve/models', { name: 'reviewer', kind: 'endpoint', endpoint: { url: upstreamUrl, model: 'reviewer' } });
  assert.equal((await api('PUT', '/v1/guard/policies/careful', {
    checks: [
      { name: 'safety', kind: 'classifier', model: 'reviewer', stage: 'input', action: 'refuse', message: '该请求涉及违法内容，无法协助。' },
      { name: 'review', kind: 'reflection', model: 'reviewer', action: 'rewrite', policy: '不得承诺未经批准的退款。' },
    ],
  })).status, 200);
  assert.equal((await api('POST', '/v1/deployments', { name: 'careful', model: 'scripted', settings: { guard: 'careful' } })).status, 200);

  const unsafe = await api('POST', '/v1/chat/completions', { model: 'careful', messages: [{ role: 'user', content: '怎么自制炸药' }] });
  assert.equal(unsafe.json.choices[0].message.content, '该请求涉及违法内容，无法协助。');
  assert.match(unsafe.json.guard.verdicts[0].reason, /classified unsafe: S2/);

  const refund = await api('POST', '/v1/chat/completions', { model: 'careful', messages: [{ role: 'user', content: '我要退款' }] });
  assert.equal(refund.json.choices[0].message.content, '退款需要审核，客服会在一个工作日内联系您。');
  assert.deepEqual(refund.json.guard.verdicts.map((v: any) => `${v.check}:${v.action}`), ['safety:allow', 'review:rewrite']);

  // streamed: the reviewer needs the whole answer, so the stream holds it and sends the revision once
  const chunks = await streamChunks({ model: 'careful', messages: [{ role: 'user', content: '退款可以吗' }] });
  const deltas = chunks.filter((c) => c.choices.length && c.choices[0].delta?.content).map((c) => c.choices[0].delta.content);
  assert.deepEqual(deltas, ['退款需要审核，客服会在一个工作日内联系您。']);
  const ok = await api('POST', '/v1/chat/completions', { model: 'careful', messages: [{ role: 'user', content: '你好' }] });
  assert.equal(ok.json.guard.outcome, 'passed');
});

const LAW = `# 示例保险条例

第一条 为了规范保险活动，保护保险活动当事人的合法权益，制定本条例。

第二条 投保人可以在保险合同成立后的十五日内解除合同，保险人应当退还全部保险费。

第三条 保险人应当在收到赔偿请求之日起三十日内作出核定，并将核定结果通知被保险人。
`;

test('a bot\'s guard: the question before it answers, the answer against its cited passages; quota and usage apply', { timeout: 60_000 }, async () => {
  await api('PUT', '/v1/guard/policies/bot-policy', {
    refusal_message: '抱歉，我只回答保险条例相关的问题。',
    checks: [
      { name: 'offtopic', kind: 'topics', stage: 'input', action: 'refuse', topics: [{ name: 'stocks', keywords: ['股票', '涨停'] }] },
      { name: 'pii', kind: 'pii', stage: 'input', action: 'rewrite' },
      { name: 'grounded', kind: 'grounding', action: 'warn' },
    ],
  });
  const bad = await api('POST', '/v1/bots/build', { name: 'rules', filename: 'rules.md', text: LAW, approve_all: true, config: { guard: 'no-such-policy' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, 'config.guard');
  const b = await api('POST', '/v1/bots/build', { name: 'rules', filename: 'rules.md', text: LAW, approve_all: true, config: { guard: 'bot-policy' } });
  assert.equal(b.status, 200, JSON.stringify(b.json));

  const chat = (content: string, key = ADMIN) => api('POST', '/v1/bots/rules/chat/completions', { messages: [{ role: 'user', content }], version: 1 }, key);
  const off = await chat('哪只股票明天涨停？');
  assert.equal(off.status, 200);
  assert.equal(off.json.choices[0].message.content, '抱歉，我只回答保险条例相关的问题。');
  assert.equal(off.json.choices[0].finish_reason, 'content_filter');
  assert.deepEqual(off.json.citations, []);

  const ok = await chat('我叫张三，手机13912345678，投保后多少天内可以解除合同？');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.choices[0].finish_reason, 'stop');
  assert.match(ok.json.choices[0].message.content, /十五日/);
  const verdicts = ok.json.guard.verdicts.map((v: any) => `${v.stage}:${v.check}:${v.action}`);
  assert.deepEqual(verdicts, ['input:offtopic:allow', 'input:pii:rewrite', 'output:grounded:allow']);
  assert.match(ok.json.guard.verdicts[2].reason, /supported/);
  const log = await api('GET', `/v1/requests/${ok.json.id}`);
  assert.equal(log.json.source, 'bot');
  assert.equal(log.json.model, 'rules');
  assert.equal(log.json.prompt.at(-1).content, '我叫张三，手机139****5678，投保后多少天内可以解除合同？');

  // the key's rate limit applies to bot chats (429 before any work) and usage is counted under the bot's name
  const k = await api('POST', '/v1/keys', { name: 'widget', models: ['rules'], endpoints: ['chat.completions'], rate_limit_rpm: 1 });
  assert.equal(k.status, 200, JSON.stringify(k.json));
  await api('POST', '/v1/bots/rules/tests', { limit: 5 }).then(async (rep) => {
    await api('POST', `/v1/bots/rules/tests/${rep.json.id}/approve`, {});
    await api('POST', '/v1/bots/rules/publish', { version: 1 });
  });
  const first = await api('POST', '/v1/bots/rules/chat/completions', { messages: [{ role: 'user', content: '核定要多少天？' }] }, k.json.key);
  assert.equal(first.status, 200, JSON.stringify(first.json));
  const second = await api('POST', '/v1/bots/rules/chat/completions', { messages: [{ role: 'user', content: '核定要多少天？' }] }, k.json.key);
  assert.equal(second.status, 429);

  // a published bot is also a model of the gateway: same base URL as every other model, with its citations
  const k2 = await api('POST', '/v1/keys', { name: 'app', models: ['rules'], endpoints: ['chat.completions', 'models'] });
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: k2.json.key, maxRetries: 0 });
  assert.deepEqual((await client.models.list()).data.map((m) => m.id), ['rules']);
  const viaGateway = await client.chat.completions.create({ model: 'rules', messages: [{ role: 'user', content: '保险人收到赔偿请求后多少日内核定？' }] });
  assert.match(viaGateway.choices[0].message.content ?? '', /三十日/);
  assert.ok((viaGateway as any).citations.length >= 1);
  assert.equal((viaGateway as any).guard.outcome, 'passed');
  const viaLog = await api('GET', `/v1/requests/${viaGateway.id}`);
  assert.equal(viaLog.json.source, 'bot');
  // the widget's feedback endpoint: only this bot's answers, given to this key
  const fbOk = await api('POST', '/v1/bots/rules/feedback', { response_id: viaGateway.id, label: 'wrong' }, k2.json.key);
  assert.equal(fbOk.status, 200, JSON.stringify(fbOk.json));
  assert.equal(fbOk.json.source, 'bot');
  assert.equal(fbOk.json.answer, viaGateway.choices[0].message.content);
  assert.equal((await api('POST', '/v1/bots/rules/feedback', { response_id: ok.json.id, label: 'wrong' }, k2.json.key)).status, 404, 'an answer given to another key');
  assert.equal((await api('POST', '/v1/bots/rules/feedback', { label: 'wrong' }, k2.json.key)).json.error.param, 'response_id');
  await assert.rejects(client.chat.completions.create({ model: 'no-such-bot', messages: [{ role: 'user', content: 'x' }] }), (e: any) => e.status === 403 || e.status === 404);


  // the guard is a live setting: removing it applies to the published version at once
  assert.equal((await api('PATCH', '/v1/bots/rules', { config: { guard: null } })).status, 200);
  const unguarded = await api('POST', '/v1/bots/rules/chat/completions', { messages: [{ role: 'user', content: '哪只股票明天涨停？' }] });
  assert.equal(unguarded.json.guard, undefined);
  assert.notEqual(unguarded.json.choices[0].finish_reason, 'content_filter');

  await new Promise((r) => setTimeout(r, 1300)); // usage is flushed once a second
  const usage = await api('GET', `/v1/usage?key_id=${k.json.id}`);
  assert.equal(usage.status, 200, JSON.stringify(usage.json));
  const row = usage.json.data.find((u: any) => u.model === 'rules');
  assert.ok(row, JSON.stringify(usage.json));
  assert.equal(row.requests, 1, 'the refused request is not counted (as on the gateway)');
  assert.ok(row.completion_tokens > 0);
});

test('grounding on a bot with a generative model: a planted unsupported sentence is removed, or the answer refused', { timeout: 60_000 }, async () => {
  await api('PUT', '/v1/guard/policies/grounded-rewrite', { checks: [{ name: 'grounded', kind: 'grounding', action: 'rewrite' }] });
  await api('PUT', '/v1/guard/policies/grounded-refuse', { refusal_message: '这个回答没有可靠出处，已拦截。', checks: [{ name: 'grounded', kind: 'grounding', action: 'refuse' }] });
  const b = await api('POST', '/v1/bots/build', { name: 'genbot', filename: 'rules.md', text: LAW, approve_all: true, config: { guard: 'grounded-rewrite', model: { baseUrl: upstreamUrl, model: 'scripted' } } });
  assert.equal(b.status, 200, JSON.stringify(b.json));
  const ask = () => api('POST', '/v1/bots/genbot/chat/completions', { messages: [{ role: 'user', content: '解除合同要几天' }], version: 1 });
  const r = await ask();
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.bot.generator !== 'extractive', true, JSON.stringify(r.json.bot));
  assert.equal(r.json.choices[0].message.content, '投保人可以在保险合同成立后的十五日内解除合同[1]。');
  const v = r.json.guard.verdicts.find((x: any) => x.check === 'grounded');
  assert.equal(v.action, 'rewrite');
  assert.match(v.reason, /1 unsupported sentence/);
  assert.match(v.matches[0], /冰箱/);
  assert.equal((await api('PATCH', '/v1/bots/genbot', { config: { guard: 'grounded-refuse' } })).status, 200);
  const refused = await ask();
  assert.equal(refused.json.choices[0].message.content, '这个回答没有可靠出处，已拦截。');
  assert.equal(refused.json.choices[0].finish_reason, 'content_filter');
});

test('chat search over a knowledge base runs the KB\'s guard policy and logs the answer', { timeout: 60_000 }, async () => {
  await api('PUT', '/v1/guard/policies/kb-policy', {
    refusal_message: '抱歉，只回答条例相关的问题。',
    checks: [{ name: 'offtopic', kind: 'topics', stage: 'input', action: 'refuse', topics: [{ name: 'stocks', keywords: ['股票'] }] }, { name: 'grounded', kind: 'grounding', action: 'warn' }],
  });
  assert.equal((await api('POST', '/v1/knowledge/bases', { name: 'rules-kb', guard: 'nope' })).json.error.param, 'guard');
  const kbRes = await api('POST', '/v1/knowledge/bases', { name: 'rules-kb', guard: 'kb-policy' });
  assert.equal(kbRes.status, 200, JSON.stringify(kbRes.json));
  const kbId = kbRes.json.id;
  assert.equal((await api('POST', `/v1/knowledge/bases/${kbId}/documents`, { filename: 'rules.md', text: LAW })).status, 200);
  const off = await api('POST', '/v1/knowledge/ask', { kbs: kbId, question: '买什么股票好？' });
  assert.equal(off.status, 200, JSON.stringify(off.json));
  assert.equal(off.json.answer, '抱歉，只回答条例相关的问题。');
  assert.equal(off.json.refused, true);
  assert.equal(off.json.guard.outcome, 'refused');
  const ok = await api('POST', '/v1/knowledge/ask', { kbs: kbId, question: '投保人多少日内可以解除合同？' });
  assert.match(ok.json.answer, /十五日/);
  assert.ok(ok.json.citations.length >= 1);
  assert.deepEqual(ok.json.guard.verdicts.map((v: any) => `${v.stage}:${v.check}:${v.action}`), ['input:offtopic:allow', 'output:grounded:allow']);
  const log = await api('GET', `/v1/requests/${ok.json.id}`);
  assert.equal(log.json.source, 'knowledge');
  assert.equal(log.json.model, kbId);
  assert.equal((await api('POST', '/v1/feedback', { response_id: ok.json.id, label: 'right' })).status, 200);
  // the guard is read at answer time: removing it applies at once
  assert.equal((await api('PATCH', `/v1/knowledge/bases/${kbId}`, { guard: null })).status, 200);
  const free = await api('POST', '/v1/knowledge/ask', { kbs: kbId, question: '买什么股票好？' });
  assert.equal(free.json.guard, undefined);
  assert.notEqual(free.json.refused, true);
});
