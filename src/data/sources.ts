/**
 * File bytes -> rows with positions: JSON Lines, JSON arrays, CSV with a header, plain text (a record a line) and
 * Markdown (a record a document, cut at paragraphs when over the record size limit).
 *
 * Checks made here, all reported (not just the first): encoding (decode.ts), file size, JSON syntax with line and
 * column, nesting depth, record size. Rows come back only when there was no problem at this level for them.
 */
import { extname } from 'node:path';
import { checkEncoding } from './decode.ts';
import { jsonDepth, parseJson, scanJson } from './json.ts';
import { formatBytes, type Limits } from './dataset-limits.ts';
import type { Problems } from './problems.ts';

export type SourceKind = 'jsonl' | 'json' | 'csv' | 'text' | 'markdown';

export interface Row {
  /** 1-based line where the row starts. */
  line: number;
  /** `$[i]` for elements of a JSON array. */
  path?: string;
  value: unknown;
  /** Size of the row in the file, in bytes (characters for JSON arrays). */
  bytes: number;
}

export interface Source {
  kind: SourceKind;
  rows: Row[];
  warnings: string[];
}

/** The source kind from the file name, or by looking at the text when the extension says nothing. */
export function sourceKind(filename: string, head: string): SourceKind {
  const ext = extname(filename).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.json') return head.trimStart().startsWith('{') && !looksLikeSingleJson(head) ? 'jsonl' : 'json';
  if (ext === '.csv') return 'csv';
  if (ext === '.md' || ext === '.markdown') return 'markdown';
  if (ext === '.txt' || ext === '.text') return 'text';
  const t = head.trimStart();
  if (t.startsWith('[')) return 'json';
  if (t.startsWith('{')) return 'jsonl';
  return 'text';
}

/** A .json file whose text is one object spread over lines (not JSON Lines). */
function looksLikeSingleJson(head: string): boolean {
  const first = head.trimStart().split('\n', 1)[0].trim();
  return first === '{' || !first.endsWith('}');
}

export function readSource(buf: Buffer, file: string, limits: Limits, problems: Problems, kind?: SourceKind): Source | null {
  if (buf.length > limits.maxFileBytes) {
    problems.add({ file, message: `file is ${formatBytes(buf.length)}, over the file size limit of ${formatBytes(limits.maxFileBytes)}` });
    return null;
  }
  const dec = checkEncoding(buf, file);
  if (!('bytes' in dec)) { problems.add(dec); return null; }
  const bytes = dec.bytes;
  const k = kind ?? sourceKind(file, bytes.subarray(0, 4096).toString('utf8'));
  const rows = k === 'jsonl' ? jsonlRows(bytes, file, limits, problems)
    : k === 'json' ? jsonRows(bytes, file, limits, problems)
    : k === 'csv' ? csvRows(bytes.toString('utf8'), file, limits, problems)
    : k === 'text' ? textRows(bytes, file, limits, problems)
    : markdownRows(bytes.toString('utf8'), limits);
  if (rows.length === 0 && problems.count === 0) problems.add({ file, message: 'file has no records' });
  return { kind: k, rows, warnings: dec.warnings };
}

function* lines(bytes: Buffer): Generator<{ line: number; start: number; end: number }> {
  let start = 0, line = 1;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    let e = end;
    if (e > start && bytes[e - 1] === 0x0d) e--;
    yield { line, start, end: e };
    start = end + 1;
    line++;
  }
}

function jsonlRows(bytes: Buffer, file: string, limits: Limits, problems: Problems): Row[] {
  const rows: Row[] = [];
  for (const { line, start, end } of lines(bytes)) {
    const len = end - start;
    if (len === 0) continue;
    if (len > limits.maxRecordBytes) {
      problems.add({ file, line, message: `record is ${formatBytes(len)}, over the record size limit of ${formatBytes(limits.maxRecordBytes)}` });
      continue;
    }
    const text = bytes.toString('utf8', start, end);
    if (text.trim() === '') continue;
    const depth = jsonDepth(text);
    if (depth > limits.maxDepth) {
      problems.add({ file, line, message: `JSON nested ${depth} levels deep, over the limit of ${limits.maxDepth}` });
      continue;
    }
    const p = parseJson(text);
    if (!p.ok) {
      problems.add({ file, line, message: `invalid JSON at column ${p.error.column}: ${p.error.message}` });
      continue;
    }
    rows.push({ line, value: p.value, bytes: len });
  }
  return rows;
}

function jsonRows(bytes: Buffer, file: string, limits: Limits, problems: Problems): Row[] {
  const text = bytes.toString('utf8');
  const scan = scanJson(text, limits.maxDepth);
  if (scan.tooDeepAt >= 0) {
    const line = text.slice(0, scan.tooDeepAt).split('\n').length;
    problems.add({ file, line, message: `JSON nested more than ${limits.maxDepth} levels deep (limit ${limits.maxDepth})` });
    return [];
  }
  const p = parseJson(text);
  if (!p.ok) {
    problems.add({ file, line: p.error.line, message: `invalid JSON at column ${p.error.column}: ${p.error.message}` });
    return [];
  }
  if (!Array.isArray(p.value)) {
    problems.add({ file, line: 1, message: `expected a JSON array of records, found ${describeType(p.value)}` });
    return [];
  }
  const rows: Row[] = [];
  p.value.forEach((value, i) => {
    const el = scan.elements[i] ?? { start: 0, end: 0, line: 1 };
    const len = el.end - el.start;
    if (len > limits.maxRecordBytes) {
      problems.add({ file, line: el.line, path: `$[${i}]`, message: `record is ${formatBytes(len)}, over the record size limit of ${formatBytes(limits.maxRecordBytes)}` });
      return;
    }
    rows.push({ line: el.line, path: `$[${i}]`, value, bytes: len });
  });
  return rows;
}

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

function textRows(bytes: Buffer, file: string, limits: Limits, problems: Problems): Row[] {
  const rows: Row[] = [];
  for (const { line, start, end } of lines(bytes)) {
    const len = end - start;
    if (len > limits.maxRecordBytes) {
      problems.add({ file, line, message: `line is ${formatBytes(len)}, over the record size limit of ${formatBytes(limits.maxRecordBytes)}` });
      continue;
    }
    const text = bytes.toString('utf8', start, end);
    if (text.trim() === '') continue;
    rows.push({ line, value: { text }, bytes: len });
  }
  return rows;
}

/** A Markdown document as one record, cut at blank lines into pieces under the record size limit. */
function markdownRows(text: string, limits: Limits): Row[] {
  const rows: Row[] = [];
  const paras = text.split(/(\n\s*\n)/);
  let cur = '', curLine = 1, line = 1;
  const flush = () => {
    if (cur.trim() !== '') rows.push({ line: curLine, value: { text: cur.trim() }, bytes: Buffer.byteLength(cur) });
    cur = '';
  };
  for (const piece of paras) {
    if (cur !== '' && Buffer.byteLength(cur) + Buffer.byteLength(piece) > limits.maxRecordBytes) { flush(); curLine = line; }
    if (cur === '') curLine = line;
    // a single paragraph over the limit is cut at the limit (characters, so a cut never splits a code point)
    if (Buffer.byteLength(piece) > limits.maxRecordBytes) {
      const step = Math.max(1, Math.floor(limits.maxRecordBytes / 4));
      for (let s = 0; s < piece.length; s += step) { cur = piece.slice(s, s + step); flush(); }
    } else cur += piece;
    line += piece.split('\n').length - 1;
  }
  flush();
  return rows;
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. The first row is the header. */
function csvRows(text: string, file: string, limits: Limits, problems: Problems): Row[] {
  const records: { line: number; fields: string[]; bytes: number }[] = [];
  let i = 0, line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line, start = i;
    const fields: string[] = [];
    let field = '', quoted = false, atFieldStart = true, bad = false;
    for (;;) {
      if (i >= n) {
        if (quoted) { problems.add({ file, line: startLine, message: 'unterminated quoted field (a " is never closed)' }); bad = true; }
        fields.push(field);
        break;
      }
      const c = text[i];
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
          quoted = false; i++; continue;
        }
        if (c === '\n') line++;
        field += c; i++;
        continue;
      }
      if (c === '"' && atFieldStart) { quoted = true; atFieldStart = false; i++; continue; }
      if (c === ',') { fields.push(field); field = ''; atFieldStart = true; i++; continue; }
      if (c === '\r' && text[i + 1] === '\n') { i++; continue; }
      if (c === '\n') { fields.push(field); i++; line++; break; }
      field += c; atFieldStart = false; i++;
    }
    if (i - start > limits.maxRecordBytes) {
      problems.add({ file, line: startLine, message: `CSV row is over the record size limit of ${formatBytes(limits.maxRecordBytes)}` });
      continue;
    }
    if (bad) break;
    if (fields.length === 1 && fields[0].trim() === '') continue;
    records.push({ line: startLine, fields, bytes: i - start });
  }
  if (records.length === 0) return [];
  const header = records[0].fields.map((h) => h.trim());
  if (new Set(header).size !== header.length) problems.add({ file, line: records[0].line, message: `CSV header has duplicate column names: ${header.join(', ')}` });
  const rows: Row[] = [];
  for (const r of records.slice(1)) {
    if (r.fields.length !== header.length) {
      problems.add({ file, line: r.line, message: `CSV row has ${r.fields.length} fields, the header has ${header.length}` });
      continue;
    }
    rows.push({ line: r.line, value: Object.fromEntries(header.map((h, k) => [h, r.fields[k]])), bytes: r.bytes });
  }
  return rows;
}
