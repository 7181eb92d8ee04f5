/**
 * Whether an answer states a fact: the `fact` metric of generation tasks.
 *
 * Owns: reading quantities out of free text (a number with its unit, in Chinese or English) and the rule that
 * decides whether an answer states an expected value. A value is either a quantity ("1,500 kg", "¥68,000", "2 年",
 * "30 minutes") or text ("林远舟", "laser SLAM", "400-820-6688"):
 *   - a quantity is stated when the first quantity of the answer in a compatible unit has the same value:
 *     "1500公斤", "1,500 kg", "1.5 吨" and "1500" all state 1,500 kg; "50 kg" does not, and neither does
 *     "50 kg 或 1,500 kg" (the answer's first payload is the one it states). Thousands separators, full-width
 *     digits, 万 / thousand multipliers, currency signs before or after the number, "2-year", hours and minutes are
 *     understood; Chinese and English number words count when a unit follows them ("两年", "four hours").
 *     Numbers inside codes ("F1500", "P20", "E101") are not quantities. A unitless value matches any unit;
 *   - text is stated when it occurs in the answer, compared without case, spaces, punctuation or thousands
 *     separators ("激光SLAM" states "激光 SLAM").
 * Guarantees: pure and deterministic; `factScore` is 1 or 0.
 */
import { parseChineseNumeral } from '../util/chinese-numerals.ts';

export interface Quantity {
  value: number;
  /** Canonical unit (kg, m/s, h, day, workday, week, month, year, cny, usd, eur, %, m, cm, kwh, °c, cycle, char), or null. */
  unit: string | null;
  /** Offset and length of the quantity in the normalised text. */
  index: number;
  length: number;
}

/** Unit spellings after a number (longest first where one is the prefix of another): canonical unit and factor. */
const UNITS: Array<[RegExp, string, number]> = [
  [/^(?:千瓦时|度电|kwh|kw·h|kilowatt[- ]hours?)/, 'kwh', 1],
  [/^(?:公斤|千克|kgs?\b|kilograms?\b|kilos?\b)/, 'kg', 1],
  [/^(?:吨|tonnes?\b|tons?\b)/, 'kg', 1000],
  [/^(?:米\/秒|米每秒|m\/s|meters? per second|metres? per second)/, 'm/s', 1],
  [/^(?:个工作日|工作日|working days?\b|business days?\b)/, 'workday', 1],
  [/^(?:个小时|小时|钟头|hours?\b|hrs?\b|h\b)/, 'h', 1],
  [/^(?:分钟|minutes?\b|mins?\b)/, 'h', 1 / 60],
  [/^(?:天|日|days?\b)/, 'day', 1],
  [/^(?:个星期|星期|周|weeks?\b)/, 'week', 1],
  [/^(?:个月|months?\b)/, 'month', 1],
  [/^(?:年|years?\b|yrs?\b)/, 'year', 1],
  [/^(?:美元|美金|usd\b|us dollars?\b|dollars?\b)/, 'usd', 1],
  [/^(?:元|块钱|块|人民币|rmb\b|cny\b|yuan\b)/, 'cny', 1],
  [/^(?:欧元|eur\b|euros?\b)/, 'eur', 1],
  [/^(?:%|percent\b|per cent\b)/, '%', 1],
  [/^(?:°c|℃|摄氏度|degrees? celsius\b)/, '°c', 1],
  [/^(?:厘米|cm\b|centimet(?:er|re)s?\b)/, 'cm', 1],
  [/^(?:米|m\b|met(?:er|re)s?\b)/, 'm', 1],
  [/^(?:次循环|次充放电|次|cycles?\b)/, 'cycle', 1],
  [/^(?:位|个字符|characters?\b|chars?\b)/, 'char', 1],
];

const PREFIX_CURRENCY: Array<[RegExp, string]> = [
  [/(?:¥|rmb|cny|人民币)\s*$/, 'cny'],
  [/(?:us\$|\$|usd)\s*$/, 'usd'],
  [/(?:€|eur)\s*$/, 'eur'],
];

const MULTIPLIERS: Array<[RegExp, number]> = [
  [/^(?:百万|million\b)/, 1e6],
  [/^(?:万)/, 1e4],
  [/^(?:千(?!克|瓦)|thousand\b|k\b(?!g|w|m))/, 1e3],
];

const EN_NUMBERS: Record<string, number> = {
  one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10, eleven: 11, twelve: 12,
  thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19, twenty: 20,
  thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90, hundred: 100,
};

/**
 * NFKC (full-width digits and signs), lower case, one space for any run of white space; the Chinese comma becomes
 * a semicolon first, so "50，300" stays two numbers instead of reading as 50,300.
 */
export function normalizeFactText(s: string): string {
  return s.replace(/，/g, '; ').normalize('NFKC').toLowerCase().replace(/\s+/g, ' ');
}

function unitAt(rest: string): { unit: string; factor: number; length: number } | null {
  const m = /^[ ]?-?[ ]?/.exec(rest)!;
  const after = rest.slice(m[0].length);
  for (const [re, unit, factor] of UNITS) {
    const u = re.exec(after);
    if (u) return { unit, factor, length: m[0].length + u[0].length };
  }
  return null;
}

/**
 * The quantities of a text, in order: Arabic numbers (with thousands separators, decimals, a multiplier and a unit
 * or currency), and Chinese or English number words followed by a unit.
 */
export function quantities(text: string): Quantity[] {
  const t = normalizeFactText(text);
  const out: Quantity[] = [];
  const num = /(?<![a-z0-9.,_\-/])(?:-(?=\d))?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![零〇一二两三四五六七八九十百千])[零〇一二两三四五六七八九十百千]+|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred)\b/g;
  for (let m = num.exec(t); m; m = num.exec(t)) {
    const word = m[0];
    const arabic = /\d/.test(word);
    let value: number | null;
    if (arabic) value = Number(word.replace(/,/g, ''));
    else if (/^[a-z]/.test(word)) value = EN_NUMBERS[word] ?? null;
    else value = parseChineseNumeral(word);
    if (value === null || !Number.isFinite(value)) continue;
    let end = m.index + word.length;
    const percentZh = !arabic && t.slice(Math.max(0, m.index - 3), m.index) === '百分之';
    let rest = t.slice(end);
    for (const [re, f] of MULTIPLIERS) {
      const mm = /^[ ]?/.exec(rest)![0];
      const x = re.exec(rest.slice(mm.length));
      if (x && (arabic || f === 1e4)) { value *= f; end += mm.length + x[0].length; rest = t.slice(end); break; }
    }
    let unit: string | null = null;
    const u = unitAt(rest);
    if (u) { unit = u.unit; value *= u.factor; end += u.length; }
    let start = m.index;
    if (unit === null) {
      const before = t.slice(Math.max(0, start - 8), start);
      for (const [re, cur] of PREFIX_CURRENCY) {
        const p = re.exec(before);
        if (p) { unit = cur; start -= p[0].length; break; }
      }
    }
    if (percentZh) { unit = '%'; start -= 3; }
    if (!arabic && unit === null) continue; // number words count only with a unit ("两年", "four hours")
    out.push({ value, unit, index: start, length: end - start });
    num.lastIndex = end;
  }
  return out;
}

/** Text for containment: normalised, without spaces, punctuation or thousands separators. */
function squash(s: string): string {
  return normalizeFactText(s).replace(/(\d),(?=\d{3})/g, '$1').replace(/[\s\p{P}\p{S}]/gu, '');
}

const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

/** The value as one quantity when it is nothing but a quantity ("1,500 kg", "¥6,000", "2 年"), else null. */
export function valueQuantity(value: string): Quantity | null {
  const qs = quantities(value);
  if (qs.length !== 1) return null;
  const t = normalizeFactText(value);
  const rest = t.slice(0, qs[0].index) + t.slice(qs[0].index + qs[0].length);
  return squash(rest) === '' ? qs[0] : null;
}

/** Whether `answer` states `value` (see the header for the rule). */
export function statesFact(answer: string, value: string): boolean {
  const v = valueQuantity(value);
  if (!v) {
    const s = squash(value);
    return s.length > 0 && squash(answer).includes(s);
  }
  const first = quantities(answer).find((q) => q.unit === null || v.unit === null || q.unit === v.unit);
  return first !== undefined && near(first.value, v.value);
}

/** The `fact` metric: 1 when the answer states any of the accepted values, else 0. */
export function factScore(answer: string, values: string | readonly string[]): number {
  return (typeof values === 'string' ? [values] : values).some((v) => statesFact(answer, v)) ? 1 : 0;
}
