/**
 * POST /v1/images/generations: OpenAI's images API passed through the gateway to an OpenAI-compatible images
 * endpoint (a model or deployment whose backend is an endpoint, or a route over such targets), with the same keys,
 * scopes (endpoint `images.generations`, the key's models), rate limits, usage and request log as chat.
 *
 * Guarantees: the body is validated first (400 naming the field) and only OpenAI's documented fields travel
 * upstream; an unknown model is 404 and a model not served by an endpoint is 400 `images_not_supported`, both
 * saying what to configure; the upstream's failures are the gateway's 4xx/502 (never its secrets); the answer
 * keeps only `created` and each picture's `b64_json`, `url` and `revised_prompt`. Magic Writer's pictures use the
 * same function (`generateImage`).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ApiKeyRow } from '../../store/store.ts';
import type { Gateway } from '../../serve/gateway.ts';
import type { KeyPolicy } from '../../serve/api-keys.ts';
import { ServeError } from '../../serve/deployments.ts';
import type { EndpointSpec } from '../../serve/http-backend.ts';
import { backendErrorFrom } from '../../serve/http-backend.ts';
import { BackendError } from '../../serve/model-backend.ts';
import { OpenAIClient } from '../../openai/openai-client.ts';
import type { GuardRuntime } from '../../control/guard-runtime.ts';
import { requireKey } from '../chat-pipeline.ts';
import { toApiError } from '../errors.ts';

export interface ImagesDeps { gateway: Gateway; policy: KeyPolicy; guard?: GuardRuntime; log?: boolean }

export interface ImageRequest { model: string; prompt: string; n?: number; size?: string; quality?: string; style?: string; response_format?: 'url' | 'b64_json'; background?: string; output_format?: string; user?: string }
export interface ImagesResponse { created: number; data: Array<{ b64_json?: string; url?: string; revised_prompt?: string }> }

const bad = (param: string, message: string) => new ServeError(400, message, 'invalid_value', param);

/** Reads the body: `model` and `prompt` required, the optional fields as OpenAI documents them. */
export function parseImageRequest(body: unknown): ImageRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('body', 'The body must be a JSON object {model, prompt, ...}.');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || !b.model) throw new ServeError(400, "Missing required parameter: 'model' (the images model or deployment).", 'missing_required_parameter', 'model');
  if (typeof b.prompt !== 'string' || !b.prompt.trim()) throw new ServeError(400, "Missing required parameter: 'prompt'.", 'missing_required_parameter', 'prompt');
  if (b.prompt.length > 32_000) throw bad('prompt', "Invalid 'prompt': at most 32000 characters.");
  const out: ImageRequest = { model: b.model, prompt: b.prompt };
  if (b.n !== undefined) {
    if (!Number.isInteger(b.n) || (b.n as number) < 1 || (b.n as number) > 10) throw bad('n', "Invalid 'n': expected an integer from 1 to 10.");
    out.n = b.n as number;
  }
  for (const k of ['size', 'quality', 'style', 'background', 'output_format', 'user'] as const) {
    const v = b[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length > 64) throw bad(k, `Invalid '${k}': expected text of at most 64 characters.`);
    out[k] = v;
  }
  if (b.response_format !== undefined) {
    if (b.response_format !== 'url' && b.response_format !== 'b64_json') throw bad('response_format', "Invalid 'response_format': expected 'url' or 'b64_json'.");
    out.response_format = b.response_format;
  }
  return out;
}

/** One images call for a key whose endpoint and model scopes were checked: resolve, call upstream (fallback routes try the next target on a 5xx), log. */
export async function generateImage(d: ImagesDeps, key: ApiKeyRow, r: ImageRequest, signal?: AbortSignal): Promise<ImagesResponse & { model: string }> {
  const plan = await d.gateway.plan(r.model);
  const targets = plan.targets.filter((t) => t !== null);
  if (!targets.length) throw new BackendError(503, `No target of route '${r.model}' is deployed.`, 'model_unavailable', 'model');
  const endpoints = targets.filter((t) => t.model.kind === 'endpoint');
  if (!endpoints.length) {
    throw new ServeError(400, `The model '${r.model}' is not served by an OpenAI-compatible endpoint, so it makes no pictures: register an images endpoint (POST /v1/serve/models {"kind": "endpoint", "endpoint": {"url": ...}}) and name it.`, 'images_not_supported', 'model');
  }
  const tries = plan.policy === 'fallback' ? endpoints : endpoints.slice(0, 1);
  let last: unknown = null;
  let status = 200;
  try {
    for (const spec of tries) {
      const e = JSON.parse(spec.model.endpoint ?? '{}') as EndpointSpec;
      const client = new OpenAIClient({ baseURL: e.url, apiKey: e.apiKey, maxRetries: 0, timeoutMs: spec.settings.timeoutMs > 0 ? spec.settings.timeoutMs : 300_000 });
      try {
        const j = await client.json<{ created?: unknown; data?: unknown }>('/images/generations', { ...r, model: e.model ?? r.model }, { signal });
        if (!Array.isArray(j.data)) throw new BackendError(502, `upstream ${client.name}: the images answer has no 'data' list`, 'upstream_error');
        const data = j.data.map((x: unknown) => {
          const o = (x ?? {}) as Record<string, unknown>;
          const str = (k: string) => (typeof o[k] === 'string' ? { [k]: o[k] as string } : {});
          return { ...str('b64_json'), ...str('url'), ...str('revised_prompt') };
        });
        if (data.some((x) => !x.b64_json && !x.url)) throw new BackendError(502, `upstream ${client.name}: a picture has neither 'b64_json' nor 'url'`, 'upstream_error');
        return { created: typeof j.created === 'number' ? j.created : Math.floor(Date.now() / 1000), data, model: spec.name };
      } catch (err) {
        last = err instanceof BackendError ? err : backendErrorFrom(err, client.name);
        if ((last as BackendError).status < 500) break;
      }
    }
    throw last;
  } catch (e) {
    status = toApiError(e).status;
    throw e;
  } finally {
    d.policy.record(key.id, r.model, 0, 0, status >= 400);
    if (d.guard && d.log !== false) {
      await d.guard.record({ id: `img-${randomBytes(12).toString('base64url')}`, model: r.model, source: 'images', keyId: key.id, prompt: [{ role: 'user', content: r.prompt }], answer: status >= 400 ? `(failed: ${status})` : `(${r.n ?? 1} picture${(r.n ?? 1) > 1 ? 's' : ''})`, guard: null });
    }
  }
}

export function imagesRoutes(app: FastifyInstance, d: ImagesDeps): void {
  app.post('/v1/images/generations', async (req, reply) => {
    const k = requireKey(req);
    const r = parseImageRequest(req.body);
    d.policy.checkEndpoint(k, 'images.generations');
    d.policy.checkModel(k, r.model);
    await d.policy.admit(k);
    const ac = new AbortController();
    const onClose = () => { if (!reply.raw.writableFinished) ac.abort(); };
    reply.raw.on('close', onClose);
    try {
      const { model: _m, ...out } = await generateImage(d, k, r, ac.signal);
      return out;
    } finally {
      reply.raw.off('close', onClose);
    }
  });
}
