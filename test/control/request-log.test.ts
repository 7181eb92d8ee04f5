/**
 * The request log (control_responses) on SQLite and on PostgreSQL: outcomes derived from verdicts, filters (model, source, key,
 * outcome, "guarded"), the newest-first cursor, updates by id, and pruning by age; and policy merging for routes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/open-database.ts';
import { testDatabases } from '../store/test-databases.ts';
import { stageTables } from '../../src/store/kysely-store.ts';
import { RequestLog, outcomeOf, type RequestLogTables } from '../../src/control/request-log.ts';
import { mergePolicies, parsePolicy, runGuard, type GuardVerdict } from '../../src/control/guard.ts';

const v = (action: GuardVerdict['action']): GuardVerdict => ({ check: 'c', kind: 'keywords', stage: 'input', action, triggered: action !== 'allow', reason: 'r', latency_ms: 0.5 });

test('outcomeOf: the strongest action', () => {
  assert.equal(outcomeOf([]), 'passed');
  assert.equal(outcomeOf([v('allow'), v('allow')]), 'passed');
  assert.equal(outcomeOf([v('allow'), v('warn')]), 'flagged');
  assert.equal(outcomeOf([v('warn'), v('rewrite')]), 'rewritten');
  assert.equal(outcomeOf([v('rewrite'), v('refuse')]), 'refused');
});

for (const tdb of testDatabases) {
  test(`request log on ${tdb.name}: record, filter, page newest first, update by id, prune by age`, { skip: tdb.skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-reqlog-'));
    const { database, drop } = await tdb.make();
    const { store, db } = await openDatabase(dir, database).catch(async (e: unknown) => { await drop(); throw e; });
    try {
      let t = 1_000_000;
      const fb = new RequestLog(stageTables<RequestLogTables>(db), () => t);
      const prompt = [{ role: 'user' as const, content: 'q' }];
      for (let i = 0; i < 6; i++) {
        t += 1000;
        await fb.recordResponse({ id: `r${i}`, model: i % 2 ? 'a' : 'b', source: i === 5 ? 'bot' : 'api', keyId: i < 3 ? 'k1' : 'k2', prompt, answer: `a${i}`, ...(i >= 2 ? { guard: [v(i === 4 ? 'refuse' : 'allow')], policies: ['p1', 'p2'] } : {}) });
      }
      const all = await fb.listResponses();
      assert.deepEqual(all.data.map((r) => r.id), ['r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
      assert.deepEqual(all.data[1].policies, ['p1', 'p2']);
      assert.equal(all.data[1].outcome, 'refused');
      assert.equal(all.data[1].guard_ms, 0.5);
      assert.equal(all.data[5].outcome, null);
      assert.deepEqual((await fb.listResponses({ outcome: 'guarded' })).data.map((r) => r.id), ['r5', 'r4', 'r3', 'r2']);
      assert.deepEqual((await fb.listResponses({ outcome: 'refused' })).data.map((r) => r.id), ['r4']);
      assert.deepEqual((await fb.listResponses({ model: 'a' })).data.map((r) => r.id), ['r5', 'r3', 'r1']);
      assert.deepEqual((await fb.listResponses({ keyId: 'k1' })).data.map((r) => r.id), ['r2', 'r1', 'r0']);
      assert.deepEqual((await fb.listResponses({ source: 'bot' })).data.map((r) => r.id), ['r5']);
      const p1 = await fb.listResponses({ limit: 4 });
      assert.equal(p1.has_more, true);
      const p2 = await fb.listResponses({ limit: 4, before: p1.data[3].id });
      assert.deepEqual(p2.data.map((r) => r.id), ['r1', 'r0']);
      assert.equal(p2.has_more, false);
      await assert.rejects(fb.listResponses({ before: 'nope' }), /before: no request nope/);
      // the same id again: the answer and verdicts are replaced (POST /v1/guard/check with a response_id)
      await fb.recordResponse({ id: 'r0', prompt, answer: 'changed', guard: [v('rewrite')] });
      assert.equal((await fb.getResponse('r0'))?.answer, 'changed');
      assert.equal((await fb.getResponse('r0'))?.outcome, 'rewritten');
      // pruning: everything older than r3's time goes
      assert.equal(await fb.pruneResponses(1_004_000), 3);
      assert.deepEqual((await fb.listResponses()).data.map((r) => r.id), ['r5', 'r4', 'r3']);
    } finally {
      await store.close();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('mergePolicies: checks in policy order, names prefixed, each refusing with its own policy\'s message', async () => {
  const a = parsePolicy({ refusal_message: 'A says no', checks: [{ name: 'k', kind: 'keywords', words: ['apple'] }] });
  const b = parsePolicy({ refusal_message: 'B says no', checks: [{ name: 'k', kind: 'keywords', words: ['banana'] }, { kind: 'pii', action: 'rewrite' }] });
  const m = mergePolicies([{ name: 'a', policy: a }, { name: 'b', policy: b }]);
  assert.deepEqual(m.checks.map((c) => c.name), ['a/k', 'b/k', 'b/pii#1']);
  assert.equal((await runGuard(m, { stage: 'input', text: 'an apple' })).message, 'A says no');
  assert.equal((await runGuard(m, { stage: 'input', text: 'a banana' })).message, 'B says no');
  assert.equal(mergePolicies([{ name: 'a', policy: a }]), a, 'one policy is used as it is');
});
