/**
 * Chinese numerals, both ways: the one parser the statute structure (第一百零五条), article references in bot
 * extraction and the fact matcher of the Benchmark System share.
 */
const DIGITS: Readonly<Record<string, number>> = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };
const POWERS: Readonly<Record<string, number>> = { 十: 10, 百: 100, 千: 1000 };

/**
 * A Chinese numeral ("十二", "一百零五", "两千零三", "一万二千"), or null when the text is not one (a character
 * that is no numeral, two digits side by side as in "一二", a unit with nothing to count as in "万").
 * 零 only holds a place between units; alone it is 0.
 */
export function parseChineseNumeral(s: string): number | null {
  if (s === '零' || s === '〇') return 0;
  if (!s) return null;
  let total = 0;
  let section = 0;
  let digit: number | null = null;
  let afterZero = false;
  for (const ch of s) {
    if (ch === '零' || ch === '〇') {
      if (digit !== null || afterZero) return null;
      afterZero = true;
      continue;
    }
    const d = DIGITS[ch];
    if (d !== undefined) {
      if (digit !== null) return null;
      digit = d;
      afterZero = false;
      continue;
    }
    if (afterZero) return null;
    const p = POWERS[ch];
    if (p !== undefined) {
      section += (digit ?? 1) * p;
    } else if (ch === '万') {
      const n = section + (digit ?? 0);
      if (n === 0) return null;
      total += n * 10000;
      section = 0;
    } else {
      return null;
    }
    digit = null;
  }
  if (afterZero) return null;
  return total + section + (digit ?? 0);
}

/** Writes n (0..99,999,999) the way statutes do: 一百零五, 二十, 十 (not 一十), 两 never. */
export function toChineseNumeral(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= 1e8) throw new RangeError(`toChineseNumeral: ${n} is not an integer in 0..99999999`);
  const d = '零一二三四五六七八九';
  if (n < 10) return d[n]!;
  if (n >= 10000) {
    const high = Math.floor(n / 10000);
    const low = n % 10000;
    return toChineseNumeral(high) + '万' + (low === 0 ? '' : (low < 1000 ? '零' : '') + belowTenThousand(low, false));
  }
  return belowTenThousand(n, true);
}

function belowTenThousand(n: number, leading: boolean): string {
  const d = '零一二三四五六七八九';
  if (leading && n >= 10 && n < 20) return `十${n % 10 ? d[n % 10] : ''}`;
  const parts: string[] = [];
  let rest = n;
  let zero = false;
  for (const [u, name] of [[1000, '千'], [100, '百'], [10, '十']] as const) {
    const q = Math.floor(rest / u);
    rest %= u;
    if (q) { if (zero) parts.push('零'); parts.push(d[q]! + name); zero = false; } else if (parts.length) zero = true;
  }
  if (rest) { if (zero) parts.push('零'); parts.push(d[rest]!); }
  return parts.join('');
}

/** Digits read one by one, as years are written (一九九三 -> 1993), or null when a character is no digit. */
export function parseChineseDigits(s: string): number | null {
  if (!s) return null;
  let n = 0;
  for (const ch of s) {
    const d = DIGITS[ch];
    if (d === undefined) return null;
    n = n * 10 + d;
  }
  return n;
}
