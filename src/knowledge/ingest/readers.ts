/**
 * Document readers: bytes of a txt, Markdown, HTML, PDF (text layer) or DOCX file -> a ParsedDocument (title and
 * blocks: headings with levels, paragraphs) in reading order. Owns format detection and the per-format extraction;
 * cleaning is normalize.ts, structure (articles, sections) is structure.ts. Guarantees: every block's text is
 * normalised (half-width, whitespace); nothing is fetched (pdf.js runs without workers, fonts or eval); a file the
 * reader cannot parse raises IngestError naming the file and the reason; a document over a limit (bytes, text,
 * paragraphs: ./limits.ts) raises IngestLimitError before the expensive work where it can be told (a DOCX's
 * paragraphs are counted in its XML before it is converted).
 */
import { extname, basename } from 'node:path';
import { parse as htmlParseRaw } from 'node-html-parser';
import type { Block, DocFormat, ParsedDocument } from '../knowledge-types.ts';
import { normalizeText, stripRepeatedHeadersFooters } from './normalize.ts';
import { IngestLimitError, checkBytes, checkChars, checkParagraphs, defaultIngestLimits, docxPrecheck, type IngestLimits } from './ingest-limits.ts';
import { StatusError } from '../../util/status-error.ts';

/** A document that cannot be read as its format: a 400 on `document`. */
export class IngestError extends StatusError {
  constructor(message: string) { super(400, message, { param: 'document', code: 'invalid_document' }); }
}

/** The format from the file name, falling back to sniffing the bytes. */
export function detectFormat(filename: string, data: Uint8Array): DocFormat {
  const ext = extname(filename).toLowerCase();
  if (ext === '.md' || ext === '.markdown') return 'md';
  if (ext === '.html' || ext === '.htm') return 'html';
  if (ext === '.pdf') return 'pdf';
  if (ext === '.docx') return 'docx';
  if (ext === '.txt' || ext === '.text') return 'txt';
  const head = Buffer.from(data.subarray(0, 512)).toString('latin1');
  if (head.startsWith('%PDF-')) return 'pdf';
  if (head.startsWith('PK\x03\x04')) return 'docx';
  if (/<html|<!doctype html|<body|<p>/i.test(head)) return 'html';
  return 'txt';
}

export async function readDocument(filename: string, data: Uint8Array, format = detectFormat(filename, data), limits: IngestLimits = defaultIngestLimits()): Promise<ParsedDocument> {
  const fallbackTitle = basename(filename, extname(filename));
  const name = basename(filename);
  try {
    checkBytes(data.byteLength, limits, name);
    const text = () => { const t = decodeUtf8(data); checkChars(t.length, limits, name); return t; };
    let doc: ParsedDocument;
    switch (format) {
      case 'txt': doc = withTitle(parsePlainText(text()), 'txt', fallbackTitle); break;
      case 'md': doc = withTitle(parseMarkdown(text()), 'md', fallbackTitle); break;
      case 'html': doc = withTitle(parseHtml(text()), 'html', fallbackTitle); break;
      case 'pdf': doc = withTitle(await parsePdf(data), 'pdf', fallbackTitle); break;
      case 'docx': docxPrecheck(data, limits, name); doc = withTitle(await parseDocx(data), 'docx', fallbackTitle); break;
    }
    checkParagraphs(doc.blocks.length, limits, name);
    let chars = 0;
    for (const b of doc.blocks) chars += b.text.length;
    checkChars(chars, limits, name);
    return doc;
  } catch (e) {
    if (e instanceof IngestError || e instanceof IngestLimitError) throw e;
    throw new IngestError(`${filename}: cannot read as ${format}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function withTitle(blocks: Block[], format: DocFormat, fallback: string): ParsedDocument {
  const h = blocks.find((b) => b.kind === 'heading');
  const title = h && h.kind === 'heading' && h.level === 1 ? h.text : fallback;
  return { title, format, blocks: blocks.filter((b) => b.text !== '') };
}

function decodeUtf8(data: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(data).replace(/^\ufeff/, '');
}

/** Paragraphs split by blank lines; a single-line paragraph that looks like a statute heading stays a paragraph (structure.ts decides). */
export function parsePlainText(text: string): Block[] {
  return normalizeText(text).split(/\n\s*\n/).map((p) => ({ kind: 'paragraph' as const, text: p.replace(/\n/g, isCjkHeavy(p) ? '' : ' ').trim() }));
}

function isCjkHeavy(s: string): boolean {
  const cjk = s.match(/[\u3400-\u9fff]/g)?.length ?? 0;
  return cjk > s.length / 3;
}

/** Markdown: ATX headings, paragraphs by blank lines, list items and table rows as their own paragraphs; markup stripped. */
export function parseMarkdown(text: string): Block[] {
  const src = text.replace(/<!--[\s\S]*?-->/g, '').replace(/\r\n?/g, '\n');
  const blocks: Block[] = [];
  let para: string[] = [];
  let fence = false;
  const flush = () => {
    if (para.length) blocks.push({ kind: 'paragraph', text: normalizeText(stripInline(para.join(isCjkHeavy(para.join('')) ? '' : ' '))) });
    para = [];
  };
  for (const line of src.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) { fence = !fence; if (!fence) flush(); continue; }
    if (fence) { para.push(line); continue; }
    const h = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) { flush(); blocks.push({ kind: 'heading', level: h[1]!.length, text: normalizeText(stripInline(h[2]!)) }); continue; }
    if (line.trim() === '' || /^\s*([-*_])\s*\1\s*\1[\s\-*_]*$/.test(line)) { flush(); continue; }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line) || /^\s*\|/.test(line)) {
      flush();
      if (/^\s*\|?\s*:?-{3,}/.test(line)) continue;
      para.push(line.replace(/^\s*([-*+]|\d+[.)])\s+/, '').replace(/\|/g, ' ').trim());
      flush();
      continue;
    }
    para.push(line.replace(/^\s*>\s?/, '').trim());
  }
  flush();
  return blocks;
}

function stripInline(s: string): string {
  return s
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/(^|[^*])\*(?!\s)([^*]+)\*/g, '$1$2')
    .replace(/`([^`]*)`/g, '$1')
    // HTML tags only: Chinese text writes a title inside a title as <…> (《关于修改<中华人民共和国保险法>的决定》)
    .replace(/<\/?[A-Za-z][^>]*>/g, '');
}

const BLOCK_TAGS = new Set(['p', 'li', 'td', 'th', 'pre', 'blockquote', 'dd', 'dt', 'caption', 'figcaption', 'div', 'section', 'article', 'tr', 'br', 'ul', 'ol', 'table', 'main', 'body', 'html', 'header', 'footer']);
const SKIP_TAGS = new Set(['script', 'style', 'noscript', 'nav', 'template', 'svg', 'head', 'iframe', 'form', 'button']);

/** HTML: h1-h6 become headings, block elements paragraphs; scripts, styles and navigation are dropped. */
export function parseHtml(html: string): Block[] {
  const root = htmlParse(html, { comment: false, blockTextElements: { pre: true } });
  const blocks: Block[] = [];
  let buf = '';
  const flush = () => {
    const t = normalizeText(decodeEntities(buf));
    if (t) blocks.push({ kind: 'paragraph', text: t.replace(/\n+/g, ' ') });
    buf = '';
  };
  const walk = (node: HtmlNode) => {
    for (const child of node.childNodes) {
      if (child.nodeType === 3) { buf += child.rawText; continue; }
      if (child.nodeType !== 1) continue;
      const tag = (child.rawTagName ?? '').toLowerCase();
      if (SKIP_TAGS.has(tag)) continue;
      const h = /^h([1-6])$/.exec(tag);
      if (h) {
        flush();
        const t = normalizeText(decodeEntities(child.text)).replace(/\n+/g, ' ');
        if (t) blocks.push({ kind: 'heading', level: Number(h[1]), text: t });
        continue;
      }
      if (BLOCK_TAGS.has(tag)) { flush(); walk(child); flush(); } else walk(child);
    }
  };
  walk(root);
  flush();
  return blocks;
}

interface HtmlNode { nodeType: number; rawTagName?: string; rawText: string; text: string; childNodes: HtmlNode[] }
const htmlParse = htmlParseRaw as unknown as (html: string, o: object) => HtmlNode;

function decodeEntities(s: string): string {
  return s
    .replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;|&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&amp;/g, '&');
}

/** DOCX through mammoth's HTML conversion (keeps Word heading styles as h1-h6). */
export async function parseDocx(data: Uint8Array): Promise<Block[]> {
  const mod = (await import('mammoth')) as unknown as { default?: Mammoth; convertToHtml?: Mammoth['convertToHtml'] };
  const m: Mammoth = mod.default ?? (mod as Mammoth);
  const r = await m.convertToHtml({ buffer: Buffer.from(data) });
  return parseHtml(r.value);
}
interface Mammoth { convertToHtml(input: { buffer: Buffer }): Promise<{ value: string }> }

/**
 * PDF text layer through pdf.js (legacy build for Node). Lines are rebuilt from the items' end-of-line flags and
 * vertical positions; headers/footers repeated across pages are dropped; paragraphs are split at blank gaps and at
 * lines that start a statute unit. A PDF without a text layer (scanned) yields no blocks and raises IngestError.
 */
export async function parsePdf(data: Uint8Array): Promise<Block[]> {
  const pdfjs = (await import('pdfjs-dist/legacy/build/pdf.mjs')) as unknown as PdfJs;
  const doc = await pdfjs.getDocument({ data: new Uint8Array(data), isEvalSupported: false, disableFontFace: true, useSystemFonts: false, verbosity: 0 }).promise;
  const pages: string[] = [];
  try {
    for (let p = 1; p <= doc.numPages; p++) {
      const page = await doc.getPage(p);
      const content = await page.getTextContent();
      let text = '';
      let lastY: number | null = null;
      for (const it of content.items) {
        if (typeof it.str !== 'string') continue;
        const y = it.transform?.[5] ?? null;
        if (lastY !== null && y !== null && Math.abs(y - lastY) > 1 && !text.endsWith('\n')) {
          // A jump of more than ~1.6 line heights is a paragraph gap.
          text += Math.abs(y - lastY) > (it.height || 10) * 1.6 ? '\n\n' : '\n';
        }
        text += it.str;
        if (it.hasEOL) text += '\n';
        if (y !== null) lastY = y;
      }
      pages.push(text);
    }
  } finally {
    await doc.destroy();
  }
  const cleaned = stripRepeatedHeadersFooters(pages.map((p) => normalizeText(p)));
  const blocks: Block[] = [];
  for (const page of cleaned) {
    for (const para of page.split(/\n\s*\n/)) {
      // Statute units start new paragraphs even when the PDF has no gap before them.
      const lines = para.split('\n');
      let cur: string[] = [];
      const flush = () => { if (cur.length) blocks.push({ kind: 'paragraph', text: joinLines(cur) }); cur = []; };
      for (const l of lines) {
        if (/^第[零〇一二三四五六七八九十百千\d]+[编章节条]/.test(l)) flush();
        cur.push(l);
      }
      flush();
    }
  }
  if (blocks.length === 0) throw new IngestError('the PDF has no text layer (scanned?); OCR is not supported');
  return blocks;
}
function joinLines(lines: string[]): string {
  return lines.reduce((acc, l) => (acc === '' ? l : /[\u3400-\u9fff，。；：、]$/.test(acc) || /^[\u3400-\u9fff]/.test(l) ? acc + l : `${acc} ${l}`), '').trim();
}
interface PdfJs {
  getDocument(o: object): { promise: Promise<{ numPages: number; getPage(n: number): Promise<{ getTextContent(): Promise<{ items: { str?: string; hasEOL?: boolean; transform?: number[]; height?: number }[] }> }>; destroy(): Promise<void> }> };
}
