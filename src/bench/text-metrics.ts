/**
 * Benchmark metrics as pure functions, each following a published definition (cited per function), with the one
 * deliberate extension everywhere: CJK text is compared character by character (Chinese has no spaces, and the
 * English-only tokenizers of the references drop or glue it), as the CMRC 2018 and sacrebleu `zh` evaluations do.
 *
 * Owns: answer normalisation and tokenisation, exact match and token F1 (SQuAD v1.1), ROUGE-L (Lin 2004), BLEU
 * (sacrebleu's corpus and sentence BLEU with the 13a / zh tokenizers), contains / regex / valid-JSON checks,
 * multiple-choice decisions (acc, acc_norm, CircularEval), perplexity aggregates, and Bradley-Terry / Elo ratings.
 * Guarantees: deterministic; every score is in [0, 1] (BLEU is sacrebleu's score / 100) except perplexities and
 * ratings; empty inputs give 0, never NaN.
 */

// --------------------------------------------------------------------------------------------- text handling

/** CJK ideographs, kana, hangul and CJK punctuation/full-width forms: compared one character at a time. */
const CJK = /[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|[\u{20000}-\u{2fa1f}]/u;
const CJK_G = new RegExp(CJK.source, 'gu');

export function hasCjk(s: string): boolean {
  return CJK.test(s);
}

/** ASCII punctuation (Python's string.punctuation) plus CJK and general Unicode punctuation. */
const PUNCT = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~\p{P}\p{S}]/gu;

/**
 * SQuAD v1.1 `normalize_answer`: lower case, remove punctuation, remove the articles a/an/the, collapse spaces.
 * Extended with Unicode/CJK punctuation removal (CMRC 2018's `remove_punctuation`).
 */
export function normalizeAnswer(s: string): string {
  let t = s.toLowerCase().replace(PUNCT, ' ');
  t = t.replace(/\b(a|an|the)\b/g, ' ');
  return t.split(/\s+/).filter(Boolean).join(' ');
}

/**
 * Tokens of a normalised answer: whitespace-separated words, with every CJK character its own token
 * (CMRC 2018's `mixed_segmentation`). For text without CJK this is exactly SQuAD's `normalize_answer(s).split()`.
 */
export function answerTokens(s: string): string[] {
  const n = normalizeAnswer(s);
  if (!hasCjk(n)) return n ? n.split(' ') : [];
  return n.replace(CJK_G, (c) => ` ${c} `).split(/\s+/).filter(Boolean);
}

/** SQuAD exact match: 1 when the normalised prediction equals a normalised reference (max over references). */
export function exactMatch(pred: string, refs: string | readonly string[]): number {
  const p = answerTokens(pred).join(' ');
  return (typeof refs === 'string' ? [refs] : refs).some((r) => answerTokens(r).join(' ') === p) ? 1 : 0;
}

function counts(tokens: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of tokens) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

function overlap(a: readonly string[], b: readonly string[]): number {
  const cb = counts(b);
  let n = 0;
  for (const [t, c] of counts(a)) n += Math.min(c, cb.get(t) ?? 0);
  return n;
}

/**
 * SQuAD v1.1 token F1 (`f1_score`): harmonic mean of token precision and recall over the bag of normalised tokens,
 * max over references. Two empty answers score 1 (SQuAD v2's rule), one empty answer 0.
 */
export function tokenF1(pred: string, refs: string | readonly string[]): number {
  const p = answerTokens(pred);
  let best = 0;
  for (const r of typeof refs === 'string' ? [refs] : refs) {
    const g = answerTokens(r);
    if (p.length === 0 || g.length === 0) { best = Math.max(best, p.length === g.length ? 1 : 0); continue; }
    const same = overlap(p, g);
    if (same === 0) continue;
    const prec = same / p.length, rec = same / g.length;
    best = Math.max(best, (2 * prec * rec) / (prec + rec));
  }
  return best;
}

// --------------------------------------------------------------------------------------------- ROUGE-L

/** Tokens for ROUGE: Google's rouge-score default tokenizer (lower case, [a-z0-9]+ runs), plus one token per CJK char. */
export function rougeTokens(s: string): string[] {
  const t = s.toLowerCase().replace(CJK_G, (c) => ` ${c} `);
  return t.split(/\s+/).flatMap((w) => (CJK.test(w) ? [w] : w.replace(/[^a-z0-9]+/g, ' ').split(' '))).filter(Boolean);
}

/** Length of the longest common subsequence (dynamic programming, O(n*m) time, O(m) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  let prev = new Uint32Array(b.length + 1), cur = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/**
 * ROUGE-L F-measure (Lin 2004, section 3.1): R = LCS/|ref|, P = LCS/|pred|, F = (1+b^2)RP / (R + b^2 P) with b = 1
 * (as Google's rouge-score computes `rougeL` fmeasure). Max over references.
 */
export function rougeL(pred: string, refs: string | readonly string[]): number {
  const p = rougeTokens(pred);
  let best = 0;
  for (const r of typeof refs === 'string' ? [refs] : refs) {
    const g = rougeTokens(r);
    const l = lcsLength(p, g);
    if (l === 0) continue;
    const prec = l / p.length, rec = l / g.length;
    best = Math.max(best, (2 * prec * rec) / (prec + rec));
  }
  return best;
}

// --------------------------------------------------------------------------------------------- BLEU

/** sacrebleu's `13a` tokenizer (mteval-v13a.pl), used as is. */
export function tokenize13a(line: string): string {
  let s = line.replace(/<skipped>/g, '').replace(/-\n/g, '').replace(/\n/g, ' ');
  if (s.includes('&')) s = s.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  s = ` ${s} `;
  s = s.replace(/([{-~[-` -&(-+:-@/])/g, ' $1 ');
  s = s.replace(/([^0-9])([.,])/g, '$1 $2 ');
  s = s.replace(/([.,])([^0-9])/g, ' $1 $2');
  s = s.replace(/([0-9])(-)/g, '$1 $2 ');
  return s.split(/\s+/).filter(Boolean).join(' ');
}

/** sacrebleu's `zh` tokenizer in spirit: every CJK character separated, then 13a on the rest. */
export function tokenizeZh(line: string): string {
  return tokenize13a(line.trim().replace(CJK_G, (c) => ` ${c} `));
}

export type BleuTokenizer = '13a' | 'zh' | 'auto';

function bleuTokens(s: string, tok: BleuTokenizer): string[] {
  const useZh = tok === 'zh' || (tok === 'auto' && hasCjk(s));
  const t = useZh ? tokenizeZh(s) : tokenize13a(s);
  return t ? t.split(' ') : [];
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const k = tokens.slice(i, i + n).join('\u0001');
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

export interface BleuStats { correct: number[]; total: number[]; sysLen: number; refLen: number }

/** Sufficient statistics of one segment (clipped n-gram matches, closest reference length, shorter on ties). */
export function bleuStats(hyp: string, refs: readonly string[], tok: BleuTokenizer = 'auto', maxOrder = 4): BleuStats {
  const h = bleuTokens(hyp, tok);
  const rs = refs.map((r) => bleuTokens(r, tok));
  const correct = new Array<number>(maxOrder).fill(0), total = new Array<number>(maxOrder).fill(0);
  let refLen = rs.length ? rs[0].length : 0;
  for (const r of rs) {
    const d = Math.abs(r.length - h.length), best = Math.abs(refLen - h.length);
    if (d < best || (d === best && r.length < refLen)) refLen = r.length;
  }
  for (let n = 1; n <= maxOrder; n++) {
    const maxRef = new Map<string, number>();
    for (const r of rs) for (const [k, c] of ngramCounts(r, n)) maxRef.set(k, Math.max(maxRef.get(k) ?? 0, c));
    for (const [k, c] of ngramCounts(h, n)) correct[n - 1] += Math.min(c, maxRef.get(k) ?? 0);
    total[n - 1] = Math.max(0, h.length - n + 1);
  }
  return { correct, total, sysLen: h.length, refLen };
}

/**
 * BLEU from statistics, as sacrebleu's `BLEU.compute_bleu` with smooth_method 'exp' (its default): an order with no
 * match gets precision 1 / (2^k * total) for the k-th such order; BP = exp(1 - r/c) when c < r.
 * `effectiveOrder` (sacrebleu's sentence_bleu default) drops orders the hypothesis is too short to have.
 * Returns sacrebleu's score / 100, in [0, 1].
 */
export function bleuFromStats(s: BleuStats, effectiveOrder = false): number {
  if (s.sysLen === 0) return 0;
  const maxOrder = s.correct.length;
  let smooth = 1, logSum = 0, order = 0;
  for (let n = 0; n < maxOrder; n++) {
    if (s.total[n] === 0) { if (effectiveOrder) continue; return 0; }
    let p: number;
    if (s.correct[n] === 0) { smooth *= 2; p = 1 / (smooth * s.total[n]); } else p = s.correct[n] / s.total[n];
    logSum += Math.log(p);
    order++;
  }
  if (order === 0) return 0;
  const bp = s.sysLen < s.refLen ? Math.exp(1 - s.refLen / s.sysLen) : 1;
  return bp * Math.exp(logSum / (effectiveOrder ? order : maxOrder));
}

/** sacrebleu `corpus_bleu(hyps, [refs...])`: statistics summed over segments, then one BLEU. refs[i] are segment i's references. */
export function corpusBleu(hyps: readonly string[], refs: ReadonlyArray<readonly string[]>, tok: BleuTokenizer = 'auto'): number {
  if (hyps.length !== refs.length) throw new Error(`corpusBleu: ${hyps.length} hypotheses, ${refs.length} reference sets`);
  const sum: BleuStats = { correct: [0, 0, 0, 0], total: [0, 0, 0, 0], sysLen: 0, refLen: 0 };
  hyps.forEach((h, i) => {
    const s = bleuStats(h, refs[i], tok);
    for (let n = 0; n < 4; n++) { sum.correct[n] += s.correct[n]; sum.total[n] += s.total[n]; }
    sum.sysLen += s.sysLen;
    sum.refLen += s.refLen;
  });
  return bleuFromStats(sum);
}

/** sacrebleu `sentence_bleu` (exp smoothing, effective order). */
export function sentenceBleu(hyp: string, refs: string | readonly string[], tok: BleuTokenizer = 'auto'): number {
  return bleuFromStats(bleuStats(hyp, typeof refs === 'string' ? [refs] : refs, tok), true);
}

// --------------------------------------------------------------------------------------------- simple checks

/** 1 when a normalised reference occurs in the normalised prediction (CJK-aware; spaces ignored around CJK). */
export function contains(pred: string, refs: string | readonly string[]): number {
  const p = answerTokens(pred).join(' ');
  return (typeof refs === 'string' ? [refs] : refs).some((r) => {
    const g = answerTokens(r).join(' ');
    return g.length > 0 && ` ${p} `.includes(` ${g} `);
  }) ? 1 : 0;
}

/** 1 when the regular expression (JavaScript syntax; flags allowed as /re/flags) matches the prediction. */
export function regexMatch(pred: string, pattern: string): number {
  const m = /^\/(.*)\/([dgimsuy]*)$/s.exec(pattern);
  const re = m ? new RegExp(m[1], m[2]) : new RegExp(pattern);
  return re.test(pred) ? 1 : 0;
}

/** 1 when the answer is valid JSON: the whole trimmed text, or the body of a single ```json fenced block. */
export function validJson(pred: string): number {
  const t = pred.trim();
  const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/i.exec(t);
  try {
    JSON.parse(fenced ? fenced[1] : t);
    return 1;
  } catch {
    return 0;
  }
}

// --------------------------------------------------------------------------------------------- multiple choice

/** Index of the largest value, the first one on ties (numpy argmax, as lm-evaluation-harness uses). */
export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Multiple-choice decisions of one item from the log-likelihood of each choice (lm-evaluation-harness
 * `process_results` for output_type multiple_choice): acc = argmax(ll) is gold; acc_norm = argmax(ll / len) is gold
 * where len is the UTF-8 byte length of the choice continuation (the harness divides by character count, which is
 * the same for ASCII; bytes are the brief's and the harness's documented definition).
 */
export function mcDecision(lls: readonly number[], choices: readonly string[], gold: number): { pred: number; predNorm: number; acc: number; accNorm: number } {
  if (lls.length !== choices.length) throw new Error(`mcDecision: ${lls.length} log-likelihoods for ${choices.length} choices`);
  const pred = argmax(lls);
  const predNorm = argmax(lls.map((l, i) => l / Math.max(1, utf8Length(choices[i]))));
  return { pred, predNorm, acc: pred === gold ? 1 : 0, accNorm: predNorm === gold ? 1 : 0 };
}

/** CircularEval (MMBench, Liu et al. 2023): an item counts only when every rotation of its options is answered right. */
export function circularCorrect(rotations: ReadonlyArray<{ pred: number; gold: number }>): number {
  return rotations.length > 0 && rotations.every((r) => r.pred === r.gold) ? 1 : 0;
}

/** Options rotated left by `shift`: out[i] = xs[(i + shift) % n]. The old gold g sits at (g - shift) mod n. */
export function rotate<T>(xs: readonly T[], shift: number): T[] {
  const n = xs.length;
  return xs.map((_, i) => xs[(i + shift) % n]);
}

export function rotatedGold(gold: number, shift: number, n: number): number {
  return (((gold - shift) % n) + n) % n;
}

// --------------------------------------------------------------------------------------------- perplexity

export interface PerplexityAggregate {
  /** exp(-sum ll / tokens): depends on the tokenizer, comparable only between models sharing one. */
  token_perplexity: number;
  /** exp(-sum ll / bytes), comparable across tokenizers (lm-evaluation-harness `byte_perplexity`). */
  byte_perplexity: number;
  /** -sum ll / (bytes * ln 2) (lm-evaluation-harness `bits_per_byte`). */
  bits_per_byte: number;
  /** exp(-sum ll / words), whitespace words (CJK characters count as words). */
  word_perplexity: number;
}

export function wordCount(s: string): number {
  return s.replace(CJK_G, ' x ').split(/\s+/).filter(Boolean).length;
}

/** Corpus-level perplexities (weighted by length, as the harness's weighted_perplexity / bits_per_byte). */
export function perplexityAggregate(items: ReadonlyArray<{ logProb: number; tokens: number; text: string }>): PerplexityAggregate {
  let ll = 0, tokens = 0, bytes = 0, words = 0;
  for (const it of items) { ll += it.logProb; tokens += it.tokens; bytes += utf8Length(it.text); words += wordCount(it.text); }
  return {
    token_perplexity: Math.exp(-ll / Math.max(1, tokens)),
    byte_perplexity: Math.exp(-ll / Math.max(1, bytes)),
    bits_per_byte: -ll / Math.max(1, bytes) / Math.LN2,
    word_perplexity: Math.exp(-ll / Math.max(1, words)),
  };
}

// --------------------------------------------------------------------------------------------- aggregation

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/** Sample standard error of the mean (what the harness prints as stderr). */
export function stderrOfMean(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  const v = xs.reduce((a, b) => a + (b - m) * (b - m), 0) / (xs.length - 1);
  return Math.sqrt(v / xs.length);
}

// --------------------------------------------------------------------------------------------- pairwise ratings

export interface PairwiseGame { a: string; b: string; /** 1: a wins, 0: b wins, 0.5: tie. */ score: number }

/**
 * Bradley-Terry strengths by Hunter's (2004) MM algorithm: p_i <- W_i / sum_j n_ij / (p_i + p_j), then normalised
 * to sum 1; a tie counts half a win to each side. Returns strengths (sum 1) and the log-likelihood. Players with no
 * game keep the mean strength. Converged when the largest relative change is below `tol`.
 * A small prior (`prior` virtual ties against every other player, default 0.01) keeps undefeated or winless
 * players finite, as Chatbot Arena's regularised fit does.
 */
export function bradleyTerry(games: readonly PairwiseGame[], opts: { iterations?: number; tol?: number; prior?: number } = {}): { strengths: Record<string, number>; iterations: number } {
  const players = [...new Set(games.flatMap((g) => [g.a, g.b]))].sort();
  const idx = new Map(players.map((p, i) => [p, i]));
  const n = players.length;
  if (n === 0) return { strengths: {}, iterations: 0 };
  const wins = new Float64Array(n), pairs = new Float64Array(n * n);
  for (const g of games) {
    const i = idx.get(g.a)!, j = idx.get(g.b)!;
    if (i === j) continue;
    wins[i] += g.score; wins[j] += 1 - g.score;
    pairs[i * n + j]++; pairs[j * n + i]++;
  }
  const prior = opts.prior ?? 0.01;
  if (prior > 0) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) { pairs[i * n + j] += prior; wins[i] += prior / 2; }
  let p = new Float64Array(n).fill(1 / n);
  const maxIt = opts.iterations ?? 10_000, tol = opts.tol ?? 1e-12;
  let it = 0;
  for (; it < maxIt; it++) {
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let den = 0;
      for (let j = 0; j < n; j++) if (j !== i && pairs[i * n + j] > 0) den += pairs[i * n + j] / (p[i] + p[j]);
      next[i] = den > 0 ? wins[i] / den : p[i];
    }
    const z = next.reduce((a, b) => a + b, 0);
    let change = 0;
    for (let i = 0; i < n; i++) { next[i] /= z; change = Math.max(change, Math.abs(next[i] - p[i]) / Math.max(p[i], 1e-300)); }
    p = next;
    if (change < tol) { it++; break; }
  }
  return { strengths: Object.fromEntries(players.map((name, i) => [name, p[i]])), iterations: it };
}

/** Bradley-Terry strengths on the Elo scale: 400 * log10(p / p_anchor) + 1000 (the anchor is the mean strength). */
export function bradleyTerryToElo(strengths: Record<string, number>): Record<string, number> {
  const names = Object.keys(strengths);
  const logMean = names.reduce((a, k) => a + Math.log10(strengths[k]), 0) / Math.max(1, names.length);
  return Object.fromEntries(names.map((k) => [k, 1000 + 400 * (Math.log10(strengths[k]) - logMean)]));
}

/**
 * Online Elo over games in order (Elo 1978; Chatbot Arena's `compute_elo`): expected E_a = 1 / (1 + 10^((R_b - R_a)/400)),
 * R_a += K (S_a - E_a), R_b -= K (S_a - E_a). Defaults K = 4 and initial 1000, as Chatbot Arena.
 */
export function elo(games: readonly PairwiseGame[], opts: { k?: number; initial?: number } = {}): Record<string, number> {
  const K = opts.k ?? 4, init = opts.initial ?? 1000;
  const r: Record<string, number> = {};
  for (const g of games) {
    r[g.a] ??= init; r[g.b] ??= init;
    const ea = 1 / (1 + 10 ** ((r[g.b] - r[g.a]) / 400));
    r[g.a] += K * (g.score - ea);
    r[g.b] -= K * (g.score - ea);
  }
  return r;
}
