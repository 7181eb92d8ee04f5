/**
 * LLaMA-Factory's dataset formats (data/README.md of hiyouga/LLaMA-Factory) and its `dataset_info.json` registry.
 *
 *   alpaca    {instruction, input?, output, system?, history?: [[q, a], ...]}; ranking: chosen/rejected strings;
 *             KTO: output plus a boolean tag column; pretraining: only a prompt column (e.g. c4's `text`)
 *   sharegpt  {conversations: [{from, value}], system?, tools?}; roles alternate user-like (human, observation) and
 *             assistant-like (gpt, function_call) after an optional leading system turn; ranking: `chosen` and
 *             `rejected` are one assistant message each; KTO: ends with the judged assistant turn plus a tag column
 *
 * `columns` renames fields and `tags` renames roles, with LLaMA-Factory's defaults. A column path may be dotted
 * (`input.messages`), as the demo's preference data uses.
 */
import type { ChatMessage, KtoRecord, PreferenceRecord, PretrainRecord, SftRecord, Stage, ToolCall } from '../records.ts';
import { describeType } from '../sources.ts';
import { isObject, parseTools, type RowContext } from './row-context.ts';

export interface LlamaFactoryColumns {
  prompt?: string; query?: string; response?: string; history?: string; messages?: string; system?: string; tools?: string;
  chosen?: string; rejected?: string; kto_tag?: string; images?: string; videos?: string; audios?: string;
}
export interface LlamaFactoryTags {
  role_tag?: string; content_tag?: string; user_tag?: string; assistant_tag?: string; observation_tag?: string;
  function_tag?: string; system_tag?: string;
}

/** One entry of dataset_info.json (the fields modelfab reads; others are kept but unused). */
export interface DatasetInfoEntry {
  file_name?: string;
  hf_hub_url?: string; ms_hub_url?: string; om_hub_url?: string; script_url?: string; cloud_file_name?: string;
  formatting?: 'alpaca' | 'sharegpt' | 'openai';
  ranking?: boolean;
  split?: string; subset?: string; folder?: string; num_samples?: number;
  columns?: LlamaFactoryColumns;
  tags?: LlamaFactoryTags;
  /** modelfab's extension: the stage, when the columns alone do not say. */
  stage?: Stage;
}
export type DatasetInfo = Record<string, DatasetInfoEntry>;

export interface LlamaFactorySpec {
  formatting: 'alpaca' | 'sharegpt';
  ranking: boolean;
  columns: Required<Pick<LlamaFactoryColumns, 'prompt' | 'query' | 'response' | 'messages'>> & LlamaFactoryColumns;
  tags: Required<LlamaFactoryTags>;
}

export const DEFAULT_TAGS: Required<LlamaFactoryTags> = {
  role_tag: 'from', content_tag: 'value', user_tag: 'human', assistant_tag: 'gpt', observation_tag: 'observation',
  function_tag: 'function_call', system_tag: 'system',
};

export function llamaFactorySpec(e: Pick<DatasetInfoEntry, 'formatting' | 'ranking' | 'columns' | 'tags'>): LlamaFactorySpec {
  const formatting = e.formatting === 'sharegpt' || e.formatting === 'openai' ? 'sharegpt' : 'alpaca';
  // LLaMA-Factory's "openai" formatting is sharegpt with OpenAI's role/content tags
  const baseTags = e.formatting === 'openai'
    ? { ...DEFAULT_TAGS, role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant', observation_tag: 'tool', function_tag: 'function_call' }
    : DEFAULT_TAGS;
  return {
    formatting,
    ranking: e.ranking === true,
    columns: { prompt: 'instruction', query: 'input', response: 'output', messages: 'conversations', ...(e.columns ?? {}) },
    tags: { ...baseTags, ...(e.tags ?? {}) },
  };
}

/** The stage a spec describes; `hasResponse` tells whether the data has the response column (alpaca pretraining has not). */
export function llamaFactoryStage(spec: LlamaFactorySpec, hasResponse: boolean): Stage {
  if (spec.ranking) return 'preference';
  if (spec.columns.kto_tag) return 'kto';
  if (spec.formatting === 'alpaca' && !hasResponse) return 'pretrain';
  return 'sft';
}

/** A (possibly dotted) column of a row. */
export function column(row: Record<string, unknown>, name: string | undefined): unknown {
  if (!name) return undefined;
  if (name in row) return row[name];
  let v: unknown = row;
  for (const k of name.split('.')) {
    if (!isObject(v)) return undefined;
    v = v[k];
  }
  return v;
}

function ktoLabel(ctx: RowContext, v: unknown, path: string): boolean | null {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'True' || v === 1 || v === '1') return true;
  if (v === 'false' || v === 'False' || v === 0 || v === '0') return false;
  return ctx.fail(path, v === undefined ? 'is missing (the KTO label)' : `must be true or false, found ${JSON.stringify(v)}`);
}

export function llamaFactoryRecord(ctx: RowContext, stage: Stage, spec: LlamaFactorySpec, r: unknown): PretrainRecord | SftRecord | PreferenceRecord | KtoRecord | null {
  if (!isObject(r)) return ctx.fail('', `record must be an object, found ${describeType(r)}`);
  for (const k of ['images', 'videos', 'audios'] as const) {
    const v = column(r, spec.columns[k]);
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) return ctx.fail(spec.columns[k]!, `${k} are not supported (text datasets only)`);
  }
  return spec.formatting === 'alpaca' ? alpaca(ctx, stage, spec, r) : sharegpt(ctx, stage, spec, r);
}

function alpaca(ctx: RowContext, stage: Stage, spec: LlamaFactorySpec, r: Record<string, unknown>) {
  const c = spec.columns;
  const prompt = ctx.str(column(r, c.prompt), c.prompt);
  if (stage === 'pretrain') return prompt === null ? null : { text: prompt };
  const query = ctx.str(column(r, c.query), c.query, true);
  const system = c.system ? ctx.str(column(r, c.system), c.system, true) : '';
  const tools = parseTools(ctx, column(r, c.tools), c.tools ?? 'tools');
  const messages: ChatMessage[] = [];
  if (system) messages.push({ role: 'system', content: system });
  const hist = c.history ? column(r, c.history) : undefined;
  if (hist !== undefined && hist !== null) {
    if (!Array.isArray(hist)) ctx.fail(c.history!, `must be an array of [instruction, response] pairs, found ${describeType(hist)}`);
    else hist.forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        ctx.fail(`${c.history}[${i}]`, 'must be a pair of strings [instruction, response]');
        return;
      }
      messages.push({ role: 'user', content: pair[0] }, { role: 'assistant', content: pair[1] });
    });
  }
  if (prompt === null || query === null || system === null || tools === null) return null;
  const content = query ? (prompt ? `${prompt}\n${query}` : query) : prompt;
  if (content.trim() === '') return ctx.fail(c.prompt, 'instruction and input are both empty');
  messages.push({ role: 'user', content });
  const withTools = <T extends object>(x: T) => (tools ? { ...x, tools } : x);
  if (stage === 'preference') {
    const chosen = ctx.str(column(r, c.chosen ?? 'chosen'), c.chosen ?? 'chosen');
    const rejected = ctx.str(column(r, c.rejected ?? 'rejected'), c.rejected ?? 'rejected');
    if (chosen === null || rejected === null || !ctx.ok) return null;
    return withTools({ messages, chosen: { role: 'assistant' as const, content: chosen }, rejected: { role: 'assistant' as const, content: rejected } });
  }
  const response = ctx.str(column(r, c.response), c.response);
  if (response === null) return null;
  if (response.trim() === '') return ctx.fail(c.response, 'is empty: nothing to train on');
  messages.push({ role: 'assistant', content: response });
  if (stage === 'kto') {
    const label = ktoLabel(ctx, column(r, c.kto_tag!), c.kto_tag!);
    if (label === null || !ctx.ok) return null;
    return withTools({ messages, label });
  }
  return ctx.ok ? withTools({ messages }) : null;
}

function toolCalls(ctx: RowContext, text: string, path: string): ToolCall[] | null {
  let v: unknown;
  try { v = JSON.parse(text); } catch { return ctx.fail(path, 'function call is not JSON ({"name": ..., "arguments": ...})'); }
  const list = Array.isArray(v) ? v : [v];
  const out: ToolCall[] = [];
  for (const x of list) {
    if (!isObject(x) || typeof x.name !== 'string') return ctx.fail(path, 'function call must be {"name": ..., "arguments": ...}');
    out.push({ name: x.name, arguments: typeof x.arguments === 'string' ? x.arguments : JSON.stringify(x.arguments ?? {}) });
  }
  return out;
}

function sharegpt(ctx: RowContext, stage: Stage, spec: LlamaFactorySpec, r: Record<string, unknown>) {
  const c = spec.columns, t = spec.tags;
  const raw = column(r, c.messages);
  if (!Array.isArray(raw)) return ctx.fail(c.messages, raw === undefined ? 'is missing' : `must be an array of messages, found ${describeType(raw)}`);
  const tools = parseTools(ctx, column(r, c.tools), c.tools ?? 'tools');
  let system = c.system ? ctx.str(column(r, c.system), c.system, true) : '';
  let turns = raw;
  let offset = 0;
  if (turns.length > 0 && isObject(turns[0]) && turns[0][t.role_tag] === t.system_tag) {
    const s = ctx.str(turns[0][t.content_tag], `${c.messages}[0].${t.content_tag}`);
    if (s !== null && !system) system = s;
    turns = turns.slice(1);
    offset = 1;
  }
  const userLike = new Set([t.user_tag, t.observation_tag]);
  const assistantLike = new Set([t.assistant_tag, t.function_tag]);
  const messages: ChatMessage[] = [];
  if (system) messages.push({ role: 'system', content: system });
  const toMessage = (m: unknown, path: string, expectUser: boolean | null): ChatMessage | null => {
    if (!isObject(m)) return ctx.fail(path, `must be a message object, found ${describeType(m)}`);
    const role = m[t.role_tag];
    const content = ctx.str(m[t.content_tag], `${path}.${t.content_tag}`);
    if (typeof role !== 'string') return ctx.fail(`${path}.${t.role_tag}`, role === undefined ? 'is missing' : 'must be a string');
    if (!userLike.has(role) && !assistantLike.has(role)) {
      return ctx.fail(`${path}.${t.role_tag}`, `unknown role ${JSON.stringify(role)} (expected ${[...userLike, ...assistantLike].join(', ')})`);
    }
    if (expectUser !== null && userLike.has(role) !== expectUser) {
      return ctx.fail(`${path}.${t.role_tag}`, `turns must alternate: expected ${expectUser ? [...userLike].join(' or ') : [...assistantLike].join(' or ')}, found ${JSON.stringify(role)}`);
    }
    if (content === null) return null;
    if (role === t.function_tag) {
      const calls = toolCalls(ctx, content, `${path}.${t.content_tag}`);
      return calls ? { role: 'assistant', content: '', tool_calls: calls } : null;
    }
    return { role: role === t.user_tag ? 'user' : role === t.observation_tag ? 'tool' : 'assistant', content };
  };
  turns.forEach((m, i) => {
    const x = toMessage(m, `${c.messages}[${i + offset}]`, i % 2 === 0);
    if (x) messages.push(x);
  });
  if (tools === null || system === null || !ctx.ok) return null;
  const withTools = <T extends object>(x: T) => (tools ? { ...x, tools } : x);
  if (turns.length === 0) return ctx.fail(c.messages, 'has no turns');
  if (stage === 'preference') {
    if (turns.length % 2 !== 1) return ctx.fail(c.messages, 'a preference prompt must end with a user turn');
    const chosen = pick(ctx, r, c.chosen ?? 'chosen', toMessage);
    const rejected = pick(ctx, r, c.rejected ?? 'rejected', toMessage);
    if (!chosen || !rejected) return null;
    return withTools({ messages, chosen, rejected });
  }
  if (turns.length % 2 !== 0) return ctx.fail(c.messages, 'the conversation must end with an assistant turn');
  if (stage === 'kto') {
    const label = ktoLabel(ctx, column(r, c.kto_tag!), c.kto_tag!);
    return label === null ? null : withTools({ messages, label });
  }
  return withTools({ messages });
}

/** A ranking reply: one message object with tags, or plain text. */
function pick(ctx: RowContext, r: Record<string, unknown>, col: string,
  toMessage: (m: unknown, path: string, expectUser: boolean | null) => ChatMessage | null): ChatMessage | null {
  const v = column(r, col);
  if (typeof v === 'string') return { role: 'assistant', content: v };
  if (v === undefined) return ctx.fail(col, 'is missing');
  const m = toMessage(Array.isArray(v) && v.length === 1 ? v[0] : v, col, false);
  return m;
}
