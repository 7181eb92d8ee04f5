/**
 * Function calling (OpenAI's `tools`, `tool_choice`, `parallel_tool_calls`) for every backend.
 *
 * An OpenAI-compatible endpoint does it natively: the request's tools go upstream and its `tool_calls` come back
 * (src/serve/http-backend.ts). A local model (llama.cpp, the engine) learns tools in fine-tuning the way
 * `src/data/records.ts` renders them (`engineMessages`): the definitions as JSON lines in the system prompt, each
 * call as one JSON line `{"name": …, "arguments": {…}}` after the answer's text, tool results as `tool` turns. Serving
 * renders the same prompt, so a model fine-tuned on tool-use data calls tools through the gateway, and reads calls
 * back from the answer: with `tool_choice` "auto" any such trailing line is a call (streamed text holds a line back
 * only while it could still be one); with "required" or a named function the output is constrained to one call by
 * a JSON schema where the backend can (llama.cpp), and refused where it cannot (the engine), as OpenAI guarantees a
 * call then.
 */
import { randomBytes } from 'node:crypto';
import { engineMessages } from '../data/records.ts';
import { ServeError } from './deployments.ts';
import { BackendError, type ChatMessageIn, type GenerateCallbacks, type GenerateParams, type GenerateResult, type ModelBackend } from './model-backend.ts';

export interface ToolDef {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ToolCallOut {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A 400 naming the request field, as openai.ts answers every bad field. */
const bad = (param: string, message: string) => new ServeError(400, message, 'invalid_value', param);

/** Validates `tools`, `tool_choice` and `parallel_tool_calls` of a chat request (OpenAI's rules and messages). */
export function parseTools(b: Record<string, unknown>): { tools?: ToolDef[]; toolChoice?: ToolChoice; parallel: boolean } {
  if (b.functions !== undefined && b.functions !== null) throw bad('functions', "'functions' is deprecated and not supported: use 'tools'.");
  const parallel = b.parallel_tool_calls === undefined || b.parallel_tool_calls === null ? true : b.parallel_tool_calls;
  if (typeof parallel !== 'boolean') throw bad('parallel_tool_calls', "Invalid type for 'parallel_tool_calls': expected a boolean.");
  const raw = b.tools;
  if (raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0)) {
    if (b.tool_choice !== undefined && b.tool_choice !== null && b.tool_choice !== 'none' && b.tool_choice !== 'auto') {
      throw bad('tool_choice', "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.");
    }
    return { parallel };
  }
  if (!Array.isArray(raw)) throw bad('tools', "Invalid type for 'tools': expected an array of tool objects.");
  if (raw.length > 128) throw bad('tools', "Invalid 'tools': at most 128 tools.");
  const seen = new Set<string>();
  const tools = raw.map((t: unknown, i: number): ToolDef => {
    const o = t as Record<string, unknown> | null;
    if (!o || typeof o !== 'object' || o.type !== 'function') throw bad(`tools[${i}].type`, `Invalid value for 'tools[${i}].type': expected 'function'.`);
    const f = o.function as Record<string, unknown> | undefined;
    if (!f || typeof f !== 'object') throw bad(`tools[${i}].function`, `Missing required parameter: 'tools[${i}].function'.`);
    if (typeof f.name !== 'string' || !NAME.test(f.name)) throw bad(`tools[${i}].function.name`, `Invalid 'tools[${i}].function.name': expected 1-64 characters of a-z, A-Z, 0-9, _ and -.`);
    if (seen.has(f.name)) throw bad(`tools[${i}].function.name`, `Invalid 'tools': the function name '${f.name}' appears twice.`);
    seen.add(f.name);
    if (f.description !== undefined && typeof f.description !== 'string') throw bad(`tools[${i}].function.description`, `Invalid type for 'tools[${i}].function.description': expected a string.`);
    if (f.parameters !== undefined && (typeof f.parameters !== 'object' || f.parameters === null || Array.isArray(f.parameters))) {
      throw bad(`tools[${i}].function.parameters`, `Invalid type for 'tools[${i}].function.parameters': expected a JSON schema object.`);
    }
    return { type: 'function', function: { name: f.name, ...(f.description !== undefined ? { description: f.description as string } : {}), ...(f.parameters ? { parameters: f.parameters as Record<string, unknown> } : {}), ...(f.strict !== undefined ? { strict: Boolean(f.strict) } : {}) } };
  });
  let toolChoice: ToolChoice = 'auto';
  const c = b.tool_choice;
  if (c !== undefined && c !== null) {
    if (c === 'none' || c === 'auto' || c === 'required') toolChoice = c;
    else if (typeof c === 'object' && !Array.isArray(c) && (c as { type?: unknown }).type === 'function' && typeof (c as { function?: { name?: unknown } }).function?.name === 'string') {
      const name = (c as { function: { name: string } }).function.name;
      if (!seen.has(name)) throw bad('tool_choice', `Invalid value for 'tool_choice': no function named '${name}' is in 'tools'.`);
      toolChoice = { type: 'function', function: { name } };
    } else throw bad('tool_choice', "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": …}}.");
  }
  return { tools, toolChoice, parallel };
}

/** A message's tool fields (assistant `tool_calls`, tool `tool_call_id`), validated. */
export function parseMessageTools(r: Record<string, unknown>, i: number): Pick<ChatMessageIn, 'tool_calls' | 'tool_call_id' | 'name'> {
  const out: Pick<ChatMessageIn, 'tool_calls' | 'tool_call_id' | 'name'> = {};
  if (r.tool_calls !== undefined && r.tool_calls !== null) {
    if (r.role !== 'assistant') throw bad(`messages[${i}].tool_calls`, `'messages[${i}].tool_calls' is only allowed on assistant messages.`);
    if (!Array.isArray(r.tool_calls)) throw bad(`messages[${i}].tool_calls`, `Invalid type for 'messages[${i}].tool_calls': expected an array.`);
    out.tool_calls = r.tool_calls.map((c: unknown, j: number) => {
      const o = c as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } } | null;
      if (!o || typeof o.id !== 'string' || typeof o.function?.name !== 'string' || typeof o.function.arguments !== 'string') {
        throw bad(`messages[${i}].tool_calls[${j}]`, `Invalid 'messages[${i}].tool_calls[${j}]': expected {id, type: 'function', function: {name, arguments (a JSON string)}}.`);
      }
      return { id: o.id, type: 'function' as const, function: { name: o.function.name, arguments: o.function.arguments } };
    });
  }
  if (r.role === 'tool') {
    if (typeof r.tool_call_id !== 'string' || !r.tool_call_id) throw bad(`messages[${i}].tool_call_id`, `Missing required parameter: 'messages[${i}].tool_call_id'.`);
    out.tool_call_id = r.tool_call_id;
  }
  if (typeof r.name === 'string') out.name = r.name;
  return out;
}

/**
 * The conversation a local model sees: tool definitions in the system prompt and earlier calls as JSON lines,
 * exactly as fine-tuning renders them (src/data/records.ts engineMessages).
 */
export function promptWithTools(messages: readonly ChatMessageIn[], tools: readonly ToolDef[]): ChatMessageIn[] {
  const conv = messages.map((m) => ({
    role: (m.role === 'developer' ? 'system' : m.role) as 'system' | 'user' | 'assistant' | 'tool', content: m.content,
    ...(m.tool_calls ? { tool_calls: m.tool_calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })) } : {}),
  }));
  return engineMessages(conv, tools).map((m) => ({ role: m.role, content: m.content }));
}

/** The JSON schema of one call line: `{"name": <a tool>, "arguments": <its parameters>}`. */
export function callSchema(tools: readonly ToolDef[], choice: ToolChoice): Record<string, unknown> {
  const one = (t: ToolDef) => ({
    type: 'object', properties: { name: { const: t.function.name }, arguments: t.function.parameters ?? { type: 'object', properties: {} } }, required: ['name', 'arguments'],
  });
  const named = typeof choice === 'object' ? tools.filter((t) => t.function.name === choice.function.name) : tools;
  return named.length === 1 ? one(named[0]) : { oneOf: named.map(one) };
}

const callId = () => `call_${randomBytes(12).toString('base64url')}`;

/** One output line as a call of a declared tool, or null. */
export function parseCallLine(line: string, names: ReadonlySet<string>): ToolCallOut | null {
  const s = line.trim();
  if (!s.startsWith('{') || !s.endsWith('}')) return null;
  let j: unknown;
  try { j = JSON.parse(s); } catch { return null; }
  const o = j as { name?: unknown; arguments?: unknown };
  if (!o || typeof o.name !== 'string' || !names.has(o.name)) return null;
  const args = o.arguments === undefined ? {} : o.arguments;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return null;
  return { id: callId(), type: 'function', function: { name: o.name, arguments: JSON.stringify(args) } };
}

/**
 * Splits a streamed answer into text and calls: text flows through `emit` at once, except a line that starts with
 * "{", which is held until it ends and then either becomes a call or is released as text.
 */
export class ToolCallFilter {
  readonly calls: ToolCallOut[] = [];
  private held = '';
  private holding = false;
  private atLineStart = true;
  private pendingNewlines = '';

  constructor(private readonly names: ReadonlySet<string>, private readonly emit: (text: string) => void) {}

  push(text: string): void {
    for (const ch of text) this.char(ch);
  }

  private char(ch: string): void {
    if (this.holding) {
      if (ch === '\n') { this.endLine(); this.atLineStart = true; this.pendingNewlines += '\n'; } else this.held += ch;
      return;
    }
    if (this.atLineStart && (ch === ' ' || ch === '\t')) { this.held += ch; return; }
    if (this.atLineStart && ch === '{') { this.holding = true; this.held += ch; return; }
    if (ch === '\n') {
      // newlines are held too: the ones before a call line are not part of the text
      this.flushText();
      this.pendingNewlines += '\n';
      this.atLineStart = true;
      return;
    }
    this.flushText();
    this.atLineStart = false;
    this.emit(ch);
  }

  private flushText(): void {
    const s = this.pendingNewlines + this.held;
    this.pendingNewlines = '';
    this.held = '';
    if (s) this.emit(s);
  }

  private endLine(): void {
    const call = parseCallLine(this.held, this.names);
    this.holding = false;
    if (call) { this.calls.push(call); this.held = ''; this.pendingNewlines = ''; } else { this.flushText(); this.atLineStart = false; }
  }

  /** The end of the answer: a last held line is a call or text. */
  end(): void {
    if (this.holding) this.endLine();
    else this.held = '';
    this.pendingNewlines = '';
  }
}

/**
 * Generation with tools on a local backend: renders the tools into the prompt, constrains the output to one call
 * when a call is required (backends with JSON-schema constraints), and reads the calls back from the answer.
 */
export async function generateWithPromptTools(backend: ModelBackend, p: GenerateParams, cb: GenerateCallbacks): Promise<GenerateResult> {
  const tools = p.tools ?? [];
  const choice = p.toolChoice ?? 'auto';
  if (choice === 'none' || tools.length === 0 || p.prompt.kind !== 'chat') return backend.generate({ ...p, tools: undefined, toolChoice: undefined }, cb);
  const prompt = { kind: 'chat' as const, messages: promptWithTools(p.prompt.messages, tools) };
  const names = new Set(tools.map((t) => t.function.name));
  if (choice !== 'auto') {
    if (!backend.capabilities.jsonSchema) {
      throw new BackendError(400, `tool_choice ${typeof choice === 'object' ? `{function: ${choice.function.name}}` : `"${choice}"`} needs a backend that can constrain its output to a call (llama.cpp or an endpoint); this model runs on the ${backend.kind} backend: use tool_choice "auto"`, 'unsupported_parameter', 'tool_choice');
    }
    let text = '';
    const r = await backend.generate({ ...p, prompt, tools: undefined, toolChoice: undefined, json: { schema: callSchema(tools, choice) } }, { onText: (t) => { text += t; } });
    const call = parseCallLine(text, names);
    if (!call) {
      if (r.finishReason === 'length') throw new BackendError(400, `the tool call was cut off by max_tokens (${r.completionTokens} tokens: ${JSON.stringify(text.slice(0, 120))}…): raise max_tokens`, 'invalid_value', 'max_tokens');
      if (r.finishReason === 'abort') return r;
      throw new BackendError(500, 'the model did not produce a valid tool call', 'tool_call_failed');
    }
    return { ...r, finishReason: 'tool_calls', toolCalls: [call] };
  }
  const filter = new ToolCallFilter(names, (t) => cb.onText(t));
  const r = await backend.generate({ ...p, prompt, tools: undefined, toolChoice: undefined, logprobs: undefined }, { onText: (t) => filter.push(t) });
  filter.end();
  const calls = p.parallelToolCalls === false ? filter.calls.slice(0, 1) : filter.calls;
  return calls.length ? { ...r, finishReason: r.finishReason === 'abort' ? 'abort' : 'tool_calls', toolCalls: calls } : r;
}
