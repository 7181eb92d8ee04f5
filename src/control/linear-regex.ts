/**
 * Linear-time regular expressions for patterns a client writes (guard policies' regex checks).
 *
 * A backtracking engine (JavaScript's RegExp) can take exponential time on patterns like `(a+)+$`, and one such
 * match blocks the whole server. Client patterns are therefore compiled by RE2JS (a pure-JavaScript port of RE2):
 * matching is linear in the text for every pattern it accepts. What RE2 cannot run in linear time (backreferences
 * such as `\1`, lookahead and lookbehind) is refused at compile time with `LinearRegexError`, never run.
 *
 * Syntax is JavaScript's as far as RE2 has it: named groups `(?<n>…)`, `\uXXXX`, `\u{…}`, `\p{Han}`; the
 * JavaScript spelling `\p{Script=Han}` / `\p{sc=Han}` is accepted too. Flags: i, m, s, u (u is always on: RE2
 * matches code points). Positions are in UTF-16 code units, as for a RegExp.
 */
import { RE2JS } from 're2js';

export class LinearRegexError extends Error {}

/** The engine's name, for callers and tests that show which engine runs a pattern. */
export const LINEAR_ENGINE = 're2js';

export interface LinearMatch { index: number; text: string; groups: (string | null)[] }

export interface LinearRegex {
  readonly engine: typeof LINEAR_ENGINE;
  readonly source: string;
  readonly flags: string;
  /** True when the pattern matches anywhere in `text`. */
  test(text: string): boolean;
  /** Every non-overlapping match, left to right (leftmost-first, as a RegExp with `g`). */
  matchAll(text: string): LinearMatch[];
}

const FLAGS = /^[imsu]*$/;

/** Rewrites the JavaScript spellings RE2 lacks: `\p{Script=X}`, `\p{sc=X}`, `\p{Script_Extensions=X}` -> `\p{X}`. */
function translate(pattern: string): string {
  return RE2JS.translateRegExp(pattern.replace(/\\([pP])\{(?:Script|sc|Script_Extensions|scx)=([A-Za-z_]+)\}/g, '\\$1{$2}'));
}

function explain(message: string): string {
  const m = message.replace(/^error parsing regexp:\s*/, '');
  if (/invalid (named capture|or unsupported Perl syntax): `\(\?[=!<]/.test(m) || /`\(\?<[=!]/.test(m)) return `lookahead and lookbehind are not supported (they can backtrack): ${m}`;
  if (/invalid escape sequence: `\\[1-9k]/.test(m)) return `backreferences are not supported (they can backtrack): ${m}`;
  return m;
}

/**
 * Compiles `pattern` with JavaScript-style `flags` (i, m, s, u) for the linear-time engine. Throws
 * `LinearRegexError` naming why when the pattern is invalid or needs backtracking.
 */
export function compileLinear(pattern: string, flags = ''): LinearRegex {
  if (!FLAGS.test(flags)) throw new LinearRegexError(`flags may only contain i, m, s, u (got ${JSON.stringify(flags)})`);
  let f = 0;
  if (flags.includes('i')) f |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes('m')) f |= RE2JS.MULTILINE;
  if (flags.includes('s')) f |= RE2JS.DOTALL;
  if (/(^|[^\\])(\\\\)*\\k</.test(pattern)) throw new LinearRegexError('backreferences are not supported (they can backtrack): `\\k<…>`');
  let re: RE2JS;
  try {
    re = RE2JS.compile(translate(pattern), f);
  } catch (e) {
    throw new LinearRegexError(explain((e as Error).message));
  }
  return {
    engine: LINEAR_ENGINE,
    source: pattern,
    flags,
    test: (text) => re.test(text),
    matchAll(text) {
      const out: LinearMatch[] = [];
      const m = re.matcher(text);
      const n = m.groupCount();
      while (m.find()) {
        const groups: (string | null)[] = [];
        for (let g = 1; g <= n; g++) groups.push(m.group(g));
        out.push({ index: m.start(), text: m.group() ?? '', groups });
      }
      return out;
    },
  };
}
