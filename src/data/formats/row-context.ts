/** What every format normaliser shares: reporting a problem at a path inside the current row. */
import type { Problems } from '../problems.ts';
import type { Row } from '../sources.ts';
import { describeType } from '../sources.ts';

export class RowContext {
  ok = true;
  constructor(readonly file: string, readonly row: Row, readonly problems: Problems) {}
  /** Reports a problem at `path` (relative to the record). */
  fail(path: string, message: string): null {
    this.ok = false;
    const base = this.row.path ?? '';
    const full = base && path ? `${base}.${path}` : base || path;
    this.problems.add({ file: this.file, line: this.row.line, ...(full ? { path: full } : {}), message });
    return null;
  }
  /** The value as a string, or a problem. `optional` accepts undefined/null as ''. */
  str(v: unknown, path: string, optional = false): string | null {
    if (typeof v === 'string') return v;
    if (optional && (v === undefined || v === null)) return '';
    if (v === undefined) return this.fail(path, 'is missing');
    return this.fail(path, `must be a string, found ${describeType(v)}`);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `tools` given as an array or as JSON text of an array (LLaMA-Factory's glaive data). */
export function parseTools(ctx: RowContext, v: unknown, path: string): unknown[] | undefined | null {
  if (v === undefined || v === null || v === '') return undefined;
  let t = v;
  if (typeof v === 'string') {
    try { t = JSON.parse(v); } catch { return ctx.fail(path, 'is a string but not valid JSON (expected a JSON array of tool definitions)'); }
  }
  if (isObject(t)) t = [t];
  if (!Array.isArray(t)) return ctx.fail(path, `must be an array of tool definitions, found ${describeType(t)}`);
  return t.length > 0 ? t : undefined;
}
