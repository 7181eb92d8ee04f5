/**
 * /v1/experiments: a grid of fine-tunes (base models x datasets x methods x hyperparameter values x seeds).
 * POST creates and submits it (the body is the experiment: it alone reproduces it; `then` adds later stages, e.g.
 * DPO on every SFT result, each job starting after the one it builds on); POST /v1/experiments/plan
 * returns "N jobs", estimates and rejected combinations without submitting; GET lists and gets (with every job,
 * its estimate and results); GET .../events streams status and metrics of all its jobs as server-sent events.
 * `fact_questions` (held-out questions whose answers must state known values) adds the `facts` dimension to the
 * benchmarks every job runs.
 */
import type { FastifyInstance } from 'fastify';
import type { ExperimentRequest, FactoryService } from '../../factory/factory-service.ts';
import type { MetricsRecord } from '../../engine/metrics-log.ts';
import type { JobRecord } from '../../factory/job-repository.ts';
import type { JobStatus } from '../../factory/job-spec.ts';
import { SSE_HEADERS, SseWriter } from '../../openai/sse-writer.ts';

// The body is validated by the factory (src/factory/experiment-file.ts), which names every problem at once with its
// field path, the nearest valid key and the allowed values; the schema only asks for an object.
const schema = { body: { type: 'object' } };

export function experimentsRoutes(app: FastifyInstance, factory: FactoryService): void {
  app.post<{ Body: ExperimentRequest }>('/v1/experiments', { schema }, async (req) => factory.createExperiment(req.body));
  app.post<{ Body: ExperimentRequest }>('/v1/experiments/plan', { schema }, async (req) => ({ object: 'experiment.plan', ...(await factory.planOnly(req.body)) }));
  app.get('/v1/experiments', async () => ({ object: 'list', data: await factory.listExperiments() }));
  app.get<{ Params: { id: string } }>('/v1/experiments/:id', async (req) => factory.getExperiment(req.params.id));
  app.get<{ Params: { id: string } }>('/v1/experiments/:id/leaderboard', async (req) => factory.leaderboard(req.params.id));

  app.get<{ Params: { id: string } }>('/v1/experiments/:id/events', async (req, reply) => {
    const first = await factory.getExperiment(req.params.id); // 404 before the stream opens
    const ids = new Set(first.jobs.map((j) => j.id));
    const sse = SseWriter.open(reply, { headers: SSE_HEADERS, opening: 'stream open', heartbeatMs: 15_000 });
    const finished = (s: string) => s === 'succeeded' || s === 'completed_with_failures';
    // Listen first, then read the state: a job that ends in between is seen either way.
    let checking = false;
    const check = async () => {
      if (checking || sse.closed) return;
      checking = true;
      try {
        const now = await factory.getExperiment(first.id);
        if (finished(now.status)) { sse.send(now, 'experiment'); sse.end(); }
      } finally { checking = false; }
    };
    const onMetrics = (id: string, m: MetricsRecord) => { if (ids.has(id)) sse.send({ job: id, ...m }, 'metrics'); };
    const onStatus = (id: string, _s: JobStatus, j: JobRecord) => {
      if (!ids.has(id)) return;
      sse.send(factory.jobObject(j), 'status');
      void check();
    };
    factory.on('metrics', onMetrics);
    factory.on('status', onStatus);
    const timer = setInterval(() => void check(), 2000);
    sse.onClose(() => { clearInterval(timer); factory.off('metrics', onMetrics); factory.off('status', onStatus); });
    const exp = await factory.getExperiment(first.id);
    sse.send(exp, 'experiment');
    if (finished(exp.status)) sse.end();
    return reply;
  });
}
