/**
 * Training metrics as JSON Lines: one JSON object per line, appended as training goes.
 *
 * Owns: the metrics file format, the writer (`MetricsLog`) and the readers. Guarantees:
 *   - Each record is written with a single append of one complete line ("...}\n") straight to the OS (no
 *     user-space buffering), so a reader tailing the file sees each line as soon as `log` returns and never sees
 *     a record split across two lines by the writer. (Durability across power loss only with `fsync: true`.)
 *   - A crash mid-write can leave a partial last line. Readers drop it; a writer reopening the file first ends
 *     that line with "\n", so new records always start on a fresh line (the damaged line is skipped, not glued).
 *   - Non-finite numbers, which JSON cannot hold, are written as the strings "NaN", "Infinity", "-Infinity" and
 *     read back as numbers, so a diverged loss stays visible as NaN instead of turning into null.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { writeAll } from '../util/atomic-write.ts';

export interface MetricsRecord {
  step: number;
  epoch: number;
  loss: number;
  eval_loss?: number;
  lr: number;
  grad_norm: number;
  tokens_per_s: number;
  elapsed_s: number;
  eta_s: number;
  [extra: string]: unknown;
}

export type MetricsListener = (record: MetricsRecord) => void;

export interface MetricsLogOptions {
  listener?: MetricsListener;
  /** fsync after every line (durable against power loss; slower). Default false. */
  fsync?: boolean;
}

function encodeNonFinite(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value); // "NaN", "Infinity", "-Infinity"
  return value;
}

function reviveNonFinite(_key: string, value: unknown): unknown {
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return value;
}

/** Appends metrics records to a JSON-Lines file and tells listeners about each one. */
export class MetricsLog {
  private fd: number | null;
  private readonly listeners = new Set<MetricsListener>();
  private readonly fsync: boolean;

  /** `opts` may also be just the listener. */
  constructor(public readonly path: string, opts: MetricsLogOptions | MetricsListener = {}) {
    if (typeof opts === 'function') opts = { listener: opts };
    this.fsync = opts.fsync ?? false;
    if (opts.listener) this.listeners.add(opts.listener);
    fs.mkdirSync(nodePath.dirname(this.path), { recursive: true });
    this.fd = fs.openSync(this.path, 'a');
    // Seal a partial last line left by a crash, so that our first record starts on its own line.
    const size = fs.fstatSync(this.fd).size;
    if (size > 0) {
      const last = Buffer.alloc(1);
      const rfd = fs.openSync(this.path, 'r');
      try { fs.readSync(rfd, last, 0, 1, size - 1); } finally { fs.closeSync(rfd); }
      if (last[0] !== 0x0a) writeAll(this.fd, Buffer.from('\n'));
    }
  }

  /** Adds a listener; returns a function that removes it. */
  onRecord(listener: MetricsListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Appends one record and then calls the listeners with it. A listener that throws does not stop the others
   * or training: its error is reported with process.emitWarning.
   */
  log(record: MetricsRecord): void {
    if (this.fd === null) throw new Error(`MetricsLog: ${this.path} is closed`);
    if (typeof record.step !== 'number' || !Number.isFinite(record.step)) {
      throw new TypeError(`MetricsLog: record.step must be a finite number, got ${String(record.step)}`);
    }
    const line = JSON.stringify(record, encodeNonFinite) + '\n';
    writeAll(this.fd, Buffer.from(line, 'utf8'));
    if (this.fsync) fs.fsyncSync(this.fd);
    for (const l of this.listeners) {
      try {
        l(record);
      } catch (e) {
        process.emitWarning(`MetricsLog listener failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /** Same as `log`. */
  write(record: MetricsRecord): void {
    this.log(record);
  }

  close(): void {
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
  }
}

export interface ParsedMetrics {
  records: MetricsRecord[];
  /** Complete lines that were not a JSON object (e.g. a partial line sealed after a crash). */
  skipped: number;
  /** Bytes consumed: up to and including the last newline. A reader tailing the file resumes from here. */
  consumed: number;
  /** True when the text ended with an unterminated (partial) line, which was left unread. */
  partialTail: boolean;
}

/** Parses JSON-Lines text; see ParsedMetrics. */
export function parseMetrics(text: string): ParsedMetrics {
  const records: MetricsRecord[] = [];
  let skipped = 0;
  const end = text.lastIndexOf('\n') + 1; // everything after the last newline is a partial line
  let start = 0;
  while (start < end) {
    const nl = text.indexOf('\n', start);
    const line = text.slice(start, nl).trim();
    start = nl + 1;
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line, reviveNonFinite);
    } catch {
      skipped++;
      continue;
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) records.push(v as MetricsRecord);
    else skipped++;
  }
  return { records, skipped, consumed: Buffer.byteLength(text.slice(0, end), 'utf8'), partialTail: end < text.length };
}

/**
 * All complete records of a metrics file ([] if it does not exist). A partial last line (a crash mid-write, or
 * a writer caught mid-append) is ignored, as are damaged complete lines.
 */
export function readMetrics(file: string): MetricsRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return parseMetrics(text).records;
}

/**
 * Incremental read for tailing: the complete records after byte `offset`, and the offset to resume from (only
 * whole lines are consumed, so a line being written is picked up whole by the next call).
 */
export function readMetricsFrom(file: string, offset: number): { records: MetricsRecord[]; nextOffset: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], nextOffset: offset };
    throw e;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return { records: [], nextOffset: offset };
    const buf = Buffer.alloc(size - offset);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    // Cut at the last newline in bytes, so a multi-byte character split by a concurrent write is never decoded.
    const lastNl = buf.subarray(0, got).lastIndexOf(0x0a);
    if (lastNl < 0) return { records: [], nextOffset: offset };
    const parsed = parseMetrics(buf.subarray(0, lastNl + 1).toString('utf8'));
    return { records: parsed.records, nextOffset: offset + lastNl + 1 };
  } finally {
    fs.closeSync(fd);
  }
}
