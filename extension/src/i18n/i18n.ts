/** The panel's two languages: `t(lang, key, values)` fills `{name}` placeholders. */
import { en, type Dictionary, type Key } from './en.ts';
import { zh } from './zh.ts';

export type Lang = 'en' | 'zh';
export const DICTIONARIES: Record<Lang, Dictionary> = { en, zh };

export function t(lang: Lang, key: Key, values: Record<string, string | number> = {}): string {
  return DICTIONARIES[lang][key].replace(/\{(\w+)\}/g, (m, name: string) => (name in values ? String(values[name]) : m));
}

/** The browser's language as the panel's default. */
export function defaultLang(navigatorLanguage: string): Lang {
  return /^zh\b/i.test(navigatorLanguage) ? 'zh' : 'en';
}
