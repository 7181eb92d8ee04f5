// The one SSE writer over a real HTTP server: headers, the opening comment, events pushed in one turn leave in one
// write, named JSON events, the heartbeat, end() with a last event, onClose once when the client goes away (and at
// once when registered late), and a client that does not read is dropped once too much piles up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SSE_HEADERS, SseWriter } from '../../src/openai/sse-writer.ts';

async function serve(handler: (res: http.ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = http.createServer((_req, res) => handler(res));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
}

const asReply = (res: http.ServerResponse) => ({ hijack: () => undefined, raw: res });

test('headers, opening comment, batched writes, named events, end with a last event', async () => {
  let writes = 0;
  const s = await serve((res) => {
    const orig = res.write.bind(res);
    res.write = ((chunk: unknown, ...rest: unknown[]) => { writes++; return (orig as (...a: unknown[]) => boolean)(chunk, ...rest); }) as typeof res.write;
    const w = SseWriter.open(asReply(res), { headers: { ...SSE_HEADERS, 'x-modelfab-model': 'm' }, opening: 'stream open' });
    w.push('data: 1\n\n');
    w.push('data: 2\n\n');
    w.send({ a: 1 }, 'status');
    setTimeout(() => { w.send({ b: 2 }); w.end('data: [DONE]\n\n'); w.push('data: late\n\n'); }, 20);
  });
  try {
    const r = await fetch(s.url);
    assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(r.headers.get('x-modelfab-model'), 'm');
    assert.equal(r.headers.get('x-accel-buffering'), 'no');
    assert.equal(await r.text(), ': stream open\n\ndata: 1\n\ndata: 2\n\nevent: status\ndata: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n');
    assert.equal(writes, 3, 'the opening comment, the three events of the first turn in one write, the rest with end');
  } finally { await s.close(); }
});

test('heartbeat comments keep a quiet stream alive; onClose runs once when the client leaves, and at once when late', async () => {
  let closed = 0;
  let writer: SseWriter | null = null;
  let onGone: () => void = () => undefined;
  const gone = new Promise<void>((resolve) => { onGone = resolve; });
  const s = await serve((res) => {
    writer = SseWriter.open(asReply(res), { headers: SSE_HEADERS, heartbeatMs: 10 });
    writer.onClose(() => { closed++; onGone(); });
  });
  try {
    const ac = new AbortController();
    const r = await fetch(s.url, { signal: ac.signal });
    const first = new TextDecoder().decode((await r.body!.getReader().read()).value);
    assert.match(first, /^: ping\n\n/);
    ac.abort();
    await gone;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(closed, 1);
    assert.equal(writer!.closed, true);
    let late = 0;
    writer!.onClose(() => late++);
    assert.equal(late, 1);
    writer!.push('data: x\n\n'); // ignored once closed
  } finally { await s.close(); }
});

test('a client that does not read is dropped once maxBuffered bytes pile up', async () => {
  let closedAt = -1;
  const big = `data: ${'x'.repeat(64 * 1024)}\n\n`;
  let resolveDone: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  const s = await serve((res) => {
    const w = SseWriter.open(asReply(res), { headers: SSE_HEADERS, maxBuffered: 256 * 1024 });
    let sent = 0;
    w.onClose(() => { closedAt = sent; resolveDone(); });
    const tick = () => { if (w.closed) return; w.push(big); sent++; setTimeout(tick, 1); };
    tick();
  });
  try {
    const req = http.get(s.url, (res) => { res.pause(); }); // never reads
    req.on('error', () => undefined);
    await done;
    assert.ok(closedAt > 0 && closedAt < 2000, `dropped after ${closedAt} events`);
    req.destroy();
  } finally { await s.close(); }
});
