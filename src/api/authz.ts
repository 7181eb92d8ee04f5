/**
 * The authorization model: one table, every route (method + URL pattern as registered) -> what a key needs.
 *
 *   public              no key (health, metrics, the console's static files, a bot's widget script, CORS preflights)
 *   key                 any valid key; the route itself shows only what belongs to the key (its own requests and
 *                       feedback; the docs of deployments it may use), admins see all
 *   inference:<ep>      the key's endpoint scope allows <ep> (chat.completions, completions, embeddings, models);
 *                       the route then checks the key's model scope once the model is known
 *   knowledge           read of knowledge bases: the key's knowledge scope is not empty; the route then limits
 *                       every read to the knowledge bases in that scope
 *   manage:<area>       the key's `manage` scope names <area> (src/serve/api-keys.ts MANAGE_AREAS); reads of an area
 *                       need it too
 *   admin               an admin key: keys, deployments, serving models and routes, usage, model registration by a
 *                       path, guard policies and checks
 *
 * Admin keys pass every rule. A list of rules means all of them. `installAuthz` enforces the table in one onRequest
 * hook, by the route Fastify matched: a route that is not in the table is refused (403) for every key, so a route
 * added without a rule cannot be reached; a URL that matches no route needs a valid key before its 404.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyRow, Store } from '../store/store.ts';
import { ENDPOINTS, MANAGE_AREAS, keyAllowsArea, keyAllowsEndpoint, keyReadsKnowledge, type Endpoint, type KeyPolicy, type ManageArea } from '../serve/api-keys.ts';
import { authenticate } from './auth.ts';
import { ApiError } from './errors.ts';

export type Access = 'public' | 'key' | 'knowledge' | 'admin' | `inference:${Endpoint}` | `manage:${ManageArea}`;

const mf = (...areas: ManageArea[]): Access[] => areas.map((a) => `manage:${a}` as const);

/** Every route and what it needs. Keys: `METHOD /url/pattern` exactly as the route is registered. */
export const ROUTE_ACCESS: Readonly<Record<string, Access | readonly Access[]>> = {
  // ---------------------------------------------------------------- public (answered before authentication)
  'GET /healthz': 'public',
  'GET /metrics': 'public',
  'GET /': 'public',
  'GET /console': 'public',
  'GET /console/*': 'public',
  'GET /v1/bots/:name/widget.js': 'public',
  'OPTIONS /v1/bots/:name/chat/completions': 'public',
  'OPTIONS /v1/bots/:name/feedback': 'public',
  'OPTIONS /v1/copilot/chat/completions': 'public',

  // ---------------------------------------------------------------- inference
  'POST /v1/chat/completions': 'inference:chat.completions',
  'POST /v1/completions': 'inference:completions',
  'POST /v1/embeddings': 'inference:embeddings',
  'GET /v1/models': 'inference:models',
  'GET /v1/models/*': 'inference:models',
  'POST /v1/copilot/chat/completions': 'inference:chat.completions',
  'POST /v1/bots/:name/chat/completions': 'inference:chat.completions',
  'POST /v1/bots/:name/feedback': 'inference:chat.completions',
  'POST /v1/images/generations': 'inference:images.generations',

  // ---------------------------------------------------------------- apps: a key's own documents and sessions
  'GET /v1/writer/templates': 'inference:chat.completions',
  'POST /v1/writer/compose': 'inference:chat.completions',
  'POST /v1/writer/documents': 'inference:chat.completions',
  'GET /v1/writer/documents': 'inference:chat.completions',
  'GET /v1/writer/documents/:id': 'inference:chat.completions',
  'DELETE /v1/writer/documents/:id': 'inference:chat.completions',
  'GET /v1/writer/documents/:id/export': 'inference:chat.completions',
  'POST /v1/writer/documents/:id/images': ['inference:chat.completions', 'inference:images.generations'],
  'GET /v1/coach/scenarios': 'inference:chat.completions',
  'GET /v1/coach/scenarios/:id': 'inference:chat.completions',
  'POST /v1/coach/sessions': 'inference:chat.completions',
  'GET /v1/coach/sessions': 'inference:chat.completions',
  'GET /v1/coach/sessions/:id': 'inference:chat.completions',
  'POST /v1/coach/sessions/:id/messages': 'inference:chat.completions',
  'POST /v1/coach/sessions/:id/finish': 'inference:chat.completions',
  'GET /v1/coach/report': 'inference:chat.completions',
  // the organisation's scenarios and rubrics
  'PUT /v1/coach/scenarios/:id': 'manage:coach',
  'DELETE /v1/coach/scenarios/:id': 'manage:coach',

  // ---------------------------------------------------------------- what belongs to the key
  'GET /v1/requests': 'key',
  'GET /v1/requests/:id': 'key',
  'POST /v1/feedback': 'key',
  'GET /v1/deployments/:name/docs': 'key',
  'GET /v1/deployments/:name/openapi.json': 'key',

  // ---------------------------------------------------------------- knowledge: reads
  'GET /v1/knowledge/bases': 'knowledge',
  'GET /v1/knowledge/bases/:id': 'knowledge',
  'GET /v1/knowledge/bases/:id/documents': 'knowledge',
  'GET /v1/knowledge/bases/:id/items': 'knowledge',
  'GET /v1/knowledge/bases/:id/items/:item': 'knowledge',
  'GET /v1/knowledge/bases/:id/items/:item/history': 'knowledge',
  'POST /v1/knowledge/search': 'knowledge',
  'POST /v1/knowledge/ask': 'knowledge',
  'POST /v1/knowledge/attribute': 'knowledge',
  // knowledge: writes
  'POST /v1/knowledge/bases': ['knowledge', 'manage:knowledge'],
  'PATCH /v1/knowledge/bases/:id': ['knowledge', 'manage:knowledge'],
  'POST /v1/knowledge/bases/:id/documents': ['knowledge', 'manage:knowledge'],
  'POST /v1/knowledge/bases/:id/items/review': ['knowledge', 'manage:knowledge'],
  'POST /v1/knowledge/bases/:id/rebuild': ['knowledge', 'manage:knowledge'],

  // ---------------------------------------------------------------- files
  'POST /v1/files': 'manage:files',
  'GET /v1/files': 'manage:files',
  'GET /v1/files/:id': 'manage:files',
  'DELETE /v1/files/:id': 'manage:files',
  'GET /v1/files/:id/content': 'manage:files',

  // ---------------------------------------------------------------- datasets
  'POST /v1/datasets': 'manage:datasets',
  'GET /v1/datasets': 'manage:datasets',
  'GET /v1/datasets/:id': 'manage:datasets',
  'GET /v1/datasets/:id/preview': 'manage:datasets',
  'DELETE /v1/datasets/:id': 'manage:datasets',

  // ---------------------------------------------------------------- fine-tuning
  'POST /v1/fine_tuning/jobs': 'manage:fine_tuning',
  'GET /v1/fine_tuning/jobs': 'manage:fine_tuning',
  'GET /v1/fine_tuning/jobs/:id': 'manage:fine_tuning',
  'POST /v1/fine_tuning/jobs/:id/cancel': 'manage:fine_tuning',
  'POST /v1/fine_tuning/jobs/:id/pause': 'manage:fine_tuning',
  'POST /v1/fine_tuning/jobs/:id/resume': 'manage:fine_tuning',
  'GET /v1/fine_tuning/jobs/:id/events': 'manage:fine_tuning',
  'GET /v1/fine_tuning/jobs/:id/checkpoints': 'manage:fine_tuning',
  'GET /v1/fine_tuning/jobs/:id/manifests': 'manage:fine_tuning',
  'GET /v1/fine_tuning/jobs/:id/metrics': 'manage:fine_tuning',

  // ---------------------------------------------------------------- experiments
  'POST /v1/experiments': 'manage:experiments',
  'POST /v1/experiments/plan': 'manage:experiments',
  'GET /v1/experiments': 'manage:experiments',
  'GET /v1/experiments/:id': 'manage:experiments',
  'GET /v1/experiments/:id/leaderboard': 'manage:experiments',
  'GET /v1/experiments/:id/events': 'manage:experiments',

  // ---------------------------------------------------------------- evals
  'POST /v1/evals/runs': 'manage:evals',
  'GET /v1/evals/runs': 'manage:evals',
  'GET /v1/evals/runs/:id': 'manage:evals',
  'GET /v1/evals/runs/:id/output_items': 'manage:evals',
  'GET /v1/evals/compare': 'manage:evals',

  // ---------------------------------------------------------------- bots
  'GET /v1/bots': 'manage:bots',
  'POST /v1/bots': 'manage:bots',
  'POST /v1/bots/build': 'manage:bots',
  'GET /v1/bots/:name': 'manage:bots',
  'PATCH /v1/bots/:name': 'manage:bots',
  'DELETE /v1/bots/:name': 'manage:bots',
  'GET /v1/bots/:name/lexicon': 'manage:bots',
  'PUT /v1/bots/:name/lexicon': 'manage:bots',
  'POST /v1/bots/:name/extract': 'manage:bots',
  'GET /v1/bots/:name/pairs': 'manage:bots',
  'POST /v1/bots/:name/pairs': 'manage:bots',
  'POST /v1/bots/:name/pairs/review': 'manage:bots',
  'GET /v1/bots/:name/pairs/:id/history': 'manage:bots',
  'POST /v1/bots/:name/versions': 'manage:bots',
  'GET /v1/bots/:name/versions': 'manage:bots',
  'POST /v1/bots/:name/tests': 'manage:bots',
  'GET /v1/bots/:name/tests': 'manage:bots',
  'GET /v1/bots/:name/tests/:id': 'manage:bots',
  'POST /v1/bots/:name/tests/:id/approve': 'manage:bots',
  'POST /v1/bots/:name/publish': 'manage:bots',
  'POST /v1/bots/:name/unpublish': 'manage:bots',
  'POST /v1/bots/:name/keys': 'manage:bots',
  'GET /v1/bots/:name/export': 'manage:bots',
  'POST /v1/bots/:name/experiments': mf('bots', 'datasets', 'experiments'),

  // ---------------------------------------------------------------- feedback
  'GET /v1/feedback': 'manage:feedback',
  'GET /v1/feedback/:id': 'manage:feedback',
  'POST /v1/feedback/:id/review': 'manage:feedback',
  'POST /v1/feedback/export': 'manage:feedback',
  'POST /v1/feedback/train': mf('feedback', 'datasets', 'fine_tuning'),

  // ---------------------------------------------------------------- admin
  'POST /v1/models': 'admin',
  'POST /v1/keys': 'admin',
  'GET /v1/keys': 'admin',
  'DELETE /v1/keys/:id': 'admin',
  'GET /v1/usage': 'admin',
  'POST /v1/deployments': 'admin',
  'GET /v1/deployments': 'admin',
  'GET /v1/deployments/:name': 'admin',
  'DELETE /v1/deployments/:name': 'admin',
  'POST /v1/serve/models': 'admin',
  'GET /v1/serve/models': 'admin',
  'GET /v1/serve/status': 'admin',
  'POST /v1/routes': 'admin',
  'GET /v1/routes': 'admin',
  'DELETE /v1/routes/:name': 'admin',
  'POST /v1/guard/check': 'admin',
  'GET /v1/guard/policies': 'admin',
  'GET /v1/guard/policies/:name': 'admin',
  'PUT /v1/guard/policies/:name': 'admin',
  'DELETE /v1/guard/policies/:name': 'admin',
};

/** What a route needs (HEAD as GET), as a list; undefined when the route is not in the table. */
export function routeAccess(method: string, url: string): readonly Access[] | undefined {
  const a = ROUTE_ACCESS[`${method === 'HEAD' ? 'GET' : method} ${url}`];
  return a === undefined ? undefined : typeof a === 'string' ? [a] : a;
}

/** Every rule is well formed (checked at start-up: a typo in the table must not silently deny or allow). */
export function checkTable(table: Readonly<Record<string, Access | readonly Access[]>> = ROUTE_ACCESS): void {
  for (const [route, a] of Object.entries(table)) {
    if (!/^(GET|POST|PUT|PATCH|DELETE|OPTIONS) \/\S*$/.test(route)) throw new Error(`authorization table: bad route ${JSON.stringify(route)}`);
    for (const x of typeof a === 'string' ? [a] : a) {
      const [kind, arg] = x.split(':') as [string, string | undefined];
      const ok = arg === undefined ? ['public', 'key', 'knowledge', 'admin'].includes(kind)
        : kind === 'inference' ? (ENDPOINTS as readonly string[]).includes(arg) : kind === 'manage' && (MANAGE_AREAS as readonly string[]).includes(arg);
      if (!ok) throw new Error(`authorization table: ${route}: unknown rule ${JSON.stringify(x)}`);
    }
  }
}

/** Throws the 403 when the key does not meet the rule. */
export function requireAccess(k: ApiKeyRow, rule: Access): void {
  if (rule === 'public' || rule === 'key' || k.role === 'admin') return;
  if (rule === 'admin') throw new ApiError(403, 'This endpoint needs an admin API key.', 'invalid_request_error', null, 'admin_required');
  if (rule === 'knowledge') {
    if (!keyReadsKnowledge(k)) throw new ApiError(403, 'This API key may not read knowledge bases (its knowledge scope is empty).', 'invalid_request_error', null, 'knowledge_base_not_allowed');
    return;
  }
  const [kind, arg] = rule.split(':') as ['inference' | 'manage', string];
  if (kind === 'inference') {
    if (!keyAllowsEndpoint(k, arg as Endpoint)) throw new ApiError(403, `This API key is not allowed to use the ${arg} endpoint.`, 'invalid_request_error', null, 'endpoint_not_allowed');
    return;
  }
  if (!keyAllowsArea(k, arg as ManageArea)) {
    throw new ApiError(403, `This API key may not manage ${arg}: create a key whose manage scope names ${arg} (POST /v1/keys {"manage": ["${arg}"]}).`, 'invalid_request_error', null, 'manage_not_allowed');
  }
}

/** The same check inside a route, for what only the body decides (e.g. an export that also imports a dataset). */
export function requireRequestAccess(req: FastifyRequest, rule: Access): void {
  if (!req.apiKey) throw new ApiError(401, 'Missing API key.', 'invalid_request_error', null, 'missing_api_key');
  requireAccess(req.apiKey, rule);
}

declare module 'fastify' {
  interface FastifyInstance { authzRoutes?: string[] }
}

/**
 * Enforces the table: one onRequest hook (install it after the public hooks and before any route). Also records
 * every route registered after it in `app.authzRoutes` (`METHOD /url`), so a test can hold the table to them.
 */
export function installAuthz(app: FastifyInstance, store: Store, policy: KeyPolicy): void {
  checkTable();
  const routes: string[] = [];
  app.decorate('authzRoutes', routes);
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) routes.push(`${m} ${r.url}`);
  });
  app.addHook('onRequest', async (req) => {
    const url = req.routeOptions.url;
    const rules = url === undefined ? undefined : routeAccess(req.method, url);
    if (rules?.includes('public')) return;
    const k = await authenticate(req, store);
    policy.checkExpiry(k);
    if (url === undefined) return; // no such route: the 404 handler answers (to a valid key only)
    if (rules === undefined) throw new ApiError(403, `${req.method} ${url} has no authorization rule, so no key may use it.`, 'invalid_request_error', null, 'route_not_authorized');
    for (const r of rules) requireAccess(k, r);
  });
}
