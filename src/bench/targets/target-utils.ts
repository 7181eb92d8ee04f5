/**
 * Helpers shared by the targets: chat-template resolution, content hashes for target ids, the rolling-window
 * plan for perplexity, and a bounded-concurrency map.
 * Guarantees: ids are content hashes (the same files give the same id on any machine, a changed file a new one).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { CHAT_TEMPLATES, type ChatTemplate } from '../../engine/tokenizer/tokenizer-exports.ts';
import type { BenchMessage } from '../bench-types.ts';

/** A chat template from a name (chatml, qwen2, llama3) or from Jinja text equal to one of ours; null when unknown. */
export function resolveChatTemplate(nameOrJinja: string | undefined | null): ChatTemplate | null {
  if (!nameOrJinja) return null;
  const byName = (CHAT_TEMPLATES as Record<string, ChatTemplate | undefined>)[nameOrJinja];
  if (byName) return byName;
  const norm = (s: string) => s.replace(/\s+/g, '');
  for (const t of Object.values(CHAT_TEMPLATES)) if (norm(t.jinja) === norm(nameOrJinja)) return t;
  if (nameOrJinja.includes('<|im_start|>')) return CHAT_TEMPLATES.chatml;
  if (nameOrJinja.includes('<|start_header_id|>')) return CHAT_TEMPLATES.llama3;
  return null;
}

/** Chat messages as plain text for models without a chat template: "role: content" paragraphs, then "assistant:". */
export function plainChatText(messages: readonly BenchMessage[]): string {
  return messages.map((m) => `${m.role}: ${m.content}`).join('\n\n') + '\n\nassistant:';
}

/** SHA-256 (hex, 16 chars) of files' bytes, in order (missing files hash their path only). */
export function hashFiles(paths: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of paths) {
    h.update(p.split('/').pop() ?? p);
    if (existsSync(p) && statSync(p).isFile()) h.update(readFileSync(p));
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * lm-evaluation-harness's rolling windows (get_rolling_token_windows with context_len 1): the text's tokens are
 * cut into disjoint prediction windows of at most `maxLen` tokens; each window is conditioned on the token before
 * it (the first on `prefix`, the BOS/EOS token). Without a prefix token the first token is not scored.
 */
export function rollingWindows(tokens: readonly number[], maxLen: number, prefix: number | null): Array<{ ctx: number[]; cont: number[] }> {
  const out: Array<{ ctx: number[]; cont: number[] }> = [];
  let start = prefix === null ? 1 : 0;
  while (start < tokens.length) {
    const end = Math.min(tokens.length, start + maxLen);
    out.push({ ctx: [start === 0 ? prefix! : tokens[start - 1]], cont: tokens.slice(start, end) });
    start = end;
  }
  return out;
}

/** Maps with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Cuts generated text before the first stop string. */
export function cutAtStop(text: string, stop: readonly string[] | undefined): string {
  let end = text.length;
  for (const s of stop ?? []) { if (!s) continue; const i = text.indexOf(s); if (i >= 0 && i < end) end = i; }
  return text.slice(0, end);
}

/** Sums the scores of each text's windows (scores in the order of `plans.flat()`). */
export function sumWindows(plans: ReadonlyArray<ReadonlyArray<unknown>>, scores: ReadonlyArray<{ logProb: number; tokens: number }>): Array<{ logProb: number; tokens: number }> {
  let k = 0;
  return plans.map((w) => {
    let logProb = 0, tokens = 0;
    for (let i = 0; i < w.length; i++, k++) { logProb += scores[k].logProb; tokens += scores[k].tokens; }
    return { logProb, tokens };
  });
}
