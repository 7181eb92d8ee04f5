/**
 * /v1/knowledge over HTTP: create a knowledge base, upload the consumer-protection law, list its 63 article items,
 * search, ask with citations, check attribution of a planted sentence, review an item; keys scoped to other
 * knowledge bases get 403.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_KEY, SHARED, startServer } from './helpers.ts';
import { hashApiKey } from '../../src/util/api-key.ts';
import { needsShared } from '../shared-data.ts';

test('knowledge bases, documents, items, search, ask and attribution over HTTP', needsShared('laws/consumer-protection-law-zh.md'), async () => {
  const { srv, url, stop } = await startServer();
  try {
    const call = async (method: string, path: string, body?: unknown, key = ADMIN_KEY) => {
      const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as any };
    };
    const kb = await call('POST', '/v1/knowledge/bases', { name: '消费者权益保护法' });
    assert.equal(kb.status, 200, JSON.stringify(kb.json));
    const id = kb.json.id as string;
    const text = readFileSync(join(SHARED, 'laws', 'consumer-protection-law-zh.md'));
    const up = await call('POST', `/v1/knowledge/bases/${id}/documents`, { filename: 'consumer-protection-law-zh.md', base64: text.toString('base64') });
    assert.equal(up.status, 200, JSON.stringify(up.json));
    const items = await call('GET', `/v1/knowledge/bases/${id}/items`);
    assert.equal(items.json.data.filter((i: { label: string }) => /^第.+条$/.test(i.label)).length, 63);
    const hits = await call('POST', '/v1/knowledge/search', { kbs: [id], query: '网上购物的东西七天内能退货吗', k: 3 });
    assert.equal(hits.status, 200);
    assert.ok(hits.json.results.some((h: { label: string }) => h.label === '第二十五条'), JSON.stringify(hits.json.results.map((h: { label: string }) => h.label)));
    const ask = await call('POST', '/v1/knowledge/ask', { kbs: [id], question: '网上购物的东西七天内能退货吗？' });
    assert.equal(ask.status, 200);
    assert.ok(ask.json.citations.length > 0);
    const attr = await call('POST', '/v1/knowledge/attribute', { kbs: [id], text: '经营者提供商品或者服务有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失。火星上的商店不受本法约束。' });
    assert.equal(attr.status, 200);
    assert.ok(attr.json.sentences.some((s: { supported: boolean; text: string }) => !s.supported && /火星/.test(s.text)), JSON.stringify(attr.json.sentences));
    const first = items.json.data[0].id as string;
    const rev = await call('POST', `/v1/knowledge/bases/${id}/items/review`, { ids: [first], action: 'approve' });
    assert.equal(rev.json.data[0].state, 'approved');
    // A user key scoped to another knowledge base.
    const scopedKey = 'sk-mf-scoped-0123456789abcdef0123';
    await srv.store.apiKeys.insert({
      id: 'key-scoped', name: 'scoped', hash: hashApiKey(scopedKey), prefix: scopedKey.slice(0, 10), role: 'user', created_at: 0,
      last_used_at: null, revoked_at: null, scopes: JSON.stringify({ knowledge: ['kb-other'] }),
    });
    assert.equal((await call('POST', '/v1/knowledge/search', { kbs: [id], query: '退货' }, scopedKey)).status, 403);
    assert.deepEqual((await call('GET', '/v1/knowledge/bases', undefined, scopedKey)).json.data, []);
    const missing = await call('GET', '/v1/knowledge/bases/nope');
    assert.equal(missing.status, 404);
  } finally {
    await stop();
  }
});
