// Rate limits and token quotas hold across servers: two KeyPolicies (two servers) over two connections to one
// database admit a key's per-minute limit once between them, and each sees the other's usage against a quota.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/open-database.ts';
import { createKey, KeyPolicy } from '../../src/serve/api-keys.ts';
import { testDatabases } from './test-databases.ts';

for (const tdb of testDatabases) {
  test(`limits on ${tdb.name}: a rate limit and a token quota hold across two servers`, { skip: tdb.skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-limits-'));
    const { database, drop } = await tdb.make();
    const one = await openDatabase(dir, database);
    const two = await openDatabase(dir, database);
    const p1 = new KeyPolicy(one.store), p2 = new KeyPolicy(two.store);
    try {
      const { row: limited } = await createKey(one.store, { name: 'rpm', role: 'user', rateLimitRpm: 5 });
      // counts are per minute: start well inside one, so the figures below are exact
      while (Date.now() % 60_000 > 55_000) await new Promise((res) => setTimeout(res, 200));
      const results: string[] = [];
      for (let i = 0; i < 8; i++) {
        const policy = i % 2 ? p2 : p1; // alternate servers, as a load balancer does
        results.push(await policy.admit(limited).then(() => 'ok', (e: { code?: string }) => e.code ?? 'error'));
      }
      assert.deepEqual(results, ['ok', 'ok', 'ok', 'ok', 'ok', 'rate_limit_exceeded', 'rate_limit_exceeded', 'rate_limit_exceeded']);
      const r = await p2.admit(limited).then(() => null, (e: Error) => e.message);
      assert.match(r!, /5 requests per minute\. Try again in \d+s/);

      const { row: quota } = await createKey(one.store, { name: 'quota', role: 'user', tokenQuota: 100 });
      await p1.admit(quota);
      await p2.admit(quota);
      p1.record(quota.id, 'm', 60, 50, false); // server one spends the quota
      await p1.flush();
      await new Promise((res) => setTimeout(res, 1100)); // server two re-reads the total within a second
      const e = await p2.admit(quota).then(() => null, (x: { code?: string }) => x.code);
      assert.equal(e, 'insufficient_quota');
    } finally {
      await p1.close(); await p2.close();
      await one.store.close(); await two.store.close();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
