// The service over the file repository: ingest -> review (versions, approval gate) -> rebuild -> search with scope;
// chat search (extractive fallback, "not found"), attribution of free text, and the OpenAI-compatible embedder and
// chat generator against a local mock server on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { FileKnowledgeRepository } from '../../src/knowledge/knowledge-repository.ts';
import { AccessDeniedError, KnowledgeService, builtinLexicon } from '../../src/knowledge/knowledge-service.ts';
import { OpenAIEmbedder, HashEmbedder } from '../../src/knowledge/embed.ts';
import { OpenAIChatGenerator } from '../../src/knowledge/answer-generator.ts';
import { CPL, CPL_PATH } from './quality.ts';
import { needsShared } from '../shared-data.ts';

test('a statute\'s preamble is kept on the document, not as an item; items of an older ingest that are no unit any more are rejected with the reason', needsShared(CPL), async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kf-'));
  try {
    const repo = new FileKnowledgeRepository(dir);
    const svc = new KnowledgeService(repo);
    await svc.createKb({ id: 'cpl', name: 'CPL' });
    const { document, items } = await svc.ingest('cpl', 'consumer-protection-law-zh.md', readFileSync(CPL_PATH));
    assert.equal(document.units, 63);
    assert.equal(items.length, 63);
    assert.equal(document.meta!.passedBy, '第八届全国人民代表大会常务委员会第四次会议');
    assert.deepEqual((await svc.listDocuments('cpl'))[0]!.meta, document.meta);
    // an item an older version made of the preamble (one more ordinal than there are units now)
    const stale = { ...items[0]!, id: `${document.id}-0063`, ordinal: 63, kind: 'section' as const, number: undefined, label: '中华人民共和国消费者权益保护法', text: '1993年10月31日 第八届全国人民代表大会常务委员会第四次会议通过' };
    await repo.putItems('cpl', [{ itemId: stale.id, version: 1, at: 1, actor: 'old', action: 'create', item: stale }]);
    await svc.ingest('cpl', 'consumer-protection-law-zh.md', readFileSync(CPL_PATH));
    const after = await svc.getItem('cpl', stale.id);
    assert.equal(after.state, 'rejected');
    assert.match((await svc.history('cpl', stale.id)).at(-1)!.note!, /no longer a unit/);
    assert.equal((await svc.listItems('cpl')).filter((i) => i.state !== 'rejected').length, 63);
    assert.ok((await svc.search('cpl', '第八届全国人民代表大会常务委员会', { k: 5 })).results.every((r) => r.itemId !== stale.id));
    // a question in English finds the Chinese article: the bilingual dictionary is attached on the index's first search
    const a25 = items.find((i) => i.number === 25)!;
    const en = await svc.search('cpl', 'can I return goods bought online within seven days without giving a reason', { k: 3 });
    assert.ok(en.results.some((r) => r.itemId === a25.id), JSON.stringify(en.results.map((r) => r.label)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ingest, review with versions, approval gate, rebuild, scoped search, ask, attribute', needsShared(CPL), async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kf-'));
  try {
    const svc = new KnowledgeService(new FileKnowledgeRepository(dir));
    await svc.createKb({ id: 'cpl', name: 'CPL', requireApproval: true, lexicon: builtinLexicon('consumer-zh') });
    const { document, items } = await svc.ingest('cpl', 'consumer-protection-law-zh.md', readFileSync(CPL_PATH));
    assert.equal(items.filter((i) => i.kind === 'article').length, 63);
    assert.ok(document.statute);
    // nothing approved yet: nothing served
    assert.equal((await svc.search('cpl', '七天无理由退货')).results.length, 0);
    await svc.review('cpl', items.map((i) => i.id), { action: 'approve' }, 'alice');
    const a25 = items.find((i) => i.number === 25)!;
    let r = await svc.search('cpl', '网上购物的衣服七天内能退货吗', { k: 3 });
    assert.equal(r.results[0]!.itemId, a25.id);
    assert.equal(r.mode, 'lexical');
    // reject -> gone; edit + tag -> versions
    await svc.review('cpl', [a25.id], { action: 'reject', note: 'test' }, 'bob');
    r = await svc.search('cpl', '网上购物的衣服七天内能退货吗', { k: 3 });
    assert.ok(r.results.every((x) => x.itemId !== a25.id));
    await svc.review('cpl', [a25.id], { action: 'approve' }, 'bob');
    await svc.review('cpl', [a25.id], { action: 'tag', add: ['退货'] }, 'bob');
    await svc.review('cpl', [a25.id], { action: 'meta', set: { topic: 'returns' } }, 'bob');
    const hist = await svc.history('cpl', a25.id);
    assert.deepEqual(hist.map((h) => h.action), ['create', 'approve', 'reject', 'approve', 'tag', 'meta']);
    assert.deepEqual(hist.map((h) => h.version), [1, 2, 3, 4, 5, 6]);
    const f = await svc.search('cpl', '退货', { filter: { tags: ['退货'], meta: { topic: 'returns' } } });
    assert.deepEqual(f.results.map((x) => x.itemId), [a25.id]);
    // a fresh service (another process) reads persisted chunks
    const svc2 = new KnowledgeService(new FileKnowledgeRepository(dir));
    assert.equal((await svc2.search('cpl', '网上购物的衣服七天内能退货吗')).results[0]!.itemId, a25.id);
    // scope
    await assert.rejects(svc2.search('cpl', '退货', { scope: { kbs: ['other'] } }), AccessDeniedError);
    // chat search (extractive) with citations and attribution
    const ans = await svc2.ask('cpl', '网上购物的衣服七天内能退货吗');
    assert.ok(ans.found);
    assert.match(ans.answer, /\[1\]/);
    assert.equal(ans.citations.find((c) => c.ref === 1)!.itemId, a25.id);
    assert.equal(ans.attribution!.unsupported, 0);
    const none = await svc2.ask('cpl', '火星上的天气怎么样');
    assert.ok(!none.found);
    assert.match(none.answer, /没有找到/);
    const att = await svc2.attribute('cpl', '网购的商品七日内可以无理由退货。退货的运费由电商平台统一补贴。');
    assert.deepEqual(att.sentences.map((s) => s.supported), [true, false]);
    // rebuild is idempotent
    const rb = await svc2.rebuild('cpl');
    assert.equal(rb.items, 63); // the 63 articles (the preamble is document metadata)
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('OpenAI-compatible embedder and chat generator (local mock), hybrid search with vectors persisted', needsShared(CPL), async () => {
  const hash = new HashEmbedder(32);
  let embedCalls = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const j = JSON.parse(body);
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v1/embeddings') {
        embedCalls++;
        const vs = await hash.embed(j.input);
        res.end(JSON.stringify({ data: vs.map((v, index) => ({ index, embedding: [...v] })) }));
      } else if (req.url === '/v1/chat/completions') {
        const user = j.messages.at(-1).content as string;
        res.end(JSON.stringify({ choices: [{ message: { content: user.includes('[1]') ? '消费者收到商品之日起七日内可以退货[1]。' : '资料中没有找到相关内容' } }] }));
      } else { res.statusCode = 404; res.end('{}'); }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'kf-'));
  try {
    const base = `http://127.0.0.1:${port}`;
    const mk = () => new KnowledgeService(new FileKnowledgeRepository(dir), {
      embedder: new OpenAIEmbedder({ baseUrl: base, model: 'mock' }), generator: new OpenAIChatGenerator({ baseUrl: base, model: 'mock' }),
    });
    const svc = mk();
    await svc.createKb({ id: 'k', name: 'K', lexicon: builtinLexicon('consumer-zh') });
    await svc.ingest('k', 'cpl.md', readFileSync(CPL_PATH));
    const r = await svc.search('k', '七天无理由退货', { mode: 'hybrid' });
    assert.equal(r.mode, 'hybrid');
    assert.ok(r.results[0]!.denseScore !== undefined || r.results.some((x) => x.denseScore !== undefined));
    const calls = embedCalls;
    await mk().search('k', '退货'); // second process: vectors come from disk, only the query is embedded
    assert.equal(embedCalls, calls + 1);
    const ans = await svc.ask('k', '网上购物的东西七天内能退货吗');
    assert.equal(ans.generator, 'openai:mock');
    assert.ok(ans.citations.some((c) => c.cited && c.ref === 1));
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
