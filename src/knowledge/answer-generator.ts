/**
 * Answer generation for chat search. Owns the `Generator` interface, the grounded prompt (Chinese and English:
 * answer only from the numbered passages, cite them as [n], say so when they do not answer), an OpenAI-compatible
 * chat implementation, the extractive fallback used when no model is configured (quotes the best sentences of the
 * best passages with their [n]), and `JudgeFromGenerator` (a support judge for attribution built on any generator).
 * Guarantees: the extractive generator only ever outputs text copied from the passages plus citation markers and a
 * fixed lead-in, so everything it says is supported by construction.
 */
import type { Passage, SupportJudge } from './attribution.ts';
import { splitSentences } from './attribution.ts';
import { analyze, segmentWords } from './text/analyzer.ts';
import { OpenAIClient, UpstreamError } from '../openai/openai-client.ts';

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }
export interface GenerateOptions {
  maxTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
  /** Told the tokens the model counted (its own tokenizer), when the endpoint reports them. */
  onUsage?: (u: { prompt_tokens: number; completion_tokens: number }) => void;
}

export interface Generator {
  readonly name: string;
  /** True for the model-free extractive fallback. */
  readonly extractive?: boolean;
  generate(messages: ChatMessage[], o?: GenerateOptions): Promise<string>;
}

export type Lang = 'zh' | 'en';

export function detectLang(text: string): Lang {
  const cjk = text.match(/[\u3400-\u9fff]/g)?.length ?? 0;
  return cjk >= 2 || cjk > text.length / 10 ? 'zh' : 'en';
}

const SYSTEM: Record<Lang, string> = {
  zh: '你是一个严谨的知识库问答助手。只根据用户提供的编号资料回答问题，不要使用资料以外的知识。每句话后用 [编号] 标注其依据的资料，例如 [1] 或 [1][3]。如果资料不能回答问题，直接回答“资料中没有找到相关内容”，不要猜测。回答简洁，使用中文。',
  en: 'You are a careful knowledge-base assistant. Answer only from the numbered passages the user provides, never from outside knowledge. End every sentence with the passage numbers that support it, like [1] or [1][3]. If the passages do not answer the question, reply "The documents do not contain an answer." and do not guess. Be concise.',
};

/** The grounded prompt: system rules, then the numbered passages and the question. */
export function groundedPrompt(question: string, passages: Passage[], lang = detectLang(question)): ChatMessage[] {
  const head = lang === 'zh' ? '资料：' : 'Passages:';
  const q = lang === 'zh' ? '问题：' : 'Question:';
  const body = passages.map((p) => `[${p.ref}] ${p.label && !p.text.startsWith(p.label) ? `${p.label} ` : ''}${p.text}`).join('\n\n');
  return [{ role: 'system', content: SYSTEM[lang] }, { role: 'user', content: `${head}\n${body}\n\n${q}${question}` }];
}

export const NO_ANSWER: Record<Lang, string> = {
  zh: '资料中没有找到与这个问题相关的内容，无法根据知识库回答。',
  en: 'The knowledge base does not contain anything relevant to this question, so it cannot be answered from the documents.',
};

export interface OpenAIChatOptions { baseUrl: string; model: string; apiKey?: string; timeoutMs?: number }

/** Any OpenAI-compatible `/v1/chat/completions` endpoint (this product's own gateway, llama.cpp server, vLLM...). */
export class OpenAIChatGenerator implements Generator {
  readonly name: string;
  private readonly client: OpenAIClient;
  constructor(private readonly o: OpenAIChatOptions) {
    this.name = `openai:${o.model}`;
    this.client = new OpenAIClient({ baseURL: o.baseUrl, apiKey: o.apiKey, timeoutMs: o.timeoutMs ?? 120_000 });
  }
  async generate(messages: ChatMessage[], g: GenerateOptions = {}): Promise<string> {
    try {
      const body = await this.client.chatCompletion({ model: this.o.model, messages, max_tokens: g.maxTokens ?? 512, temperature: g.temperature ?? 0 }, { signal: g.signal });
      const u = body.usage;
      if (g.onUsage && u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number') g.onUsage({ prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens });
      return body.choices?.[0]?.message?.content ?? '';
    } catch (e) {
      throw e instanceof UpstreamError ? e.asDependencyError(`chat endpoint ${this.client.url('/chat/completions')}`) : e;
    }
  }
}

/**
 * No model: answers by quoting, from each of the best passages, the sentences that share the most words with the
 * question, each followed by its [n]. Reads the passages from the grounded prompt it is given.
 */
export class ExtractiveGenerator implements Generator {
  readonly name = 'extractive';
  readonly extractive = true;
  constructor(private readonly maxSentences = 3) {}

  async generate(messages: ChatMessage[]): Promise<string> {
    const user = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const m = /\n\n(?:问题：|Question:)([\s\S]*)$/.exec(user);
    const question = m ? m[1]!.trim() : user;
    const lang = detectLang(question);
    const passages = [...user.matchAll(/^\[(\d+)\] ([\s\S]*?)(?=\n\n\[\d+\] |\n\n(?:问题：|Question:))/gm)].map((x) => ({ ref: Number(x[1]), text: x[2]! }));
    const qWords = new Set(segmentWords(question));
    const qBigrams = new Set(analyze(question).bigrams);
    const picked: { ref: number; text: string; score: number; order: number }[] = [];
    passages.forEach((p, pi) => {
      splitSentences(p.text).forEach((s, si) => {
        const words = segmentWords(s.text);
        const hit = words.filter((w) => qWords.has(w)).length + 0.5 * analyze(s.text).bigrams.filter((b) => qBigrams.has(b)).length;
        // The retrieval ranked the passages: the best passage's opening always qualifies.
        const score = hit / Math.sqrt(words.length + 1) - pi * 0.05 + (pi === 0 && si === 0 ? 0.01 : 0);
        if (hit > 0 || (pi === 0 && si === 0)) picked.push({ ref: p.ref, text: s.text, score, order: pi * 1000 + s.start });
      });
    });
    const best = picked.sort((a, b) => b.score - a.score).slice(0, this.maxSentences).sort((a, b) => a.order - b.order);
    if (!best.length) return NO_ANSWER[lang];
    const lead = lang === 'zh' ? '根据知识库中的资料：' : 'From the documents:';
    const sep = lang === 'zh' ? '' : ' ';
    return `${lead}\n${best.map((b) => `${b.text.replace(/[。；;.]$/, '')}${lang === 'zh' ? '。' : '.'}[${b.ref}]`).join(sep)}`;
  }
}

/** A support judge on top of any chat generator: asks for a 0-10 support rating. */
export class JudgeFromGenerator implements SupportJudge {
  readonly name: string;
  constructor(private readonly g: Generator) { this.name = `judge:${g.name}`; }
  async judge(sentence: string, passages: Passage[]): Promise<number> {
    const prompt = `Passages:\n${passages.map((p, i) => `(${i + 1}) ${p.text}`).join('\n')}\n\nStatement: ${sentence}\n\n` +
      'On a scale of 0 to 10, how fully do the passages support the statement (10 = every fact in it is stated in the passages, 0 = not supported or contradicted)? Reply with the number only.';
    const out = await this.g.generate([{ role: 'user', content: prompt }], { maxTokens: 4, temperature: 0 });
    const n = Number(/\d+(\.\d+)?/.exec(out)?.[0] ?? NaN);
    return Number.isFinite(n) ? Math.min(1, Math.max(0, n / 10)) : 0;
  }
}
