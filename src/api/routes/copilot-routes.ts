/**
 * /v1/copilot/chat/completions: the Copilot (src/copilot/copilot.ts) in OpenAI's chat shapes, so any app with an
 * OpenAI client uses it (`baseURL: <server>/v1/copilot`, `model`: the model that drives it, any chat model the key
 * may use). Extra request field `copilot: {knowledge?: string[], max_steps?: number, retrieve?: number}`; the
 * response adds `copilot: {model, steps, sources}` (a final `choices: []` chunk when streaming).
 *
 * What the Copilot reaches is the caller's key: its models (the driving one and those `ask_model` names), its
 * knowledge bases, published bots. The driving model's guard policy checks the question and the answer (a
 * guarded answer is sent once checked, as one piece when streaming); every answer is in the request log
 * (source `copilot`), so feedback by response id works.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../../serve/gateway.ts';
import { keyAllowsModel, type KeyPolicy } from '../../serve/api-keys.ts';
import { parseChatRequest, toGenerateParams, usage } from '../../serve/openai.ts';
import { ServeError } from '../../serve/deployments.ts';
import type { KnowledgeService } from '../../knowledge/knowledge-service.ts';
import type { BotService } from '../../bots/bot-service.ts';
import type { GuardRuntime } from '../../control/guard-runtime.ts';
import { Copilot, type CopilotDeps, type CopilotOptions } from '../../copilot/copilot.ts';
import { ApiError } from '../errors.ts';
import { checkInput, errorEvent, toGatewayApiError } from './gateway-routes.ts';
import { knowledgeScope } from './knowledge-routes.ts';
import { CHAT_CORS } from '../cors.ts';

export interface CopilotRouteDeps {
  gateway: Gateway;
  policy: KeyPolicy;
  knowledge: KnowledgeService;
  bots: BotService;
  guard?: GuardRuntime;
  log?: boolean;
}

function options(body: unknown): CopilotOptions {
  const c = (body as { copilot?: unknown }).copilot;
  if (c === undefined || c === null) return {};
  if (typeof c !== 'object' || Array.isArray(c)) throw new ServeError(400, "Invalid type for 'copilot': expected an object.", 'invalid_type', 'copilot');
  const o = c as Record<string, unknown>;
  const int = (k: string, lo: number, hi: number) => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) throw new ServeError(400, `Invalid 'copilot.${k}': expected an integer from ${lo} to ${hi}.`, 'invalid_value', `copilot.${k}`);
    return v as number;
  };
  if (o.knowledge !== undefined && (!Array.isArray(o.knowledge) || !o.knowledge.every((x) => typeof x === 'string'))) {
    throw new ServeError(400, "Invalid 'copilot.knowledge': expected an array of knowledge base ids.", 'invalid_type', 'copilot.knowledge');
  }
  return { maxSteps: int('max_steps', 1, 8), retrieve: int('retrieve', 0, 8), knowledge: o.knowledge as string[] | undefined };
}

/** Any web page may call the Copilot with a key (CORS); the preflight is answered before authentication. */
export function installPublicCopilotRoutes(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.split('?')[0] !== '/v1/copilot/chat/completions') return;
    if (req.method === 'OPTIONS') return reply.status(204).headers(CHAT_CORS).send();
    void reply.headers(CHAT_CORS);
  });
}

export function copilotRoutes(app: FastifyInstance, d: CopilotRouteDeps): void {
  app.post('/v1/copilot/chat/completions', async (req: FastifyRequest, reply: FastifyReply) => {
    const t0 = performance.now();
    const k = req.apiKey;
    if (!k) throw new ApiError(401, 'Missing API key.', 'invalid_request_error', null, 'missing_api_key');
    let promptTokens = 0, completionTokens = 0, status = 200, served = '';
    try {
      const r = parseChatRequest(req.body);
      if (r.tools?.length) throw new ServeError(400, "The Copilot brings its own tools; 'tools' is not accepted here (use /v1/chat/completions for your own).", 'unsupported_parameter', 'tools');
      const o = { ...options(req.body), maxTokens: r.maxTokens, temperature: r.temperature };
      served = r.model;
      d.policy.checkEndpoint(k, 'chat.completions');
      d.policy.checkModel(k, r.model);
      await d.policy.admit(k);
      const scope = knowledgeScope(req);
      if (o.knowledge) for (const id of o.knowledge) await d.knowledge.requireKb(id, scope).catch(() => { throw new ServeError(404, `Invalid 'copilot.knowledge': no knowledge base ${id} for this key.`, 'not_found', 'copilot.knowledge'); });
      const ac = new AbortController();
      const onClose = () => { if (!reply.raw.writableFinished) ac.abort(); };
      reply.raw.on('close', onClose);
      const deps: CopilotDeps = {
        async generate(model, g, onText) {
          if (!keyAllowsModel(k, model)) throw new ServeError(403, `This key may not use the model '${model}'.`, 'model_not_allowed', 'model');
          let text = '';
          const res = await d.gateway.generate(model, (spec) => {
            const p = toGenerateParams({ ...r, maxTokens: undefined }, { kind: 'chat', messages: g.messages }, spec.settings);
            return { ...p, maxTokens: Math.min(g.maxTokens ?? p.maxTokens, spec.settings.maxTokensLimit), ...(g.tools ? { tools: g.tools, toolChoice: g.toolChoice, parallelToolCalls: true } : {}), logprobs: undefined, json: undefined };
          }, { onText: (t) => { text += t; onText?.(t); } }, { signal: ac.signal });
          promptTokens += res.promptTokens;
          completionTokens += res.completionTokens;
          return { text, toolCalls: res.toolCalls, finishReason: res.finishReason, model: res.model };
        },
        knowledgeBases: async () => (await d.knowledge.listKbs(scope)).map((b) => ({ id: b.id, name: b.name, description: b.description })),
        search: async (ids, q, n) => (await d.knowledge.search(ids, q, { k: n, scope })).results.map((h) => ({ kb: h.kbId, label: h.label && h.label !== h.docTitle ? `${h.docTitle} ${h.label}`.trim() : h.docTitle, text: h.context.length <= 1200 ? h.context : h.text })),
        bots: async () => (await d.bots.listBots()).filter((b) => b.published && keyAllowsModel(k, b.name)).map((b) => ({ name: b.name, description: b.description })),
        askBot: async (name, q) => {
          const bot = (await d.bots.listBots()).find((b) => b.name === name && b.published);
          if (!bot || !keyAllowsModel(k, name)) throw new Error(`ask_bot: no published bot "${name}" for this key`);
          const a = await d.bots.answer(name, q);
          return { answer: a.answer, found: a.found, citations: a.citations.map((c) => ({ label: c.label, passage: c.passage })) };
        },
        models: async () => (await d.gateway.listModels()).map((m) => m.id).filter((id) => keyAllowsModel(k, id)),
      };
      const id = `chatcmpl-${randomBytes(12).toString('base64url')}`;
      const created = Math.floor(Date.now() / 1000);
      const guard = d.guard ? await d.guard.load(await d.gateway.guardsOf(r.model)) : null;
      // the guard's input stage, as on /v1/chat/completions: a rewrite is what the Copilot sees, a refusal answers
      const { messages, question, blocked: refused } = guard ? await checkInput(guard, true, r.messages, []) : { messages: r.messages, question: undefined, blocked: null };
      const head = (model: string) => `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":"modelfab",`;
      let opened = false;
      const open = () => {
        if (opened) return;
        opened = true;
        reply.hijack();
        reply.raw.writeHead(200, { ...CHAT_CORS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        reply.raw.write(`${head(r.model)}"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`);
      };
      const delta = (t: string) => { open(); reply.raw.write(`${head(r.model)}"choices":[{"index":0,"delta":{"content":${JSON.stringify(t)}},"logprobs":null,"finish_reason":null}]}\n\n`); };
      // the answer streams as it is made, unless a guard must see it whole first
      const live = r.stream && !guard;
      const result = refused !== null
        ? { answer: refused, sources: [], steps: [], model: r.model, finishReason: 'content_filter' }
        : await new Copilot(deps, o).chat(r.model, messages, live ? delta : undefined);
      let answer = result.answer, finish = result.finishReason === 'length' ? 'length' : result.finishReason === 'content_filter' ? 'content_filter' : 'stop';
      if (guard && refused === null) {
        const g = await guard.output(answer, { question, sources: result.sources.map((s) => ({ id: String(s.ref), ref: s.ref, label: s.label, text: s.text })) });
        answer = g.refused ? g.message ?? '' : g.text;
        if (g.refused) finish = 'content_filter';
      }
      served = result.model;
      if (d.log !== false && d.guard) {
        await d.guard.record({ id, model: result.model, source: 'copilot', keyId: k.id, prompt: messages.filter((m) => m.role === 'system' || m.role === 'user' || m.role === 'assistant') as never, answer, guard }, (e) => req.log.error({ err: e }, 'request log write failed'));
      }
      const copilot = { model: result.model, steps: result.steps, sources: result.sources };
      const guardField = guard ? { guard: guard.summary() } : {};
      reply.raw.off('close', onClose);
      if (r.stream) {
        if (!live || !opened) { open(); if (answer) reply.raw.write(`${head(r.model)}"choices":[{"index":0,"delta":{"content":${JSON.stringify(answer)}},"logprobs":null,"finish_reason":null}]}\n\n`); }
        reply.raw.write(`${head(r.model)}"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}]}\n\n`);
        reply.raw.write(`${head(r.model)}"choices":[],"copilot":${JSON.stringify(copilot)}${guard ? `,"guard":${JSON.stringify(guard.summary())}` : ''}${r.includeUsage ? `,"usage":${JSON.stringify(usage(promptTokens, completionTokens))}` : ''}}\n\n`);
        reply.raw.end('data: [DONE]\n\n');
        return reply;
      }
      return {
        id, object: 'chat.completion', created, model: r.model, system_fingerprint: 'modelfab',
        choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: finish === 'content_filter' ? answer : null }, logprobs: null, finish_reason: finish }],
        usage: usage(promptTokens, completionTokens), copilot, ...guardField,
      };
    } catch (e) {
      const err = toGatewayApiError(e);
      status = err instanceof ApiError ? err.status : 500;
      if (reply.sent || reply.raw.headersSent) {
        if (!reply.raw.writableEnded) reply.raw.end(`${errorEvent(e)}data: [DONE]\n\n`);
        return reply;
      }
      throw err;
    } finally {
      d.policy.record(k.id, served || 'copilot', promptTokens, completionTokens, status >= 400);
      req.log.info({ access: { key: k.id, endpoint: 'copilot', model: served, status, prompt_tokens: promptTokens, completion_tokens: completionTokens, ms: Math.round(performance.now() - t0) } }, 'copilot');
    }
  });
}
