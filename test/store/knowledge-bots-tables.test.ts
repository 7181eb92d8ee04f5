/**
 * Knowledge bases and bots in tables: one conformance suite run on the file repositories (the layout older data
 * folders hold) and on the table repositories over SQLite and PostgreSQL, so the move changes no behaviour; and an
 * older data folder (JSON files made by the file repositories through the real services: a statute ingested,
 * reviewed, chunked and embedded; a bot built, versioned, tested, approved and published) imported on a server's
 * start without loss, its files kept as a backup, nothing imported twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../../src/api/server.ts';
import { openDatabase } from '../../src/store/open-database.ts';
import { LocalArtifactStore } from '../../src/store/artifacts.ts';
import { stageTables } from '../../src/store/kysely-store.ts';
import { FileKnowledgeRepository, type KnowledgeRepository } from '../../src/knowledge/knowledge-repository.ts';
import { TableKnowledgeRepository, type KnowledgeTables } from '../../src/knowledge/knowledge-tables.ts';
import { KnowledgeService } from '../../src/knowledge/knowledge-service.ts';
import { HashEmbedder } from '../../src/knowledge/embed.ts';
import type { Chunk, ItemVersion, KnowledgeBase, KnowledgeItem } from '../../src/knowledge/knowledge-types.ts';
import { FileBotRepository, type BotRepository } from '../../src/bots/bot-repository.ts';
import { TableBotRepository, type BotTables } from '../../src/bots/bot-tables.ts';
import { BotService } from '../../src/bots/bot-service.ts';
import type { Bot, QaPair } from '../../src/bots/bot-types.ts';
import { testDatabases } from './test-databases.ts';

interface Repos { knowledge: KnowledgeRepository; bots: BotRepository; close(): Promise<void> }

/** The three implementations: files in a folder, tables on SQLite, tables on PostgreSQL. */
const impls: Array<{ name: string; skip: string | undefined; make(dir: string): Promise<Repos> }> = [
  { name: 'files', skip: undefined, make: async (dir) => ({ knowledge: new FileKnowledgeRepository(dir), bots: new FileBotRepository(dir), close: async () => {} }) },
  ...testDatabases.map((tdb) => ({
    name: `tables on ${tdb.name}`, skip: tdb.skip,
    async make(dir: string): Promise<Repos> {
      const { database, drop } = await tdb.make();
      const { db, store } = await openDatabase(dir, database).catch(async (e: unknown) => { await drop(); throw e; });
      return {
        knowledge: new TableKnowledgeRepository(stageTables<KnowledgeTables>(db), new LocalArtifactStore(dir)),
        bots: new TableBotRepository(stageTables<BotTables>(db)),
        close: async () => { await store.close(); await drop(); },
      };
    },
  })),
];

const kb = (id: string): KnowledgeBase => ({ id, name: `KB ${id}`, description: '', requireApproval: false, chunking: { maxChars: 400, overlap: 60, parentMaxChars: 1600 }, t2s: false, createdAt: 1, updatedAt: 1 });
const item = (id: string, docId: string, ordinal: number, version = 1, text = `text ${id} v${version}`): KnowledgeItem => ({
  id, kbId: 'k1', docId, ordinal, kind: 'article', number: ordinal, label: `第${ordinal}条`, path: ['第一章'], text, state: 'pending', tags: [], meta: { a: 1 }, version, updatedAt: version,
});
const change = (it: KnowledgeItem, action: ItemVersion['action'] = 'create'): ItemVersion => ({ itemId: it.id, version: it.version, at: it.updatedAt, actor: 'me', action, item: it });
const pair = (id: string, version = 1): QaPair => ({
  id, bot: 'b1', question: `问 ${id}`, paraphrases: ['p'], heldOut: [], answer: `答 ${id} v${version}`, source: { kbId: 'k1', docId: 'd1', itemId: 'i1' } as QaPair['source'],
  origin: 'rules', kind: 'faq', state: 'pending', version, updatedAt: version,
});
const bot = (name: string): Bot => ({ name, description: '', config: { kbId: 'k1', model: null, systemPrompt: '', temperature: 'precise', fallback: '抱歉', guard: null, minConfidence: 0.3, citations: 3 }, createdAt: 1, updatedAt: 1, published: null });

for (const impl of impls) {
  test(`knowledge repository (${impl.name}): bases, documents and originals, items with history, chunks, vectors, lexicon`, { skip: impl.skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-kr-'));
    const r = await impl.make(dir);
    try {
      const k = r.knowledge;
      await k.putKb(kb('k2'));
      await k.putKb(kb('k1'));
      await k.putKb({ ...kb('k1'), name: 'renamed' });
      assert.deepEqual((await k.listKbs()).map((x) => [x.id, x.name]), [['k1', 'renamed'], ['k2', 'KB k2']]);
      assert.equal(await k.getKb('none'), null);
      await assert.rejects(k.getKb('../x'), /invalid knowledge base id/);

      const doc = (id: string) => ({ id, kbId: 'k1', filename: `${id}.md`, format: 'md' as const, title: id, sha256: 'h', bytes: 3, createdAt: 1, units: 1, statute: true });
      await k.putDocument(doc('d1'), new Uint8Array([1, 2, 3]));
      await k.putDocument(doc('d2'), new TextEncoder().encode('第一条'));
      await k.putDocument({ ...doc('d1'), title: 'again' }, new Uint8Array([4]));
      assert.deepEqual((await k.listDocuments('k1')).map((d) => [d.id, d.title]), [['d2', 'd2'], ['d1', 'again']], 'a document put again moves to the end');
      assert.deepEqual([...(await k.getOriginal('k1', 'd1'))!], [4]);
      assert.equal(await k.getOriginal('k1', 'nope'), null);
      await assert.rejects(k.putDocument(doc('../evil'), new Uint8Array()), /invalid document id/);

      const a1 = item('a', 'd2', 2), b1 = item('b', 'd1', 1), c1 = item('c', 'd2', 1);
      await k.putItems('k1', [change(a1), change(b1), change(c1)]);
      const a2 = item('a', 'd2', 2, 2, 'edited');
      await k.putItems('k1', [change(a2, 'edit')]);
      await k.putItems('k1', []);
      assert.deepEqual((await k.listItems('k1')).map((i) => i.id), ['b', 'c', 'a'], 'by document, then ordinal');
      assert.equal((await k.getItem('k1', 'a'))!.text, 'edited');
      assert.equal(await k.getItem('k1', 'zz'), null);
      assert.deepEqual((await k.itemHistory('k1', 'a')).map((v) => [v.version, v.action]), [[1, 'create'], [2, 'edit']]);

      assert.equal(await k.listChunks('k1'), null, 'never built');
      const chunk = (id: string): Chunk => ({ id, kbId: 'k1', docId: 'd1', itemId: 'b', role: 'child', label: 'x', path: [], docTitle: 'd1', text: id, start: 0, end: 1, tags: [], meta: {} });
      assert.equal(await k.chunksRevision('k1'), 0, 'revision 0: never built');
      const r1 = await k.putChunks('k1', [chunk('c2'), chunk('c1')]);
      assert.deepEqual((await k.listChunks('k1'))!.map((c) => c.id), ['c2', 'c1']);
      assert.equal(await k.chunksRevision('k1'), r1);
      if (impl.name === 'files') await new Promise((r) => setTimeout(r, 5)); // (a file's revision is its mtime)
      const r2 = await k.putChunks('k1', []);
      assert.deepEqual(await k.listChunks('k1'), [], 'built, empty');
      assert.ok(r1 > 0 && r2 !== r1, `each write a new revision: ${r1} then ${r2}`);

      const vectors = new Float32Array([1, 2, 3, 4, 5, 6]);
      await k.putVectors('k1', { model: 'org/embed:v1', dims: 3, ids: ['c1', 'c2'], vectors });
      const v = (await k.getVectors('k1', 'org/embed:v1'))!;
      assert.deepEqual([v.model, v.dims, v.ids, [...v.vectors]], ['org/embed:v1', 3, ['c1', 'c2'], [1, 2, 3, 4, 5, 6]]);
      assert.equal(await k.getVectors('k1', 'other'), null);

      assert.equal(await k.getLexicon('k1'), null);
      await k.putLexicon('k1', '保险人\n投保人\n');
      assert.equal(await k.getLexicon('k1'), '保险人\n投保人\n');

      await k.deleteKb('k1');
      assert.equal(await k.getKb('k1'), null);
      assert.deepEqual(await k.listItems('k1'), []);
      assert.deepEqual(await k.listDocuments('k1'), []);
      assert.equal(await k.getOriginal('k1', 'd1'), null);
      assert.deepEqual((await k.listKbs()).map((x) => x.id), ['k2']);
    } finally {
      await r.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`bot repository (${impl.name}): bots, pairs with history, versions, reports, approvals`, { skip: impl.skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-br-'));
    const r = await impl.make(dir);
    try {
      const b = r.bots;
      await b.putBot(bot('zeta'));
      await b.putBot(bot('b1'));
      await b.putBot({ ...bot('b1'), description: 'd' });
      assert.deepEqual((await b.listBots()).map((x) => [x.name, x.description]), [['b1', 'd'], ['zeta', '']]);
      assert.equal(await b.getBot('none'), null);
      await assert.rejects(b.getBot('../x'), (e: Error & { status?: number }) => e.status === 404);

      await b.putPairs('b1', [{ at: 1, actor: 'x', action: 'create', pair: pair('p1') }, { at: 1, actor: 'x', action: 'create', pair: pair('p2') }, { at: 1, actor: 'x', action: 'create', pair: pair('p3') }]);
      await b.putPairs('b1', [{ at: 2, actor: 'y', action: 'edit', pair: pair('p1', 2) }, { at: 2, actor: 'y', action: 'delete', pair: pair('p2') }]);
      await b.putPairs('b1', [{ at: 3, actor: 'y', action: 'create', pair: pair('p2', 3) }]);
      assert.deepEqual((await b.listPairs('b1')).map((p) => [p.id, p.version]), [['p1', 2], ['p3', 1], ['p2', 3]], 'an edit keeps its place; a deleted pair made again comes last');
      assert.deepEqual((await b.pairHistory('b1', 'p2')).map((c) => c.action), ['create', 'delete', 'create']);
      assert.deepEqual(await b.listPairs('zeta'), []);

      const version = (n: number) => ({ bot: 'b1', version: n, createdAt: n, config: bot('b1').config, pairs: [pair('p1')], status: 'draft' as const, approvedReport: null });
      await b.putVersion(version(2));
      await b.putVersion(version(1));
      await b.putVersion({ ...version(1), status: 'tested' });
      assert.deepEqual((await b.listVersions('b1')).map((v) => [v.version, v.status]), [[1, 'tested'], [2, 'draft']]);
      assert.equal(await b.getVersion('b1', 3), null);
      assert.equal(await b.getVersion('b1', 1.5), null);

      const report = (id: string, createdAt: number) => ({ id, bot: 'b1', version: 1, createdAt, approval: null } as unknown as Parameters<BotRepository['putReport']>[0]);
      await b.putReport(report('r-b', 5));
      await b.putReport(report('r-a', 5));
      await b.putReport(report('r-0', 9));
      assert.deepEqual((await b.listReports('b1')).map((x) => x.id), ['r-a', 'r-b', 'r-0']);
      assert.equal((await b.getReport('b1', 'r-a'))!.createdAt, 5);
      assert.equal(await b.getReport('b1', '../r'), null);

      await b.appendApproval('b1', { at: 1, by: 'carol', action: 'approve-report', version: 1, report: 'r-a' });
      await b.appendApproval('b1', { at: 2, by: 'carol', action: 'publish', version: 1 });
      assert.deepEqual((await b.listApprovals('b1')).map((a) => a.action), ['approve-report', 'publish']);

      await b.deleteBot('b1');
      assert.equal(await b.getBot('b1'), null);
      assert.deepEqual([await b.listPairs('b1'), await b.listVersions('b1'), await b.listApprovals('b1')], [[], [], []]);
    } finally {
      await r.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const STATUTE = [
  '# 中华人民共和国示例法', '', '## 第一章 总则', '',
  '第一条 为了规范示例活动，保护当事人的合法权益，制定本法。', '',
  '第二条 经营者应当在收到投诉之日起七日内答复消费者。', '',
  '第三条 经营者提供商品有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失，增加赔偿的金额为价款的三倍。', '',
].join('\n');

/** Everything a knowledge base and a bot hold, read through the repository interfaces. */
async function snapshot(k: KnowledgeRepository, b: BotRepository): Promise<unknown> {
  const kbs = [];
  for (const x of await k.listKbs()) {
    const items = await k.listItems(x.id);
    const docs = await k.listDocuments(x.id);
    kbs.push({
      kb: x, docs, items, lexicon: await k.getLexicon(x.id), chunks: await k.listChunks(x.id),
      originals: await Promise.all(docs.map(async (d) => Buffer.from((await k.getOriginal(x.id, d.id))!).toString('base64'))),
      history: await Promise.all(items.map((i) => k.itemHistory(x.id, i.id))),
      vectors: await k.getVectors(x.id, new HashEmbedder(64).name).then((v) => v && { ...v, vectors: [...v.vectors] }),
    });
  }
  const bots = [];
  for (const x of await b.listBots()) {
    const pairs = await b.listPairs(x.name);
    bots.push({
      bot: x, pairs, history: await Promise.all(pairs.map((p) => b.pairHistory(x.name, p.id))),
      versions: await b.listVersions(x.name), reports: await b.listReports(x.name), approvals: await b.listApprovals(x.name),
    });
  }
  return { kbs, bots };
}

for (const tdb of testDatabases) {
  test(`an older data folder's knowledge and bot JSON files are imported on start (${tdb.name}), kept as a backup, once`, { skip: tdb.skip, timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-import-'));
    const { database, drop } = await tdb.make();
    try {
      // the old layout, written by the file repositories through the services, as an older server did
      const fk = new FileKnowledgeRepository(dir), fb = new FileBotRepository(dir);
      const knowledge = new KnowledgeService(fk, { embedder: new HashEmbedder(64) });
      const bots = new BotService(fb, knowledge);
      const built = await bots.build({ name: 'law', filename: 'law.md', data: new TextEncoder().encode(STATUTE), approveAll: true, lexicon: '经营者\n消费者\n' });
      assert.ok(built.pairs > 0);
      await knowledge.review(built.kbId, [(await knowledge.listItems(built.kbId))[0]!.id], { action: 'edit', text: '为了规范示例活动，制定本法。', note: 'shorter' }, 'alice');
      await knowledge.rebuild(built.kbId);
      const version = built.version ?? await bots.createVersion('law');
      const rep = await bots.test('law', { version: version.version });
      await bots.decide('law', rep.id, 'approved', 'carol');
      await bots.publish('law', version.version, 'carol');
      const before = await snapshot(fk, fb);
      assert.ok(((before as { kbs: Array<{ vectors: unknown; chunks: unknown[] }> }).kbs[0]!.vectors), 'the old folder has vectors');

      const srv = await createServer({ dataDir: dir, database, adminKey: 'sk-mf-test-admin-key-0123456789abcdef', serve: { warm: false } });
      try {
        assert.deepEqual(await snapshot(srv.knowledge.repo, srv.bots.repo), before);
      } finally { await srv.close(); }
      assert.ok(!existsSync(join(dir, 'knowledge')) && !existsSync(join(dir, 'bots')), 'the JSON folders are moved away');
      assert.ok(existsSync(join(dir, 'knowledge.imported-json', built.kbId, 'kb.json')) && existsSync(join(dir, 'bots.imported-json', 'law', 'bot.json')), 'and kept as a backup');

      // a second start imports nothing and finds everything
      const again = await createServer({ dataDir: dir, database, adminKey: 'sk-mf-test-admin-key-0123456789abcdef', serve: { warm: false } });
      try {
        assert.deepEqual(await snapshot(again.knowledge.repo, again.bots.repo), before);
        assert.ok(!existsSync(join(dir, 'knowledge.imported-json-1')));
      } finally { await again.close(); }
    } finally {
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const tdb of testDatabases) {
  test(`knowledge on ${tdb.name} shared by two servers: a document one adds is found by the other's search`, { skip: tdb.skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-kb2-'));
    const { database, drop } = await tdb.make();
    const one = await openDatabase(dir, database);
    const two = await openDatabase(dir, database);
    try {
      const service = (db: typeof one.db) => new KnowledgeService(new TableKnowledgeRepository(stageTables<KnowledgeTables>(db), new LocalArtifactStore(dir)));
      const a = service(one.db), b = service(two.db);
      const base = await a.createKb({ name: 'shared' });
      await a.ingest(base.id, 'first.md', new TextEncoder().encode('# Returns\n\nGoods may be returned within seven days of delivery.'));
      const hit = (r: Awaited<ReturnType<KnowledgeService['search']>>, word: string) => r.results.some((x) => x.text.includes(word));
      assert.ok(hit(await b.search(base.id, 'returned within seven days'), 'seven days'), 'the other server finds the first document');
      await a.ingest(base.id, 'second.md', new TextEncoder().encode('# Warranty\n\nThe warranty lasts twenty-four months.'));
      assert.ok(hit(await b.search(base.id, 'warranty months'), 'twenty-four'), 'and the one added after its index was built');
    } finally {
      await one.store.close(); await two.store.close();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
