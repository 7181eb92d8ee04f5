/** The extension's settings and the SSE parser (extension/src/lib/settings.ts, sse.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkKey, needsPermission, normaliseServer, onServer, originPattern } from '../../extension/src/lib/settings.ts';
import { sseParser } from '../../extension/src/lib/sse.ts';

test('a server address as people type it becomes an origin; others are refused with the reason', () => {
  assert.deepEqual(normaliseServer('localhost:8080'), { ok: true, value: 'http://localhost:8080' });
  assert.deepEqual(normaliseServer(' https://ai.example.com/v1/ '), { ok: true, value: 'https://ai.example.com' });
  assert.deepEqual(normaliseServer('http://127.0.0.1:8080/'), { ok: true, value: 'http://127.0.0.1:8080' });
  assert.equal((normaliseServer('ftp://x') as { problem: string }).problem, 'server');
  assert.equal((normaliseServer('') as { problem: string }).problem, 'server');
  assert.equal((normaliseServer('javascript:alert(1)') as { problem: string }).problem, 'server');
  assert.equal((normaliseServer('http://u:secret@host') as { problem: string }).problem, 'server-credentials');
  assert.equal(checkKey(' sk-mf-abcdef0123 ').ok, true);
  assert.equal(checkKey('has space inside').ok, false);
  assert.equal(checkKey('short').ok, false);
});

test('host permissions: a pattern per host, local servers granted at install, the key only for the server', () => {
  assert.equal(originPattern('https://ai.example.com:8443'), 'https://ai.example.com/*');
  assert.equal(needsPermission('http://127.0.0.1:8080'), false);
  assert.equal(needsPermission('http://localhost:3000'), false);
  assert.equal(needsPermission('https://ai.example.com'), true);
  assert.equal(onServer('http://127.0.0.1:8080/v1/models', 'http://127.0.0.1:8080'), true);
  assert.equal(onServer('http://127.0.0.1:9999/v1/models', 'http://127.0.0.1:8080'), false);
  assert.equal(onServer('http://127.0.0.1:8080@evil.example/v1', 'http://127.0.0.1:8080'), false);
  assert.equal(onServer('not a url', 'http://127.0.0.1:8080'), false);
});

test('SSE: events across any chunking, CRLF, comments, multi-line data; [DONE] is not passed on', () => {
  const stream = ': heartbeat\r\ndata: {"a":1}\r\n\r\ndata: line1\ndata: line2\n\nevent: x\ndata: {"b":2}\n\ndata: [DONE]\n\n';
  for (const size of [1, 2, 3, 7, stream.length]) {
    const got: string[] = [];
    const p = sseParser((d) => got.push(d));
    for (let i = 0; i < stream.length; i += size) p.push(stream.slice(i, i + size));
    p.end();
    assert.deepEqual(got, ['{"a":1}', 'line1\nline2', '{"b":2}'], `chunks of ${size}`);
  }
  const tail: string[] = [];
  const p = sseParser((d) => tail.push(d));
  p.push('data: last');
  p.end();
  assert.deepEqual(tail, ['last']);
});
