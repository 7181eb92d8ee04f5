/**
 * The console's dictionaries (web/src/i18n/): both languages have exactly the same keys, no string is empty or only
 * spaces, and every `{name}` placeholder of a string is in its translation too (a lost placeholder shows the raw
 * braces to a user of the other language).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en } from '../../web/src/i18n/en.ts';
import { zh } from '../../web/src/i18n/zh.ts';

const LANGS: Record<string, Record<string, string>> = { en, zh };
const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('i18n: both dictionaries have the same keys', () => {
  const enKeys = Object.keys(en).sort(), zhKeys = Object.keys(zh).sort();
  assert.ok(enKeys.length > 100, `only ${enKeys.length} English keys: the dictionary did not load`);
  assert.deepEqual(enKeys.filter((k) => !(k in zh)), [], 'keys missing from zh');
  assert.deepEqual(zhKeys.filter((k) => !(k in en)), [], 'keys missing from en');
});

test('i18n: no empty strings', () => {
  for (const [lang, dict] of Object.entries(LANGS)) {
    const empty = Object.entries(dict).filter(([, v]) => typeof v !== 'string' || v.trim() === '').map(([k]) => k);
    assert.deepEqual(empty, [], `empty strings in ${lang}`);
  }
});

test('i18n: a translation keeps every placeholder of the English string', () => {
  const lost = Object.keys(en).filter((k) => placeholders((en as Record<string, string>)[k]).join() !== placeholders((zh as Record<string, string>)[k] ?? '').join());
  assert.deepEqual(lost, [], 'keys whose placeholders differ between en and zh');
});
