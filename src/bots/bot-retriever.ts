/**
 * The retriever a bot trains for itself: the knowledge base's units as passages (knowledge/retriever.ts), asked with
 * their own sentences and titles and with the questions and paraphrases of the bot's approved pairs (rules or a
 * model made them from the same units: the document only, never a test set). Trained by a factory job when the server
 * has a factory (`RetrieverJobs`), else in this process. Pure apart from the training's CPU.
 */
import type { KbIndex } from '../knowledge/search.ts';
import { titleOf } from '../knowledge/search.ts';
import type { Chunk } from '../knowledge/knowledge-types.ts';
import type { Lexicon } from '../knowledge/text/lexicon.ts';
import { trainRetriever, type RetrieverOptions, type RetrieverQuestion, type RetrieverUnit, type TrainedRetriever } from '../knowledge/retriever.ts';
import type { Embedder } from '../knowledge/embed.ts';
import type { QaPair } from './bot-types.ts';

/** The units as one passage each (their parent chunks, in order), for a retriever to embed. */
export function unitPassages(kb: KbIndex): { itemId: string; title: string; text: string }[] {
  const by = new Map<string, Chunk[]>();
  for (const c of kb.parents.size ? kb.parents.values() : kb.children) by.set(c.itemId, [...(by.get(c.itemId) ?? []), c]);
  return [...by].map(([itemId, cs]) => ({ itemId, title: titleOf(cs[0]!), text: cs.map((c) => c.text).join('\n') }));
}

/**
 * A bot's retriever data: its units as passages, its approved pairs' questions and paraphrases as training questions
 * (pairs of units no longer in the knowledge base are skipped), and their held-out paraphrases (never trained on, nor
 * indexed) as the questions a factory job benchmarks the result on.
 */
export function botRetrieverData(kb: KbIndex, pairs: readonly QaPair[]): { units: RetrieverUnit[]; questions: RetrieverQuestion[]; validation: RetrieverQuestion[] } {
  const units = unitPassages(kb).map((u) => ({ id: u.itemId, title: u.title, text: u.text }));
  const have = new Set(units.map((u) => u.id));
  const kept = pairs.filter((p) => have.has(p.source.itemId));
  return {
    units,
    questions: kept.flatMap((p) => [p.question, ...p.paraphrases].map((text) => ({ unit: p.source.itemId, text }))),
    validation: kept.flatMap((p) => p.heldOut.map((text) => ({ unit: p.source.itemId, text }))),
  };
}

/** Trains the bot's retriever on its units and pairs, in this process (where no factory runs: the CLI, local use). */
export function trainBotRetriever(kb: KbIndex, pairs: readonly QaPair[], lexicon: Lexicon | null, opts: Partial<RetrieverOptions> = {}): { retriever: TrainedRetriever; curve: number[]; questions: number } {
  const { units, questions } = botRetrieverData(kb, pairs);
  return trainRetriever(units, questions, lexicon, opts);
}

/** A retriever job as a bot sees it (the factory's job, through `RetrieverJobs`). */
export interface RetrieverJobState {
  id: string;
  /** The factory's job status (queued, running, succeeded, failed, cancelled, ...). */
  status: string;
  /** The embedding model it made, once it succeeded (served at /v1/embeddings). */
  model: string | null;
  error: string | null;
}

/**
 * Where a bot's retriever trains when a factory runs: a factory job per bot version, found again by its metadata, and
 * the model it made as an embedder. api/server.ts wires it (the factory and the gateway); without it, a bot trains its
 * retriever in this process.
 */
export interface RetrieverJobs {
  /** The latest job with this metadata, or null. */
  find(metadata: Record<string, string>): Promise<RetrieverJobState | null>;
  submit(req: { name: string; units: RetrieverUnit[]; questions: RetrieverQuestion[]; validation: RetrieverQuestion[]; lexicon: string | null; dataset: string; metadata: Record<string, string> }): Promise<RetrieverJobState>;
  state(id: string): Promise<RetrieverJobState>;
  /** The served model, as the matcher embeds with it. */
  embedder(model: string): Promise<Embedder>;
}
