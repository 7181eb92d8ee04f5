/**
 * Benchmark runs over HTTP: run the factory suite on a base model, list and get the run (OpenAI eval.run shape),
 * its per-item outputs, a re-run served from the cache, and a side-by-side comparison.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY, startServer } from './helpers.ts';
import { ensureBaseModels } from '../../src/demo/base-models.ts';

test('[slow] /v1/evals/runs on the quick base model', { timeout: 240_000 }, async () => {
  const { srv, url, dir, stop } = await startServer();
  try {
    const bases = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: dir, quick: true });
    assert.equal((await srv.factory.scheduler.waitFor(bases[0].id, undefined, 120_000)).status, 'succeeded');
    await srv.factory.factory.idle();
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as any };
    };
    const waitRun = async () => {
      for (let i = 0; i < 300; i++) {
        const l = await call('GET', '/v1/evals/runs');
        if (l.json.in_progress.length === 0 && l.json.data.length) return l.json.data;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error('the run did not finish');
    };
    const created = await call('POST', '/v1/evals/runs', { model: 'spruce-s', suite: 'factory', limit: 4 });
    assert.ok([200, 202].includes(created.status), JSON.stringify(created.json));
    const list = await waitRun();
    const run = list[0];
    assert.equal(run.object, 'eval.run');
    assert.equal(run.status, 'completed');
    const got = await call('GET', `/v1/evals/runs/${run.id}`);
    assert.equal(got.json.id, run.id);
    const items = await call('GET', `/v1/evals/runs/${run.id}/output_items`);
    assert.ok(items.json.data.length >= 4);
    assert.equal(items.json.data[0].object, 'eval.run.output_item');
    const again = await call('POST', '/v1/evals/runs', { model: 'spruce-s', suite: 'factory', limit: 4 });
    assert.equal(again.status, 200, 'a finished benchmark re-run is a cache hit and answers at once');
    assert.equal(again.json.id, run.id);
    const task = items.json.data[0].datasource_item.task;
    const cmp = await call('GET', `/v1/evals/compare?a=${run.id}&b=${run.id}&task=${task}`);
    assert.equal(cmp.status, 200, JSON.stringify(cmp.json));
    assert.equal(cmp.json.summary.same, cmp.json.items.length);
    assert.equal((await call('POST', '/v1/evals/runs', { model: 'no-such-model' })).status, 404);
  } finally {
    await stop();
  }
});
