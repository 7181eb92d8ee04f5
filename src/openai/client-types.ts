/**
 * The few response shapes the outbound client (`client.ts`) reads, as OpenAI documents them; every field optional
 * where OpenAI-compatible servers are known to leave it out. The full wire types of the protocol live beside this
 * file; these stay minimal on purpose, since an upstream is not this server and may send less.
 */

export interface OpenAIErrorObject { message?: string; type?: string; code?: string | number | null; param?: string | null }

export interface TokenLogprobOut { token: string; logprob: number; bytes?: number[] | null; top_logprobs?: Array<{ token: string; logprob: number; bytes?: number[] | null }> }

export interface ToolCallDelta { index?: number; id?: string; type?: 'function'; function?: { name?: string; arguments?: string } }

export interface Usage { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number }

export interface ChatCompletion {
  id?: string;
  object?: string;
  model?: string;
  choices?: Array<{
    index?: number;
    message?: { role?: string; content?: string | null; tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> };
    finish_reason?: string | null;
    logprobs?: { content?: TokenLogprobOut[] | null } | null;
  }>;
  usage?: Usage;
}

export interface ChatCompletionChunk {
  id?: string;
  object?: string;
  choices?: Array<{
    index?: number;
    delta?: { role?: string; content?: string | null; tool_calls?: ToolCallDelta[] };
    finish_reason?: string | null;
    logprobs?: { content?: TokenLogprobOut[] | null } | null;
  }>;
  usage?: Usage | null;
}

export interface CompletionLogprobs { tokens?: string[]; token_logprobs?: Array<number | null>; text_offset?: number[]; top_logprobs?: Array<Record<string, number> | null> }

export interface Completion {
  id?: string;
  object?: string;
  choices?: Array<{ index?: number; text?: string; finish_reason?: string | null; logprobs?: CompletionLogprobs | null }>;
  usage?: Usage | null;
}

export interface CreateEmbeddingResponse {
  object?: string;
  data?: Array<{ index: number; embedding: number[]; object?: string }>;
  usage?: { prompt_tokens?: number; total_tokens?: number };
}
