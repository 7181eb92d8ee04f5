/**
 * Validation problems: where (file, line or JSON path) and why. A validation collects all of them, not just the
 * first, and an import that found any throws one `DatasetValidationError` carrying the whole list; nothing is stored.
 */
import { ValidationError } from '../util/status-error.ts';
export interface Problem {
  file: string;
  /** 1-based line (JSONL, CSV, text) or the line where the record starts (JSON arrays). */
  line?: number;
  /** JSON path inside the record, e.g. `messages[2].content`, or `$[17]` for an array element. */
  path?: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  const where = [p.file, p.line !== undefined ? `line ${p.line}` : '', p.path ?? ''].filter(Boolean).join(': ');
  return `${where}: ${p.message}`;
}

/** A dataset file that failed validation: a 400 on `file` (`invalid_file`) with every problem. */
export class DatasetValidationError extends ValidationError {
  declare readonly problems: Problem[];
  constructor(problems: Problem[], omitted = 0) {
    const shown = problems.slice(0, 20).map((p) => `  ${formatProblem(p)}`).join('\n');
    const more = problems.length + omitted - Math.min(problems.length, 20);
    super(400, `dataset validation failed with ${problems.length + omitted} problem(s):\n${shown}${more > 0 ? `\n  ... and ${more} more` : ''}`, { param: 'file', code: 'invalid_file' }, problems, omitted);
  }
}

/** Collects problems up to a cap (counting the rest), so a file with a million bad lines stays cheap. */
export class Problems {
  readonly list: Problem[] = [];
  omitted = 0;
  constructor(readonly cap = 1000) {}
  add(p: Problem): void {
    if (this.list.length < this.cap) this.list.push(p);
    else this.omitted++;
  }
  get count(): number { return this.list.length + this.omitted; }
  throwIfAny(): void {
    if (this.count > 0) throw new DatasetValidationError(this.list, this.omitted);
  }
}
