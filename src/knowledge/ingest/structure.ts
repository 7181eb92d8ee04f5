/**
 * Document structure: blocks -> units. Owns Chinese numeral parsing and the statute grammar (编 > 章 > 节 > 条):
 * a paragraph that opens with 第X条 starts an article, following paragraphs belong to it until the next article or
 * heading, and each article carries its number and its chapter path (编/章/节 headings, whether written as Markdown
 * headings or as bare lines). Documents without articles become sections, one per heading, with their heading path.
 * A statute's preamble is document metadata, not a unit: its title, the promulgation and amendment history (dated
 * lines naming the session that passed or amended it, a 主席令 or 现予公布 notice, with or without brackets) and its
 * table of contents (目录 and the chapter lines under it) go to `meta`; other text before the first article (a real
 * 序言, as in the Constitution) stays a unit labelled 序言.
 * Guarantees: units are in reading order; no text of the document body is dropped (preamble text is either metadata
 * or a unit); article numbers come from the text, not from counting.
 */
import type { Block, DocumentMeta, HistoryEntry, ParsedDocument, Unit } from '../knowledge-types.ts';
import { parseChineseDigits, parseChineseNumeral } from '../../util/chinese-numerals.ts';

/** An article or level number as statutes write it: a Chinese numeral (一百零五) or Arabic digits; NaN otherwise. */
export function parseChineseNumber(s: string): number {
  if (/^\d+$/.test(s)) return Number(s);
  return parseChineseNumeral(s) ?? NaN;
}

const NUM = '[零〇一二三四五六七八九十百千两\\d]+';
const ARTICLE_RE = new RegExp(`^第(${NUM})条(?:之(${NUM}))?(?:[\\s\\u3000:：]|$)`);
const LEVEL_RE = new RegExp(`^第(${NUM})(编|分编|章|节)(?:[\\s\\u3000]+|$)(.*)$`);
const LEVEL_RANK: Record<string, number> = { 编: 1, 分编: 2, 章: 3, 节: 4 };

/** True when the block list reads as a statute (at least three 第X条 paragraphs). */
export function isStatute(blocks: Block[]): boolean {
  let n = 0;
  for (const b of blocks) if (b.kind === 'paragraph' && ARTICLE_RE.test(b.text) && ++n >= 3) return true;
  return false;
}

export function structureDocument(doc: ParsedDocument): { units: Unit[]; statute: boolean; meta: DocumentMeta } {
  if (!isStatute(doc.blocks)) return { units: sectionUnits(doc), statute: false, meta: {} };
  const { units, meta } = statuteUnits(doc);
  return { units, statute: true, meta };
}

const DATE_RE = new RegExp(`(\\d{4}|[${'〇零一二三四五六七八九'}]{4})年(${NUM})月(${NUM})日`);
const EVENT_RE = /(通过|修正|修订|公布|施行)$/;
const TITLE_RE = /^《?中华人民共和国.{1,40}》?$|^.{2,40}(法|条例|规定|办法|决定|规则|细则|章程)$/;

/** An ISO date from a written one (1993年10月31日 or 一九九三年十月三十一日). */
function isoDate(m: RegExpExecArray): string {
  const year = /^\d+$/.test(m[1]!) ? Number(m[1]) : (parseChineseDigits(m[1]!) ?? NaN);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${year}-${pad(parseChineseNumber(m[2]!))}-${pad(parseChineseNumber(m[3]!))}`;
}

/**
 * The history entries of a preamble paragraph, or null when it is not a history line: dated records of a session
 * (会议) passing, amending or revising the law, or a promulgation notice (主席令, 现予公布). A bracketed block of
 * several events joined by 根据 or ；gives one entry each.
 */
export function parseHistory(text: string): HistoryEntry[] | null {
  const body = text.replace(/^[（(【[]|[）)】\]]$/g, '').trim();
  const isHistory = (DATE_RE.test(body) && /(会议|常务委员会|人民代表大会)/.test(body) && /(通过|修正|修订|公布|施行)/.test(body))
    || /主席令|现予公布|予以公布/.test(body);
  if (!isHistory) return null;
  const parts = body.split(/\s*(?:根据|；|;)\s*/).map((s) => s.trim()).filter(Boolean);
  return parts.map((part) => {
    const m = DATE_RE.exec(part);
    const event = EVENT_RE.exec(part.replace(/[。，,\s]+$/, ''))?.[1] as HistoryEntry['event'] | undefined;
    const rest = m ? part.slice(m.index + m[0].length).trim() : part;
    const session = /^(第.+?会议)/.exec(rest)?.[1];
    return { date: m ? isoDate(m) : null, event: event ?? null, ...(session ? { session } : {}), text: part };
  });
}

function statuteUnits(doc: ParsedDocument): { units: Unit[]; meta: DocumentMeta } {
  const units: Unit[] = [];
  // path entries: [rank, text]
  let path: [number, string][] = [];
  let current: Unit | null = null;
  const preamble: string[] = [];
  const history: HistoryEntry[] = [];
  const contents: string[] = [];
  let title: string | undefined = doc.blocks.some((b) => b.kind === 'heading' && b.level === 1 && b.text === doc.title) ? doc.title : undefined;
  let inContents = false;
  const pathTexts = () => path.map(([, t]) => t);
  for (const b of doc.blocks) {
    const text = b.text.trim();
    const lvl = LEVEL_RE.exec(text);
    const isLevelLine = lvl && (b.kind === 'heading' || text.length <= 40) && !/[。；]$/.test(text);
    const beforeArticles = units.length === 0 && !current;
    if (beforeArticles && /^目\s*录$/.test(text)) { inContents = true; continue; }
    // Inside a table of contents, chapter lines are listed until the first article or the first line seen again
    // (the real chapter heading). A bare 附则 line belongs to it too.
    if (inContents && beforeArticles && (isLevelLine || /^(附\s*则|总\s*则)$/.test(text)) && !contents.includes(text.replace(/\s+/g, ' '))) {
      contents.push(text.replace(/\s+/g, ' '));
      continue;
    }
    inContents = false;
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
    else if (units.length === 0) {
      const h = parseHistory(text);
      if (h) history.push(...h);
      else if (!title && !history.length && !preamble.length && TITLE_RE.test(text) && !/[。；，]/.test(text)) title = text.replace(/^《|》$/g, '');
      else preamble.push(text);
    } else units.push((current = { kind: 'section', label: pathTexts().at(-1) ?? doc.title, path: pathTexts(), text }));
  }
  if (preamble.length) units.unshift({ kind: 'section', label: '序言', path: [], text: preamble.join('\n') });
  const passed = history.find((e) => e.event === '通过' && e.session);
  const meta: DocumentMeta = {
    ...(title ? { title } : {}),
    ...(history.length ? { history } : {}),
    ...(passed ? { passedBy: passed.session!, passedOn: passed.date } : {}),
    ...(contents.length ? { contents } : {}),
  };
  return { units, meta };
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
