/**
 * /v1/fine_tuning/jobs with OpenAI's shapes (create, list with after/limit, retrieve, cancel, pause, resume,
 * events, checkpoints) plus `GET .../metrics`, the job's metrics as JSON or, with `?stream=true`, as server-sent
 * events (the history first, then each new step) for live curves. Thin: every decision is in FactoryService.
 */
import type { FastifyInstance } from 'fastify';
import type { CreateJobRequest, FactoryService } from '../../factory/factory-service.ts';
import type { MetricsRecord } from '../../engine/metrics-log.ts';
import type { JobRecord } from '../../factory/job-repository.ts';
import type { JobStatus } from '../../factory/job-spec.ts';
import { TERMINAL_STATUSES } from '../../factory/scheduler.ts';
import { SSE_HEADERS, SseWriter } from '../../openai/sse-writer.ts';
import { stringify } from 'yaml';
import { ApiError } from '../errors.ts';

const createSchema = {
  body: {
    type: 'object', required: ['model'],
    properties: {
      model: { type: 'string' }, training_file: { type: 'string' }, validation_file: { type: 'string' }, dataset: { type: 'string' },
      suffix: { type: 'string', maxLength: 64 }, seed: { type: 'integer' }, metadata: { type: 'object', additionalProperties: { type: 'string' } },
      hyperparameters: { type: 'object' }, method: { type: 'object' }, integrations: { type: 'array' },
    },
  },
};

const NAME = '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$';
const manifestQuery = {
  querystring: {
    type: 'object', required: ['image', 'claim'],
    properties: {
      image: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$' }, claim: { type: 'string', pattern: NAME },
      data_path: { type: 'string', pattern: '^/[A-Za-z0-9._/-]{0,254}$' }, namespace: { type: 'string', pattern: NAME }, runtime: { type: 'string', pattern: NAME },
      gpu_resource: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9./_-]{0,99}$' }, service_account: { type: 'string', pattern: NAME },
    },
  },
};

export function fineTuningRoutes(app: FastifyInstance, factory: FactoryService): void {
  app.post<{ Body: CreateJobRequest }>('/v1/fine_tuning/jobs', { schema: createSchema }, async (req) => factory.jobObject(await factory.createJob(req.body)));

  app.get<{ Querystring: { after?: string; limit?: string; [k: string]: string | undefined } }>('/v1/fine_tuning/jobs', async (req) => {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.query)) { const m = /^metadata\[(.+)\]$/.exec(k); if (m && v !== undefined) metadata[m[1]] = v; }
    const r = await factory.listJobs({ after: req.query.after, limit: req.query.limit ? Number(req.query.limit) : undefined, metadata: Object.keys(metadata).length ? metadata : undefined });
    return { object: 'list', data: r.data.map((j) => factory.jobObject(j)), has_more: r.has_more };
  });

  app.get<{ Params: { id: string } }>('/v1/fine_tuning/jobs/:id', async (req) => factory.jobObject(await factory.getJob(req.params.id)));
  app.post<{ Params: { id: string } }>('/v1/fine_tuning/jobs/:id/cancel', async (req) => factory.jobObject(await factory.cancel(req.params.id)));
  app.post<{ Params: { id: string } }>('/v1/fine_tuning/jobs/:id/pause', async (req) => factory.jobObject(await factory.pause(req.params.id)));
  app.post<{ Params: { id: string } }>('/v1/fine_tuning/jobs/:id/resume', async (req) => factory.jobObject(await factory.resume(req.params.id)));

  app.get<{ Params: { id: string }; Querystring: { after?: string; limit?: string } }>('/v1/fine_tuning/jobs/:id/events', async (req) => {
    const r = await factory.events(req.params.id, { after: req.query.after, limit: req.query.limit ? Number(req.query.limit) : undefined });
    return { object: 'list', data: r.data, has_more: r.has_more };
  });

  // the job as Kubernetes manifests (a batch/v1 Job, or a Kubeflow TrainJob for distributed torch): the query's
  // values become manifest fields only, checked against what Kubernetes accepts
  app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>('/v1/fine_tuning/jobs/:id/manifests', { schema: manifestQuery }, async (req) => {
    const q = req.query;
    const unknown = Object.keys(q).find((k) => !(k in manifestQuery.querystring.properties));
    if (unknown) throw new ApiError(400, `Unknown query parameter '${unknown}' (known: ${Object.keys(manifestQuery.querystring.properties).join(', ')}).`, 'invalid_request_error', unknown, 'unknown_parameter');
    const data = await factory.manifests(req.params.id, {
      image: q.image!, claim: q.claim!, dataPath: q.data_path, namespace: q.namespace, runtime: q.runtime, gpuResource: q.gpu_resource, serviceAccount: q.service_account,
    });
    return { object: 'list', data, yaml: data.map((m) => stringify(m, { lineWidth: 0 })).join('---\n') };
  });

  app.get<{ Params: { id: string } }>('/v1/fine_tuning/jobs/:id/checkpoints', async (req) => {
    const data = await factory.checkpoints(req.params.id);
    return { object: 'list', data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  });

  app.get<{ Params: { id: string }; Querystring: { stream?: string } }>('/v1/fine_tuning/jobs/:id/metrics', async (req, reply) => {
    const job = await factory.getJob(req.params.id);
    if (req.query.stream !== 'true') return { object: 'list', data: factory.metrics(job) };
    const sse = SseWriter.open(reply, { headers: SSE_HEADERS, opening: 'stream open', heartbeatMs: 15_000 });
    const seen = new Set<number>();
    const push = (m: MetricsRecord) => { if (!seen.has(m.step) || m.eval_loss !== undefined) { seen.add(m.step); sse.send(m, 'metrics'); } };
    const onMetrics = (id: string, m: MetricsRecord) => { if (id === job.id) push(m); };
    const onStatus = (id: string, status: JobStatus, j: JobRecord) => {
      if (id !== job.id) return;
      sse.send(factory.jobObject(j), 'status');
      if (TERMINAL_STATUSES.includes(status)) sse.end();
    };
    factory.on('metrics', onMetrics);
    factory.on('status', onStatus);
    sse.onClose(() => { factory.off('metrics', onMetrics); factory.off('status', onStatus); });
    for (const m of factory.metrics(job)) push(m);
    sse.send(factory.jobObject(await factory.getJob(job.id)), 'status');
    if (TERMINAL_STATUSES.includes(job.status)) sse.end();
    return reply;
  });
}
