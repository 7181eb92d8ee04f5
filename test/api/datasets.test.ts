// /v1/datasets over uploaded files, fuzzed uploads (nothing partial stored, server keeps serving), concurrency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { ADMIN_KEY, SHARED, startServer } from './helpers.ts';
import { needsShared } from '../shared-data.ts';

const auth = { authorization: `Bearer ${ADMIN_KEY}` };
const json = { ...auth, 'content-type': 'application/json' };

async function upload(url: string, name: string, bytes: Uint8Array): Promise<Response> {
  const form = new FormData();
  form.append('purpose', 'fine-tune');
  form.append('file', new Blob([bytes]), name);
  return fetch(`${url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: form });
}

test('datasets: import from files and a dataset_info.json, get, preview, delete', needsShared('openai-format/recipe_finetune_training.jsonl', 'openai-format/recipe_finetune_validation.jsonl', 'llamafactory/dataset_info.json', 'llamafactory/identity.json', 'llamafactory/kto_en_demo.json'), async () => {
  const { url, stop } = await startServer();
  try {
    const client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${url}/v1`, maxRetries: 0 });
    const up = async (p: string) => (await client.files.create({ file: await toFile(readFileSync(p), p.split('/').pop()!), purpose: 'fine-tune' })).id;
    const train = await up(`${SHARED}openai-format/recipe_finetune_training.jsonl`);
    const val = await up(`${SHARED}openai-format/recipe_finetune_validation.jsonl`);
    const r = await fetch(`${url}/v1/datasets`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'recipes', file_id: train, validation_file_id: val }) });
    assert.equal(r.status, 200, await r.clone().text());
    const ds = await r.json() as { id: string; stage: string; version: { train_rows: number; validation_rows: number; stats: { rows: number; tokens: { byRole: Record<string, number> } } } };
    assert.match(ds.id, /^ds-/);
    assert.equal(ds.stage, 'sft');
    assert.equal(ds.version.train_rows, 101);
    assert.equal(ds.version.validation_rows, 100);
    assert.ok(ds.version.stats.tokens.byRole.assistant > 0);
    // same content again: same version
    const again = await (await fetch(`${url}/v1/datasets`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'recipes', file_id: train, validation_file_id: val }) })).json() as { version: { id: string } };
    const got = await (await fetch(`${url}/v1/datasets/${ds.id}`, { headers: auth })).json() as { versions: unknown[]; version: { id: string } };
    assert.equal(got.versions.length, 1);
    assert.equal(again.version.id, got.version.id);
    const pv = await (await fetch(`${url}/v1/datasets/recipes/preview?n=2&template=mistral`, { headers: auth })).json() as { data: { text: string }[] };
    assert.equal(pv.data.length, 2);
    assert.match(pv.data[0].text, /^<s>\[INST\] /);

    // dataset_info.json with placeholders, files mapped to uploads
    const info = JSON.parse(readFileSync(`${SHARED}llamafactory/dataset_info.json`, 'utf8')) as Record<string, unknown>;
    const idFile = await up(`${SHARED}llamafactory/identity.json`);
    const kto = await up(`${SHARED}llamafactory/kto_en_demo.json`);
    const r2 = await fetch(`${url}/v1/datasets`, {
      method: 'POST', headers: json,
      body: JSON.stringify({ dataset_info: info, files: { 'identity.json': idFile, 'kto_en_demo.json': kto }, placeholders: { name: 'Spruce', author: 'Spruce Robotics' } }),
    });
    if (r2.status !== 200) assert.fail(await r2.text());
    const imp = await r2.json() as { data: { name: string; rows: number; stage: string }[]; skipped: unknown[] };
    assert.deepEqual(imp.data.map((d) => [d.name, d.rows, d.stage]), [['identity', 91, 'sft'], ['kto_en_demo', 300, 'kto']]);
    assert.ok(imp.skipped.length > 90);
    const pv2 = await (await fetch(`${url}/v1/datasets/identity/preview?n=91`, { headers: auth })).json() as { data: { text: string }[] };
    assert.ok(pv2.data.some((d) => d.text.includes('Spruce Robotics')));
    assert.ok(!pv2.data.some((d) => d.text.includes('{{')));
    const list = await (await fetch(`${url}/v1/datasets`, { headers: auth })).json() as { data: unknown[] };
    assert.equal(list.data.length, 3);
    const del = await fetch(`${url}/v1/datasets/identity`, { method: 'DELETE', headers: auth });
    assert.equal(del.status, 200);
    assert.equal((await fetch(`${url}/v1/datasets/identity`, { headers: auth })).status, 404);
  } finally {
    await stop();
  }
});

test('fuzzed uploads never crash the server and never store anything', needsShared('openai-format/recipe_finetune_training.jsonl'), async () => {
  const { url, dir, stop, srv } = await startServer();
  try {
    let seed = 12345;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const randomBytes = Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 256));
    const good = readFileSync(`${SHARED}openai-format/recipe_finetune_training.jsonl`);
    const cases: [string, Uint8Array, RegExp][] = [
      ['random.jsonl', randomBytes, /UTF-8|binary|NUL/],
      ['truncated.jsonl', good.subarray(0, 5000), /truncated|unterminated/],
      ['truncated.json', Buffer.from('[{"instruction": "hi", "output": "there"}, {"instr'), /truncated|unterminated/],
      ['deep.json', Buffer.from('['.repeat(100000) + ']'.repeat(100000)), /nested/],
      ['deep.jsonl', Buffer.from('{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}\n'), /nested/],
      ['gbk.jsonl', Buffer.from(new Uint8Array([...Buffer.from('{"text": "'), 0xc4, 0xe3, 0xba, 0xc3, 0xca, 0xc0, 0xbd, 0xe7, ...Buffer.from('"}\n')])), /GBK/],
      ['utf16.jsonl', Buffer.from('\ufeff{"text": "hello"}\n', 'utf16le'), /UTF-16/],
      ['big-line.jsonl', Buffer.from('{"text": "' + 'a'.repeat(50 * 1024 * 1024) + '"}\n'), /record size limit/],
      ['empty.jsonl', Buffer.alloc(0), /no records/],
      ['object.json', Buffer.from('{"a": 1}'), /JSON array|format/],
    ];
    for (let i = 0; i < 20; i++) {
      const n = Math.floor(rand() * good.length);
      const mutated = Buffer.from(good);
      for (let k = 0; k < 5; k++) mutated[Math.floor(rand() * n)] = Math.floor(rand() * 256);
      cases.push([`mutated-${i}.jsonl`, mutated, /./]);
    }
    for (const [name, bytes, re] of cases) {
      const r = await upload(url, name, bytes);
      const body = await r.json() as { error?: { message: string }; id?: string };
      if (name.startsWith('mutated') && r.status === 200) { // a mutation may stay valid
        await fetch(`${url}/v1/files/${body.id}`, { method: 'DELETE', headers: auth });
        continue;
      }
      assert.equal(r.status, 400, `${name}: ${JSON.stringify(body).slice(0, 300)}`);
      assert.match(body.error!.message, re, name);
    }
    assert.equal((await srv.store.files.list()).length, 0);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    assert.ok(!readdirSync(dir).includes('files') || readdirSync(join(dir, 'files')).length === 0);
    // still serving
    assert.equal((await upload(url, 'ok.jsonl', good)).status, 200);
  } finally {
    await stop();
  }
});

test('over the file size limit: 413, nothing stored', async () => {
  const { url, stop, srv, dir } = await startServer({ maxFileBytes: 64 * 1024 });
  try {
    const r = await upload(url, 'big.jsonl', Buffer.from(('{"text": "hello"}\n').repeat(10000)));
    assert.equal(r.status, 413);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'file_too_large');
    assert.equal((await srv.store.files.list()).length, 0);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
  } finally {
    await stop();
  }
});

test('concurrent uploads and imports of the same file are safe', needsShared('openai-format/recipe_finetune_validation.jsonl'), async () => {
  const { url, stop, srv } = await startServer();
  try {
    const good = readFileSync(`${SHARED}openai-format/recipe_finetune_validation.jsonl`);
    const rs = await Promise.all(Array.from({ length: 8 }, () => upload(url, 'v.jsonl', good)));
    const ids = await Promise.all(rs.map(async (r) => { assert.equal(r.status, 200); return ((await r.json()) as { id: string }).id; }));
    assert.equal(new Set(ids).size, 8);
    const imports = await Promise.all(ids.map((id) => fetch(`${url}/v1/datasets`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'same', file_id: id }) })));
    for (const r of imports) assert.equal(r.status, 200, await r.clone().text());
    const ds = await srv.service.getDataset('same', { versions: true });
    assert.equal(ds.versions!.length, 1);
    assert.equal(ds.rows, 100);
  } finally {
    await stop();
  }
});
