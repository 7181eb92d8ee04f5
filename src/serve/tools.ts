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
import type { ChatMessageIn, ToolCallOut, ToolChoice, ToolDef } from '../openai/wire-types.ts';
import { BackendError, type GenerateCallbacks, type GenerateParams, type GenerateResult, type ModelBackend } from './model-backend.ts';

export type { ToolCallOut, ToolChoice, ToolDef };

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
