/**
 * The Bot Factory's shared types: question–answer pairs (with their source unit and review state), bots (a knowledge
 * base, approved pairs, an optional model, a system prompt, a temperature preset, a fallback answer, a guard
 * policy), bot versions (frozen snapshots of config + approved pairs), test reports (accuracy, groundedness,
 * latency per version, and the person's approval) and the answer shape with its citations. Pure types and a few
 * constants; every other module in src/bots/ speaks these.
 */
import type { Explanation } from './report.ts';

export type PairState = 'pending' | 'approved' | 'rejected';

/** What a pair was derived from (the rule that made it, a model, or a person). */
export type PairKind = 'topic' | 'definition' | 'obligation' | 'condition' | 'time' | 'penalty' | 'faq' | 'model' | 'manual';

/** Where a pair's answer comes from: one knowledge unit (article or section) and, when known, one chunk. */
export interface PairSource {
  kbId: string;
  docId: string;
  itemId: string;
  chunkId?: string;
  /** Article number for statutes. */
  number?: number;
  label: string;
  docTitle: string;
}

export interface QaPair {
  id: string;
  bot: string;
  /** The canonical question. */
  question: string;
  /** More phrasings of the same question; indexed for matching. */
  paraphrases: string[];
  /** Phrasings kept out of the index: the auto-test asks them (the bot never saw them). */
  heldOut: string[];
  answer: string;
  source: PairSource;
  origin: 'rules' | 'model' | 'manual';
  kind: PairKind;
  state: PairState;
  version: number;
  updatedAt: number;
  note?: string;
  /** Set when the extraction's screen rejected the pair as no question a person would ask: the rule and why. */
  rejection?: { rule: string; reason: string };
}

/** Temperature presets (the generator's sampling temperature). */
export const TEMPERATURE_PRESETS = { precise: 0, balanced: 0.4, creative: 0.8 } as const;
export type TemperaturePreset = keyof typeof TEMPERATURE_PRESETS;

/** An OpenAI-compatible chat model for grounded answers (and model-based extraction). */
export interface BotModel { baseUrl: string; model: string; apiKeyEnv?: string }

export interface BotConfig {
  kbId: string;
  model: BotModel | null;
  systemPrompt: string;
  temperature: TemperaturePreset;
  fallback: string;
  /** A guard policy name, run by the chat endpoint on every question and answer; null for none. Live: the bot's current value applies to every version. */
  guard: string | null;
  /** Minimum match confidence (0..1) to answer rather than fall back. */
  minConfidence: number;
  /** Passages cited per answer (default 3). */
  citations: number;
  /**
   * Train a retriever for the bot (a small dual encoder over its units and approved pairs, bots/bot-retriever.ts)
   * and fuse it with lexical matching; default false.
   */
  retriever?: boolean;
}

export interface Bot {
  name: string;
  description: string;
  config: BotConfig;
  createdAt: number;
  updatedAt: number;
  /** The published version, or null. */
  published: { version: number; at: number; by: string } | null;
}

export type VersionStatus = 'draft' | 'tested' | 'approved' | 'published' | 'retired';

/** A frozen bot: config and the approved pairs at the time it was made. */
export interface BotVersion {
  bot: string;
  version: number;
  createdAt: number;
  config: BotConfig;
  pairs: QaPair[];
  status: VersionStatus;
  /** The report a person approved (required before publishing). */
  approvedReport: string | null;
}

export interface TestQuestion { q: string; gold: number | string; style?: string }

export interface StyleFigures { n: number; top1: number; top3: number }

export interface TestReport {
  id: string;
  bot: string;
  version: number;
  createdAt: number;
  /** 'held-out' = the pairs' held-out paraphrases; 'set' = a question set given by the user. */
  source: 'held-out' | 'set';
  questions: number;
  /** Share of questions whose best match is the right source unit. */
  top1: number;
  top3: number;
  /** Questions answered (not the fallback). */
  answered: number;
  /** Answers whose every sentence is supported by a passage of the whole knowledge base. */
  grounded: number;
  /** grounded / answered: every sentence of the answer supported by the knowledge base (attribution check). */
  groundedness: number;
  /** What produced the answers: 'extractive' (quotes) or the model's name. */
  generator: string;
  /** Share of questions answered with the fallback. */
  fallbackRate: number;
  p50_ms: number;
  p95_ms: number;
  perStyle: Record<string, StyleFigures>;
  misses: { q: string; gold: number | string; got: (number | string)[]; style?: string }[];
  /** What each figure counts, over which questions (English and Chinese; src/bots/report.ts). */
  explain: Explanation;
  approval: { by: string; at: number; decision: 'approved' | 'rejected'; note?: string } | null;
}

/** One citation of an answer: which document, which article or chunk, and the passage. */
export interface BotCitation {
  ref: number;
  document: string;
  docId: string;
  itemId: string;
  chunkId: string;
  /** Article number for statutes, else null. */
  article: number | null;
  label: string;
  passage: string;
  score: number;
  /** False when the answer is below the bot's confidence bar: the unit is a candidate, shown as "not sure" (不确定). */
  sure: boolean;
}

export interface BotAnswer {
  bot: string;
  version: number;
  question: string;
  answer: string;
  /** False when the fallback answer was given. */
  found: boolean;
  /**
   * False when nothing cleared the confidence bar: the answer is the fallback, and the citations (when any unit shares
   * a word with the question) are the best candidates, each marked not sure.
   */
  sure: boolean;
  /** The question's language ('zh' or 'en'); the answer is framed in it. */
  language: 'zh' | 'en';
  /** When the question was not in the documents' language: what was searched, and who translated it. */
  translated?: { query: string; by: 'dictionary' | 'model' };
  /** 0..1: how sure the match is (the fallback is given below the bot's minConfidence). */
  confidence: number;
  generator: string;
  citations: BotCitation[];
  /** The matched pair, when the best match came through a pair's question. */
  pair: { id: string; question: string } | null;
  ms: number;
  /** The tokens the answering model counted (its own tokenizer, as its endpoint reported them); absent when no model answered. */
  usage?: { promptTokens: number; completionTokens: number };
}

export const DEFAULT_SYSTEM_PROMPT = '你是一个严谨的问答助手。只根据给出的资料回答，引用条文编号，不要编造。';
export const DEFAULT_FALLBACK = '抱歉，这个问题我在资料中没有找到可靠的答案。您可以换个说法再问，或联系人工客服。';
