/**
 * `modelfab guard check --policy FILE TEXT` (local: rule checks, grounding with --sources; classifier and reflection
 * checks with --model-url, an OpenAI-compatible endpoint) and `modelfab feedback list|review|export|train` against
 * a running `modelfab serve` (HTTP API). Exit code 2 when the guard refuses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parsePolicy, runGuard, type GuardStage } from '../control/guard.ts';
import { OpenAIChatModel } from '../control/model.ts';
import { ApiClient, clientOptions } from './client.ts';

type Remote = { url?: string; apiKey?: string; json?: boolean };
const remote = (c: Command) => c.option('--url <url>', 'server URL (MODELFAB_URL)').option('--api-key <key>', 'API key (MODELFAB_API_KEY)').option('--json', 'print JSON');

export function registerControl(program: Command): void {
  const guard = program.command('guard').description('guard policies: check a text against a policy');
  guard.command('check <text>').description('run a guard policy (JSON file) on a text; prints each verdict')
    .requiredOption('--policy <file>', 'policy JSON file')
    .option('--stage <stage>', 'input or output', 'input')
    .option('--question <q>', 'the question (output checks)')
    .option('--sources <file>', 'JSON array of {id, text} passages (grounding)')
    .option('--model-url <url>', 'OpenAI-compatible /v1 URL for classifier and reflection models')
    .option('--model-key <key>', 'its API key')
    .option('--json', 'print JSON')
    .action(async (text: string, o: { policy: string; stage: GuardStage; question?: string; sources?: string; modelUrl?: string; modelKey?: string; json?: boolean }) => {
      const policy = parsePolicy(readFileSync(o.policy, 'utf8'));
      const sources = o.sources ? JSON.parse(readFileSync(o.sources, 'utf8')) : undefined;
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

  const fb = program.command('feedback').description('human feedback on answers: review queue, exports, DPO training');
  remote(fb.command('list').description('the review queue (pending by default)'))
    .option('--status <s>', 'pending, accepted, rejected or all', 'pending').option('--annotator <name>').option('--model <name>').option('--limit <n>', 'rows', '50')
    .action(async (o: Remote & { status: string; annotator?: string; model?: string; limit: string }) => {
      const qs = new URLSearchParams({ status: o.status, limit: o.limit, ...(o.annotator ? { annotator: o.annotator } : {}), ...(o.model ? { model: o.model } : {}) });
      const r = await new ApiClient(clientOptions(o)).request<{ data: Array<Record<string, any>> }>('GET', `/v1/feedback?${qs}`);
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
    .option('-o, --out <file>', 'write JSON Lines here (default stdout)').option('--dataset <name>', 'import as a dataset instead').option('--accepted-only', 'only reviewed and accepted items')
    .action(async (format: string, o: Remote & { out?: string; dataset?: string; acceptedOnly?: boolean }) => {
      const r = await new ApiClient(clientOptions(o)).request<{ rows: number; jsonl?: string; dataset?: { name: string } }>('POST', '/v1/feedback/export', { format, dataset: o.dataset, accepted_only: o.acceptedOnly });
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
