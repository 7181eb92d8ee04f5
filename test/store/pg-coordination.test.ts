// Coordination over PostgreSQL: one leader per schema, presence released when a server's connection dies (as on
// kill -9), leadership taken over, notices between servers; SQLite's sole coordination always leads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pgCoordination } from '../../src/store/pg-coordination.ts';
import { soleCoordination } from '../../src/store/coordination.ts';
import { databaseTarget } from '../../src/store/database-url.ts';
import { freshPostgres, noPostgres } from './test-databases.ts';

const coordinationOf = (url: string) => {
  const t = databaseTarget(url);
  if (t.kind !== 'postgres') throw new Error('postgres URL expected');
  return pgCoordination({ connectionString: t.url, schema: t.schema });
};

const until = async (what: string, f: () => boolean) => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(f(), what);
};

test('postgres coordination: one leader, presence, take-over when the leader dies, notices, schemas apart', { skip: noPostgres }, async () => {
  const db = await freshPostgres();
  const elsewhere = await freshPostgres();
  const a = coordinationOf(db.url), b = coordinationOf(db.url), c = coordinationOf(elsewhere.url);
  try {
    await a.join('host/1/a');
    await b.join('host/2/b');
    await c.join('host/3/c');
    assert.equal(await a.lead(), true, 'the first to ask leads');
    assert.equal(await b.lead(), false, 'a second server on the same schema does not');
    assert.equal(await a.lead(), true, 'the leader keeps leading');
    assert.equal(await c.lead(), true, 'a server on another schema leads its own');
    assert.equal(await b.alive('host/1/a'), true);
    assert.equal(await a.alive('host/2/b'), true);
    assert.equal(await b.alive('host/9/never'), false, 'a server that never joined is not present');

    let heard = 0, heardElsewhere = 0;
    b.onNotice(() => { heard++; });
    c.onNotice(() => { heardElsewhere++; });
    a.notify();
    await until('b hears a notice from a', () => heard === 1);

    // the leader's connection dies (what kill -9 does): its presence and its leadership go with it
    await a.close();
    assert.equal(await b.alive('host/1/a'), false, 'a dead server is seen as gone');
    assert.equal(await b.lead(), true, 'and its leadership is taken over');
    assert.equal(heardElsewhere, 0, 'notices stay within their schema');

    // a graceful stop resigns: another server leads on its next try
    const d = coordinationOf(db.url);
    await d.join('host/4/d');
    assert.equal(await d.lead(), false);
    await b.resign();
    assert.equal(await d.lead(), true);
    await d.close();
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
    await db.drop();
    await elsewhere.drop();
  }
});

test('sole coordination: always the leader, cannot tell presence, notices reach this process', async () => {
  const s = soleCoordination();
  await s.join('me');
  assert.equal(await s.lead(), true);
  assert.equal(await s.alive('other'), undefined);
  let n = 0;
  s.onNotice(() => { n++; });
  s.notify();
  assert.equal(n, 1);
  await s.close();
});
