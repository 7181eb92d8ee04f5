/**
 * /v1/coach: Emoti Coach (src/coach/). Scenarios (the shipped ones and the organisation's own: PUT validates and
 * answers every problem by field), practice sessions (start, say something: the persona answers and the judge
 * scores it, finish: the session's judgement), and the progress report across a key's sessions. Thin: reading,
 * the key's checks, and CoachService.
 *
 * Access (../authz.ts): sessions need the chat.completions endpoint scope, and both models named must be the key's;
 * a scenario's knowledge base must be in its knowledge scope; a key sees only its own sessions (an admin: all).
 * Scenario writes need the `coach` management area. Every model call goes through the gateway, the model's guard
 * and the request log (source `coach`, ../app-models.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyRow } from '../../store/store.ts';
import type { KnowledgeService } from '../../knowledge/knowledge-service.ts';
import { ServeError } from '../../serve/deployments.ts';
import type { CoachDeps, CoachService } from '../../coach/coach-service.ts';
import type { CoachSession } from '../../coach/coach-repository.ts';
import { SCENARIO_ID } from '../../coach/coach-scenario.ts';
import { requireKey } from '../chat-pipeline.ts';
import { appGenerate, checkAppModel, type AppModelDeps } from '../app-models.ts';
import { knowledgeScope } from './knowledge-routes.ts';
import { passageLabel } from './writer-routes.ts';

export interface CoachRouteDeps extends AppModelDeps { knowledge: KnowledgeService; coach: CoachService }

const owner = (k: ApiKeyRow) => (k.role === 'admin' ? undefined : k.id);

/** A session as the API shows it (the key's id stays inside). */
const view = (s: CoachSession) => { const { key_id: _k, ...rest } = s; return rest; };

export function coachRoutes(app: FastifyInstance, d: CoachRouteDeps): void {
  const deps = (req: FastifyRequest, k: ApiKeyRow): CoachDeps => {
    const generate = appGenerate(d, k, 'coach', req.log);
    const scope = knowledgeScope(req);
    return {
      generate: async (model, messages, o) => generate(model, messages, o),
      search: async (kb, q, n) => (await d.knowledge.search([kb], q, { k: n, scope })).results.map((h) => ({ label: passageLabel(h), text: h.context.length <= 1200 ? h.context : h.text })),
    };
  };
  /** The scenario's knowledge base must be readable by the key before any model runs. */
  const checkKnowledge = async (req: FastifyRequest, s: CoachSession['scenario']) => {
    if (s.knowledge) await d.knowledge.requireKb(s.knowledge, knowledgeScope(req)).catch(() => { throw new ServeError(404, `Scenario '${s.id}' checks answers against knowledge base ${s.knowledge}, which this key cannot read (or which does not exist).`, 'not_found', 'scenario.knowledge'); });
  };
  const id = (v: string) => {
    if (!SCENARIO_ID.test(v)) throw new ServeError(400, 'A scenario id is lowercase letters, digits and dashes (at most 64).', 'invalid_value', 'id');
    return v;
  };

  app.get('/v1/coach/scenarios', async () => ({ object: 'list', data: await d.coach.scenarios() }));
  app.get<{ Params: { id: string } }>('/v1/coach/scenarios/:id', async (req) => d.coach.scenario(req.params.id));
  app.put<{ Params: { id: string } }>('/v1/coach/scenarios/:id', async (req) => d.coach.putScenario(id(req.params.id), req.body, requireKey(req).name));
  app.delete<{ Params: { id: string } }>('/v1/coach/scenarios/:id', async (req) => {
    await d.coach.deleteScenario(req.params.id);
    return { id: req.params.id, object: 'coach.scenario.deleted', deleted: true };
  });

  app.post('/v1/coach/sessions', async (req) => {
    const k = requireKey(req);
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (typeof b.scenario !== 'string' || !b.scenario) throw new ServeError(400, "Missing required parameter: 'scenario'.", 'missing_required_parameter', 'scenario');
    if (typeof b.model !== 'string' || !b.model) throw new ServeError(400, "Missing required parameter: 'model' (the model that plays the persona).", 'missing_required_parameter', 'model');
    if (b.judge_model !== undefined && (typeof b.judge_model !== 'string' || !b.judge_model)) throw new ServeError(400, "Invalid 'judge_model': expected a model name.", 'invalid_value', 'judge_model');
    const judge = (b.judge_model as string | undefined) ?? b.model;
    const scenario = await d.coach.scenario(b.scenario);
    checkAppModel(k, b.model);
    checkAppModel(k, judge);
    await checkKnowledge(req, scenario);
    return view(await d.coach.start({ scenario: scenario.id, personaModel: b.model, judgeModel: judge, keyId: k.id }));
  });

  app.get<{ Querystring: { scenario?: string } }>('/v1/coach/sessions', async (req) => ({ object: 'list', data: (await d.coach.sessions(owner(requireKey(req)), req.query.scenario)).map(view) }));
  app.get<{ Params: { id: string } }>('/v1/coach/sessions/:id', async (req) => view(await d.coach.session(req.params.id, owner(requireKey(req)))));

  app.post<{ Params: { id: string } }>('/v1/coach/sessions/:id/messages', async (req) => {
    const k = requireKey(req);
    const content = ((req.body ?? {}) as { content?: unknown }).content;
    const s = await d.coach.session(req.params.id, owner(k));
    checkAppModel(k, s.persona_model);
    checkAppModel(k, s.judge_model);
    await checkKnowledge(req, s.scenario);
    await d.policy.admit(k);
    const r = await d.coach.reply(deps(req, k), s.id, owner(k), content);
    return { object: 'coach.turn', reply: r.reply, judgement: r.judgement, session: view(r.session) };
  });

  app.post<{ Params: { id: string } }>('/v1/coach/sessions/:id/finish', async (req) => {
    const k = requireKey(req);
    const s = await d.coach.session(req.params.id, owner(k));
    checkAppModel(k, s.judge_model);
    await checkKnowledge(req, s.scenario);
    await d.policy.admit(k);
    return view(await d.coach.finish(deps(req, k), s.id, owner(k)));
  });

  app.get<{ Querystring: { scenario?: string } }>('/v1/coach/report', async (req) => d.coach.report(owner(requireKey(req)), req.query.scenario));
}
