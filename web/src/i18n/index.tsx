/**
 * The console's languages: one dictionary per file (`en.ts` is the key set; `zh.ts` must have every key, the compiler
 * checks), `{name}` placeholders, the choice remembered in localStorage, the default from the browser's language.
 */
import { setFormatLocale } from '../components/ui';
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { en, type Dictionary, type Key } from './en.ts';
import { zh } from './zh.ts';

export type { Key };
export type Lang = 'en' | 'zh';
type DynamicKey = `${'dim' | 'status' | 'stage' | 'lang' | 'keys.role' | 'preset' | 'method' | 'page' | 'guard'}.${string}`;

const DICTS: Record<Lang, Dictionary> = { en, zh };
const STORE = 'modelfab.lang';

function initialLang(): Lang {
  const saved = localStorage.getItem(STORE);
  if (saved === 'en' || saved === 'zh') return saved;
  return (navigator.languages?.[0] ?? navigator.language ?? 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export type T = (key: Key | DynamicKey, vars?: Record<string, string | number>, fallback?: string) => string;

export function translate(lang: Lang, key: string, vars: Record<string, string | number> = {}, fallback?: string): string {
  const s = (DICTS[lang] as Record<string, string>)[key] ?? fallback ?? (en as Record<string, string>)[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

interface I18n { lang: Lang; setLang: (l: Lang) => void; t: T }
const Ctx = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = useCallback((l: Lang) => { localStorage.setItem(STORE, l); setLangState(l); }, []);
  setFormatLocale(lang === 'zh' ? 'zh-CN' : 'en');
  useEffect(() => { document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'; }, [lang]);
  const t = useCallback<T>((key, vars, fallback) => translate(lang, key, vars, fallback), [lang]);
  const v = useMemo(() => ({ lang, setLang, t }), [lang, setLang, t]);
  return <Ctx.Provider value={v}>{children}</Ctx.Provider>;
}

export function useI18n(): I18n {
  const c = useContext(Ctx);
  if (!c) throw new Error('useI18n outside I18nProvider');
  return c;
}

/** For tests: every key of both dictionaries. */
export const DICTIONARIES = DICTS;
