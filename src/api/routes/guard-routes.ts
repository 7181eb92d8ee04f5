/**
 * Guard routes: `POST /v1/guard/check` runs a policy (inline or named) on a text and returns every
 * verdict (check, action, reason, latency); with a `response_id` of a served response its verdicts (and, at the
 * output stage, the checked answer) are added to that response's log entry: an unknown id is 404, never a new entry.
 * `PUT|GET|DELETE /v1/guard/policies/{name}`, `GET /v1/guard/policies` keep named policies (validated on PUT;
 * the error names the check). `GET /v1/requests/{id}`: a logged response with its guard verdicts; `GET /v1/requests`: the request log (newest first, filter by model, source,
 * guard outcome; admins see all, other keys their own). Policies and checks are admin-only (../authz.ts).
 * Classifier and reflection checks run on any model the gateway serves.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Gateway } from '../../serve/gateway.ts';
import { parsePolicy, runGuard, type GuardDeps, type GuardStage } from '../../control/guard.ts';
import { functionChatModel, type ChatModel } from '../../control/chat-model.ts';
import type { GuardPolicyStore } from '../../control/guard-policies.ts';
import type { GuardOutcome, RequestLog, ResponseRecord } from '../../control/request-log.ts';
import type { Passage } from '../../knowledge/attribution.ts';
import { ApiError } from '../errors.ts';

/** One entry of the request log (GET /v1/requests, /v1/requests/:id). */
export type RequestObject = ResponseRecord & { object: 'request' };

/** Guard dependencies over the in-process gateway: a check's `model` is any name the gateway serves. */
export function gatewayGuardDeps(gateway: Gateway): GuardDeps {
  const cache = new Map<string, ChatModel>();
  return {
    model: (name) => {
      let m = cache.get(name);
      if (!m) {
        m = functionChatModel(name, async (messages, o) => {
          let text = '';
          await gateway.generate(name, {
            prompt: { kind: 'chat', messages }, maxTokens: o.maxTokens ?? 256, temperature: o.temperature ?? 0,
            topP: 1, topK: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0,
          }, { onText: (t) => { text += t; } }, { signal: o.signal });
          return text;
        });
        cache.set(name, m);
      }
      return m;
    },
  };
}

const isAdmin = (req: FastifyRequest) => req.apiKey?.role === 'admin';

const OUTCOMES: ReadonlyArray<GuardOutcome | 'guarded'> = ['passed', 'flagged', 'rewritten', 'refused', 'guarded'];
const isOutcome = (s: string): s is GuardOutcome | 'guarded' => (OUTCOMES as readonly string[]).includes(s);

export function guardRoutes(app: FastifyInstance, policies: GuardPolicyStore, log: RequestLog, deps: GuardDeps): void {
  app.post<{ Body: { policy?: unknown; policy_name?: string; stage?: GuardStage; text?: string; question?: string; sources?: Passage[]; response_id?: string; model?: string; prompt?: unknown } }>('/v1/guard/check', async (req) => {
    const b = req.body ?? {};
    if (typeof b.text !== 'string') throw new ApiError(400, 'text must be a string', 'invalid_request_error', 'text');
    const stage = b.stage ?? 'input';
    if (stage !== 'input' && stage !== 'output') throw new ApiError(400, 'stage must be input or output', 'invalid_request_error', 'stage');
    let raw = b.policy;
    if (raw === undefined) {
      if (typeof b.policy_name !== 'string') throw new ApiError(400, 'policy or policy_name is required', 'invalid_request_error', 'policy');
      raw = await policies.getPolicy(b.policy_name);
      if (raw === null) throw new ApiError(404, `guard policy ${b.policy_name} not found`, 'invalid_request_error', 'policy_name', 'not_found');
    }
    if (b.sources !== undefined && (!Array.isArray(b.sources) || b.sources.some((s) => !s || typeof s.text !== 'string'))) throw new ApiError(400, 'sources must be an array of {id, text, ref?}', 'invalid_request_error', 'sources');
    const sources = b.sources?.map((s, i) => ({ ...s, id: typeof s.id === 'string' ? s.id : String(i + 1) }));
    if (b.response_id !== undefined && (typeof b.response_id !== 'string' || !b.response_id)) throw new ApiError(400, 'response_id must be a non-empty string', 'invalid_request_error', 'response_id');
    // only a response the server served is in the log: a check may add verdicts to it, never create an entry
    const prev = b.response_id ? await log.getResponse(b.response_id) : null;
    if (b.response_id && (!prev || (!isAdmin(req) && prev.key_id !== req.apiKey?.id))) throw new ApiError(404, `request ${b.response_id} is not in the response log (only served responses are)`, 'invalid_request_error', 'response_id', 'not_found');
    const policy = parsePolicy(raw);
    const r = await runGuard(policy, { stage, text: b.text, ...(b.question ? { question: b.question } : {}), ...(sources ? { sources } : {}) }, deps);
    if (prev) {
      await log.recordResponse({ id: prev.id, keyId: prev.key_id, source: prev.source, model: prev.model, prompt: prev.prompt, answer: stage === 'output' ? (r.refused ? r.message ?? '' : r.text) : prev.answer, guard: [...prev.guard, ...r.verdicts], policies: prev.policies });
    }
    return { object: 'guard.result', ...r };
  });

  app.get('/v1/guard/policies', async () => ({ object: 'list', data: await policies.listPolicies() }));
  app.put<{ Params: { name: string }; Body: unknown }>('/v1/guard/policies/:name', async (req) => {
    const policy = parsePolicy(req.body);
    await policies.putPolicy(req.params.name, req.body);
    return { object: 'guard.policy', name: req.params.name, policy };
  });
  app.get<{ Params: { name: string } }>('/v1/guard/policies/:name', async (req) => {
    const p = await policies.getPolicy(req.params.name);
    if (p === null) throw new ApiError(404, `guard policy ${req.params.name} not found`, 'invalid_request_error', 'name', 'not_found');
    return { object: 'guard.policy', name: req.params.name, policy: p };
  });
  app.delete<{ Params: { name: string } }>('/v1/guard/policies/:name', async (req) => ({ object: 'guard.policy', name: req.params.name, deleted: await policies.deletePolicy(req.params.name) }));

  /** The request log, newest first: admins see every request, other keys their own. */
  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/requests', async (req) => {
    const q = req.query;
    const outcome = q.outcome;
    if (outcome !== undefined && !isOutcome(outcome)) throw new ApiError(400, `outcome must be one of ${OUTCOMES.join(', ')}`, 'invalid_request_error', 'outcome');
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 500)) throw new ApiError(400, 'limit must be an integer from 1 to 500', 'invalid_request_error', 'limit');
    const r = await log.listResponses({ model: q.model, source: q.source, outcome, before: q.before, limit, ...(isAdmin(req) ? {} : { keyId: req.apiKey?.id ?? '-' }) });
    return { object: 'list', data: r.data.map((x): RequestObject => ({ object: 'request', ...x })), has_more: r.has_more };
  });

  app.get<{ Params: { id: string } }>('/v1/requests/:id', async (req): Promise<RequestObject> => {
    const r = await log.getResponse(req.params.id);
    if (r && !isAdmin(req) && r.key_id !== req.apiKey?.id) throw new ApiError(404, `request ${req.params.id} is not in the response log`, 'invalid_request_error', 'id', 'not_found');
    if (!r) throw new ApiError(404, `request ${req.params.id} is not in the response log`, 'invalid_request_error', 'id', 'not_found');
    return { object: 'request', ...r };
  });
}
