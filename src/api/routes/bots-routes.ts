/**
 * /v1/bots: the Bot Factory over HTTP (thin: parse, call BotService, shape the answer). A key that manages bots
 * (../authz.ts) for building, review, tests, approval, publishing, keys, export and experiments (with datasets and
 * experiments too); a guard policy in a bot's config only with an admin key; the published bot's chat endpoint
 * POST /v1/bots/{name}/chat/completions takes any key whose scopes allow the model `{name}` and `chat.completions`,
 * speaks OpenAI's request/response shapes and adds the documented field `citations` (each: ref, document, docId,
 * itemId, chunkId, article, label, passage, score, sure) plus `bot` (version, confidence, found, sure, language,
 * translated, generator), and `guard` (policies, outcome, verdicts) when the bot has a guard policy: the question is checked before the bot answers, the
 * answer against its cited passages before it leaves; a refusal is the policy's message with finish_reason
 * `content_filter`. The key's rate limit and quota apply; every answer is in the request log (source `bot`).
 * Public (no key): GET /v1/bots/{name}/widget.js (the one-script-tag widget) and the CORS preflight of the chat and
 * feedback endpoints, so the widget works on any site; the calls themselves still need the key in data-key.
 * POST /v1/bots/{name}/feedback: right/wrong (or a rating, a correction) on one of the bot's answers by response id.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BotService, type DatasetSink, type ExperimentLauncher, type PairReview } from '../../bots/bot-service.ts';
import { FileBotRepository } from '../../bots/bot-repository.ts';
import { KnowledgeService, type KnowledgeServiceOptions } from '../../knowledge/knowledge-service.ts';
import { FileKnowledgeRepository } from '../../knowledge/knowledge-repository.ts';
import { OpenAIPairModel } from '../../bots/extract/model-pairs.ts';
import { widgetScript } from '../../bots/widget.ts';
import type { BotAnswer, BotConfig, TestQuestion } from '../../bots/bot-types.ts';
import { estimateTokens } from '../../data/dataset-limits.ts';
import { serveChat, type ChatAnswerer, type ChatRead } from '../chat-pipeline.ts';
import { createKey, describeKey, keyAllowsArea, keyAllowsEndpoint, keyAllowsModel, type KeyPolicy } from '../../serve/api-keys.ts';
import type { GuardRuntime } from '../../control/guard-runtime.ts';
import type { RequestLog } from '../../control/request-log.ts';
import type { GuardPolicyStore } from '../../control/guard-policies.ts';
import type { FeedbackService } from '../../control/feedback.ts';
import type { Store } from '../../store/store.ts';
import { CHAT_CORS } from '../cors.ts';
import { ApiError } from '../errors.ts';
import { requireRequestAccess } from '../authz.ts';

export interface BotRouteDeps {
  store: Store;
  /** Rate limits, quotas and usage of API keys (as on the gateway). */
  keyPolicy?: KeyPolicy;
  /** The guard at serving time (and the request log it records answers in). */
  guard?: GuardRuntime;
  /** Guard policies: a bot's `config.guard` must name one. */
  guardPolicies?: Pick<GuardPolicyStore, 'getPolicyText'>;
  /** Feedback on a bot's answer: the request log finds the answer, the feedback service takes it. */
  requestLog?: Pick<RequestLog, 'getResponse'>;
  feedback?: Pick<FeedbackService, 'create'>;
  /** DataService.importDataset and FactoryService.createExperiment, for "start an experiment from the pairs". */
  importDataset?: DatasetSink['importDataset'];
  createExperiment?: ExperimentLauncher['createExperiment'];
}

const CHAT_PATH = /^\/v1\/bots\/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\/(chat\/completions|feedback)$/;
const WIDGET_PATH = /^\/v1\/bots\/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\/widget\.js$/;

/** A person an admin names as the one who decided (`by`); other keys are recorded as themselves. */
function named(req: FastifyRequest, by: unknown): string | undefined {
  return req.apiKey!.role === 'admin' && typeof by === 'string' && by.trim() ? by : undefined;
}

/** Who does it, for the history: the key's name (the route's rule, ../authz.ts, has checked the key may). */
function actor(req: FastifyRequest): string {
  return req.apiKey!.role === 'admin' ? req.apiKey!.name : `key:${req.apiKey!.name}`;
}

/** Public routes, answered before authentication: register ahead of installAuthz. */
export function installPublicBotRoutes(app: FastifyInstance, bots: BotService): void {
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (req.method === 'GET') {
      const m = WIDGET_PATH.exec(path);
      if (!m) return;
      const proto = (req.headers['x-forwarded-proto'] as string | undefined) ?? req.protocol;
      const origin = `${proto}://${req.headers.host ?? 'localhost'}`;
      const published = await bots.requirePublished(m[1]!).then(() => true, () => false);
      if (!published) return reply.status(404).header('content-type', 'application/javascript; charset=utf-8').send(`console.error(${JSON.stringify(`modelfab: no published bot ${m[1]}`)});\n`);
      return reply.header('content-type', 'application/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').header('access-control-allow-origin', '*').send(widgetScript(m[1]!, origin));
    }
    if (CHAT_PATH.test(path)) {
      if (req.method === 'OPTIONS') return reply.status(204).headers(CHAT_CORS).send();
      void reply.headers(CHAT_CORS);
    }
  });
}

interface ChatBody { model?: string; messages?: { role: string; content: unknown }[]; stream?: boolean; version?: number }

/** A bot chat as read: the conversation (earlier turns and the question last), and the version that answers. */
interface BotRead extends ChatRead { version: number; history: { role: 'user' | 'assistant'; content: string }[] }

function lastUser(body: ChatBody): { question: string; history: { role: 'user' | 'assistant'; content: string }[] } {
  if (!Array.isArray(body?.messages) || !body.messages.length) throw new ApiError(400, "'messages' must be a non-empty array", 'invalid_request_error', 'messages', 'invalid_value');
  const text = (c: unknown) => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('') : '');
  const msgs = body.messages.map((m) => ({ role: m?.role, content: text(m?.content) }));
  const i = msgs.map((m) => m.role).lastIndexOf('user');
  if (i < 0 || !msgs[i]!.content.trim()) throw new ApiError(400, 'the last user message is empty', 'invalid_request_error', 'messages', 'invalid_value');
  const history = msgs.slice(0, i).filter((m) => m.role === 'user' || m.role === 'assistant') as { role: 'user' | 'assistant'; content: string }[];
  return { question: msgs[i]!.content, history };
}

/** What the gateway needs to serve published bots under their names (model = the bot's name). */
export interface BotGatewayHook {
  /** Whether `name` is a published bot. */
  has(name: string): Promise<boolean>;
  chat(name: string, req: FastifyRequest, reply: FastifyReply): Promise<unknown>;
  /** Published bots, for /v1/models. */
  list(): Promise<Array<{ id: string; created: number }>>;
}

export function botsRoutes(app: FastifyInstance, bots: BotService, deps: BotRouteDeps): BotGatewayHook {
  /** A bot's `config.guard` must name an existing guard policy. */
  const checkGuard = async (req: FastifyRequest, config: Partial<BotConfig> | undefined) => {
    const g = config?.guard;
    // guard policies are the admin's: setting or removing one is too
    if (g !== undefined) requireRequestAccess(req, 'admin');
    if (g === undefined || g === null || !deps.guardPolicies) return;
    if (typeof g !== 'string' || (await deps.guardPolicies.getPolicyText(g)) === null) {
      throw new ApiError(400, `config.guard: no guard policy named ${JSON.stringify(g)} (create it with PUT /v1/guard/policies/{name})`, 'invalid_request_error', 'config.guard', 'guard_policy_not_found');
    }
  };

  // ------------------------------------------------------------------ bots
  app.get('/v1/bots', async () => { return { object: 'list', data: await bots.listBots() }; });

  app.post<{ Body: { name?: string; kb?: string; description?: string; config?: Partial<BotConfig> } }>('/v1/bots', async (req) => {
    const b = req.body ?? {};
    await checkGuard(req, b.config);
    // a missing name or kb is refused by createBot, as an empty one is
    return bots.createBot({ name: b.name ?? '', kbId: b.kb ?? '', description: b.description, config: b.config });
  });

  app.post<{ Body: { name?: string; filename?: string; text?: string; base64?: string; lexicon?: string; lexicon_name?: string; lexicon_extra?: string; per_unit?: number; paraphrases?: number; approve_all?: boolean; config?: Partial<BotConfig> } }>('/v1/bots/build', async (req) => {
    const by = actor(req);
    const b = req.body ?? {};
    if (typeof b.filename !== 'string' || (typeof b.text !== 'string' && typeof b.base64 !== 'string')) throw new ApiError(400, 'filename and text (or base64) are required', 'invalid_request_error', 'text', 'invalid_value');
    await checkGuard(req, b.config);
    const data = typeof b.text === 'string' ? new TextEncoder().encode(b.text) : Buffer.from(b.base64!, 'base64');
    const r = await bots.build({
      name: b.name ?? '', filename: b.filename, data, lexicon: b.lexicon, lexiconName: b.lexicon_name, lexiconExtra: b.lexicon_extra,
      rules: { perUnit: b.per_unit, paraphrases: b.paraphrases }, approveAll: b.approve_all === true, actor: by, config: b.config,
    });
    return {
      ...r, version: r.version ? { version: r.version.version, pairs: r.version.pairs.length, status: r.version.status } : null,
      retriever: r.version ? await bots.retrieverStatus(r.bot.name, r.version.version) : null,
    };
  });

  app.get<{ Params: { name: string } }>('/v1/bots/:name', async (req) => {
    const bot = await bots.requireBot(req.params.name);
    const versions = (await bots.listVersions(bot.name)).map((v) => ({ version: v.version, createdAt: v.createdAt, status: v.status, pairs: v.pairs.length, approvedReport: v.approvedReport }));
    // the retriever of the version that answers: its factory job, and whether the matcher uses it yet
    return { ...bot, versions, retriever: await bots.retrieverStatus(bot.name) };
  });

  app.patch<{ Params: { name: string }; Body: { description?: string; config?: Partial<BotConfig> } }>('/v1/bots/:name', async (req) => { await checkGuard(req, req.body?.config); return bots.updateBot(req.params.name, req.body ?? {}); });
  app.delete<{ Params: { name: string } }>('/v1/bots/:name', async (req) => { await bots.deleteBot(req.params.name); return { deleted: true, name: req.params.name }; });

  app.get<{ Params: { name: string } }>('/v1/bots/:name/lexicon', async (req, reply) => {
    const bot = await bots.requireBot(req.params.name);
    return reply.header('content-type', 'text/plain; charset=utf-8').send((await bots.knowledge.repo.getLexicon(bot.config.kbId)) ?? '');
  });
  /** Replace (or, with {append:true}, extend) the bot's domain synonym dictionary; the index is rebuilt. */
  app.put<{ Params: { name: string }; Body: { text: string; append?: boolean } }>('/v1/bots/:name/lexicon', async (req) => {
    const bot = await bots.requireBot(req.params.name);
    if (typeof req.body?.text !== 'string') throw new ApiError(400, 'text is required', 'invalid_request_error', 'text', 'invalid_value');
    const cur = req.body.append ? ((await bots.knowledge.repo.getLexicon(bot.config.kbId)) ?? '') : '';
    await bots.knowledge.updateKb(bot.config.kbId, { lexicon: `${cur}\n${req.body.text}`.trim() + '\n' });
    return { updated: true };
  });

  // ------------------------------------------------------------------ pairs
  app.post<{ Params: { name: string }; Body: { method?: 'rules' | 'model'; per_unit?: number; paraphrases?: number; held_out?: number; model?: { base_url: string; model: string; api_key_env?: string }; style_examples?: string[] } }>('/v1/bots/:name/extract', async (req) => {
    const by = actor(req);
    const b = req.body ?? {};
    if ((b.method ?? 'rules') === 'rules') {
      const r = await bots.extract(req.params.name, { method: 'rules', rules: { perUnit: b.per_unit, paraphrases: b.paraphrases, heldOut: b.held_out }, actor: by });
      return { object: 'bot.extraction', method: 'rules', pairs: r.pairs.length, problems: r.problems, data: r.pairs };
    }
    // the server calls base_url with the secret named by api_key_env: an admin's decision, never a user key's
    requireRequestAccess(req, 'admin');
    if (!b.model?.base_url || !b.model?.model) throw new ApiError(400, 'model extraction needs model.base_url and model.model', 'invalid_request_error', 'model', 'invalid_value');
    const model = new OpenAIPairModel({ baseUrl: b.model.base_url, model: b.model.model, apiKey: b.model.api_key_env ? process.env[b.model.api_key_env] : undefined });
    const r = await bots.extract(req.params.name, { method: 'model', model, options: { perChunk: b.per_unit, styleExamples: b.style_examples }, actor: by });
    return { object: 'bot.extraction', method: 'model', pairs: r.pairs.length, problems: r.problems, data: r.pairs };
  });

  app.get<{ Params: { name: string }; Querystring: { state?: 'pending' | 'approved' | 'rejected'; item?: string; origin?: string } }>('/v1/bots/:name/pairs', async (req) => {
    const data = await bots.listPairs(req.params.name, { state: req.query.state, itemId: req.query.item, origin: req.query.origin });
    return { object: 'list', data };
  });

  app.post<{ Params: { name: string }; Body: { question?: string; answer?: string; item_id?: string; paraphrases?: string[] } }>('/v1/bots/:name/pairs', async (req) => {
    const by = actor(req);
    const b = req.body ?? {};
    // missing fields are refused by addPair, as empty ones are
    return bots.addPair(req.params.name, { question: b.question ?? '', answer: b.answer ?? '', itemId: b.item_id ?? '', paraphrases: b.paraphrases }, by);
  });

  app.post<{ Params: { name: string }; Body: PairReview & { ids: string[] | 'all-pending' } }>('/v1/bots/:name/pairs/review', async (req) => {
    const by = actor(req);
    const b = req.body;
    if (!b || !['approve', 'reject', 'reset', 'edit', 'delete'].includes(b.action)) throw new ApiError(400, 'action must be approve, reject, reset, edit or delete', 'invalid_request_error', 'action', 'invalid_value');
    const ids = b.ids === 'all-pending' ? (await bots.listPairs(req.params.name, { state: 'pending' })).map((p) => p.id) : b.ids;
    if (!Array.isArray(ids)) throw new ApiError(400, "ids must be a list of pair ids or 'all-pending'", 'invalid_request_error', 'ids', 'invalid_value');
    const data = await bots.review(req.params.name, ids, b, by);
    return { object: 'list', data };
  });

  app.get<{ Params: { name: string; id: string } }>('/v1/bots/:name/pairs/:id/history', async (req) => { await bots.requireBot(req.params.name); return { object: 'list', data: await bots.pairHistory(req.params.name, req.params.id) }; });

  // ------------------------------------------------------------------ versions, tests, approval, publishing
  app.post<{ Params: { name: string } }>('/v1/bots/:name/versions', async (req) => {
    const v = await bots.createVersion(req.params.name);
    return { bot: v.bot, version: v.version, status: v.status, pairs: v.pairs.length, createdAt: v.createdAt };
  });
  app.get<{ Params: { name: string } }>('/v1/bots/:name/versions', async (req) => {
    await bots.requireBot(req.params.name);
    return { object: 'list', data: (await bots.listVersions(req.params.name)).map((v) => ({ version: v.version, status: v.status, pairs: v.pairs.length, approvedReport: v.approvedReport, createdAt: v.createdAt })) };
  });

  app.post<{ Params: { name: string }; Body: { version?: number; questions?: TestQuestion[]; limit?: number } }>('/v1/bots/:name/tests', async (req) => {
    const b = req.body ?? {};
    return bots.test(req.params.name, { version: b.version, questions: b.questions, limit: b.limit });
  });
  app.get<{ Params: { name: string } }>('/v1/bots/:name/tests', async (req) => { await bots.requireBot(req.params.name); return { object: 'list', data: await bots.listReports(req.params.name) }; });
  app.get<{ Params: { name: string; id: string } }>('/v1/bots/:name/tests/:id', async (req) => { return bots.getReport(req.params.name, req.params.id); });
  app.post<{ Params: { name: string; id: string }; Body: { decision?: 'approved' | 'rejected'; by?: string; note?: string } }>('/v1/bots/:name/tests/:id/approve', async (req) => {
    const by = actor(req);
    const b = req.body ?? {};
    return bots.decide(req.params.name, req.params.id, b.decision ?? 'approved', named(req, b.by) ?? by, b.note);
  });

  app.post<{ Params: { name: string }; Body: { version: number; by?: string } }>('/v1/bots/:name/publish', async (req) => {
    const by = actor(req);
    if (!Number.isInteger(req.body?.version)) throw new ApiError(400, 'version is required', 'invalid_request_error', 'version', 'invalid_value');
    return bots.publish(req.params.name, req.body.version, named(req, req.body.by) ?? by);
  });
  app.post<{ Params: { name: string }; Body: { by?: string } }>('/v1/bots/:name/unpublish', async (req) => { const by = actor(req); return bots.unpublish(req.params.name, named(req, req.body?.by) ?? by); });

  /**
   * A key for the published bot (the widget's data-key, so public): the model `{name}` and the chat endpoint only; no
   * knowledge base to read and nothing to manage.
   */
  app.post<{ Params: { name: string }; Body: { name?: string; expires_at?: number; rate_limit_rpm?: number } }>('/v1/bots/:name/keys', async (req) => {
    const bot = await bots.requireBot(req.params.name);
    const { key, row } = await createKey(deps.store, { name: req.body?.name ?? `bot ${bot.name} widget`, models: [bot.name], endpoints: ['chat.completions'], knowledge: [], expiresAt: req.body?.expires_at ?? null, rateLimitRpm: req.body?.rate_limit_rpm ?? null, owner: `bot:${bot.name}` });
    return { ...describeKey(row), key };
  });

  // ------------------------------------------------------------------ the published bot's chat endpoint
  /**
   * A published bot as the chat pipeline's answerer (also reached through the gateway's /v1/chat/completions with
   * `model` = the bot's name). The answer is whole (matched, then quoted or generated), so a stream carries it in
   * one piece, with the citations on the last chunk. Its output check runs against the cited passages.
   *
   * Tokens: a bot answering with a model counts what that model counted (its tokenizer, as its endpoint reports
   * usage: the grounded prompt with the passages, and the answer). A bot answering without one (quoting the best
   * unit, or the fallback) runs no tokenizer, so it counts the question and the answer with the project's one
   * model-free estimate (`estimateTokens`, the rule dataset limits use: a CJK character or punctuation mark is a
   * token, a run of letters one per four, of digits one per three), never characters.
   */
  const botAnswerer = (name: string): ChatAnswerer<BotRead> => {
    const t0 = performance.now();
    let answer: BotAnswer | null = null;
    return {
      source: 'bot', endpoint: 'bot', live: 'never', trailer: 'on-finish',
      async read(req, k) {
        // the bot's scope rules, in its own words, before the body is read
        if (k.expires_at && k.expires_at <= Math.floor(Date.now() / 1000)) throw new ApiError(401, 'This API key has expired.', 'invalid_request_error', null, 'expired_api_key');
        if (!keyAllowsEndpoint(k, 'chat.completions')) throw new ApiError(403, 'This key may not use chat.completions.', 'invalid_request_error', null, 'endpoint_not_allowed');
        if (!keyAllowsModel(k, name)) throw new ApiError(403, `This key may not use the model '${name}'.`, 'invalid_request_error', 'model', 'model_not_allowed');
        const body = (req.body ?? {}) as ChatBody;
        if (body.model !== undefined && body.model !== name) throw new ApiError(400, `'model' must be '${name}' on this endpoint (or omitted)`, 'invalid_request_error', 'model', 'invalid_value');
        // A draft version may be asked for by keys that manage bots (testing before publishing); everyone else gets the published one.
        const version = body.version !== undefined && keyAllowsArea(k, 'bots') ? body.version : (await bots.requirePublished(name)).published.version;
        const { question, history } = lastUser(body);
        return { model: name, stream: !!body.stream, includeUsage: false, n: 1, input: { kind: 'chat', messages: [...history, { role: 'user', content: question }] }, version, history };
      },
      authorize() { /* in read, before the body */ },
      policies: async () => [await bots.guardOf(name)],
      headers: (model, stream): Record<string, string> => (stream ? { ...CHAT_CORS } : { 'x-modelfab-model': model }),
      async answer(r, input, sink) {
        const question = input.kind === 'chat' ? input.messages.at(-1)!.content : '';
        const a = answer = await bots.answer(name, question, { version: r.version, history: r.history });
        sink.text(0, a.answer);
        await sink.end(0, { finish: 'stop' });
        return {
          model: name, promptTokens: a.usage?.promptTokens ?? estimateTokens(question), completionTokens: a.usage?.completionTokens ?? estimateTokens(a.answer),
          sources: a.citations.map((c) => ({ id: c.chunkId, ref: c.ref, text: c.passage })),
        };
      },
      extra(r, _answered, refused) {
        const a = answer;
        return {
          citations: refused ? [] : a?.citations ?? [],
          bot: { name, version: a?.version ?? r.version, found: a?.found ?? false, sure: a?.sure ?? false, language: a?.language ?? null, ...(a?.translated ? { translated: a.translated } : {}), confidence: a?.confidence ?? 0, generator: a?.generator ?? 'guard', pair: a?.pair ?? null, ms: Math.round(performance.now() - t0) },
        };
      },
    };
  };
  const chat = (name: string, req: FastifyRequest, reply: FastifyReply) => serveChat({ policy: deps.keyPolicy, guard: deps.guard }, req, reply, botAnswerer(name));
  app.post<{ Params: { name: string }; Body: ChatBody }>('/v1/bots/:name/chat/completions', (req, reply) => chat(req.params.name, req, reply));

  /**
   * Feedback on one of this bot's answers (the widget's 有帮助 / 没帮助 buttons): any key that may chat with the bot,
   * on an answer it was given; it joins the review queue like every other feedback (source `bot`).
   */
  app.post<{ Params: { name: string }; Body: { response_id?: string; label?: 'right' | 'wrong'; rating?: number; correction?: string } }>('/v1/bots/:name/feedback', async (req) => {
    const name = req.params.name;
    const k = req.apiKey;
    if (!k) throw new ApiError(401, 'Missing API key.', 'invalid_request_error', null, 'missing_api_key');
    if (!keyAllowsModel(k, name)) throw new ApiError(403, `This key may not use the model '${name}'.`, 'invalid_request_error', 'model', 'model_not_allowed');
    const { requestLog, feedback } = deps;
    if (!requestLog || !feedback) throw new ApiError(503, 'feedback is not available in this server', 'server_error', null, 'feedback_unavailable');
    const b = req.body ?? {};
    if (typeof b.response_id !== 'string') throw new ApiError(400, 'response_id is required', 'invalid_request_error', 'response_id', 'invalid_value');
    const logged = await requestLog.getResponse(b.response_id);
    if (!logged || logged.model !== name || logged.source !== 'bot' || (k.role !== 'admin' && logged.key_id !== k.id)) {
      throw new ApiError(404, `response ${b.response_id} is not an answer of bot ${name} given to this key`, 'invalid_request_error', 'response_id', 'response_not_found');
    }
    return feedback.create({ response_id: b.response_id, label: b.label, rating: b.rating, correction: b.correction, source: 'bot', annotator: `key:${k.name}` });
  });

  // ------------------------------------------------------------------ closing the loop
  app.get<{ Params: { name: string } }>('/v1/bots/:name/export', async (req, reply) => {
    const { jsonl } = await bots.exportSft(req.params.name);
    return reply.header('content-type', 'application/jsonl; charset=utf-8').header('content-disposition', `attachment; filename="${req.params.name}-pairs.jsonl"`).send(jsonl);
  });

  app.post<{ Params: { name: string }; Body: { base_models?: string[]; methods?: string[]; epochs?: number } }>('/v1/bots/:name/experiments', async (req) => {
    const { importDataset, createExperiment } = deps;
    if (!importDataset || !createExperiment) throw new ApiError(503, 'the factory is not available in this server', 'server_error', null, 'factory_unavailable');
    const b = req.body ?? {};
    return bots.startExperiment(req.params.name, { importDataset, createExperiment }, { baseModels: b.base_models ?? [], methods: b.methods, epochs: b.epochs });
  });

  return {
    has: (name) => bots.requirePublished(name).then(() => true, () => false),
    chat,
    list: async () => (await bots.listBots()).filter((b) => b.published).map((b) => ({ id: b.name, created: b.createdAt })),
  };
}

/** The Bot Factory over a data folder: knowledge under <data>/knowledge, bots under <data>/bots, no models by default. */
export function createBotService(dataDir: string, knowledge: KnowledgeServiceOptions = {}): BotService {
  return new BotService(new FileBotRepository(dataDir), new KnowledgeService(new FileKnowledgeRepository(dataDir), knowledge));
}
