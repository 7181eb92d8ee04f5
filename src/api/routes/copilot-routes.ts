/**
 * /v1/copilot/chat/completions: the Copilot (src/copilot/copilot.ts) in OpenAI's chat shapes, so any app with an
 * OpenAI client uses it (`baseURL: <server>/v1/copilot`, `model`: the model that drives it, any chat model the key
 * may use). Extra request field `copilot: {knowledge?: string[], max_steps?: number, retrieve?: number, page?: {title?,
 * url?, passages: [{id, text}]}}` (a page's passages: sources [1..n], each source keeping its `passage` id); the
 * response adds `copilot: {model, steps, sources}` (a final `choices: []` chunk when streaming).
 *
 * What the Copilot reaches is the caller's key: its models (the driving one and those `ask_model` names), its
 * knowledge bases, published bots. The driving model's guard policy checks the question and the answer (a
 * guarded answer is sent once checked, as one piece when streaming); every answer is in the request log
 * (source `copilot`), so feedback by response id works.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRow } from '../../store/store.ts';
import type { Gateway } from '../../serve/gateway.ts';
import { keyAllowsModel, type KeyPolicy } from '../../serve/api-keys.ts';
import { parseChatRequest } from '../../openai/chat-requests.ts';
import type { ChatRequest } from '../../openai/wire-types.ts';
import { toGenerateParams } from '../../serve/generation-params.ts';
import { ServeError } from '../../serve/deployments.ts';
import type { KnowledgeService } from '../../knowledge/knowledge-service.ts';
import type { BotService } from '../../bots/bot-service.ts';
import type { GuardRuntime } from '../../control/guard-runtime.ts';
import { Copilot, type CopilotDeps, type CopilotOptions, type CopilotPage, type CopilotSource, type CopilotStep } from '../../copilot/copilot.ts';
import { requireKey, serveChat, type ChatAnswerer, type ChatRead } from '../chat-pipeline.ts';
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

/** Limits of `copilot.page`: a client sends the passages it picked for the question, not a whole site. */
export const PAGE_LIMITS = { passages: 40, passageChars: 4000, idChars: 32, titleChars: 300, urlChars: 2000 } as const;

function parsePage(v: unknown): CopilotPage | undefined {
  if (v === undefined) return undefined;
  const bad = (param: string, msg: string): never => { throw new ServeError(400, `Invalid 'copilot.page${param}': ${msg}`, 'invalid_value', `copilot.page${param}`); };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('', 'expected an object {title?, url?, passages: [{id, text}]}.');
  const o = v as Record<string, unknown>;
  for (const [k, max] of [['title', PAGE_LIMITS.titleChars], ['url', PAGE_LIMITS.urlChars]] as const) {
    if (o[k] !== undefined && (typeof o[k] !== 'string' || (o[k] as string).length > max)) bad(`.${k}`, `expected a string of at most ${max} characters.`);
  }
  if (!Array.isArray(o.passages) || !o.passages.length || o.passages.length > PAGE_LIMITS.passages) bad('.passages', `expected 1 to ${PAGE_LIMITS.passages} passages.`);
  const seen = new Set<string>();
  const passages = (o.passages as unknown[]).map((p, i) => {
    const x = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    if (typeof x.id !== 'string' || !/^[\w.-]+$/.test(x.id) || x.id.length > PAGE_LIMITS.idChars) bad(`.passages[${i}].id`, `expected letters, digits, '_', '.' or '-' (at most ${PAGE_LIMITS.idChars}).`);
    if (seen.has(x.id as string)) bad(`.passages[${i}].id`, `"${x.id as string}" is used twice.`);
    seen.add(x.id as string);
    if (typeof x.text !== 'string' || !x.text.trim() || x.text.length > PAGE_LIMITS.passageChars) bad(`.passages[${i}].text`, `expected a non-empty string of at most ${PAGE_LIMITS.passageChars} characters.`);
    return { id: x.id as string, text: x.text as string };
  });
  return { title: o.title as string | undefined, url: o.url as string | undefined, passages };
}

/** The request's `copilot` field, validated; every problem is a 400 naming the field. */
export function parseCopilotOptions(body: unknown): CopilotOptions {
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
  return { maxSteps: int('max_steps', 1, 8), retrieve: int('retrieve', 0, 8), knowledge: o.knowledge as string[] | undefined, page: parsePage(o.page) };
}

/** Any web page may call the Copilot with a key (CORS); the preflight is answered before authentication. */
export function installPublicCopilotRoutes(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.split('?')[0] !== '/v1/copilot/chat/completions') return;
    if (req.method === 'OPTIONS') return reply.status(204).headers(CHAT_CORS).send();
    void reply.headers(CHAT_CORS);
  });
}

/** A Copilot request as read: the chat request and the Copilot's own options. */
interface CopilotRead extends ChatRead { q: ChatRequest; options: CopilotOptions }

export function copilotRoutes(app: FastifyInstance, d: CopilotRouteDeps): void {
  /**
   * The Copilot as the chat pipeline's answerer. Its answer streams as it is made; under a guard it is checked whole
   * against the sources it found (known only at the end) and sent as one piece. Tokens are every model call's, as
   * the gateway counted them (the driving model's tokenizer, and ask_model's).
   */
  const copilotAnswerer = (req: FastifyRequest, k: ApiKeyRow): ChatAnswerer<CopilotRead> => {
    const scope = knowledgeScope(req);
    let steps: CopilotStep[] = [], sources: CopilotSource[] = [];
    return {
      source: 'copilot', endpoint: 'copilot', live: 'unguarded', trailer: 'one-chunk',
      read(rq) {
        const q = parseChatRequest(rq.body);
        if (q.tools?.length) throw new ServeError(400, "The Copilot brings its own tools; 'tools' is not accepted here (use /v1/chat/completions for your own).", 'unsupported_parameter', 'tools');
        const options = { ...parseCopilotOptions(rq.body), maxTokens: q.maxTokens, temperature: q.temperature };
        return { model: q.model, stream: q.stream, includeUsage: q.includeUsage, n: 1, input: { kind: 'chat', messages: q.messages }, q, options };
      },
      authorize(key, r) {
        d.policy.checkEndpoint(key, 'chat.completions');
        d.policy.checkModel(key, r.model);
      },
      async prepare(r) {
        if (r.options.knowledge) for (const id of r.options.knowledge) await d.knowledge.requireKb(id, scope).catch(() => { throw new ServeError(404, `Invalid 'copilot.knowledge': no knowledge base ${id} for this key.`, 'not_found', 'copilot.knowledge'); });
      },
      policies: (r) => d.gateway.guardsOf(r.model),
      headers: (_model, stream) => (stream ? { ...CHAT_CORS } : {}),
      async answer(r, input, sink) {
        let promptTokens = 0, completionTokens = 0;
        const deps: CopilotDeps = {
          async generate(model, g, onText) {
            if (!keyAllowsModel(k, model)) throw new ServeError(403, `This key may not use the model '${model}'.`, 'model_not_allowed', 'model');
            let text = '';
            const res = await d.gateway.generate(model, (spec) => {
              const p = toGenerateParams({ ...r.q, maxTokens: undefined }, { kind: 'chat', messages: g.messages }, spec.settings);
              return { ...p, maxTokens: Math.min(g.maxTokens ?? p.maxTokens, spec.settings.maxTokensLimit), ...(g.tools ? { tools: g.tools, toolChoice: g.toolChoice, parallelToolCalls: true } : {}), logprobs: undefined, json: undefined };
            }, { onText: (t) => { text += t; onText?.(t); } }, { signal: sink.signal(0) });
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
        const messages = input.kind === 'chat' ? input.messages : [];
        const result = await new Copilot(deps, r.options).chat(r.model, messages, (t) => sink.text(0, t));
        steps = result.steps;
        sources = result.sources;
        await sink.end(0, { finish: result.finishReason === 'length' ? 'length' : result.finishReason === 'content_filter' ? 'content_filter' : 'stop', text: result.answer });
        return { model: result.model, promptTokens, completionTokens, sources: result.sources.map((x) => ({ id: String(x.ref), ref: x.ref, label: x.label, text: x.text })) };
      },
      extra: (r, answered) => ({ copilot: { model: answered?.model ?? r.model, steps, sources } }),
    };
  };

  app.post('/v1/copilot/chat/completions', async (req: FastifyRequest, reply: FastifyReply) => serveChat({ policy: d.policy, guard: d.guard, log: d.log }, req, reply, copilotAnswerer(req, requireKey(req))));
}
