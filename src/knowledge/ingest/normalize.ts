/**
 * Text cleaning for ingest. Owns: full-width to half-width folding (ASCII letters, digits, punctuation that has no
 * CJK meaning; CJK punctuation such as ，。：；（） is kept because statutes and readers rely on it), whitespace
 * normalisation, removal of headers/footers repeated across pages, and optional Traditional-to-Simplified Chinese
 * (opencc-js, loaded lazily). Guarantees: pure functions, idempotent (normalize(normalize(x)) === normalize(x)).
 */

/** Folds full-width ASCII (U+FF01..U+FF5E) and the ideographic space to half-width, except CJK-style punctuation. */
export function toHalfWidth(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c === 0x3000) out += ' ';
    else if (c >= 0xff01 && c <= 0xff5e && !KEEP_FULL.has(ch)) out += String.fromCodePoint(c - 0xfee0);
    else out += ch;
  }
  return out;
}
/** Full-width punctuation kept as is: it is the normal form in Chinese text. */
const KEEP_FULL = new Set(['，', '。', '：', '；', '（', '）', '！', '？', '、']);

/** Collapses runs of spaces/tabs, trims lines, unifies newlines, removes zero-width characters, limits blank lines to one. */
export function normalizeWhitespace(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    .replace(/[\u200b-\u200d\ufeff\u00ad]/g, '')
    .replace(/[ \t\u00a0\u2002-\u200a]+/g, ' ')
    .split('\n').map((l) => l.trim()).join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Half-width folding then whitespace normalisation. */
export function normalizeText(s: string): string {
  return normalizeWhitespace(toHalfWidth(s));
}

/**
 * Removes page headers and footers: lines that appear (after digits are masked, so "Page 3" equals "Page 4") at the
 * top or bottom of at least `minShare` of the pages. `pages` is the text of each page; returns the cleaned pages.
 */
export function stripRepeatedHeadersFooters(pages: string[], minShare = 0.5): string[] {
  if (pages.length < 3) return pages;
  const key = (l: string) => l.trim().replace(/\d+/g, '#');
  const lines = pages.map((p) => p.split('\n'));
  const count = new Map<string, number>();
  for (const ls of lines) {
    const seen = new Set<string>();
    const nonEmpty = ls.filter((l) => l.trim() !== '');
    for (const l of [...nonEmpty.slice(0, 2), ...nonEmpty.slice(-2)]) seen.add(key(l));
    for (const k of seen) count.set(k, (count.get(k) ?? 0) + 1);
  }
  const repeated = new Set([...count].filter(([k, n]) => k !== '' && n >= Math.max(2, pages.length * minShare)).map(([k]) => k));
  return lines.map((ls) => {
    const nonEmptyIdx = ls.map((l, i) => (l.trim() ? i : -1)).filter((i) => i >= 0);
    const edge = new Set([...nonEmptyIdx.slice(0, 2), ...nonEmptyIdx.slice(-2)]);
    return ls.filter((l, i) => !(edge.has(i) && repeated.has(key(l)))).join('\n');
  });
}

type Converter = (s: string) => string;
let t2sConverter: Converter | null = null;

/** Traditional to Simplified Chinese (OpenCC tables via opencc-js, Taiwan/Hong Kong variants to mainland). */
export async function traditionalToSimplified(s: string): Promise<string> {
  if (!t2sConverter) {
    const mod = (await import('opencc-js')) as unknown as { Converter: (o: { from: string; to: string }) => Converter };
    t2sConverter = mod.Converter({ from: 'hk', to: 'cn' });
  }
  return t2sConverter(s);
}
