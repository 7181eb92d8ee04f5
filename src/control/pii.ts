/**
 * PII detection and masking (pure functions, no I/O). Owns the four detectors the guard's `pii` check uses:
 *   - PRC resident ID card numbers: 18 characters, a plausible birth date (1900-01-01 .. today) at positions 7-14,
 *     and the ISO 7064 MOD 11-2 check character (0-9 or X);
 *   - mainland mobile numbers: 1[3-9] + 9 digits, optionally +86/86 before and grouped 3-4-4 by spaces or hyphens;
 *   - bank card numbers: 12-19 digits (groups of 4 separated by spaces or hyphens allowed) passing the Luhn check;
 *   - e-mail addresses.
 * Guarantees: a digit run is never matched inside a longer digit run; matches never overlap (ID cards first, then
 * mobiles, then bank cards, then e-mails); `maskPii` keeps a few characters of each match (ID 3+4, mobile 3+4,
 * card last 4, e-mail first character and the domain) and leaves the rest of the text untouched.
 */

export type PiiKind = 'id_card' | 'mobile' | 'bank_card' | 'email';
export const PII_KINDS: readonly PiiKind[] = ['id_card', 'mobile', 'bank_card', 'email'];

export interface PiiMatch { kind: PiiKind; start: number; end: number; text: string }

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

/** The ISO 7064 MOD 11-2 check character of the first 17 digits. */
export function idCardCheckChar(first17: string): string {
  let s = 0;
  for (let i = 0; i < 17; i++) s += (first17.charCodeAt(i) - 48) * ID_WEIGHTS[i];
  return ID_CHECK[s % 11];
}

/** True for an 18-character PRC ID number with a valid checksum and a plausible birth date. */
export function isValidIdCard(id: string, today = new Date()): boolean {
  if (!/^[1-9]\d{16}[\dXx]$/.test(id)) return false;
  const y = Number(id.slice(6, 10)), m = Number(id.slice(10, 12)), d = Number(id.slice(12, 14));
  if (y < 1900 || m < 1 || m > 12 || d < 1) return false;
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d || date.getTime() > today.getTime()) return false;
  return idCardCheckChar(id.slice(0, 17)) === id[17].toUpperCase();
}

/** Luhn (mod 10) check over a digit string. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let s = 0;
  for (let i = digits.length - 1, alt = false; i >= 0; i--, alt = !alt) {
    let d = digits.charCodeAt(i) - 48;
    if (alt) { d *= 2; if (d > 9) d -= 9; }
    s += d;
  }
  return s % 10 === 0;
}

const ID_RE = /(?<![\dA-Za-z])[1-9]\d{16}[\dXx](?![\dA-Za-z])/g;
const MOBILE_RE = /(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)/g;
const CARD_RE = /(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d-])/g;
const EMAIL_RE = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;

/** Every PII match of the given kinds, in text order, without overlaps. */
export function findPii(text: string, kinds: readonly PiiKind[] = PII_KINDS, today = new Date()): PiiMatch[] {
  const out: PiiMatch[] = [];
  const taken = (s: number, e: number) => out.some((m) => s < m.end && m.start < e);
  const scan = (kind: PiiKind, re: RegExp, ok: (t: string) => boolean) => {
    if (!kinds.includes(kind)) return;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const s = m.index, e = s + m[0].length;
      if (!taken(s, e) && ok(m[0])) out.push({ kind, start: s, end: e, text: m[0] });
    }
  };
  scan('id_card', ID_RE, (t) => isValidIdCard(t, today));
  scan('mobile', MOBILE_RE, () => true);
  scan('bank_card', CARD_RE, (t) => {
    const d = t.replace(/[ -]/g, '');
    // separators only between groups of 4 (so "2023 12 01 ..." dates are not cards)
    if (/[ -]/.test(t) && !/^\d{4}(?:[ -]\d{4})*(?:[ -]\d{1,4})?$/.test(t)) return false;
    return d.length >= 12 && d.length <= 19 && luhnValid(d);
  });
  scan('email', EMAIL_RE, () => true);
  return out.sort((a, b) => a.start - b.start);
}

function star(s: string, keepStart: number, keepEnd: number): string {
  let n = 0;
  const digitsOnly = [...s];
  const total = digitsOnly.filter((c) => /[\dXx]/.test(c)).length;
  return digitsOnly.map((c) => {
    if (!/[\dXx]/.test(c)) return c;
    const i = n++;
    return i < keepStart || i >= total - keepEnd ? c : '*';
  }).join('');
}

/** The masked form of one match. */
export function maskMatch(m: Pick<PiiMatch, 'kind' | 'text'>): string {
  switch (m.kind) {
    case 'id_card': return star(m.text, 3, 4);
    case 'mobile': {
      const cc = /^\+?86[ -]?/.exec(m.text)?.[0] ?? '';
      return cc + star(m.text.slice(cc.length), 3, 4);
    }
    case 'bank_card': return star(m.text, 0, 4);
    case 'email': {
      const at = m.text.indexOf('@');
      return `${m.text[0]}${'*'.repeat(Math.max(1, at - 1))}${m.text.slice(at)}`;
    }
  }
}

/** Replaces each match with its masked form. */
export function maskPii(text: string, matches: readonly PiiMatch[] = findPii(text)): string {
  let out = '', at = 0;
  for (const m of [...matches].sort((a, b) => a.start - b.start)) {
    out += text.slice(at, m.start) + maskMatch(m);
    at = m.end;
  }
  return out + text.slice(at);
}
