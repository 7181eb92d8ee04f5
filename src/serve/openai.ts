/**
 * OpenAI's request and response shapes for /v1/chat/completions, /v1/completions and /v1/embeddings: strict
 * validation of the request body (wrong types, out-of-range values and unsupported features are 400s with the
 * offending `param`, as OpenAI answers them), and builders of the response objects and stream chunks.
 *
 * Extensions, ignored by OpenAI's clients and passed through their `extra_body`: `preset` (conservative, balanced,
 * creative), `top_k`. A value the request leaves out comes from the preset (the request's, else the deployment's).
 */
import type { ChatMessageIn, GenerateParams, PromptInput, TokenLogprob } from './model-backend.ts';
import { parseMessageTools, parseTools, type ToolChoice, type ToolDef } from './tools.ts';
import { PRESETS, ServeError, type DeploymentSettings, type PresetName } from './deployments.ts';

export const MAX_TOKENS_CAP = 1_000_000;

export interface SamplingIn {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  n: number;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop: string[];
  presencePenalty: number;
  frequencyPenalty: number;
  preset?: PresetName;
  json?: GenerateParams['json'];
  logprobs?: { top: number };
}

export interface ChatRequest extends SamplingIn { messages: ChatMessageIn[]; tools?: ToolDef[]; toolChoice?: ToolChoice; parallelToolCalls: boolean }
export interface CompletionRequest extends SamplingIn { prompts: string[]; echo: boolean }
export interface EmbeddingRequest { model: string; input: string[]; base64: boolean; dimensions?: number }

const bad = (param: string, message: string, code = 'invalid_value') => new ServeError(400, message, code, param);

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
    if (typeof b.preset !== 'string' || !(b.preset in PRESETS)) throw bad('preset', `Invalid 'preset': expected one of ${Object.keys(PRESETS).join(', ')}.`);
    preset = b.preset as PresetName;
  }
  let json: GenerateParams['json'];
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

export function parseCompletionRequest(body: unknown): CompletionRequest {
  const b = obj(body);
  const s = sampling(b);
  let prompts: string[];
  if (typeof b.prompt === 'string') prompts = [b.prompt];
  else if (Array.isArray(b.prompt) && b.prompt.length > 0 && b.prompt.every((p) => typeof p === 'string')) prompts = b.prompt as string[];
  else if (b.prompt === undefined) throw bad('prompt', "Missing required parameter: 'prompt'.", 'missing_required_parameter');
  else throw bad('prompt', "Invalid 'prompt': expected a string or a non-empty array of strings (token arrays are not supported).", 'invalid_type');
  if (prompts.length > 64) throw bad('prompt', "Invalid 'prompt': at most 64 prompts per request.");
  if (b.suffix !== undefined && b.suffix !== null) throw bad('suffix', "'suffix' is not supported by this server.", 'unsupported_parameter');
  const echo = bool(b, 'echo') ?? false;
  const lp = num(b, 'logprobs', 0, 5, true);
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

/** Fills what the request left out from the preset (request's, else the deployment's) and checks max_tokens. */
export function toGenerateParams(r: SamplingIn, prompt: PromptInput, settings: DeploymentSettings, seedOffset = 0): GenerateParams {
  const preset = PRESETS[r.preset ?? settings.preset];
  if (r.maxTokens !== undefined && r.maxTokens > settings.maxTokensLimit) {
    throw new ServeError(400, `Invalid 'max_tokens': ${r.maxTokens} is more than this deployment allows (${settings.maxTokensLimit}).`, 'invalid_value', 'max_tokens');
  }
  return {
    prompt, maxTokens: r.maxTokens ?? settings.maxTokensLimit,
    temperature: r.temperature ?? preset.temperature,
    topP: r.topP ?? (r.temperature !== undefined ? 1 : preset.top_p),
    topK: r.topK ?? (r.temperature !== undefined ? 0 : preset.top_k),
    seed: r.seed !== undefined ? r.seed + seedOffset : undefined,
    stop: r.stop, presencePenalty: r.presencePenalty, frequencyPenalty: r.frequencyPenalty, json: r.json, logprobs: r.logprobs,
    ...('tools' in r && (r as ChatRequest).tools ? { tools: (r as ChatRequest).tools, toolChoice: (r as ChatRequest).toolChoice, parallelToolCalls: (r as ChatRequest).parallelToolCalls } : {}),
  };
}

export function usage(prompt: number, completion: number): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Completions-API logprobs from chat-style token logprobs. */
export function completionLogprobs(lps: TokenLogprob[], startOffset: number): Record<string, unknown> {
  const offsets: number[] = [];
  let off = startOffset;
  for (const l of lps) { offsets.push(off); off += l.token.length; }
  return {
    tokens: lps.map((l) => l.token), token_logprobs: lps.map((l) => l.logprob),
    top_logprobs: lps.map((l) => Object.fromEntries(l.top_logprobs.map((t) => [t.token, t.logprob]))), text_offset: offsets,
  };
}
