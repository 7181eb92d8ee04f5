/**
 * The factory running inside a server process: the SQLite job repository, the scheduler over a runner (local
 * processes by default), the FactoryService, and a graceful stop. One call for the server, the demo and tests.
 */
import type { Kysely } from 'kysely';
import type { DataService } from '../data/data-service.ts';
import type { Store } from '../store/store.ts';
import { kyselyJobRepository, type FactoryTables } from './kysely-jobs.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';
import { LocalRunner, type LocalRunnerOptions } from './local-runner.ts';
import { FactoryService } from './factory-service.ts';
import { storeModelCatalog } from './catalog.ts';
import type { Runner } from './job-spec.ts';
import { nvidiaGpus, TorchTrainer, torchPython } from './torch-trainer.ts';

export interface FactoryRuntimeOptions {
  dataDir: string;
  store: Store;
  /** The database with the factory's tables (store/kysely-store.ts `stageTables`). */
  db: Kysely<FactoryTables>;
  data: DataService;
  runner?: Runner;
  /** Several runners at once (runners-file.ts), instead of `runner`. */
  runners?: Runner[];
  localRunner?: LocalRunnerOptions;
  scheduler?: Partial<Omit<SchedulerOptions, 'repository' | 'runner' | 'runners'>>;
  threadsPerJob?: number;
  /** The torch trainer's python (default: MODELFAB_TORCH_PYTHON, else <repo>/.venv-torch/bin/python). */
  torchPython?: string;
  /** What happens to running trainers on close: 'requeue' (checkpoint, stop, resume on the next start; default)
   *  or 'leave' (keep running; the next start adopts them). */
  onClose?: 'requeue' | 'leave';
}

export interface FactoryRuntime {
  factory: FactoryService;
  scheduler: Scheduler;
  close(): Promise<void>;
}

export async function startFactory(o: FactoryRuntimeOptions): Promise<FactoryRuntime> {
  const db = o.db;
  // Specs are stored relative to the data folder, and trainers run in it (src/store/paths.ts), so it can move.
  const repository = kyselyJobRepository(db, Date.now, o.dataDir);
  const torch = new TorchTrainer(o.torchPython ?? o.localRunner?.torchPython ?? torchPython());
  // The machine's GPUs, unless the options say what the local runner may use: nvidia-smi's count and the smallest
  // device's memory (the placement treats the devices as equal).
  const local = { ...o.localRunner };
  if (!o.runner && !o.runners?.length && local.gpus === undefined) {
    const gpus = nvidiaGpus();
    if (gpus?.length) { local.gpus = gpus.length; local.gpuMemoryMB = Math.min(...gpus.map((g) => g.memoryMB)); }
  }
  const runner = o.runner ?? new LocalRunner({ ...local, cwd: local.cwd ?? o.dataDir, torchPython: torch.python });
  const scheduler = new Scheduler({ repository, ...(o.runners?.length ? { runners: o.runners } : { runner }), ...(o.scheduler ?? {}) });
  const factory = new FactoryService({
    dataDir: o.dataDir, data: o.data, jobs: repository, db, scheduler, models: storeModelCatalog(o.store.models), threadsPerJob: o.threadsPerJob, torch,
  });
  await scheduler.start();
  let closed = false;
  return {
    factory, scheduler,
    async close() {
      if (closed) return;
      closed = true;
      await scheduler.stop({ jobs: o.onClose ?? 'requeue' });
    },
  };
}
