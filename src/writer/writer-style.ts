/**
 * Magic Writer's style controls, shared by every template and long document: tone, length, audience, language
 * (zh/en). Pure: parsing a request's `style` (every problem named by field) and the instruction lines a model reads.
 */
import { ValidationError, type ProblemDetail } from '../util/status-error.ts';

export const TONES = ['neutral', 'formal', 'friendly', 'persuasive', 'concise'] as const;
export const LENGTHS = ['short', 'medium', 'long'] as const;
export const LANGUAGES = ['en', 'zh'] as const;
export type Tone = typeof TONES[number];
export type Length = typeof LENGTHS[number];
export type Language = typeof LANGUAGES[number];

export interface WriterStyle { tone: Tone; length: Length; audience: string; language: Language }

export const DEFAULT_STYLE: WriterStyle = { tone: 'neutral', length: 'medium', audience: '', language: 'en' };

/** Words per length, for the model's instructions (Chinese: characters, about twice as many). */
const WORDS: Record<Length, [number, number]> = { short: [80, 150], medium: [200, 350], long: [450, 700] };
/** The most tokens a section of each length may take. */
export const MAX_TOKENS: Record<Length, number> = { short: 400, medium: 900, long: 1600 };

/** Reads `style` from a request body (`where` names it in errors); missing fields take `defaults`, then DEFAULT_STYLE. */
export function parseStyle(v: unknown, defaults: Partial<WriterStyle> = {}, where = 'style'): WriterStyle {
  const out: WriterStyle = { ...DEFAULT_STYLE, ...defaults };
  if (v === undefined || v === null) return out;
  const problems: ProblemDetail[] = [];
  const bad = (field: string, message: string) => problems.push({ file: 'request', path: `${where}.${field}`, message });
  if (typeof v !== 'object' || Array.isArray(v)) throw new ValidationError(400, `${where} must be an object {tone, length, audience, language}`, { code: 'invalid_value', param: where });
  const o = v as Record<string, unknown>;
  const pick = <T extends string>(field: string, allowed: readonly T[]): T | undefined => {
    const x = o[field];
    if (x === undefined) return undefined;
    if (typeof x !== 'string' || !allowed.includes(x as T)) { bad(field, `must be one of ${allowed.join(', ')}`); return undefined; }
    return x as T;
  };
  out.tone = pick('tone', TONES) ?? out.tone;
  out.length = pick('length', LENGTHS) ?? out.length;
  out.language = pick('language', LANGUAGES) ?? out.language;
  if (o.audience !== undefined) {
    if (typeof o.audience !== 'string' || o.audience.length > 200) bad('audience', 'must be text of at most 200 characters');
    else out.audience = o.audience.trim();
  }
  for (const k of Object.keys(o)) if (!['tone', 'length', 'audience', 'language'].includes(k)) bad(k, 'unknown style control (tone, length, audience, language)');
  if (problems.length) throw new ValidationError(400, `Invalid ${where}: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, { code: 'invalid_value', param: problems[0]!.path }, problems);
  return out;
}

const TONE_TEXT: Record<Tone, { en: string; zh: string }> = {
  neutral: { en: 'neutral and clear', zh: '客观、清晰' },
  formal: { en: 'formal and precise', zh: '正式、严谨' },
  friendly: { en: 'warm and friendly', zh: '亲切、友好' },
  persuasive: { en: 'persuasive, with concrete benefits', zh: '有说服力，突出具体好处' },
  concise: { en: 'concise, no filler', zh: '简洁，不说空话' },
};

/** The style as instructions, in the document's language. */
export function styleInstructions(s: WriterStyle): string {
  const [lo, hi] = WORDS[s.length];
  if (s.language === 'zh') {
    return [`用简体中文写作。语气：${TONE_TEXT[s.tone].zh}。篇幅：约 ${lo * 2}–${hi * 2} 字。`, s.audience ? `读者：${s.audience}。` : ''].join('');
  }
  return [`Write in English. Tone: ${TONE_TEXT[s.tone].en}. Length: about ${lo}-${hi} words.`, s.audience ? ` Audience: ${s.audience}.` : ''].join('');
}
