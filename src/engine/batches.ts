/**
 * Training examples and batches. An Example is a token sequence with its labels already shifted: labels[i] is the
 * token that should follow ids[i], or IGNORE_INDEX where no loss is taken (prompt tokens, padding, weight-0 turns).
 *
 *   pretraining: a token stream cut into windows of seqLen + 1 tokens (every position scored);
 *   SFT:         one chat per example, scored only where the chat template's label mask says so.
 *
 * Batches pad to the longest example in the batch (right padding is safe under a causal mask). Packed, a batch's
 * examples share rows instead (`collatePacked`: first fit, longest first, rows of at most `capacity` tokens), each
 * example's positions numbered from 0 again; the model reads a restart as the start of a sequence that attends to
 * nothing before it, so a packed batch scores exactly the tokens the padded one does, over fewer pad tokens. The
 * torch trainer packs a micro-batch the same way (trainers/torch: data.py).
 */
import { IGNORE_INDEX } from './ops/loss.ts';
import type { Rng } from './rng.ts';
import type { ChatMessage } from './tokenizer/chat-template.ts';

export interface Example { ids: Int32Array; labels: Int32Array }
/** `positions`, when packed: each token's position in its own example (padding: one more sequence). */
export interface Batch { ids: Int32Array; labels: Int32Array; B: number; T: number; tokens: number; positions?: Int32Array }

/** Cuts a token stream into next-token examples of seqLen tokens (a shorter tail is dropped if under 2 tokens). */
export function pretrainExamples(tokens: ArrayLike<number>, seqLen: number, stride = seqLen): Example[] {
  const out: Example[] = [];
  for (let s = 0; s + 1 < tokens.length; s += stride) {
    const end = Math.min(s + seqLen + 1, tokens.length);
    if (end - s < 2) break;
    const w = Int32Array.from({ length: end - s }, (_, i) => tokens[s + i]);
    out.push({ ids: w.subarray(0, w.length - 1), labels: w.slice(1) });
    if (end === tokens.length) break;
  }
  return out;
}

/** An SFT example from token ids and a per-token mask (1 = train on this token), truncated to seqLen + 1 tokens. */
export function maskedExample(ids: ArrayLike<number>, mask: ArrayLike<number>, seqLen: number): Example | null {
  const n = Math.min(ids.length, seqLen + 1);
  if (n < 2) return null;
  const x = new Int32Array(n - 1), y = new Int32Array(n - 1);
  let scored = 0;
  for (let i = 0; i < n - 1; i++) {
    x[i] = ids[i];
    y[i] = mask[i + 1] ? ids[i + 1] : IGNORE_INDEX;
    if (y[i] !== IGNORE_INDEX) scored++;
  }
  return scored > 0 ? { ids: x, labels: y } : null;
}

/** Pads to the longest example, rounded up to a multiple of `multiple` (fewer distinct shapes to allocate). */
export function collate(examples: readonly Example[], padId: number, multiple = 8): Batch {
  const B = examples.length;
  let T = 0, tokens = 0;
  for (const e of examples) { T = Math.max(T, e.ids.length); tokens += e.ids.length; }
  T = Math.ceil(T / multiple) * multiple;
  const ids = new Int32Array(B * T).fill(padId), labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  examples.forEach((e, b) => { ids.set(e.ids, b * T); labels.set(e.labels, b * T); });
  return { ids, labels, B, T, tokens };
}

/**
 * Example indices per row: first fit over the examples, longest first (ties in order), rows of at most `capacity`
 * tokens (an example longer than that gets a row of its own).
 */
export function packRows(lengths: readonly number[], capacity: number): number[][] {
  const rows: number[][] = [], room: number[] = [];
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  for (const i of order) {
    const n = lengths[i]!;
    const r = room.findIndex((left) => left >= n);
    if (r >= 0) { rows[r]!.push(i); room[r]! -= n; } else { rows.push([i]); room.push(capacity - n); }
  }
  return rows;
}

/**
 * The examples packed into rows (`packRows`), padded to the longest row rounded up to a multiple of `multiple`;
 * `positions` numbers each example's tokens from 0, and a row's padding as one more sequence.
 */
export function collatePacked(examples: readonly Example[], padId: number, capacity: number, multiple = 8): Batch {
  const rows = packRows(examples.map((e) => e.ids.length), capacity);
  let T = 0, tokens = 0;
  for (const r of rows) T = Math.max(T, r.reduce((n, i) => n + examples[i]!.ids.length, 0));
  T = Math.ceil(T / multiple) * multiple;
  const B = rows.length;
  const ids = new Int32Array(B * T).fill(padId), labels = new Int32Array(B * T).fill(IGNORE_INDEX), positions = new Int32Array(B * T);
  rows.forEach((r, b) => {
    let at = b * T;
    for (const i of r) {
      const e = examples[i]!;
      ids.set(e.ids, at); labels.set(e.labels, at);
      for (let t = 0; t < e.ids.length; t++) positions[at + t] = t;
      at += e.ids.length; tokens += e.ids.length;
    }
    for (let t = 0; at + t < (b + 1) * T; t++) positions[at + t] = t;
  });
  return { ids, labels, B, T, tokens, positions };
}

/** The example order of an epoch: a permutation drawn from (seed, epoch), so a resumed run recomputes it exactly. */
export function epochOrder(n: number, seed: number, epoch: number, makeRng: (seed: number) => Rng): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  return makeRng((seed * 1000003 + epoch * 7919) >>> 0).shuffle(order);
}

/** SFT examples from chats: each rendered through the chat template, scored on assistant turns only. */
export function sftExamples(
  encode: (messages: readonly ChatMessage[]) => { ids: number[]; labels: number[] },
  chats: readonly (readonly ChatMessage[])[], seqLen: number,
): Example[] {
  const out: Example[] = [];
  for (const chat of chats) {
    const enc = encode(chat);
    const e = maskedExample(enc.ids, enc.labels.map((l) => (l === IGNORE_INDEX ? 0 : 1)), seqLen);
    if (e) out.push(e);
  }
  return out;
}
