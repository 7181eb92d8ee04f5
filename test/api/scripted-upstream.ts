/**
 * A scripted OpenAI-compatible server for tests that need a capable model: `/v1/chat/completions` (streamed, as the
 * gateway's endpoint backend asks) answers with what `chat` returns for the request, `/v1/images/generations` with
 * what `images` returns. Every request body is kept in `seen`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedRequest { model: string; messages: Array<{ role: string; content: string }>; [k: string]: unknown }

export interface Scripted {
  /** Base URL with /v1. */
  url: string;
  seen: Array<{ path: string; body: ScriptedRequest }>;
  close(): Promise<void>;
}

export async function startScripted(o: { chat: (b: ScriptedRequest) => string; images?: (b: Record<string, unknown>) => { status: number; body: unknown } }): Promise<Scripted> {
  const seen: Scripted['seen'] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as ScriptedRequest;
      const path = (req.url ?? '').split('?')[0]!;
      seen.push({ path, body });
      if (path.endsWith('/images/generations')) {
        const r = o.images ? o.images(body) : { status: 404, body: { error: { message: 'no images here', type: 'invalid_request_error' } } };
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(r.body));
        return;
      }
      const content = o.chat(body);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: unknown, finish: string | null) => res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
      for (const piece of content.match(/[\s\S]{1,8}/g) ?? []) chunk({ content: piece }, null);
      chunk({}, 'stop');
      res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: body.model, choices: [], usage: { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 } })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen, close: () => new Promise((r) => server.close(() => r())) };
}
