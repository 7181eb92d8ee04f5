/**
 * Size limits checked before anything is stored, and the rough token estimate they use.
 *
 * Defaults: 512 MiB a file, 1 MiB a record (its UTF-8 JSON), 8,192 estimated tokens a record, 64 levels of JSON
 * nesting. The token estimate is deliberately on the high side of a byte-level BPE with a small vocabulary: one token
 * per Han/Kana/Hangul character, one per 4 letters of a word and one per 3 digits of a number (rounded up, as GPT-4 and
 * Llama 3 group digits), one per punctuation mark.
 * OpenAI's deliberately imperfect `toy_chat_fine_tuning.jsonl` line 5 ("Eat a banana!" x 2000, 26,000 characters)
 * estimates at about 10,000 tokens, over the default limit.
 */
export interface Limits {
  maxFileBytes: number;
  maxRecordBytes: number;
  maxRecordTokens: number;
  maxDepth: number;
  /** Problems listed before the rest are only counted. */
  maxProblems: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxFileBytes: 512 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
  maxRecordTokens: 8192,
  maxDepth: 64,
  maxProblems: 1000,
};

export function resolveLimits(l: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) };
}

const PIECE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|\p{L}+|\p{N}+|[^\s\p{L}\p{N}]/gu;

/** A rough, high-side token count for text (no tokenizer needed). */
export function estimateTokens(text: string): number {
  let n = 0;
  for (const m of text.matchAll(PIECE)) {
    const s = m[0];
    n += s.length === 1 ? 1 : Math.ceil(s.length / (/^\p{N}/u.test(s) ? 3 : 4));
  }
  return n;
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KiB`;
  return `${n} bytes`;
}
