/**
 * Tasks from a fine-tuning dataset's held-out split, so a fine-tune is scored on its own domain.
 *
 * Owns: turning chat records ({messages: [...]}, OpenAI / sharegpt role-content) and alpaca records
 * ({instruction, input, output}) into documents {id, system, question, answer}: the question is the last user turn
 * before the final assistant turn (earlier turns are dropped), the answer is that assistant turn; and two task
 * builders over them: generation (chat prompt; rouge_l primary, f1, bleu, contains) and conditional answer
 * perplexity (bits per byte of the answer given the question). Also the generator `heldout` for task files:
 *   dataset: {kind: generator, name: heldout, params: {path: val.jsonl}}
 * Guarantees: records without a user and a final assistant turn are skipped (counted in `skipped`), never guessed;
 * a records file is read only when it is a regular file within the size limit (./files.ts), asynchronously.
 */
import { readTextFile, readTextFileSync, MAX_RECORDS_BYTES } from './record-files.ts';
import { registerGenerator, validateTask, type TaskConfig } from './task.ts';
import type { Doc } from './bench-types.ts';

export interface HeldoutDoc extends Doc { id: string; system: string; question: string; answer: string }

type Msg = { role?: string; content?: unknown; from?: string; value?: unknown };

/** Documents from chat or alpaca records; `skipped` counts records that have no question/answer pair. */
export function heldoutDocs(records: readonly unknown[]): { docs: HeldoutDoc[]; skipped: number } {
  const docs: HeldoutDoc[] = [];
  let skipped = 0;
  records.forEach((r, i) => {
    const rec = r as Record<string, unknown>;
    if (typeof rec.instruction === 'string' && typeof rec.output === 'string') {
      const q = [rec.instruction, typeof rec.input === 'string' ? rec.input : ''].filter(Boolean).join('\n');
      docs.push({ id: String(i), system: typeof rec.system === 'string' ? rec.system : '', question: q, answer: rec.output });
      return;
    }
    const msgs = (Array.isArray(rec.messages) ? rec.messages : Array.isArray(rec.conversations) ? rec.conversations : null) as Msg[] | null;
    if (!msgs) { skipped++; return; }
    const norm = msgs.map((m) => ({ role: m.role ?? (m.from === 'human' ? 'user' : m.from === 'gpt' ? 'assistant' : m.from), content: String(m.content ?? m.value ?? '') }));
    const last = norm.length - 1;
    if (last < 1 || norm[last].role !== 'assistant' || norm[last - 1].role !== 'user') { skipped++; return; }
    const system = norm[0].role === 'system' ? norm[0].content : '';
    docs.push({ id: String(i), system, question: norm[last - 1].content, answer: norm[last].content });
  });
  return { docs, skipped };
}

/** Records from the text of a JSON Lines file or a JSON array (`name` for errors: the file, never its contents). */
export function parseRecords(text: string, name: string): unknown[] {
  if (text.trimStart().startsWith('[')) {
    try { return JSON.parse(text) as unknown[]; } catch (e) { throw new Error(`${name}: invalid JSON (${(e as Error).message})`); }
  }
  const out: unknown[] = [];
  let line = 0;
  for (const l of text.split('\n')) {
    line++;
    if (!l.trim()) continue;
    try { out.push(JSON.parse(l) as unknown); } catch (e) { throw new Error(`${name}: line ${line}: invalid JSON (${(e as Error).message})`); }
  }
  return out;
}

/** Reads JSON Lines or a JSON array of records: a regular file of at most `maxBytes`, asynchronously. */
export async function readRecords(path: string, maxBytes = MAX_RECORDS_BYTES): Promise<unknown[]> {
  return parseRecords(await readTextFile(path, maxBytes), path);
}

registerGenerator('heldout', (params) => {
  if (typeof params.path !== 'string') throw new Error('generator heldout: params.path (a JSONL or JSON file of records) is required');
  return heldoutDocs(parseRecords(readTextFileSync(params.path), params.path)).docs;
});

function commonSystem(docs: readonly HeldoutDoc[]): string | undefined {
  const s = docs[0]?.system;
  return s && docs.every((d) => d.system === s) ? s : undefined;
}

/** Generation on the held-out split: the model answers each question (chat template), scored against the answer. */
export function heldoutGenerationTask(name: string, docs: HeldoutDoc[], opts: { maxTokens?: number; limit?: number; version?: number } = {}): TaskConfig {
  return validateTask({
    task: name, version: opts.version ?? 1, dataset: { kind: 'inline', splits: { test: docs } }, output_type: 'generate_until',
    chat: true, system_prompt: commonSystem(docs), doc_to_text: '{{question}}', doc_to_target: '{{answer}}',
    generation_kwargs: { until: ['\n\n'], max_gen_toks: opts.maxTokens ?? 64 },
    metric_list: [{ metric: 'rouge_l' }, { metric: 'f1' }, { metric: 'bleu' }, { metric: 'contains' }], primary_metric: 'rouge_l',
    limit: opts.limit, metadata: { source: 'held-out split' },
  }, name);
}

/** Perplexity of each held-out answer given its question (chat template): how well the model knows its domain. */
export function heldoutPerplexityTask(name: string, docs: HeldoutDoc[], opts: { limit?: number; version?: number } = {}): TaskConfig {
  return validateTask({
    task: name, version: opts.version ?? 1, dataset: { kind: 'inline', splits: { test: docs } }, output_type: 'loglikelihood_rolling',
    chat: true, system_prompt: commonSystem(docs), doc_to_text: '{{question}}', doc_to_target: '{{answer}}',
    metric_list: [{ metric: 'bits_per_byte' }, { metric: 'byte_perplexity' }, { metric: 'token_perplexity' }], primary_metric: 'bits_per_byte',
    limit: opts.limit, metadata: { source: 'held-out split' },
  }, name);
}
