/**
 * Magic Writer's templates: each one a form (fields with labels in both languages, default style) and the
 * instructions its filled form becomes. Templates are data: JSON files in `templates/`, read and validated once at
 * start (a broken file fails naming file and field), never code.
 *
 * Pure apart from `builtinTemplates` (which reads the folder): validation, filling a form, the prompt.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ValidationError, type ProblemDetail } from '../util/status-error.ts';
import { LENGTHS, TONES, parseStyle, styleInstructions, type Language, type WriterStyle } from './writer-style.ts';

export interface Bilingual { en: string; zh: string }

export interface TemplateField {
  name: string;
  label: Bilingual;
  kind: 'text' | 'textarea';
  required: boolean;
}

export interface WriterTemplate {
  id: string;
  name: Bilingual;
  description: Bilingual;
  fields: TemplateField[];
  /** Style controls this template starts from. */
  defaults: Partial<Pick<WriterStyle, 'tone' | 'length'>>;
  /** What the model is asked, with `{{field}}` placeholders, per language. */
  instructions: Bilingual;
}

/** The most characters one field's value may have. */
export const MAX_FIELD_CHARS = 20_000;

function fail(file: string, problems: ProblemDetail[]): never {
  throw new ValidationError(400, `${file}: invalid template: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { code: 'invalid_template', param: problems[0]?.path ?? null }, problems);
}

/** Validates a template (from a file or a request); every problem names `file` and the field's path. */
export function parseTemplate(v: unknown, file: string): WriterTemplate {
  const problems: ProblemDetail[] = [];
  const bad = (path: string, message: string) => problems.push({ file, path, message });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(file, [{ file, path: '$', message: 'must be a JSON object' }]);
  const o = v as Record<string, unknown>;
  const bi = (x: unknown, path: string): Bilingual => {
    const b = x as Record<string, unknown> | null;
    if (typeof b !== 'object' || b === null || typeof b.en !== 'string' || !b.en.trim() || typeof b.zh !== 'string' || !b.zh.trim()) { bad(path, 'must be {"en": text, "zh": text}, both non-empty'); return { en: '', zh: '' }; }
    return { en: b.en, zh: b.zh };
  };
  if (typeof o.id !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(o.id)) bad('id', 'must be lowercase letters, digits and dashes (at most 64)');
  const name = bi(o.name, 'name');
  const description = bi(o.description, 'description');
  const instructions = bi(o.instructions, 'instructions');
  const fields: TemplateField[] = [];
  if (!Array.isArray(o.fields) || !o.fields.length) bad('fields', 'must be a non-empty list');
  else {
    o.fields.forEach((f: unknown, i) => {
      const x = (f ?? {}) as Record<string, unknown>;
      const at = `fields[${i}]`;
      if (typeof x.name !== 'string' || !/^[a-z][a-z0-9_]{0,39}$/.test(x.name)) bad(`${at}.name`, 'must be lowercase letters, digits and underscores');
      else if (fields.some((y) => y.name === x.name)) bad(`${at}.name`, `"${x.name}" is named twice`);
      if (x.kind !== 'text' && x.kind !== 'textarea') bad(`${at}.kind`, 'must be "text" or "textarea"');
      if (typeof x.required !== 'boolean') bad(`${at}.required`, 'must be true or false');
      fields.push({ name: String(x.name), label: bi(x.label, `${at}.label`), kind: x.kind as TemplateField['kind'], required: x.required === true });
    });
  }
  const defaults = (o.defaults ?? {}) as Record<string, unknown>;
  if (typeof defaults !== 'object' || Array.isArray(defaults)) bad('defaults', 'must be an object {tone, length}');
  if (defaults.tone !== undefined && !TONES.includes(defaults.tone as never)) bad('defaults.tone', `must be one of ${TONES.join(', ')}`);
  if (defaults.length !== undefined && !LENGTHS.includes(defaults.length as never)) bad('defaults.length', `must be one of ${LENGTHS.join(', ')}`);
  for (const lang of ['en', 'zh'] as const) {
    for (const m of instructions[lang].matchAll(/\{\{(\w+)\}\}/g)) if (!fields.some((f) => f.name === m[1])) bad(`instructions.${lang}`, `names {{${m[1]}}}, which is no field`);
  }
  if (problems.length) fail(file, problems);
  return { id: o.id as string, name, description, fields, defaults: defaults as WriterTemplate['defaults'], instructions };
}

let builtin: WriterTemplate[] | null = null;

/** The templates shipped in `templates/` (read once). */
export function builtinTemplates(): WriterTemplate[] {
  if (builtin) return builtin;
  const dir = new URL('./templates/', import.meta.url);
  const out = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    let json: unknown;
    try { json = JSON.parse(readFileSync(new URL(f, dir), 'utf8')); } catch (e) { throw new Error(`writer template ${f}: not JSON (${(e as Error).message})`); }
    return parseTemplate(json, `templates/${f}`);
  });
  builtin = out;
  return out;
}

/** The form's values, checked against the template: required fields present, no unknown ones, sizes bounded. */
export function readFields(t: WriterTemplate, v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValidationError(400, 'fields must be an object of field name -> text', { code: 'invalid_value', param: 'fields' });
  const o = v as Record<string, unknown>;
  const problems: ProblemDetail[] = [];
  const out: Record<string, string> = {};
  for (const f of t.fields) {
    const x = o[f.name];
    if (x === undefined || x === null || (typeof x === 'string' && !x.trim())) {
      if (f.required) problems.push({ file: 'request', path: `fields.${f.name}`, message: `is required (${f.label.en})` });
      out[f.name] = '';
    } else if (typeof x !== 'string') problems.push({ file: 'request', path: `fields.${f.name}`, message: 'must be text' });
    else if (x.length > MAX_FIELD_CHARS) problems.push({ file: 'request', path: `fields.${f.name}`, message: `is longer than ${MAX_FIELD_CHARS} characters` });
    else out[f.name] = x.trim();
  }
  for (const k of Object.keys(o)) if (!t.fields.some((f) => f.name === k)) problems.push({ file: 'request', path: `fields.${k}`, message: `is no field of template ${t.id} (${t.fields.map((f) => f.name).join(', ')})` });
  if (problems.length) throw new ValidationError(400, `Invalid fields: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, { code: 'invalid_value', param: problems[0]!.path }, problems);
  return out;
}

/** The messages for a filled form: the template's instructions (empty optional fields read "not given") and the style. */
export function templateMessages(t: WriterTemplate, fields: Record<string, string>, style: WriterStyle, passages: Array<{ ref: number; label: string; text: string }> = []): Array<{ role: 'system' | 'user'; content: string }> {
  const lang: Language = style.language;
  const none = lang === 'zh' ? '（未提供）' : '(not given)';
  const task = t.instructions[lang].replace(/\{\{(\w+)\}\}/g, (_m, k: string) => fields[k] || none);
  const system = lang === 'zh'
    ? '你是企业的写作助手 Magic Writer。只输出成稿本身，不要解释。'
    : 'You are Magic Writer, a business writing assistant. Output only the finished text, no explanations.';
  const sources = passages.length
    ? (lang === 'zh' ? '\n\n可引用的资料（用 [n] 标注引用）：\n' : '\n\nSources you may use (cite them as [n]):\n') + passages.map((p) => `[${p.ref}] ${p.label}\n${p.text}`).join('\n\n')
    : '';
  return [{ role: 'system', content: `${system}\n${styleInstructions(style)}` }, { role: 'user', content: task + sources }];
}

/** A template's style, from its defaults and the request's `style`. */
export function templateStyle(t: WriterTemplate, v: unknown): WriterStyle {
  return parseStyle(v, t.defaults);
}
