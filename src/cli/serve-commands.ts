/**
 * `modelfab serve` (local): the HTTP API server over a data folder (SQLite database and artifacts). Prints the
 * console's and the API's addresses once it listens, and the admin key on first start.
 */
import { ensureBaseModels } from '../demo/base-models.ts';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { requireFile } from './user-files.ts';
import { redactDatabaseUrl } from '../store/database-url.ts';
import { createServer } from '../api/server.ts';
import { withData } from './local.ts';
import { LlamaEmbedder, OpenAIEmbedder, type Embedder } from '../knowledge/embed.ts';
import { JudgeFromGenerator, OpenAIChatGenerator } from '../knowledge/answer-generator.ts';
import type { KnowledgeServiceOptions } from '../knowledge/knowledge-service.ts';
import { SlurmRunner } from '../factory/slurm-runner.ts';
import { RayRunner } from '../factory/ray-runner.ts';
import { KubernetesRunner } from '../factory/kubernetes-runner.ts';
import { buildRunners, parseRunnersFile } from '../factory/runners-file.ts';
import type { Runner } from '../factory/job-spec.ts';
import { positive } from './option-values.ts';

/** The runners a runners file names (src/factory/runners-file.ts); errors name the file and the field. */
export function runnersFromFile(file: string, dataDir: string): Runner[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new Error(`--runners ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`); }
  return buildRunners(parseRunnersFile(text, file), dataDir);
}

interface RunnerOpts {
  runners?: string; runner: string; rayAddress?: string; slurmPartition?: string; slurmAccount?: string; slurmQos?: string; slurmTime?: string; slurmCheckpointBefore?: string; slurmSbatch?: string[];
  kubeconfig?: string; k8sNamespace?: string; k8sImage?: string; k8sPvc?: string; k8sDataPath?: string;
}

/** The runner the serve options name: local processes (undefined: the factory's default), a Slurm, Ray or Kubernetes cluster. */
export function runnerFromOptions(o: RunnerOpts, dataDir: string): Runner | undefined {
  if (o.runner === 'local') return undefined;
  if (o.runner === 'ray') return new RayRunner({ cwd: dataDir, address: o.rayAddress });
  if (o.runner === 'kubernetes') {
    for (const [v, flag] of [[o.kubeconfig, '--kubeconfig'], [o.k8sImage, '--k8s-image'], [o.k8sPvc, '--k8s-pvc']] as const) if (!v) throw new Error(`--runner kubernetes needs ${flag}`);
    requireFile(o.kubeconfig!);
    return new KubernetesRunner({ cwd: dataDir, kubeconfig: o.kubeconfig!, namespace: o.k8sNamespace, image: o.k8sImage!, claim: o.k8sPvc!, dataPath: o.k8sDataPath });
  }
  if (o.runner !== 'slurm') throw new Error(`--runner must be local, slurm, ray or kubernetes, got ${JSON.stringify(o.runner)}`);
  return new SlurmRunner({
    cwd: dataDir, partition: o.slurmPartition, account: o.slurmAccount, qos: o.slurmQos, extraSbatch: o.slurmSbatch,
    timeLimitMinutes: positive(o.slurmTime, 'slurm-time'), checkpointBeforeS: positive(o.slurmCheckpointBefore, 'slurm-checkpoint-before'),
  });
}

interface ModelOpts { embedUrl?: string; embedModel?: string; embedGguf?: string; chatUrl?: string; chatModel?: string; judge?: boolean }

/** The knowledge bases' models from the serve options (keys for endpoints only from the environment, never a flag). */
export async function knowledgeModels(o: ModelOpts): Promise<KnowledgeServiceOptions> {
  if ((o.embedUrl === undefined) !== (o.embedModel === undefined)) throw new Error('--embed-url and --embed-model go together');
  if ((o.chatUrl === undefined) !== (o.chatModel === undefined)) throw new Error('--chat-url and --chat-model go together');
  let embedder: Embedder | null = null;
  if (o.embedGguf) {
    requireFile(o.embedGguf);
    embedder = await LlamaEmbedder.load(o.embedGguf, { threads: 2 });
  } else if (o.embedUrl && o.embedModel) embedder = new OpenAIEmbedder({ baseUrl: o.embedUrl, model: o.embedModel, apiKey: process.env.MODELFAB_EMBED_API_KEY });
  const generator = o.chatUrl && o.chatModel ? new OpenAIChatGenerator({ baseUrl: o.chatUrl, model: o.chatModel, apiKey: process.env.MODELFAB_CHAT_API_KEY }) : null;
  return { embedder, generator, judge: o.judge && generator ? new JudgeFromGenerator(generator) : null };
}

/** The addresses a user opens: the console at `/`, the API under `/v1`. A wildcard host is shown as loopback. */
export function serveAddresses(host: string, port: number): { console: string; api: string } {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const base = `http://${shown}:${port}`;
  return { console: `${base}/`, api: `${base}/v1` };
}

export function registerServe(program: Command): void {
  withData(program
    .command('serve')
    .description('local: start the API server over a data folder (OpenAI-compatible files, fine-tuning jobs, chat; experiments, datasets, the web console); every API route needs an API key'), 'SQLite database and artifacts')
    .option('--database <url>', 'the database: a postgres:// URL (several servers may share one, with one data folder on a shared path); default SQLite in the data folder ($MODELFAB_DATABASE_URL)', process.env.MODELFAB_DATABASE_URL)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '8080')
    .option('--no-base-models', "do not pretrain the project's base models on a fresh data folder")
    .option('--max-file-mb <n>', 'largest upload, in MiB', '512')
    .option('--no-request-log', 'do not keep answers in the request log (feedback must then carry prompt and answer)')
    .option('--request-log-days <n>', 'days an answer stays in the request log (0: forever)', '90')
    .option('--embed-url <url>', 'knowledge bases: an OpenAI-compatible embeddings endpoint (base URL) for dense search ($MODELFAB_EMBED_URL)', process.env.MODELFAB_EMBED_URL)
    .option('--embed-model <name>', 'the embedding model at that endpoint ($MODELFAB_EMBED_MODEL)', process.env.MODELFAB_EMBED_MODEL)
    .option('--embed-gguf <file>', 'knowledge bases: a GGUF embedding model run through llama.cpp ($MODELFAB_EMBED_GGUF)', process.env.MODELFAB_EMBED_GGUF)
    .option('--chat-url <url>', 'knowledge bases: an OpenAI-compatible chat endpoint that writes chat-search answers ($MODELFAB_CHAT_URL)', process.env.MODELFAB_CHAT_URL)
    .option('--chat-model <name>', 'the chat model at that endpoint ($MODELFAB_CHAT_MODEL)', process.env.MODELFAB_CHAT_MODEL)
    .option('--judge', 'use that chat model as the attribution judge too')
    .option('--runner <name>', 'where training jobs run: local (processes on this machine), slurm (batch jobs), ray (Ray jobs) or kubernetes (Jobs and TrainJobs through kubectl); for a cluster the data folder must be on a path every node sees ($MODELFAB_RUNNER)', process.env.MODELFAB_RUNNER ?? 'local')
    .option('--kubeconfig <file>', 'with --runner kubernetes: the kubeconfig kubectl uses ($MODELFAB_KUBECONFIG)', process.env.MODELFAB_KUBECONFIG)
    .option('--k8s-namespace <ns>', 'with --runner kubernetes: the namespace of the jobs (default default)')
    .option('--k8s-image <image>', 'with --runner kubernetes: the container image with modelfab and the torch trainer ($MODELFAB_K8S_IMAGE)', process.env.MODELFAB_K8S_IMAGE)
    .option('--k8s-pvc <name>', 'with --runner kubernetes: the PersistentVolumeClaim that holds this data folder ($MODELFAB_K8S_PVC)', process.env.MODELFAB_K8S_PVC)
    .option('--k8s-data-path <path>', 'with --runner kubernetes: where the pods mount it (default /data)')
    .option('--ray-address <url>', 'the Ray head\'s dashboard, which serves the Jobs API (default http://127.0.0.1:8265) ($MODELFAB_RAY_ADDRESS)', process.env.MODELFAB_RAY_ADDRESS)
    .option('--slurm-partition <name>', 'Slurm partition of the jobs ($MODELFAB_SLURM_PARTITION)', process.env.MODELFAB_SLURM_PARTITION)
    .option('--slurm-account <name>', 'Slurm account ($MODELFAB_SLURM_ACCOUNT)', process.env.MODELFAB_SLURM_ACCOUNT)
    .option('--slurm-qos <name>', 'Slurm QoS ($MODELFAB_SLURM_QOS)', process.env.MODELFAB_SLURM_QOS)
    .option('--slurm-time <minutes>', 'time limit of each run; the trainer checkpoints before it and the job continues in a new run ($MODELFAB_SLURM_TIME)', process.env.MODELFAB_SLURM_TIME)
    .option('--slurm-checkpoint-before <seconds>', 'with --slurm-time: how long before the limit the trainer is told to checkpoint (default 120)')
    .option('--runners <file>', 'several runners at once: a JSON file {"runners": [{"name", "kind": local|slurm|ray, capacity and settings}]}; jobs go where they fit, or to the runner they name (instead of --runner) ($MODELFAB_RUNNERS)', process.env.MODELFAB_RUNNERS)
    .option('--slurm-sbatch <line>', 'an extra #SBATCH line, e.g. --constraint=a100 (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--models-dir <dir>', 'a folder models may be registered from by path, besides <data>/models (repeatable; default $MODELFAB_MODEL_DIRS, :-separated)', (v: string, acc: string[] = []) => [...acc, v])
    .addHelpText('after', '\nThe admin key is read from MODELFAB_ADMIN_KEY; without it, one is generated on first start, stored hashed and printed once.\n' +
      'Keys of the knowledge endpoints come from MODELFAB_EMBED_API_KEY and MODELFAB_CHAT_API_KEY. Without an embedding model, search is lexical; without a chat model, answers are extractive.')
    .action(async (o: ModelOpts & RunnerOpts & { host: string; port: string; data: string; maxFileMb: string; baseModels?: boolean; requestLog?: boolean; requestLogDays: string; modelsDir?: string[]; database?: string }) => {
      const days = Number(o.requestLogDays);
      if (!Number.isFinite(days) || days < 0) throw new Error(`invalid --request-log-days ${o.requestLogDays}`);
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${o.port}`);
      const mb = Number(o.maxFileMb);
      if (!(mb > 0)) throw new Error(`invalid --max-file-mb ${o.maxFileMb}`);
      const knowledge = await knowledgeModels(o);
      const runners = o.runners ? runnersFromFile(o.runners, resolve(o.data)) : null;
      const runner = runners ? undefined : runnerFromOptions(o, resolve(o.data));
      const srv = await createServer({ dataDir: resolve(o.data), database: o.database, logger: true, ...(runners ? { factory: { runners } } : runner ? { factory: { runner } } : {}), requestLog: o.requestLog !== false, requestLogDays: days, limits: { maxFileBytes: Math.round(mb * 1024 * 1024) }, knowledge, modelDirs: o.modelsDir?.map((d) => resolve(d)) });
      if (srv.generatedAdminKey) {
        process.stdout.write(`\nAdmin API key (shown once, stored only as a hash; keep it safe):\n\n    ${srv.generatedAdminKey}\n\n`);
      }
      if (o.baseModels !== false) {
        // A fresh data folder gets the project's own base models: the factory pretrains them as ordinary jobs.
        const jobs = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: resolve(o.data) });
        const making = jobs.filter((j) => j.status !== 'succeeded');
        if (making.length) process.stdout.write(`Making the base models (${making.map((j) => j.spec.name).join(', ')}): modelfab jobs list\n`);
      }
      const stop = async () => { await srv.close(); process.exit(0); };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
      await srv.app.listen({ host: o.host, port });
      const addr = srv.app.server.address();
      const at = serveAddresses(o.host, typeof addr === 'object' && addr ? addr.port : port);
      process.stdout.write(`\nmodelfab is serving ${resolve(o.data)}${o.database ? ` on ${redactDatabaseUrl(o.database)}` : ''}\n  console  ${at.console}\n  API      ${at.api}   (OpenAI clients: base URL ${at.api}; the CLI: MODELFAB_URL=${at.api.slice(0, -3)})\n\n`);
    });
}
