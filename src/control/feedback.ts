/**
 * Human feedback on answers, and the training data made from it. (The answers themselves are in the request log,
 * request-log.ts; guard policies in guard-policies.ts.)
 *
 * Owns:
 *   - feedback items (stored by feedback-repository.ts): right/wrong labels, 1-5 ratings, corrected answers, preferences
 *     between two answers, each with its annotator, source (api, playground, bot) and time; a review queue
 *     (pending -> accepted | rejected, with reviewer and note);
 *   - exports (pure, `buildExport`): preference pairs as OpenAI's DPO JSONL or LLaMA-Factory's sharegpt ranking
 *     format, SFT JSONL from corrections (and answers marked right or rated 4-5), KTO-labelled examples;
 *   - `train`: one action that exports the preference pairs as a dataset (DataService) and starts a DPO job (or an
 *     experiment) in the factory.
 * Guarantees: invalid feedback is rejected with a message naming the field; rejected items never reach an export;
 * pairs are deduplicated and never have chosen == rejected; an export with no rows is an error, never an empty
 * dataset.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ChatMessage } from './chat-model.ts';
import { kyselyFeedbackRepository, type FeedbackRepository, type FeedbackTable, type FeedbackTables } from './feedback-repository.ts';
import type { RequestLog } from './request-log.ts';
import type { ExperimentRequest } from '../factory/factory-service.ts';
import { StatusError } from '../util/status-error.ts';

export type { FeedbackTable, FeedbackTables } from './feedback-repository.ts';

export type FeedbackStatus = 'pending' | 'accepted' | 'rejected';
export interface Preference { response_id_a: string | null; response_id_b: string | null; answer_a: string; answer_b: string; choice: 'a' | 'b' | 'tie' }

export interface FeedbackObject {
  id: string; object: 'feedback'; created_at: number; response_id: string | null; model: string | null; source: string;
  prompt: ChatMessage[]; answer: string | null; label: 'right' | 'wrong' | null; rating: number | null; correction: string | null;
  preferred: Preference | null; annotator: string | null; status: FeedbackStatus; reviewer: string | null; reviewed_at: number | null; note: string | null;
}

/** The review queue's filters (`FeedbackService.list`). */
export interface FeedbackListFilter {
  status?: FeedbackStatus | 'all'; model?: string; annotator?: string; label?: string; kind?: 'rating' | 'label' | 'correction' | 'preference';
  after?: string; limit?: number; order?: 'asc' | 'desc';
}

export interface FeedbackRequest {
  response_id?: string; model?: string; source?: string; prompt?: string | ChatMessage[]; answer?: string;
  rating?: number; label?: 'right' | 'wrong'; correction?: string;
  preferred?: { response_id_a?: string; response_id_b?: string; answer_a?: string; answer_b?: string; choice: 'a' | 'b' | 'tie' };
  annotator?: string; note?: string;
}

export class ControlError extends StatusError {
  constructor(status: number, message: string, param: string | null = null, code: string | null = null) { super(status, message, { param, code }); }
}

export type ExportFormat = 'openai-dpo' | 'llamafactory-ranking' | 'sft' | 'kto';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['openai-dpo', 'llamafactory-ranking', 'sft', 'kto'];

export interface ExportOptions {
  /** Only items a reviewer accepted (default true). False, or `include_pending`, adds items not reviewed yet; rejected never. */
  accepted_only?: boolean;
  /** Also items not reviewed yet (default false): the same as `accepted_only: false`. */
  include_pending?: boolean;
  model?: string;
  /** Smallest rating difference that makes a pair from two rated answers to the same prompt (default 2). */
  min_rating_gap?: number;
  /** SFT: also answers marked right or rated >= 4 (default true). */
  include_approved?: boolean;
}

const ROLES = new Set(['system', 'user', 'assistant']);
const newId = () => `fb-${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;

function toMessages(p: unknown, param: string): ChatMessage[] {
  if (typeof p === 'string') {
    if (!p.trim()) throw new ControlError(400, `${param} must not be empty`, param);
    return [{ role: 'user', content: p }];
  }
  if (!Array.isArray(p) || p.length === 0) throw new ControlError(400, `${param} must be a string or a non-empty array of {role, content}`, param);
  return p.map((m, i) => {
    const o = m as ChatMessage;
    if (!o || typeof o !== 'object' || !ROLES.has(o.role) || typeof o.content !== 'string') throw new ControlError(400, `${param}[${i}] must be {role: system|user|assistant, content: string}`, `${param}[${i}]`);
    return { role: o.role, content: o.content };
  });
}

function toObject(r: FeedbackTable): FeedbackObject {
  return {
    id: r.id, object: 'feedback', created_at: Math.floor(Number(r.created_at) / 1000), response_id: r.response_id, model: r.model, source: r.source,
    prompt: JSON.parse(r.prompt) as ChatMessage[], answer: r.answer, label: r.label as FeedbackObject['label'], rating: r.rating === null ? null : Number(r.rating),
    correction: r.correction, preferred: r.preferred ? (JSON.parse(r.preferred) as Preference) : null, annotator: r.annotator,
    status: r.status as FeedbackStatus, reviewer: r.reviewer, reviewed_at: r.reviewed_at === null ? null : Math.floor(Number(r.reviewed_at) / 1000), note: r.note,
  };
}

// ------------------------------------------------------------------------------------------------ exports (pure)

interface Pair { prompt: ChatMessage[]; chosen: string; rejected: string }
interface Labelled { prompt: ChatMessage[]; answer: string; good: boolean }

/** Preference pairs from feedback: explicit preferences, corrections (correction over answer), right vs wrong and rating gaps on one prompt. */
export function preferencePairs(items: readonly FeedbackObject[], minGap = 2): Pair[] {
  const out: Pair[] = [];
  const seen = new Set<string>();
  const add = (prompt: ChatMessage[], chosen: string, rejected: string) => {
    if (!chosen.trim() || !rejected.trim() || chosen.trim() === rejected.trim()) return;
    const k = JSON.stringify([prompt, chosen, rejected]);
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ prompt, chosen, rejected });
  };
  const byPrompt = new Map<string, { prompt: ChatMessage[]; answers: Map<string, { right: number; wrong: number; ratings: number[] }> }>();
  for (const f of items) {
    if (f.preferred && f.preferred.choice !== 'tie') {
      const [c, r] = f.preferred.choice === 'a' ? [f.preferred.answer_a, f.preferred.answer_b] : [f.preferred.answer_b, f.preferred.answer_a];
      add(f.prompt, c, r);
    }
    if (f.correction && f.answer) add(f.prompt, f.correction, f.answer);
    if (f.answer && (f.label || f.rating !== null)) {
      const key = JSON.stringify(f.prompt);
      let g = byPrompt.get(key);
      if (!g) { g = { prompt: f.prompt, answers: new Map() }; byPrompt.set(key, g); }
      let a = g.answers.get(f.answer);
      if (!a) { a = { right: 0, wrong: 0, ratings: [] }; g.answers.set(f.answer, a); }
      if (f.label === 'right') a.right++;
      if (f.label === 'wrong') a.wrong++;
      if (f.rating !== null) a.ratings.push(f.rating);
    }
  }
  for (const g of byPrompt.values()) {
    const answers = [...g.answers.entries()];
    const mean = (r: number[]) => r.reduce((x, y) => x + y, 0) / r.length;
    for (const [x, ax] of answers) {
      for (const [y, ay] of answers) {
        if (x === y) continue;
        if (ax.right > ax.wrong && ay.wrong > ay.right) add(g.prompt, x, y);
        else if (ax.ratings.length && ay.ratings.length && mean(ax.ratings) - mean(ay.ratings) >= minGap) add(g.prompt, x, y);
      }
    }
  }
  return out;
}

export function sftExamples(items: readonly FeedbackObject[], includeApproved = true): Array<{ prompt: ChatMessage[]; answer: string }> {
  const out: Array<{ prompt: ChatMessage[]; answer: string }> = [];
  const seen = new Set<string>();
  const add = (prompt: ChatMessage[], answer: string) => {
    const k = JSON.stringify([prompt, answer]);
    if (!answer.trim() || seen.has(k)) return;
    seen.add(k);
    out.push({ prompt, answer });
  };
  for (const f of items) {
    if (f.correction) add(f.prompt, f.correction);
    else if (includeApproved && f.answer && (f.label === 'right' || (f.rating !== null && f.rating >= 4)) && f.label !== 'wrong') add(f.prompt, f.answer);
    if (includeApproved && f.preferred && f.preferred.choice !== 'tie') add(f.prompt, f.preferred.choice === 'a' ? f.preferred.answer_a : f.preferred.answer_b);
  }
  return out;
}

export function ktoExamples(items: readonly FeedbackObject[]): Labelled[] {
  const out: Labelled[] = [];
  const seen = new Set<string>();
  const add = (prompt: ChatMessage[], answer: string, good: boolean) => {
    const k = JSON.stringify([prompt, answer]);
    if (!answer.trim() || seen.has(k)) return;
    seen.add(k);
    out.push({ prompt, answer, good });
  };
  for (const f of items) {
    if (f.correction) add(f.prompt, f.correction, true);
    if (f.answer) {
      if (f.label) add(f.prompt, f.answer, f.label === 'right');
      else if (f.rating !== null && f.rating !== 3) add(f.prompt, f.answer, f.rating >= 4);
      else if (f.correction) add(f.prompt, f.answer, false);
    }
    if (f.preferred && f.preferred.choice !== 'tie') {
      add(f.prompt, f.preferred.choice === 'a' ? f.preferred.answer_a : f.preferred.answer_b, true);
      add(f.prompt, f.preferred.choice === 'a' ? f.preferred.answer_b : f.preferred.answer_a, false);
    }
  }
  return out;
}

const toShareGpt = (prompt: ChatMessage[]) => {
  const system = prompt[0]?.role === 'system' ? prompt[0].content : undefined;
  const conversations = prompt.filter((m, i) => !(i === 0 && m.role === 'system')).map((m) => ({ from: m.role === 'user' ? 'human' : m.role === 'assistant' ? 'gpt' : 'system', value: m.content }));
  return { conversations, ...(system !== undefined ? { system } : {}) };
};

/** The rows of one export format (objects, one per JSON line). */
export function buildExport(items: readonly FeedbackObject[], format: ExportFormat, o: ExportOptions = {}): Record<string, unknown>[] {
  switch (format) {
    case 'openai-dpo':
      return preferencePairs(items, o.min_rating_gap).map((p) => ({
        input: { messages: p.prompt }, preferred_output: [{ role: 'assistant', content: p.chosen }], non_preferred_output: [{ role: 'assistant', content: p.rejected }],
      }));
    case 'llamafactory-ranking':
      return preferencePairs(items, o.min_rating_gap).map((p) => ({ ...toShareGpt(p.prompt), chosen: { from: 'gpt', value: p.chosen }, rejected: { from: 'gpt', value: p.rejected } }));
    case 'sft':
      return sftExamples(items, o.include_approved ?? true).map((e) => ({ messages: [...e.prompt, { role: 'assistant', content: e.answer }] }));
    case 'kto':
      return ktoExamples(items).map((e) => ({ messages: [...e.prompt, { role: 'assistant', content: e.answer }], label: e.good }));
  }
}

/** LLaMA-Factory's dataset_info.json entry for an export file. */
export function datasetInfoEntry(format: ExportFormat, fileName: string): Record<string, unknown> {
  switch (format) {
    case 'llamafactory-ranking': return { file_name: fileName, formatting: 'sharegpt', ranking: true, columns: { messages: 'conversations', chosen: 'chosen', rejected: 'rejected', system: 'system' } };
    case 'kto': return { file_name: fileName, formatting: 'sharegpt', columns: { messages: 'messages', kto_tag: 'label' }, tags: { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant', system_tag: 'system' } };
    case 'openai-dpo': return { file_name: fileName, note: 'OpenAI DPO format: upload with POST /v1/files' };
    case 'sft': return { file_name: fileName, formatting: 'sharegpt', columns: { messages: 'messages' }, tags: { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant', system_tag: 'system' } };
  }
}

// ------------------------------------------------------------------------------------------------ the service

/** Where exported feedback becomes a dataset: the data stage's registry (DataService fits). */
export interface DatasetSink {
  importDataset(req: { name: string; source: { path: string; name?: string }; validationSplit?: number; seed?: number }): Promise<{ id: string; name: string; stage: string; rows: number }>;
}

/** What starts training on that dataset: the factory (FactoryService fits). `J`: the job record it returns. */
export interface TrainingLauncher<J extends { id: string } = { id: string }> {
  createJob(req: { model: string; dataset: string; suffix?: string; seed?: number; metadata?: Record<string, string>; method: { type: 'dpo'; dpo: { hyperparameters: Record<string, unknown> } } }): Promise<J>;
  createExperiment?(req: ExperimentRequest): Promise<{ id: string }>;
}

/** What `train` needs from the data and factory stages, wired in api/server.ts. */
export type TrainDeps<J extends { id: string } = { id: string }> = DatasetSink & TrainingLauncher<J>;

export interface TrainRequest extends Omit<ExportOptions, 'model'> {
  /** The base model to improve (a catalog name). */
  model: string;
  /** Use only feedback on answers of this model (default: all). */
  feedback_model?: string;
  /** Dataset name (default `feedback-dpo`; a new version when it exists). */
  dataset?: string;
  suffix?: string;
  seed?: number;
  hyperparameters?: Record<string, unknown>;
  validation_split?: number;
  /** Start an experiment instead of one job: these base models x these methods. */
  experiment?: { name?: string; base_models?: string[]; methods?: ExperimentRequest['methods']; hyperparameters?: ExperimentRequest['hyperparameters'] };
}


export class FeedbackService {
  /** `log`: where an answer named by `response_id` is looked up (its prompt and answer are copied into the item). */
  private readonly repo: FeedbackRepository;
  constructor(db: Kysely<FeedbackTables>, private readonly log: Pick<RequestLog, 'getResponse'>, private readonly now: () => number = Date.now) {
    this.repo = kyselyFeedbackRepository(db);
  }

  async create(req: FeedbackRequest): Promise<FeedbackObject> {
    if (!req || typeof req !== 'object') throw new ControlError(400, 'the body must be a JSON object');
    const str = (v: unknown, p: string) => { if (v !== undefined && v !== null && typeof v !== 'string') throw new ControlError(400, `${p} must be a string`, p); return (v as string | undefined) ?? undefined; };
    const responseId = str(req.response_id, 'response_id');
    str(req.answer, 'answer'); str(req.correction, 'correction'); str(req.annotator, 'annotator'); str(req.model, 'model'); str(req.note, 'note');
    if (req.rating !== undefined && req.rating !== null && (!Number.isInteger(req.rating) || req.rating < 1 || req.rating > 5)) throw new ControlError(400, `rating must be an integer from 1 to 5, got ${JSON.stringify(req.rating)}`, 'rating');
    if (req.label !== undefined && req.label !== null && req.label !== 'right' && req.label !== 'wrong') throw new ControlError(400, `label must be "right" or "wrong", got ${JSON.stringify(req.label)}`, 'label');
    const source = req.source ?? 'api';
    if (!['api', 'playground', 'bot', 'knowledge', 'copilot', 'images', 'writer', 'coach'].includes(source)) throw new ControlError(400, 'source must be api, playground, bot, knowledge, copilot, images, writer or coach', 'source');

    const logged = responseId ? await this.log.getResponse(responseId) : null;
    const prompt = req.prompt !== undefined ? toMessages(req.prompt, 'prompt') : logged?.prompt;
    let answer = req.answer ?? logged?.answer ?? null;

    let preferred: Preference | null = null;
    if (req.preferred !== undefined && req.preferred !== null) {
      const p = req.preferred;
      if (typeof p !== 'object' || !['a', 'b', 'tie'].includes(p.choice)) throw new ControlError(400, 'preferred.choice must be "a", "b" or "tie"', 'preferred.choice');
      const side = async (id: string | undefined, text: string | undefined, s: 'a' | 'b') => {
        if (text !== undefined) { if (typeof text !== 'string') throw new ControlError(400, `preferred.answer_${s} must be a string`, `preferred.answer_${s}`); return text; }
        if (id) { const r = await this.log.getResponse(id); if (r) return r.answer; throw new ControlError(404, `response ${id} is not in the response log: send preferred.answer_${s}`, `preferred.response_id_${s}`, 'response_not_found'); }
        throw new ControlError(400, `preferred needs response_id_${s} or answer_${s}`, `preferred.answer_${s}`);
      };
      preferred = { response_id_a: p.response_id_a ?? null, response_id_b: p.response_id_b ?? null, answer_a: await side(p.response_id_a, p.answer_a, 'a'), answer_b: await side(p.response_id_b, p.answer_b, 'b'), choice: p.choice };
      if (!prompt && p.response_id_a) { const r = await this.log.getResponse(p.response_id_a); if (r) return this.create({ ...req, prompt: r.prompt }); }
    }
    if (!prompt) throw new ControlError(400, responseId ? `response ${responseId} is not in the response log: send prompt (and answer) with the feedback` : 'prompt is required (or a response_id the server logged)', 'prompt');
    if (answer === null && !preferred && !req.correction) throw new ControlError(400, responseId ? `response ${responseId} is not in the response log: send answer with the feedback` : 'answer is required (or a response_id the server logged, or preferred)', 'answer');
    if (req.rating == null && !req.label && !req.correction && !preferred) throw new ControlError(400, 'feedback needs at least one of rating, label, correction, preferred', 'rating');
    if (answer === '') answer = null;

    const t = this.now();
    const row = await this.repo.insert({
      id: newId(), created_at: t, response_id: responseId ?? null, model: req.model ?? logged?.model ?? null, source,
      prompt: JSON.stringify(prompt), answer, label: req.label ?? null, rating: req.rating ?? null, correction: req.correction ?? null,
      preferred: preferred ? JSON.stringify(preferred) : null, annotator: req.annotator ?? null, status: 'pending', reviewer: null, reviewed_at: null, note: req.note ?? null,
    });
    return toObject(row);
  }

  async get(id: string): Promise<FeedbackObject> {
    const r = await this.repo.get(id);
    if (!r) throw new ControlError(404, `feedback ${id} not found`, 'id', 'not_found');
    return toObject(r);
  }

  /** The review queue and listings: oldest first by default; `after` is an id (cursor). */
  async list(f: FeedbackListFilter = {}): Promise<{ data: FeedbackObject[]; has_more: boolean }> {
    if (f.limit !== undefined && (!Number.isInteger(f.limit) || f.limit < 1 || f.limit > 1000)) throw new ControlError(400, 'limit must be an integer from 1 to 1000', 'limit');
    if (f.status !== undefined && !['pending', 'accepted', 'rejected', 'all'].includes(f.status)) throw new ControlError(400, 'status must be pending, accepted, rejected or all', 'status');
    if (f.kind !== undefined && !['rating', 'label', 'correction', 'preference'].includes(f.kind)) throw new ControlError(400, 'kind must be rating, label, correction or preference', 'kind');
    const limit = f.limit ?? 100;
    const { rows, has_more } = await this.repo.list({
      ...(f.status && f.status !== 'all' ? { status: f.status } : {}), model: f.model, annotator: f.annotator, label: f.label, kind: f.kind,
      after: f.after, limit, order: f.order === 'desc' ? 'desc' : 'asc',
    });
    return { data: rows.map(toObject), has_more };
  }

  async review(id: string, r: { status: 'accepted' | 'rejected' | 'pending'; reviewer?: string; note?: string; correction?: string }): Promise<FeedbackObject> {
    if (!r || !['accepted', 'rejected', 'pending'].includes(r.status)) throw new ControlError(400, 'status must be accepted, rejected or pending', 'status');
    if (r.correction !== undefined && typeof r.correction !== 'string') throw new ControlError(400, 'correction must be a string', 'correction');
    await this.get(id);
    await this.repo.update(id, {
      status: r.status, reviewer: r.reviewer ?? null, reviewed_at: this.now(), ...(r.note !== undefined ? { note: r.note } : {}), ...(r.correction !== undefined ? { correction: r.correction } : {}),
    });
    return this.get(id);
  }

  /** Items an export may use: accepted ones by default (what a reviewer saw), pending too when asked; never rejected ones. */
  async usable(o: ExportOptions = {}): Promise<FeedbackObject[]> {
    for (const f of ['accepted_only', 'include_pending', 'include_approved'] as const) if (o[f] !== undefined && typeof o[f] !== 'boolean') throw new ControlError(400, `${f} must be true or false`, f);
    if (o.model !== undefined && o.model !== null && typeof o.model !== 'string') throw new ControlError(400, 'model must be a string', 'model');
    if (o.min_rating_gap !== undefined && (typeof o.min_rating_gap !== 'number' || !Number.isFinite(o.min_rating_gap) || o.min_rating_gap < 0)) throw new ControlError(400, 'min_rating_gap must be a number >= 0', 'min_rating_gap');
    const acceptedOnly = o.include_pending === true ? false : o.accepted_only !== false;
    const rows = acceptedOnly ? await this.repo.byStatus('accepted', { model: o.model ?? undefined }) : await this.repo.byStatus('rejected', { exclude: true, model: o.model ?? undefined });
    return rows.map(toObject);
  }

  async export(format: ExportFormat, o: ExportOptions = {}): Promise<{ rows: Record<string, unknown>[]; jsonl: string }> {
    if (!EXPORT_FORMATS.includes(format)) throw new ControlError(400, `format must be one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`, 'format');
    const rows = buildExport(await this.usable(o), format, o);
    return { rows, jsonl: rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '') };
  }

  /** Exports and imports as a dataset (a new version when the name exists). */
  async exportDataset(deps: DatasetSink, format: ExportFormat, name: string, o: ExportOptions & { validation_split?: number; seed?: number } = {}) {
    if (typeof name !== 'string' || !name.trim()) throw new ControlError(400, 'dataset must be a non-empty name', 'dataset');
    if (o.validation_split !== undefined && (typeof o.validation_split !== 'number' || !(o.validation_split >= 0 && o.validation_split < 1))) throw new ControlError(400, 'validation_split must be a number from 0 to below 1', 'validation_split');
    const { rows, jsonl } = await this.export(format, o);
    if (!rows.length) throw new ControlError(400, `no ${format} rows can be made from the feedback yet (${format === 'openai-dpo' || format === 'llamafactory-ranking' ? 'needs preferences, corrections, or right/wrong or rated answers to the same prompt' : 'needs corrections or labelled answers'})`, 'format', 'no_data');
    const dir = mkdtempSync(join(tmpdir(), 'mf-feedback-'));
    try {
      const file = join(dir, 'feedback.jsonl'); // never a path made from the client's name
      writeFileSync(file, jsonl);
      const ds = await deps.importDataset({ name, source: { path: file, name: `${name}.jsonl` }, ...(o.validation_split ? { validationSplit: o.validation_split } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}) });
      return { rows: rows.length, dataset: ds };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** One action: preference pairs -> dataset -> a DPO job (or an experiment). */
  async train<J extends { id: string }>(deps: TrainDeps<J>, r: TrainRequest) {
    if (!r || typeof r.model !== 'string' || !r.model) throw new ControlError(400, 'model (the base model to train) is required', 'model');
    const name = r.dataset ?? 'feedback-dpo';
    const { rows, dataset } = await this.exportDataset(deps, 'openai-dpo', name, { ...r, model: r.feedback_model });
    if (r.experiment) {
      if (!deps.createExperiment) throw new ControlError(400, 'experiments are not available here', 'experiment');
      const exp = await deps.createExperiment({
        name: r.experiment.name ?? `feedback ${new Date(this.now()).toISOString().slice(0, 16)}`, stage: 'dpo',
        base_models: r.experiment.base_models ?? [r.model], datasets: [dataset.name],
        methods: r.experiment.methods ?? [{ type: 'lora', rank: 8, alpha: 16, dropout: 0, targets: ['all'] }],
        hyperparameters: r.experiment.hyperparameters ?? {},
      });
      return { object: 'feedback.training', pairs: rows, dataset, experiment: exp, job: null };
    }
    const job = await deps.createJob({
      model: r.model, dataset: dataset.name, suffix: r.suffix ?? 'feedback', ...(r.seed !== undefined ? { seed: r.seed } : {}),
      metadata: { source: 'feedback', pairs: String(rows) }, method: { type: 'dpo', dpo: { hyperparameters: r.hyperparameters ?? {} } },
    });
    return { object: 'feedback.training', pairs: rows, dataset, experiment: null, job };
  }
}
