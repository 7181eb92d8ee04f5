/**
 * OpenAI's requests for /v1/chat/completions, /v1/completions and /v1/embeddings, validated strictly: wrong types,
 * out-of-range values and unsupported features are 400s naming the offending `param`, with OpenAI's messages and
 * codes, before anything else happens. Function calling (`tools`, `tool_choice`, `parallel_tool_calls`, and the
 * tool fields of messages) is validated by OpenAI's rules here too.
 *
 * Extensions, ignored by OpenAI's clients and passed through their `extra_body`: `preset` (conservative, balanced,
 * creative), `top_k`. What the request leaves out is filled in by the serving layer (serve/generation-params.ts).
 */
import { StatusError } from '../util/status-error.ts';
import {
  PRESET_NAMES, type PresetName, type ChatMessageIn, type ChatRequest, type CompletionPrompt, type CompletionRequest, type EmbeddingRequest, type SamplingIn, type ToolChoice, type ToolDef,
} from './wire-types.ts';

export const MAX_TOKENS_CAP = 1_000_000;

const bad = (param: string, message: string, code = 'invalid_value') => new StatusError(400, message, { code, param });

function obj(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('', 'The request body must be a JSON object.', 'invalid_request_body');
  return body as Record<string, unknown>;
}

function num(b: Record<string, unknown>, k: string, lo: number, hi: number, int = false): number | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(k, `Invalid type for '${k}': expected a number, but got ${typeName(v)} instead.`, 'invalid_type');
  if (int && !Number.isInteger(v)) throw bad(k, `Invalid '${k}': expected an integer, got ${v}.`);
  if (v < lo || v > hi) throw bad(k, `Invalid '${k}': ${v} is out of range; expected a value from ${lo} to ${hi}.`);
  return v;
}

function bool(b: Record<string, unknown>, k: string): boolean | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(k, `Invalid type for '${k}': expected a boolean, but got ${typeName(v)} instead.`, 'invalid_type');
  return v;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function sampling(b: Record<string, unknown>): SamplingIn {
  if (typeof b.model !== 'string' || !b.model) throw bad('model', b.model === undefined ? "Missing required parameter: 'model'." : `Invalid type for 'model': expected a string, but got ${typeName(b.model)} instead.`, b.model === undefined ? 'missing_required_parameter' : 'invalid_type');
  const stream = bool(b, 'stream') ?? false;
  let includeUsage = false;
  if (b.stream_options !== undefined && b.stream_options !== null) {
    const so = b.stream_options;
    if (typeof so !== 'object' || Array.isArray(so)) throw bad('stream_options', "Invalid type for 'stream_options': expected an object.", 'invalid_type');
    if (!stream) throw bad('stream_options', "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
    includeUsage = bool(so as Record<string, unknown>, 'include_usage') ?? false;
  }
  const maxTokens = num(b, 'max_completion_tokens', 1, MAX_TOKENS_CAP, true) ?? num(b, 'max_tokens', 1, MAX_TOKENS_CAP, true);
  let stop: string[] = [];
  if (b.stop !== undefined && b.stop !== null) {
    if (typeof b.stop === 'string') stop = [b.stop];
    else if (Array.isArray(b.stop) && b.stop.every((s) => typeof s === 'string')) stop = b.stop as string[];
    else throw bad('stop', "Invalid type for 'stop': expected a string or an array of strings.", 'invalid_type');
    if (stop.length > 4) throw bad('stop', "Invalid 'stop': at most 4 stop sequences.");
    stop = stop.filter((s) => s.length > 0);
  }
  let preset: PresetName | undefined;
  if (b.preset !== undefined && b.preset !== null) {
    if (typeof b.preset !== 'string' || !(PRESET_NAMES as readonly string[]).includes(b.preset)) throw bad('preset', `Invalid 'preset': expected one of ${PRESET_NAMES.join(', ')}.`);
    preset = b.preset as PresetName;
  }
  let json: SamplingIn['json'];
  const rf = b.response_format;
  if (rf !== undefined && rf !== null) {
    if (typeof rf !== 'object' || Array.isArray(rf)) throw bad('response_format', "Invalid type for 'response_format': expected an object.", 'invalid_type');
    const r = rf as Record<string, unknown>;
    if (r.type === 'json_object') json = 'json';
    else if (r.type === 'json_schema') {
      const js = r.json_schema as Record<string, unknown> | undefined;
      if (!js || typeof js !== 'object' || typeof js.schema !== 'object' || js.schema === null || Array.isArray(js.schema)) throw bad('response_format', "Invalid 'response_format': json_schema.schema must be a JSON schema object.");
      json = { schema: js.schema as Record<string, unknown> };
    } else if (r.type !== 'text') throw bad('response_format', "Invalid 'response_format.type': expected 'text', 'json_object' or 'json_schema'.");
  }
  return {
    model: b.model, stream, includeUsage, n: num(b, 'n', 1, 16, true) ?? 1, maxTokens,
    temperature: num(b, 'temperature', 0, 2), topP: num(b, 'top_p', 0, 1), topK: num(b, 'top_k', 0, 100000, true),
    seed: num(b, 'seed', -(2 ** 53), 2 ** 53, true), stop, presencePenalty: num(b, 'presence_penalty', -2, 2) ?? 0,
    frequencyPenalty: num(b, 'frequency_penalty', -2, 2) ?? 0, preset, json,
  };
}

function content(v: unknown, i: number): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) {
    let s = '';
    for (const [j, p] of v.entries()) {
      if (!p || typeof p !== 'object') throw bad(`messages[${i}].content[${j}]`, `Invalid content part at messages[${i}].content[${j}].`, 'invalid_type');
      const part = p as Record<string, unknown>;
      if (part.type !== 'text' || typeof part.text !== 'string') throw bad(`messages[${i}].content[${j}]`, `Only text content parts are supported (messages[${i}].content[${j}] is ${JSON.stringify(part.type)}).`, 'unsupported_parameter');
      s += part.text;
    }
    return s;
  }
  throw bad(`messages[${i}].content`, `Invalid type for 'messages[${i}].content': expected a string or an array of content parts, but got ${typeName(v)} instead.`, 'invalid_type');
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer']);

export function parseChatRequest(body: unknown): ChatRequest {
  const b = obj(body);
  const s = sampling(b);
  if (!Array.isArray(b.messages)) throw bad('messages', b.messages === undefined ? "Missing required parameter: 'messages'." : `Invalid type for 'messages': expected an array, but got ${typeName(b.messages)} instead.`, b.messages === undefined ? 'missing_required_parameter' : 'invalid_type');
  if (b.messages.length === 0) throw bad('messages', "Invalid 'messages': empty array. Expected an array with minimum length 1.", 'empty_array');
  const messages = b.messages.map((m: unknown, i: number): ChatMessageIn => {
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw bad(`messages[${i}]`, `Invalid type for 'messages[${i}]': expected an object.`, 'invalid_type');
    const r = m as Record<string, unknown>;
    if (typeof r.role !== 'string' || !ROLES.has(r.role)) throw bad(`messages[${i}].role`, `Invalid value for 'messages[${i}].role': expected one of system, user, assistant, tool, developer.`);
    return { role: r.role as ChatMessageIn['role'], content: content(r.content, i), ...parseMessageTools(r, i) };
  });
  const tools = parseTools(b);
  const lp = bool(b, 'logprobs') ?? false;
  const top = num(b, 'top_logprobs', 0, 20, true);
  if (top !== undefined && !lp) throw bad('top_logprobs', "'top_logprobs' requires 'logprobs' to be true.");
  return { ...s, messages, logprobs: lp ? { top: top ?? 0 } : undefined, tools: tools.tools, toolChoice: tools.toolChoice, parallelToolCalls: tools.parallel };
}

/** Most token ids in one token prompt (a context window of a large model, with room). */
const MAX_PROMPT_IDS = 131_072;

function tokenPrompt(v: unknown, param: string): number[] | null {
  if (!Array.isArray(v) || v.length === 0 || typeof v[0] !== 'number') return null;
  if (v.length > MAX_PROMPT_IDS) throw bad(param, `Invalid '${param}': at most ${MAX_PROMPT_IDS} tokens per prompt.`);
  for (const [i, t] of v.entries()) {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 0x7fffffff) throw bad(param, `Invalid '${param}': token ${i} is not a token id (a non-negative integer).`, 'invalid_type');
  }
  return v as number[];
}

/**
 * `prompt` is a string, an array of strings, an array of token ids or an array of such arrays (OpenAI's four
 * forms). `max_tokens: 0` is taken with `echo` and `logprobs`: it scores the prompt and generates nothing, as the
 * legacy API and lm-evaluation-harness use it.
 */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  const b = obj(body);
  const echo = bool(b, 'echo') ?? false;
  const lp = num(b, 'logprobs', 0, 5, true);
  const scoring = echo && lp !== undefined;
  const zero = b.max_tokens === 0 && scoring;
  if (b.max_tokens === 0 && !scoring) throw bad('max_tokens', "Invalid 'max_tokens': 0 is allowed only with 'echo' and 'logprobs' (scoring the prompt).");
  const s = sampling(zero ? { ...b, max_tokens: undefined } : b);
  if (zero) s.maxTokens = 0;
  let prompts: CompletionPrompt[];
  const one = tokenPrompt(b.prompt, 'prompt');
  if (typeof b.prompt === 'string') prompts = [b.prompt];
  else if (one) prompts = [one];
  else if (Array.isArray(b.prompt) && b.prompt.length > 0 && b.prompt.every((p) => typeof p === 'string')) prompts = b.prompt as string[];
  else if (Array.isArray(b.prompt) && b.prompt.length > 0 && b.prompt.every((p) => Array.isArray(p))) prompts = b.prompt.map((p, i) => tokenPrompt(p, `prompt[${i}]`) ?? (() => { throw bad(`prompt[${i}]`, `Invalid 'prompt[${i}]': expected a non-empty array of token ids.`, 'invalid_type'); })());
  else if (b.prompt === undefined) throw bad('prompt', "Missing required parameter: 'prompt'.", 'missing_required_parameter');
  else throw bad('prompt', "Invalid 'prompt': expected a string, an array of strings, an array of token ids or an array of token id arrays.", 'invalid_type');
  if (prompts.length > 64) throw bad('prompt', "Invalid 'prompt': at most 64 prompts per request.");
  if (b.suffix !== undefined && b.suffix !== null) throw bad('suffix', "'suffix' is not supported by this server.", 'unsupported_parameter');
  return { ...s, prompts, echo, logprobs: lp !== undefined ? { top: lp } : undefined };
}

export function parseEmbeddingRequest(body: unknown): EmbeddingRequest {
  const b = obj(body);
  if (typeof b.model !== 'string' || !b.model) throw bad('model', "Missing required parameter: 'model'.", 'missing_required_parameter');
  let input: string[];
  if (typeof b.input === 'string') input = [b.input];
  else if (Array.isArray(b.input) && b.input.length > 0 && b.input.every((p) => typeof p === 'string')) input = b.input as string[];
  else if (b.input === undefined) throw bad('input', "Missing required parameter: 'input'.", 'missing_required_parameter');
  else throw bad('input', "Invalid 'input': expected a string or a non-empty array of strings (token arrays are not supported).", 'invalid_type');
  if (input.length > 2048) throw bad('input', "Invalid 'input': at most 2048 inputs per request.");
  if (input.some((s) => s.length === 0)) throw bad('input', "Invalid 'input': inputs must not be empty strings.");
  const fmt = b.encoding_format ?? 'float';
  if (fmt !== 'float' && fmt !== 'base64') throw bad('encoding_format', "Invalid 'encoding_format': expected 'float' or 'base64'.");
  const dimensions = num(b, 'dimensions', 1, 65536, true);
  return { model: b.model, input, base64: fmt === 'base64', dimensions };
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;


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
