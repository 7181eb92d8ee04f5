/**
 * Exam importers (CMMLU / MMLU / C-Eval layouts, quoting) and the sanity checks of the multiple-choice runner on
 * the real CMMLU college_law and MMLU marketing test CSVs (../shared/data/bench, or $MODELFAB_BENCH_DATA):
 * a target that always answers "A" scores exactly the share of A answers, an oracle scores 100%, random
 * log-likelihoods score near 25%; with CircularEval always-A scores 0 and the oracle still 100%.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  alwaysLetterTarget, buildPrompt, detectExamFormat, examTask, ImportError, loadDocs, parseExamCsv, promptText, randomTarget, readExamSplit,
  runTask, ScriptedTarget, type TaskConfig,
} from '../../src/bench/bench-exports.ts';
import { shared } from '../shared-data.ts';

const DATA = process.env.MODELFAB_BENCH_DATA || shared('bench');
const missing = [join(DATA, 'cmmlu', 'test', 'college_law.csv'), join(DATA, 'mmlu', 'test', 'marketing_test.csv'), join(DATA, 'mmlu', 'dev', 'marketing_dev.csv')].filter((f) => !existsSync(f));
const have = missing.length === 0;
const SKIP = !have && `missing bench data: ${missing.join(', ')}`;

test('CSV layouts: CMMLU header + index, MMLU headerless, C-Eval with explanation; quotes, commas, newlines', () => {
  const cm = parseExamCsv(',Question,A,B,C,D,Answer\n0,"问题，带逗号","选""项""一",b,c,d,B\n', { name: 'law.csv' });
  assert.deepEqual([cm[0].question, cm[0].A, cm[0].answer, cm[0].answer_letter, cm[0].subject, cm[0].id], ['问题，带逗号', '选"项"一', 1, 'B', 'law', 'law/0']);
  const mm = parseExamCsv('"Line one,\nline two",w,x,y,z,D\nQ2,a,b,c,d,a\n', { name: 'marketing_test.csv' });
  assert.equal(mm.length, 2);
  assert.equal(mm[0].question, 'Line one,\nline two');
  assert.equal(mm[1].answer, 0);
  assert.equal(mm[0].subject, 'marketing');
  const ce = parseExamCsv('id,question,A,B,C,D,answer,explanation\n7,q,a,b,c,d,C,"because, reasons"\n', { name: 'law_val.csv' });
  assert.deepEqual([ce[0].id, ce[0].answer, ce[0].explanation], ['law/7', 2, 'because, reasons']);
  assert.equal(parseExamCsv('id,question,A,B,C,D,answer,explanation\n1,q,a,b,c,d,,\n', { allowMissingAnswer: true })[0].answer, -1);
  assert.equal(detectExamFormat(['', 'Question', 'A', 'B', 'C', 'D', 'Answer']), 'cmmlu');
  assert.throws(() => parseExamCsv('q,a,b,c,d,E\n', { name: 'x.csv' }), (e: unknown) => e instanceof ImportError && /x\.csv: line 1: column "answer" must be one of A, B, C, D/.test((e as Error).message));
  assert.throws(() => parseExamCsv(',Question,A,B,C,D,Answer\n0,q,a,b,c,B\n', { name: 'y.csv' }), /y\.csv: line 2: 6 columns, the cmmlu layout has 7/);
  assert.throws(() => parseExamCsv('"unterminated,a,b,c,d,A\n', { name: 'z.csv' }), /z\.csv/);
});

/** A target that knows every answer: maps each prompt to its gold letter. */
function oracle(t: TaskConfig): ScriptedTarget {
  const gold = new Map<string, string>();
  for (const d of loadDocs(t, t.test_split)) {
    const n = (d.choices as string[]).length;
    for (let shift = 0; shift < (t.circular_eval ? n : 1); shift++) {
      const choices = (d.choices as string[]).map((_, i) => (d.choices as string[])[(i + shift) % n]);
      const g = ((((d.answer as number) - shift) % n) + n) % n;
      gold.set(promptText(buildPrompt(t, { ...d, choices }, [])), 'ABCD'[g]);
    }
  }
  return new ScriptedTarget({ id: 'scripted:oracle', loglikelihood: (r) => (r.continuation.trim() === gold.get(promptText(r.context)) ? 0 : -10) });
}

for (const [format, subject] of [['cmmlu', 'college_law'], ['mmlu', 'marketing']] as const) {
  test(`${format} ${subject}: always-A = share of A, oracle = 100%, random ~ 25%, CircularEval`, { skip: SKIP }, async () => {
    const root = join(DATA, format);
    const docs = readExamSplit(format, root, subject, 'test');
    // an independent count of the answer column (the last field of each record; these files quote no newlines)
    const lines = readFileSync(join(root, 'test', format === 'cmmlu' ? `${subject}.csv` : `${subject}_test.csv`), 'utf8').trim().split('\n');
    const answers = lines.slice(format === 'cmmlu' ? 1 : 0).map((l) => l.trim().slice(-1));
    assert.equal(docs.length, answers.length);
    const shareA = answers.filter((a) => a === 'A').length / answers.length;
    const t = examTask(format, root, subject);
    const a = await runTask(t, alwaysLetterTarget('A'));
    assert.equal(a.status, 'ok', a.error);
    assert.equal(a.n, docs.length);
    assert.equal(a.metrics.acc, shareA, `always-A ${a.metrics.acc} vs share of A ${shareA}`);
    const o = await runTask(t, oracle(t));
    assert.equal(o.metrics.acc, 1);
    const r = await runTask(t, randomTarget(7));
    const sd = Math.sqrt(0.25 * 0.75 / docs.length);
    assert.ok(Math.abs(r.metrics.acc - 0.25) < 3.5 * sd, `random ${r.metrics.acc} (n ${docs.length}, sd ${sd.toFixed(3)})`);
    const tc = examTask(format, root, subject, { circular: true });
    const ac = await runTask(tc, alwaysLetterTarget('A'));
    assert.equal(ac.metrics.circular, 0);
    assert.equal(ac.metrics.acc, shareA);
    assert.equal(ac.items[0].rotations!.length, 4);
    const oc = await runTask(tc, oracle(tc));
    assert.equal(oc.metrics.circular, 1);
    console.log(`${format}/${subject}: n ${docs.length}, always-A ${(100 * shareA).toFixed(1)}%, oracle 100%, random ${(100 * r.metrics.acc).toFixed(1)}%`);
  });
}

test('few-shot from the dev split (5 shots, first_n) on the real CSVs', { skip: SKIP }, async () => {
  const t = examTask('mmlu', join(DATA, 'mmlu'), 'marketing', { numFewshot: 5, limit: 3 });
  const r = await runTask(t, alwaysLetterTarget('A'));
  assert.equal(r.status, 'ok', r.error);
  assert.equal(r.n, 3);
  assert.equal(r.items[0].input.split('Answer:').length, 7, 'five answered examples, then the question');
  assert.ok(r.items[0].input.startsWith('The following are multiple choice questions (with answers) about marketing.'));
});
