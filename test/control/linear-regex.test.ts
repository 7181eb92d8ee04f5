/**
 * Client regular expressions run on a linear-time engine: a pattern that makes a backtracking engine take
 * exponential time (`(a+)+$`) is compiled by RE2JS and answers at once; patterns that need backtracking
 * (backreferences, lookaround) are refused with the reason; JavaScript spellings (named groups, `\p{Script=Han}`)
 * and flags keep working, with positions in UTF-16 code units as for a RegExp. A policy stored before (with a
 * backreference) fails closed at serving time with a 503 that says how to fix it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileLinear, LinearRegexError, LINEAR_ENGINE } from '../../src/control/linear-regex.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuardPolicyError, parsePolicy, patternRes, runGuard, type RegexCheck } from '../../src/control/guard.ts';
import { ControlError } from '../../src/control/feedback.ts';
import { RequestLog, type RequestLogTables } from '../../src/control/request-log.ts';
import { GuardPolicyStore, type GuardPolicyTables } from '../../src/control/guard-policies.ts';
import { stageTables } from '../../src/store/kysely-store.ts';
import { GuardRuntime } from '../../src/control/guard-runtime.ts';
import { openSqliteDatabase } from '../../src/store/sqlite.ts';

test('compileLinear: catastrophic patterns run in linear time, backtracking-only syntax is refused', () => {
  const evil = compileLinear('(a+)+$');
  assert.equal(evil.engine, 're2js');
  assert.equal(evil.test('a'.repeat(5000) + 'b'), false);
  assert.equal(evil.test('a'.repeat(5000)), true);
  assert.throws(() => compileLinear('(a)\\1'), (e: unknown) => e instanceof LinearRegexError && /backreferences are not supported/.test((e as Error).message));
  assert.throws(() => compileLinear('(?<n>a)\\k<n>'), /backreferences are not supported/);
  assert.throws(() => compileLinear('a(?=b)'), /lookahead and lookbehind are not supported/);
  assert.throws(() => compileLinear('(?<!x)a'), /lookahead and lookbehind are not supported/);
  assert.throws(() => compileLinear('[a-'), LinearRegexError);
  assert.throws(() => compileLinear('a', 'g'), /flags may only contain i, m, s, u/);
});

test('compileLinear: JavaScript syntax, flags, Chinese, UTF-16 positions', () => {
  assert.deepEqual(compileLinear('\\p{Script=Han}+').matchAll('ab中文c汉字'), [{ index: 2, text: '中文', groups: [] }, { index: 5, text: '汉字', groups: [] }]);
  assert.deepEqual(compileLinear('身份证(?<n>\\d+)').matchAll('😀身份证123，身份证45').map((m) => [m.index, m.text, m.groups[0]]), [[2, '身份证123', '123'], [9, '身份证45', '45']]);
  assert.deepEqual(compileLinear('secret', 'i').matchAll('a SECRET, a Secret').map((m) => m.index), [2, 12]);
  assert.equal(compileLinear('^b$').test('a\nb'), false);
  assert.equal(compileLinear('^b$', 'm').test('a\nb'), true);
  assert.equal(compileLinear('a.b').test('a\nb'), false);
  assert.equal(compileLinear('a.b', 's').test('a\nb'), true);
  assert.equal(compileLinear('\\u4e2d\\u{6587}').test('中文'), true);
});

test('guard regex checks: compiled by the linear engine; (a+)+$ on a long text answers, backreferences are a policy error', async () => {
  const p = parsePolicy({ checks: [{ name: 'redos', kind: 'regex', patterns: ['(a+)+$', { pattern: '内部编号\\d+', flags: 'i' }], action: 'refuse' }] });
  const check = p.checks[0] as RegexCheck;
  assert.deepEqual(patternRes(check).map((r) => r.engine), [LINEAR_ENGINE, LINEAR_ENGINE]);
  const r = await runGuard(p, { stage: 'input', text: 'a'.repeat(20_000) + '!' });
  assert.equal(r.refused, false);
  assert.equal((await runGuard(p, { stage: 'input', text: '查询内部编号42' })).refused, true);
  assert.throws(() => parsePolicy({ checks: [{ name: 'twice', kind: 'regex', patterns: ['ok', '(\\w+) \\1'] }] }),
    (e: unknown) => e instanceof GuardPolicyError && /checks\[0\] "twice": patterns\[1\]\.pattern .*backreferences are not supported/.test((e as Error).message));
  assert.throws(() => parsePolicy({ checks: [{ kind: 'regex', patterns: ['x'.repeat(2001)] }] }), /patterns\[0\]\.pattern is longer than 2000 characters/);
});

test('a stored policy the linear engine refuses fails closed with 503 naming the policy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-linear-'));
  const { store, db } = await openSqliteDatabase(join(dir, 'db.sqlite'));
  try {
    const policies = new GuardPolicyStore(stageTables<GuardPolicyTables>(db));
    await policies.putPolicy('old', { checks: [{ kind: 'regex', patterns: ['(\\w+)\\s+\\1'] }] }); // as an older version stored it
    await policies.putPolicy('ok', { checks: [{ kind: 'regex', patterns: ['(a+)+$'] }] });
    const rt = new GuardRuntime(policies, new RequestLog(stageTables<RequestLogTables>(db)), {});
    await assert.rejects(rt.load(['old']), (e: unknown) => e instanceof ControlError && e.status === 503 && e.code === 'guard_policy_invalid' && /guard policy "old" no longer loads.*backreferences/.test(e.message));
    const g = await rt.load(['ok']);
    assert.equal((await g!.input('a'.repeat(10_000) + '!')).refused, false);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
