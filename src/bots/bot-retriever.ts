/**
 * The retriever a bot trains for itself: the knowledge base's units as passages (knowledge/retriever.ts), asked with
 * their own sentences and titles and with the questions and paraphrases of the bot's approved pairs (rules or a
 * model made them from the same units: the document only, never a test set). Pure apart from the training's CPU.
 */
import type { KbIndex } from '../knowledge/search.ts';
import { titleOf } from '../knowledge/search.ts';
import type { Chunk } from '../knowledge/knowledge-types.ts';
import type { Lexicon } from '../knowledge/text/lexicon.ts';
import { trainRetriever, type RetrieverOptions, type TrainedRetriever } from '../knowledge/retriever.ts';
import type { QaPair } from './bot-types.ts';

/** The units as one passage each (their parent chunks, in order), for a retriever to embed. */
export function unitPassages(kb: KbIndex): { itemId: string; title: string; text: string }[] {
  const by = new Map<string, Chunk[]>();
  for (const c of kb.parents.size ? kb.parents.values() : kb.children) by.set(c.itemId, [...(by.get(c.itemId) ?? []), c]);
  return [...by].map(([itemId, cs]) => ({ itemId, title: titleOf(cs[0]!), text: cs.map((c) => c.text).join('\n') }));
}

/** Trains the bot's retriever on its units and pairs (pairs of units no longer in the knowledge base are skipped). */
export function trainBotRetriever(kb: KbIndex, pairs: readonly QaPair[], lexicon: Lexicon | null, opts: Partial<RetrieverOptions> = {}): { retriever: TrainedRetriever; curve: number[]; questions: number } {
  const units = unitPassages(kb).map((u) => ({ id: u.itemId, title: u.title, text: u.text }));
  const have = new Set(units.map((u) => u.id));
  const questions = pairs.filter((p) => have.has(p.source.itemId)).flatMap((p) => [p.question, ...p.paraphrases].map((text) => ({ unit: p.source.itemId, text })));
  return trainRetriever(units, questions, lexicon, opts);
}
