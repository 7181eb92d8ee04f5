/**
 * `modelfab deploy|undeploy|deployments` and `modelfab routes`: the serving registry of a data folder, written
 * directly (no server needed; a running `modelfab serve` on the same folder picks changes up within 2 s and rolls a
 * new version out without dropping requests in flight).
 */
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import { openSqliteDatabase, openSqliteStore } from '../store/sqlite.ts';
import { FeedbackService, type ControlTables } from '../control/feedback.ts';
import type { Store } from '../store/store.ts';
import { deleteRoute, deploy, describeDeployment, putRoute, undeploy, type DeployInput } from '../serve/service.ts';

export async function withStore<T>(data: string, f: (store: Store) => Promise<T>): Promise<T> {
  const store = await openSqliteStore(join(resolve(data), 'modelfab.db'));
  try { return await f(store); } finally { await store.close(); }
}

/** A deployment's guard must name a stored policy (the server would otherwise refuse its requests). */
export async function requirePolicy(data: string, name: string): Promise<void> {
  const { store, db } = await openSqliteDatabase(join(resolve(data), 'modelfab.db'));
  try {
    if ((await new FeedbackService(db as unknown as Kysely<ControlTables>).getPolicyText(name)) === null) {
      throw new Error(`--guard: no guard policy named "${name}" in ${data} (create it: modelfab guard policies put ${name} policy.json)`);
    }
  } finally { await store.close(); }
}

const int = (v: string | undefined, name: string) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer, got ${v}`);
  return n;
};

interface DeployOpts {
  data: string; model?: string; path?: string; adapter?: string; endpoint?: string; endpointKey?: string; endpointModel?: string;
  template?: string; preset?: string; concurrency?: string; queue?: string; context?: string; threads?: string; idleUnload?: string;
  timeout?: string; maxTokens?: string; weightType?: string; backend?: string; warm: boolean; json?: boolean; guard?: string;
}

export function registerDeploy(program: Command): void {
  program
    .command('deploy <name>')
    .description('deploy a model under a name (again: a new version, rolled out without dropping requests)')
    .option('--model <name>', 'a registered model (e.g. a fine-tune ft:<base>:<suffix>:<id>)')
    .option('--path <file-or-folder>', 'a .gguf file or an engine model folder')
    .option('--adapter <file>', 'a llama.cpp LoRA adapter .gguf over --path')
    .option('--endpoint <url>', 'an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1')
    .option('--endpoint-key <key>', 'the endpoint\'s API key')
    .option('--endpoint-model <name>', 'the endpoint\'s model name')
    .option('--template <name>', 'chat template: chatml, qwen2, llama3, plain')
    .option('--preset <name>', 'default temperature preset: conservative, balanced, creative')
    .option('--concurrency <n>', 'requests evaluated at once (default 4)')
    .option('--queue <n>', 'requests waiting beyond that before 429 (default 64)')
    .option('--context <n>', 'tokens per request context')
    .option('--threads <n>', 'llama.cpp threads, 1 or 2')
    .option('--idle-unload <seconds>', 'unload after this long idle (0 = never; default 900)')
    .option('--timeout <ms>', 'per-request time limit')
    .option('--max-tokens <n>', 'largest max_tokens accepted (default 4096)')
    .option('--weight-type <t>', 'engine folders are exported to GGUF as F16 (default) or F32')
    .option('--backend <b>', 'engine folders: llama.cpp (default) or engine')
    .option('--no-warm', 'do not load at deploy/server start (load on first use)')
    .option('--guard <policy>', 'a guard policy (modelfab guard policies) run on every request and answer; none removes it')
    .option('--data <dir>', 'data folder', './modelfab-data')
    .option('--json', 'print JSON')
    .action(async (name: string, o: DeployOpts) => {
      const settings: Record<string, unknown> = {
        preset: o.preset, concurrency: int(o.concurrency, 'concurrency'), queue: int(o.queue, 'queue'), contextSize: int(o.context, 'context'),
        threads: int(o.threads, 'threads'), idleUnloadS: int(o.idleUnload, 'idle-unload'), timeoutMs: int(o.timeout, 'timeout'),
        maxTokensLimit: int(o.maxTokens, 'max-tokens'), weightType: o.weightType, backend: o.backend, warm: o.warm,
        guard: o.guard === 'none' ? null : o.guard,
      };
      if (o.guard && o.guard !== 'none') await requirePolicy(o.data, o.guard);
      for (const k of Object.keys(settings)) if (settings[k] === undefined) delete settings[k];
      const input: DeployInput = {
        name, model: o.model, path: o.path, adapterPath: o.adapter, chatTemplate: o.template, settings,
        endpoint: o.endpoint ? { url: o.endpoint, apiKey: o.endpointKey, model: o.endpointModel } : undefined,
      };
      await withStore(o.data, async (store) => {
        const d = await deploy(store, input);
        const desc = await describeDeployment(store, d);
        if (o.json) { process.stdout.write(`${JSON.stringify(desc)}\n`); return; }
        process.stdout.write(`deployed ${d.name} (version ${d.version}) -> ${(desc.model as { name: string }).name}\n` +
          `  use it with any OpenAI client: base URL http://<host>:<port>/v1, model "${d.name}"\n` +
          `  docs: GET /v1/deployments/${d.name}/docs (snippets) and /openapi.json\n`);
      });
    });

  program
    .command('undeploy <name>')
    .description('stop serving a deployment (requests in flight finish)')
    .option('--data <dir>', 'data folder', './modelfab-data')
    .action(async (name: string, o: { data: string }) => {
      await withStore(o.data, async (store) => { await undeploy(store, name); process.stdout.write(`undeployed ${name}\n`); });
    });

  program
    .command('deployments')
    .description('list deployments')
    .option('--all', 'include undeployed ones')
    .option('--data <dir>', 'data folder', './modelfab-data')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; all?: boolean; json?: boolean }) => {
      await withStore(o.data, async (store) => {
        const rows = [];
        for (const d of await store.deployments.list()) if (o.all || d.status === 'active') rows.push(await describeDeployment(store, d));
        if (o.json) { process.stdout.write(`${JSON.stringify(rows)}\n`); return; }
        if (!rows.length) { process.stdout.write('no deployments\n'); return; }
        for (const r of rows) {
          const m = r.model as { name: string; kind: string } | null;
          const s = r.settings as { preset: string; concurrency: number; queue: number; guard?: string | null };
          process.stdout.write(`${String(r.name).padEnd(24)} v${String(r.version).padEnd(4)} ${String(r.status).padEnd(11)} ${(m ? `${m.kind}:${m.name}` : '?').padEnd(40)} preset ${s.preset}, concurrency ${s.concurrency}, queue ${s.queue}${s.guard ? `, guard ${s.guard}` : ''}\n`);
        }
      });
    });

  const routes = program.command('routes').description('named routes over several models (fixed, weighted, fallback)');
  routes
    .command('set <name> <targets...>')
    .description('create or replace a route; targets as model or model=weight')
    .option('--policy <p>', 'fixed, weighted or fallback', 'fallback')
    .option('--timeout <ms>', 'fallback: try the next target when no text arrives within this time')
    .option('--data <dir>', 'data folder', './modelfab-data')
    .action(async (name: string, targets: string[], o: { policy: string; timeout?: string; data: string }) => {
      await withStore(o.data, async (store) => {
        const t = targets.map((x) => { const [model, w] = x.split('='); return { model, weight: w === undefined ? 1 : Number(w) }; });
        await putRoute(store, { name, policy: o.policy, targets: t, timeoutMs: int(o.timeout, 'timeout') });
        process.stdout.write(`route ${name}: ${o.policy} over ${t.map((x) => x.model).join(', ')}\n`);
      });
    });
  routes
    .command('delete <name>')
    .option('--data <dir>', 'data folder', './modelfab-data')
    .action(async (name: string, o: { data: string }) => { await withStore(o.data, async (store) => { await deleteRoute(store, name); process.stdout.write(`deleted route ${name}\n`); }); });
}
