import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, commaList, count, fraction, integer, optionalInteger, positive, positiveInt } from '../../src/cli/option-values.ts';

test('option values: each parser accepts its values and names the flag when it refuses one', () => {
  assert.deepEqual(collect('b', collect('a')), ['a', 'b']);
  assert.equal(integer('-3', 'seed'), -3);
  assert.throws(() => integer('', 'seed'), /--seed must be an integer, got $/);
  assert.throws(() => integer('1.5', 'seed'), /--seed must be an integer/);
  assert.equal(count('4', 'n'), 4);
  assert.throws(() => count('0', 'n'), /--n must be a positive whole number, got 0/);
  assert.equal(fraction('0.1', 'val'), 0.1);
  assert.throws(() => fraction('1', 'val'), /--val must be a fraction/);
  assert.equal(optionalInteger(undefined, 'x'), undefined);
  assert.equal(optionalInteger('7', 'x'), 7);
  assert.deepEqual(commaList('a, b,,c'), ['a', 'b', 'c']);
  assert.deepEqual(commaList(''), []);
  assert.equal(commaList(undefined), undefined);
  assert.equal(positive('0.5', 'days'), 0.5);
  assert.throws(() => positive('-1', 'days'), /--days must be a positive number/);
  assert.throws(() => positiveInt('2.5', 'rpm'), /--rpm must be a whole number, got 2.5/);
});
