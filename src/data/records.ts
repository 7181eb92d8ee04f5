/**
 * The normalised records every dataset format turns into: one record type per training stage.
 *
 *   pretrain    PretrainRecord   {text}
 *   sft         SftRecord        {messages, tools?}
 *   preference  PreferenceRecord {messages (the prompt), chosen, rejected, tools?}
 *   kto         KtoRecord        {messages (prompt and the judged assistant reply last), label, tools?}
 *
 * Messages are the engine's chat messages (role system|user|assistant|tool, content, per-message `weight`) plus the
 * tool-call fields of OpenAI's format. `engineMessages` flattens tool calls and tool definitions into plain text so the
 * engine's chat templates (which know only role + content) can render them; the same flattening is used for training,
 * previews and statistics, so they never disagree.
 */
import type { ChatRole } from '../engine/tokenizer/tokenizer-exports.ts';

export type Stage = 'pretrain' | 'sft' | 'preference' | 'kto';
export const STAGES: readonly Stage[] = ['pretrain', 'sft', 'preference', 'kto'];

export interface ToolCall {
  id?: string;
  name: string;
  /** The arguments as JSON text (OpenAI's shape). */
  arguments: string;
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant turns only: 0 = not trained on. Default 1. */
  weight?: 0 | 1;
  /** Assistant turns that call tools. */
  tool_calls?: ToolCall[];
  /** Tool turns: the call this result answers. */
  tool_call_id?: string;
  name?: string;
}

export interface PretrainRecord { text: string }
export interface SftRecord { messages: ChatMessage[]; tools?: unknown[] }
export interface PreferenceRecord { messages: ChatMessage[]; chosen: ChatMessage; rejected: ChatMessage; tools?: unknown[] }
export interface KtoRecord { messages: ChatMessage[]; label: boolean; tools?: unknown[] }

export interface RecordOf {
  pretrain: PretrainRecord;
  sft: SftRecord;
  preference: PreferenceRecord;
  kto: KtoRecord;
}
export type AnyRecord = PretrainRecord | SftRecord | PreferenceRecord | KtoRecord;

/** Every string a record holds, in order (for sizes, languages, placeholders and near-duplicate detection). */
export function recordTexts(stage: Stage, r: AnyRecord): string[] {
  if (stage === 'pretrain') return [(r as PretrainRecord).text];
  const out: string[] = [];
  const add = (m: ChatMessage) => {
    out.push(m.content);
    for (const c of m.tool_calls ?? []) out.push(c.name, c.arguments);
  };
  const chat = r as SftRecord;
  chat.messages.forEach(add);
  if (stage === 'preference') { add((r as PreferenceRecord).chosen); add((r as PreferenceRecord).rejected); }
  if (chat.tools) out.push(JSON.stringify(chat.tools));
  return out;
}

/** Applies `f` to every string of a record (returns a new record). */
export function mapRecordTexts<R extends AnyRecord>(stage: Stage, r: R, f: (s: string) => string): R {
  if (stage === 'pretrain') return { ...(r as PretrainRecord), text: f((r as PretrainRecord).text) } as R;
  const m = (x: ChatMessage): ChatMessage => ({ ...x, content: f(x.content) });
  const out: Record<string, unknown> = { ...r, messages: (r as SftRecord).messages.map(m) };
  if (stage === 'preference') {
    out.chosen = m((r as PreferenceRecord).chosen);
    out.rejected = m((r as PreferenceRecord).rejected);
  }
  return out as unknown as R;
}

/** Tool calls as the text an assistant turn is trained to produce: one JSON object a line. */
export function toolCallText(calls: readonly ToolCall[]): string {
  return calls.map((c) => JSON.stringify({ name: c.name, arguments: parseArgs(c.arguments) })).join('\n');
}

function parseArgs(s: string): unknown {
  try { return JSON.parse(s); } catch { return s; }
}

/**
 * Plain role + content messages for the engine's chat templates: tool calls become JSON text after the content,
 * tool definitions are appended to the system prompt (a system turn is added when there is none).
 */
export function engineMessages(messages: readonly ChatMessage[], tools?: readonly unknown[]): { role: ChatRole; content: string; weight?: 0 | 1 }[] {
  const out = messages.map((m) => {
    let content = m.content;
    if (m.tool_calls && m.tool_calls.length > 0) content = content ? `${content}\n${toolCallText(m.tool_calls)}` : toolCallText(m.tool_calls);
    const e: { role: ChatRole; content: string; weight?: 0 | 1 } = { role: m.role, content };
    if (m.weight !== undefined) e.weight = m.weight;
    return e;
  });
  if (tools && tools.length > 0) {
    const toolText = `# Tools\n\nYou may call these functions:\n${tools.map((t) => JSON.stringify(t)).join('\n')}`;
    if (out.length > 0 && out[0].role === 'system') out[0] = { ...out[0], content: `${out[0].content}\n\n${toolText}` };
    else out.unshift({ role: 'system', content: toolText });
  }
  return out;
}

/** The conversation a record trains on: SFT as is, preference with the chosen reply, KTO as is. */
export function recordChat(stage: Stage, r: AnyRecord): ChatMessage[] {
  if (stage === 'preference') return [...(r as PreferenceRecord).messages, (r as PreferenceRecord).chosen];
  if (stage === 'pretrain') return [];
  return (r as SftRecord).messages;
}
