/**
 * /v1/writer: Magic Writer (src/writer/). Templates (GET), a filled template's text (POST .../compose), long
 * documents written from an outline section by section (POST .../documents; `stream: true` sends each section's
 * progress as server-sent events: document.created, section.started, section.delta, section.done, document.done,
 * or error), their list, one document, its export as Markdown or DOCX, and pictures added through the images
 * endpoint. Thin: reading, the key's checks, and WriterService.
 *
 * Access (../authz.ts): the chat.completions endpoint scope; each model named is checked against the key's models,
 * a knowledge base against its knowledge scope; a key sees and changes only its own documents (an admin: all).
 * Every model call goes through the gateway, the model's guard and the request log (source `writer`, ../app-models.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRow } from '../../store/store.ts';
import type { KnowledgeService } from '../../knowledge/knowledge-service.ts';
import type { Gateway } from '../../serve/gateway.ts';
import { ServeError } from '../../serve/deployments.ts';
import { keyAllowsModel } from '../../serve/api-keys.ts';
import { SSE_HEADERS, SseWriter } from '../../openai/sse-writer.ts';
import { WriterService, type WriterDeps } from '../../writer/writer-service.ts';
import { parseDocumentRequest } from '../../writer/writer-document.ts';
import { toDocx, toMarkdown } from '../../writer/writer-export.ts';
import { requireKey } from '../chat-pipeline.ts';
import { toApiError } from '../errors.ts';
import { appGenerate, checkAppModel, type AppModelDeps } from '../app-models.ts';
import { knowledgeScope } from './knowledge-routes.ts';
import { generateImage, parseImageRequest } from './images-routes.ts';

export interface WriterRouteDeps extends AppModelDeps { gateway: Gateway; knowledge: KnowledgeService; writer: WriterService }

/** The key's own documents; undefined for an admin (all). */
const owner = (k: ApiKeyRow) => (k.role === 'admin' ? undefined : k.id);

/** A passage's label as the Copilot shows it: the document and, when it has one, the article or heading. */
export const passageLabel = (h: { docTitle: string; label: string }) => (h.label && h.label !== h.docTitle ? `${h.docTitle} ${h.label}`.trim() : h.docTitle);

export function writerRoutes(app: FastifyInstance, d: WriterRouteDeps): void {
  const deps = (req: FastifyRequest, k: ApiKeyRow): WriterDeps => {
    const generate = appGenerate(d, k, 'writer', req.log);
    const scope = knowledgeScope(req);
    return {
      generate: async (model, messages, o, onText) => generate(model, messages, o, onText),
      search: async (kb, q, n) => (await d.knowledge.search([kb], q, { k: n, scope })).results.map((h) => ({ label: passageLabel(h), text: h.context.length <= 1200 ? h.context : h.text })),
      image: async (model, prompt, size) => {
        d.policy.checkEndpoint(k, 'images.generations');
        const r = await generateImage(d, k, { model, prompt, n: 1, response_format: 'b64_json', ...(size ? { size } : {}) });
        return r.data[0]!;
      },
    };
  };
  /** 404 unless the key may read the knowledge base (before any model is called). */
  const checkKnowledge = async (req: FastifyRequest, id: string | null) => {
    if (id) await d.knowledge.requireKb(id, knowledgeScope(req)).catch(() => { throw new ServeError(404, `Invalid 'knowledge': no knowledge base ${id} for this key.`, 'not_found', 'knowledge'); });
  };

  app.get('/v1/writer/templates', async (req) => {
    const k = requireKey(req);
    // the models that can make pictures: those (or routes) served by an OpenAI-compatible endpoint, that the key may use
    const image_models: string[] = [];
    for (const m of await d.gateway.listModels()) {
      if (!keyAllowsModel(k, m.id)) continue;
      const p = await d.gateway.plan(m.id).catch(() => null);
      if (p?.targets.some((t) => t?.model.kind === 'endpoint')) image_models.push(m.id);
    }
    return { object: 'list', data: d.writer.templates(), image_models };
  });

  app.post<{ Body: Record<string, unknown> }>('/v1/writer/compose', async (req) => {
    const k = requireKey(req);
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (typeof b.template !== 'string' || !b.template) throw new ServeError(400, "Missing required parameter: 'template'.", 'missing_required_parameter', 'template');
    if (typeof b.model !== 'string' || !b.model) throw new ServeError(400, "Missing required parameter: 'model'.", 'missing_required_parameter', 'model');
    const knowledge = typeof b.knowledge === 'string' && b.knowledge ? b.knowledge : null;
    const t = d.writer.template(b.template);
    checkAppModel(k, b.model);
    await checkKnowledge(req, knowledge);
    await d.policy.admit(k);
    return d.writer.compose(deps(req, k), { template: t.id, fields: b.fields ?? {}, style: b.style, model: b.model, knowledge });
  });

  app.post<{ Body: Record<string, unknown> }>('/v1/writer/documents', async (req, reply: FastifyReply) => {
    const k = requireKey(req);
    const r = parseDocumentRequest(req.body);
    checkAppModel(k, r.model);
    await checkKnowledge(req, r.knowledge);
    await d.policy.admit(k);
    if ((req.body as { stream?: unknown }).stream !== true) return d.writer.write(deps(req, k), r, k.id);
    const sse = SseWriter.open(reply, { headers: SSE_HEADERS, opening: 'stream open', heartbeatMs: 15_000 });
    const ac = new AbortController();
    sse.onClose(() => ac.abort());
    try {
      await d.writer.write(deps(req, k), r, k.id, (e) => sse.send(e, e.type), ac.signal);
    } catch (e) {
      sse.send(toApiError(e).body, 'error');
    }
    sse.end();
    return reply;
  });

  app.get<{ Querystring: { limit?: string } }>('/v1/writer/documents', async (req) => {
    const k = requireKey(req);
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 200)) throw new ServeError(400, "Invalid 'limit': expected an integer from 1 to 200.", 'invalid_value', 'limit');
    return { object: 'list', data: await d.writer.list(owner(k), limit) };
  });
  app.get<{ Params: { id: string } }>('/v1/writer/documents/:id', async (req) => d.writer.get(req.params.id, owner(requireKey(req))));
  app.delete<{ Params: { id: string } }>('/v1/writer/documents/:id', async (req) => {
    await d.writer.delete(req.params.id, owner(requireKey(req)));
    return { id: req.params.id, object: 'writer.document.deleted', deleted: true };
  });

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>('/v1/writer/documents/:id/export', async (req, reply) => {
    const doc = await d.writer.get(req.params.id, owner(requireKey(req)));
    const format = req.query.format ?? 'markdown';
    const base = (doc.title.replace(/[^\p{L}\p{N} _-]+/gu, '').trim().slice(0, 80) || doc.id).replace(/\s+/g, '-');
    const disposition = (ext: string) => `attachment; filename="${doc.id}.${ext}"; filename*=UTF-8''${encodeURIComponent(`${base}.${ext}`)}`;
    if (format === 'markdown' || format === 'md') return reply.header('content-type', 'text/markdown; charset=utf-8').header('content-disposition', disposition('md')).send(toMarkdown(doc));
    if (format === 'docx') {
      return reply.header('content-type', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document').header('content-disposition', disposition('docx')).send(await toDocx(doc));
    }
    throw new ServeError(400, "Invalid 'format': expected markdown or docx.", 'invalid_value', 'format');
  });

  app.post<{ Params: { id: string }; Body: Record<string, unknown> }>('/v1/writer/documents/:id/images', async (req) => {
    const k = requireKey(req);
    const r = parseImageRequest(req.body);
    await d.writer.get(req.params.id, owner(k));
    d.policy.checkEndpoint(k, 'images.generations');
    checkAppModel(k, r.model);
    await d.policy.admit(k);
    return d.writer.addImage(deps(req, k), req.params.id, owner(k), { model: r.model, prompt: r.prompt, size: r.size });
  });
}
