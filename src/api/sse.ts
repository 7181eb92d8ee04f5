/**
 * Server-sent events on a Fastify reply: headers, one `data:` line per event (optionally named), a comment
 * heartbeat so proxies keep the stream open, and cleanup when the client goes away.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseStream {
  send(data: unknown, event?: string): void;
  close(): void;
  readonly closed: boolean;
  onClose(fn: () => void): void;
}

export function openSse(req: FastifyRequest, reply: FastifyReply, heartbeatMs = 15_000): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(': stream open\n\n');
  let closed = false;
  const closers: Array<() => void> = [];
  const timer = setInterval(() => { if (!closed) res.write(': ping\n\n'); }, heartbeatMs);
  timer.unref();
  const finish = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    for (const f of closers) f();
  };
  req.raw.on('close', finish);
  res.on('close', finish);
  return {
    send(data, event) {
      if (closed) return;
      res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
    },
    close() {
      if (!closed) { res.end(); finish(); }
    },
    get closed() { return closed; },
    onClose(fn) { closers.push(fn); },
  };
}
