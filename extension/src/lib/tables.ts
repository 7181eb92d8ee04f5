/**
 * Data on a page as a table and a chart: an HTML table's cells (as the page reader read them) or a list of figures
 * ("North: 120", "华东：3.2万") become a `DataTable`; its first text column gives the categories and its numeric
 * columns the series of a chart. Numbers are read as people write them: thousands separators, %, currency signs,
 * k/M/B, 万/亿, a minus or parentheses for negatives. Pure functions.
 */

export interface DataTable {
  caption: string;
  columns: string[];
  rows: string[][];
}

export interface ChartSpec {
  /** The column the categories come from. */
  category: string;
  categories: string[];
  series: Array<{ name: string; data: Array<number | null> }>;
}

const SCALE: Record<string, number> = { k: 1e3, K: 1e3, m: 1e6, M: 1e6, b: 1e9, B: 1e9, 千: 1e3, 万: 1e4, 亿: 1e8 };

/** A cell as a number, or null when it is not one ("12.5%" -> 12.5, "(1,200)" -> -1200, "3.2万" -> 32000). */
export function parseNumber(cell: string): number | null {
  let s = cell.replace(/[\s\u00a0]/g, '');
  if (!s) return null;
  let sign = 1;
  if (/^\(.*\)$/.test(s)) { sign = -1; s = s.slice(1, -1); }
  if (/^[-−–]/.test(s)) { sign = -sign; s = s.slice(1); } else if (s.startsWith('+')) s = s.slice(1);
  s = s.replace(/^(?:[$€£¥￥₹]|US\$|RMB|CNY|USD|EUR)/i, '').replace(/(?:元|人民币|美元|USD|EUR|CNY|%|‰|pts?)$/i, '');
  const m = /^(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?([kKmMbB千万亿])?$/.exec(s);
  if (!m) return null;
  const n = Number(m[1]!.replace(/,/g, '') + (m[2] ?? '')) * (m[3] ? SCALE[m[3]]! : 1);
  return Number.isFinite(n) ? sign * n : null;
}

/** The columns whose non-empty cells are all numbers (at least one). */
export function numericColumns(t: DataTable): number[] {
  return t.columns.flatMap((_, c) => {
    const cells = t.rows.map((r) => r[c] ?? '').filter((x) => x.trim());
    return cells.length && cells.every((x) => parseNumber(x) !== null) ? [c] : [];
  });
}

/**
 * An HTML table's cells as a DataTable. The header is the first row when the reader saw <th> cells there, or when
 * the first row has no number in a column that is numeric below it; otherwise the columns are named "1", "2", ...
 * Ragged rows are padded; empty rows dropped. Null when fewer than two rows of data or fewer than two columns.
 */
export function tableFromCells(cells: string[][], caption = '', firstRowIsHeader?: boolean): DataTable | null {
  const rows = cells.map((r) => r.map((c) => c.replace(/\s+/g, ' ').trim())).filter((r) => r.some((c) => c));
  const width = Math.max(0, ...rows.map((r) => r.length));
  if (width < 2 || rows.length < 2) return null;
  const padded = rows.map((r) => [...r, ...Array<string>(width - r.length).fill('')]);
  let header = firstRowIsHeader;
  if (header === undefined) {
    const body = { caption, columns: padded[0]!.map((_, i) => String(i + 1)), rows: padded.slice(1) };
    header = numericColumns(body).some((c) => parseNumber(padded[0]![c]!) === null);
  }
  const t = header ? { caption, columns: padded[0]!.map((c, i) => c || String(i + 1)), rows: padded.slice(1) } : { caption, columns: padded[0]!.map((_, i) => String(i + 1)), rows: padded };
  return t.rows.length >= 2 ? t : null;
}

const FIGURE = /^(.+?)\s*(?:[:：=]|\s[-–—]\s|\s)\s*([-−+(]?\s*(?:[$€£¥￥]|US\$)?\s*\d[\d,]*(?:\.\d+)?\s*(?:[kKmMbB千万亿])?\s*(?:%|元|美元)?\)?)(?:\s*\S{0,12})?$/;

/** A list whose items are "label: number" (or "label – number", "label number unit") as a two-column table; null otherwise. */
export function figuresFromList(items: string[], caption = '', valueName = 'Value'): DataTable | null {
  const rows: string[][] = [];
  for (const item of items.map((s) => s.replace(/\s+/g, ' ').trim()).filter(Boolean)) {
    const m = FIGURE.exec(item);
    if (!m || parseNumber(m[2]!) === null) return null;
    rows.push([m[1]!.trim(), m[2]!.replace(/\s+/g, '')]);
  }
  return rows.length >= 2 ? { caption, columns: ['', valueName], rows } : null;
}

/** The chart of a table: categories from its first non-numeric column (else the row numbers), a series per numeric column. */
export function chartSpec(t: DataTable): ChartSpec | null {
  const numeric = numericColumns(t);
  if (!numeric.length) return null;
  const cat = t.columns.findIndex((_, i) => !numeric.includes(i));
  return {
    category: cat >= 0 ? t.columns[cat]! : '#',
    categories: t.rows.map((r, i) => (cat >= 0 ? r[cat]! : String(i + 1))),
    series: numeric.map((c) => ({ name: t.columns[c]!, data: t.rows.map((r) => parseNumber(r[c] ?? '')) })),
  };
}

/** An ECharts option for a spec: bars, or lines when there are many categories. */
export function echartsOption(spec: ChartSpec, title: string): Record<string, unknown> {
  const line = spec.categories.length > 12;
  return {
    animation: false,
    title: { text: title, left: 'center', textStyle: { fontSize: 13 } },
    tooltip: { trigger: 'axis' },
    legend: { bottom: 0, data: spec.series.map((s) => s.name) },
    grid: { left: 48, right: 16, top: 36, bottom: 48, containLabel: true },
    xAxis: { type: 'category', name: spec.category === '#' ? '' : spec.category, data: spec.categories, axisLabel: { interval: 0, rotate: spec.categories.length > 6 ? 30 : 0 } },
    yAxis: { type: 'value' },
    series: spec.series.map((s) => ({ name: s.name, type: line ? 'line' : 'bar', data: s.data })),
  };
}

/** A table as CSV (RFC 4180 quoting), for copying out of the panel. */
export function toCsv(t: DataTable): string {
  const q = (c: string) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c);
  return [t.columns, ...t.rows].map((r) => r.map(q).join(',')).join('\n');
}
