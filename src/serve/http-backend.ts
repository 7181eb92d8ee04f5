/**
 * The OpenAI-compatible endpoint `ModelBackend` (vLLM, Ollama, llama-server, a cloud API, another modelfab): every
 * request becomes a streaming `/chat/completions` or `/completions` call upstream (fetch), whose deltas are passed
 * on as they arrive; usage comes from the upstream's final chunk (`stream_options.include_usage`), else counts the
 * chunks. Upstream 4xx errors keep their status and message; anything else is a 502 (so routes can fall back).
 * Cancelling the request (signal) aborts the upstream call. The transport is the one outbound client
 * (openai/openai-client.ts); this file maps its errors to what the gateway's caller sees.
 */
import { OpenAIClient, UpstreamError, type ReceivedEmbeddings } from '../openai/openai-client.ts';
import type { Received, ToolCallDelta } from '../openai/wire-types.ts';
import {
  BackendError, type BackendCapabilities, type EmbedResult, type GenerateCallbacks, type GenerateParams, type GenerateResult,
  type ModelBackend, type TokenLogprob,
} from './model-backend.ts';

export interface EndpointSpec {
  /** Base URL including the version path, e.g. http://127.0.0.1:11434/v1 (a bare http://host:port means its /v1). */
  url: string;
  apiKey?: string;
  /** The upstream's model name (default: the name requested). */
  model?: string;
}

/** A chunk of either stream: chat (`delta`) or completions (`text`). */
interface UpstreamChunk {
  choices?: Array<{ delta?: { content?: string | null; tool_calls?: Array<Received<ToolCallDelta>> }; text?: string; finish_reason?: string | null; logprobs?: { content?: TokenLogprob[] } | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
}

/**
 * What the gateway's caller sees of an upstream failure: a 4xx other than 408/429 keeps its status (the request
 * itself is wrong there too); anything else is a 502, which routes with fallbacks fall back on. A cancelled call
 * is a 499.
 */
export function backendErrorFrom(e: unknown, name: string): BackendError {
  if (e instanceof BackendError) return e;
  if (!(e instanceof UpstreamError)) return new BackendError(502, `upstream ${name} failed: ${(e as Error)?.message ?? String(e)}`, 'upstream_error');
  switch (e.failure) {
    case 'aborted': return new BackendError(499, 'request aborted', 'aborted');
    case 'network': case 'timeout': return new BackendError(502, `upstream ${e.message}`, 'upstream_error');
    case 'stream': return new BackendError(502, `upstream error: ${e.message}`, 'upstream_error');
    case 'malformed': return new BackendError(502, `upstream ${e.message}`, 'upstream_error');
    case 'http': {
      const up = e.upstreamStatus ?? 502;
      const status = up >= 400 && up < 500 && up !== 408 && up !== 429 ? up : 502;
      return new BackendError(status, `upstream ${up}: ${e.message}`, status === 502 ? 'upstream_error' : 'upstream_rejected', status === 502 ? null : e.param);
    }
  }
}

export class HttpBackend implements ModelBackend {
  readonly kind = 'endpoint' as const;
  readonly capabilities: BackendCapabilities = { embeddings: true, logprobs: true, promptLogprobs: false, jsonSchema: true, embeddingMethod: 'the upstream endpoint' };
  readonly contextSize = 0;
  private readonly client: OpenAIClient;

  constructor(private readonly spec: EndpointSpec, readonly maxConcurrency = 64) {
    // no retries here: the gateway's routes fall back to another target at once, and a request is not retried twice
    this.client = new OpenAIClient({ baseURL: spec.url, apiKey: spec.apiKey, maxRetries: 0 });
  }

  async generate(params: GenerateParams, cb: GenerateCallbacks): Promise<GenerateResult> {
    const chat = params.prompt.kind === 'chat';
    const body: Record<string, unknown> = {
      model: params.upstreamModel ?? this.spec.model, stream: true, stream_options: { include_usage: true },
      max_tokens: params.maxTokens, temperature: params.temperature, top_p: params.topP,
      presence_penalty: params.presencePenalty || undefined, frequency_penalty: params.frequencyPenalty || undefined,
      stop: params.stop.length ? params.stop : undefined, seed: params.seed,
    };
    if (this.spec.model) body.model = this.spec.model;
    if (params.topK > 0) body.top_k = params.topK;
    if (params.echo) throw new BackendError(400, 'echo of a prompt sent as token ids is not supported by this backend (endpoint); send the prompt as text', 'unsupported_parameter', 'echo');
    if (params.prompt.kind === 'chat') body.messages = params.prompt.messages;
    else body.prompt = params.prompt.kind === 'text' ? params.prompt.text : params.prompt.ids; // token ids of the upstream's vocabulary
    if (params.tools?.length) {
      body.tools = params.tools;
      if (params.toolChoice) body.tool_choice = params.toolChoice;
      if (params.parallelToolCalls === false) body.parallel_tool_calls = false;
    }
    if (params.json) body.response_format = params.json === 'json' ? { type: 'json_object' } : { type: 'json_schema', json_schema: { name: 'schema', schema: params.json.schema } };
    if (params.logprobs) {
      if (chat) { body.logprobs = true; body.top_logprobs = params.logprobs.top; } else body.logprobs = params.logprobs.top;
    }
    let finish: GenerateResult['finishReason'] = 'stop';
    let usage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
    let chunks = 0;
    let answered = false;
    // tool calls arrive in pieces (id and name first, the arguments as growing text), by index
    const calls: Array<{ id: string; name: string; args: string }> = [];
    try {
      for await (const j of this.client.stream<UpstreamChunk>(chat ? '/chat/completions' : '/completions', body, { signal: params.signal })) {
        answered = true;
        if (j.usage) usage = j.usage;
        const c = j.choices?.[0];
        if (!c) continue;
        const text = chat ? c.delta?.content : c.text;
        if (text) { chunks++; cb.onText(text, c.logprobs?.content ?? undefined); }
        for (const d of c.delta?.tool_calls ?? []) {
          const at = (calls[d.index ?? calls.length - 1] ??= { id: '', name: '', args: '' });
          if (d.id) at.id = d.id;
          if (d.function?.name) at.name += d.function.name;
          if (d.function?.arguments) at.args += d.function.arguments;
        }
        if (c.finish_reason === 'length') finish = 'length';
        if (c.finish_reason === 'tool_calls') finish = 'tool_calls';
      }
    } catch (e) {
      // cancelled once text flowed: what was generated so far stands; cancelled before, the request failed
      if (params.signal?.aborted && answered) return { finishReason: 'abort', promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? chunks };
      throw backendErrorFrom(e, this.client.name);
    }
    const toolCalls = calls.filter(Boolean).map((c, i) => ({ id: c.id || `call_${i}`, type: 'function' as const, function: { name: c.name, arguments: c.args || '{}' } }));
    return { finishReason: toolCalls.length ? 'tool_calls' : finish, promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? chunks, ...(toolCalls.length ? { toolCalls } : {}) };
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<EmbedResult> {
    let j: ReceivedEmbeddings;
    try { j = await this.client.embeddings({ model: this.spec.model, input: texts }, { signal }); } catch (e) { throw backendErrorFrom(e, this.client.name); }
    if (!Array.isArray(j.data) || j.data.length !== texts.length) throw new BackendError(502, 'upstream embeddings: malformed answer', 'upstream_error');
    const vectors = j.data.slice().sort((a, b) => a.index - b.index).map((d) => d.embedding);
    return { vectors, promptTokens: j.usage?.prompt_tokens ?? 0 };
  }

  memoryBytes(): number {
    return 0;
  }

  async close(): Promise<void> { /* nothing held */ }
}
