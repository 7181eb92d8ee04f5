/**
 * Bounds of one ingested document, so a document cannot hold the server: its bytes, its extracted text, its
 * paragraph count, and (DOCX) the inflated size and paragraph count of word/document.xml, checked from the ZIP's
 * central directory before the file is converted. Owns `IngestLimits`, their defaults (overridable by
 * MODELFAB_KNOWLEDGE_MAX_BYTES / _MAX_CHARS / _MAX_PARAGRAPHS), `IngestLimitError` (HTTP 413, naming the limit and
 * its value) and `docxPrecheck`. Pure functions over bytes; nothing here reads a file.
 */
import { inflateRawSync } from 'node:zlib';
import { StatusError } from '../../util/status-error.ts';

export interface IngestLimits {
  /** Bytes of the uploaded file. */
  maxBytes: number;
  /** Characters of text extracted from it (and, for DOCX, bytes of its inflated document.xml x 4). */
  maxChars: number;
  /** Paragraphs and headings. */
  maxParagraphs: number;
}

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

/** The defaults: 48 MiB, 8 million characters, 50,000 paragraphs (a whole code of law is ~3,000). */
export function defaultIngestLimits(): IngestLimits {
  return {
    maxBytes: envInt(LIMIT_ENV.maxBytes, 48 * 1024 * 1024),
    maxChars: envInt(LIMIT_ENV.maxChars, 8_000_000),
    maxParagraphs: envInt(LIMIT_ENV.maxParagraphs, 50_000),
  };
}

/** The variable that raises each limit. */
const LIMIT_ENV: Record<keyof IngestLimits, string> = {
  maxBytes: 'MODELFAB_KNOWLEDGE_MAX_BYTES', maxChars: 'MODELFAB_KNOWLEDGE_MAX_CHARS', maxParagraphs: 'MODELFAB_KNOWLEDGE_MAX_PARAGRAPHS',
};

/** A document over a limit: HTTP 413, the message names the limit, its value and how to raise it. */
export class IngestLimitError extends StatusError {
  declare readonly status: 413;
  constructor(readonly limit: keyof IngestLimits, readonly value: number, what: string) {
    super(413, `${what}: over the limit of ${value.toLocaleString('en-US')} ${limit === 'maxBytes' ? 'bytes' : limit === 'maxChars' ? 'characters' : 'paragraphs'} per document (${limit}; ${LIMIT_ENV[limit]})`, { param: 'document', code: 'document_too_large' });
  }
}

export function checkBytes(n: number, l: IngestLimits, name: string): void {
  if (n > l.maxBytes) throw new IngestLimitError('maxBytes', l.maxBytes, `${name} has ${n.toLocaleString('en-US')} bytes`);
}

export function checkChars(n: number, l: IngestLimits, name: string): void {
  if (n > l.maxChars) throw new IngestLimitError('maxChars', l.maxChars, `${name} has ${n.toLocaleString('en-US')} characters of text`);
}

export function checkParagraphs(n: number, l: IngestLimits, name: string): void {
  if (n > l.maxParagraphs) throw new IngestLimitError('maxParagraphs', l.maxParagraphs, `${name} has ${n.toLocaleString('en-US')} paragraphs`);
}

interface ZipEntry { name: string; method: number; compressedSize: number; size: number; localOffset: number }

/** The entries of a ZIP's central directory (null when the bytes are no ZIP the reader understands). */
function zipEntries(b: Buffer): ZipEntry[] | null {
  // the end-of-central-directory record is in the last 22 + 65535 bytes
  const from = Math.max(0, b.length - 22 - 0xffff);
  let eocd = -1;
  for (let i = b.length - 22; i >= from; i--) if (b.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) return null;
  const count = b.readUInt16LE(eocd + 10);
  let p = b.readUInt32LE(eocd + 16);
  const out: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (p + 46 > b.length || b.readUInt32LE(p) !== 0x02014b50) return null;
    const nameLen = b.readUInt16LE(p + 28), extraLen = b.readUInt16LE(p + 30), commentLen = b.readUInt16LE(p + 32);
    out.push({
      name: b.toString('utf8', p + 46, p + 46 + nameLen), method: b.readUInt16LE(p + 10), compressedSize: b.readUInt32LE(p + 20),
      size: b.readUInt32LE(p + 24), localOffset: b.readUInt32LE(p + 42),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/**
 * Checks a DOCX before it is converted: word/document.xml inflated (at most maxChars x 4 bytes: the inflation
 * stops there, whatever the directory claims) and its paragraphs (`<w:p>` elements) counted. A file that is no ZIP
 * passes (the converter then names the problem).
 */
export function docxPrecheck(data: Uint8Array, l: IngestLimits, name: string): void {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const entries = zipEntries(b);
  const doc = entries?.find((e) => e.name === 'word/document.xml');
  if (!doc) return;
  const maxXml = l.maxChars * 4;
  if (doc.size > maxXml) throw new IngestLimitError('maxChars', l.maxChars, `${name}: word/document.xml inflates to ${doc.size.toLocaleString('en-US')} bytes`);
  const h = doc.localOffset;
  if (h + 30 > b.length || b.readUInt32LE(h) !== 0x04034b50) return;
  const start = h + 30 + b.readUInt16LE(h + 26) + b.readUInt16LE(h + 28);
  const raw = b.subarray(start, start + doc.compressedSize);
  let xml: Buffer;
  if (doc.method === 0) xml = raw;
  else if (doc.method === 8) {
    try { xml = inflateRawSync(raw, { maxOutputLength: maxXml }); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || /too large|maxOutputLength/i.test((e as Error).message)) {
        throw new IngestLimitError('maxChars', l.maxChars, `${name}: word/document.xml inflates past ${maxXml.toLocaleString('en-US')} bytes`);
      }
      return; // a damaged entry: the converter names it
    }
  } else return;
  checkParagraphs(countParagraphElements(xml), l, name);
}

/** `<w:p>` / `<w:p .../>` elements (not `<w:pPr>`, `<w:proofErr>`...) in WordprocessingML. */
export function countParagraphElements(xml: Buffer): number {
  const needle = Buffer.from('<w:p');
  let n = 0;
  for (let i = xml.indexOf(needle); i >= 0; i = xml.indexOf(needle, i + 4)) {
    const c = xml[i + 4];
    if (c === 0x3e /* > */ || c === 0x20 || c === 0x2f /* / */ || c === 0x09 || c === 0x0a || c === 0x0d) n++;
  }
  return n;
}
