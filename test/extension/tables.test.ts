/** Data on a page as a table and a chart (extension/src/lib/tables.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartSpec, echartsOption, figuresFromList, numericColumns, parseNumber, tableFromCells, toCsv } from '../../extension/src/lib/tables.ts';

test('numbers as people write them', () => {
  const cases: Array<[string, number | null]> = [
    ['1,234.5', 1234.5], ['12%', 12], ['-3', -3], ['−3', -3], ['(1,200)', -1200], ['$4.5M', 4.5e6], ['¥3,000', 3000],
    ['3.2万', 32000], ['1亿', 1e8], ['120元', 120], ['+7', 7], [' 42 ', 42], ['1,2345', null], ['abc', null], ['', null], ['Q3', null], ['2024-01', null],
  ];
  for (const [s, n] of cases) assert.equal(parseNumber(s), n, s);
});

test('an HTML table: header from <th>, or guessed from a numeric column; ragged rows padded; too small: null', () => {
  const cells = [['Region', 'Q1', 'Q2'], ['North', '1,200', '1,350'], ['South', '900', ''], ['West', '1,100', '1,000']];
  const t = tableFromCells(cells, 'Sales')!;
  assert.deepEqual(t.columns, ['Region', 'Q1', 'Q2']);
  assert.equal(t.rows.length, 3);
  assert.deepEqual(numericColumns(t), [1, 2]);
  const ragged = tableFromCells([['a', '1'], ['b'], ['c', '3']], '', false)!;
  assert.deepEqual(ragged.columns, ['1', '2']);
  assert.deepEqual(ragged.rows[1], ['b', '']);
  assert.equal(tableFromCells([['only one column'], ['x']]), null);
  assert.equal(tableFromCells([['a', 'b'], ['1', '2']]), null, 'a header and one row is not data to chart');
});

test('a list of figures becomes a two-column table; a list of anything else does not', () => {
  const t = figuresFromList(['North: 120', '南区：3.2万', 'West – 95 units', 'East 80'], 'Visitors')!;
  assert.deepEqual(t.rows, [['North', '120'], ['南区', '3.2万'], ['West', '95'], ['East', '80']]);
  assert.equal(figuresFromList(['Buy milk', 'Call mum', 'Write the report']), null);
  assert.equal(figuresFromList(['Only: 1']), null);
});

test('the chart: categories from the first text column, a series per numeric column; bars, or lines for many', () => {
  const t = tableFromCells([['Region', 'Q1', 'Q2'], ['North', '1,200', '1,350'], ['South', '900', '—'], ['West', '1,100', '1,000']], 'Sales')!;
  // '—' is not a number: Q2 is not numeric as a whole
  assert.deepEqual(chartSpec(t), { category: 'Region', categories: ['North', 'South', 'West'], series: [{ name: 'Q1', data: [1200, 900, 1100] }] });
  const nums = tableFromCells([['1', '2'], ['3', '4'], ['5', '6']], '', false)!;
  assert.equal(chartSpec(nums)!.category, '#');
  assert.deepEqual(chartSpec(nums)!.categories, ['1', '2', '3']);
  assert.equal(chartSpec(tableFromCells([['a', 'b'], ['x', 'y'], ['z', 'w']], '', true)!), null);
  const opt = echartsOption(chartSpec(t)!, 'Sales') as { series: Array<{ type: string }>; xAxis: { data: string[] } };
  assert.equal(opt.series[0]!.type, 'bar');
  assert.deepEqual(opt.xAxis.data, ['North', 'South', 'West']);
  const many = { caption: '', columns: ['d', 'v'], rows: Array.from({ length: 20 }, (_, i) => [`day ${i}`, String(i)]) };
  assert.equal((echartsOption(chartSpec(many)!, '') as { series: Array<{ type: string }> }).series[0]!.type, 'line');
});

test('CSV with quoting', () => {
  assert.equal(toCsv({ caption: '', columns: ['name', 'note'], rows: [['a,b', 'say "hi"'], ['c', 'line\nbreak']] }), 'name,note\n"a,b","say ""hi"""\nc,"line\nbreak"');
});
