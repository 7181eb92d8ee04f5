/**
 * The OpenAI-compatible inference API over the gateway (src/serve/gateway.ts): /v1/chat/completions,
 * /v1/completions (streaming or not), /v1/embeddings, /v1/models (list, retrieve); and, without a key, /healthz and
 * /metrics (Prometheus text).
 *
 * Guarantees:
 *   - key policy first (src/serve/api-keys.ts): expired 401, endpoint or model out of scope 403, over rate limit or quota
 *     429, all before any model is touched; the body is validated before that (openai.ts), so bad input is a 400;
 *   - streams are server-sent events in OpenAI's chunk shapes, written straight to the socket (one string
 *     concatenation per text piece, no re-serialisation of the chunk), ending with `data: [DONE]`; the HTTP status
 *     and headers are sent only once the request has a slot on a loaded model, so 404/429/503 keep their status;
 *     an error after that is sent as an SSE `{"error": …}` event;
 *   - a client that disconnects (or reads so slowly that 8 MiB pile up) aborts its generation, which frees its slot;
 *   - every request is counted in /metrics and in the key's usage, and logged once (access log) when it ends.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRow } from '../../store/store.ts';
import { BackendError, type ChatMessageIn, type TokenLogprob } from '../../serve/model-backend.ts';
import type { ToolCallOut } from '../../serve/tools.ts';
import type { Gateway } from '../../serve/gateway.ts';
import { UNKNOWN_MODEL } from '../../serve/prometheus.ts';
import { type Endpoint, type KeyPolicy, keyAllowsModel } from '../../serve/api-keys.ts';
import {
  completionLogprobs, parseChatRequest, parseCompletionRequest, parseEmbeddingRequest, toGenerateParams, usage, type SamplingIn,
} from '../../serve/openai.ts';
import { ServeError } from '../../serve/deployments.ts';
import type { GuardRuntime, RequestGuard } from '../../control/guard-runtime.ts';
import type { BotGatewayHook } from './bots-routes.ts';
import { ControlError } from '../../control/feedback.ts';
import { ApiError } from '../errors.ts';

const MAX_BUFFERED = 8 * 1024 * 1024;

/**
 * SSE output of one response, written after the model's next step has been dispatched: chunks are collected and
 * every pending stream is flushed two event-loop turns later (setImmediate twice), by when node-llama-cpp has sent
 * the next batch of all sequences to its thread. The socket writes of 64 streams then overlap the model's compute
 * instead of delaying the next step; several chunks of one stream in that time go out in one write.
 */
class SseOut {
  private static pending = new Set<SseOut>();
  private static scheduled = false;
  private buf = '';

  constructor(private readonly raw: import('node:http').ServerResponse, private readonly onOverflow: () => void) {}

  private static flushAll(): void {
    SseOut.scheduled = false;
    const list = [...SseOut.pending];
    SseOut.pending.clear();
    for (const o of list) o.flush();
  }

  push(s: string): void {
    if (this.buf === '') {
      SseOut.pending.add(this);
      if (!SseOut.scheduled) { SseOut.scheduled = true; setImmediate(() => setImmediate(SseOut.flushAll)); }
    }
    this.buf += s;
  }

  flush(): void {
    const s = this.buf;
    this.buf = '';
    SseOut.pending.delete(this);
    const raw = this.raw;
    if (!s || raw.writableEnded || raw.destroyed) return;
    raw.write(s);
    if (raw.writableLength > MAX_BUFFERED) { this.onOverflow(); raw.destroy(); }
  }

  end(): void {
    this.flush();
    if (!this.raw.writableEnded) this.raw.end();
  }
}

export function toGatewayApiError(e: unknown): unknown {
  if (e instanceof ControlError) return new ApiError(e.status, e.message, e.status >= 500 ? 'server_error' : 'invalid_request_error', e.param, e.code);
  if (e instanceof ServeError) return new ApiError(e.status, e.message, e.status === 429 ? 'rate_limit_error' : 'invalid_request_error', e.param, e.code);
  if (e instanceof BackendError) return new ApiError(e.status === 499 ? 400 : e.status, e.message, e.status === 429 ? 'rate_limit_error' : e.type, e.param, e.code);
  return e;
}

/** An error after a stream has started: an SSE `{"error": …}` event in OpenAI's shape. */
export function errorEvent(e: unknown): string {
  const x = toGatewayApiError(e);
  const body = x instanceof ApiError
    ? { message: x.message, type: x.type, param: x.param, code: x.code }
    : { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null };
  return `data: ${JSON.stringify({ error: body })}\n\n`;
}

/**
 * The guard's input stage of one request: a chat's last user message (the new input; earlier turns were checked
 * when they were sent), or every completion prompt. A rewrite (e.g. a masked phone number) replaces what the model
 * will see; a refusal yields the message to answer with instead.
 */
export async function checkInput(guard: RequestGuard, chat: boolean, messages: ChatMessageIn[], prompts: string[]): Promise<{ messages: ChatMessageIn[]; prompts: string[]; question: string | undefined; blocked: string | null }> {
  if (chat) {
    const ui = messages.map((m) => m.role).lastIndexOf('user');
    if (ui < 0) return { messages, prompts, question: undefined, blocked: null };
    const g = await guard.input(messages[ui].content);
    if (g.refused) return { messages, prompts, question: messages[ui].content, blocked: g.message ?? '' };
    return { messages: messages.map((m, i) => (i === ui ? { ...m, content: g.text } : m)), prompts, question: g.text, blocked: null };
  }
  const checked: string[] = [];
  for (const p of prompts) {
    const g = await guard.input(p);
    if (g.refused) return { messages, prompts, question: undefined, blocked: g.message ?? '' };
    checked.push(g.text);
  }
  return { messages, prompts: checked, question: undefined, blocked: null };
}

/** Public routes answered before authentication (registered as an onRequest hook ahead of installAuthz). */
export function installPublicGatewayRoutes(app: FastifyInstance, gateway: Gateway, health: () => Record<string, unknown>): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'GET') return;
    const path = req.url.split('?')[0];
    if (path === '/healthz') return reply.header('cache-control', 'no-store').send({ status: 'ok', ...health() });
    if (path === '/metrics') return reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(gateway.metrics.render());
  });
}

/** The control layer, when the server has one: the guard at serving time and the request log. */
export interface GatewayControl {
  guard: GuardRuntime;
  /** Log every answer (default true): feedback by response id and GET /v1/requests need it. */
  log?: boolean;
  /** Published bots answer under their names on /v1/chat/completions and are listed by /v1/models. */
  bots?: BotGatewayHook;
}

export function gatewayRoutes(app: FastifyInstance, gateway: Gateway, policy: KeyPolicy, control?: GatewayControl): void {
  const key = (req: FastifyRequest): ApiKeyRow => {
    if (!req.apiKey) throw new ApiError(401, 'Missing API key.', 'invalid_request_error', null, 'missing_api_key');
    return req.apiKey;
  };

  const admit = async (req: FastifyRequest, ep: Endpoint, model: string) => {
    const k = key(req);
    policy.checkEndpoint(k, ep);
    policy.checkModel(k, model);
    await policy.admit(k);
    return k;
  };

  /** Scope check of the target actually chosen (routes may point at models the key may not use). */
  const targetCheck = (k: ApiKeyRow, requested: string) => (spec: { name: string }) => {
    if (spec.name !== requested && !keyAllowsModel(k, spec.name) && !keyAllowsModel(k, requested)) policy.checkModel(k, spec.name);
  };

  const withErrors = <T>(fn: (req: FastifyRequest, reply: FastifyReply) => Promise<T>) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(req, reply);
    } catch (e) {
      throw toGatewayApiError(e);
    }
  };

  // ------------------------------------------------------------------ models
  app.get('/v1/models', withErrors(async (req) => {
    const k = key(req);
    policy.checkEndpoint(k, 'models');
    const models = (await gateway.listModels()).map((m) => ({ id: m.id, object: 'model', created: m.created, owned_by: m.owned_by }));
    const known = new Set(models.map((m) => m.id));
    const bots = control?.bots ? (await control.bots.list()).filter((b) => !known.has(b.id)).map((b) => ({ id: b.id, object: 'model', created: b.created, owned_by: 'modelfab-bot' })) : [];
    return { object: 'list', data: [...models, ...bots].filter((m) => keyAllowsModel(k, m.id)) };
  }));

  app.get<{ Params: { '*': string } }>('/v1/models/*', withErrors(async (req) => {
    const k = key(req);
    policy.checkEndpoint(k, 'models');
    const id = decodeURIComponent((req.params as { '*': string })['*']);
    const m = (await gateway.listModels()).find((x) => x.id === id);
    if (!m || !keyAllowsModel(k, id)) throw new ServeError(404, `The model '${id}' does not exist`, 'model_not_found', 'model');
    return { id: m.id, object: 'model', created: m.created, owned_by: m.owned_by };
  }));

  // ------------------------------------------------------------------ chat + completions
  const generateRoute = (ep: 'chat.completions' | 'completions') => withErrors(async (req, reply) => {
    const t0 = performance.now();
    const chat = ep === 'chat.completions';
    // A published bot's name that is no model here: the bot answers (same shapes, plus citations).
    const asked = (req.body as { model?: unknown } | null)?.model;
    if (chat && control?.bots && typeof asked === 'string' && !(await gateway.knows(asked)) && (await control.bots.has(asked))) return control.bots.chat(asked, req, reply);
    const r = chat ? parseChatRequest(req.body) : parseCompletionRequest(req.body);
    const k = await admit(req, ep, r.model);
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('base64url')}`;
    const created = Math.floor(Date.now() / 1000);
    let messages = chat ? (r as ReturnType<typeof parseChatRequest>).messages : [];
    let prompts = chat ? [null] : (r as ReturnType<typeof parseCompletionRequest>).prompts;
    const echo = !chat && (r as ReturnType<typeof parseCompletionRequest>).echo;
    const choices = prompts.length * r.n;
    const ac = new AbortController();
    let served = r.model;
    /** The name the gateway resolved (a registered one); metrics and usage count unresolved requests as unknown. */
    let known: string | null = null;
    let status = 200;
    let promptTokens = 0, completionTokens = 0;
    let firstAt = 0;
    const onClose = () => { if (!reply.raw.writableFinished) ac.abort(); };
    reply.raw.on('close', onClose);
    const check = targetCheck(k, r.model);

    // The guard: the deployment's policies, checked on the input first and on the answer below.
    let guard: RequestGuard | null = null;
    let question: string | undefined;
    let blocked: string | null = null;

    // streaming state
    let hijacked = false;
    const prefixes: string[] = [];
    const finals: string[] = [];
    let sse: ((s: string) => void) | null = null;
    let out: SseOut | null = null;
    const chunkHead = (model: string) => `data: {"id":"${id}","object":"${chat ? 'chat.completion.chunk' : 'text_completion'}","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":"modelfab",`;
    const openStream = (model: string) => {
      if (hijacked) return;
      hijacked = true;
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no', 'x-modelfab-model': model });
      raw.socket?.setNoDelay(true);
      out = new SseOut(raw, () => ac.abort());
      const o = out;
      sse = (s: string) => o.push(s);
      const head = `${chunkHead(model)}"choices":[{"index":`;
      for (let i = 0; i < choices; i++) {
        prefixes.push(`${head}${i},${chat ? '"delta":{"content":' : '"text":'}`);
        finals.push(`${head}${i},${chat ? '"delta":{}' : '"text":""'},"logprobs":null,"finish_reason":`);
      }
      if (chat) for (let i = 0; i < choices; i++) sse(`${head}${i},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`);
    };

    const texts: string[][] = Array.from({ length: choices }, () => []);
    const lps: TokenLogprob[][] = Array.from({ length: choices }, () => []);
    const finishes: string[] = new Array(choices).fill('stop');
    const calls: ToolCallOut[][] = Array.from({ length: choices }, () => []);
    /** A choice's tool calls as one stream chunk (whole calls: a client accumulates pieces, one piece is one call). */
    const callsChunk = (ci: number) => `${chunkHead(served)}"choices":[{"index":${ci},"delta":{"tool_calls":${JSON.stringify(calls[ci].map((c, index) => ({ index, ...c })))}},"logprobs":null,"finish_reason":null}]}\n\n`;
    const tail = chat ? '},"logprobs":null,"finish_reason":null}]}\n\n' : ',"logprobs":null,"finish_reason":null}]}\n\n';
    const emit = (ci: number, text: string) => { texts[ci].push(text); sse?.(prefixes[ci] + JSON.stringify(text) + tail); };
    const contentOf = (ci: number) => texts[ci].join('');
    /** The request log entry (feedback by response id, GET /v1/requests/{id}); written before the answer's end reaches the client. */
    const record = () => control?.log === false ? Promise.resolve() : control?.guard.record({
      id, model: served, source: req.headers['x-modelfab-source'] === 'playground' ? 'playground' : 'api', keyId: k.id,
      answer: [contentOf(0), ...calls[0].map((c) => `{"name":${JSON.stringify(c.function.name)},"arguments":${c.function.arguments || '{}'}}`)].filter(Boolean).join('\n'),
      prompt: chat ? messages.filter((m) => m.role === 'system' || m.role === 'user' || m.role === 'assistant') as never : [{ role: 'user', content: (prompts as string[])[0] ?? '' }],
      guard,
    }, (e) => req.log.error({ err: e }, 'request log write failed'));
    try {
      guard = control ? await control.guard.load(await gateway.guardsOf(r.model)) : null;
      if (guard) ({ messages, prompts, question, blocked } = await checkInput(guard, chat, messages, prompts as string[]));
      const runs: Array<Promise<void>> = [];
      if (blocked !== null) {
        // refused on input: no model is touched; every choice carries the refusal message
        for (let ci = 0; ci < choices; ci++) { texts[ci].push(blocked); finishes[ci] = 'content_filter'; }
        if (r.stream) {
          openStream(served);
          for (let ci = 0; ci < choices; ci++) { sse!(prefixes[ci] + JSON.stringify(blocked) + tail); sse!(`${finals[ci]}"content_filter"}]}\n\n`); }
        }
      }
      for (let pi = 0; blocked === null && pi < prompts.length; pi++) {
        for (let j = 0; j < r.n; j++) {
          const ci = pi * r.n + j;
          const prompt = chat ? { kind: 'chat' as const, messages } : { kind: 'text' as const, text: prompts[pi]! };
          // A streamed answer under a guard flows sentence by sentence through its filter (no logprobs then).
          const gs = guard && r.stream ? guard.stream(question !== undefined ? { question } : {}) : null;
          const choiceAc = new AbortController();
          const onAbort = () => choiceAc.abort();
          ac.signal.addEventListener('abort', onAbort, { once: true });
          let chain: Promise<void> = Promise.resolve();
          const onText = (text: string, lp?: TokenLogprob[]) => {
            if (firstAt === 0) { firstAt = performance.now(); gateway.metrics.firstToken(known ?? UNKNOWN_MODEL, (firstAt - t0) / 1000); }
            if (gs) {
              chain = chain.then(async () => {
                const ok = await gs.push(text);
                if (ok) emit(ci, ok);
                if (gs.refused) choiceAc.abort();
              });
            } else if (sse) {
              texts[ci].push(text);
              if (lp && lp.length) {
                const l = chat ? `{"content":${JSON.stringify(lp)}}` : JSON.stringify(completionLogprobs(lp, 0));
                sse(`${prefixes[ci]}${JSON.stringify(text)}${chat ? '}' : ''},"logprobs":${l},"finish_reason":null}]}\n\n`);
              } else sse(prefixes[ci] + JSON.stringify(text) + tail);
            } else {
              texts[ci].push(text);
              if (lp) for (const x of lp) lps[ci].push(x);
            }
          };
          runs.push(gateway.generate(r.model, (spec) => toGenerateParams(r as SamplingIn, prompt, spec.settings, j), { onText }, {
            signal: choiceAc.signal,
            onTarget: (spec) => { check(spec); served = known = spec.name; if (r.stream) openStream(spec.name); },
          }).then(async (res) => {
            promptTokens += j === 0 ? res.promptTokens : 0;
            completionTokens += res.completionTokens;
            finishes[ci] = res.finishReason === 'length' ? 'length' : 'stop';
            if (res.toolCalls?.length) { calls[ci] = res.toolCalls; finishes[ci] = 'tool_calls'; }
            if (gs) {
              await chain;
              const rest = await gs.end();
              if (rest) emit(ci, rest);
              if (gs.refused) { emit(ci, gs.message ?? ''); finishes[ci] = 'content_filter'; calls[ci] = []; }
              guard!.collect(gs);
              if (sse && !ac.signal.aborted && calls[ci].length) sse(callsChunk(ci));
              if (sse && !ac.signal.aborted) sse(`${finals[ci]}"${finishes[ci]}"}]}\n\n`);
            } else if (sse && res.finishReason !== 'abort') {
              if (calls[ci].length) sse(callsChunk(ci));
              sse(`${finals[ci]}"${finishes[ci]}"}]}\n\n`);
            }
          }).finally(() => ac.signal.removeEventListener('abort', onAbort)));
        }
      }
      const settled = await Promise.allSettled(runs);
      const failed = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) {
        ac.abort();
        throw failed.reason;
      }
      if (ac.signal.aborted && hijacked && reply.raw.destroyed) { status = 499; return; }
      // A whole (not streamed) answer under a guard is checked once it is complete; its logprobs stay when the
      // guard passed the text unchanged, and go when the text was rewritten or refused.
      const changed: boolean[] = new Array(choices).fill(guard !== null && (r.stream || blocked !== null));
      if (guard && !r.stream && blocked === null) {
        for (let ci = 0; ci < choices; ci++) {
          if (!contentOf(ci) && calls[ci].length) continue; // only calls: no text to check
          const before = contentOf(ci);
          const g = await guard.output(before, question !== undefined ? { question } : {});
          texts[ci] = [g.refused ? g.message ?? '' : g.text];
          changed[ci] = g.refused || g.text !== before;
          if (g.refused) { finishes[ci] = 'content_filter'; calls[ci] = []; }
        }
      }
      await record();
      const guardField = guard ? { guard: guard.summary() } : {};
      if (r.stream) {
        if (!hijacked) openStream(served);
        const s = sse as unknown as (x: string) => void;
        if (guard) s(`${chunkHead(served)}"choices":[],"guard":${JSON.stringify(guard.summary())}}\n\n`);
        if (r.includeUsage) s(`${chunkHead(served)}"choices":[],"usage":${JSON.stringify(usage(promptTokens, completionTokens))}}\n\n`);
        s('data: [DONE]\n\n');
        (out as SseOut | null)?.end();
        return;
      }
      void reply.header('x-modelfab-model', served);
      if (chat) {
        return {
          id, object: 'chat.completion', created, model: served, system_fingerprint: 'modelfab',
          choices: texts.map((t, i) => ({
            index: i,
            message: {
              role: 'assistant', content: calls[i].length && !t.join('') ? null : t.join(''), refusal: finishes[i] === 'content_filter' ? t.join('') : null,
              ...(calls[i].length ? { tool_calls: calls[i] } : {}),
            },
            logprobs: r.logprobs && !changed[i] ? { content: lps[i], refusal: null } : null, finish_reason: finishes[i],
          })),
          usage: usage(promptTokens, completionTokens), ...guardField,
        };
      }
      return {
        id, object: 'text_completion', created, model: served, system_fingerprint: 'modelfab',
        choices: texts.map((t, i) => {
          const p = prompts[Math.floor(i / r.n)]!;
          const text = (echo ? p : '') + t.join('');
          return { index: i, text, logprobs: r.logprobs && !changed[i] ? completionLogprobs(lps[i], echo ? p.length : 0) : null, finish_reason: finishes[i] };
        }),
        usage: usage(promptTokens, completionTokens), ...guardField,
      };
    } catch (e) {
      const err = toGatewayApiError(e);
      status = err instanceof ApiError ? err.status : 500;
      if (hijacked) {
        if (!reply.raw.writableEnded && !reply.raw.destroyed) { const o = out as SseOut | null; o?.push(errorEvent(e)); o?.end(); }
        if (status >= 500) req.log.error({ err: e }, 'stream failed');
        return;
      }
      throw err;
    } finally {
      reply.raw.off('close', onClose);
      const secs = (performance.now() - t0) / 1000;
      gateway.metrics.request(known ?? UNKNOWN_MODEL, ep, status, secs);
      gateway.metrics.tokens(known ?? UNKNOWN_MODEL, promptTokens, completionTokens);
      policy.record(k.id, known ?? UNKNOWN_MODEL, promptTokens, completionTokens, status >= 400);
      const g = guard ? { guard: { policies: guard.policies, outcome: guard.summary().outcome, ms: Math.round(guard.verdicts.reduce((a, v) => a + v.latency_ms, 0) * 1000) / 1000 } } : {};
      req.log.info({ access: { id, key: k.id, endpoint: ep, model: served, status, stream: r.stream, prompt_tokens: promptTokens, completion_tokens: completionTokens, ttft_ms: firstAt ? Math.round(firstAt - t0) : null, ms: Math.round(secs * 1000), ...g } }, 'inference');
    }
  });

  app.post('/v1/chat/completions', generateRoute('chat.completions'));
  app.post('/v1/completions', generateRoute('completions'));

  // ------------------------------------------------------------------ embeddings
  app.post('/v1/embeddings', withErrors(async (req, reply) => {
    const t0 = performance.now();
    const r = parseEmbeddingRequest(req.body);
    const k = await admit(req, 'embeddings', r.model);
    const ac = new AbortController();
    const onClose = () => { if (!reply.raw.writableFinished) ac.abort(); };
    reply.raw.on('close', onClose);
    let served = r.model, status = 200, tokens = 0;
    let known: string | null = null;
    try {
      const res = await gateway.embed(r.model, r.input, ac.signal, (spec) => { targetCheck(k, r.model)(spec); served = known = spec.name; });
      tokens = res.promptTokens;
      if (r.dimensions !== undefined && res.vectors[0] && r.dimensions !== res.vectors[0].length) {
        throw new ServeError(400, `This model's embeddings have ${res.vectors[0].length} dimensions; 'dimensions' ${r.dimensions} is not supported.`, 'invalid_value', 'dimensions');
      }
      return {
        object: 'list', model: served,
        data: res.vectors.map((v, i) => ({ object: 'embedding', index: i, embedding: r.base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v })),
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
    } catch (e) {
      const err = toGatewayApiError(e);
      status = err instanceof ApiError ? err.status : 500;
      throw err;
    } finally {
      reply.raw.off('close', onClose);
      const secs = (performance.now() - t0) / 1000;
      gateway.metrics.request(known ?? UNKNOWN_MODEL, 'embeddings', status, secs);
      gateway.metrics.tokens(known ?? UNKNOWN_MODEL, tokens, 0);
      policy.record(k.id, known ?? UNKNOWN_MODEL, tokens, 0, status >= 400);
      req.log.info({ access: { key: k.id, endpoint: 'embeddings', model: served, status, prompt_tokens: tokens, ms: Math.round(secs * 1000) } }, 'inference');
    }
  }));

}
