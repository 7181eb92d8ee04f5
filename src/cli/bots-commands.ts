/**
 * `modelfab bots ...`: the Bot Factory of the running server — build (document -> bot), config, list, show, extract,
 * pairs, review, version, test, approve, publish, ask, export, lexicon, key (a widget key) and experiment (fine-tune
 * on the approved pairs). Thin: parses options, calls /v1/bots/..., prints text or --json. `bots build` sends the
 * document through the build route's own upload (the file's bytes, base64).
 */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { BUILTIN_BOT_LEXICONS } from '../bots/bot-service.ts';
import { TEMPERATURE_PRESETS, type Bot, type BotCitation, type BotConfig, type TestQuestion, type TestReport } from '../bots/bot-types.ts';
import { ApiClient, clientOptions, out, remote, seg, withClient, type Remote } from './client.ts';
import { lexiconField, readUserFile, readUserJson, readUserText } from './user-files.ts';
import { count } from './option-values.ts';
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const botPath = (name: string) => `/v1/bots/${seg(name)}`;

type Pair = { id: string; state: string; question: string; source: { label: string }; rejection?: { rule: string; reason: string } };
type VersionInfo = { version: number; status: string; pairs: number; approvedReport?: string | null };

export function registerBots(program: Command): void {
  const b = program.command('bots').description('Bot Factory on the server: from a document to a tested, published bot');

  remote(b.command('build <name> <file>').description('build a bot named <name> from a document (txt, md, html, pdf, docx): knowledge base, lexicon, rule-extracted pairs'))
    .option('--lexicon <file|name>', `domain synonym dictionary: a file or a built-in (${Object.keys(BUILTIN_BOT_LEXICONS).join(', ')})`)
    .option('--lexicon-extra <file>', 'more lexicon lines of your own (appended)')
    .option('--per-unit <n>', 'pairs per unit', '6')
    .option('--paraphrases <n>', 'indexed paraphrases per pair', '3')
    .option('--approve-all', 'approve every pair the screen kept and freeze version 1 (skip the review)')
    .action(async (name: string, file: string, o: Remote & { lexicon?: string; lexiconExtra?: string; perUnit: string; paraphrases: string; approveAll?: boolean }) => {
      const data = readUserFile(file);
      const lexicon = lexiconField(o.lexicon, BUILTIN_BOT_LEXICONS);
      const r = await new ApiClient(clientOptions(o)).post<{ units: number; pairs: number; rejected?: number; version: { version: number; pairs: number } | null; ms: Record<string, number> }>('/v1/bots/build', {
        name, filename: basename(file), base64: data.toString('base64'), ...lexicon, ...(o.lexiconExtra ? { lexicon_extra: readUserText(o.lexiconExtra) } : {}),
        per_unit: count(o.perUnit, 'per-unit'), paraphrases: count(o.paraphrases, 'paraphrases'), approve_all: !!o.approveAll,
      });
      out(o.json, r, () => `built ${name}: ${r.units} units, ${r.pairs} pairs${r.rejected ? ` (${r.rejected} more rejected by the screen: \`bots pairs ${name} --state rejected\`)` : ''}${r.version ? `, version ${r.version.version} (${r.version.pairs} approved pairs)` : ' (pending review)'} in ${((r.ms.total ?? 0) / 1000).toFixed(1)} s`);
    });

  remote(b.command('config <name>').description("change a bot's settings (the guard applies at once; the rest from the next version)"))
    .option('--guard <policy>', 'a guard policy (modelfab guard policies) for questions and answers; none removes it')
    .option('--fallback <text>', 'the answer when nothing matches well enough')
    .option('--min-confidence <x>', 'match confidence (0..1) needed to answer')
    .option('--citations <n>', 'passages cited per answer')
    .option('--temperature <preset>', `generator temperature: ${Object.keys(TEMPERATURE_PRESETS).join(', ')}`)
    .option('--system <text>', 'system prompt of the generator')
    .action(async (name: string, o: Remote & { guard?: string; fallback?: string; minConfidence?: string; citations?: string; temperature?: string; system?: string }) => {
      const num = (v: string | undefined, flag: string) => { if (v === undefined) return undefined; const n = Number(v); if (!Number.isFinite(n)) throw new Error(`--${flag} must be a number, got ${v}`); return n; };
      const config: Partial<BotConfig> = {
        ...(o.guard !== undefined ? { guard: o.guard === 'none' ? null : o.guard } : {}), ...(o.fallback !== undefined ? { fallback: o.fallback } : {}),
        ...(o.minConfidence !== undefined ? { minConfidence: num(o.minConfidence, 'min-confidence') } : {}), ...(o.citations !== undefined ? { citations: num(o.citations, 'citations') } : {}),
        ...(o.temperature !== undefined ? { temperature: o.temperature as BotConfig['temperature'] } : {}), ...(o.system !== undefined ? { systemPrompt: o.system } : {}),
      };
      const bot = await new ApiClient(clientOptions(o)).patch<Bot>(botPath(name), { config });
      out(o.json, bot, () => `${bot.name}: guard ${bot.config.guard ?? '(none)'}, fallback ${JSON.stringify(bot.config.fallback.slice(0, 40))}, min confidence ${bot.config.minConfidence}, citations ${bot.config.citations}, temperature ${bot.config.temperature}`);
    });

  remote(b.command('list').description('list bots')).action(async (o: Remote) => {
    const { data: bots } = await new ApiClient(clientOptions(o)).get<{ data: Bot[] }>('/v1/bots');
    out(o.json, bots, () => bots.map((x) => `${x.name}\tkb ${x.config.kbId}\t${x.published ? `published v${x.published.version}` : 'not published'}`).join('\n') || '(no bots)');
  });

  remote(b.command('show <name>').description('a bot, its versions and test reports')).action(async (name: string, o: Remote) => {
    const client = new ApiClient(clientOptions(o));
    const bot = await client.get<Bot & { versions: VersionInfo[] }>(botPath(name));
    const { data: reports } = await client.get<{ data: TestReport[] }>(`${botPath(name)}/tests`);
    const { versions, ...rest } = bot;
    out(o.json, { bot: rest, versions, reports }, () => [
      `${bot.name}: kb ${bot.config.kbId}, model ${bot.config.model ? bot.config.model.model : '(none: extractive answers)'}, ${bot.published ? `published v${bot.published.version}` : 'not published'}`,
      ...versions.map((v) => `  v${v.version} ${v.status} ${v.pairs} pairs${v.approvedReport ? ` (approved ${v.approvedReport})` : ''}`),
      ...reports.map((r) => `  report ${r.id} v${r.version}: top1 ${pct(r.top1)} top3 ${pct(r.top3)} grounded ${pct(r.groundedness)} p95 ${r.p95_ms} ms ${r.approval ? `${r.approval.decision} by ${r.approval.by}` : 'awaiting approval'}`),
    ].join('\n'));
  });

  remote(b.command('extract <name>').description('extract question–answer pairs (pending review)'))
    .option('--method <m>', 'rules | model', 'rules')
    .option('--per-unit <n>', 'pairs per unit (rules) or chunk (model)', '6')
    .option('--chat-url <url>', 'model extraction: an OpenAI-compatible endpoint the server calls', process.env.MODELFAB_CHAT_URL)
    .option('--chat-model <name>', 'model extraction: the model name at that endpoint', process.env.MODELFAB_CHAT_MODEL)
    .option('--chat-key-env <VAR>', "model extraction: the environment variable holding the endpoint's key on the server")
    .option('--style <file>', 'example user questions, one a line (model extraction copies their style)')
    .action(async (name: string, o: Remote & { method: string; perUnit: string; chatUrl?: string; chatModel?: string; chatKeyEnv?: string; style?: string }) => {
      if (o.method !== 'rules' && o.method !== 'model') throw new Error('--method must be rules or model');
      if (o.method === 'model' && (!o.chatUrl || !o.chatModel)) throw new Error('--method model needs --chat-url and --chat-model (or MODELFAB_CHAT_URL and MODELFAB_CHAT_MODEL)');
      const body = o.method === 'model'
        ? { method: 'model', per_unit: count(o.perUnit, 'per-unit'), model: { base_url: o.chatUrl, model: o.chatModel, ...(o.chatKeyEnv ? { api_key_env: o.chatKeyEnv } : {}) }, style_examples: o.style ? readUserText(o.style).split('\n').filter(Boolean) : [] }
        : { method: 'rules', per_unit: count(o.perUnit, 'per-unit') };
      const r = await new ApiClient(clientOptions(o)).post<{ pairs: number; problems: Array<{ label: string; chunkId: string; reason: string }> }>(`${botPath(name)}/extract`, body);
      out(o.json, r, () => [`${r.pairs} pairs extracted (pending review)`, ...r.problems.map((p) => `  problem: ${p.label} (${p.chunkId}): ${p.reason}`)].join('\n'));
    });

  remote(b.command('pairs <name>').description('list pairs')).option('--state <s>', 'pending | approved | rejected').action(async (name: string, o: Remote & { state?: string }) => {
    const { data: pairs } = await new ApiClient(clientOptions(o)).get<{ data: Pair[] }>(`${botPath(name)}/pairs${o.state ? `?state=${seg(o.state)}` : ''}`);
    out(o.json, pairs, () => pairs.map((p) => `${p.id}\t${p.state}\t${p.source.label}\t${p.question}${p.rejection ? `\t(${p.rejection.rule}: ${p.rejection.reason})` : ''}`).join('\n') || '(no pairs)');
  });

  remote(b.command('review <name> <action> [ids...]').description('approve | reject | reset | delete | edit pairs (ids, or --all-pending)'))
    .option('--all-pending', 'every pending pair')
    .option('--question <text>', 'edit: new question')
    .option('--answer <text>', 'edit: new answer')
    .option('--note <text>', 'a note kept in the history')
    .action(async (name: string, action: string, ids: string[], o: Remote & { allPending?: boolean; question?: string; answer?: string; note?: string }) => {
      if (!o.allPending && !ids.length) throw new Error('name the pairs to review, or pass --all-pending');
      const body = { ids: o.allPending ? 'all-pending' : ids, action, note: o.note, ...(action === 'edit' ? { question: o.question, answer: o.answer } : {}) };
      const { data } = await new ApiClient(clientOptions(o)).post<{ data: Pair[] }>(`${botPath(name)}/pairs/review`, body);
      out(o.json, data, () => `${action}: ${data.length} pairs`);
    });

  remote(b.command('version <name>').description('freeze the approved pairs and config as a new version')).action(async (name: string, o: Remote) => {
    const v = await new ApiClient(clientOptions(o)).post<{ version: number; pairs: number }>(`${botPath(name)}/versions`);
    out(o.json, v, () => `${name} v${v.version}: ${v.pairs} approved pairs`);
  });

  remote(b.command('test <name>').description('auto-test a version: held-out paraphrases, or --questions FILE ({q, gold, style} JSON list or {items: [...]})'))
    .option('--version <n>', 'version (default: published, else latest)')
    .option('--questions <file>', 'question set')
    .option('--limit <n>', 'ask at most n questions')
    .action(async (name: string, o: Remote & { version?: string; questions?: string; limit?: string }) => {
      let questions: TestQuestion[] | undefined;
      if (o.questions) {
        const j = readUserJson<TestQuestion[] | { items: TestQuestion[] }>(o.questions);
        questions = Array.isArray(j) ? j : j?.items;
        if (!Array.isArray(questions)) throw new Error(`${o.questions}: expected a JSON list of {q, gold, style} or {items: [...]}`);
      }
      const r = await new ApiClient(clientOptions(o)).post<TestReport>(`${botPath(name)}/tests`, {
        ...(o.version ? { version: count(o.version, 'version') } : {}), ...(questions ? { questions } : {}), ...(o.limit ? { limit: count(o.limit, 'limit') } : {}),
      });
      out(o.json, r, () => [
        `report ${r.id} (v${r.version}, ${r.source}, ${r.questions} questions): top-1 ${pct(r.top1)}, top-3 ${pct(r.top3)}, grounded ${pct(r.groundedness)}, fallback ${pct(r.fallbackRate)}, p50 ${r.p50_ms} ms, p95 ${r.p95_ms} ms`,
        ...Object.entries(r.perStyle).map(([k, v]) => `  ${k}: ${v.n} questions, top-1 ${pct(v.top1)}, top-3 ${pct(v.top3)}`),
        'what the figures mean:',
        ...Object.values(r.explain).map((e) => `  - ${e.en}`),
        `approve with: modelfab bots approve ${name} ${r.id} --by <you>`,
      ].join('\n'));
    });

  remote(b.command('approve <name> <report>').description("record a person's decision on a test report"))
    .requiredOption('--by <person>', 'who approves')
    .option('--reject', 'reject instead')
    .option('--note <text>', 'note')
    .action(async (name: string, report: string, o: Remote & { by: string; reject?: boolean; note?: string }) => {
      const r = await new ApiClient(clientOptions(o)).post<TestReport>(`${botPath(name)}/tests/${seg(report)}/approve`, { decision: o.reject ? 'rejected' : 'approved', by: o.by, note: o.note });
      out(o.json, r, () => `${r.approval!.decision} report ${r.id} (v${r.version}) by ${r.approval!.by}`);
    });

  remote(b.command('publish <name> <version>').description('publish a version (needs an approved test report)')).option('--by <person>', 'who publishes', 'cli').action(async (name: string, version: string, o: Remote & { by: string }) => {
    const c = new ApiClient(clientOptions(o));
    const bot = await c.post<Bot>(`${botPath(name)}/publish`, { version: count(version, 'version'), by: o.by });
    out(o.json, bot, () => `${name} v${version} published: POST ${c.url}/v1/bots/${name}/chat/completions, widget <script src="${c.url}/v1/bots/${name}/widget.js" data-key="..."></script>`);
  });

  remote(b.command('ask <name> <question...>').description('ask a bot (the published version; --version: a draft, with an admin key)')).option('--version <n>', 'version').action(async (name: string, q: string[], o: Remote & { version?: string }) => {
    const r = await new ApiClient(clientOptions(o)).post<{ choices: Array<{ message: { content: string } }>; citations: BotCitation[] }>(`${botPath(name)}/chat/completions`, {
      messages: [{ role: 'user', content: q.join(' ') }], ...(o.version ? { version: count(o.version, 'version') } : {}),
    });
    out(o.json, r, () => [r.choices[0]?.message.content ?? '', ...r.citations.map((c) => `  [${c.ref}] ${c.document} ${c.label}`)].join('\n'));
  });

  withClient(b.command('export <name>').description('approved pairs as an SFT dataset (OpenAI chat JSONL)')).option('-o, --out <file>', 'output file (default stdout)').action(async (name: string, o: Remote & { out?: string }) => {
    const jsonl = await new ApiClient(clientOptions(o)).text('GET', `${botPath(name)}/export`);
    const rows = jsonl.split('\n').filter(Boolean).length;
    if (o.out) { writeFileSync(o.out, jsonl); console.error(`${rows} rows -> ${o.out}`); } else process.stdout.write(jsonl);
  });

  withClient(b.command('lexicon <name>').description("print the bot's synonym dictionary, or extend it")).option('--add <file>', 'append the lines of this file').action(async (name: string, o: Remote & { add?: string }) => {
    const client = new ApiClient(clientOptions(o));
    if (o.add) {
      await client.put(`${botPath(name)}/lexicon`, { text: readUserText(o.add), append: true });
      console.log('lexicon extended; index rebuilt');
    } else process.stdout.write(await client.text('GET', `${botPath(name)}/lexicon`));
  });

  remote(b.command('key <name>').description('create a key for the published bot (chat only; for the widget)')).action(async (name: string, o: Remote) => {
    const c = new ApiClient(clientOptions(o));
    const k = await c.post<{ key: string }>(`${botPath(name)}/keys`, {});
    out(o.json, k, () => `${k.key}\n<script src="${c.url}/v1/bots/${name}/widget.js" data-key="${k.key}" async></script>`);
  });

  remote(b.command('experiment <name>').description('fine-tune on the approved pairs: dataset + factory experiment, one action'))
    .requiredOption('--base <models...>', 'base model names')
    .option('--methods <m...>', 'methods', ['lora'])
    .option('--epochs <n>', 'epochs', '2')
    .action(async (name: string, o: Remote & { base: string[]; methods: string[]; epochs: string }) => {
      const r = await new ApiClient(clientOptions(o)).post<{ experiment: { id: string } }>(`${botPath(name)}/experiments`, { base_models: o.base, methods: o.methods, epochs: count(o.epochs, 'epochs') });
      out(o.json, r, () => `experiment ${r.experiment.id} started on dataset bot-${name}-pairs`);
    });
}
