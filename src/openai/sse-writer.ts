/**
 * Server-sent events on a Node `ServerResponse` (a Fastify reply's `raw` once hijacked): the one SSE writer of the
 * server, for chat streams and for job/experiment event streams alike.
 *
 *   - headers go out when the stream opens (so a caller opens it only once it knows the status is 200);
 *   - writes are batched: events pushed in one turn go out on the next (setImmediate), all of one stream's in one
 *     write, and every stream's in one pass;
 *   - a client that goes away, or reads so slowly that `maxBuffered` bytes pile up (the socket is then destroyed),
 *     closes the stream: `onClose` callbacks run once, so the caller can stop its work;
 *   - an optional opening comment and comment heartbeat keep proxies from closing a quiet stream.
 */
import type { ServerResponse } from 'node:http';

export const SSE_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' };

const MAX_BUFFERED = 8 * 1024 * 1024;

export interface SseOptions {
  /** Response headers (SSE_HEADERS plus the caller's own). */
  headers: Readonly<Record<string, string>>;
  /** Comment written first (`: stream open`), so a client sees the stream is live before the first event. */
  opening?: string;
  /** Comment heartbeat every so many ms (none by default). */
  heartbeatMs?: number;
  /** Bytes unread by the client after which it is dropped (default 8 MiB). */
  maxBuffered?: number;
}

/** What a Fastify reply offers (structural, so this layer needs no framework). */
export interface HijackableReply { hijack(): void; readonly raw: ServerResponse }

export class SseWriter {
  private static pending = new Set<SseWriter>();
  private static scheduled = false;
  private buf = '';
  private done = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly closers: Array<() => void> = [];
  private readonly maxBuffered: number;

  private constructor(private readonly raw: ServerResponse, o: SseOptions) {
    this.maxBuffered = o.maxBuffered ?? MAX_BUFFERED;
    raw.writeHead(200, o.headers);
    raw.socket?.setNoDelay(true);
    if (o.opening) raw.write(`: ${o.opening}\n\n`);
    if (o.heartbeatMs) {
      this.timer = setInterval(() => this.push(': ping\n\n'), o.heartbeatMs);
      this.timer.unref();
    }
    raw.on('close', () => this.finish());
  }

  /** Takes over the reply (Fastify will not answer it) and opens the stream. */
  static open(reply: HijackableReply, o: SseOptions): SseWriter {
    reply.hijack();
    return new SseWriter(reply.raw, o);
  }

  private static flushAll(): void {
    SseWriter.scheduled = false;
    const list = [...SseWriter.pending];
    SseWriter.pending.clear();
    for (const w of list) w.flush();
  }

  /** True once the stream has ended or the client has gone. */
  get closed(): boolean { return this.done; }

  /** Runs when the stream closes (ended here or by the client); at once when already closed. */
  onClose(fn: () => void): void {
    if (this.done) fn();
    else this.closers.push(fn);
  }

  /** Queues already formatted events (each ending with a blank line). */
  push(s: string): void {
    if (this.done) return;
    if (this.buf === '') {
      SseWriter.pending.add(this);
      if (!SseWriter.scheduled) { SseWriter.scheduled = true; setImmediate(SseWriter.flushAll); }
    }
    this.buf += s;
  }

  /** Queues one event: `data` as JSON, optionally named. */
  send(data: unknown, event?: string): void {
    this.push(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  }

  private flush(): void {
    const s = this.buf;
    this.buf = '';
    SseWriter.pending.delete(this);
    const raw = this.raw;
    if (!s || raw.writableEnded || raw.destroyed) return;
    raw.write(s);
    if (raw.writableLength > this.maxBuffered) { raw.destroy(); this.finish(); }
  }

  /** Writes what is queued (and `last`, if given) and ends the response. */
  end(last?: string): void {
    if (last && !this.done) this.buf += last;
    this.flush();
    if (!this.raw.writableEnded) this.raw.end();
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    SseWriter.pending.delete(this);
    this.buf = '';
    for (const f of this.closers) f();
  }
}
