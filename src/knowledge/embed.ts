/**
 * Embedders: text -> unit-length Float32Array vectors. Owns the `Embedder` interface and three implementations:
 *   - `OpenAIEmbedder`: any OpenAI-compatible `/v1/embeddings` endpoint (fetch; batches of `batchSize`).
 *   - `LlamaEmbedder`: a GGUF embedding model through node-llama-cpp (CPU binding from serve/llama/llama-cpp.ts,
 *     1 or 2 threads, never downloads or builds).
 *   - `HashEmbedder`: hashed character n-grams. A TEST / OFFLINE embedder with no semantics — it exists to exercise
 *     the dense, hybrid and ANN code paths without a model, and must never be reported as semantic search.
 * Guarantees: every returned vector has `dims` entries and L2 norm 1 (or is all zeros for empty text), so cosine
 * similarity is a dot product.
 */
import { getCpuLlama } from '../serve/llama/llama-cpp.ts';
import { normalizeForIndex } from './text/analyzer.ts';
import { StatusError } from '../util/status-error.ts';
import { OpenAIClient, UpstreamError } from '../openai/openai-client.ts';

export interface Embedder {
  readonly name: string;
  readonly dims: number;
  /** True only for models that embed meaning (false for the hashing test embedder). */
  readonly semantic: boolean;
  embed(texts: string[]): Promise<Float32Array[]>;
  close?(): Promise<void>;
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

export function dot(a: Float32Array, b: Float32Array, bOffset = 0): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[bOffset + i]!;
  return s;
}

/** Hashed character 1-3-gram vectors (FNV-1a, signed buckets). Offline/test only: not a semantic model. */
export class HashEmbedder implements Embedder {
  readonly semantic = false;
  readonly name: string;
  constructor(readonly dims = 256) { this.name = `hash-ngram-${dims}`; }

  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }

  embedOne(text: string): Float32Array {
    const v = new Float32Array(this.dims);
    const s = [...normalizeForIndex(text).replace(/\s+/g, ' ')];
    for (let n = 1; n <= 3; n++) {
      for (let i = 0; i + n <= s.length; i++) {
        let h = 0x811c9dc5;
        for (let j = i; j < i + n; j++) { h ^= s[j]!.codePointAt(0)!; h = Math.imul(h, 0x01000193); }
        h ^= n; h = Math.imul(h, 0x01000193) >>> 0;
        v[h % this.dims]! += (h & 0x80000000 ? -1 : 1) * (n === 1 ? 0.5 : 1);
      }
    }
    return l2normalize(v);
  }
}

export interface OpenAIEmbedderOptions { baseUrl: string; model: string; apiKey?: string; batchSize?: number; dims?: number; timeoutMs?: number }

/** An OpenAI-compatible embeddings endpoint. `dims` is learned from the first answer unless given. */
export class OpenAIEmbedder implements Embedder {
  readonly semantic = true;
  readonly name: string;
  dims: number;
  private readonly client: OpenAIClient;
  constructor(private readonly o: OpenAIEmbedderOptions) {
    this.name = `openai:${o.model}`;
    this.dims = o.dims ?? 0;
    this.client = new OpenAIClient({ baseURL: o.baseUrl, apiKey: o.apiKey, timeoutMs: o.timeoutMs ?? 60_000 });
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const bs = this.o.batchSize ?? 64;
    for (let i = 0; i < texts.length; i += bs) {
      const batch = texts.slice(i, i + bs);
      const url = this.client.url('/embeddings');
      let body;
      try { body = await this.client.embeddings({ model: this.o.model, input: batch }); } catch (e) {
        throw e instanceof UpstreamError ? e.asDependencyError(`embeddings endpoint ${url}`) : e;
      }
      const rows = [...(body.data ?? [])].sort((a, b) => a.index - b.index);
      if (rows.length !== batch.length) throw new StatusError(502, `embeddings endpoint returned ${rows.length} vectors for ${batch.length} inputs`, { code: 'upstream_error' });
      for (const r of rows) {
        if (!this.dims) this.dims = r.embedding.length;
        if (r.embedding.length !== this.dims) throw new StatusError(502, `embedding has ${r.embedding.length} dims, expected ${this.dims}`, { code: 'upstream_error' });
        out.push(l2normalize(Float32Array.from(r.embedding)));
      }
    }
    return out;
  }
}

/** A GGUF embedding model through node-llama-cpp (CPU, 1 or 2 threads). Call `LlamaEmbedder.load`. */
export class LlamaEmbedder implements Embedder {
  readonly semantic = true;
  private constructor(readonly name: string, readonly dims: number, private readonly ctx: LlamaEmbeddingCtx, private readonly model: { dispose(): Promise<void> }) {}

  static async load(modelPath: string, opts: { threads?: 1 | 2; contextSize?: number } = {}): Promise<LlamaEmbedder> {
    const llama = await getCpuLlama();
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const ctx = (await model.createEmbeddingContext({ threads: opts.threads ?? 1, contextSize: opts.contextSize ?? 512 })) as unknown as LlamaEmbeddingCtx;
    const probe = await ctx.getEmbeddingFor('probe');
    const name = `gguf:${modelPath.split('/').pop()}`;
    return new LlamaEmbedder(name, probe.vector.length, ctx, model);
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const t of texts) out.push(l2normalize(Float32Array.from((await this.ctx.getEmbeddingFor(t || ' ')).vector)));
    return out;
  }

  async close(): Promise<void> {
    await this.ctx.dispose();
    await this.model.dispose();
  }
}
interface LlamaEmbeddingCtx { getEmbeddingFor(text: string): Promise<{ vector: readonly number[] }>; dispose(): Promise<void> }
