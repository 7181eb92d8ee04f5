/**
 * The OpenAI-compatible endpoint `ModelBackend` (vLLM, Ollama, llama-server, a cloud API, another modelfab): every
 * request becomes a streaming `/chat/completions` or `/completions` call upstream (fetch), whose deltas are passed
 * on as they arrive; usage comes from the upstream's final chunk (`stream_options.include_usage`), else counts the
 * chunks. Upstream 4xx errors keep their status and message; anything else is a 502 (so routes can fall back).
 * Cancelling the request (signal) aborts the upstream call.
 */
import {
  BackendError, type BackendCapabilities, type EmbedResult, type GenerateCallbacks, type GenerateParams, type GenerateResult,
  type ModelBackend, type TokenLogprob,
} from './model-backend.ts';

export interface EndpointSpec {
  /** Base URL including the version path, e.g. http://127.0.0.1:11434/v1 */
  url: string;
  apiKey?: string;
  /** The upstream's model name (default: the name requested). */
  model?: string;
}

/** One piece of a streamed tool call (OpenAI's chunk shape). */
interface UpstreamToolDelta { index?: number; id?: string; function?: { name?: string; arguments?: string } }

export class HttpBackend implements ModelBackend {
  readonly kind = 'endpoint' as const;
  readonly capabilities: BackendCapabilities = { embeddings: true, logprobs: true, jsonSchema: true, embeddingMethod: 'the upstream endpoint' };
  readonly contextSize = 0;

  constructor(private readonly spec: EndpointSpec, readonly maxConcurrency = 64) {
    const u = new URL(spec.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`endpoint url must be http(s), got ${spec.url}`);
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream, application/json' };
    if (this.spec.apiKey) h.authorization = `Bearer ${this.spec.apiKey}`;
    return h;
  }

  private url(path: string): string {
    return this.spec.url.replace(/\/+$/, '') + path;
  }

  private async post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.url(path), { method: 'POST', headers: this.headers(), body: JSON.stringify(body), signal });
    } catch (e) {
      if (signal?.aborted) throw new BackendError(499, 'request aborted', 'aborted');
      throw new BackendError(502, `upstream ${this.spec.url} unreachable: ${(e as Error).message}`, 'upstream_error');
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let msg = text.slice(0, 500);
      try { msg = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? msg; } catch { /* not JSON */ }
      const status = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429 ? res.status : 502;
      throw new BackendError(status, `upstream ${res.status}: ${msg}`, status === 502 ? 'upstream_error' : 'upstream_rejected');
    }
    return res;
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
    if (params.prompt.kind === 'chat') body.messages = params.prompt.messages;
    else body.prompt = params.prompt.text;
    if (params.tools?.length) {
      body.tools = params.tools;
      if (params.toolChoice) body.tool_choice = params.toolChoice;
      if (params.parallelToolCalls === false) body.parallel_tool_calls = false;
    }
    if (params.json) body.response_format = params.json === 'json' ? { type: 'json_object' } : { type: 'json_schema', json_schema: { name: 'schema', schema: params.json.schema } };
    if (params.logprobs) {
      if (chat) { body.logprobs = true; body.top_logprobs = params.logprobs.top; } else body.logprobs = params.logprobs.top;
    }
    const res = await this.post(chat ? '/chat/completions' : '/completions', body, params.signal);
    let finish: GenerateResult['finishReason'] = 'stop';
    let usage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
    let chunks = 0;
    // tool calls arrive in pieces (id and name first, the arguments as growing text), by index
    const calls: Array<{ id: string; name: string; args: string }> = [];
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          let j: { choices?: Array<{ delta?: { content?: string | null; tool_calls?: UpstreamToolDelta[] }; text?: string; finish_reason?: string | null; logprobs?: { content?: TokenLogprob[] } | null }>; usage?: typeof usage; error?: { message?: string } };
          try { j = JSON.parse(data); } catch { continue; }
          if (j.error) throw new BackendError(502, `upstream error: ${j.error.message ?? 'unknown'}`, 'upstream_error');
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
      }
    } catch (e) {
      if (params.signal?.aborted) return { finishReason: 'abort', promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? chunks };
      if (e instanceof BackendError) throw e;
      throw new BackendError(502, `upstream stream failed: ${(e as Error).message}`, 'upstream_error');
    } finally {
      reader.releaseLock();
    }
    const toolCalls = calls.filter(Boolean).map((c, i) => ({ id: c.id || `call_${i}`, type: 'function' as const, function: { name: c.name, arguments: c.args || '{}' } }));
    return { finishReason: toolCalls.length ? 'tool_calls' : finish, promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? chunks, ...(toolCalls.length ? { toolCalls } : {}) };
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<EmbedResult> {
    const res = await this.post('/embeddings', { model: this.spec.model, input: texts }, signal);
    const j = await res.json() as { data?: Array<{ embedding: number[]; index: number }>; usage?: { prompt_tokens?: number } };
    if (!Array.isArray(j.data) || j.data.length !== texts.length) throw new BackendError(502, 'upstream embeddings: malformed answer', 'upstream_error');
    const vectors = j.data.slice().sort((a, b) => a.index - b.index).map((d) => d.embedding);
    return { vectors, promptTokens: j.usage?.prompt_tokens ?? 0 };
  }

  memoryBytes(): number {
    return 0;
  }

  async close(): Promise<void> { /* nothing held */ }
}
