/**
 * Serving administration (admin keys only, by the table in ../authz.ts): deployments (deploy / new version, list, get, undeploy), the models
 * registry, routes, API keys with scopes and limits, usage, loaded backends; and each deployment's generated
 * documentation (OpenAPI document and snippets), which any key allowed to use the deployment may read.
 * Thin routes over src/serve/deployments.ts and keys.ts; every change invalidates the gateway's resolution cache.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Store } from '../../store/store.ts';
import type { Gateway } from '../../serve/gateway.ts';
import { createKey, describeKey, keyAllowsModel, type CreatedApiKeyObject } from '../../serve/api-keys.ts';
import { deleteRoute, deploy, describeDeployment, parseSettings, putRoute, registerModel, ServeError, undeploy, type DeployInput, type DeploymentObject, type RegisterModelInput, type RouteTarget } from '../../serve/deployments.ts';
import { openapi, snippets } from '../../serve/docs.ts';
import { nowSeconds } from '../../store/store.ts';
import { ApiError } from '../errors.ts';
import type { ModelFolders } from '../model-paths.ts';
import type { ModelRow } from '../../store/store.ts';

/** A deployment just made: where to call it and where its docs are. */
export type CreatedDeploymentObject = DeploymentObject & { url: string; docs: string };

/** A deployment's documentation for people (GET /v1/deployments/:name/docs). */
export interface DeploymentDocsObject { object: 'deployment.docs'; model: string; base_url: string; openapi_url: string; preset: string; snippets: Record<string, string> }

/** A model of the serving registry (GET /v1/serve/models; POST answers without the paths). */
export interface ServeModelObject {
  object: 'model'; id: string; model_id: string; kind: ModelRow['kind']; created: number; owned_by: string;
  path?: string | null; base_path?: string | null; adapter_path?: string | null; endpoint?: string | null;
}

/** The body with every model path it names checked against the allowed folders and replaced by its real path. */
function checkPaths(b: Record<string, unknown>, folders: ModelFolders | undefined): Record<string, unknown> {
  if (!folders) return b;
  const out = { ...b };
  for (const f of ['path', 'basePath', 'adapterPath']) if (out[f] !== undefined && out[f] !== null) out[f] = folders.resolve(out[f], f);
  return out;
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new ApiError(400, 'The request body must be a JSON object.', 'invalid_request_error', null, 'invalid_request_body');
  return b as Record<string, unknown>;
}

function baseUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.headers.host ?? 'localhost'}/v1`;
}

export interface DeploymentRouteDeps {
  /** The folders a model may be served from by path (a deployment's or a serving model's path); default: any. */
  modelFolders?: ModelFolders;
  /** Whether a guard policy of this name exists (a deployment's `guard` setting must name one). */
  guardExists?: (name: string) => Promise<boolean>;
}

export function deploymentRoutes(app: FastifyInstance, store: Store, gateway: Gateway, deps: DeploymentRouteDeps = {}): void {
  app.post('/v1/deployments', async (req): Promise<CreatedDeploymentObject> => {
    const b = body(req);
    const guard = (b.settings as { guard?: unknown } | undefined)?.guard;
    if (typeof guard === 'string' && deps.guardExists && !(await deps.guardExists(guard))) {
      throw new ApiError(400, `settings.guard: no guard policy named "${guard}" (create it with PUT /v1/guard/policies/${guard})`, 'invalid_request_error', 'settings.guard', 'guard_policy_not_found');
    }
    const d = await deploy(store, checkPaths(b, deps.modelFolders) as unknown as DeployInput);
    gateway.invalidate();
    const wait = (req.query as { wait?: string }).wait !== 'false';
    if (wait && parseSettings(d.settings).warm) await gateway.warmUp(d.name);
    return { ...(await describeDeployment(store, d)), url: baseUrl(req), docs: `${baseUrl(req)}/deployments/${encodeURIComponent(d.name)}/docs` };
  });

  app.get('/v1/deployments', async (req) => {
    const all = (req.query as { all?: string }).all === 'true';
    const data = [];
    for (const d of await store.deployments.list()) if (all || d.status === 'active') data.push(await describeDeployment(store, d));
    return { object: 'list', data };
  });

  const getDep = async (name: string) => {
    const d = await store.deployments.getByName(name);
    if (!d) throw new ServeError(404, `No deployment named '${name}'`, 'deployment_not_found', 'name');
    return d;
  };

  app.get<{ Params: { name: string } }>('/v1/deployments/:name', async (req) => {
    return describeDeployment(store, await getDep((req.params as { name: string }).name));
  });

  app.delete<{ Params: { name: string } }>('/v1/deployments/:name', async (req) => {
    const d = await undeploy(store, (req.params as { name: string }).name);
    gateway.invalidate();
    void gateway.sweep();
    return { object: 'deployment.deleted', name: d.name, deleted: true };
  });

  const docsInput = async (req: FastifyRequest) => {
    const name = (req.params as { name: string }).name;
    const d = await getDep(name);
    if (d.status !== 'active') throw new ServeError(404, `No active deployment named '${name}'`, 'deployment_not_found', 'name');
    if (!req.apiKey || !keyAllowsModel(req.apiKey, name)) throw new ServeError(403, `This API key is not allowed to use the model '${name}'.`, 'model_not_allowed');
    // every backend embeds (llama.cpp, the engine, endpoints that offer it), so the docs always show embeddings
    return { baseUrl: baseUrl(req), model: name, settings: parseSettings(d.settings), embeddings: true };
  };

  app.get<{ Params: { name: string } }>('/v1/deployments/:name/openapi.json', async (req) => openapi(await docsInput(req)));

  app.get<{ Params: { name: string } }>('/v1/deployments/:name/docs', async (req): Promise<DeploymentDocsObject> => {
    const d = await docsInput(req);
    return { object: 'deployment.docs', model: d.model, base_url: d.baseUrl, openapi_url: `${d.baseUrl}/deployments/${encodeURIComponent(d.model)}/openapi.json`, preset: d.settings.preset, snippets: snippets(d) };
  });

  // ---------------------------------------------------------------- models registry
  app.post('/v1/serve/models', async (req): Promise<ServeModelObject> => {
    const row = await registerModel(store, checkPaths(body(req), deps.modelFolders) as unknown as RegisterModelInput);
    gateway.invalidate();
    return { object: 'model', id: row.name, model_id: row.id, kind: row.kind, created: row.created_at, owned_by: row.owned_by };
  });

  app.get('/v1/serve/models', async () => {
    return { object: 'list', data: (await store.models.list()).map((m): ServeModelObject => ({ object: 'model', id: m.name, model_id: m.id, kind: m.kind, path: m.path, base_path: m.base_path, adapter_path: m.adapter_path, endpoint: m.endpoint ? JSON.parse(m.endpoint).url : null, created: m.created_at, owned_by: m.owned_by })) };
  });

  // ---------------------------------------------------------------- routes
  app.post('/v1/routes', async (req) => {
    const b = body(req);
    const r = await putRoute(store, { name: b.name as string, policy: b.policy as string, targets: b.targets as RouteTarget[], timeoutMs: b.timeout_ms as number | undefined });
    gateway.invalidate();
    return { object: 'route', name: r.name, policy: r.policy, targets: JSON.parse(r.targets), timeout_ms: r.timeout_ms };
  });

  app.get('/v1/routes', async () => {
    return { object: 'list', data: (await store.routes.list()).map((r) => ({ object: 'route', name: r.name, policy: r.policy, targets: JSON.parse(r.targets), timeout_ms: r.timeout_ms })) };
  });

  app.delete<{ Params: { name: string } }>('/v1/routes/:name', async (req) => {
    await deleteRoute(store, (req.params as { name: string }).name);
    gateway.invalidate();
    return { object: 'route.deleted', name: (req.params as { name: string }).name, deleted: true };
  });

  // ---------------------------------------------------------------- keys
  app.post('/v1/keys', async (req): Promise<CreatedApiKeyObject> => {
    const b = body(req);
    if (b.role !== undefined && b.role !== 'admin' && b.role !== 'user') throw new ApiError(400, "role must be 'admin' or 'user'", 'invalid_request_error', 'role', 'invalid_value');
    const { key, row } = await createKey(store, {
      name: b.name as string, owner: b.owner as string | undefined, models: b.models as string[] | undefined, endpoints: b.endpoints as string[] | undefined, knowledge: b.knowledge as string[] | undefined, manage: b.manage as string[] | undefined, role: b.role as 'admin' | 'user' | undefined,
      expiresAt: b.expires_at as number | undefined, rateLimitRpm: b.rate_limit_rpm as number | undefined, tokenQuota: b.token_quota as number | undefined,
    });
    return { ...describeKey(row), key };
  });

  app.get('/v1/keys', async () => {
    return { object: 'list', data: (await store.apiKeys.list()).map(describeKey) };
  });

  app.delete<{ Params: { id: string } }>('/v1/keys/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    const k = await store.apiKeys.get(id);
    if (!k) throw new ServeError(404, `No API key ${id}`, 'key_not_found', 'id');
    if (k.revoked_at === null) await store.apiKeys.revoke(id, nowSeconds());
    return { object: 'api_key.deleted', id, deleted: true };
  });

  app.get('/v1/usage', async (req) => {
    const q = req.query as { key_id?: string; since?: string };
    const since = q.since !== undefined ? Number(q.since) : undefined;
    if (since !== undefined && !Number.isFinite(since)) throw new ServeError(400, 'since must be unix seconds', 'invalid_value', 'since');
    return { object: 'list', data: await store.usage.list({ keyId: q.key_id, since }) };
  });

  app.get('/v1/serve/status', async () => {
    return { object: 'serve.status', ...gateway.status() };
  });
}
