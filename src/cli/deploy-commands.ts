/**
 * `modelfab deploy|undeploy|deployments` and `modelfab routes set|list|delete`: the serving registry of the running
 * server (admin key needed). A new deployment version is rolled out without dropping requests in flight.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ApiClient, clientOptions, seg, withClient } from './client.ts';
import { optionalInteger } from './option-values.ts';


interface DeployOpts {
  url?: string; apiKey?: string; model?: string; path?: string; adapter?: string; endpoint?: string; endpointKey?: string; endpointModel?: string;
  template?: string; preset?: string; concurrency?: string; queue?: string; context?: string; threads?: string; idleUnload?: string;
  timeout?: string; maxTokens?: string; weightType?: string; backend?: string; warm: boolean; json?: boolean; guard?: string;
}

/** The body of POST /v1/deployments for `deploy NAME [options]` (pure). Paths are made absolute: the server reads them. */
export function deployRequest(name: string, o: DeployOpts): Record<string, unknown> {
  const settings: Record<string, unknown> = {
    preset: o.preset, concurrency: optionalInteger(o.concurrency, 'concurrency'), queue: optionalInteger(o.queue, 'queue'), contextSize: optionalInteger(o.context, 'context'),
    threads: optionalInteger(o.threads, 'threads'), idleUnloadS: optionalInteger(o.idleUnload, 'idle-unload'), timeoutMs: optionalInteger(o.timeout, 'timeout'),
    maxTokensLimit: optionalInteger(o.maxTokens, 'max-tokens'), weightType: o.weightType, backend: o.backend, warm: o.warm,
    guard: o.guard === 'none' ? null : o.guard,
  };
  for (const k of Object.keys(settings)) if (settings[k] === undefined) delete settings[k];
  const sources = [o.model, o.path, o.endpoint].filter((x) => x !== undefined).length;
  if (sources !== 1) throw new Error('give exactly one of --model, --path or --endpoint');
  const body: Record<string, unknown> = {
    name, model: o.model, path: o.path ? resolve(o.path) : undefined, adapterPath: o.adapter ? resolve(o.adapter) : undefined, chatTemplate: o.template, settings,
    endpoint: o.endpoint ? { url: o.endpoint, apiKey: o.endpointKey, model: o.endpointModel } : undefined,
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

type Deployment = { name: string; version: number; status: string; model: { name: string; kind: string } | null; settings: { preset: string; concurrency: number; queue: number; guard?: string | null } };

export function registerDeploy(program: Command): void {
  withClient(program
    .command('deploy <name>')
    .description('deploy a model on the server under a name (again: a new version, rolled out without dropping requests)')
    .option('--model <name>', 'a registered model (e.g. a fine-tune ft:<base>:<suffix>:<id>)')
    .option('--path <file-or-folder>', "a .gguf file or an engine model folder on the server's machine")
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
    .option('--json', 'print JSON'))
    .action(async (name: string, o: DeployOpts) => {
      const client = new ApiClient(clientOptions(o));
      const d = await client.post<Deployment & { url: string; docs: string }>('/v1/deployments', deployRequest(name, o));
      if (o.json) { process.stdout.write(`${JSON.stringify(d)}\n`); return; }
      process.stdout.write(`deployed ${d.name} (version ${d.version}) -> ${d.model?.name ?? '?'}\n` +
        `  use it with any OpenAI client: base URL ${d.url}, model "${d.name}"\n` +
        `  docs: ${d.docs} (snippets) and ${d.url}/deployments/${seg(d.name)}/openapi.json\n`);
    });

  withClient(program
    .command('undeploy <name>')
    .description('stop serving a deployment (requests in flight finish)'))
    .action(async (name: string, o: { url?: string; apiKey?: string }) => {
      await new ApiClient(clientOptions(o)).delete(`/v1/deployments/${seg(name)}`);
      process.stdout.write(`undeployed ${name}\n`);
    });

  withClient(program
    .command('deployments')
    .description("the server's deployments")
    .option('--all', 'include undeployed ones')
    .option('--json', 'print JSON'))
    .action(async (o: { url?: string; apiKey?: string; all?: boolean; json?: boolean }) => {
      const { data } = await new ApiClient(clientOptions(o)).get<{ data: Deployment[] }>(`/v1/deployments${o.all ? '?all=true' : ''}`);
      if (o.json) { process.stdout.write(`${JSON.stringify(data)}\n`); return; }
      if (!data.length) { process.stdout.write('no deployments\n'); return; }
      for (const r of data) {
        const m = r.model, s = r.settings;
        process.stdout.write(`${r.name.padEnd(24)} v${String(r.version).padEnd(4)} ${r.status.padEnd(11)} ${(m ? `${m.kind}:${m.name}` : '?').padEnd(40)} preset ${s.preset}, concurrency ${s.concurrency}, queue ${s.queue}${s.guard ? `, guard ${s.guard}` : ''}\n`);
      }
    });

  const routes = program.command('routes').description('named routes over several models on the server (fixed, weighted, fallback)');
  withClient(routes
    .command('set <name> <targets...>')
    .description('create or replace a route; targets as model or model=weight')
    .option('--policy <p>', 'fixed, weighted or fallback', 'fallback')
    .option('--timeout <ms>', 'fallback: try the next target when no text arrives within this time'))
    .action(async (name: string, targets: string[], o: { url?: string; apiKey?: string; policy: string; timeout?: string }) => {
      const t = targets.map((x) => {
        const i = x.lastIndexOf('=');
        const [model, w] = i > 0 ? [x.slice(0, i), x.slice(i + 1)] : [x, undefined];
        const weight = w === undefined ? 1 : Number(w);
        if (!(weight > 0)) throw new Error(`target ${x}: the weight after = must be a positive number`);
        return { model, weight };
      });
      await new ApiClient(clientOptions(o)).post('/v1/routes', { name, policy: o.policy, targets: t, timeout_ms: optionalInteger(o.timeout, 'timeout') });
      process.stdout.write(`route ${name}: ${o.policy} over ${t.map((x) => x.model).join(', ')}\n`);
    });
  withClient(routes.command('list').description('every route with its targets').option('--json', 'print JSON'))
    .action(async (o: { url?: string; apiKey?: string; json?: boolean }) => {
      const { data } = await new ApiClient(clientOptions(o)).get<{ data: Array<{ name: string; policy: string; targets: Array<{ model: string; weight: number }>; timeout_ms: number | null }> }>('/v1/routes');
      if (o.json) { process.stdout.write(`${JSON.stringify(data)}\n`); return; }
      if (!data.length) { process.stdout.write('no routes\n'); return; }
      for (const r of data) process.stdout.write(`${r.name.padEnd(24)} ${r.policy.padEnd(9)} ${r.targets.map((t) => (r.policy === 'weighted' ? `${t.model}=${t.weight}` : t.model)).join(', ')}${r.timeout_ms ? ` (timeout ${r.timeout_ms} ms)` : ''}\n`);
    });
  withClient(routes.command('delete <name>').description('delete a route'))
    .action(async (name: string, o: { url?: string; apiKey?: string }) => {
      await new ApiClient(clientOptions(o)).delete(`/v1/routes/${seg(name)}`);
      process.stdout.write(`deleted route ${name}\n`);
    });
}
