/**
 * The formats modelfab reads, as one typed table, and detection from the records themselves.
 *
 *   openai-chat        {"messages": [{"role", "content"}...], "tools"?}                       -> sft
 *   openai-preference  {"input": {"messages"}, "preferred_output", "non_preferred_output"}     -> preference
 *   openai-kto         {"messages": [...], "label": bool}                                     -> kto
 *   openai-completion  {"prompt", "completion"}                                               -> sft
 *   alpaca / sharegpt  LLaMA-Factory (columns and tags as in dataset_info.json)               -> any stage
 *   text               {"text"} JSONL, .txt (a record a line), .md (a record a document)      -> pretrain
 */
import type { AnyRecord, Stage } from '../records.ts';
import type { Row } from '../sources.ts';
import { isObject, type RowContext } from './row-context.ts';
import { llamaFactoryRecord, llamaFactorySpec, llamaFactoryStage, column, type LlamaFactorySpec, DEFAULT_TAGS } from './llamafactory.ts';
import { openaiChat, openaiCompletion, openaiKto, openaiPreference } from './openai-format.ts';

export type FormatName = 'openai-chat' | 'openai-preference' | 'openai-kto' | 'openai-completion' | 'alpaca' | 'sharegpt' | 'text';
export const FORMAT_NAMES: readonly FormatName[] = ['openai-chat', 'openai-preference', 'openai-kto', 'openai-completion', 'alpaca', 'sharegpt', 'text'];

export interface FormatSpec {
  format: FormatName;
  stage: Stage;
  /** For alpaca and sharegpt. */
  lf?: LlamaFactorySpec;
  /** For text: the column holding the text. */
  textColumn?: string;
}

/** Normalises one row under a spec; null after reporting its problems. */
export function normaliseRow(ctx: RowContext, spec: FormatSpec, value: unknown): AnyRecord | null {
  switch (spec.format) {
    case 'openai-chat': return openaiChat(ctx, value);
    case 'openai-preference': return openaiPreference(ctx, value);
    case 'openai-kto': return openaiKto(ctx, value);
    case 'openai-completion': return openaiCompletion(ctx, value);
    case 'text': {
      if (!isObject(value)) return ctx.fail('', 'record must be an object with a "text" field');
      const t = ctx.str(value[spec.textColumn ?? 'text'], spec.textColumn ?? 'text');
      if (t === null) return null;
      if (t.trim() === '') return ctx.fail(spec.textColumn ?? 'text', 'is empty');
      return { text: t };
    }
    case 'alpaca':
    case 'sharegpt':
      return llamaFactoryRecord(ctx, spec.stage, spec.lf!, value);
  }
}

/** A spec from a dataset_info.json entry (its stage decided by the columns and, for alpaca, by the data). */
export function specFromInfo(entry: Parameters<typeof llamaFactorySpec>[0] & { stage?: Stage }, rows: readonly Row[]): FormatSpec {
  const lf = llamaFactorySpec(entry);
  const hasResponse = rows.slice(0, 50).some((r) => isObject(r.value) && column(r.value, lf.columns.response) !== undefined);
  const stage = entry.stage ?? llamaFactoryStage(lf, hasResponse);
  return { format: lf.formatting, stage, lf };
}

function roleTags(first: unknown): Partial<typeof DEFAULT_TAGS> {
  if (isObject(first) && 'role' in first && 'content' in first) {
    return { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant', system_tag: 'system', observation_tag: 'tool' };
  }
  return {};
}

/** Detects the format from the first records (the most common verdict over up to 20 rows). Null when unknown. */
export function detectFormat(rows: readonly Row[]): FormatSpec | null {
  const votes = new Map<string, { spec: FormatSpec; n: number }>();
  for (const r of rows.slice(0, 20)) {
    const s = detectOne(r.value);
    if (!s) continue;
    const key = JSON.stringify(s);
    const v = votes.get(key);
    if (v) v.n++; else votes.set(key, { spec: s, n: 1 });
  }
  let best: { spec: FormatSpec; n: number } | null = null;
  for (const v of votes.values()) if (!best || v.n > best.n) best = v;
  return best?.spec ?? null;
}

function detectOne(v: unknown): FormatSpec | null {
  if (!isObject(v)) return null;
  const has = (k: string) => k in v && v[k] !== undefined;
  const hasKto = has('label') || has('kto_tag');
  const ktoCol = has('label') ? 'label' : 'kto_tag';
  if (isObject(v.input) && (has('preferred_output') || has('non_preferred_output'))) return { format: 'openai-preference', stage: 'preference' };
  for (const col of ['messages', 'conversations']) {
    if (!Array.isArray(v[col])) continue;
    const msgs = v[col] as unknown[];
    const first = msgs[0];
    const openaiShape = col === 'messages' && (msgs.length === 0 || (isObject(first) && 'role' in first));
    const ranking = has('chosen') && has('rejected');
    if (openaiShape && !ranking) return hasKto ? { format: 'openai-kto', stage: 'kto' } : { format: 'openai-chat', stage: 'sft' };
    const entry = {
      formatting: 'sharegpt' as const, ranking,
      columns: { messages: col, ...(has('tools') ? { tools: 'tools' } : {}), ...(has('system') ? { system: 'system' } : {}), ...(hasKto ? { kto_tag: ktoCol } : {}) },
      tags: roleTags(first),
    };
    const lf = llamaFactorySpec(entry);
    return { format: 'sharegpt', stage: llamaFactoryStage(lf, true), lf };
  }
  if (typeof v.prompt === 'string' && (has('completion') || has('response') || has('chosen'))) {
    if (has('completion') && !has('chosen') && !hasKto) return { format: 'openai-completion', stage: 'sft' };
    const response = has('completion') ? 'completion' : 'response';
    const entry = { formatting: 'alpaca' as const, ranking: has('chosen') && has('rejected'), columns: { prompt: 'prompt', query: 'query', response, ...(hasKto ? { kto_tag: ktoCol } : {}), ...(has('system') ? { system: 'system' } : {}) } };
    const lf = llamaFactorySpec(entry);
    return { format: 'alpaca', stage: llamaFactoryStage(lf, true), lf };
  }
  if (has('instruction') && (has('output') || has('chosen'))) {
    const entry = {
      formatting: 'alpaca' as const, ranking: has('chosen') && has('rejected'),
      columns: {
        prompt: 'instruction', query: 'input', response: 'output',
        ...(has('history') ? { history: 'history' } : {}), ...(has('system') ? { system: 'system' } : {}),
        ...(has('tools') ? { tools: 'tools' } : {}), ...(hasKto ? { kto_tag: ktoCol } : {}),
      },
    };
    const lf = llamaFactorySpec(entry);
    return { format: 'alpaca', stage: llamaFactoryStage(lf, true), lf };
  }
  if (typeof v.text === 'string') return { format: 'text', stage: 'pretrain', textColumn: 'text' };
  for (const k of ['content', 'raw_content', 'document']) if (typeof v[k] === 'string' && Object.keys(v).length <= 3) return { format: 'text', stage: 'pretrain', textColumn: k };
  return null;
}
