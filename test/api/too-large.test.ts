/**
 * A body over the size limit gets a 413 with OpenAI's error body that Node's fetch (undici) reads every time,
 * however much more the client still had to send: a JSON route (the chat endpoint: no parameter is named) and the
 * multipart upload (`file`), several times each on fresh and reused connections; the server keeps serving after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { ADMIN_KEY, startServer } from './helpers.ts';

const auth = { authorization: `Bearer ${ADMIN_KEY}` };

test('over the limit: a JSON body and an upload get a readable 413 with the error body, every time', { timeout: 240_000 }, async () => {
  const { url, stop } = await startServer({ maxFileBytes: 64 * 1024 });
  try {
    // the JSON body limit is 8 MiB; 24 MiB is three times over, so most of it is still in flight when the limit is hit
    const chat = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(24 * 1024 * 1024) }] });
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: chat });
      assert.equal(r.status, 413, `chat ${i}`);
      const j = (await r.json()) as { error: { message: string; type: string; param: string | null; code: string } };
      assert.equal(j.error.type, 'invalid_request_error');
      assert.equal(j.error.param, null, 'a chat request names no file');
      assert.equal(j.error.code, 'request_too_large');
      assert.match(j.error.message, /body|large|limit/i);
    }
    // an upload 128 times over the 64 KiB file limit
    const big = Buffer.alloc(8 * 1024 * 1024, 'a');
    for (let i = 0; i < 4; i++) {
      const form = new FormData();
      form.append('purpose', 'fine-tune');
      form.append('file', new Blob([big]), 'big.jsonl');
      const r = await fetch(`${url}/v1/files`, { method: 'POST', headers: auth, body: form });
      assert.equal(r.status, 413, `upload ${i}`);
      const j = (await r.json()) as { error: { param: string | null; code: string } };
      assert.equal(j.error.param, 'file');
      assert.equal(j.error.code, 'file_too_large');
    }
    // the same, all at once
    const all = await Promise.all(Array.from({ length: 3 }, () => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: chat })
      .then(async (r) => [r.status, ((await r.json()) as { error: { code: string } }).error.code])));
    assert.deepEqual(all, Array(3).fill([413, 'request_too_large']));
    // and the server still answers normal requests
    const ok = await fetch(`${url}/v1/files`, { headers: auth });
    assert.equal(ok.status, 200);
  } finally {
    await stop();
  }
});

test('a client still sending when the limit is hit is not reset: it sends all, then reads the 413', { timeout: 120_000 }, async () => {
  const { url, stop } = await startServer();
  try {
    const { hostname, port } = new URL(url);
    const total = 12 * 1024 * 1024; // over the 8 MiB JSON limit, announced up front: the server knows at once
    const sock = connect(Number(port), hostname);
    await once(sock, 'connect');
    let response = '';
    let error: Error | null = null;
    let closed = false;
    sock.on('data', (d: Buffer) => { response += d.toString('latin1'); });
    sock.on('error', (e) => { error = e; });
    sock.on('close', () => { closed = true; });
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${ADMIN_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${total}\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, 'x');
    for (let sent = 0; sent < total && !error && !closed; sent += chunk.length) {
      if (!sock.write(chunk.subarray(0, Math.min(chunk.length, total - sent)))) await Promise.race([once(sock, 'drain'), once(sock, 'close')]);
      await new Promise((r) => setTimeout(r, 2)); // a client slower than the server: the answer is ready long before the body is sent
    }
    if (!closed) await once(sock, 'close');
    assert.equal(error, null, 'the connection was not reset while the client was sending');
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.match(response, /"code":"request_too_large"/);
    assert.match(response, /"param":null/);
  } finally {
    await stop();
  }
});
