/**
 * Parsers of option values shared by the command groups: each takes the raw string and the flag's name and throws
 * one line naming the flag and what it expected (the CLI prints it and exits 1).
 */

/** A repeatable option: `--x a --x b` gives ['a', 'b']. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function integer(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n)) throw new Error(`--${flag} must be an integer, got ${v}`);
  return n;
}

/** A count: a whole number of at least 1. */
export function count(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive whole number, got ${v}`);
  return n;
}

/** A fraction from 0 up to, not including, 1. */
export function fraction(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !(n >= 0 && n < 1)) throw new Error(`--${flag} must be a fraction from 0 up to (not including) 1, got ${v}`);
  return n;
}

/** An optional integer option: undefined when it was not given. */
export function optionalInteger(v: string | undefined, flag: string): number | undefined {
  return v === undefined ? undefined : integer(v, flag);
}

/** A comma-separated option as a list; undefined when not given; "" is the empty list. */
export const commaList = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));

/** A positive number; undefined when not given. */
export function positive(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${flag} must be a positive number, got ${v}`);
  return n;
}

/** A positive whole number; undefined when not given. */
export function positiveInt(v: string | undefined, flag: string): number | undefined {
  const n = positive(v, flag);
  if (n !== undefined && !Number.isInteger(n)) throw new Error(`--${flag} must be a whole number, got ${v}`);
  return n;
}
