/**
 * The OpenAI-compatible inference API over the gateway (src/serve/gateway.ts): /v1/chat/completions,
 * /v1/completions (streaming or not), /v1/embeddings, /v1/models (list, retrieve); and, without a key, /healthz and
 * /metrics (Prometheus text).
 *
 * Chat and completions go through the chat pipeline (../chat-pipeline.ts) with the gateway's models as the answerer
 * (n choices per prompt, each one generation on a routed target); a published bot's name that is no model here goes
 * to the bot's answerer (routes/bots-routes.ts).
 *
 * Guarantees:
 *   - key policy first (src/serve/api-keys.ts): expired 401, endpoint or model out of scope 403, over rate limit or quota
 *     429, all before any model is touched; the body is validated before that (src/openai/chat-requests.ts), so bad
 *     input is a 400;
 *   - streams are server-sent events in OpenAI's chunk shapes (src/openai/chat-responses.ts: one string
 *     concatenation per text piece, no re-serialisation of the chunk), ending with `data: [DONE]`; the HTTP status
 *     and headers are sent only once the request has a slot on a loaded model, so 404/429/503 keep their status;
 *     an error after that is sent as an SSE `{"error": …}` event;
 *   - a client that disconnects (or reads so slowly that 8 MiB pile up) aborts its generation, which frees its slot;
 *   - every request is counted in /metrics and in the key's usage, and logged once (access log) when it ends.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRow } from '../../store/store.ts';
import type { Gateway } from '../../serve/gateway.ts';
import { UNKNOWN_MODEL } from '../../serve/prometheus.ts';
import { type Endpoint, type KeyPolicy, keyAllowsModel } from '../../serve/api-keys.ts';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingRequest } from '../../openai/chat-requests.ts';
import type { ChatRequest, CompletionRequest, EchoedPrompt, EmbeddingResponse, ModelObject } from '../../openai/wire-types.ts';
import type { GenerateCallbacks, PromptInput } from '../../serve/model-backend.ts';
import { toGenerateParams } from '../../serve/generation-params.ts';
import { ServeError } from '../../serve/deployments.ts';
import type { GuardRuntime } from '../../control/guard-runtime.ts';
import type { BotGatewayHook } from './bots-routes.ts';
import { requireKey, serveChat, type Answered, type ChatAnswerer, type ChatRead } from '../chat-pipeline.ts';
import { toApiError } from '../errors.ts';

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

/** A chat or completions request to the gateway's models, as read. */
interface GatewayRead extends ChatRead { q: ChatRequest | CompletionRequest; key: ApiKeyRow }

export function gatewayRoutes(app: FastifyInstance, gateway: Gateway, policy: KeyPolicy, control?: GatewayControl): void {
  const key = requireKey;

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

  // ------------------------------------------------------------------ models
  app.get('/v1/models', async (req) => {
    const k = key(req);
    policy.checkEndpoint(k, 'models');
    const models = (await gateway.listModels()).map((m): ModelObject => ({ id: m.id, object: 'model', created: m.created, owned_by: m.owned_by }));
    const known = new Set(models.map((m) => m.id));
    const bots = control?.bots ? (await control.bots.list()).filter((b) => !known.has(b.id)).map((b): ModelObject => ({ id: b.id, object: 'model', created: b.created, owned_by: 'modelfab-bot' })) : [];
    return { object: 'list', data: [...models, ...bots].filter((m) => keyAllowsModel(k, m.id)) };
  });

  app.get<{ Params: { '*': string } }>('/v1/models/*', async (req) => {
    const k = key(req);
    policy.checkEndpoint(k, 'models');
    const id = decodeURIComponent(req.params['*']);
    const m = (await gateway.listModels()).find((x) => x.id === id);
    if (!m || !keyAllowsModel(k, id)) throw new ServeError(404, `The model '${id}' does not exist`, 'model_not_found', 'model');
    const out: ModelObject = { id: m.id, object: 'model', created: m.created, owned_by: m.owned_by };
    return out;
  });

  // ------------------------------------------------------------------ chat + completions
  /** The gateway's models as the chat pipeline's answerer: n choices per prompt, each one generation on a routed target. */
  const modelsAnswerer = (ep: 'chat.completions' | 'completions'): ChatAnswerer<GatewayRead> => ({
    source: 'api', endpoint: ep, live: 'always', trailer: 'chunk-each', namesServed: true, unresolved: UNKNOWN_MODEL, metrics: gateway.metrics,
    read(req, k) {
      const q = ep === 'chat.completions' ? parseChatRequest(req.body) : parseCompletionRequest(req.body);
      const input = 'messages' in q ? { kind: 'chat' as const, messages: q.messages } : { kind: 'text' as const, prompts: q.prompts };
      return { model: q.model, stream: q.stream, includeUsage: q.includeUsage, n: q.n, input, logprobs: q.logprobs !== undefined, echo: 'echo' in q && q.echo, q, key: k };
    },
    authorize(k, r) {
      policy.checkEndpoint(k, ep);
      policy.checkModel(k, r.model);
    },
    policies: (r) => gateway.guardsOf(r.model),
    headers: (model) => ({ 'x-modelfab-model': model }),
    async answer(r, input, sink): Promise<Answered> {
      const check = targetCheck(r.key, r.model);
      const prompts = input.kind === 'chat' ? [null] : input.prompts;
      let model = r.model, promptTokens = 0, completionTokens = 0;
      let cachedTokens: number | undefined;
      const runs: Array<Promise<void>> = [];
      for (let pi = 0; pi < prompts.length; pi++) {
        const p = prompts[pi]!;
        const prompt: PromptInput = input.kind === 'chat' ? { kind: 'chat', messages: input.messages } : typeof p === 'string' ? { kind: 'text', text: p } : { kind: 'tokens', ids: p };
        // the model reports the prompt it read when the answer starts with it: token ids to show as text, or its log probabilities
        const echo = r.echo && (prompt.kind === 'tokens' || r.logprobs);
        for (let j = 0; j < r.n; j++) {
          const ci = pi * r.n + j;
          const cb: GenerateCallbacks = { onText: (text, lp) => sink.text(ci, text, lp), ...(echo ? { onPrompt: (e: EchoedPrompt) => sink.prompt?.(ci, e) } : {}) };
          runs.push(gateway.generate(r.model, (spec) => ({ ...toGenerateParams(r.q, prompt, spec.settings, j), ...(echo ? { echo: true } : {}) }), cb, {
            signal: sink.signal(ci),
            onTarget: (spec) => { check(spec); model = spec.name; sink.begin(spec.name); },
          }).then((res) => {
            promptTokens += j === 0 ? res.promptTokens : 0;
            if (j === 0 && res.cachedTokens !== undefined) cachedTokens = (cachedTokens ?? 0) + res.cachedTokens;
            completionTokens += res.completionTokens;
            return sink.end(ci, { finish: res.finishReason === 'length' ? 'length' : 'stop', toolCalls: res.toolCalls, aborted: res.finishReason === 'abort' });
          }));
        }
      }
      const failed = (await Promise.allSettled(runs)).find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) throw failed.reason;
      return { model, promptTokens, completionTokens, cachedTokens };
    },
  });
  const answerers = { 'chat.completions': modelsAnswerer('chat.completions'), completions: modelsAnswerer('completions') };
  const deps = { policy, guard: control?.guard, log: control?.log };

  const generateRoute = (ep: 'chat.completions' | 'completions') => async (req: FastifyRequest, reply: FastifyReply) => {
    // A published bot's name that is no model here: the bot answers (same shapes, plus citations).
    const asked = (req.body as { model?: unknown } | null)?.model;
    if (ep === 'chat.completions' && control?.bots && typeof asked === 'string' && !(await gateway.knows(asked)) && (await control.bots.has(asked))) return control.bots.chat(asked, req, reply);
    return serveChat(deps, req, reply, answerers[ep]);
  };

  app.post('/v1/chat/completions', generateRoute('chat.completions'));
  app.post('/v1/completions', generateRoute('completions'));

  // ------------------------------------------------------------------ embeddings
  app.post('/v1/embeddings', async (req, reply) => {
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
      const out: EmbeddingResponse = {
        object: 'list', model: served,
        data: res.vectors.map((v, i) => ({ object: 'embedding', index: i, embedding: r.base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v })),
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
      return out;
    } catch (e) {
      status = toApiError(e).status;
      throw e;
    } finally {
      reply.raw.off('close', onClose);
      const secs = (performance.now() - t0) / 1000;
      gateway.metrics.request(known ?? UNKNOWN_MODEL, 'embeddings', status, secs);
      gateway.metrics.tokens(known ?? UNKNOWN_MODEL, tokens, 0);
      policy.record(k.id, known ?? UNKNOWN_MODEL, tokens, 0, status >= 400);
      req.log.info({ access: { key: k.id, endpoint: 'embeddings', model: served, status, prompt_tokens: tokens, ms: Math.round(secs * 1000) } }, 'inference');
    }
  });

}
