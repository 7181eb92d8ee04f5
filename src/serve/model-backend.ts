/**
 * The `ModelBackend` seam: what the gateway needs from anything that serves a model. Three
 * implementations: llama.cpp (`llama-serve.ts`, GGUF through node-llama-cpp, several sequences per context, LoRA
 * adapters over one shared base), the engine itself (`engine-backend.ts`, small models and methods GGUF cannot
 * express), and an OpenAI-compatible HTTP endpoint (`http-backend.ts`).
 *
 * Guarantees every implementation keeps:
 *   - `generate` streams text through `onText` in order, honours `signal` (stops promptly, resolves with
 *     finishReason 'abort'), applies stop strings itself (text never includes the stop string) and reports exact
 *     prompt/completion token counts (the endpoint backend reports what the upstream said);
 *   - an unsupported option fails with `BackendError(400, …)` before any text is produced;
 *   - `close` waits for nothing: the gateway only closes a backend with no request in flight.
 */

import type { ChatMessageIn, EchoedPrompt, PromptTokenLogprob, TokenLogprob, ToolCallOut, ToolChoice, ToolDef } from '../openai/wire-types.ts';

export type { ChatMessageIn, EchoedPrompt, PromptTokenLogprob, TokenLogprob };

/** What the model reads: a conversation (rendered by its chat template), raw text, or token ids of its own vocabulary. */
export type PromptInput = { kind: 'chat'; messages: ChatMessageIn[] } | { kind: 'text'; text: string } | { kind: 'tokens'; ids: number[] };

import { StatusError } from '../util/status-error.ts';
export interface GenerateParams {
  prompt: PromptInput;
  maxTokens: number;
  temperature: number;
  topP: number;
  /** 0 = off. */
  topK: number;
  seed?: number;
  stop: string[];
  presencePenalty: number;
  frequencyPenalty: number;
  /** JSON schema to constrain output to, or 'json' for any JSON object. */
  json?: { schema: Record<string, unknown> } | 'json';
  /** Per-token logprobs, with this many alternatives each (0..20). */
  logprobs?: { top: number };
  /**
   * Report the prompt through `onPrompt`: its text, and with `logprobs` each prompt token's log probability given
   * the tokens before it (a completion's `echo`; `maxTokens` may then be 0). A backend that cannot score a prompt
   * refuses with a 400 before any text is produced.
   */
  echo?: boolean;
  /** Named LoRA adapter to apply (llama.cpp models with adapters). */
  adapter?: string;
  /** The upstream's model name (endpoint backend). */
  upstreamModel?: string;
  /** Function calling: endpoints take these natively; local models through their prompt (src/serve/tools.ts). */
  tools?: ToolDef[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'abort' | 'tool_calls';

export interface GenerateResult {
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens the backend already held and did not evaluate again (a reused prefix), when it knows. */
  cachedTokens?: number;
  /** The calls the model made (finishReason 'tool_calls'). */
  toolCalls?: ToolCallOut[];
}

export interface GenerateCallbacks {
  /** Called with each new piece of text (never empty); `logprobs` covers the tokens of this piece. */
  onText(text: string, logprobs?: TokenLogprob[]): void;
  /** The prompt as read (only when `echo` was asked for), before any text. */
  onPrompt?(prompt: EchoedPrompt): void;
}

export interface EmbedResult {
  vectors: number[][];
  promptTokens: number;
}

export interface BackendCapabilities {
  embeddings: boolean;
  logprobs: boolean;
  /** Log probabilities of the prompt's own tokens (echo with logprobs: scoring, as evaluation harnesses need). */
  promptLogprobs: boolean;
  jsonSchema: boolean;
  /** How embeddings are computed, for /v1/models and the docs. */
  embeddingMethod?: string;
}

export interface ModelBackend {
  /** `embedding`: a model that only embeds (embedding-backend.ts). */
  readonly kind: 'llama.cpp' | 'engine' | 'endpoint' | 'embedding';
  readonly capabilities: BackendCapabilities;
  /** Requests the backend can run at once (llama.cpp: sequences per context). */
  readonly maxConcurrency: number;
  /** Context window, in tokens (0 when unknown, e.g. endpoints). */
  readonly contextSize: number;
  generate(params: GenerateParams, cb: GenerateCallbacks): Promise<GenerateResult>;
  embed(texts: string[], signal?: AbortSignal): Promise<EmbedResult>;
  /** Resident memory this backend holds, in bytes (an estimate; endpoints 0). */
  memoryBytes(): number;
  close(): Promise<void>;
}

/**
 * Model folders the gateway serves through a loader another stage provides (a trained retriever: its reader lives in
 * knowledge/, which serve may not import; api/server.ts wires it). A registered engine-kind model whose folder a
 * loader `serves` is loaded by it instead of as an engine model.
 */
export interface FolderModelLoader {
  /** A short name, for backend keys and logs (`retriever`). */
  readonly name: string;
  /** Whether the folder holds a model of this loader (its marker file). */
  serves(dir: string): boolean;
  load(dir: string): Promise<ModelBackend>;
  /** Bytes the loaded model will hold (the memory budget's estimate). */
  estimate(dir: string): number;
}

/** A failure with an HTTP status and OpenAI-style code, safe to show to the caller. */
export class BackendError extends StatusError {
  constructor(status: number, message: string, code: string | null = null, param: string | null = null, type?: string) {
    super(status, message, { code, param, type });
  }
}

/**
 * Applies stop strings to a growing text stream: `push` returns what may be emitted now (holding back a tail that
 * could still become a stop string) and whether a stop string was hit; `flush` returns the held tail at the end.
 */
export class StopMatcher {
  private held = '';
  private readonly maxLen: number;
  stopped = false;

  constructor(private readonly stops: readonly string[]) {
    this.maxLen = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  push(text: string): string {
    if (this.stopped) return '';
    if (this.maxLen === 0) return text;
    const buf = this.held + text;
    let cut = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.held = '';
      return buf.slice(0, cut);
    }
    // hold back the longest suffix that is a prefix of some stop string
    let keep = 0;
    for (let k = Math.min(this.maxLen - 1, buf.length); k > 0; k--) {
      const tail = buf.slice(buf.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) { keep = k; break; }
    }
    this.held = buf.slice(buf.length - keep);
    return buf.slice(0, buf.length - keep);
  }

  flush(): string {
    const h = this.stopped ? '' : this.held;
    this.held = '';
    return h;
  }
}

/** UTF-8 bytes of a string (OpenAI's logprob `bytes`). */
export function utf8Bytes(s: string): number[] {
  return [...Buffer.from(s, 'utf8')];
}
