/** Citations in an answer (extension/src/lib/citations.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { citedRefs, parseCitations } from '../../extension/src/lib/citations.ts';

test('[n], lists, ranges and full-width brackets become cite segments', () => {
  assert.deepEqual(parseCitations('Revenue rose [1]. Costs fell [2, 3]【4】.'), [
    { kind: 'text', text: 'Revenue rose ' }, { kind: 'cite', ref: 1 }, { kind: 'text', text: '. Costs fell ' },
    { kind: 'cite', ref: 2 }, { kind: 'cite', ref: 3 }, { kind: 'cite', ref: 4 }, { kind: 'text', text: '.' },
  ]);
  assert.deepEqual(citedRefs('见[2-4]和[1，2]'), [2, 3, 4, 1]);
});

test('refs beyond the sources, and brackets that are no citation, stay text', () => {
  assert.deepEqual(parseCitations('See [7] and [a] and [0].', 3), [{ kind: 'text', text: 'See [7] and [a] and [0].' }]);
  assert.deepEqual(citedRefs('x[1][9]', 2), [1]);
  assert.deepEqual(parseCitations(''), []);
});
