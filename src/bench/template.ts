/**
 * The prompt template language of bench tasks: a small, documented subset of Jinja's expression syntax.
 *
 * Owns: rendering `doc_to_text` / `doc_to_choice` / `doc_to_target` templates against one document, and the
 * template hash stored with every result (so that a changed prompt is never mistaken for a cached one).
 * Guarantees: rendering is pure and deterministic; an unknown field is an error naming the field and the template
 * (never a silent empty string).
 *
 * Syntax
 *   {{ expr }}                 an expression; everything outside {{ }} is literal text
 *   expr   := path ( '|' filter )*
 *   path   := name ( '.' name | '[' integer ']' | '[' "'"string"'" ']' )*   e.g. question, choices[0], meta.lang
 *   filter := trim | upper | lower | strip | length | letter | join( "sep" ) | default( "text" )
 *             letter: 0 -> "A", 1 -> "B", ...; join: an array joined by sep (default ", ")
 * A template that is exactly one `{{ expr }}` (whitespace around allowed) renders to the raw value (an array for
 * `doc_to_choice: "{{choices}}"`, a number for `doc_to_target: "{{answer}}"`); any other template renders to a
 * string, with values converted by String() (arrays joined by ", ").
 * No statements ({% %}), no arithmetic: documents are prepared by the importers so that templates stay simple.
 */
import { createHash } from 'node:crypto';

export class TemplateError extends Error {}

type Filter = { name: string; arg?: string };
interface Expr { path: Array<string | number>; filters: Filter[]; source: string }
type Part = string | Expr;

const cache = new Map<string, Part[]>();

function parsePath(src: string, template: string): Array<string | number> {
  const out: Array<string | number> = [];
  const re = /\s*(?:([A-Za-z_][\w]*)|\.([A-Za-z_][\w]*)|\[\s*(\d+)\s*\]|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\])/y;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m || (out.length === 0 && m[1] === undefined) || (out.length > 0 && m[1] !== undefined)) {
      throw new TemplateError(`template ${JSON.stringify(template)}: cannot parse "${src.trim()}" as a field path`);
    }
    out.push(m[1] ?? m[2] ?? (m[3] !== undefined ? Number(m[3]) : (m[4] ?? m[5])!));
    pos = re.lastIndex;
  }
  if (out.length === 0) throw new TemplateError(`template ${JSON.stringify(template)}: empty expression`);
  return out;
}

const FILTERS = new Set(['trim', 'strip', 'upper', 'lower', 'length', 'letter', 'join', 'default']);

function parseExpr(src: string, template: string): Expr {
  const pieces: string[] = [];
  let cur = '', quote = '';
  for (const ch of src) {
    if (quote) { if (ch === quote) quote = ''; cur += ch; continue; }
    if (ch === '"' || ch === "'") { quote = ch; cur += ch; continue; }
    if (ch === '|') { pieces.push(cur); cur = ''; continue; }
    cur += ch;
  }
  pieces.push(cur);
  const path = parsePath(pieces[0], template);
  const filters = pieces.slice(1).map((f): Filter => {
    const m = /^\s*([a-z]+)\s*(?:\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\))?\s*$/.exec(f);
    if (!m || !FILTERS.has(m[1])) throw new TemplateError(`template ${JSON.stringify(template)}: unknown filter "${f.trim()}" (known: ${[...FILTERS].join(', ')})`);
    const arg = m[2] ?? m[3];
    return { name: m[1], arg: arg === undefined ? undefined : JSON.parse(`"${arg.replace(/"/g, '\\"')}"`) as string };
  });
  return { path, filters, source: src.trim() };
}

/** Parses (and caches) a template. Throws TemplateError for unbalanced braces, bad paths or unknown filters. */
export function parseTemplate(template: string): Part[] {
  const hit = cache.get(template);
  if (hit) return hit;
  const parts: Part[] = [];
  let pos = 0;
  while (pos < template.length) {
    const open = template.indexOf('{{', pos);
    if (open < 0) { parts.push(template.slice(pos)); break; }
    if (open > pos) parts.push(template.slice(pos, open));
    const close = template.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError(`template ${JSON.stringify(template)}: "{{" at ${open} is never closed`);
    parts.push(parseExpr(template.slice(open + 2, close), template));
    pos = close + 2;
  }
  if (template.includes('{%')) throw new TemplateError(`template ${JSON.stringify(template)}: statements ({% %}) are not supported`);
  if (cache.size > 4096) cache.clear();
  cache.set(template, parts);
  return parts;
}

function lookup(doc: unknown, e: Expr, template: string): unknown {
  let v: unknown = doc;
  for (const k of e.path) {
    if (v === null || v === undefined || typeof v !== 'object' || !(k in (v as Record<string, unknown>))) {
      if (e.filters.some((f) => f.name === 'default')) return undefined;
      throw new TemplateError(`template ${JSON.stringify(template)}: the document has no field "${e.source.split('|')[0].trim()}"`);
    }
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function toText(v: unknown): string {
  if (Array.isArray(v)) return v.map(toText).join(', ');
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function evalExpr(doc: unknown, e: Expr, template: string): unknown {
  let v = lookup(doc, e, template);
  for (const f of e.filters) {
    switch (f.name) {
      case 'trim': case 'strip': v = toText(v).trim(); break;
      case 'upper': v = toText(v).toUpperCase(); break;
      case 'lower': v = toText(v).toLowerCase(); break;
      case 'length': v = Array.isArray(v) ? v.length : toText(v).length; break;
      case 'join': v = Array.isArray(v) ? v.map(toText).join(f.arg ?? ', ') : toText(v); break;
      case 'default': if (v === undefined || v === null || v === '') v = f.arg ?? ''; break;
      case 'letter': {
        const n = typeof v === 'number' ? v : Number(v);
        if (!Number.isInteger(n) || n < 0 || n >= 26) throw new TemplateError(`template ${JSON.stringify(template)}: letter needs an index 0..25, got ${toText(v)}`);
        v = String.fromCharCode(65 + n);
        break;
      }
    }
  }
  return v;
}

/** Renders a template to a string. */
export function render(template: string, doc: unknown): string {
  return parseTemplate(template).map((p) => (typeof p === 'string' ? p : toText(evalExpr(doc, p, template)))).join('');
}

/** Renders a template; a template that is a single expression returns the raw value (array, number, ...). */
export function renderValue(template: string, doc: unknown): unknown {
  const parts = parseTemplate(template);
  const exprs = parts.filter((p) => typeof p !== 'string');
  if (exprs.length === 1 && parts.every((p) => typeof p !== 'string' || p.trim() === '')) return evalExpr(doc, exprs[0] as Expr, template);
  return render(template, doc);
}

/** SHA-256 (hex, first 16 chars) of anything JSON-serialisable, keys sorted: the template / config hash. */
export function stableHash(v: unknown): string {
  return createHash('sha256').update(stableStringify(v)).digest('hex').slice(0, 16);
}

export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
