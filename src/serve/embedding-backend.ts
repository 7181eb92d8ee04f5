/**
 * A `ModelBackend` for a model that only embeds (a retriever the factory trained: a dual encoder over words and
 * bigrams, knowledge/retriever.ts): `/v1/embeddings` is served, a generation is refused with a 400 that says where
 * the model is used. The model itself comes from a `FolderModelLoader` another stage provides (serve does not know
 * how to read it), wired by api/server.ts.
 */
import { BackendError, type BackendCapabilities, type EmbedResult, type GenerateResult, type ModelBackend } from './model-backend.ts';

/** What the backend serves: vectors of a fixed size for texts, and how many input tokens a text is. */
export interface EmbeddingModel {
  readonly dims: number;
  embed(texts: string[]): Promise<Float32Array[]>;
  /** The input units a text is read as (for `usage.prompt_tokens`). */
  countTokens(text: string): number;
  /** Resident bytes (its parameters). */
  readonly bytes: number;
}

export class EmbeddingBackend implements ModelBackend {
  readonly kind = 'embedding' as const;
  readonly capabilities: BackendCapabilities;
  readonly maxConcurrency = 4;
  readonly contextSize = 0;

  constructor(private readonly model: EmbeddingModel, method: string) {
    this.capabilities = { embeddings: true, logprobs: false, promptLogprobs: false, jsonSchema: false, embeddingMethod: method };
  }

  generate(): Promise<GenerateResult> {
    return Promise.reject(new BackendError(400, 'this model only makes embeddings (a trained retriever): use /v1/embeddings', 'unsupported_endpoint', 'model'));
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<EmbedResult> {
    if (signal?.aborted) throw new BackendError(499, 'client closed request', 'aborted');
    const vs = await this.model.embed(texts);
    return { vectors: vs.map((v) => Array.from(v)), promptTokens: texts.reduce((n, t) => n + this.model.countTokens(t), 0) };
  }

  memoryBytes(): number { return this.model.bytes; }

  async close(): Promise<void> { /* nothing held outside the model's arrays */ }
}
