/**
 * `modelfab bots ...`: the Bot Factory from the command line — build (document -> bot), config, list, show, extract, pairs,
 * review, version, test, approve, publish, ask, export, lexicon; and, against a running `modelfab serve`, key (a
 * widget key) and experiment (fine-tune on the approved pairs). Thin: parses options, calls BotService over the
 * data folder (--data, default ./modelfab-data: knowledge/ and bots/), prints text or --json.
 */
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { FileBotRepository } from '../bots/repository.ts';
import { BotService, BUILTIN_BOT_LEXICONS, botLexicon, type PairReview } from '../bots/service.ts';
import { OpenAIPairModel } from '../bots/extract/model.ts';
import { TEMPERATURE_PRESETS, type BotConfig, type TestQuestion } from '../bots/types.ts';
import { requirePolicy } from './deploy.ts';
import { KnowledgeService } from '../knowledge/service.ts';
import { FileKnowledgeRepository } from '../knowledge/repository.ts';
import { ApiClient, clientOptions } from './client.ts';

interface DataOpt { data: string; json?: boolean }

const svc = (o: DataOpt) => new BotService(new FileBotRepository(o.data), new KnowledgeService(new FileKnowledgeRepository(o.data)));
const out = (json: boolean | undefined, value: unknown, text: () => string) => console.log(json ? JSON.stringify(value, null, 2) : text());
const dataOpt = (c: Command) => c.option('--data <dir>', 'data folder', process.env.MODELFAB_DATA ?? './modelfab-data').option('--json', 'print JSON');
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function registerBots(program: Command): void {
  const b = program.command('bots').description('Bot Factory: from a document to a tested, published bot');

  dataOpt(b.command('build <name> <file>').description('build a bot from a document: knowledge base, lexicon, rule-extracted pairs'))
    .option('--lexicon <file|name>', `domain synonym dictionary: a file or a built-in (${Object.keys(BUILTIN_BOT_LEXICONS).join(', ')})`)
    .option('--lexicon-extra <file>', 'more lexicon lines of your own (appended)')
    .option('--per-unit <n>', 'pairs per unit', '6')
    .option('--paraphrases <n>', 'indexed paraphrases per pair', '3')
    .option('--approve-all', 'approve every pair the screen kept and freeze version 1 (skip the review)')
    .action(async (name: string, file: string, o: DataOpt & { lexicon?: string; lexiconExtra?: string; perUnit: string; paraphrases: string; approveAll?: boolean }) => {
      const lexicon = o.lexicon ? (o.lexicon in BUILTIN_BOT_LEXICONS ? botLexicon(o.lexicon) : readFileSync(o.lexicon, 'utf8')) : undefined;
      const r = await svc(o).build({
        name, filename: file, data: readFileSync(file), lexicon, lexiconExtra: o.lexiconExtra ? readFileSync(o.lexiconExtra, 'utf8') : undefined,
        rules: { perUnit: Number(o.perUnit), paraphrases: Number(o.paraphrases) }, approveAll: !!o.approveAll, actor: 'cli',
      });
      out(o.json, r, () => `built ${name}: ${r.units} units, ${r.pairs} pairs (${r.rejected} more rejected by the screen: \`bots pairs ${name} --state rejected\`)${r.version ? `, version ${r.version.version} (${r.version.pairs.length} approved pairs)` : ' (pending review)'} in ${(r.ms.total! / 1000).toFixed(1)} s`);
    });

  dataOpt(b.command('config <name>').description("change a bot's settings (the guard applies at once; the rest from the next version)"))
    .option('--guard <policy>', 'a guard policy (modelfab guard policies) for questions and answers; none removes it')
    .option('--fallback <text>', 'the answer when nothing matches well enough')
    .option('--min-confidence <x>', 'match confidence (0..1) needed to answer')
    .option('--citations <n>', 'passages cited per answer')
    .option('--temperature <preset>', `generator temperature: ${Object.keys(TEMPERATURE_PRESETS).join(', ')}`)
    .option('--system <text>', 'system prompt of the generator')
    .action(async (name: string, o: DataOpt & { guard?: string; fallback?: string; minConfidence?: string; citations?: string; temperature?: string; system?: string }) => {
      if (o.guard && o.guard !== 'none') await requirePolicy(o.data, o.guard);
      const num = (v: string | undefined, flag: string) => { if (v === undefined) return undefined; const n = Number(v); if (!Number.isFinite(n)) throw new Error(`--${flag} must be a number, got ${v}`); return n; };
      const config: Partial<BotConfig> = {
        ...(o.guard !== undefined ? { guard: o.guard === 'none' ? null : o.guard } : {}), ...(o.fallback !== undefined ? { fallback: o.fallback } : {}),
        ...(o.minConfidence !== undefined ? { minConfidence: num(o.minConfidence, 'min-confidence') } : {}), ...(o.citations !== undefined ? { citations: num(o.citations, 'citations') } : {}),
        ...(o.temperature !== undefined ? { temperature: o.temperature as BotConfig['temperature'] } : {}), ...(o.system !== undefined ? { systemPrompt: o.system } : {}),
      };
      const bot = await svc(o).updateBot(name, { config });
      out(o.json, bot, () => `${bot.name}: guard ${bot.config.guard ?? '(none)'}, fallback ${JSON.stringify(bot.config.fallback.slice(0, 40))}, min confidence ${bot.config.minConfidence}, citations ${bot.config.citations}, temperature ${bot.config.temperature}`);
    });

  dataOpt(b.command('list').description('list bots')).action(async (o: DataOpt) => {
    const bots = await svc(o).listBots();
    out(o.json, bots, () => bots.map((x) => `${x.name}\tkb ${x.config.kbId}\t${x.published ? `published v${x.published.version}` : 'not published'}`).join('\n') || '(no bots)');
  });

  dataOpt(b.command('show <name>').description('a bot, its versions and test reports')).action(async (name: string, o: DataOpt) => {
    const s = svc(o);
    const bot = await s.requireBot(name);
    const versions = await s.listVersions(name);
    const reports = await s.listReports(name);
    out(o.json, { bot, versions: versions.map((v) => ({ version: v.version, status: v.status, pairs: v.pairs.length, approvedReport: v.approvedReport })), reports }, () => [
      `${bot.name}: kb ${bot.config.kbId}, model ${bot.config.model ? bot.config.model.model : '(none: extractive answers)'}, ${bot.published ? `published v${bot.published.version}` : 'not published'}`,
      ...versions.map((v) => `  v${v.version} ${v.status} ${v.pairs.length} pairs${v.approvedReport ? ` (approved ${v.approvedReport})` : ''}`),
      ...reports.map((r) => `  report ${r.id} v${r.version}: top1 ${pct(r.top1)} top3 ${pct(r.top3)} grounded ${pct(r.groundedness)} p95 ${r.p95_ms} ms ${r.approval ? `${r.approval.decision} by ${r.approval.by}` : 'awaiting approval'}`),
    ].join('\n'));
  });

  dataOpt(b.command('extract <name>').description('extract question–answer pairs (pending review)'))
    .option('--method <m>', 'rules | model', 'rules')
    .option('--per-unit <n>', 'pairs per unit (rules) or chunk (model)', '6')
    .option('--chat-url <url>', 'OpenAI-compatible endpoint for model extraction', process.env.MODELFAB_CHAT_URL)
    .option('--chat-model <name>', 'model name at that endpoint', process.env.MODELFAB_CHAT_MODEL)
    .option('--style <file>', 'example user questions, one a line (model extraction copies their style)')
    .action(async (name: string, o: DataOpt & { method: string; perUnit: string; chatUrl?: string; chatModel?: string; style?: string }) => {
      const s = svc(o);
      const r = o.method === 'model'
        ? await s.extract(name, { method: 'model', model: new OpenAIPairModel({ baseUrl: o.chatUrl ?? '', model: o.chatModel ?? '', apiKey: process.env.MODELFAB_API_KEY }), options: { perChunk: Number(o.perUnit), styleExamples: o.style ? readFileSync(o.style, 'utf8').split('\n').filter(Boolean) : [] }, actor: 'cli' })
        : await s.extract(name, { method: 'rules', rules: { perUnit: Number(o.perUnit) }, actor: 'cli' });
      out(o.json, r, () => [`${r.pairs.length} pairs extracted (pending review)`, ...r.problems.map((p) => `  problem: ${p.label} (${p.chunkId}): ${p.reason}`)].join('\n'));
    });

  dataOpt(b.command('pairs <name>').description('list pairs')).option('--state <s>', 'pending | approved | rejected').action(async (name: string, o: DataOpt & { state?: 'pending' | 'approved' | 'rejected' }) => {
    const pairs = await svc(o).listPairs(name, { state: o.state });
    out(o.json, pairs, () => pairs.map((p) => `${p.id}\t${p.state}\t${p.source.label}\t${p.question}${p.rejection ? `\t(${p.rejection.rule}: ${p.rejection.reason})` : ''}`).join('\n') || '(no pairs)');
  });

  dataOpt(b.command('review <name> <action> [ids...]').description('approve | reject | reset | delete | edit pairs (ids, or --all-pending)'))
    .option('--all-pending', 'every pending pair')
    .option('--question <text>', 'edit: new question')
    .option('--answer <text>', 'edit: new answer')
    .option('--note <text>', 'a note kept in the history')
    .action(async (name: string, action: string, ids: string[], o: DataOpt & { allPending?: boolean; question?: string; answer?: string; note?: string }) => {
      const s = svc(o);
      const list = o.allPending ? (await s.listPairs(name, { state: 'pending' })).map((p) => p.id) : ids;
      const a = (action === 'edit' ? { action, question: o.question, answer: o.answer, note: o.note } : { action, note: o.note }) as PairReview;
      const r = await s.review(name, list, a, 'cli');
      out(o.json, r, () => `${action}: ${r.length} pairs`);
    });

  dataOpt(b.command('version <name>').description('freeze the approved pairs and config as a new version')).action(async (name: string, o: DataOpt) => {
    const v = await svc(o).createVersion(name);
    out(o.json, { version: v.version, pairs: v.pairs.length }, () => `${name} v${v.version}: ${v.pairs.length} approved pairs`);
  });

  dataOpt(b.command('test <name>').description('auto-test a version: held-out paraphrases, or --questions FILE ({q, gold, style} JSON list or {items: [...]})'))
    .option('--version <n>', 'version (default: published, else latest)')
    .option('--questions <file>', 'question set')
    .option('--limit <n>', 'ask at most n questions')
    .action(async (name: string, o: DataOpt & { version?: string; questions?: string; limit?: string }) => {
      let questions: TestQuestion[] | undefined;
      if (o.questions) { const j = JSON.parse(readFileSync(o.questions, 'utf8')) as TestQuestion[] | { items: TestQuestion[] }; questions = Array.isArray(j) ? j : j.items; }
      const r = await svc(o).test(name, { version: o.version ? Number(o.version) : undefined, questions, limit: o.limit ? Number(o.limit) : undefined });
      out(o.json, r, () => [
        `report ${r.id} (v${r.version}, ${r.source}, ${r.questions} questions): top-1 ${pct(r.top1)}, top-3 ${pct(r.top3)}, grounded ${pct(r.groundedness)}, fallback ${pct(r.fallbackRate)}, p50 ${r.p50_ms} ms, p95 ${r.p95_ms} ms`,
        ...Object.entries(r.perStyle).map(([k, v]) => `  ${k}: ${v.n} questions, top-1 ${pct(v.top1)}, top-3 ${pct(v.top3)}`),
        'what the figures mean:',
        ...Object.values(r.explain).map((e) => `  - ${e.en}`),
        `approve with: modelfab bots approve ${name} ${r.id} --by <you>`,
      ].join('\n'));
    });

  dataOpt(b.command('approve <name> <report>').description("record a person's decision on a test report"))
    .requiredOption('--by <person>', 'who approves')
    .option('--reject', 'reject instead')
    .option('--note <text>', 'note')
    .action(async (name: string, report: string, o: DataOpt & { by: string; reject?: boolean; note?: string }) => {
      const r = await svc(o).decide(name, report, o.reject ? 'rejected' : 'approved', o.by, o.note);
      out(o.json, r, () => `${r.approval!.decision} report ${r.id} (v${r.version}) by ${r.approval!.by}`);
    });

  dataOpt(b.command('publish <name> <version>').description('publish a version (needs an approved test report)')).option('--by <person>', 'who publishes', 'cli').action(async (name: string, version: string, o: DataOpt & { by: string }) => {
    const bot = await svc(o).publish(name, Number(version), o.by);
    out(o.json, bot, () => `${name} v${version} published: POST /v1/bots/${name}/chat/completions, widget <script src="/v1/bots/${name}/widget.js" data-key="..."></script>`);
  });

  dataOpt(b.command('ask <name> <question...>').description('ask a bot (published version, else the latest)')).option('--version <n>', 'version').action(async (name: string, q: string[], o: DataOpt & { version?: string }) => {
    const a = await svc(o).answer(name, q.join(' '), { version: o.version ? Number(o.version) : undefined });
    out(o.json, a, () => [a.answer, ...a.citations.map((c) => `  [${c.ref}] ${c.document} ${c.label}`)].join('\n'));
  });

  dataOpt(b.command('export <name>').description('approved pairs as an SFT dataset (OpenAI chat JSONL)')).option('-o, --out <file>', 'output file (default stdout)').action(async (name: string, o: DataOpt & { out?: string }) => {
    const { jsonl, rows } = await svc(o).exportSft(name);
    if (o.out) { writeFileSync(o.out, jsonl); console.error(`${rows} rows -> ${o.out}`); } else process.stdout.write(jsonl);
  });

  dataOpt(b.command('lexicon <name>').description("print the bot's synonym dictionary, or extend it")).option('--add <file>', 'append the lines of this file').action(async (name: string, o: DataOpt & { add?: string }) => {
    const s = svc(o);
    const bot = await s.requireBot(name);
    if (o.add) {
      const cur = (await s.knowledge.repo.getLexicon(bot.config.kbId)) ?? '';
      await s.knowledge.updateKb(bot.config.kbId, { lexicon: `${cur}\n${readFileSync(o.add, 'utf8')}`.trim() + '\n' });
      console.log('lexicon extended; index rebuilt');
    } else process.stdout.write((await s.knowledge.repo.getLexicon(bot.config.kbId)) ?? '');
  });

  const remote = (c: Command) => c.option('--url <url>', 'server URL (MODELFAB_URL)').option('--api-key <key>', 'admin key (MODELFAB_API_KEY)').option('--json', 'print JSON');

  remote(b.command('key <name>').description('create a key for the published bot (chat only; for the widget)')).action(async (name: string, o: { url?: string; apiKey?: string; json?: boolean }) => {
    const c = new ApiClient(clientOptions(o));
    const k = await c.post<{ key: string }>(`/v1/bots/${encodeURIComponent(name)}/keys`, {});
    out(o.json, k, () => `${k.key}\n<script src="${c.url}/v1/bots/${name}/widget.js" data-key="${k.key}" async></script>`);
  });

  remote(b.command('experiment <name>').description('fine-tune on the approved pairs: dataset + factory experiment, one action'))
    .requiredOption('--base <models...>', 'base model names')
    .option('--methods <m...>', 'methods', ['lora'])
    .option('--epochs <n>', 'epochs', '2')
    .action(async (name: string, o: { url?: string; apiKey?: string; json?: boolean; base: string[]; methods: string[]; epochs: string }) => {
      const r = await new ApiClient(clientOptions(o)).post<{ experiment: { id: string } }>(`/v1/bots/${encodeURIComponent(name)}/experiments`, { base_models: o.base, methods: o.methods, epochs: Number(o.epochs) });
      out(o.json, r, () => `experiment ${r.experiment.id} started on dataset bot-${name}-pairs`);
    });
}
