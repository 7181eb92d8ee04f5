/**
 * OpenAI's fine-tuning formats:
 *   chat        {"messages": [{role, content, weight?, tool_calls?, tool_call_id?, name?}], "tools"?: [...]}
 *   preference  {"input": {"messages": [...], "tools"?}, "preferred_output": [assistant], "non_preferred_output": [assistant]}
 *   completion  {"prompt": "...", "completion": "..."} (the legacy format, read as one user and one assistant turn)
 * and a KTO variant of chat: {"messages": [..., assistant], "label": true|false}.
 *
 * The rules are OpenAI's format checks: known roles and keys only, text content (string or text parts), weight 0/1 on
 * assistant turns only, at least one user and one assistant message, something to train on.
 */
import type { ChatMessage, KtoRecord, PreferenceRecord, SftRecord, ToolCall } from '../records.ts';
import { describeType } from '../sources.ts';
import { isObject, parseTools, type RowContext } from './row-context.ts';

const ROLES: Record<string, ChatMessage['role']> = {
  system: 'system', developer: 'system', user: 'user', assistant: 'assistant', tool: 'tool', function: 'tool',
};
const MESSAGE_KEYS = new Set(['role', 'content', 'name', 'weight', 'tool_calls', 'tool_call_id', 'function_call', 'refusal']);

/** One message in OpenAI's shape, or null after reporting its problems. */
export function openaiMessage(ctx: RowContext, m: unknown, path: string): ChatMessage | null {
  if (!isObject(m)) return ctx.fail(path, `must be a message object, found ${describeType(m)}`);
  let ok = true;
  const bad = (p: string, msg: string) => { ok = false; ctx.fail(`${path}.${p}`, msg); };
  for (const k of Object.keys(m)) if (!MESSAGE_KEYS.has(k)) bad(k, `unrecognized message key '${k}'`);
  const role = typeof m.role === 'string' ? ROLES[m.role] : undefined;
  if (m.role === undefined) bad('role', 'is missing');
  else if (role === undefined) bad('role', `unknown role ${JSON.stringify(m.role)} (expected system, user, assistant or tool)`);
  const out: ChatMessage = { role: role ?? 'user', content: '' };
  // tool calls (and the legacy function_call)
  const calls: ToolCall[] = [];
  if (m.tool_calls !== undefined) {
    if (role !== 'assistant') bad('tool_calls', 'only assistant messages can have tool_calls');
    if (!Array.isArray(m.tool_calls)) bad('tool_calls', `must be an array, found ${describeType(m.tool_calls)}`);
    else m.tool_calls.forEach((c, i) => {
      const f = isObject(c) && isObject(c.function) ? c.function : null;
      if (!f || typeof f.name !== 'string') { bad(`tool_calls[${i}]`, 'must be {id, type: "function", function: {name, arguments}}'); return; }
      const args = typeof f.arguments === 'string' ? f.arguments : JSON.stringify(f.arguments ?? {});
      calls.push({ ...(isObject(c) && typeof c.id === 'string' ? { id: c.id } : {}), name: f.name, arguments: args });
    });
  }
  if (m.function_call !== undefined) {
    const f = m.function_call;
    if (!isObject(f) || typeof f.name !== 'string') bad('function_call', 'must be {name, arguments}');
    else calls.push({ name: f.name, arguments: typeof f.arguments === 'string' ? f.arguments : JSON.stringify(f.arguments ?? {}) });
  }
  if (calls.length > 0) out.tool_calls = calls;
  // content: a string, text parts, or absent/null on an assistant turn that calls tools
  const c = m.content;
  if (typeof c === 'string') out.content = c;
  else if (Array.isArray(c)) {
    const texts: string[] = [];
    c.forEach((part, i) => {
      if (isObject(part) && part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
      else bad(`content[${i}]`, `only text content parts are supported, found ${isObject(part) ? `type ${JSON.stringify(part.type)}` : describeType(part)}`);
    });
    out.content = texts.join('');
  } else if ((c === undefined || c === null) && calls.length > 0) out.content = '';
  else if (c === undefined) bad('content', 'is missing');
  else bad('content', `must be a string, found ${describeType(c)}`);
  if (m.weight !== undefined) {
    if (m.weight !== 0 && m.weight !== 1) bad('weight', `must be 0 or 1, found ${JSON.stringify(m.weight)}`);
    else if (role !== 'assistant') bad('weight', 'weight is only allowed on assistant messages');
    else out.weight = m.weight;
  }
  if (m.tool_call_id !== undefined) {
    if (typeof m.tool_call_id !== 'string') bad('tool_call_id', 'must be a string');
    else out.tool_call_id = m.tool_call_id;
  }
  if (m.name !== undefined) {
    if (typeof m.name !== 'string') bad('name', 'must be a string');
    else out.name = m.name;
  }
  return ok ? out : null;
}

function messageList(ctx: RowContext, v: unknown, path: string): ChatMessage[] | null {
  if (v === undefined) return ctx.fail(path, 'is missing');
  if (!Array.isArray(v)) return ctx.fail(path, `must be an array of messages, found ${describeType(v)}`);
  if (v.length === 0) return ctx.fail(path, 'is empty');
  const out: ChatMessage[] = [];
  let ok = true;
  v.forEach((m, i) => {
    const x = openaiMessage(ctx, m, `${path}[${i}]`);
    if (x) out.push(x); else ok = false;
  });
  return ok ? out : null;
}

/** The conversation-level rules of OpenAI's format check. */
export function checkChat(ctx: RowContext, messages: readonly ChatMessage[], path: string, needAssistant = true): boolean {
  let ok = true;
  if (!messages.some((m) => m.role === 'user')) { ctx.fail(path, 'no user message'); ok = false; }
  if (needAssistant) {
    const assistants = messages.filter((m) => m.role === 'assistant');
    if (assistants.length === 0) { ctx.fail(path, 'no assistant message'); ok = false; }
    else if (assistants.every((m) => m.weight === 0)) { ctx.fail(path, 'every assistant message has weight 0: nothing to train on'); ok = false; }
  }
  return ok;
}

function checkKeys(ctx: RowContext, r: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(r)) if (!allowed.includes(k)) ctx.fail(k, `unrecognized key '${k}' (expected ${allowed.join(', ')})`);
}

export function openaiChat(ctx: RowContext, r: unknown): SftRecord | null {
  if (!isObject(r)) return ctx.fail('', `record must be an object, found ${describeType(r)}`);
  const messages = messageList(ctx, r.messages, 'messages');
  const tools = parseTools(ctx, r.tools ?? r.functions, r.tools !== undefined ? 'tools' : 'functions');
  if (!messages || tools === null) return null;
  if (!checkChat(ctx, messages, 'messages')) return null;
  return tools ? { messages, tools } : { messages };
}

export function openaiKto(ctx: RowContext, r: unknown): KtoRecord | null {
  if (!isObject(r)) return ctx.fail('', `record must be an object, found ${describeType(r)}`);
  const messages = messageList(ctx, r.messages, 'messages');
  if (typeof r.label !== 'boolean') ctx.fail('label', r.label === undefined ? 'is missing' : `must be true or false, found ${describeType(r.label)}`);
  const tools = parseTools(ctx, r.tools, 'tools');
  if (!messages || tools === null || typeof r.label !== 'boolean') return null;
  if (!checkChat(ctx, messages, 'messages')) return null;
  if (messages[messages.length - 1].role !== 'assistant') return ctx.fail('messages', 'the last message must be the assistant reply the label judges');
  return { messages, label: r.label, ...(tools ? { tools } : {}) };
}

function singleAssistant(ctx: RowContext, v: unknown, path: string): ChatMessage | null {
  const list = Array.isArray(v) ? v : v === undefined ? undefined : [v];
  if (list === undefined) return ctx.fail(path, 'is missing');
  if (list.length !== 1) return ctx.fail(path, `must hold exactly one assistant message, found ${list.length}`);
  const m = openaiMessage(ctx, list[0], `${path}[0]`);
  if (m && m.role !== 'assistant') return ctx.fail(`${path}[0].role`, `must be assistant, found ${m.role}`);
  return m;
}

export function openaiPreference(ctx: RowContext, r: unknown): PreferenceRecord | null {
  if (!isObject(r)) return ctx.fail('', `record must be an object, found ${describeType(r)}`);
  checkKeys(ctx, r, ['input', 'preferred_output', 'non_preferred_output']);
  if (!isObject(r.input)) return ctx.fail('input', r.input === undefined ? 'is missing' : `must be an object with messages, found ${describeType(r.input)}`);
  const messages = messageList(ctx, r.input.messages, 'input.messages');
  const tools = parseTools(ctx, r.input.tools, 'input.tools');
  const chosen = singleAssistant(ctx, r.preferred_output, 'preferred_output');
  const rejected = singleAssistant(ctx, r.non_preferred_output, 'non_preferred_output');
  if (!messages || !chosen || !rejected || tools === null || !ctx.ok) return null;
  if (!checkChat(ctx, messages, 'input.messages', false)) return null;
  if (messages[messages.length - 1].role === 'assistant') return ctx.fail('input.messages', 'the prompt must not end with an assistant message');
  return { messages, chosen, rejected, ...(tools ? { tools } : {}) };
}

export function openaiCompletion(ctx: RowContext, r: unknown): SftRecord | null {
  if (!isObject(r)) return ctx.fail('', `record must be an object, found ${describeType(r)}`);
  const prompt = ctx.str(r.prompt, 'prompt');
  const completion = ctx.str(r.completion, 'completion');
  if (prompt === null || completion === null) return null;
  if (completion.trim() === '') return ctx.fail('completion', 'is empty: nothing to train on');
  return { messages: [{ role: 'user', content: prompt }, { role: 'assistant', content: completion }] };
}
