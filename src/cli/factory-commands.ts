/**
 * Factory commands over a running server: `modelfab experiment plan|run|watch|show|leaderboard|list`, `modelfab jobs
 * list|show|logs|cancel|pause|resume`, `modelfab models list|add`. Every listing takes --json.
 * `experiment run FILE` submits a YAML or JSON experiment and follows it (a bar per running job, the queue, an
 * overall ETA); Ctrl-C detaches and the experiment goes on in the server; `experiment watch ID` re-attaches.
 */
import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadExperimentFile } from '../factory/experiment-file.ts';
import { ApiClient, ApiClientError, clientOptions, withClient } from './client.ts';
import { fmtEta, terminalReporter } from './progress.ts';
import type { ExperimentObject, ExperimentRequest, FineTuningJobObject } from '../factory/factory-service.ts';
import type { MetricsRecord } from '../engine/metrics-log.ts';
import { resultsTable } from '../demo/factory-demo.ts';
import { modelsTable, type JobEntry, type ModelEntry } from './tables.ts';
import { requireFile } from './user-files.ts';

/**
 * An experiment file (YAML or JSON), validated before anything is sent: every problem at once with its line and
 * field (src/factory/experiment-file.ts); the error lists them and the command exits non-zero.
 */
function readExperiment(file: string): ExperimentRequest {
  const rel = relative(process.cwd(), file);
  return loadExperimentFile(file, rel && !rel.startsWith('..') ? rel : file);
}

const print = (json: boolean, obj: unknown, text: () => void) => (json ? console.log(JSON.stringify(obj, null, 2)) : text());

function jobLine(j: FineTuningJobObject): string {
  const m = j.modelfab as { name: string; step: number | null; eval_loss: number | null; depends_on?: string[] };
  const after = j.status === 'queued' && m.depends_on?.length ? `after ${m.depends_on.join(', ')}` : '';
  return `${j.id}  ${j.status.padEnd(10)} ${(m.name ?? j.model).padEnd(40)} step ${String(m.step ?? '-').padStart(5)}  ${j.fine_tuned_model ?? after}`;
}

async function follow(client: ApiClient, exp: ExperimentObject): Promise<ExperimentObject> {
  const rep = terminalReporter();
  const names = new Map(exp.jobs.map((j) => [j.id, String(j.modelfab.name)]));
  const totals = new Map(exp.jobs.map((j) => [j.id, Math.max(1, Number(j.modelfab.total_steps ?? 1))]));
  const bars = new Map<string, ReturnType<typeof rep.run>>();
  const done = new Set(exp.jobs.filter((j) => ['succeeded', 'failed', 'cancelled'].includes(j.status)).map((j) => j.id));
  const abort = new AbortController();
  let detached = false;
  process.once('SIGINT', () => { detached = true; abort.abort(); });
  const started = Date.now();
  let last = exp;
  try {
    for await (const ev of client.events(`/v1/experiments/${exp.id}/events`, abort.signal)) {
      if (ev.event === 'metrics') {
        const m = ev.data as MetricsRecord & { job: string };
        let bar = bars.get(m.job);
        if (!bar) { bar = rep.run(names.get(m.job) ?? m.job, totals.get(m.job) ?? 1); bars.set(m.job, bar); }
        bar.update(m);
      } else if (ev.event === 'status') {
        const j = ev.data as FineTuningJobObject;
        if (['succeeded', 'failed', 'cancelled'].includes(j.status) && !done.has(j.id)) {
          done.add(j.id);
          bars.get(j.id)?.done();
          if (j.status !== 'succeeded') rep.line(`      ${names.get(j.id)}: ${j.status}${j.error ? ` (${j.error.message})` : ''}`);
        }
        const elapsed = (Date.now() - started) / 1000, n = exp.jobs.length;
        const eta = done.size > 0 ? (elapsed / done.size) * (n - done.size) : NaN;
        rep.status?.(`${done.size}/${n} jobs done, ETA ${fmtEta(eta)}`);
      } else if (ev.event === 'experiment') {
        last = ev.data as ExperimentObject;
      }
    }
  } catch (e) {
    if (!detached) throw e;
  }
  if (detached) {
    console.log(`\ndetached: experiment ${exp.id} goes on in the server. Follow it again with \`modelfab experiment watch ${exp.id}\`.`);
    process.exit(0);
  }
  return last;
}

/** Follows an experiment to its end (or Ctrl-C), then prints its results table (or the final experiment as JSON). */
async function followToEnd(client: ApiClient, exp: ExperimentObject, json: boolean | undefined): Promise<void> {
  await follow(client, exp);
  const final = await client.get<ExperimentObject>(`/v1/experiments/${encodeURIComponent(exp.id)}`);
  print(!!json, final, () => { console.log(`\nexperiment ${final.id}: ${final.status}`); for (const l of resultsTable(final.jobs)) console.log(l); });
}

/** Every job the server has (the list is paged, 100 at a time). */
async function allJobs(client: ApiClient): Promise<JobEntry[]> {
  const out: JobEntry[] = [];
  for (let after: string | undefined; ;) {
    const r = await client.get<{ data: JobEntry[]; has_more: boolean }>(`/v1/fine_tuning/jobs?limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    out.push(...r.data);
    if (!r.has_more || !r.data.length) return out;
    after = r.data[r.data.length - 1]!.id;
  }
}

export function registerFactory(program: Command): void {
  const exp = program.command('experiment').description('grids of fine-tunes: base models x datasets x methods x hyperparameters');
  withClient(exp.command('plan <file>').description('show the jobs an experiment file expands to, with estimates and rejected combinations').option('--json', 'print JSON'))
    .action(async (file: string, o) => {
      const body = readExperiment(resolve(requireFile(file)));
      const plan = await new ApiClient(clientOptions(o)).post<{ jobs: { name: string; estimate: { seconds: number; resources: { memoryMB: number }; steps: number } }[]; rejected: { name: string; reason: string }[]; duplicates: number }>('/v1/experiments/plan', body);
      print(o.json, plan, () => {
        console.log(`${plan.jobs.length} jobs (${plan.duplicates} duplicates skipped), estimated ${fmtEta(plan.jobs.reduce((s, j) => s + j.estimate.seconds, 0))} of compute`);
        for (const j of plan.jobs) console.log(`  ${j.name.padEnd(44)} ${String(j.estimate.steps).padStart(5)} steps  ~${fmtEta(j.estimate.seconds).padStart(6)}  ${j.estimate.resources.memoryMB} MB`);
        for (const r of plan.rejected) console.log(`  rejected: ${r.name}: ${r.reason}`);
      });
    });
  withClient(exp.command('run <file>').description('submit an experiment (YAML or JSON) and follow it; Ctrl-C detaches').option('--json', 'print the final experiment as JSON'))
    .action(async (file: string, o) => {
      const body = readExperiment(resolve(requireFile(file)));
      const client = new ApiClient(clientOptions(o));
      const created = await client.post<ExperimentObject>('/v1/experiments', body);
      console.log(`experiment ${created.id}: ${created.jobs.length} jobs${created.rejected.length ? `, ${created.rejected.length} rejected` : ''}`);
      for (const r of created.rejected) console.log(`  rejected: ${r.name}: ${r.reason}`);
      await followToEnd(client, created, o.json);
    });
  withClient(exp.command('watch <id>').description('re-attach to an experiment: the same progress view as `experiment run`, then its results; Ctrl-C detaches').option('--json', 'print the final experiment as JSON'))
    .action(async (id: string, o) => {
      const client = new ApiClient(clientOptions(o));
      const e = await client.get<ExperimentObject>(`/v1/experiments/${encodeURIComponent(id)}`);
      const finished = e.jobs.filter((j) => ['succeeded', 'failed', 'cancelled'].includes(j.status)).length;
      if (!o.json) console.log(`experiment ${e.id} (${e.name}): ${e.status}, ${finished}/${e.jobs.length} jobs done`);
      await followToEnd(client, e, o.json);
    });
  withClient(exp.command('leaderboard <id>').description("an experiment's leaderboard: every fine-tune and its base, overall and per dimension, with the gain over the base").option('--json', 'print JSON'))
    .action(async (id: string, o) => {
      const r = await new ApiClient(clientOptions(o)).get<{ text: string; pending: number; leaderboard: unknown }>(`/v1/experiments/${encodeURIComponent(id)}/leaderboard`);
      print(o.json, r, () => {
        console.log(r.text);
        if (r.pending) console.log(`\n(${r.pending} job${r.pending === 1 ? '' : 's'} still to finish: \`modelfab experiment watch ${id}\`)`);
      });
    });
  withClient(exp.command('show <id>').description('an experiment with its jobs and results').option('--json', 'print JSON'))
    .action(async (id: string, o) => {
      const e = await new ApiClient(clientOptions(o)).get<ExperimentObject>(`/v1/experiments/${encodeURIComponent(id)}`);
      print(o.json, e, () => { console.log(`experiment ${e.id} (${e.name}): ${e.status} ${JSON.stringify(e.counts)}`); for (const l of resultsTable(e.jobs)) console.log(l); });
    });
  withClient(exp.command('list').description('experiments, newest first').option('--json', 'print JSON'))
    .action(async (o) => {
      const r = await new ApiClient(clientOptions(o)).get<{ data: ExperimentObject[] }>('/v1/experiments');
      print(o.json, r.data, () => r.data.forEach((e) => console.log(`${e.id}  ${e.status.padEnd(24)} ${e.jobs.length} jobs  ${e.name}`)));
    });

  const jobs = program.command('jobs').description('fine-tuning jobs');
  withClient(jobs.command('list').description('jobs, newest first').option('--limit <n>', 'how many', '20').option('--json', 'print JSON'))
    .action(async (o) => {
      const r = await new ApiClient(clientOptions(o)).get<{ data: FineTuningJobObject[] }>(`/v1/fine_tuning/jobs?limit=${Number(o.limit)}`);
      print(o.json, r.data, () => r.data.forEach((j) => console.log(jobLine(j))));
    });
  withClient(jobs.command('show <id>').description('one job').option('--json', 'print JSON'))
    .action(async (id: string, o) => {
      const j = await new ApiClient(clientOptions(o)).get<FineTuningJobObject>(`/v1/fine_tuning/jobs/${id}`);
      print(o.json, j, () => {
        console.log(jobLine(j));
        const w = j.modelfab as { runner?: string | null; runner_ref?: string | null; runner_node?: string | null; nodes?: number; estimate?: { runner?: string } };
        if (w.runner || w.estimate?.runner) console.log(`runner: ${w.runner ?? '-'}  node: ${w.runner_node ?? '-'}  cluster id: ${w.runner_ref ?? '-'}${w.estimate?.runner ? `  (bound to ${w.estimate.runner})` : ''}`);
        if ((w.nodes ?? 1) > 1) console.log(`machines: ${w.nodes}`);
        console.log(JSON.stringify({ hyperparameters: j.hyperparameters, modelfab: j.modelfab }, null, 2));
      });
    });
  withClient(jobs.command('manifest <id>').description('the job as Kubernetes manifests (a batch/v1 Job; a Kubeflow TrainJob for a torch job of several processes or nodes), as YAML')
    .requiredOption('--image <image>', 'the container image with modelfab and the torch trainer')
    .requiredOption('--claim <pvc>', 'the PersistentVolumeClaim holding the data folder')
    .option('--data-path <path>', 'where the pods mount the data folder', '/data')
    .option('--namespace <ns>', 'the namespace of the manifests')
    .option('--runtime <name>', 'the Kubeflow ClusterTrainingRuntime of distributed torch jobs (default torch-distributed)')
    .option('--gpu-resource <name>', 'the GPU resource name (default nvidia.com/gpu)')
    .option('--json', 'print JSON'))
    .action(async (id: string, o) => {
      const q = new URLSearchParams({ image: o.image, claim: o.claim, data_path: o.dataPath, ...(o.namespace ? { namespace: o.namespace } : {}), ...(o.runtime ? { runtime: o.runtime } : {}), ...(o.gpuResource ? { gpu_resource: o.gpuResource } : {}) });
      const r = await new ApiClient(clientOptions(o)).get<{ data: unknown[]; yaml: string }>(`/v1/fine_tuning/jobs/${encodeURIComponent(id)}/manifests?${q}`);
      print(o.json, r.data, () => process.stdout.write(r.yaml));
    });
  withClient(jobs.command('logs <id>').description("a job's events and metric lines, oldest first").option('--json', 'print JSON'))
    .action(async (id: string, o) => {
      const r = await new ApiClient(clientOptions(o)).get<{ data: { created_at: number; level: string; message: string }[] }>(`/v1/fine_tuning/jobs/${id}/events?limit=1000`);
      const data = [...r.data].reverse();
      print(o.json, data, () => data.forEach((e) => console.log(`${new Date(e.created_at * 1000).toISOString()} ${e.level.padEnd(5)} ${e.message}`)));
    });
  for (const action of ['cancel', 'pause', 'resume'] as const) {
    withClient(jobs.command(`${action} <id>`).description(`${action} a job${action === 'pause' ? ' (it checkpoints first)' : action === 'resume' ? ' (from its last checkpoint)' : ''}`).option('--json', 'print JSON'))
      .action(async (id: string, o) => {
        const j = await new ApiClient(clientOptions(o)).post<FineTuningJobObject>(`/v1/fine_tuning/jobs/${id}/${action}`);
        print(o.json, j, () => console.log(jobLine(j)));
      });
  }

  const models = program.command('models').description('base models and fine-tuned models');
  withClient(models.command('list').description('every model the server serves, with the base, dataset and method of each fine-tune').option('--json', 'print JSON'))
    .action(async (o) => {
      const client = new ApiClient(clientOptions(o));
      const r = await client.get<{ data: ModelEntry[] }>('/v1/models');
      const fineTunes = r.data.some((m) => m.id.startsWith('ft:'));
      // a key that may list models but not jobs still gets the list, without the jobs' columns
      const jobs = fineTunes ? await allJobs(client).catch((e: unknown) => { if (e instanceof ApiClientError && e.status === 403) return []; throw e; }) : [];
      const byModel = new Map(jobs.filter((j) => j.fine_tuned_model).map((j) => [j.fine_tuned_model!, j]));
      const rows = r.data.map((m) => {
        const j = byModel.get(m.id);
        return { ...m, ...(j ? { base: j.model, dataset: j.modelfab.dataset ?? null, method: j.hyperparameters.method_options ?? null, job: j.id, job_name: j.modelfab.name ?? null } : {}) };
      });
      print(o.json, rows, () => modelsTable(r.data, jobs).forEach((l) => console.log(l)));
    });
  withClient(models.command('add <path>').description('register a model: a GGUF file, a Hugging Face folder or a modelfab model folder').option('--name <name>', 'the name to register it under (default: from the file)').option('--json', 'print JSON'))
    .action(async (path: string, o) => {
      const m = await new ApiClient(clientOptions(o)).post<Record<string, unknown>>('/v1/models', { path: resolve(path), ...(o.name ? { name: o.name } : {}) });
      print(o.json, m, () => console.log(`registered ${String(m.id)} (${String(m.kind ?? '')}) from ${resolve(path)}`));
    });
}
