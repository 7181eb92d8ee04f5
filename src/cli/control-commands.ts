/**
 * `modelfab guard check --policy FILE TEXT` (local: rule checks, grounding with --sources; classifier and reflection
 * checks with --model-url, an OpenAI-compatible endpoint; exit code 2 when the guard refuses); and against a running
 * `modelfab serve` (HTTP API): `modelfab guard policies list|put|show|delete`, `modelfab requests [list]|show` (the
 * request log with verdicts) and `modelfab feedback list|review|export|train`.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parsePolicy, runGuard, type GuardStage } from '../control/guard.ts';
import type { Passage } from '../knowledge/attribution.ts';
import { OpenAIChatModel } from '../control/chat-model.ts';
import type { FeedbackObject } from '../control/feedback.ts';
import type { ResponseRecord } from '../control/request-log.ts';
import { ApiClient, clientOptions, remote, type Remote } from './client.ts';
import { readUserJson, readUserText } from './user-files.ts';

export function registerControl(program: Command): void {
  const guard = program.command('guard').description('guard policies: check a text against a policy file (local), or the policies on the server');
  guard.command('check <text>').description('local: run a guard policy (JSON file) on a text; prints each verdict (exit status 2 when it refuses)')
    .requiredOption('--policy <file>', 'policy JSON file')
    .option('--stage <stage>', 'input or output', 'input')
    .option('--question <q>', 'the question (output checks)')
    .option('--sources <file>', 'JSON array of {id, text} passages (grounding)')
    .option('--model-url <url>', 'OpenAI-compatible /v1 URL for classifier and reflection models')
    .option('--model-key <key>', 'its API key')
    .option('--json', 'print JSON')
    .action(async (text: string, o: { policy: string; stage: GuardStage; question?: string; sources?: string; modelUrl?: string; modelKey?: string; json?: boolean }) => {
      const policy = parsePolicy(readUserText(o.policy));
      const sources = o.sources ? readUserJson<Passage[]>(o.sources) : undefined;
      const r = await runGuard(policy, { stage: o.stage, text, ...(o.question ? { question: o.question } : {}), ...(sources ? { sources } : {}) }, {
        model: o.modelUrl ? (name) => new OpenAIChatModel(name, { baseUrl: o.modelUrl!, apiKey: o.modelKey }) : undefined,
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        for (const v of r.verdicts) process.stdout.write(`${v.action.padEnd(8)} ${v.check.padEnd(20)} ${v.latency_ms.toFixed(2).padStart(8)} ms  ${v.reason}\n`);
        process.stdout.write(r.refused ? `refused: ${r.message}\n` : `text: ${r.text}\n`);
      }
      if (r.refused) process.exitCode = 2;
    });

  const pol = guard.command('policies').description('named guard policies on a running server (a deployment or bot names one in its guard setting)');
  remote(pol.command('list').description('every policy with its checks')).action(async (o: Remote) => {
    const r = await new ApiClient(clientOptions(o)).request<{ data: Array<{ name: string; updated_at: number; policy: { checks: Array<{ name?: string; kind: string }> } }> }>('GET', '/v1/guard/policies');
    if (o.json) { process.stdout.write(`${JSON.stringify(r)}\n`); return; }
    if (!r.data.length) process.stdout.write('no guard policies (create one: modelfab guard policies put NAME FILE)\n');
    for (const p of r.data) process.stdout.write(`${p.name.padEnd(24)} ${new Date(p.updated_at * 1000).toISOString().slice(0, 19)}  ${p.policy.checks.map((c, i) => c.name ?? `${c.kind}#${i}`).join(', ')}\n`);
  });
  remote(pol.command('put <name> <file>').description('create or replace a policy from a JSON file (validated: errors name the check and field)')).action(async (name: string, file: string, o: Remote) => {
    const r = await new ApiClient(clientOptions(o)).request('PUT', `/v1/guard/policies/${encodeURIComponent(name)}`, readUserJson(file));
    process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `saved guard policy ${name}; use it: modelfab deploy NAME --model M --guard ${name}\n`);
  });
  remote(pol.command('show <name>').description('print a policy as JSON')).action(async (name: string, o: Remote) => {
    const r = await new ApiClient(clientOptions(o)).request<{ policy: unknown }>('GET', `/v1/guard/policies/${encodeURIComponent(name)}`);
    process.stdout.write(`${JSON.stringify(o.json ? r : r.policy, null, 2)}\n`);
  });
  remote(pol.command('delete <name>').description('delete a policy (deployments still naming it refuse requests until changed)')).action(async (name: string, o: Remote) => {
    const r = await new ApiClient(clientOptions(o)).request<{ deleted: boolean }>('DELETE', `/v1/guard/policies/${encodeURIComponent(name)}`);
    process.stdout.write(r.deleted ? `deleted ${name}\n` : `no policy ${name}\n`);
  });

  const req = program.command('requests').description('the request log: every answer the gateway and bots sent, with the guard\'s verdicts');
  remote(req.command('list', { isDefault: true }).description('newest first'))
    .option('--model <name>').option('--source <s>', 'api, bot or playground').option('--outcome <o>', 'passed, flagged, rewritten, refused or guarded (any guard ran)').option('--limit <n>', 'rows', '20')
    .action(async (o: Remote & { model?: string; source?: string; outcome?: string; limit: string }) => {
      const qs = new URLSearchParams({ limit: o.limit, ...(o.model ? { model: o.model } : {}), ...(o.source ? { source: o.source } : {}), ...(o.outcome ? { outcome: o.outcome } : {}) });
      const r = await new ApiClient(clientOptions(o)).request<{ data: ResponseRecord[]; has_more: boolean }>('GET', `/v1/requests?${qs}`);
      if (o.json) { process.stdout.write(`${JSON.stringify(r)}\n`); return; }
      for (const x of r.data) {
        const q = String(x.prompt.at(-1)?.content ?? '').replace(/\s+/g, ' ').slice(0, 40);
        process.stdout.write(`${x.id}  ${new Date(x.created_at * 1000).toISOString().slice(0, 19)}  ${String(x.model).padEnd(18)} ${(x.outcome ?? '-').padEnd(9)} ${q}\n`);
      }
      if (r.has_more) process.stdout.write('(more: raise --limit)\n');
    });
  remote(req.command('show <id>').description('one request: prompt, answer and each guard verdict')).action(async (id: string, o: Remote) => {
    const x = await new ApiClient(clientOptions(o)).request<ResponseRecord>('GET', `/v1/requests/${encodeURIComponent(id)}`);
    if (o.json) { process.stdout.write(`${JSON.stringify(x)}\n`); return; }
    process.stdout.write(`${x.id}  ${x.model}  source ${x.source}  outcome ${x.outcome ?? '(no guard)'}${x.policies.length ? `  policies ${x.policies.join(', ')}` : ''}\n`);
    for (const m of x.prompt) process.stdout.write(`  ${m.role}: ${m.content}\n`);
    process.stdout.write(`  answer: ${x.answer}\n`);
    for (const v of x.guard) process.stdout.write(`  ${v.stage.padEnd(6)} ${v.action.padEnd(8)} ${v.check.padEnd(20)} ${v.latency_ms.toFixed(2).padStart(8)} ms  ${v.reason}\n`);
  });

  const fb = program.command('feedback').description('human feedback on answers: review queue, exports, DPO training');
  remote(fb.command('list').description('the review queue (pending by default)'))
    .option('--status <s>', 'pending, accepted, rejected or all', 'pending').option('--annotator <name>').option('--model <name>').option('--limit <n>', 'rows', '50')
    .action(async (o: Remote & { status: string; annotator?: string; model?: string; limit: string }) => {
      const qs = new URLSearchParams({ status: o.status, limit: o.limit, ...(o.annotator ? { annotator: o.annotator } : {}), ...(o.model ? { model: o.model } : {}) });
      const r = await new ApiClient(clientOptions(o)).request<{ data: FeedbackObject[] }>('GET', `/v1/feedback?${qs}`);
      if (o.json) { process.stdout.write(`${JSON.stringify(r)}\n`); return; }
      for (const f of r.data) {
        const what = [f.label, f.rating ? `${f.rating}/5` : null, f.correction ? 'correction' : null, f.preferred ? `prefers ${f.preferred.choice}` : null].filter(Boolean).join(', ');
        const q = String(f.prompt.at(-1)?.content ?? '').replace(/\s+/g, ' ').slice(0, 50);
        process.stdout.write(`${f.id}  ${f.status.padEnd(8)} ${(f.annotator ?? '-').padEnd(10)} ${what.padEnd(24)} ${q}\n`);
      }
    });
  remote(fb.command('review <id> <status>').description('accept or reject an item (accepted | rejected | pending)')).option('--reviewer <name>').option('--note <text>')
    .action(async (id: string, status: string, o: Remote & { reviewer?: string; note?: string }) => {
      const r = await new ApiClient(clientOptions(o)).request('POST', `/v1/feedback/${encodeURIComponent(id)}/review`, { status, reviewer: o.reviewer, note: o.note });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    });
  remote(fb.command('export <format>').description('openai-dpo | llamafactory-ranking | sft | kto'))
    .option('-o, --out <file>', 'write JSON Lines here (default stdout)').option('--dataset <name>', 'import as a dataset instead').option('--include-pending', 'also items not reviewed yet (default: accepted items only)')
    .action(async (format: string, o: Remote & { out?: string; dataset?: string; includePending?: boolean }) => {
      const r = await new ApiClient(clientOptions(o)).request<{ rows: number; jsonl?: string; dataset?: { name: string } }>('POST', '/v1/feedback/export', { format, dataset: o.dataset, ...(o.includePending ? { include_pending: true } : {}) });
      if (r.dataset) process.stdout.write(`${r.rows} rows -> dataset ${r.dataset.name}\n`);
      else if (o.out) { writeFileSync(o.out, r.jsonl ?? ''); process.stderr.write(`${r.rows} rows -> ${o.out}\n`); }
      else process.stdout.write(r.jsonl ?? '');
    });
  remote(fb.command('train <base-model>').description('preference pairs from feedback -> dataset -> a DPO job'))
    .option('--dataset <name>', 'dataset name', 'feedback-dpo').option('--suffix <s>', 'model suffix', 'feedback').option('--epochs <n>').option('--method <m>', 'full | lora | ...', 'lora').option('--beta <b>')
    .action(async (model: string, o: Remote & { dataset: string; suffix: string; epochs?: string; method: string; beta?: string }) => {
      const r = await new ApiClient(clientOptions(o)).request<{ pairs: number; dataset: { name: string }; job: { id: string } | null }>('POST', '/v1/feedback/train', {
        model, dataset: o.dataset, suffix: o.suffix, hyperparameters: { fine_tuning_method: o.method, ...(o.epochs ? { n_epochs: Number(o.epochs) } : {}), ...(o.beta ? { beta: Number(o.beta) } : {}) },
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else process.stdout.write(`${r.pairs} preference pairs -> dataset ${r.dataset.name} -> job ${r.job?.id} (follow: modelfab jobs show ${r.job?.id})\n`);
    });
}
