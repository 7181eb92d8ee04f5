/**
 * A page as numbered passages: the blocks the page reader found (headings, paragraphs, list items, in document
 * order) become passages p1, p2, ... of a readable size, each remembering the blocks it came from so a citation can
 * point back at them. Short blocks join the next ones (a heading always starts a passage); a block longer than
 * `maxChars` is cut at sentence ends. Also: groups of passages for summarising a long page in steps, and the
 * passages that best match a question. Pure functions: no DOM, no browser API.
 */

export interface Block {
  /** The element's tag, lower case (h1..h6 start a new passage). */
  tag: string;
  text: string;
}

export interface Passage {
  /** `p1`, `p2`, ... in document order. */
  id: string;
  text: string;
  /** Indices of the blocks it holds (a long block cut in pieces is in several passages). */
  blocks: number[];
}

export interface PassageOptions {
  /** A passage shorter than this takes the next block too (default 80 characters). */
  minChars?: number;
  /** No passage is longer (default 700 characters). */
  maxChars?: number;
}

/** Whitespace runs become one space; the ends are trimmed. */
export function normaliseText(s: string): string {
  return s.replace(/[\s\u00a0\u200b]+/g, ' ').trim();
}

/** Sentences, each keeping its end mark: Chinese 。！？； and Latin .!? before a space or the end (so 3.5 stays whole). */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  const re = /[。！？；]+[”’」』）)]*|[.!?]+[”’"')\]]*(?=\s|$)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    const end = m.index! + m[0].length;
    out.push(text.slice(last, end));
    last = end;
  }
  out.push(text.slice(last));
  return out.map((s) => s.trim()).filter(Boolean);
}

/** Cuts a text into pieces of at most `max` characters, at sentence ends where it can, else hard. */
export function cutText(text: string, max: number): string[] {
  if (text.length <= max) return [text];
  const pieces: string[] = [];
  let cur = '';
  for (const s of splitSentences(text)) {
    for (let i = 0; i < s.length; i += max) {
      const part = s.slice(i, i + max);
      const joined = cur ? `${cur}${/[\u3000-\u9fff]$/.test(cur) ? '' : ' '}${part}` : part;
      if (joined.length > max && cur) { pieces.push(cur); cur = part; } else cur = joined;
    }
  }
  if (cur) pieces.push(cur);
  return pieces;
}

/** The page's blocks as numbered passages (see the header). Empty blocks are skipped. */
export function numberPassages(blocks: Block[], o: PassageOptions = {}): Passage[] {
  const minChars = o.minChars ?? 80, maxChars = o.maxChars ?? 700;
  const out: Passage[] = [];
  let cur: { text: string; blocks: number[] } | null = null;
  const flush = () => {
    if (cur) out.push({ id: `p${out.length + 1}`, text: cur.text, blocks: cur.blocks });
    cur = null;
  };
  blocks.forEach((b, i) => {
    const text = normaliseText(b.text);
    if (!text) return;
    const heading = /^h[1-6]$/.test(b.tag);
    if (heading) flush();
    for (const piece of cutText(text, maxChars)) {
      if (cur && cur.text.length + piece.length + 1 > maxChars) flush();
      if (!cur) cur = { text: piece, blocks: [i] };
      else { cur.text += `\n${piece}`; if (!cur.blocks.includes(i)) cur.blocks.push(i); }
      if (cur.text.length >= minChars && !heading) flush();
    }
  });
  flush();
  return out;
}

/** Consecutive passages in groups of at most `maxChars` characters: the steps of a long page's summary. */
export function groupForSummary(passages: Passage[], maxChars = 3000): Passage[][] {
  const groups: Passage[][] = [];
  let size = 0;
  for (const p of passages) {
    const last = groups[groups.length - 1];
    if (last && size + p.text.length <= maxChars) { last.push(p); size += p.text.length; } else { groups.push([p]); size = p.text.length; }
  }
  return groups;
}

const STOP = new Set('the a an of to in on and or is are was were be for with by at as it this that what which who how why when where does do did can from about page 的 了 是 在 和 与 吗 呢 什么 怎么 如何 哪些'.split(' '));

/** A text's search terms: Latin words and digits (lower case, stopwords dropped) and Chinese character pairs. */
export function terms(text: string): string[] {
  const lower = text.toLowerCase();
  const words = (lower.match(/[a-z0-9][a-z0-9'-]*/g) ?? []).filter((w) => w.length > 1 && !STOP.has(w)).map((w) => w.replace(/(?:'s|s)$/, ''));
  const han = lower.match(/\p{Script=Han}+/gu) ?? [];
  const pairs: string[] = [];
  for (const run of han) {
    if (run.length === 1) { if (!STOP.has(run)) pairs.push(run); continue; }
    for (let i = 0; i + 1 < run.length; i++) pairs.push(run.slice(i, i + 2));
  }
  return [...words, ...pairs];
}

/**
 * The `k` passages that share the most terms with the question (rarer terms weigh more), in document order; the
 * first `k` when nothing matches, so a question about "this page" still has the page to answer from.
 */
export function selectPassages(question: string, passages: Passage[], k = 8): Passage[] {
  if (passages.length <= k) return passages;
  const q = new Set(terms(question));
  const sets = passages.map((p) => new Set(terms(p.text)));
  const df = new Map<string, number>();
  for (const s of sets) for (const t of s) if (q.has(t)) df.set(t, (df.get(t) ?? 0) + 1);
  const scored = passages.map((p, i) => {
    let score = 0;
    for (const t of q) if (sets[i]!.has(t)) score += Math.log(1 + passages.length / df.get(t)!);
    return { p, i, score };
  });
  if (!scored.some((s) => s.score > 0)) return passages.slice(0, k);
  return scored.sort((a, b) => b.score - a.score || a.i - b.i).slice(0, k).sort((a, b) => a.i - b.i).map((s) => s.p);
}
