/**
 * Document structure: blocks -> units. Owns Chinese numeral parsing and the statute grammar (编 > 章 > 节 > 条):
 * a paragraph that opens with 第X条 starts an article, following paragraphs belong to it until the next article or
 * heading, and each article carries its number and its chapter path (编/章/节 headings, whether written as Markdown
 * headings or as bare lines). Documents without articles become sections, one per heading, with their heading path.
 * Guarantees: units are in reading order; no text of the document body is dropped (text before the first
 * article/heading becomes a preamble section); article numbers come from the text, not from counting.
 */
import type { Block, ParsedDocument, Unit } from '../types.ts';

const DIGITS: Record<string, number> = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };
const UNITS: Record<string, number> = { 十: 10, 百: 100, 千: 1000, 万: 10000 };

/** Parses a Chinese numeral (一百零五, 十二, 二十) or Arabic digits; NaN when it is neither. */
export function parseChineseNumber(s: string): number {
  if (/^\d+$/.test(s)) return Number(s);
  let total = 0;
  let section = 0;
  let digit = -1;
  for (const ch of s) {
    if (ch in DIGITS) digit = DIGITS[ch]!;
    else if (ch in UNITS) {
      const u = UNITS[ch]!;
      if (u === 10000) { total += (section + Math.max(digit, 0)) * u; section = 0; }
      else section += (digit < 0 ? 1 : digit) * u;
      digit = -1;
    } else return NaN;
  }
  return total + section + Math.max(digit, 0);
}

/** Writes n (1..9999) as a Chinese numeral the way statutes do (第一百零五条, 第二十条, 第十条). */
export function toChineseNumber(n: number): string {
  const d = '零一二三四五六七八九';
  if (n < 10) return d[n]!;
  if (n < 20) return `十${n % 10 ? d[n % 10] : ''}`;
  const parts: string[] = [];
  const units = [[1000, '千'], [100, '百'], [10, '十']] as const;
  let rest = n;
  let zero = false;
  for (const [u, name] of units) {
    const q = Math.floor(rest / u);
    rest %= u;
    if (q) { if (zero) parts.push('零'); parts.push(d[q]! + name); zero = false; } else if (parts.length) zero = true;
  }
  if (rest) { if (zero) parts.push('零'); parts.push(d[rest]!); }
  return parts.join('');
}

const NUM = '[零〇一二三四五六七八九十百千两\\d]+';
const ARTICLE_RE = new RegExp(`^第(${NUM})条(?:之(${NUM}))?(?:[\\s　:：]|$)`);
const LEVEL_RE = new RegExp(`^第(${NUM})(编|分编|章|节)(?:[\\s　]+|$)(.*)$`);
const LEVEL_RANK: Record<string, number> = { 编: 1, 分编: 2, 章: 3, 节: 4 };

/** True when the block list reads as a statute (at least three 第X条 paragraphs). */
export function isStatute(blocks: Block[]): boolean {
  let n = 0;
  for (const b of blocks) if (b.kind === 'paragraph' && ARTICLE_RE.test(b.text) && ++n >= 3) return true;
  return false;
}

export function structureDocument(doc: ParsedDocument): { units: Unit[]; statute: boolean } {
  return isStatute(doc.blocks) ? { units: statuteUnits(doc), statute: true } : { units: sectionUnits(doc), statute: false };
}

function statuteUnits(doc: ParsedDocument): Unit[] {
  const units: Unit[] = [];
  // path entries: [rank, text]
  let path: [number, string][] = [];
  let current: Unit | null = null;
  const preamble: string[] = [];
  const pathTexts = () => path.map(([, t]) => t);
  for (const b of doc.blocks) {
    const text = b.text.trim();
    const lvl = LEVEL_RE.exec(text);
    const isLevelLine = lvl && (b.kind === 'heading' || text.length <= 40) && !/[。；]$/.test(text);
    if (lvl && isLevelLine) {
      current = null;
      const rank = LEVEL_RANK[lvl[2]!]!;
      path = path.filter(([r]) => r < rank);
      path.push([rank, text.replace(/\s+/g, ' ')]);
      continue;
    }
    if (b.kind === 'heading') {
      current = null;
      // The title (level 1) is not part of the chapter path; other headings (附则 without 第X章) are.
      if (b.level > 1) { path = path.filter(([r]) => r < 3); path.push([3, text]); }
      continue;
    }
    const art = ARTICLE_RE.exec(text);
    if (art) {
      const number = parseChineseNumber(art[1]!);
      const sub = art[2] ? parseChineseNumber(art[2]) : 0;
      current = {
        kind: 'article', number: sub ? number + sub / 100 : number, label: text.slice(0, art[0].trimEnd().length).replace(/[:：]$/, ''),
        path: pathTexts(), text,
      };
      units.push(current);
      continue;
    }
    if (current) current.text += `\n${text}`;
    else if (units.length === 0) preamble.push(text);
    else units.push((current = { kind: 'section', label: pathTexts().at(-1) ?? doc.title, path: pathTexts(), text }));
  }
  if (preamble.length) units.unshift({ kind: 'section', label: doc.title, path: [], text: preamble.join('\n') });
  return units;
}

function sectionUnits(doc: ParsedDocument): Unit[] {
  const units: Unit[] = [];
  let path: [number, string][] = [];
  let current: Unit | null = null;
  for (const b of doc.blocks) {
    if (b.kind === 'heading') {
      path = path.filter(([l]) => l < b.level);
      path.push([b.level, b.text]);
      current = null;
      continue;
    }
    if (!current) {
      const p = path.map(([, t]) => t);
      current = { kind: 'section', label: p.at(-1) ?? doc.title, path: p, text: b.text };
      units.push(current);
    } else current.text += `\n${b.text}`;
  }
  return units;
}
