/**
 * The control and factory tables behind their repositories, on SQLite and on PostgreSQL: named guard policies,
 * feedback items (numbered under concurrent writers, filters, the cursor both ways, review, what exports read) and
 * experiments (newest first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/open-database.ts';
import { stageTables } from '../../src/store/kysely-store.ts';
import { GuardPolicyStore, type GuardPolicyTables } from '../../src/control/guard-policies.ts';
import { kyselyFeedbackRepository, type FeedbackTable, type FeedbackTables } from '../../src/control/feedback-repository.ts';
import { kyselyExperimentRepository, type FactoryTables } from '../../src/factory/kysely-jobs.ts';
import { testDatabases } from './test-databases.ts';

const item = (id: string, over: Partial<FeedbackTable> = {}): Omit<FeedbackTable, 'seq'> => ({
  id, created_at: 1_000, response_id: null, model: 'm', source: 'api', prompt: '[]', answer: 'a', label: null, rating: null, correction: null,
  preferred: null, annotator: null, status: 'pending', reviewer: null, reviewed_at: null, note: null, ...over,
});

for (const tdb of testDatabases) {
  test(`control and experiment tables on ${tdb.name}`, { skip: tdb.skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-ctl-'));
    const { database, drop } = await tdb.make();
    const { store, db } = await openDatabase(dir, database).catch(async (e: unknown) => { await drop(); throw e; });
    try {
      let t = 5_000;
      const policies = new GuardPolicyStore(stageTables<GuardPolicyTables>(db), () => t);
      await policies.putPolicy('strict', { checks: [{ kind: 'pii' }] });
      t = 9_000;
      await policies.putPolicy('strict', { checks: [] });
      await policies.putPolicy('a-first', { checks: [] });
      assert.deepEqual(await policies.listPolicies(), [{ name: 'a-first', updated_at: 9, policy: { checks: [] } }, { name: 'strict', updated_at: 9, policy: { checks: [] } }]);
      assert.equal(await policies.getPolicyText('strict'), '{"checks":[]}');
      assert.equal(await policies.deletePolicy('strict'), true);
      assert.equal(await policies.deletePolicy('strict'), false);

      const fb = kyselyFeedbackRepository(stageTables<FeedbackTables>(db));
      const made = await Promise.all(Array.from({ length: 10 }, (_, i) => fb.insert(item(`f${i}`, i % 3 === 0 ? { rating: 5 } : { label: 'right' }))));
      assert.equal(new Set(made.map((r) => r.seq)).size, 10, 'concurrent writers get distinct numbers');
      const order = [...made].sort((a, b) => a.seq - b.seq).map((r) => r.id);
      const page = await fb.list({ limit: 4, order: 'asc' });
      assert.deepEqual([page.rows.map((r) => r.id), page.has_more], [order.slice(0, 4), true]);
      assert.deepEqual((await fb.list({ limit: 100, order: 'asc', after: order[3] })).rows.map((r) => r.id), order.slice(4));
      assert.deepEqual((await fb.list({ limit: 2, order: 'desc', after: order[3] })).rows.map((r) => r.id), [order[2], order[1]]);
      assert.deepEqual((await fb.list({ limit: 100, order: 'asc', kind: 'rating' })).rows.map((r) => r.id).sort(), ['f0', 'f3', 'f6', 'f9']);
      await fb.update('f3', { status: 'accepted', reviewer: 'carol', reviewed_at: 7, note: 'ok' });
      await fb.update('f6', { status: 'rejected' });
      const f3 = (await fb.get('f3'))!;
      assert.deepEqual([f3.status, f3.reviewer, f3.reviewed_at, f3.rating, typeof f3.seq], ['accepted', 'carol', 7, 5, 'number']);
      assert.deepEqual((await fb.byStatus('accepted', {})).map((r) => r.id), ['f3']);
      assert.equal((await fb.byStatus('rejected', { exclude: true })).length, 9);
      assert.deepEqual(await fb.byStatus('accepted', { model: 'other' }), []);
      assert.equal(await fb.get('nope'), null);

      const ex = kyselyExperimentRepository(stageTables<FactoryTables>(db));
      await ex.create({ id: 'exp-b', name: 'b', created_at: 2, status: 'running', spec: '{}', plan: '{"jobs":{}}' });
      await ex.create({ id: 'exp-a', name: 'a', created_at: 2, status: 'running', spec: '{}', plan: '{"jobs":{}}' });
      await ex.create({ id: 'exp-c', name: 'c', created_at: 1, status: 'running', spec: '{}', plan: '{"jobs":{}}' });
      await ex.setPlan('exp-a', '{"jobs":{"k":"ftjob-1"}}');
      assert.deepEqual(await ex.get('exp-a'), { id: 'exp-a', name: 'a', created_at: 2, status: 'running', spec: '{}', plan: '{"jobs":{"k":"ftjob-1"}}' });
      assert.deepEqual(await ex.listIds(), ['exp-b', 'exp-a', 'exp-c']);
      assert.equal(await ex.get('nope'), null);
    } finally {
      await store.close();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
