/**
 * Chunking: knowledge items -> parent and child chunks. Structure first (an item is a unit: an article or a
 * section; its paragraphs are the next boundary, then sentences), size limits second (a piece longer than maxChars is
 * cut at sentence ends, then hard-cut with `overlap` characters repeated). Parents (<= parentMaxChars, whole units
 * where they fit) give context; children (<= maxChars) are what the indexes match. Guarantees: every character of an
 * item is in at least one child and exactly one parent; `start`/`end` are offsets into the item's text; ids are
 * deterministic (`<itemId>#p<i>` / `<itemId>#p<i>c<j>`) so a rebuild yields the same ids. Linear in the text:
 * the paragraphs are found once per item and each parent takes its own by binary search.
 */
import type { Chunk, ChunkOptions, KnowledgeItem } from './knowledge-types.ts';

interface Span { start: number; end: number }

/** Paragraph spans of `text` (split at newlines), offsets into text. */
function paragraphs(text: string): Span[] {
  const out: Span[] = [];
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || text[i] === '\n') {
      if (i > start) out.push({ start, end: i });
      start = i + 1;
    }
  }
  return out;
}

const SENTENCE_END = /[。！？；!?;]|\.(?=\s|$)/g;

/** Splits a span at sentence ends, then hard-cuts pieces still longer than max (with overlap). */
function splitSpan(text: string, span: Span, max: number, overlap: number): Span[] {
  if (span.end - span.start <= max) return [span];
  const sentences: Span[] = [];
  const seg = text.slice(span.start, span.end);
  let s = 0;
  for (const m of seg.matchAll(SENTENCE_END)) {
    const e = m.index! + m[0].length;
    sentences.push({ start: span.start + s, end: span.start + e });
    s = e;
  }
  if (s < seg.length) sentences.push({ start: span.start + s, end: span.end });
  const packed = pack(sentences, max);
  const out: Span[] = [];
  for (const p of packed) {
    if (p.end - p.start <= max) { out.push(p); continue; }
    const step = Math.max(1, max - overlap);
    for (let a = p.start; a < p.end; a += step) {
      out.push({ start: a, end: Math.min(p.end, a + max) });
      if (a + max >= p.end) break;
    }
  }
  return out;
}

/** Greedily packs consecutive spans into groups no longer than max (a single longer span stays alone). */
function pack(spans: Span[], max: number): Span[] {
  const out: Span[] = [];
  let cur: Span | null = null;
  for (const sp of spans) {
    if (cur && sp.end - cur.start <= max) cur.end = sp.end;
    else { if (cur) out.push(cur); cur = { ...sp }; }
  }
  if (cur) out.push(cur);
  return out;
}

/** The paragraphs (sorted, disjoint) wholly inside `parent`: a binary search for the first, then a run. */
function parasWithin(paras: readonly Span[], parent: Span): Span[] {
  let lo = 0, hi = paras.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (paras[mid]!.start < parent.start) lo = mid + 1; else hi = mid;
  }
  const out: Span[] = [];
  for (let i = lo; i < paras.length && paras[i]!.end <= parent.end; i++) out.push(paras[i]!);
  return out;
}

/** Child spans with overlap between consecutive size-split neighbours of the same paragraph run. */
function childSpans(text: string, allParas: readonly Span[], parent: Span, opt: ChunkOptions): Span[] {
  const paras = parasWithin(allParas, parent);
  const pieces = paras.flatMap((p) => splitSpan(text, p, opt.maxChars, opt.overlap));
  const children = pack(pieces, opt.maxChars);
  // Overlap: a child that starts mid-paragraph (cut for size) reaches back `overlap` characters.
  return children.map((c, i) => {
    if (i === 0 || text[c.start - 1] === '\n') return c;
    return { start: Math.max(parent.start, c.start - opt.overlap), end: c.end };
  });
}

export function chunkItem(item: KnowledgeItem, docTitle: string, opt: ChunkOptions): Chunk[] {
  const text = item.text;
  const whole: Span = { start: 0, end: text.length };
  const paras = paragraphs(text);
  const parents = whole.end <= opt.parentMaxChars
    ? [whole]
    : pack(paras.flatMap((p) => splitSpan(text, p, opt.parentMaxChars, 0)), opt.parentMaxChars);
  const base = {
    kbId: item.kbId, docId: item.docId, itemId: item.id, label: item.label, path: item.path, number: item.number,
    tags: item.tags, meta: item.meta, docTitle,
  };
  const chunks: Chunk[] = [];
  parents.forEach((p, i) => {
    const parentId = `${item.id}#p${i}`;
    chunks.push({ ...base, id: parentId, role: 'parent', text: text.slice(p.start, p.end), start: p.start, end: p.end });
    childSpans(text, paras, p, opt).forEach((c, j) => {
      chunks.push({ ...base, id: `${parentId}c${j}`, parentId, role: 'child', text: text.slice(c.start, c.end), start: c.start, end: c.end });
    });
  });
  return chunks;
}
