/**
 * Importers of the standard multiple-choice exam CSVs into bench documents.
 *
 * Owns: parsing (csv-parse, RFC 4180 quoting: quoted fields with commas, doubled quotes and newlines), the three
 * column layouts, the folder layouts of the published data sets, and one normalised document shape:
 *   {id, subject, question, choices: [A, B, C, D], A, B, C, D, answer: 0..3, answer_letter: "A".."D", explanation?}
 * Layouts (they differ, and are detected from the header unless given):
 *   cmmlu  header `,Question,A,B,C,D,Answer`, first column a 0-based index          <root>/<split>/<subject>.csv
 *   mmlu   no header, 6 columns `question,A,B,C,D,answer`                            <root>/<split>/<subject>_<split>.csv
 *   ceval  header `id,question,A,B,C,D,answer,explanation` (test answers are empty)  <root>/<split>/<subject>_<split>.csv
 * Guarantees: every row is checked (column count, non-empty question, answer letter A-D unless `allowMissingAnswer`);
 * errors name the file, the line and the column.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Doc } from './bench-types.ts';

export type ExamFormat = 'cmmlu' | 'mmlu' | 'ceval';

export class ImportError extends Error {}

export interface ExamDoc extends Doc {
  id: string;
  subject: string;
  question: string;
  choices: string[];
  A: string; B: string; C: string; D: string;
  /** Gold index 0..3, or -1 when the file has no answer (C-Eval test). */
  answer: number;
  answer_letter: string;
  explanation?: string;
}

const LETTERS = ['A', 'B', 'C', 'D'];

/** Detects the layout from the first record. */
export function detectExamFormat(first: readonly string[]): ExamFormat {
  const h = first.map((c) => c.trim().toLowerCase());
  if (h.length === 7 && h[0] === '' && h[1] === 'question' && h[6] === 'answer') return 'cmmlu';
  if (h.length >= 7 && h[0] === 'id' && h[1] === 'question' && h[6] === 'answer') return 'ceval';
  if (h.length === 6) return 'mmlu';
  throw new ImportError(`cannot tell the CSV layout from its first row (${first.length} columns: ${JSON.stringify(first).slice(0, 120)}); expected CMMLU (,Question,A,B,C,D,Answer), MMLU (6 columns, no header) or C-Eval (id,question,A,B,C,D,answer,explanation)`);
}

/** Parses one exam CSV (text) into documents. `name` is used in errors and as the default subject. */
export function parseExamCsv(text: string, opts: { name?: string; format?: ExamFormat; subject?: string; allowMissingAnswer?: boolean } = {}): ExamDoc[] {
  const name = opts.name ?? 'csv';
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text.replace(/^\uFEFF/, ''), { relax_column_count: true, skip_empty_lines: true, info: true }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (e) {
    throw new ImportError(`${name}: ${(e as Error).message}`);
  }
  if (records.length === 0) throw new ImportError(`${name}: no rows`);
  const format = opts.format ?? detectExamFormat(records[0].record);
  const hasHeader = format !== 'mmlu';
  const want = format === 'cmmlu' ? 7 : format === 'mmlu' ? 6 : 8;
  const subject = opts.subject ?? basename(name).replace(/\.csv$/i, '').replace(/_(dev|val|test)$/, '');
  const out: ExamDoc[] = [];
  for (const { record: r, info } of hasHeader ? records.slice(1) : records) {
    const where = `${name}: line ${info.lines}`;
    const cols = format === 'ceval' && r.length === 7 ? [...r, ''] : r; // explanation is optional
    if (cols.length !== want) throw new ImportError(`${where}: ${cols.length} columns, the ${format} layout has ${want}`);
    let id: string, q: string, opts4: string[], ans: string, explanation: string | undefined;
    if (format === 'cmmlu') { [id, q] = [cols[0], cols[1]]; opts4 = cols.slice(2, 6); ans = cols[6]; }
    else if (format === 'mmlu') { id = String(out.length); q = cols[0]; opts4 = cols.slice(1, 5); ans = cols[5]; }
    else { [id, q] = [cols[0], cols[1]]; opts4 = cols.slice(2, 6); ans = cols[6]; explanation = cols[7] || undefined; }
    if (!q.trim()) throw new ImportError(`${where}: column "question" is empty`);
    const letter = ans.trim().toUpperCase();
    let answer = LETTERS.indexOf(letter);
    if (answer < 0) {
      if (letter === '' && opts.allowMissingAnswer) answer = -1;
      else throw new ImportError(`${where}: column "answer" must be one of A, B, C, D, got ${JSON.stringify(ans)}`);
    }
    out.push({
      id: `${subject}/${id.trim() || out.length}`, subject, question: q, choices: opts4,
      A: opts4[0], B: opts4[1], C: opts4[2], D: opts4[3], answer, answer_letter: answer >= 0 ? LETTERS[answer] : '',
      ...(explanation !== undefined ? { explanation } : {}),
    });
  }
  return out;
}

/** Reads one exam CSV file. */
export function readExamCsv(path: string, opts: { format?: ExamFormat; subject?: string; allowMissingAnswer?: boolean } = {}): ExamDoc[] {
  if (!existsSync(path)) throw new ImportError(`${path}: file not found`);
  return parseExamCsv(readFileSync(path, 'utf8'), { ...opts, name: path });
}

/** The file of a subject's split in the published folder layouts. */
export function examFilePath(format: ExamFormat, root: string, subject: string, split: string): string {
  return format === 'cmmlu' ? join(root, split, `${subject}.csv`) : join(root, split, `${subject}_${split}.csv`);
}

/** Reads a subject's split from a data set folder (see the header for the layouts). */
export function readExamSplit(format: ExamFormat, root: string, subject: string, split: string): ExamDoc[] {
  return readExamCsv(examFilePath(format, root, subject, split), { format, subject, allowMissingAnswer: format === 'ceval' && split === 'test' });
}
