/**
 * Human feedback routes; giving feedback on one's own answers needs any key, everything else the `feedback`
 * management area (see ../authz.ts). `POST /v1/feedback` (rating, right/wrong, correction or a preference between
 * two answers, on a response id; prompt and answer come from the response log when the server logged the response,
 * else from the request), `GET /v1/feedback` (the review queue: status, model, annotator, label, kind, cursor),
 * `GET /v1/feedback/{id}`, `POST /v1/feedback/{id}/review`, `POST /v1/feedback/export` (openai-dpo,
 * llamafactory-ranking, sft, kto: as JSON Lines, or imported as a dataset with `dataset`), and
 * `POST /v1/feedback/train` (preference pairs -> dataset -> a DPO job or an experiment in the factory).
 */
import type { FastifyInstance } from 'fastify';
import { datasetInfoEntry, type ExportFormat, type FeedbackListFilter as ListFilter, type FeedbackRequest, type FeedbackService, type TrainDeps, type TrainRequest } from '../../control/feedback.ts';
import type { RequestLog } from '../../control/request-log.ts';
import { keyAllowsArea } from '../../serve/api-keys.ts';
import { requireRequestAccess } from '../authz.ts';
import { ApiError } from '../errors.ts';

export function feedbackRoutes<J extends { id: string }>(app: FastifyInstance, feedback: FeedbackService, log: Pick<RequestLog, 'getResponse'>, deps: TrainDeps<J> & { jobObject?: (job: J) => unknown }): void {
  /**
   * Any key may give feedback on an answer it was given: the response must be in the log under that key, and what
   * was asked and answered comes from the log, never from the body. Keys that manage feedback (and admins) may also
   * send feedback on text from elsewhere (prompt and answer in the body) and name the annotator; for every other key
   * the annotator is the key.
   */
  app.post<{ Body: FeedbackRequest }>('/v1/feedback', async (req) => {
    const k = req.apiKey!;
    const b = req.body ?? ({} as FeedbackRequest);
    if (keyAllowsArea(k, 'feedback')) {
      if (k.role !== 'admin' && b && typeof b === 'object') return feedback.create({ ...b, annotator: `key:${k.name}` });
      return feedback.create(b);
    }
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw new ApiError(400, 'the body must be a JSON object', 'invalid_request_error', null);
    const ids = [['response_id', b.response_id], ['preferred.response_id_a', b.preferred?.response_id_a], ['preferred.response_id_b', b.preferred?.response_id_b]] as const;
    if (typeof b.response_id !== 'string' && !(b.preferred && typeof b.preferred.response_id_a === 'string' && typeof b.preferred.response_id_b === 'string')) {
      throw new ApiError(400, 'response_id is required: this key may give feedback only on answers it was given', 'invalid_request_error', 'response_id', 'invalid_value');
    }
    for (const [param, id] of ids) {
      if (id === undefined || id === null) continue;
      const r = typeof id === 'string' ? await log.getResponse(id) : null;
      if (!r || r.key_id !== k.id) throw new ApiError(404, `response ${String(id)} is not in the response log of this key`, 'invalid_request_error', param, 'response_not_found');
    }
    const { prompt: _p, answer: _a, annotator: _n, model: _m, ...rest } = b;
    const preferred = b.preferred ? { choice: b.preferred.choice, response_id_a: b.preferred.response_id_a, response_id_b: b.preferred.response_id_b } : undefined;
    return feedback.create({ ...rest, ...(preferred ? { preferred } : {}), annotator: `key:${k.name}` } as FeedbackRequest);
  });

  // status and kind as the client sent them: FeedbackService.list checks both (400 naming the field)
  app.get<{ Querystring: Record<string, string> & Pick<ListFilter, 'status' | 'kind'> }>('/v1/feedback', async (req) => {
    const q = req.query;
    const r = await feedback.list({
      status: q.status ?? 'pending', model: q.model, annotator: q.annotator, label: q.label, kind: q.kind, after: q.after,
      limit: q.limit ? Number(q.limit) : undefined, order: q.order === 'desc' ? 'desc' : 'asc',
    });
    return { object: 'list', ...r };
  });

  app.get<{ Params: { id: string } }>('/v1/feedback/:id', async (req) => feedback.get(req.params.id));
  app.post<{ Params: { id: string }; Body: { status: 'accepted' | 'rejected' | 'pending'; reviewer?: string; note?: string; correction?: string } }>('/v1/feedback/:id/review', async (req) => feedback.review(req.params.id, { ...req.body, ...(req.apiKey!.role !== 'admin' ? { reviewer: `key:${req.apiKey!.name}` } : {}) }));

  app.post<{ Body: { format: ExportFormat; dataset?: string; accepted_only?: boolean; include_pending?: boolean; model?: string; min_rating_gap?: number; include_approved?: boolean; validation_split?: number } }>('/v1/feedback/export', async (req) => {
    const b = req.body ?? ({} as never); // no body: every field missing, and export() names the format it needs
    if (b.dataset !== undefined) {
      requireRequestAccess(req, 'manage:datasets'); // the export becomes a dataset
      const r = await feedback.exportDataset(deps, b.format, b.dataset, b);
      return { object: 'feedback.export', format: b.format, rows: r.rows, dataset: r.dataset };
    }
    const r = await feedback.export(b.format, b);
    return { object: 'feedback.export', format: b.format, rows: r.rows.length, jsonl: r.jsonl, dataset_info: { feedback: datasetInfoEntry(b.format, `feedback-${b.format}.jsonl`) } };
  });

  app.post<{ Body: TrainRequest }>('/v1/feedback/train', async (req) => {
    const r = await feedback.train(deps, req.body);
    return { ...r, job: r.job && deps.jobObject ? deps.jobObject(r.job) : r.job };
  });
}
