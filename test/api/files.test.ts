// The Files API driven by the official openai client: upload, list, retrieve, content, delete; errors in OpenAI's shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';
import { ADMIN_KEY, SHARED, startServer } from './helpers.ts';
import { needsShared } from '../shared-data.ts';

test('files API with the openai client', needsShared('openai-format/recipe_finetune_training.jsonl', 'openai-format/toy_chat_fine_tuning.jsonl'), async () => {
  const { url, stop } = await startServer();
  try {
    const client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${url}/v1`, maxRetries: 0 });
    const bytes = readFileSync(`${SHARED}openai-format/recipe_finetune_training.jsonl`);
    const f = await client.files.create({ file: await toFile(bytes, 'recipe_finetune_training.jsonl'), purpose: 'fine-tune' });
    assert.match(f.id, /^file-/);
    assert.equal(f.object, 'file');
    assert.equal(f.bytes, bytes.length);
    assert.equal(f.filename, 'recipe_finetune_training.jsonl');
    assert.equal(f.purpose, 'fine-tune');
    assert.equal(f.status, 'processed');
    assert.equal(typeof f.created_at, 'number');

    const list = await client.files.list();
    assert.deepEqual(list.data.map((x) => x.id), [f.id]);
    const got = await client.files.retrieve(f.id);
    assert.deepEqual(got, f);
    const content = Buffer.from(await (await client.files.content(f.id)).arrayBuffer());
    assert.ok(content.equals(bytes));
    const del = await client.files.delete(f.id);
    assert.deepEqual(del, { id: f.id, object: 'file', deleted: true });
    await assert.rejects(client.files.retrieve(f.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
    assert.equal((await client.files.list()).data.length, 0);

    // a bad file: rejected with every problem, nothing stored
    const toy = readFileSync(`${SHARED}openai-format/toy_chat_fine_tuning.jsonl`);
    await assert.rejects(client.files.create({ file: await toFile(toy, 'toy_chat_fine_tuning.jsonl'), purpose: 'fine-tune' }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      const body = e.error as { problems: { line: number; message: string }[]; code: string };
      assert.equal(body.code, 'invalid_file');
      assert.deepEqual(body.problems.map((p) => p.line), [4, 5]);
      assert.match(body.problems[0].message, /no user message/);
      assert.match(body.problems[1].message, /over the limit of 8192 tokens/);
      return true;
    });
    assert.equal((await client.files.list()).data.length, 0);

    // wrong key
    const bad = new OpenAI({ apiKey: 'sk-mf-wrong-key-000000000000', baseURL: `${url}/v1`, maxRetries: 0 });
    await assert.rejects(bad.files.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
  } finally {
    await stop();
  }
});

test('errors use the OpenAI shape; a missing key is 401', async () => {
  const { url, stop } = await startServer();
  try {
    const r = await fetch(`${url}/v1/files`);
    assert.equal(r.status, 401);
    const body = await r.json() as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    const r2 = await fetch(`${url}/v1/nope`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(r2.status, 404);
    assert.equal(((await r2.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
  } finally {
    await stop();
  }
});

test('documents through the Files API (purpose assistants / user_data) feed the Knowledge Factory by file_id; training refuses them', needsShared('laws/insurance-law-zh.md'), async () => {
  const { srv, url, stop } = await startServer();
  try {
    const client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${url}/v1`, maxRetries: 0 });
    const law = readFileSync(`${SHARED}laws/insurance-law-zh.md`);
    const f = await client.files.create({ file: await toFile(law, 'insurance-law-zh.md'), purpose: 'assistants' });
    assert.equal(f.purpose, 'assistants');
    assert.equal(f.bytes, law.length);
    assert.equal(Buffer.from(await (await client.files.content(f.id)).arrayBuffer()).equals(law), true, 'stored as sent');
    await assert.rejects(client.files.create({ file: await toFile(Buffer.alloc(0), 'empty.md'), purpose: 'user_data' }), (e: any) => e.status === 400 && e.code === 'empty_file');
    await assert.rejects(client.files.create({ file: await toFile(law, 'x.md'), purpose: 'vision' }), (e: any) => e.status === 400 && e.param === 'purpose');
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as any };
    };
    const kb = await api('POST', '/v1/knowledge/bases', { name: 'laws' });
    const doc = await api('POST', `/v1/knowledge/bases/${kb.json.id}/documents`, { file_id: f.id });
    assert.equal(doc.status, 200, JSON.stringify(doc.json));
    assert.ok(doc.json.items > 100, `items ${doc.json.items}`);
    assert.equal(doc.json.document.filename ?? doc.json.document.name ?? 'insurance-law-zh.md', 'insurance-law-zh.md');
    const hits = await api('POST', '/v1/knowledge/search', { kbs: kb.json.id, query: '投保人解除合同', k: 3 });
    assert.equal(hits.status, 200, JSON.stringify(hits.json));
    assert.ok(JSON.stringify(hits.json).includes('解除'), JSON.stringify(hits.json).slice(0, 300));
    const missing = await api('POST', `/v1/knowledge/bases/${kb.json.id}/documents`, { file_id: 'file-nope' });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'file_not_found');
    // a document is not training data (fine-tuning jobs import their training_file this way)
    await assert.rejects(srv.service.importDataset({ name: 'not-data', source: { fileId: f.id } }), /uploaded with purpose "assistants"; training data needs purpose "fine-tune"/);
  } finally {
    await stop();
  }
});
