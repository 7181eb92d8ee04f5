/**
 * The retriever a bot trains for itself: the knowledge base's units as passages (knowledge/retriever.ts), asked with
 * their own sentences and titles and with the questions and paraphrases of the bot's approved pairs (rules or a
 * model made them from the same units: the document only, never a test set). Trained by a factory job when the server
 * has a factory (`RetrieverJobs`, knowledge/retriever.ts), else in this process. Pure apart from the training's CPU.
 */
import type { KbIndex } from '../knowledge/search.ts';
import type { Lexicon } from '../knowledge/text/lexicon.ts';
import { retrieverUnits, trainRetriever, type RetrieverOptions, type RetrieverQuestion, type RetrieverUnit, type TrainedRetriever } from '../knowledge/retriever.ts';
import type { QaPair } from './bot-types.ts';

/**
 * A bot's retriever data: its units as passages, its approved pairs' questions and paraphrases as training questions
 * (pairs of units no longer in the knowledge base are skipped), and their held-out paraphrases (never trained on, nor
 * indexed) as the questions a factory job benchmarks the result on.
 */
export function botRetrieverData(kb: KbIndex, pairs: readonly QaPair[]): { units: RetrieverUnit[]; questions: RetrieverQuestion[]; validation: RetrieverQuestion[] } {
  const units = retrieverUnits(kb);
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
