/**
 * One dataset file -> validated, normalised records, or a DatasetValidationError with every problem.
 *
 *   1. size and encoding          (sources.ts, decode.ts)
 *   2. rows with positions        JSON Lines, JSON array, CSV, text, Markdown
 *   3. format                     given (a dataset_info.json entry or a format name) or detected from the rows
 *   4. normalise and validate     every row, every problem kept (format modules)
 *   5. per-record limits          estimated tokens of chat records
 *   6. placeholders               `{{name}}` -> value, when values are given
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { RowContext } from './formats/row-context.ts';
import { detectFormat, normaliseRow, specFromInfo, FORMAT_NAMES, type FormatName, type FormatSpec } from './formats/format-spec.ts';
import { llamaFactorySpec, llamaFactoryStage, type DatasetInfoEntry } from './formats/llamafactory.ts';
import { estimateTokens, formatBytes, resolveLimits, type Limits } from './dataset-limits.ts';
import { Problems } from './problems.ts';
import { mapRecordTexts, recordTexts, type AnyRecord, type Stage } from './records.ts';
import { readSource, type SourceKind } from './sources.ts';

export interface LoadOptions {
  /** Name used in problems (default: the path's base name). */
  name?: string;
  /** A format name, or a dataset_info.json entry with its columns and tags. Default: detected. */
  format?: FormatName | DatasetInfoEntry;
  /** Forces the stage (e.g. read an alpaca file as pretraining text). */
  stage?: Stage;
  /** How to read the bytes (default: from the extension, else sniffed). */
  kind?: SourceKind;
  limits?: Partial<Limits>;
  /** Values for `{{key}}` placeholders in every text. */
  placeholders?: Record<string, string>;
}

export interface LoadedDataset {
  file: string;
  stage: Stage;
  format: FormatName;
  spec: FormatSpec;
  kind: SourceKind;
  records: AnyRecord[];
  warnings: string[];
}

export function loadDatasetFile(path: string, opts: LoadOptions = {}): LoadedDataset {
  const limits = resolveLimits(opts.limits);
  const name = opts.name ?? basename(path);
  const size = statSync(path).size;
  if (size > limits.maxFileBytes) {
    const p = new Problems(limits.maxProblems);
    p.add({ file: name, message: `file is ${formatBytes(size)}, over the file size limit of ${formatBytes(limits.maxFileBytes)}` });
    p.throwIfAny();
  }
  return loadDatasetBytes(readFileSync(path), { ...opts, name });
}

export function loadDatasetBytes(bytes: Buffer, opts: LoadOptions & { name: string }): LoadedDataset {
  const limits = resolveLimits(opts.limits);
  const file = opts.name;
  const problems = new Problems(limits.maxProblems);
  const src = readSource(bytes, file, limits, problems, opts.kind);
  problems.throwIfAny();
  const { rows, kind, warnings } = src!;
  // 3. format
  let spec: FormatSpec | null;
  if (opts.format === undefined) {
    spec = kind === 'text' || kind === 'markdown' ? { format: 'text', stage: 'pretrain', textColumn: 'text' } : detectFormat(rows);
    if (!spec) {
      problems.add({ file, line: rows[0]?.line, message: `cannot tell the dataset format from the records (keys: ${firstKeys(rows[0]?.value)}); expected one of ${FORMAT_NAMES.join(', ')}` });
      problems.throwIfAny();
    }
  } else if (typeof opts.format === 'string') {
    spec = specFromName(opts.format, rows);
  } else spec = specFromInfo(opts.format, rows);
  if (opts.stage && spec!.stage !== opts.stage) spec = { ...spec!, stage: opts.stage };
  const s = spec!;
  // 4. normalise, 5. limits
  const records: AnyRecord[] = [];
  for (const row of rows) {
    const ctx = new RowContext(file, row, problems);
    const rec = normaliseRow(ctx, s, row.value);
    if (!rec || !ctx.ok) continue;
    if (s.stage !== 'pretrain') {
      const texts = recordTexts(s.stage, rec);
      const tokens = texts.reduce((a, t) => a + estimateTokens(t), 0) + 4 * texts.length;
      if (tokens > limits.maxRecordTokens) {
        const chars = texts.reduce((a, t) => a + t.length, 0);
        ctx.fail('', `record is about ${tokens} tokens (${chars} characters), over the limit of ${limits.maxRecordTokens} tokens a record (rough estimate; raise --max-record-tokens to allow it)`);
        continue;
      }
    }
    records.push(rec);
  }
  problems.throwIfAny();
  const ph = opts.placeholders;
  const out = ph && Object.keys(ph).length > 0 ? records.map((r) => mapRecordTexts(s.stage, r, (t) => fillPlaceholders(t, ph))) : records;
  return { file, stage: s.stage, format: s.format, spec: s, kind, records: out, warnings };
}

function specFromName(format: FormatName, rows: Parameters<typeof specFromInfo>[1]): FormatSpec {
  switch (format) {
    case 'openai-chat': return { format, stage: 'sft' };
    case 'openai-preference': return { format, stage: 'preference' };
    case 'openai-kto': return { format, stage: 'kto' };
    case 'openai-completion': return { format, stage: 'sft' };
    case 'text': return { format, stage: 'pretrain', textColumn: 'text' };
    case 'alpaca': case 'sharegpt': {
      const detected = detectFormat(rows);
      if (detected && detected.format === format) return detected;
      return specFromInfo({ formatting: format }, rows);
    }
  }
  throw new Error(`unknown format '${String(format)}' (known: ${FORMAT_NAMES.join(', ')})`);
}

function firstKeys(v: unknown): string {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.keys(v).slice(0, 8).join(', ') || 'none' : 'not an object';
}

/** Replaces `{{key}}` (spaces allowed inside the braces) with values; unknown keys stay as they are. */
export function fillPlaceholders(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (m, k: string) => (Object.hasOwn(values, k) ? values[k] : m));
}

/** Placeholder names used in a set of texts (to warn when they are left unfilled). */
export function placeholdersIn(texts: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const t of texts) for (const m of t.matchAll(/\{\{\s*([A-Za-z_]\w*)\s*\}\}/g)) out.add(m[1]);
  return [...out].sort();
}

export { llamaFactorySpec, llamaFactoryStage };
