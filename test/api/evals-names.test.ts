/**
 * Eval runs name registered models and registered datasets only: a dataset path or a URL is refused for every key
 * (the admin's too) with nothing read and nothing called; an endpoint an admin registered is called with its own
 * key, never with MODELFAB_BENCH_API_KEY; a registered dataset's held-out split is scored by name (and needs the
 * datasets area); a run is visible to the keys that ran it, and to admin keys.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_KEY, startServer } from './helpers.ts';

let url: string, stop: () => Promise<void>, srv: Awaited<ReturnType<typeof startServer>>['srv'];
let upstream: Server, upstreamUrl: string, outside: string;
const calls: Array<{ path: string; auth: string | undefined }> = [];
const BENCH_SECRET = 'sk-bench-secret-never-sent';
let prevSecret: string | undefined;

async function call(method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<{ status: number; json: any; text: string }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: JSON.parse(text), text };
}

async function key(body: Record<string, unknown>): Promise<string> {
  const r = await call('POST', '/v1/keys', body);
  assert.equal(r.status, 200, r.text);
  return r.json.key as string;
}

/** The finished runs a key sees, once nothing of its own is in flight. */
async function settled(k: string): Promise<any[]> {
  for (let i = 0; i < 200; i++) {
    const l = await call('GET', '/v1/evals/runs', undefined, k);
    if (l.json.in_progress.length === 0) return l.json.data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the run did not finish');
}

before(async () => {
  prevSecret = process.env.MODELFAB_BENCH_API_KEY;
  process.env.MODELFAB_BENCH_API_KEY = BENCH_SECRET;
  outside = mkdtempSync(join(tmpdir(), 'mf-evals-outside-'));
  writeFileSync(join(outside, 'secret.jsonl'), JSON.stringify({ messages: [{ role: 'user', content: 'private question' }, { role: 'assistant', content: 'private answer 42' }] }) + '\n');
  upstream = createHttpServer((req, res) => {
    req.resume(); // the body is not checked here: drain it so 'end' comes
    req.on('end', () => {
      calls.push({ path: req.url ?? '', auth: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ choices: [{ message: { content: '4' }, text: '4' }], usage: { completion_tokens: 1 } }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const addr = upstream.address() as { port: number };
  upstreamUrl = `http://127.0.0.1:${addr.port}/v1`;
  const s = await startServer();
  ({ url, stop, srv } = s);
  writeFileSync(join(s.dir, 'qa.jsonl'), Array.from({ length: 8 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `问题 ${i}` }, { role: 'assistant', content: `答案 ${i}` }] })).join('\n') + '\n');
  await srv.service.importDataset({ name: 'qa', source: { path: join(s.dir, 'qa.jsonl') }, validationSplit: 0.5, seed: 1 });
  const reg = await call('POST', '/v1/serve/models', { name: 'upstream-chat', kind: 'endpoint', endpoint: { url: upstreamUrl, apiKey: 'endpoint-own-key', model: 'm' } });
  assert.equal(reg.status, 200, reg.text);
});

after(async () => {
  await stop();
  await new Promise<void>((r) => upstream.close(() => r()));
  rmSync(outside, { recursive: true, force: true });
  if (prevSecret === undefined) delete process.env.MODELFAB_BENCH_API_KEY; else process.env.MODELFAB_BENCH_API_KEY = prevSecret;
});

test('a URL as the model is refused for every key, the admin\'s too, and nothing is called', async () => {
  for (const model of [`openai:${upstreamUrl}#m`, `${upstreamUrl}#m`]) {
    const r = await call('POST', '/v1/evals/runs', { model, limit: 1 });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'url_not_allowed');
    assert.match(r.json.error.message, /registered model/);
  }
  const path = await call('POST', '/v1/evals/runs', { model: join(outside, 'model.gguf') });
  assert.equal(path.status, 400, path.text);
  assert.equal(path.json.error.code, 'path_not_allowed');
  assert.equal(calls.length, 0, 'the server called an address a request named');
});

test('datasets[].path is refused; nothing is read from it', async () => {
  const r = await call('POST', '/v1/evals/runs', { model: 'upstream-chat', suite: 'factory', limit: 1, datasets: [{ name: 'leak', path: join(outside, 'secret.jsonl') }] });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.param, 'datasets[0].path');
  assert.equal(r.json.error.code, 'path_not_allowed');
  assert.doesNotMatch(r.text, /private/);
  const unknown = await call('POST', '/v1/evals/runs', { model: 'upstream-chat', suite: 'factory', datasets: ['no-such-dataset'] });
  assert.equal(unknown.status, 404, unknown.text);
  assert.equal(unknown.json.error.param, 'datasets[0]');
});

test('a registered endpoint is called with its own key, never with MODELFAB_BENCH_API_KEY; runs belong to their keys', async () => {
  const alice = await key({ name: 'alice', manage: ['evals', 'datasets'] });
  const bob = await key({ name: 'bob', manage: ['evals', 'datasets'] });
  const run = { model: 'upstream-chat', suite: 'factory', limit: 1, datasets: ['qa'] };
  const created = await call('POST', '/v1/evals/runs', run, alice);
  assert.ok([200, 202].includes(created.status), created.text);
  const mine = await settled(alice);
  assert.equal(mine.length, 1);
  assert.equal(mine[0].status, 'completed');
  assert.ok(calls.length > 0, 'the registered endpoint was called');
  assert.ok(calls.every((c) => c.auth === 'Bearer endpoint-own-key'), JSON.stringify(calls.map((c) => c.auth)));
  const id = mine[0].id as string;
  // bob sees none of it
  assert.deepEqual(await settled(bob), []);
  assert.equal((await call('GET', `/v1/evals/runs/${id}`, undefined, bob)).status, 404);
  assert.equal((await call('GET', `/v1/evals/runs/${id}/output_items`, undefined, bob)).status, 404);
  const task = (await call('GET', `/v1/evals/runs/${id}/output_items`, undefined, alice)).json.data[0].datasource_item.task;
  assert.equal((await call('GET', `/v1/evals/compare?a=${id}&b=${id}&task=${task}`, undefined, bob)).status, 404);
  assert.equal((await call('GET', `/v1/evals/compare?a=${id}&b=${id}&task=${task}`, undefined, alice)).status, 200);
  // the admin sees every run
  assert.ok((await settled(ADMIN_KEY)).some((r) => r.id === id));
  // bob running the same benchmark gets it too (same id), and alice keeps it
  await call('POST', '/v1/evals/runs', run, bob);
  assert.equal((await settled(bob))[0]?.id, id);
  assert.equal((await call('GET', `/v1/evals/runs/${id}`, undefined, alice)).status, 200);
});

test('a model outside the key\'s model scope is refused', async () => {
  const narrow = await key({ name: 'narrow', manage: ['evals'], models: ['other-model'] });
  const r = await call('POST', '/v1/evals/runs', { model: 'upstream-chat', limit: 1 }, narrow);
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.error.code, 'model_not_allowed');
});

test('a registered dataset by name: its held-out split is scored; naming datasets needs the datasets area', async () => {
  const evalsOnly = await key({ name: 'evals-only', manage: ['evals'] });
  const denied = await call('POST', '/v1/evals/runs', { model: 'upstream-chat', suite: 'factory', limit: 1, datasets: ['qa'] }, evalsOnly);
  assert.equal(denied.status, 403, denied.text);
  const both = await key({ name: 'evals-datasets', manage: ['evals', 'datasets'] });
  const r = await call('POST', '/v1/evals/runs', { model: 'upstream-chat', suite: 'factory', limit: 1, datasets: ['qa'] }, both);
  assert.ok([200, 202].includes(r.status), r.text);
  const runs = await settled(both);
  assert.equal(runs.length, 1);
  const tasks = runs[0].per_testing_criteria_results.map((t: { testing_criteria: string }) => t.testing_criteria);
  assert.ok(tasks.includes('qa_answers'), tasks.join(', '));
  const items = (await call('GET', `/v1/evals/runs/${runs[0].id}/output_items?task=qa_answers`, undefined, both)).json.data;
  assert.match(JSON.stringify(items[0].datasource_item), /答案/);
});
