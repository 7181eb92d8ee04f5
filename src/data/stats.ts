/**
 * Dataset statistics: rows, tokens per role under a chosen tokenizer (or the rough estimate of limits.ts), a
 * histogram of record lengths in tokens, and languages (by script: zh, ja, ko, en, other).
 */
import type { Tokenizer } from '../engine/tokenizer/tokenizer-exports.ts';
import { estimateTokens } from './dataset-limits.ts';
import { engineMessages, recordChat, recordTexts, type AnyRecord, type PreferenceRecord, type PretrainRecord, type Stage } from './records.ts';

export interface DatasetStats {
  rows: number;
  /** 'estimate' or the tokenizer's description. */
  tokenizer: string;
  tokens: { total: number; byRole: Record<string, number> };
  lengths: { min: number; max: number; mean: number; p50: number; p95: number; histogram: { upTo: number | null; count: number }[] };
  languages: Record<string, number>;
}

export type TokenCounter = (text: string) => number;

export function tokenCounter(tok?: Tokenizer): TokenCounter {
  return tok ? (t) => tok.encode(t).length : estimateTokens;
}

const BOUNDS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];

/** The language of a text by its letters' scripts. */
export function detectLanguage(text: string): string {
  let han = 0, kana = 0, hangul = 0, latin = 0, other = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) { if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) latin++; continue; }
    if ((c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf)) han++;
    else if (c >= 0x3040 && c <= 0x30ff) kana++;
    else if (c >= 0xac00 && c <= 0xd7af) hangul++;
    else if (/\p{L}/u.test(ch)) other++;
  }
  const total = han + kana + hangul + latin + other;
  if (total === 0) return 'none';
  if (kana > 0 && kana + han >= total * 0.3) return 'ja';
  if (hangul >= total * 0.3) return 'ko';
  // a Chinese character carries about as much as a short English word: weigh it so
  if (han * 3 >= latin && han > 0) return 'zh';
  if (latin >= total * 0.6) return 'en';
  return 'other';
}

export function computeStats(stage: Stage, records: readonly AnyRecord[], count: TokenCounter = estimateTokens, tokenizerName = 'estimate'): DatasetStats {
  const byRole: Record<string, number> = {};
  const lengths: number[] = [];
  const languages: Record<string, number> = {};
  for (const r of records) {
    let n = 0;
    const add = (role: string, text: string) => { const k = count(text); byRole[role] = (byRole[role] ?? 0) + k; n += k; };
    if (stage === 'pretrain') add('text', (r as PretrainRecord).text);
    else {
      const tools = (r as { tools?: unknown[] }).tools;
      for (const m of engineMessages(recordChat(stage === 'preference' ? 'sft' : stage, r), tools)) add(m.role, m.content);
      if (stage === 'preference') { add('chosen', (r as PreferenceRecord).chosen.content); add('rejected', (r as PreferenceRecord).rejected.content); }
    }
    lengths.push(n);
    const lang = detectLanguage(recordTexts(stage, r).join('\n').slice(0, 4000));
    languages[lang] = (languages[lang] ?? 0) + 1;
  }
  const sorted = [...lengths].sort((a, b) => a - b);
  const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);
  const histogram = [...BOUNDS.map((b) => ({ upTo: b as number | null, count: 0 })), { upTo: null, count: 0 }];
  for (const n of lengths) {
    const i = BOUNDS.findIndex((b) => n <= b);
    histogram[i < 0 ? BOUNDS.length : i].count++;
  }
  const total = lengths.reduce((a, b) => a + b, 0);
  return {
    rows: records.length,
    tokenizer: tokenizerName,
    tokens: { total, byRole },
    lengths: { min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0, mean: records.length ? Math.round(total / records.length) : 0, p50: q(0.5), p95: q(0.95), histogram },
    languages,
  };
}
