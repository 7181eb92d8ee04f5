/**
 * Human feedback routes (issue 11); everything but giving feedback needs an admin key. `POST /v1/feedback` (rating, right/wrong, correction or a preference between
 * two answers, on a response id; prompt and answer come from the response log when the server logged the response,
 * else from the request), `GET /v1/feedback` (the review queue: status, model, annotator, label, kind, cursor),
 * `GET /v1/feedback/{id}`, `POST /v1/feedback/{id}/review`, `POST /v1/feedback/export` (openai-dpo,
 * llamafactory-ranking, sft, kto: as JSON Lines, or imported as a dataset with `dataset`), and
 * `POST /v1/feedback/train` (preference pairs -> dataset -> a DPO job or an experiment in the factory).
 */
import type { FastifyInstance } from 'fastify';
import { datasetInfoEntry, type ExportFormat, type FeedbackRequest, type FeedbackService, type TrainDeps, type TrainRequest } from '../../control/feedback.ts';
import { requireAdmin, toControlApiError } from './guard.ts';
import { ApiError } from '../errors.ts';

const wrap = <T>(fn: () => Promise<T>) => fn().catch((e: unknown) => { throw toControlApiError(e); });

export function feedbackRoutes(app: FastifyInstance, feedback: FeedbackService, deps: TrainDeps & { jobObject?: (job: never) => unknown }): void {
  // Any key may give feedback; on a logged response only the key that asked (or an admin) may.
  app.post<{ Body: FeedbackRequest }>('/v1/feedback', async (req) => wrap(async () => {
    if (req.apiKey?.role !== 'admin') {
      const b = req.body ?? ({} as FeedbackRequest);
      for (const [param, id] of [['response_id', b.response_id], ['preferred.response_id_a', b.preferred?.response_id_a], ['preferred.response_id_b', b.preferred?.response_id_b]] as const) {
        if (typeof id !== 'string') continue;
        const r = await feedback.getResponse(id);
        if (r && r.key_id !== null && r.key_id !== req.apiKey?.id) throw new ApiError(404, `response ${id} is not in the response log`, 'invalid_request_error', param, 'response_not_found');
      }
    }
    return feedback.create(req.body);
  }));

  app.get<{ Querystring: Record<string, string> }>('/v1/feedback', async (req) => wrap(async () => {
    requireAdmin(req);
    const q = req.query;
    const r = await feedback.list({
      status: (q.status ?? 'pending') as never, model: q.model, annotator: q.annotator, label: q.label, kind: q.kind as never, after: q.after,
      limit: q.limit ? Number(q.limit) : undefined, order: q.order === 'desc' ? 'desc' : 'asc',
    });
    return { object: 'list', ...r };
  }));

  app.get<{ Params: { id: string } }>('/v1/feedback/:id', async (req) => wrap(async () => { requireAdmin(req); return feedback.get(req.params.id); }));
  app.post<{ Params: { id: string }; Body: { status: 'accepted' | 'rejected' | 'pending'; reviewer?: string; note?: string; correction?: string } }>('/v1/feedback/:id/review', async (req) => wrap(async () => { requireAdmin(req); return feedback.review(req.params.id, req.body); }));

  app.post<{ Body: { format: ExportFormat; dataset?: string; accepted_only?: boolean; model?: string; min_rating_gap?: number; include_approved?: boolean; validation_split?: number } }>('/v1/feedback/export', async (req) => wrap(async () => {
    requireAdmin(req);
    const b = req.body ?? ({} as never);
    if (b.dataset !== undefined) {
      const r = await feedback.exportDataset(deps, b.format, b.dataset, b);
      return { object: 'feedback.export', format: b.format, rows: r.rows, dataset: r.dataset };
    }
    const r = await feedback.export(b.format, b);
    return { object: 'feedback.export', format: b.format, rows: r.rows.length, jsonl: r.jsonl, dataset_info: { feedback: datasetInfoEntry(b.format, `feedback-${b.format}.jsonl`) } };
  }));

  app.post<{ Body: TrainRequest }>('/v1/feedback/train', async (req) => wrap(async () => {
    requireAdmin(req);
    const r = await feedback.train(deps, req.body);
    return { ...r, job: r.job && deps.jobObject ? deps.jobObject(r.job as never) : r.job };
  }));
}
