import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChineseDigits, parseChineseNumeral, toChineseNumeral } from '../../src/util/chinese-numerals.ts';

test('Chinese numerals: statutes\' forms, both ways, and what is no numeral', () => {
  for (const [s, n] of [['一', 1], ['十', 10], ['十二', 12], ['二十', 20], ['一百零五', 105], ['两千零三', 2003], ['一万二千', 12000], ['一万零五百', 10500], ['十万', 100000]] as const) {
    assert.equal(parseChineseNumeral(s), n, s);
  }
  for (let n = 0; n < 25000; n += n < 1200 ? 1 : 37) assert.equal(parseChineseNumeral(toChineseNumeral(n)), n, String(n));
  assert.equal(toChineseNumeral(105), '一百零五');
  assert.equal(toChineseNumeral(10), '十');
  assert.equal(toChineseNumeral(110), '一百一十');
  for (const bad of ['', '一二', '万', '五零', '百零', '三x', '零零']) assert.equal(parseChineseNumeral(bad), null, bad);
  assert.throws(() => toChineseNumeral(-1), RangeError);
  assert.equal(parseChineseDigits('一九九三'), 1993);
  assert.equal(parseChineseDigits('二〇〇九'), 2009);
  assert.equal(parseChineseDigits('二十'), null);
});
