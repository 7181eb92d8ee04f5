/**
 * The main job: the demo factory on the embedded defaults (SQLite, local files, the built-in engine), from the
 * repository alone.
 *   1. the factory pretrains the project's three base models (spruce-s, spruce-m, spruce-l) on the demo corpus
 *   2. the demo company's datasets are imported (customer-support chats, HR-policy Q&A, identity)
 *   3. one experiment: 3 base models x 3 datasets x 3 methods = 27 fine-tunes, scheduled over the cores
 *   4. a results table (validation loss before and after each fine-tune), the leaderboard of benchmark scores, and
 *      what fine-tuning bought: the share of held-out company-fact questions (fact-questions.ts) the best fine-tune
 *      answers with the right fact against its base's, with a few answers side by side
 *   5. the best fine-tune for company facts deployed behind the OpenAI-compatible gateway under the demo guard policy, asked three
 *      questions through the API (src/demo/serve-demo.ts), one answer marked as feedback
 * Progress: a bar per running job and the overall progress with an ETA (lines every few seconds without a TTY).
 */
import { join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type ModelfabServer } from '../api/server.ts';
import { ensureBaseModels, BASE_MODELS } from './base-models.ts';
import { writeDemoDatasets } from './demo-datasets.ts';
import { totalStepsOf, type ExperimentObject, type ExperimentRequest, type FineTuningJobObject } from '../factory/factory-service.ts';
import type { MetricsRecord } from '../engine/metrics-log.ts';
import type { JobRecord } from '../factory/job-repository.ts';
import type { Reporter } from './reporter.ts';
import { bestFineTune, runServeDemo, type ServeDemoResult } from './serve-demo.ts';
import { treeCpuSeconds } from './cpu-time.ts';
import { companyFactSets } from './fact-questions.ts';
import { factExamples, factsMargin, factsMarginLines, type FactsMargin } from './facts-report.ts';
import type { JobBench } from '../factory/evaluate.ts';

export interface FactoryDemoOptions {
  dataDir: string;
  reporter: Reporter;
  /** One small base, a 1 x 3 x 3 grid with few steps: a smoke run. */
  quick?: boolean;
  seed?: number;
  threadsPerJob?: number;
}

export interface FactoryDemoResult {
  dataDir: string;
  bases: { name: string; params: number; perplexity: number | null; unigramPerplexity: number | null; seconds: number }[];
  /** From the start until the last base model was made (0 when they existed). */
  basesS: number;
  experiment: ExperimentObject;
  leaderboard: string;
  /** The facts dimension: the best fine-tune's share of held-out company-fact questions against its base's. */
  facts: FactsMargin | null;
  wallS: number;
  jobsS: number;
  /**
   * CPU time of this process and the workers it started, over the experiment (`jobsS`), divided by jobsS x cores:
   * the share of the machine the factory kept busy, not counting other programs (NaN without /proc).
   */
  cpuUtil: number;
  /** That CPU time in seconds. */
  cpuS: number;
  schedulerOverheadMsPerJob: number;
  /** Step 5 (null when no fine-tune had benchmark scores). */
  served: ServeDemoResult | null;
  serveS: number;
}

export const DEMO_METHODS: ExperimentRequest['methods'] = [
  { name: 'full', spec: { type: 'full' } },
  { name: 'lora-r16', spec: { type: 'lora', rank: 16, alpha: 32, targets: ['all'] } },
  { name: 'prefix-16', spec: { type: 'prefix', numVirtualTokens: 16 } },
];

/**
 * Two passes in batches of 4 at 3e-3: a model of a few million parameters learns the company's facts from many
 * small steps (one pass in batches of 16 at the methods' default rates taught them almost none: 1-3% of the
 * held-out fact questions right, no better than the bases), and the 27 fine-tunes still fit the demo's minutes.
 */
export const DEMO_HYPERPARAMETERS: ExperimentRequest['hyperparameters'] = { epochs: 2, batchSize: 4, lr: 3e-3, seqLen: 128, evalEvery: 0, checkpointEvery: 100 };

/** Follows jobs until all are terminal, drawing their progress through the reporter. */
async function follow(srv: ModelfabServer, ids: string[], rep: FactoryDemoOptions['reporter'], label: (j: JobRecord) => string): Promise<void> {
  const { factory, scheduler } = srv.factory;
  const bars = new Map<string, ReturnType<Reporter['run']>>();
  const want = new Set(ids);
  const onMetrics = (id: string, m: MetricsRecord) => {
    const bar = bars.get(id);
    if (bar) bar.update(m);
  };
  factory.on('metrics', onMetrics);
  const done = new Set<string>();
  try {
    for (;;) {
      const jobs = (await Promise.all(ids.map((id) => scheduler.get(id)))).filter((j): j is JobRecord => j !== null);
      for (const j of jobs) {
        if (j.status === 'running' && !bars.has(j.id)) {
          const total = totalStepsOf(j);
          bars.set(j.id, rep.run(label(j), total));
        }
        if (['succeeded', 'failed', 'cancelled'].includes(j.status) && !done.has(j.id)) {
          done.add(j.id);
          bars.get(j.id)?.done();
          if (j.status !== 'succeeded') rep.line(`      ${label(j)}: ${j.status}${j.error ? ` (${j.error})` : ''}`);
        }
      }
      rep.status?.(`${done.size}/${ids.length} done, ${jobs.filter((j) => j.status === 'running').length} running, ${jobs.filter((j) => j.status === 'queued').length} queued`);
      if (done.size === want.size) break;
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    factory.off('metrics', onMetrics);
    await factory.idle();
  }
}

export async function runFactoryDemo(o: FactoryDemoOptions): Promise<FactoryDemoResult> {
  const t0 = performance.now(), t0Wall = Date.now();
  const rep = o.reporter, quick = o.quick ?? false, seed = o.seed ?? 0;
  const dataDir = resolve(o.dataDir);
  const srv = await createServer({ dataDir, factory: { threadsPerJob: o.threadsPerJob ?? 1, onClose: 'requeue' } });
  try {
    if (srv.generatedAdminKey) rep.line(`admin API key (shown once): ${srv.generatedAdminKey}`);
    const { factory } = srv.factory;
    // 1. Base models: submitted now; the experiment's fine-tunes of each start as soon as it is ready.
    const models = quick ? BASE_MODELS.slice(0, 1) : BASE_MODELS;
    rep.line(`[1/5] base models: the factory pretrains ${models.length} small Llama-family models on the demo corpus`);
    const baseJobs = await ensureBaseModels({ factory, data: srv.service, dataDir, seed, quick });
    // 2. Datasets.
    writeDemoDatasets(join(dataDir, 'demo-datasets'), seed);
    const dsDir = join(dataDir, 'demo-datasets');
    const datasets: Array<{ name: string; train: string; val: string }> = [
      { name: 'support_qa', train: 'support_qa.train.jsonl', val: 'support_qa.val.jsonl' },
      { name: 'hr_policy', train: 'hr_policy.train.json', val: 'hr_policy.val.json' },
      { name: 'identity', train: 'identity.json', val: 'identity.val.json' },
    ];
    for (const d of datasets) {
      try { await srv.service.getDataset(d.name); } catch {
        await srv.service.importDataset({ name: d.name, source: { path: join(dsDir, d.train) }, validation: { path: join(dsDir, d.val) }, seed });
      }
    }
    rep.line(`[2/5] datasets: ${datasets.map((d) => d.name).join(', ')} (train and held-out validation splits), in ${dsDir}`);
    // 3. The experiment.
    const req: ExperimentRequest = {
      name: quick ? 'demo-quick' : 'demo', stage: 'sft',
      base_models: models.map((m) => m.name), datasets: datasets.map((d) => d.name), methods: DEMO_METHODS,
      hyperparameters: { ...DEMO_HYPERPARAMETERS, ...(quick ? { maxSteps: 6 } : {}) },
      seeds: [seed],
      fact_questions: companyFactSets(),
    };
    const tj = performance.now();
    const cpuJ = treeCpuSeconds();
    const exp0 = await factory.createExperiment(req);
    rep.line(`[3/5] experiment ${exp0.id}: ${models.length} base models x ${datasets.length} datasets x ${DEMO_METHODS.length} methods = ${exp0.jobs.length} fine-tunes, ${exp0.rejected.length} rejected${baseJobs.length ? '; the fine-tunes of each base start as soon as it is pretrained' : ''}`);
    const labels = new Map<string, string>([
      ...baseJobs.map((j) => [j.id, `${j.spec.name.replace(' (pretraining)', '')} (pretraining)`] as const),
      ...exp0.jobs.map((j) => [j.id, j.modelfab.name as string] as const),
    ]);
    await follow(srv, [...baseJobs.map((j) => j.id), ...exp0.jobs.map((j) => j.id)], rep, (j) => labels.get(j.id) ?? j.id);
    const basesDone = await Promise.all(baseJobs.map((j) => srv.factory.scheduler.get(j.id)));
    const basesS = basesDone.reduce((m, j) => Math.max(m, j?.finishedAt ? (j.finishedAt - t0Wall) / 1000 : 0), 0);
    const bases = [];
    for (const m of models) {
      const c = await factory.catalogGet(m.name);
      if (!c) throw new Error(`base model ${m.name} was not built: see ${join(dataDir, 'jobs')} (worker.log, events.jsonl)`);
      const ppl = (c.meta?.perplexity as number | undefined) ?? null;
      const uni = (c.meta?.unigram_perplexity as number | null | undefined) ?? null;
      const job = basesDone.find((j) => j?.spec.name.startsWith(`${m.name} `));
      bases.push({ name: m.name, params: c.params ?? 0, perplexity: ppl, unigramPerplexity: uni, seconds: job?.startedAt && job.finishedAt ? (job.finishedAt - job.startedAt) / 1000 : 0 });
    }
    const jobsS = (performance.now() - tj) / 1000;
    const cpu1 = treeCpuSeconds();
    const cpuS = cpuJ && cpu1 ? cpu1.seconds - cpuJ.seconds : NaN;
    const experiment = await factory.getExperiment(exp0.id);
    const board = await factory.leaderboard(exp0.id);
    const wallS = (performance.now() - t0) / 1000;
    rep.line('');
    rep.line('[4/5] results');
    rep.line('      Base models (validation perplexity on the held-out 5% of the corpus, against a unigram model of it):');
    for (const b of bases) {
      rep.line(`      ${b.name}: ${(b.params / 1e6).toFixed(2)}M parameters, validation perplexity ${b.perplexity === null ? '?' : b.perplexity.toFixed(1)}${b.unigramPerplexity ? ` (unigram ${b.unigramPerplexity.toFixed(1)})` : ''}${b.seconds ? `, pretrained in ${b.seconds.toFixed(0)} s` : ''}`);
    }
    rep.line('');
    rep.line('      Fine-tunes: validation loss on the held-out split of each dataset, before and after fine-tuning');
    for (const l of resultsTable(experiment.jobs)) rep.line(l);
    for (const x of experiment.rejected) rep.line(`  rejected: ${x.name}: ${x.reason}`);
    rep.line('');
    rep.line('      Leaderboard (benchmark scores, higher is better; each base model beside its fine-tunes):');
    for (const l of board.text.split('\n')) rep.line(`      ${l}`);
    // the best fine-tune for company facts (the one deployed below), else for support dialogue
    const bestForFacts = board.leaderboard.dimensions.includes('facts') ? bestFineTune(board.leaderboard, experiment.jobs, 'facts') : null;
    const bestBy = bestForFacts ? 'facts' : 'dialogue';
    const best = bestForFacts ?? bestFineTune(board.leaderboard, experiment.jobs, 'dialogue');
    const facts = bestForFacts ? factsMargin(board.leaderboard, bestForFacts.name) : null;
    if (facts) {
      rep.line('');
      const n = (req.fact_questions ?? []).reduce((a, s) => a + s.questions.length, 0);
      for (const l of factsMarginLines(facts, n)) rep.line(`      ${l}`);
      const bestJob = experiment.jobs.find((j) => (j.modelfab as { name?: string }).name === facts.best.name);
      const rec = bestJob ? await srv.factory.scheduler.get(bestJob.id) : null;
      const benchFile = rec ? join(rec.spec.outputDir, 'bench.json') : null;
      if (benchFile && existsSync(benchFile)) {
        const b = JSON.parse(readFileSync(benchFile, 'utf8')) as JobBench;
        for (const x of factExamples(b.model, b.base, 3)) {
          rep.line(`      > ${x.question}   (expected: ${x.expected})`);
          rep.line(`        base:      ${oneLine(x.base)}`);
          rep.line(`        fine-tune: ${oneLine(x.finetune)}`);
        }
      }
    }
    // 5. Deployment under a guard.
    const ts = performance.now();
    rep.line('');
    rep.line(`[5/5] deployment: the best fine-tune for ${bestBy === 'facts' ? 'company facts' : 'support dialogue'} behind the OpenAI-compatible API, under the demo guard policy`);
    const served = best ? await runServeDemo(srv, { ...best, dimension: bestBy }, join(dsDir, 'support_qa.val.jsonl'), rep) : null;
    if (!best) rep.line('      (no fine-tune has benchmark scores: nothing to deploy)');
    const result: FactoryDemoResult = {
      dataDir, bases, basesS, experiment, leaderboard: board.text, facts, wallS, jobsS, cpuUtil: cpuS / (Math.max(jobsS, 1e-9) * availableParallelism()), cpuS, schedulerOverheadMsPerJob: srv.factory.scheduler.stats().overheadMsPerJob,
      served, serveS: (performance.now() - ts) / 1000,
    };
    // without dataDir: the summary lives in that folder, which may be moved
    writeFileSync(join(dataDir, 'demo-summary.json'), JSON.stringify({ ...result, dataDir: undefined }, null, 2));
    return result;
  } finally {
    await srv.close();
  }
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 100 ? `${t.slice(0, 100)}…` : t || '(nothing)';
}

/** The results table of an experiment's jobs. */
export function resultsTable(jobs: FineTuningJobObject[]): string[] {
  const rows = jobs.map((j) => {
    const m = j.modelfab as { name: string; eval_loss: number | null; eval_loss_before: number | null; trainable_params: number | null };
    return { name: m.name, status: j.status, before: m.eval_loss_before, after: m.eval_loss, trainable: m.trainable_params, model: j.fine_tuned_model };
  });
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  const out = [`  ${'job'.padEnd(w)}  status     eval before  eval after  change   trainable`];
  for (const r of rows) {
    const ch = r.before !== null && r.after !== null ? `${(((r.after - r.before) / r.before) * 100).toFixed(0)}%` : '';
    out.push(`  ${r.name.padEnd(w)}  ${r.status.padEnd(9)}  ${(r.before?.toFixed(3) ?? '-').padStart(11)}  ${(r.after?.toFixed(3) ?? '-').padStart(10)}  ${ch.padStart(6)}  ${(r.trainable?.toLocaleString('en-US') ?? '-').padStart(10)}`);
  }
  return out;
}
