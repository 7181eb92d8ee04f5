/**
 * No request body makes the server answer 500: with an admin key (which passes every rule), every POST, PUT, PATCH
 * and DELETE route of the authorization table (src/api/authz.ts) gets no body, `{}`, `[]`, `null`, scalars, and a
 * plausible body with each field in turn of a wrong type or an inherited property name (`constructor`,
 * `__proto__`); each answer must be below 500. Then the findings one by one: attribution without `kbs`, a
 * duplicate knowledge-base name, a built-in lexicon named `constructor`, the feedback list's query of wrong values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROUTE_ACCESS } from '../../src/api/authz.ts';
import { ADMIN_KEY, startServer } from './helpers.ts';

const BASE: Record<string, unknown> = {
  name: 'fz', text: 'hello', query: 'hello', question: 'hello', kbs: ['kb1'], kb: 'kb1', model: 'm', format: 'sft', status: 'accepted',
  filename: 'a.md', input: 'hi', messages: [{ role: 'user', content: 'hi' }], prompt: 'hi', checks: [{ kind: 'keywords', words: ['x'] }], lexicon_name: 'insurance-zh',
};
const WRONG: unknown[] = [1, [], {}, null, 'constructor', '__proto__'];

function bodies(): Array<string | undefined> {
  const out: Array<string | undefined> = [undefined, '{}', '[]', 'null', '"s"', '42', 'true', JSON.stringify(BASE)];
  for (const f of Object.keys(BASE)) for (const w of WRONG) out.push(JSON.stringify({ ...BASE, [f]: w }));
  return out;
}

test('every write route of the authorization table answers malformed bodies below 500', { timeout: 600_000 }, async () => {
  const { url, stop } = await startServer();
  const send = async (method: string, path: string, body?: string) => {
    const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body });
    return { status: r.status, text: await r.text() };
  };
  try {
    assert.equal((await send('POST', '/v1/knowledge/bases', JSON.stringify({ name: 'kb1' }))).status, 200);
    const failures: string[] = [];
    const routes = Object.keys(ROUTE_ACCESS).filter((k) => /^(POST|PUT|PATCH|DELETE) /.test(k));
    assert.ok(routes.length > 40, 'the table lists the write routes');
    for (const key of routes) {
      const [method, pattern] = key.split(' ');
      const path = pattern.replace(/:(id|name|item)/g, 'kb1').replace('*', 'kb1');
      for (const b of bodies()) {
        const r = await send(method, path, b);
        if (r.status >= 500) failures.push(`${method} ${path} ${b ?? '(no body)'} -> ${r.status}`);
      }
    }
    assert.deepEqual(failures, []);
  } finally {
    await stop();
  }
});

test('attribution without kbs, a duplicate knowledge base, a lexicon named constructor: 4xx naming the field', { timeout: 60_000 }, async () => {
  const { url, stop } = await startServer();
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as any };
  };
  try {
    const noKbs = await api('POST', '/v1/knowledge/attribute', { text: '退货期限是七天。' });
    assert.equal(noKbs.status, 400, JSON.stringify(noKbs.json));
    assert.equal(noKbs.json.error.param, 'kbs');
    assert.equal((await api('POST', '/v1/knowledge/attribute', { text: 'x', kbs: 5 })).json.error.param, 'kbs');
    assert.equal((await api('POST', '/v1/knowledge/attribute', {})).status, 400);
    assert.equal((await api('POST', '/v1/knowledge/bases', { name: '售后 FAQ', id: 'faq' })).status, 200);
    const dup = await api('POST', '/v1/knowledge/bases', { name: '售后 FAQ', id: 'faq' });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.error.code, 'already_exists');
    for (const name of ['constructor', '__proto__', 'toString']) {
      const b = await api('POST', '/v1/bots/build', { name: `b-${name.replace(/_/g, '')}`, filename: 'faq.md', text: '# FAQ\n\n退货期限是多久？\n\n七天。', lexicon_name: name });
      assert.equal(b.status, 400, `${name}: ${JSON.stringify(b.json)}`);
      assert.match(b.json.error.message, /no built-in lexicon/);
    }
    const bot = await api('POST', '/v1/bots', { name: 1, kb: 'faq' });
    assert.equal(bot.status, 400);
    assert.equal(bot.json.error.param, 'name');
    const exp = await api('POST', '/v1/feedback/export', { format: 'sft', model: [] });
    assert.equal(exp.status, 400);
    assert.equal(exp.json.error.param, 'model');
    for (const [q, param] of [['limit=abc', 'limit'], ['limit=0', 'limit'], ['status=constructor', 'status'], ['kind=__proto__', 'kind']]) {
      const r = await fetch(`${url}/v1/feedback?${q}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      assert.equal(r.status, 400, q);
      assert.equal(((await r.json()) as any).error.param, param, q);
    }
    const traversal = await api('POST', '/v1/feedback/export', { format: 'sft', dataset: 7 });
    assert.equal(traversal.json.error.param, 'dataset');
  } finally {
    await stop();
  }
});
