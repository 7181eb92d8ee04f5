/**
 * The HTTP API end to end on each database (SQLite in the data folder, PostgreSQL in a schema of its own): files
 * with the official openai client, a fine-tuning job that trains a tiny model to success with its events, keys with
 * a token quota, a chat whose usage is accounted and whose answer is in the request log with feedback on it, and a
 * restart of the server on the same database that finds everything again. [slow: about 15 s a database]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { createServer } from '../../src/api/server.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';
import { makeModels } from '../serve/gateway-fixtures.ts';
import { tinyBaseAndData } from '../factory/server-helpers.ts';
import { testDatabases } from './test-databases.ts';

const ADMIN = 'sk-mf-test-admin-key-0123456789abcdef';
const hello = [{ role: 'user' as const, content: 'Hello, who are you?' }];

// the two databases side by side: each waits mostly on its trainer process
test('[slow] HTTP on each database: files, a fine-tuning job, keys and usage, a chat in the request log, a restart', { concurrency: true, timeout: 180_000 }, async (t) => {
  await Promise.all(testDatabases.map((tdb) => t.test(tdb.name, { skip: tdb.skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), `mf-http-${tdb.name}-`));
    const { database, drop } = await tdb.make();
    const open = () => createServer({ dataDir: join(dir, 'data'), database, adminKey: ADMIN, serve: { warm: false }, modelDirs: [dir] });
    const t0 = Date.now();
    const lap = (what: string) => process.env.MODELFAB_TEST_LAPS && console.log(`${tdb.name} ${what}: ${Date.now() - t0} ms`);
    let srv = await open();
    try {
      let url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
      const api = async (method: string, path: string, body?: unknown, key = ADMIN) => {
        const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: r.status, json: await r.json() as any };
      };
      const admin = new OpenAI({ apiKey: ADMIN, baseURL: `${url}/v1`, maxRetries: 0 });

      // files
      const rows = supportQA(0).train.slice(0, 16).map((r) => JSON.stringify(r)).join('\n');
      const f = await admin.files.create({ file: await toFile(Buffer.from(rows), 'support.jsonl'), purpose: 'fine-tune' });
      const gone = await admin.files.create({ file: await toFile(Buffer.from(rows + '\n'), 'again.jsonl'), purpose: 'fine-tune' });
      assert.deepEqual((await admin.files.list()).data.map((x) => x.id).sort(), [f.id, gone.id].sort());
      assert.deepEqual(await admin.files.delete(gone.id), { id: gone.id, object: 'file', deleted: true });
      assert.deepEqual(await admin.files.retrieve(f.id), f);

      lap('files');
      // a fine-tuning job trained to success, with its events
      await tinyBaseAndData(srv, dir, 12);
      const job = await admin.fineTuning.jobs.create({ model: 'tiny', training_file: f.id, hyperparameters: { n_epochs: 1, batch_size: 4 } });
      lap('job submitted');

      // keys, a chat with usage accounting, the request log and feedback
      const fx = makeModels(dir);
      assert.equal((await api('POST', '/v1/deployments', { name: 'tiny-chat', path: fx.base, settings: { contextSize: 256 } })).status, 200);
      const k = await api('POST', '/v1/keys', { name: 'app', models: ['tiny-chat'], token_quota: 100_000 });
      assert.equal(k.status, 200, JSON.stringify(k.json));
      const app = new OpenAI({ apiKey: k.json.key, baseURL: `${url}/v1`, maxRetries: 0 });
      const chat = await app.chat.completions.create({ model: 'tiny-chat', messages: hello, max_tokens: 4, seed: 1 });
      assert.ok(chat.usage!.prompt_tokens > 0);
      const logged = await api('GET', `/v1/requests/${chat.id}`);
      assert.equal(logged.status, 200, JSON.stringify(logged.json));
      assert.equal(logged.json.answer, chat.choices[0].message.content);
      assert.equal(logged.json.key_id, k.json.id);
      const fb = await api('POST', '/v1/feedback', { response_id: chat.id, rating: 4 }, k.json.key);
      assert.equal(fb.status, 200, JSON.stringify(fb.json));
      await new Promise((r) => setTimeout(r, 1300)); // usage is flushed every second
      const usage = await api('GET', `/v1/usage?key_id=${k.json.id}`);
      assert.equal(usage.json.data.length, 1);
      assert.equal(usage.json.data[0].requests, 1);
      assert.equal(usage.json.data[0].prompt_tokens, chat.usage!.prompt_tokens);
      assert.equal(usage.json.data[0].completion_tokens, chat.usage!.completion_tokens);

      lap('chat');
      // the job trained meanwhile (its worker is a process of its own)
      const done = await srv.factory.scheduler.waitFor(job.id, undefined, 120_000);
      assert.equal(done.status, 'succeeded', done.error ?? '');
      const events = (await admin.fineTuning.jobs.listEvents(job.id, { limit: 100 })).data;
      assert.ok(events.length >= 2, 'the job has events');
      lap('job');
      // a restart on the same database finds everything
      await srv.close();
      srv = await open();
      url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
      const again = new OpenAI({ apiKey: ADMIN, baseURL: `${url}/v1`, maxRetries: 0 });
      assert.deepEqual((await again.files.list()).data.map((x) => x.id), [f.id]);
      assert.equal((await again.fineTuning.jobs.retrieve(job.id)).status, 'succeeded');
      assert.equal((await api('GET', `/v1/usage?key_id=${k.json.id}`)).json.data[0].requests, 1);
      assert.equal((await api('GET', '/v1/feedback')).json.data.length, 1);
      lap('restart');
    } finally {
      await srv.close();
      await drop();
      rmSync(dir, { recursive: true, force: true });
    }
  })));
});
