/**
 * The Bot Factory's service layer: the one place API routes, the CLI and the bench call. Owns the workflows —
 * build a bot from a document (knowledge base + domain lexicon + ingest + rule extraction, one call), extract pairs
 * (rules or a model), review pairs (approve, reject, edit; every change in the history), freeze versions, answer
 * (hybrid match over pairs and knowledge -> extractive answer with citations, or grounded generation when a model
 * is set, or the fallback), auto-test a version, record a person's decision on a test report, publish, export the
 * approved pairs as an SFT dataset and start a factory experiment from them.
 * Guarantees: only approved pairs enter a version; a version is published only when a person approved one of its
 * test reports; every answer carries its citations (document, article number or chunk id, passage); a bot answers
 * from its published version unless a version is asked for; extraction problems are returned, never hidden.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KnowledgeService } from '../knowledge/knowledge-service.ts';
import type { ExperimentRequest } from '../factory/factory-service.ts';
import { NotFoundError } from '../knowledge/knowledge-repository.ts';
import { Lexicon } from '../knowledge/text/lexicon.ts';
import { groundedPrompt, OpenAIChatGenerator, type Generator } from '../knowledge/answer-generator.ts';
import type { KnowledgeItem } from '../knowledge/knowledge-types.ts';
import { BotNotFoundError, SAFE_NAME, type BotRepository, type PairChange } from './bot-repository.ts';
import { BotMatcher, DEFAULT_MATCH_WEIGHTS, type Match, type Understood } from './matcher.ts';
import { botRetrieverData, trainBotRetriever } from './bot-retriever.ts';
import { RetrieverWaits, retrieverJobStatus, type RetrieverJobs, type RetrieverJobState } from '../knowledge/retriever.ts';
import type { Embedder } from '../knowledge/embed.ts';
import { extractRulePairs, userWordsOf, type DraftPair, type RuleOptions } from './extract/rules.ts';
import { screenPairs } from './extract/filter.ts';
import { explainReport } from './report.ts';
import { extractModelPairs, type ExtractProblem, type ModelExtractOptions, type PairModel } from './extract/model-pairs.ts';
import {
  DEFAULT_FALLBACK, DEFAULT_SYSTEM_PROMPT, TEMPERATURE_PRESETS, type Bot, type BotAnswer, type BotCitation, type BotConfig, type BotModel,
  type BotVersion, type PairState, type QaPair, type TestQuestion, type TestReport,
} from './bot-types.ts';
import { StatusError } from '../util/status-error.ts';

export class BotError extends StatusError {
  constructor(status: number, message: string, param: string | null = null, code: string | null = null) { super(status, message, { param, code }); }
}

/** Built-in domain lexicons (synonym dictionaries) by name. Users extend them with their own text. */
export const BUILTIN_BOT_LEXICONS: Record<string, URL> = {
  'insurance-zh': new URL('./lexicons/insurance-zh.txt', import.meta.url),
};

export function botLexicon(name: string): string {
  const url = Object.hasOwn(BUILTIN_BOT_LEXICONS, name) ? BUILTIN_BOT_LEXICONS[name] : undefined;
  if (!url) throw new BotError(400, `no built-in lexicon ${name} (have: ${Object.keys(BUILTIN_BOT_LEXICONS).join(', ')})`, 'lexicon');
  return readFileSync(url, 'utf8');
}

export interface BotServiceOptions {
  /** Generator for a bot's model (default: OpenAI-compatible chat at the model's base URL). */
  generatorFor?: (m: BotModel) => Generator;
  /**
   * Where a bot's retriever (`config.retriever`) trains: the factory, as a job per version, its model served as an
   * embedding model (wired by api/server.ts). Absent (the CLI, local use): trained in this process.
   */
  retrievers?: RetrieverJobs;
}

/** A bot version's retriever, as GET /v1/bots/{name} shows it. */
export interface BotRetrieverStatus {
  /** `factory`: a factory job trains it; `in-process`: this process does, when the version's matcher is made. */
  trained_by: 'factory' | 'in-process';
  /** training: until its job succeeds the bot answers by lexical matching alone; ready: fused into the matcher. */
  status: 'not-started' | 'training' | 'ready' | 'failed';
  version: number;
  job_id: string | null;
  job_status: string | null;
  /** The embedding model the job made (served at /v1/embeddings). */
  model: string | null;
  error: string | null;
}


export interface CreateBotInput { name: string; description?: string; kbId: string; config?: Partial<Omit<BotConfig, 'kbId'>> }

export interface BuildInput {
  name: string;
  filename: string;
  data: Uint8Array;
  description?: string;
  /** Lexicon text; default the built-in one named by `lexiconName`, else none. */
  lexicon?: string;
  lexiconName?: string;
  /** Extra lexicon lines the user adds (appended). */
  lexiconExtra?: string;
  rules?: RuleOptions;
  /** Approve every extracted pair at once (an operator's explicit choice, recorded as such). */
  approveAll?: boolean;
  actor?: string;
  config?: Partial<Omit<BotConfig, 'kbId'>>;
}

export type PairReview =
  | { action: 'approve' | 'reject' | 'reset'; note?: string }
  | { action: 'edit'; question?: string; answer?: string; paraphrases?: string[]; note?: string }
  | { action: 'delete'; note?: string };

const now = () => Math.floor(Date.now() / 1000);
const pid = () => `qa-${randomBytes(6).toString('hex')}`;

function percentile(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** The line under a fallback that names the candidate units, marked not sure (不确定), in the question's language. */
export function notSureLine(citations: BotCitation[], en: boolean): string {
  const refs = citations.map((c) => `${en && c.article !== null ? `Article ${c.article}` : c.label || c.document} [${c.ref}]`);
  return en ? `Not sure (不确定) — the closest passages: ${refs.join(', ')}` : `不确定（not sure），最接近的条文：${refs.join('、')}`;
}

export class BotService {
  private matchers = new Map<string, Promise<BotMatcher>>();
  /** Matchers made without their retriever while its factory job trains, by `name@version`. */
  private readonly waits = new RetrieverWaits();

  constructor(readonly repo: BotRepository, readonly knowledge: KnowledgeService, readonly o: BotServiceOptions = {}) {}

  // ------------------------------------------------------------------ bots

  async requireBot(name: string): Promise<Bot> {
    if (!SAFE_NAME.test(name)) throw new BotError(400, `invalid bot name ${JSON.stringify(name)}`, 'name', 'invalid_name');
    const b = await this.repo.getBot(name);
    if (!b) throw new BotError(404, `no bot named ${name}`, 'name', 'bot_not_found');
    return b;
  }

  listBots(): Promise<Bot[]> { return this.repo.listBots(); }

  async createBot(input: CreateBotInput): Promise<Bot> {
    if (typeof input.name !== 'string' || !SAFE_NAME.test(input.name)) throw new BotError(400, 'name must be 1-64 letters, digits, _ . - (it becomes the model name)', 'name', 'invalid_name');
    if (typeof input.kbId !== 'string' || !input.kbId) throw new BotError(400, 'kb must name a knowledge base', 'kb', 'invalid_value');
    if (input.description !== undefined && typeof input.description !== 'string') throw new BotError(400, 'description must be a string', 'description', 'invalid_value');
    if (input.config !== undefined && (input.config === null || typeof input.config !== 'object' || Array.isArray(input.config))) throw new BotError(400, 'config must be an object', 'config', 'invalid_value');
    if (await this.repo.getBot(input.name)) throw new BotError(409, `bot ${input.name} already exists`, 'name', 'bot_exists');
    await this.knowledge.requireKb(input.kbId).catch(() => { throw new BotError(404, `no knowledge base ${input.kbId}`, 'kb', 'kb_not_found'); });
    const t = now();
    const bot: Bot = { name: input.name, description: input.description ?? '', config: this.config({ kbId: input.kbId, ...input.config }), createdAt: t, updatedAt: t, published: null };
    await this.repo.putBot(bot);
    return bot;
  }

  private config(c: Partial<BotConfig> & { kbId: string }): BotConfig {
    const temperature = c.temperature ?? 'precise';
    if (!(temperature in TEMPERATURE_PRESETS)) throw new BotError(400, `temperature must be one of ${Object.keys(TEMPERATURE_PRESETS).join(', ')}`, 'temperature');
    const minConfidence = c.minConfidence ?? 0.08;
    if (typeof minConfidence !== 'number' || minConfidence < 0 || minConfidence > 1) throw new BotError(400, 'min_confidence must be 0..1', 'min_confidence');
    if (c.retriever !== undefined && typeof c.retriever !== 'boolean') throw new BotError(400, 'retriever must be true or false', 'retriever');
    if (c.model && (typeof c.model.baseUrl !== 'string' || typeof c.model.model !== 'string')) throw new BotError(400, 'model needs base_url and model', 'model');
    return {
      kbId: c.kbId, model: c.model ?? null, systemPrompt: c.systemPrompt ?? DEFAULT_SYSTEM_PROMPT, temperature, fallback: c.fallback ?? DEFAULT_FALLBACK,
      guard: c.guard ?? null, minConfidence, citations: c.citations ?? 3, ...(c.retriever ? { retriever: true } : {}),
    };
  }

  async updateBot(name: string, patch: { description?: string; config?: Partial<Omit<BotConfig, 'kbId'>> }): Promise<Bot> {
    const bot = await this.requireBot(name);
    const next: Bot = { ...bot, description: patch.description ?? bot.description, config: this.config({ ...bot.config, ...patch.config }), updatedAt: now() };
    await this.repo.putBot(next);
    return next;
  }

  async deleteBot(name: string): Promise<void> {
    await this.requireBot(name);
    await this.repo.deleteBot(name);
    for (const k of [...this.matchers.keys()]) if (k.startsWith(`${name}@`)) { this.matchers.delete(k); this.waits.forget(k); }
  }

  /**
   * From a document to a bot, one call: a knowledge base with the domain lexicon, the document ingested (statute
   * structure recognised), pairs extracted by the rules, and — when `approveAll` — approved and frozen as version 1.
   */
  async build(input: BuildInput): Promise<{ bot: Bot; kbId: string; units: number; pairs: number; rejected: number; version: BotVersion | null; ms: Record<string, number> }> {
    const t0 = performance.now();
    if (typeof input.name !== 'string' || !SAFE_NAME.test(input.name)) throw new BotError(400, 'invalid bot name', 'name', 'invalid_name');
    if (await this.repo.getBot(input.name)) throw new BotError(409, `bot ${input.name} already exists`, 'name', 'bot_exists');
    const lexicon = [input.lexicon ?? (input.lexiconName ? botLexicon(input.lexiconName) : ''), input.lexiconExtra ?? ''].join('\n').trim();
    const kbId = `bot-${input.name}`.slice(0, 99);
    if (!(await this.knowledge.repo.getKb(kbId))) await this.knowledge.createKb({ id: kbId, name: `${input.name} knowledge`, lexicon: lexicon || undefined });
    else if (lexicon) await this.knowledge.repo.putLexicon(kbId, lexicon);
    const ing = await this.knowledge.ingest(kbId, input.filename, input.data, { actor: input.actor ?? 'bot-build' });
    const t1 = performance.now();
    const bot = await this.createBot({ name: input.name, kbId, description: input.description ?? ing.document.title, config: input.config });
    const ex = await this.extract(input.name, { method: 'rules', rules: input.rules });
    const t2 = performance.now();
    let version: BotVersion | null = null;
    const kept = ex.pairs.filter((p) => p.state === 'pending');
    if (input.approveAll) {
      await this.review(input.name, kept.map((p) => p.id), { action: 'approve', note: 'approved at build (approve-all)' }, input.actor ?? 'bot-build');
      version = await this.createVersion(input.name);
      await this.matcher(input.name, version.version);
    }
    const t3 = performance.now();
    return { bot, kbId, units: ing.items.length, pairs: kept.length, rejected: ex.pairs.length - kept.length, version, ms: { ingest: t1 - t0, extract: t2 - t1, index: t3 - t2, total: t3 - t0 } };
  }

  // ------------------------------------------------------------------ pairs

  private async units(bot: Bot): Promise<{ items: KnowledgeItem[]; titles: Map<string, string> }> {
    const kb = await this.knowledge.requireKb(bot.config.kbId);
    const items = (await this.knowledge.repo.listItems(kb.id)).filter((i) => i.state !== 'rejected' && (!kb.requireApproval || i.state === 'approved'));
    const titles = new Map((await this.knowledge.repo.listDocuments(kb.id)).map((d) => [d.id, d.title]));
    return { items, titles };
  }

  /** Extracts pairs (state pending) by the rules or with a model; returns them and every chunk that failed. */
  async extract(name: string, o: { method: 'rules'; rules?: RuleOptions; actor?: string } | { method: 'model'; model: PairModel; options?: ModelExtractOptions; actor?: string }): Promise<{ pairs: QaPair[]; problems: ExtractProblem[] }> {
    const bot = await this.requireBot(name);
    let drafts: DraftPair[];
    let problems: ExtractProblem[] = [];
    if (o.method === 'rules') {
      const { items, titles } = await this.units(bot);
      const lex = (await this.knowledge.repo.getLexicon(bot.config.kbId)) ?? '';
      drafts = extractRulePairs(items, (u) => titles.get(u.docId) ?? '', lex, o.rules);
    } else {
      const chunks = ((await this.knowledge.repo.listChunks(bot.config.kbId)) ?? []).filter((c) => c.role === 'parent');
      const r = await extractModelPairs(o.model, chunks, o.options);
      drafts = r.pairs;
      problems = r.problems;
    }
    // The screen: pairs that are no question a person would ask are stored rejected, with the rule and the reason.
    const { items } = await this.units(bot);
    const unitText = new Map(items.map((i) => [i.id, i.text]));
    const lex = (await this.knowledge.repo.getLexicon(bot.config.kbId)) ?? '';
    const verdicts = screenPairs(drafts, (id) => unitText.get(id) ?? '', userWordsOf(lex));
    const t = now();
    const origin = o.method;
    const pairs: QaPair[] = drafts.map(({ terms: _terms, ...d }, i) => {
      const r = verdicts[i];
      return { id: pid(), bot: name, ...d, origin, state: r ? 'rejected' : 'pending', version: 1, updatedAt: t, ...(r ? { note: `${r.rule}: ${r.reason}`, rejection: r } : {}) };
    });
    await this.repo.putPairs(name, pairs.map((pair) => ({ at: t, actor: o.actor ?? `extract:${origin}`, action: 'create', pair, ...(pair.note ? { note: pair.note } : {}) })));
    return { pairs, problems };
  }

  async listPairs(name: string, filter: { state?: PairState; itemId?: string; origin?: string } = {}): Promise<QaPair[]> {
    await this.requireBot(name);
    return (await this.repo.listPairs(name)).filter((p) => (!filter.state || p.state === filter.state) && (!filter.itemId || p.source.itemId === filter.itemId) && (!filter.origin || p.origin === filter.origin));
  }

  async addPair(name: string, p: { question: string; answer: string; itemId: string; paraphrases?: string[] }, actor = 'reviewer'): Promise<QaPair> {
    const bot = await this.requireBot(name);
    if (!p.question?.trim() || !p.answer?.trim()) throw new BotError(400, 'question and answer are required', 'question');
    const item = await this.knowledge.repo.getItem(bot.config.kbId, p.itemId);
    if (!item) throw new BotError(404, `no knowledge item ${p.itemId} in ${bot.config.kbId}`, 'item_id');
    const doc = (await this.knowledge.repo.listDocuments(bot.config.kbId)).find((d) => d.id === item.docId);
    const pair: QaPair = {
      id: pid(), bot: name, question: p.question.trim(), paraphrases: p.paraphrases ?? [], heldOut: [], answer: p.answer.trim(),
      source: { kbId: item.kbId, docId: item.docId, itemId: item.id, number: item.number, label: item.label, docTitle: doc?.title ?? '' },
      origin: 'manual', kind: 'manual', state: 'pending', version: 1, updatedAt: now(),
    };
    await this.repo.putPairs(name, [{ at: pair.updatedAt, actor, action: 'create', pair }]);
    return pair;
  }

  /** Applies one review action to pairs (one history line each). */
  async review(name: string, ids: string[], a: PairReview, actor = 'reviewer'): Promise<QaPair[]> {
    await this.requireBot(name);
    const all = new Map((await this.repo.listPairs(name)).map((p) => [p.id, p]));
    const t = now();
    const changes: PairChange[] = [];
    for (const id of ids) {
      const cur = all.get(id);
      if (!cur) throw new BotError(404, `no pair ${id} in bot ${name}`, 'ids', 'pair_not_found');
      const p: QaPair = { ...cur, paraphrases: [...cur.paraphrases], version: cur.version + 1, updatedAt: t, note: a.note };
      // a person's decision replaces the screen's (its verdict stays in the pair's history)
      if (a.action !== 'delete') delete p.rejection;
      switch (a.action) {
        case 'approve': p.state = 'approved'; break;
        case 'reject': p.state = 'rejected'; break;
        case 'reset': p.state = 'pending'; break;
        case 'delete': break;
        case 'edit':
          if (a.question !== undefined) { if (!a.question.trim()) throw new BotError(400, 'question must not be empty', 'question'); p.question = a.question.trim(); }
          if (a.answer !== undefined) { if (!a.answer.trim()) throw new BotError(400, 'answer must not be empty', 'answer'); p.answer = a.answer.trim(); }
          if (a.paraphrases) p.paraphrases = a.paraphrases.map((s) => s.trim()).filter(Boolean);
          p.state = 'pending';
          break;
      }
      changes.push({ at: t, actor, action: a.action, pair: p, note: a.note });
    }
    await this.repo.putPairs(name, changes);
    return changes.map((c) => c.pair);
  }

  pairHistory(name: string, id: string) { return this.repo.pairHistory(name, id); }

  // ------------------------------------------------------------------ versions

  /** Freezes the bot's config and its approved pairs as the next version. */
  async createVersion(name: string): Promise<BotVersion> {
    const bot = await this.requireBot(name);
    const pairs = (await this.repo.listPairs(name)).filter((p) => p.state === 'approved');
    const versions = await this.repo.listVersions(name);
    const v: BotVersion = { bot: name, version: (versions.at(-1)?.version ?? 0) + 1, createdAt: now(), config: bot.config, pairs, status: 'draft', approvedReport: null };
    await this.repo.putVersion(v);
    // a retriever the factory trains is submitted now, so it trains while the version is tested
    if (v.config.retriever && this.o.retrievers) await this.matcher(name, v.version);
    return v;
  }

  listVersions(name: string): Promise<BotVersion[]> { return this.repo.listVersions(name); }

  async requireVersion(name: string, version?: number): Promise<BotVersion> {
    const bot = await this.requireBot(name);
    const n = version ?? bot.published?.version ?? (await this.repo.listVersions(name)).at(-1)?.version;
    if (n === undefined) throw new BotError(409, `bot ${name} has no version yet: approve pairs and create one`, 'version', 'no_version');
    const v = await this.repo.getVersion(name, n);
    if (!v) throw new BotError(404, `bot ${name} has no version ${n}`, 'version', 'version_not_found');
    return v;
  }

  /** The matcher of a version (cached; the KB's index is the knowledge service's). */
  async matcher(name: string, version: number): Promise<BotMatcher> {
    const key = `${name}@${version}`;
    // made while its retriever trained: made again once the job succeeded (asked at most once a second)
    if (await this.waits.ready(key, this.o.retrievers)) this.matchers.delete(key);
    let m = this.matchers.get(key);
    if (!m) {
      m = (async () => {
        const v = await this.requireVersion(name, version);
        const index = await this.knowledge.index(v.config.kbId);
        const lex = await this.knowledge.repo.getLexicon(v.config.kbId);
        const lexicon = lex ? Lexicon.parse(lex) : null;
        let retriever: Embedder | null = null;
        if (v.config.retriever && this.o.retrievers) {
          const job = await this.retrieverJob(v, lex ?? null);
          this.waits.note(key, job);
          if (job.status === 'succeeded' && job.model) retriever = await this.o.retrievers.embedder(job.model);
        } else if (v.config.retriever) {
          retriever = trainBotRetriever(index, v.pairs, lexicon).retriever;
        }
        return new BotMatcher(index, v.pairs, lexicon, DEFAULT_MATCH_WEIGHTS, retriever);
      })();
      this.matchers.set(key, m);
      m.catch(() => this.matchers.delete(key));
    }
    return m;
  }

  /** What finds a version's retriever job again: the bot (and when it was made: a new bot of the same name is another), its version. */
  private async retrieverMeta(v: BotVersion): Promise<Record<string, string>> {
    const bot = await this.requireBot(v.bot);
    return { bot: v.bot, bot_created: String(bot.createdAt), bot_version: String(v.version), purpose: 'bot-retriever' };
  }

  /** The version's retriever job: the one submitted before (found by its metadata), else one submitted now. */
  private async retrieverJob(v: BotVersion, lexicon: string | null): Promise<RetrieverJobState> {
    const jobs = this.o.retrievers!;
    const metadata = await this.retrieverMeta(v);
    const found = await jobs.find(metadata);
    if (found) return found;
    const index = await this.knowledge.index(v.config.kbId);
    const data = botRetrieverData(index, v.pairs);
    return jobs.submit({ name: `${v.bot}-v${v.version}`, ...data, lexicon, dataset: v.config.kbId, metadata });
  }

  /** The retriever of a version (default: the one that answers), or null when the bot has none. */
  async retrieverStatus(name: string, version?: number): Promise<BotRetrieverStatus | null> {
    const v = await this.requireVersion(name, version).catch((e: unknown) => { if (e instanceof BotError && e.code === 'no_version') return null; throw e; });
    if (!v?.config.retriever) return null;
    const key = `${name}@${v.version}`;
    if (!this.o.retrievers) {
      return { trained_by: 'in-process', status: this.matchers.has(key) ? 'ready' : 'not-started', version: v.version, job_id: null, job_status: null, model: null, error: null };
    }
    const job = await this.o.retrievers.find(await this.retrieverMeta(v));
    return { trained_by: 'factory', status: retrieverJobStatus(job), version: v.version, job_id: job?.id ?? null, job_status: job?.status ?? null, model: job?.model ?? null, error: job?.error ?? null };
  }

  // ------------------------------------------------------------------ answering

  private generator(v: BotVersion): Generator | null {
    if (!v.config.model) return null;
    const m = v.config.model;
    return this.o.generatorFor ? this.o.generatorFor(m) : new OpenAIChatGenerator({ baseUrl: m.baseUrl, model: m.model, apiKey: m.apiKeyEnv ? process.env[m.apiKeyEnv] : undefined });
  }

  /**
   * The guard policy the bot answers under, or null. Unlike the rest of the config it is live, not frozen in the
   * version: a changed policy applies to the published version at once (it only narrows what may leave).
   */
  async guardOf(name: string): Promise<string | null> {
    return (await this.requireBot(name)).config.guard ?? null;
  }

  /**
   * A model's translation of a question into the documents' language (null without a model, or when the question is
   * in that language already): a capable model translates instead of the dictionary.
   */
  private async translate(gen: Generator | null, question: string, u: Understood): Promise<string | null> {
    if (!gen || u.lang === u.docLang) return null;
    const into = u.docLang === 'zh' ? 'Simplified Chinese, using the terms a Chinese statute would use' : 'English';
    const out = await gen.generate([
      { role: 'system', content: `Translate the user's question into ${into}. Output only the translation.` },
      { role: 'user', content: question },
    ], { temperature: 0, maxTokens: 200 });
    return out.trim() || null;
  }

  /** Answers one question (the last user message) from a version (default: the published one, else the latest). */
  async answer(name: string, question: string, o: { version?: number; history?: { role: 'user' | 'assistant'; content: string }[] } = {}): Promise<BotAnswer> {
    return (await this.answerWithMatches(name, question, o)).answer;
  }

  /** The answer and the ranked units it came from (the auto-test scores the ranking the answer used). */
  private async answerWithMatches(name: string, question: string, o: { version?: number; history?: { role: 'user' | 'assistant'; content: string }[] } = {}): Promise<{ answer: BotAnswer; matches: Match[] }> {
    const t0 = performance.now();
    if (!question.trim()) throw new BotError(400, 'the question is empty', 'messages');
    const v = await this.requireVersion(name, o.version);
    const matcher = await this.matcher(name, v.version);
    const gen = this.generator(v);
    const asked = question.slice(0, 2000);
    let understood = await matcher.understand(asked, undefined);
    const byModel = understood.by === 'dictionary' && understood.lang !== understood.docLang ? await this.translate(gen, asked, understood) : null;
    if (byModel) understood = await matcher.understand(asked, byModel);
    const matches = await matcher.match(asked, Math.max(3, v.config.citations), understood);
    const best = matches[0];
    const en = understood.lang === 'en';
    const citeOf = (m: Match, i: number, sure: boolean): BotCitation => ({
      ref: i + 1, document: m.docTitle, docId: m.docId, itemId: m.itemId, chunkId: m.chunkId, article: m.number ?? null, label: m.label, passage: m.passage, score: +m.score.toFixed(4), sure,
    });
    const base = {
      bot: name, version: v.version, question, language: understood.lang,
      ...(understood.by !== 'none' && understood.lang !== understood.docLang ? { translated: { query: understood.query, by: understood.by as 'dictionary' | 'model' } } : {}),
    };
    if (!best || best.confidence < v.config.minConfidence) {
      // No silent miss: the fallback, with the best candidates (units sharing a word with the question) marked not sure.
      const candidates = matches.filter((m) => m.confidence > 0).slice(0, v.config.citations);
      const citations = candidates.map((m, i) => citeOf(m, i, false));
      const answer = citations.length ? `${v.config.fallback}\n${notSureLine(citations, en)}` : v.config.fallback;
      return { answer: { ...base, answer, found: false, sure: false, confidence: best ? +best.confidence.toFixed(3) : 0, generator: 'fallback', citations, pair: null, ms: performance.now() - t0 }, matches };
    }
    const cited = matches.slice(0, v.config.citations).filter((m, i) => i === 0 || m.score >= best.score * 0.5);
    const citations = cited.map((m, i) => citeOf(m, i, true));
    let answer: string;
    let generator = 'extractive';
    let usage: BotAnswer['usage'];
    if (gen) {
      const passages = citations.map((c) => ({ id: c.chunkId, ref: c.ref, label: `${c.document} ${c.label}`.trim(), text: c.passage }));
      const messages = groundedPrompt(question, passages);
      const language = en ? '\nThe question is in English: answer in English, and name the article you rely on (its number and the law\'s name in English).' : '';
      messages[0] = { role: 'system', content: `${v.config.systemPrompt}\n${messages[0]!.content}${language}` };
      const hist = (o.history ?? []).slice(-6).map((h) => ({ role: h.role, content: h.content }));
      answer = (await gen.generate([messages[0]!, ...hist, messages[1]!], { temperature: TEMPERATURE_PRESETS[v.config.temperature], maxTokens: 512, onUsage: (u) => { usage = { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens }; } })).trim();
      generator = gen.name;
    } else {
      // Extractive: the best unit's text (the pair's answer when the pair's own answer is that unit's passage).
      const c = citations[0]!;
      const label = c.label && !c.passage.startsWith(c.label) ? `${c.label} ` : '';
      const doc = c.document.replace(/^《|》$/g, '');
      const head = en ? `Found in ${c.article !== null ? `Article ${c.article} (${c.label})` : c.label} of 《${doc}》 (the document is in Chinese):` : `根据《${doc}》${c.label}：`;
      answer = `${head}\n${label}${c.passage} [1]`;
    }
    return {
      answer: {
        ...base, answer, found: true, sure: true, confidence: +best.confidence.toFixed(3), generator, citations,
        pair: best.pair ? { id: best.pair.id, question: best.pair.question } : null, ms: performance.now() - t0, ...(usage ? { usage } : {}),
      },
      matches,
    };
  }

  // ------------------------------------------------------------------ auto-test, approval, publishing

  /**
   * Asks held-out questions of a version: the pairs' held-out paraphrases (never indexed) by default, or a given
   * question set ({q, gold: article number or item id, style}). Reports accuracy (right source unit at 1 and 3),
   * groundedness (attribution of each answer against the whole knowledge base, searched, not against the passage the
   * answer quotes), fallback rate and latency, and says in `explain` what each figure counts.
   */
  async test(name: string, o: { version?: number; questions?: TestQuestion[]; limit?: number } = {}): Promise<TestReport> {
    const v = await this.requireVersion(name, o.version);
    let qs: TestQuestion[];
    let source: TestReport['source'] = 'set';
    if (o.questions?.length) qs = o.questions;
    else {
      source = 'held-out';
      qs = v.pairs.flatMap((p) => p.heldOut.map((q) => ({ q, gold: p.source.number ?? p.source.itemId, style: p.kind })));
      if (!qs.length) throw new BotError(409, 'this version has no held-out questions: give a question set', 'questions', 'no_questions');
    }
    if (o.limit && qs.length > o.limit) { const step = qs.length / o.limit; qs = Array.from({ length: o.limit }, (_, i) => qs[Math.floor(i * step)]!); }
    const lat: number[] = [];
    let t1 = 0, t3 = 0, groundedN = 0, groundedOk = 0, fallbacks = 0;
    let generator = this.generator(v) ? '' : 'extractive';
    const perStyle: TestReport['perStyle'] = {};
    const misses: TestReport['misses'] = [];
    for (const item of qs) {
      const t = performance.now();
      const { answer: ans, matches } = await this.answerWithMatches(name, item.q, { version: v.version });
      lat.push(performance.now() - t);
      const ms = matches.slice(0, 3);
      const got = ms.map((m) => (typeof item.gold === 'number' ? m.number ?? m.itemId : m.itemId));
      const i = got.indexOf(item.gold);
      const st = (perStyle[item.style ?? 'all'] ??= { n: 0, top1: 0, top3: 0 });
      st.n++;
      if (i === 0) { t1++; st.top1++; }
      if (i >= 0 && i < 3) { t3++; st.top3++; }
      if (i !== 0) misses.push({ q: item.q, gold: item.gold, got, style: item.style });
      if (!ans.found) fallbacks++;
      else {
        groundedN++;
        generator ||= ans.generator;
        // against the whole knowledge base (what a search finds for the answer and each sentence), not the citations
        const rep = await this.knowledge.attribute(v.config.kbId, ans.answer.replace(/\s*\[\d+\]/g, ''));
        if (rep.unsupported === 0) groundedOk++;
      }
    }
    for (const s of Object.values(perStyle)) { s.top1 = +(s.top1 / s.n).toFixed(3); s.top3 = +(s.top3 / s.n).toFixed(3); }
    const n = qs.length;
    const figures = {
      source, questions: n, answered: groundedN, grounded: groundedOk, generator: generator || 'extractive',
      top1: +(t1 / n).toFixed(3), top3: +(t3 / n).toFixed(3), groundedness: groundedN ? +(groundedOk / groundedN).toFixed(3) : 0,
      fallbackRate: +(fallbacks / n).toFixed(3), p50_ms: +percentile(lat, 50).toFixed(1), p95_ms: +percentile(lat, 95).toFixed(1),
    };
    const report: TestReport = {
      id: `rep-${v.version}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`, bot: name, version: v.version, createdAt: now(), ...figures,
      perStyle, misses: misses.slice(0, 200), explain: explainReport(figures), approval: null,
    };
    await this.repo.putReport(report);
    if (v.status === 'draft') await this.repo.putVersion({ ...v, status: 'tested' });
    return report;
  }

  listReports(name: string): Promise<TestReport[]> { return this.repo.listReports(name); }

  async getReport(name: string, id: string): Promise<TestReport> {
    await this.requireBot(name);
    const r = await this.repo.getReport(name, id);
    if (!r) throw new BotError(404, `no test report ${id} for bot ${name}`, 'report', 'report_not_found');
    return r;
  }

  /** A person's decision on a test report; approving marks the version approved (publishable). */
  async decide(name: string, reportId: string, decision: 'approved' | 'rejected', by: string, note?: string): Promise<TestReport> {
    if (!by?.trim()) throw new BotError(400, 'an approval needs the person who gives it', 'by');
    const r = await this.getReport(name, reportId);
    const next: TestReport = { ...r, approval: { by, at: now(), decision, note } };
    await this.repo.putReport(next);
    await this.repo.appendApproval(name, { at: next.approval!.at, by, action: decision === 'approved' ? 'approve-report' : 'reject-report', version: r.version, report: r.id, note });
    const v = await this.requireVersion(name, r.version);
    if (decision === 'approved') await this.repo.putVersion({ ...v, status: v.status === 'published' ? 'published' : 'approved', approvedReport: r.id });
    return next;
  }

  /** Publishes a version; refused unless a person approved one of its test reports. */
  async publish(name: string, version: number, by: string): Promise<Bot> {
    const bot = await this.requireBot(name);
    const v = await this.requireVersion(name, version);
    if (!v.approvedReport) throw new BotError(409, `version ${version} of ${name} has no approved test report: run a test and have a person approve it`, 'version', 'not_approved');
    if (bot.published && bot.published.version !== version) {
      const old = await this.repo.getVersion(name, bot.published.version);
      if (old) await this.repo.putVersion({ ...old, status: 'retired' });
    }
    await this.repo.putVersion({ ...v, status: 'published' });
    const next: Bot = { ...bot, published: { version, at: now(), by }, updatedAt: now() };
    await this.repo.putBot(next);
    await this.repo.appendApproval(name, { at: next.updatedAt, by, action: 'publish', version });
    return next;
  }

  async unpublish(name: string, by: string): Promise<Bot> {
    const bot = await this.requireBot(name);
    if (!bot.published) return bot;
    await this.repo.appendApproval(name, { at: now(), by, action: 'unpublish', version: bot.published.version });
    const next: Bot = { ...bot, published: null, updatedAt: now() };
    await this.repo.putBot(next);
    return next;
  }

  /** The published bot (for the public chat endpoint); 404 when the bot is not published. */
  async requirePublished(name: string): Promise<Bot & { published: NonNullable<Bot['published']> }> {
    const bot = await this.requireBot(name).catch(() => null);
    if (!bot?.published) throw new BotError(404, `The model '${name}' does not exist`, 'model', 'model_not_found');
    return bot as Bot & { published: NonNullable<Bot['published']> };
  }

  // ------------------------------------------------------------------ closing the loop

  /** The approved pairs (each phrasing a row) as OpenAI chat JSONL: system prompt, question, answer with its source. */
  async exportSft(name: string, o: { includeParaphrases?: boolean } = {}): Promise<{ jsonl: string; rows: number }> {
    const bot = await this.requireBot(name);
    const pairs = (await this.repo.listPairs(name)).filter((p) => p.state === 'approved');
    if (!pairs.length) throw new BotError(409, `bot ${name} has no approved pairs to export`, 'pairs', 'no_pairs');
    const rows: string[] = [];
    for (const p of pairs) {
      const cite = `（${p.source.docTitle ? `《${p.source.docTitle.replace(/^《|》$/g, '')}》` : ''}${p.source.label}）`;
      for (const q of [p.question, ...(o.includeParaphrases === false ? [] : p.paraphrases)]) {
        rows.push(JSON.stringify({ messages: [{ role: 'system', content: bot.config.systemPrompt }, { role: 'user', content: q }, { role: 'assistant', content: `${p.answer}${cite}` }] }));
      }
    }
    return { jsonl: rows.join('\n') + '\n', rows: rows.length };
  }

  /** The experiment request that fine-tunes on a dataset of this bot's pairs (what `startExperiment` submits). */
  experimentRequest(name: string, dataset: string, o: { baseModels: string[]; methods?: string[]; epochs?: number }): BotExperimentRequest {
    return {
      name: `bot-${name}-sft`, stage: 'sft', base_models: o.baseModels, datasets: [dataset],
      methods: (o.methods ?? ['lora']).map((type) => ({ type })), hyperparameters: { epochs: o.epochs ?? 2, batchSize: 4, lr: 2e-4, seqLen: 256 },
    };
  }

  /**
   * One action: export the approved pairs, import them as a dataset (`bot-<name>-pairs`, OpenAI chat format, 10%
   * validation) and submit a factory experiment on them. The fine-tuned model can then be set as the bot's model.
   */
  async startExperiment(name: string, deps: ExperimentDeps, o: { baseModels: string[]; methods?: string[]; epochs?: number }): Promise<{ dataset: unknown; experiment: unknown; request: BotExperimentRequest }> {
    if (!o.baseModels?.length) throw new BotError(400, 'base_models must name at least one base model', 'base_models');
    const { jsonl } = await this.exportSft(name);
    const dir = mkdtempSync(join(tmpdir(), 'mf-bot-sft-'));
    try {
      const file = join(dir, `${name}-pairs.jsonl`);
      writeFileSync(file, jsonl);
      const dataset = await deps.importDataset({ name: `bot-${name}-pairs`, source: { path: file }, format: 'openai-chat', validationSplit: 0.1, seed: 1 });
      const request = this.experimentRequest(name, `bot-${name}-pairs`, o);
      const experiment = await deps.createExperiment(request);
      return { dataset, experiment, request };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Where a bot's approved pairs become a dataset: the data stage's registry (DataService fits). */
export interface DatasetSink {
  importDataset(req: { name: string; source: { path: string }; format: 'openai-chat'; validationSplit: number; seed: number }): Promise<unknown>;
}

/**
 * The experiment a bot starts: the factory's request, with each method named by its type alone, as the client
 * named it. The factory checks the type and fills the method's defaults (engine/methods.ts `normalizeMethod`),
 * though its `ExperimentRequest` type asks for whole method specs.
 */
export type BotExperimentRequest = Omit<ExperimentRequest, 'methods'> & { methods: Array<{ type: string }> };

/** What trains on that dataset: the factory (FactoryService). */
export interface ExperimentLauncher {
  createExperiment(req: BotExperimentRequest): Promise<unknown>;
}

/** What starting an experiment needs from the data and factory stages, wired in api/. */
export type ExperimentDeps = DatasetSink & ExperimentLauncher;

export { NotFoundError, BotNotFoundError };
