/**
 * The HTTP API server (Fastify 5, pino logs): every route authorized by one table (authz.ts), one plugin per REST resource, errors in OpenAI's
 * shape. `createServer` builds it over a data folder (SQLite database + artifacts) for the CLI and for tests.
 *
 *   modelfab-data/modelfab.db     the Store (SQLite, WAL)
 *   modelfab-data/files/<id>      uploads as received
 *   modelfab-data/datasets/<hash> normalised records of dataset versions
 *   modelfab-data/tmp/            uploads in flight
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import multipart from '@fastify/multipart';
import type { Limits } from '../data/dataset-limits.ts';
import { DataService } from '../data/data-service.ts';
import { LocalArtifactStore } from '../store/artifacts.ts';
import { openDatabase } from '../store/open-database.ts';
import { stageTables } from '../store/kysely-store.ts';
import { startFactory, type FactoryRuntime, type FactoryRuntimeOptions } from '../factory/factory-runtime.ts';
import { fineTuningRoutes } from './routes/fine-tuning-routes.ts';
import { experimentsRoutes } from './routes/experiments-routes.ts';
import { modelsRegistryRoutes } from './routes/models-registry-routes.ts';
import { knowledgeRoutes } from './routes/knowledge-routes.ts';
import { evalsRoutes } from './routes/evals-routes.ts';
import type { Store } from '../store/store.ts';
import { ensureAdminKey } from './auth.ts';
import { installAuthz } from './authz.ts';
import { ModelFolders, dataModelsDir, modelDirsFromEnv } from './model-paths.ts';
import { installErrorHandlers } from './errors.ts';
import { datasetsRoutes } from './routes/datasets-routes.ts';
import { filesRoutes } from './routes/files-routes.ts';
import { Gateway, type GatewayOptions } from '../serve/gateway.ts';
import { KeyPolicy } from '../serve/api-keys.ts';
import { EmbeddingBackend } from '../serve/embedding-backend.ts';
import type { FolderModelLoader } from '../serve/model-backend.ts';
import { isRetrieverDir, loadRetriever, retrieverFileBytes } from '../knowledge/retriever.ts';
import { gatewayRoutes, installPublicGatewayRoutes } from './routes/gateway-routes.ts';
import { deploymentRoutes } from './routes/deployments-routes.ts';
import { botsRoutes, installPublicBotRoutes } from './routes/bots-routes.ts';
import { BotService } from '../bots/bot-service.ts';
import { factoryRetrieverJobs } from './bot-retrievers.ts';
import { importBotsFolder, TableBotRepository, type BotTables } from '../bots/bot-tables.ts';
import { installConsoleRoutes } from './routes/console-routes.ts';
import { copilotRoutes, installPublicCopilotRoutes } from './routes/copilot-routes.ts';
import { FeedbackService, type FeedbackTables } from '../control/feedback.ts';
import { RequestLog, type RequestLogTables } from '../control/request-log.ts';
import { GuardPolicyStore, type GuardPolicyTables } from '../control/guard-policies.ts';
import { feedbackRoutes } from './routes/feedback-routes.ts';
import { gatewayGuardDeps, guardRoutes } from './routes/guard-routes.ts';
import { GuardRuntime } from '../control/guard-runtime.ts';
import { KnowledgeService, type KnowledgeServiceOptions } from '../knowledge/knowledge-service.ts';
import { importKnowledgeFolder, TableKnowledgeRepository, type KnowledgeTables } from '../knowledge/knowledge-tables.ts';
import type { FactoryTables } from '../factory/kysely-jobs.ts';
import type { ExperimentRequest } from '../factory/factory-service.ts';
import { imagesRoutes } from './routes/images-routes.ts';
import { writerRoutes } from './routes/writer-routes.ts';
import { WriterService } from '../writer/writer-service.ts';
import { WriterRepository, type WriterTables } from '../writer/writer-repository.ts';
import { coachRoutes } from './routes/coach-routes.ts';
import { CoachService } from '../coach/coach-service.ts';
import { CoachRepository, type CoachTables } from '../coach/coach-repository.ts';

/** The factory's trained retrievers (knowledge/retriever.ts), served as embedding models at /v1/embeddings. */
const retrieverLoader: FolderModelLoader = {
  name: 'retriever', serves: isRetrieverDir, estimate: retrieverFileBytes,
  load: async (dir) => new EmbeddingBackend(await loadRetriever(dir), 'trained retriever: idf-weighted mean of hashed word and bigram embeddings, projected, unit length'),
};

export interface ServerOptions {
  dataDir: string;
  /**
   * The database: a postgres:// URL (`?schema=` optional), or absent for SQLite at `<data>/modelfab.db`. Several
   * servers may share one PostgreSQL database and one data folder.
   */
  database?: string | null;
  /** Admin key to register (default: MODELFAB_ADMIN_KEY); without one, a key is generated on first start. */
  adminKey?: string;
  /** pino options, true for defaults, false for none (default false). */
  logger?: FastifyServerOptions['logger'];
  limits?: Partial<Limits>;
  /** The factory's runner, threads per job and shutdown policy (default: local processes, 1 thread each). */
  factory?: Partial<Omit<FactoryRuntimeOptions, 'dataDir' | 'store' | 'db' | 'data'>>;
  /** Serving gateway options (memory budget, cache TTL); `warm: false` skips warming deployments at start. */
  serve?: Partial<Omit<GatewayOptions, 'store' | 'dataDir'>> & { warm?: boolean };
  /** Keep every answer in the request log (default true): feedback by response id and GET /v1/requests need it. */
  requestLog?: boolean;
  /** Days an answer stays in the request log (default 90; 0 keeps everything). Pruned at start and hourly. */
  requestLogDays?: number;
  /**
   * Folders models may be registered from by path (POST /v1/models, and with the data folder itself, deployments
   * and serving models by path); default MODELFAB_MODEL_DIRS. The data folder's `models/` is always one.
   */
  modelDirs?: string[];
  /** The knowledge bases' (and bots') models: an embedder for dense search, a generator for chat search answers. */
  knowledge?: KnowledgeServiceOptions;
}

export interface ModelfabServer {
  app: FastifyInstance;
  /** The folders models may be registered from by path. */
  modelDirs: readonly string[];
  store: Store;
  service: DataService;
  factory: FactoryRuntime;
  /** The admin key generated on this start (print it once), or null. */
  generatedAdminKey: string | null;
  gateway: Gateway;
  /** Human feedback on answers. */
  feedback: FeedbackService;
  /** Every answer served, with the guard's verdicts. */
  requestLog: RequestLog;
  /** Named guard policies. */
  guardPolicies: GuardPolicyStore;
  /** The knowledge bases (the bots build on them). */
  knowledge: KnowledgeService;
  /** The Bot Factory. */
  bots: BotService;
  close(): Promise<void>;
}

export async function createServer(opts: ServerOptions): Promise<ModelfabServer> {
  mkdirSync(opts.dataDir, { recursive: true });
  const { store, db, coordination } = await openDatabase(opts.dataDir, opts.database);
  const artifacts = new LocalArtifactStore(opts.dataDir);
  // uploads left in flight by a crash
  for (const f of readdirSync(join(opts.dataDir, 'tmp'))) rmSync(join(opts.dataDir, 'tmp', f), { force: true, recursive: true });
  const service = new DataService(store, artifacts, opts.limits);
  mkdirSync(dataModelsDir(opts.dataDir), { recursive: true });
  const modelDirs = [dataModelsDir(opts.dataDir), ...(opts.modelDirs ?? modelDirsFromEnv())];
  let generatedAdminKey: string | null;
  try {
    generatedAdminKey = await ensureAdminKey(store, opts.adminKey ?? process.env.MODELFAB_ADMIN_KEY);
  } catch (e) {
    await store.close();
    await coordination.close();
    throw e;
  }
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 8 * 1024 * 1024 });
  installErrorHandlers(app);
  await app.register(multipart, {
    limits: { fileSize: service.limits.maxFileBytes, files: 1, fields: 10, fieldSize: 64 * 1024, parts: 20 },
  });
  const gateway = new Gateway({ ...opts.serve, store, dataDir: opts.dataDir, log: (msg, fields) => app.log.info(fields ?? {}, msg), loaders: [retrieverLoader, ...(opts.serve?.loaders ?? [])] });
  const keyPolicy = new KeyPolicy(store);
  installPublicGatewayRoutes(app, gateway, () => ({ models_loaded: gateway.status().loaded.length }));
  // knowledge bases and bots live in the database; an older folder's JSON files are imported once (kept as a backup)
  const knowledgeRepo = new TableKnowledgeRepository(stageTables<KnowledgeTables>(db), artifacts);
  const botRepo = new TableBotRepository(stageTables<BotTables>(db));
  const imported = { knowledge: await importKnowledgeFolder(opts.dataDir, knowledgeRepo), bots: await importBotsFolder(opts.dataDir, botRepo) };
  if (imported.knowledge.length || imported.bots.length) app.log.info(imported, 'imported knowledge bases and bots from the JSON files of an older data folder');
  // a bot's or a knowledge base's retriever trains as a factory job and is used through the gateway (the factory is
  // started below)
  const retrievers = factoryRetrieverJobs(() => factory.factory, gateway);
  const knowledge = new KnowledgeService(knowledgeRepo, { retrievers, ...opts.knowledge });
  const bots = new BotService(botRepo, knowledge, { retrievers });
  installPublicBotRoutes(app, bots);
  installConsoleRoutes(app);
  installPublicCopilotRoutes(app);
  installAuthz(app, store, keyPolicy);
  filesRoutes(app, service);
  datasetsRoutes(app, service);
  const requestLog = new RequestLog(stageTables<RequestLogTables>(db));
  const guardPolicies = new GuardPolicyStore(stageTables<GuardPolicyTables>(db));
  const feedback = new FeedbackService(stageTables<FeedbackTables>(db), requestLog);
  const guardDeps = gatewayGuardDeps(gateway);
  const guard = new GuardRuntime(guardPolicies, requestLog, guardDeps);
  const botHook = botsRoutes(app, bots, {
    store, keyPolicy, guard, guardPolicies, requestLog, feedback, importDataset: (r) => service.importDataset(r),
    // a bot names each method by its type alone and the factory fills the defaults; its request type asks for whole specs
    createExperiment: (r) => factory.factory.createExperiment(r as unknown as ExperimentRequest),
  });
  gatewayRoutes(app, gateway, keyPolicy, { guard, log: opts.requestLog !== false, bots: botHook });
  copilotRoutes(app, { gateway, policy: keyPolicy, knowledge, bots, guard, log: opts.requestLog !== false });
  const apps = { gateway, policy: keyPolicy, knowledge, guard, log: opts.requestLog !== false };
  imagesRoutes(app, apps);
  writerRoutes(app, { ...apps, writer: new WriterService(new WriterRepository(stageTables<WriterTables>(db))) });
  coachRoutes(app, { ...apps, coach: new CoachService(new CoachRepository(stageTables<CoachTables>(db))) });
  deploymentRoutes(app, store, gateway, { modelFolders: new ModelFolders([...modelDirs, opts.dataDir]), guardExists: async (name) => (await guardPolicies.getPolicyText(name)) !== null });
  if (opts.serve?.warm !== false) void gateway.warmDeployments();
  const factory = await startFactory({
    dataDir: opts.dataDir, store, db: stageTables<FactoryTables>(db), data: service, ...(opts.factory ?? {}),
    scheduler: { coordination, ...opts.factory?.scheduler },
  });
  fineTuningRoutes(app, factory.factory);
  experimentsRoutes(app, factory.factory);
  const modelFolders = new ModelFolders(modelDirs);
  modelsRegistryRoutes(app, factory.factory, modelFolders);
  knowledgeRoutes(app, knowledge, { control: guard, file: async (id) => { const f = await service.fileBytes(id); return { filename: f.file.filename, bytes: f.bytes }; } });
  evalsRoutes(app, { factory: factory.factory, store, data: service, dataDir: opts.dataDir });
  guardRoutes(app, guardPolicies, requestLog, guardDeps);
  feedbackRoutes(app, feedback, requestLog, {
    importDataset: (r) => service.importDataset(r), createJob: (r) => factory.factory.createJob(r), createExperiment: (r) => factory.factory.createExperiment(r), jobObject: (j) => factory.factory.jobObject(j),
  });
  const days = opts.requestLogDays ?? 90;
  const prune = () => { if (days > 0) requestLog.pruneResponses(Date.now() - days * 86_400_000).catch((e: unknown) => app.log.error({ err: e }, 'request log pruning failed')); };
  prune();
  const pruner = setInterval(prune, 3_600_000);
  pruner.unref();
  let closed = false;
  return {
    app, store, service, factory, generatedAdminKey, gateway, feedback, requestLog, guardPolicies, knowledge, bots, modelDirs,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(pruner);
      await app.close();
      await gateway.close();
      await keyPolicy.close();
      await factory.close();
      await coordination.close();
      await store.close();
    },
  };
}
