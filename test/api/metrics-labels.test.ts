/**
 * /metrics stays bounded whatever clients send: a request naming a model the gateway does not know (a 100 KB name,
 * quotes, newlines) counts under model="unknown"; label values are cut and escaped; past the cap of distinct model
 * labels, names count under "other".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY, startServer } from './helpers.ts';
import { labelValue, MAX_LABEL_CHARS, MAX_MODELS, Metrics } from '../../src/serve/prometheus.ts';

test('a chat or embeddings request for an unknown model adds no label: it counts under model="unknown"', { timeout: 60_000 }, async () => {
  const { url, stop } = await startServer();
  try {
    const before = (await (await fetch(`${url}/metrics`)).text()).length;
    const huge = 'm'.repeat(100 * 1024) + '"\n}';
    for (const [path, body] of [
      ['/v1/chat/completions', { model: huge, messages: [{ role: 'user', content: 'hi' }] }],
      ['/v1/completions', { model: 'no-such-model-2', prompt: 'hi' }],
      ['/v1/embeddings', { model: 'no-such-model-3', input: 'hi' }],
    ] as const) {
      const r = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(r.status, 404, path);
    }
    const m = await (await fetch(`${url}/metrics`)).text();
    assert.ok(!m.includes('mmmmmmmm'), 'the unknown name is not a label');
    assert.ok(!m.includes('no-such-model'), 'the unknown name is not a label');
    assert.match(m, /modelfab_requests_total\{model="unknown",endpoint="chat.completions",status="404"\} 1/);
    assert.match(m, /modelfab_requests_total\{model="unknown",endpoint="completions",status="404"\} 1/);
    assert.match(m, /modelfab_requests_total\{model="unknown",endpoint="embeddings",status="404"\} 1/);
    assert.ok(m.length < before + 4096, `the page grew by ${m.length - before} bytes`);
  } finally {
    await stop();
  }
});

test('label values are cut to MAX_LABEL_CHARS and escaped; distinct model labels are capped', () => {
  assert.equal(labelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const long = labelValue('模'.repeat(1000));
  assert.equal([...long].length, MAX_LABEL_CHARS);
  assert.ok(long.endsWith('…'));
  const m = new Metrics();
  m.request('x'.repeat(100_000), 'chat.completions', 200, 0.1);
  for (let i = 0; i < MAX_MODELS + 50; i++) m.request(`model-${i}`, 'chat.completions', 200, 0.1);
  const t = m.render();
  assert.ok(!t.includes('x'.repeat(MAX_LABEL_CHARS)), 'a long name is cut');
  assert.ok(t.includes(`model-${MAX_MODELS - 2}"`));
  assert.ok(!t.includes(`model-${MAX_MODELS - 1}"`), 'past the cap');
  assert.match(t, /modelfab_requests_total\{model="other",endpoint="chat.completions",status="200"\} 51/);
});
