/**
 * Question–answer extraction with a model (any configured LLM). Owns the `PairModel` interface (one chat call whose
 * output is constrained to a JSON schema), its OpenAI-compatible implementation (`response_format: {type:
 * 'json_schema', ...}` over fetch: this product's gateway, llama.cpp server, vLLM, OpenAI), the prompt (several
 * questions per chunk, phrased the way the user's example questions are), and the validation of every output.
 * Guarantees: each pair keeps its source chunk; a chunk whose output cannot be used (not JSON, wrong shape, empty,
 * answer not grounded in the chunk, a model error) is reported in `problems` with the reason — never silently
 * replaced by anything else; at most `perChunk` pairs per chunk.
 */
import type { Chunk } from '../../knowledge/knowledge-types.ts';
import type { ChatMessage } from '../../knowledge/answer-generator.ts';
import { segmentWords } from '../../knowledge/text/analyzer.ts';
import type { PairSource } from '../bot-types.ts';
import type { DraftPair } from './rules.ts';
import { OpenAIClient, UpstreamError } from '../../openai/openai-client.ts';

/** The JSON schema the model's output must follow. */
export const PAIRS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['pairs'],
  properties: {
    pairs: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['question', 'answer'],
        properties: { question: { type: 'string' }, answer: { type: 'string' }, paraphrases: { type: 'array', items: { type: 'string' } } },
      },
    },
  },
} as const;

export interface PairModel {
  readonly name: string;
  /** One chat completion whose content must follow `schema`; returns the raw content. */
  complete(messages: ChatMessage[], schema: object, o?: { temperature?: number; maxTokens?: number }): Promise<string>;
}

export interface OpenAIPairModelOptions { baseUrl: string; model: string; apiKey?: string; timeoutMs?: number }

/** OpenAI-compatible chat with structured output (`response_format: json_schema`). */
export class OpenAIPairModel implements PairModel {
  readonly name: string;
  private readonly client: OpenAIClient;
  constructor(private readonly o: OpenAIPairModelOptions) {
    this.name = `openai:${o.model}`;
    this.client = new OpenAIClient({ baseURL: o.baseUrl, apiKey: o.apiKey, timeoutMs: o.timeoutMs ?? 180_000 });
  }
  async complete(messages: ChatMessage[], schema: object, g: { temperature?: number; maxTokens?: number } = {}): Promise<string> {
    try {
      const body = await this.client.chatCompletion({
        model: this.o.model, messages, temperature: g.temperature ?? 0.3, max_tokens: g.maxTokens ?? 1024,
        response_format: { type: 'json_schema', json_schema: { name: 'qa_pairs', strict: true, schema } },
      });
      return body.choices?.[0]?.message?.content ?? '';
    } catch (e) {
      throw e instanceof UpstreamError ? e.asDependencyError(`chat endpoint ${this.client.url('/chat/completions')}`) : e;
    }
  }
}

export interface ModelExtractOptions {
  /** Pairs per chunk (default 3). */
  perChunk?: number;
  /** Example questions in the users' style (the prompt asks for the same phrasing). */
  styleExamples?: string[];
  /** Chunks asked at once (default 2). */
  concurrency?: number;
}

export interface ExtractProblem { chunkId: string; itemId: string; label: string; reason: string; output?: string }

export function pairPrompt(chunk: Pick<Chunk, 'label' | 'docTitle' | 'text'>, n: number, examples: string[]): ChatMessage[] {
  const style = examples.length ? `\n用户提问的风格示例（照这种口吻提问）：\n${examples.slice(0, 6).map((e) => `- ${e}`).join('\n')}` : '';
  return [
    { role: 'system', content: '你根据给定的资料编写问答对，用于训练和测试问答机器人。只输出符合 JSON schema 的 JSON。' },
    { role: 'user', content: `资料（${chunk.docTitle} ${chunk.label}）：\n${chunk.text}\n\n请写 ${n} 个真实用户会问的问题，每个问题都能由这段资料回答；答案只用资料中的内容。每个问题再给 2 个不同说法（paraphrases）。${style}` },
  ];
}

/** Share of the answer's words found in the passage (a cheap grounding check of model output). */
function grounded(answer: string, passage: string): number {
  const a = segmentWords(answer).filter((w) => w.length >= 2);
  if (!a.length) return 0;
  const p = new Set(segmentWords(passage));
  return a.filter((w) => p.has(w)).length / a.length;
}

/** Runs the model over chunks; usable outputs become draft pairs, the rest problems. */
export async function extractModelPairs(model: PairModel, chunks: Chunk[], o: ModelExtractOptions = {}): Promise<{ pairs: DraftPair[]; problems: ExtractProblem[] }> {
  const n = o.perChunk ?? 3;
  const pairs: DraftPair[] = [];
  const problems: ExtractProblem[] = [];
  const queue = [...chunks];
  const one = async (c: Chunk) => {
    const problem = (reason: string, output?: string) => problems.push({ chunkId: c.id, itemId: c.itemId, label: c.label, reason, output: output?.slice(0, 500) });
    let raw: string;
    try { raw = await model.complete(pairPrompt(c, n, o.styleExamples ?? []), PAIRS_SCHEMA); } catch (e) { problem(`model error: ${(e as Error).message}`); return; }
    let parsed: unknown;
    try { parsed = JSON.parse(raw); } catch { problem('output is not JSON', raw); return; }
    const list = (parsed as { pairs?: unknown })?.pairs;
    if (!Array.isArray(list)) { problem('output has no "pairs" array', raw); return; }
    const good: DraftPair[] = [];
    const bad: string[] = [];
    for (const [i, x] of list.entries()) {
      const q = typeof (x as { question?: unknown })?.question === 'string' ? (x as { question: string }).question.trim() : '';
      const a = typeof (x as { answer?: unknown })?.answer === 'string' ? (x as { answer: string }).answer.trim() : '';
      const ps = Array.isArray((x as { paraphrases?: unknown }).paraphrases) ? ((x as { paraphrases: unknown[] }).paraphrases.filter((p) => typeof p === 'string' && p.trim()) as string[]).map((p) => p.trim()) : [];
      if (!q || !a) { bad.push(`pairs[${i}]: empty question or answer`); continue; }
      if (grounded(a, c.text) < 0.5) { bad.push(`pairs[${i}]: answer is not grounded in the chunk`); continue; }
      const source: PairSource = { kbId: c.kbId, docId: c.docId, itemId: c.itemId, chunkId: c.id, number: c.number, label: c.label, docTitle: c.docTitle };
      good.push({ question: q, paraphrases: ps.slice(0, Math.max(0, ps.length - 1)), heldOut: ps.slice(-1), answer: a, kind: 'model', source });
    }
    if (!good.length) { problem(bad.length ? `no usable pair (${bad.join('; ')})` : 'output has no pairs', raw); return; }
    if (bad.length) problem(`some pairs dropped: ${bad.join('; ')}`, raw);
    pairs.push(...good.slice(0, n));
  };
  const workers = Array.from({ length: Math.max(1, o.concurrency ?? 2) }, async () => { for (let c = queue.shift(); c; c = queue.shift()) await one(c); });
  await Promise.all(workers);
  const order = new Map(chunks.map((c, i) => [c.id, i]));
  pairs.sort((a, b) => order.get(a.source.chunkId!)! - order.get(b.source.chunkId!)!);
  problems.sort((a, b) => order.get(a.chunkId)! - order.get(b.chunkId)!);
  return { pairs, problems };
}
