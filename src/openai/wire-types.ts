/**
 * OpenAI's wire shapes, as this server speaks them (inbound: /v1/chat/completions, /v1/completions,
 * /v1/embeddings; outbound: what an OpenAI-compatible client sends and reads). Types only: the leftmost layer, so
 * serving, bots, the Copilot and clients all name the same shapes.
 */

/** A chat message as the server takes it: content flattened to text (only text parts are accepted). */
export interface ChatMessageIn {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'developer';
  content: string;
  /** Assistant turns that called tools (OpenAI's shape). */
  tool_calls?: ToolCallOut[];
  /** Tool turns: the call this result answers. */
  tool_call_id?: string;
  name?: string;
}

export interface ToolDef {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

/** A whole tool call (a response's `message.tool_calls[i]`). */
export interface ToolCallOut {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One token's log probability, chat style (`choices[i].logprobs.content[j]`). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

/** Completions-API logprobs (`choices[i].logprobs` of a text completion). */
export interface CompletionLogprobs {
  tokens: string[];
  /** An echoed prompt's first token has none (null): nothing came before it. */
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

/** One prompt token's log probability given the tokens before it (the first token's is null). */
export interface PromptTokenLogprob extends Omit<TokenLogprob, 'logprob'> {
  logprob: number | null;
}

/** A completion prompt as the model read it, for `echo`: its text and, when logprobs were asked for, its tokens' log probabilities. */
export interface EchoedPrompt {
  text: string;
  logprobs?: PromptTokenLogprob[];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens served from the model's cache (a prefix it already held). */
  prompt_tokens_details?: { cached_tokens: number };
}

/** The finish reasons a choice ends with. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** The extension presets a request may name (`preset`); their values are the serving layer's. */
export const PRESET_NAMES = ['conservative', 'balanced', 'creative'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** What the request says about sampling, parsed and validated; defaults are the serving layer's. */
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
  /** JSON schema to constrain output to, or 'json' for any JSON object. */
  json?: { schema: Record<string, unknown> } | 'json';
  logprobs?: { top: number };
}

export interface ChatRequest extends SamplingIn { messages: ChatMessageIn[]; tools?: ToolDef[]; toolChoice?: ToolChoice; parallelToolCalls: boolean }
/** A completion prompt: text, or token ids of the model's own vocabulary (as OpenAI's API and evaluation harnesses send). */
export type CompletionPrompt = string | number[];
export interface CompletionRequest extends SamplingIn { prompts: CompletionPrompt[]; echo: boolean }
export interface EmbeddingRequest { model: string; input: string[]; base64: boolean; dimensions?: number }

export interface ChatCompletionMessage {
  role: 'assistant';
  content: string | null;
  refusal: string | null;
  tool_calls?: ToolCallOut[];
}

export interface ChatCompletionChoice {
  index: number;
  message: ChatCompletionMessage;
  logprobs: { content: TokenLogprob[]; refusal: null } | null;
  finish_reason: FinishReason;
}

/** `chat.completion`; servers may add documented fields (guard, citations, bot, copilot). */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: ChatCompletionChoice[];
  usage: Usage;
  [extra: string]: unknown;
}

export interface TextCompletionChoice { index: number; text: string; logprobs: CompletionLogprobs | null; finish_reason: FinishReason }

export interface TextCompletion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: TextCompletionChoice[];
  usage: Usage;
  [extra: string]: unknown;
}

/** A streamed tool call piece: clients accumulate pieces by index. */
export interface ToolCallDelta { index: number; id?: string; type?: 'function'; function?: { name?: string; arguments?: string } }

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint?: string;
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: ToolCallDelta[] };
    logprobs?: { content: TokenLogprob[] | null } | null;
    finish_reason: FinishReason | null;
  }>;
  usage?: Usage | null;
  [extra: string]: unknown;
}

export interface EmbeddingResponse {
  object: 'list';
  model: string;
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface ModelObject { id: string; object: 'model'; created: number; owned_by: string }

/** OpenAI's error body: `{"error": {message, type, param, code}}`. */
export interface ErrorBody { error: { message: string; type: string; param: string | null; code: string | null } }

/**
 * A wire shape as an outbound client receives it from an OpenAI-compatible server that is not this one: any field
 * may be missing (servers leave out what they do not support), so the reader checks each field it uses.
 */
export type Received<T> = T extends ReadonlyArray<infer U> ? Array<Received<U>> : T extends object ? { [K in keyof T]?: Received<T[K]> } : T;
