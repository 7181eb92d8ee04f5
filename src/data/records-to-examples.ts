/**
 * Dataset records -> the engine's training examples, through a tokenizer and a chat template, so the factory can
 * train from a dataset version: SFT (and the chosen side of preference data) as masked chats, pretraining text as
 * one token stream (documents joined by the tokenizer's EOS when it has one) cut into windows.
 */
import { pretrainExamples, sftExamples, type Example } from '../engine/batches.ts';
import type { Tokenizer } from '../engine/tokenizer/tokenizer-exports.ts';
import { engineMessages, recordChat, type AnyRecord, type PretrainRecord, type Stage } from './records.ts';
import { encodeWithTemplate, type ChatTemplateSpec } from './templates.ts';

export interface ExampleOptions {
  tokenizer: Tokenizer;
  /** Template name or spec; default chatml. */
  template?: string | ChatTemplateSpec;
  seqLen: number;
}

export function recordsToExamples(stage: Stage, records: readonly AnyRecord[], o: ExampleOptions): Example[] {
  if (stage === 'pretrain') {
    const stream: number[] = [];
    for (const r of records) {
      for (const id of o.tokenizer.encode((r as PretrainRecord).text)) stream.push(id);
      if (o.tokenizer.eosId !== null) stream.push(o.tokenizer.eosId);
    }
    return pretrainExamples(stream, o.seqLen);
  }
  if (stage === 'sft' || stage === 'preference') {
    const chats = records.map((r) => engineMessages(recordChat(stage, r), (r as { tools?: unknown[] }).tools));
    return sftExamples((m) => encodeWithTemplate(o.tokenizer, m, o.template ?? 'chatml'), chats, o.seqLen);
  }
  throw new Error(`stage '${stage}' has no example builder yet (KTO training comes with the factory)`);
}
