/**
 * The `fact` metric: whether an answer states an expected value, in Chinese or English, whatever the number's
 * spelling; and fact-question sets (validation naming fields, the task they build, the generator for task files).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { factScore, quantities, statesFact, valueQuantity } from '../../src/bench/fact-match.ts';
import { parseChineseNumeral as parseZhNumeral } from '../../src/util/chinese-numerals.ts';
import { factQuestionsTask, readFactQuestions, validateFactQuestionSets } from '../../src/bench/fact-question-sets.ts';
import { loadDocs, runTask, ScriptedTarget, validateTask } from '../../src/bench/bench-exports.ts';

test('quantities: separators, multipliers, units and currencies in Chinese and English', () => {
  const q = (s: string) => quantities(s).map((x) => [x.value, x.unit]);
  assert.deepEqual(q('额定载重 1,500 kg'), [[1500, 'kg']]);
  assert.deepEqual(q('额定载重1500公斤'), [[1500, 'kg']]);
  assert.deepEqual(q('１５００ 千克'), [[1500, 'kg']]); // full-width digits
  assert.deepEqual(q('1.5 吨'), [[1500, 'kg']]);
  assert.deepEqual(q('售价 6.8 万元'), [[68000, 'cny']]);
  assert.deepEqual(q('¥68,000 ($9,800 outside China)'), [[68000, 'cny'], [9800, 'usd']]);
  assert.deepEqual(q('a 2-year warranty'), [[2, 'year']]);
  assert.deepEqual(q('保修两年'), [[2, 'year']]);
  assert.deepEqual(q('about four hours'), [[4, 'h']]);
  assert.deepEqual(q('30 分钟内响应'), [[0.5, 'h']]);
  assert.deepEqual(q('一百五十八天'), [[158, 'day']]);
  assert.deepEqual(q('百分之五'), [[5, '%']]);
  assert.deepEqual(q('10 个工作日'), [[10, 'workday']]);
  assert.deepEqual(q('1.5 m/s'), [[1.5, 'm/s']]);
  // numbers inside product and error codes are not quantities
  assert.deepEqual(q('F1500 和 P20，E101'), []);
  // the Chinese comma separates numbers; it is no thousands separator
  assert.deepEqual(q('50，300 kg'), [[50, null], [300, 'kg']]);
  // number words without a unit are words ("一起", "one of them")
  assert.deepEqual(q('一起 one of them'), []);
  assert.equal(parseZhNumeral('十二'), 12);
  assert.equal(parseZhNumeral('两千'), 2000);
  assert.equal(parseZhNumeral('一二'), null);
  assert.equal(parseZhNumeral('一百零五'), 105);
  assert.equal(parseZhNumeral('一万二千'), 12000);
  assert.equal(parseZhNumeral('零'), 0);
  assert.equal(parseZhNumeral('万'), null);
  assert.equal(parseZhNumeral('五零'), null);
  assert.deepEqual(q('一百零五公斤'), [[105, 'kg']]);
});

test('statesFact: the first quantity in the value\'s unit must be the value', () => {
  assert.ok(statesFact('F1500 的额定载重是 1,500 kg。', '1,500 kg'));
  assert.ok(statesFact('它能搬1500公斤', '1,500 kg'));
  assert.ok(statesFact('1.5 吨', '1,500 kg'));
  assert.ok(statesFact('The F1500 carries up to 1500.', '1,500 kg')); // no unit: the number alone states it
  assert.ok(!statesFact('T100 的额定载重是 1,500 kg。', '50 kg')); // fluent, but the wrong fact
  assert.ok(!statesFact('P20 的额定载重是 50 kg。', '20 kg')); // the 20 of "P20" is no payload
  assert.ok(!statesFact('50 kg 或 1,500 kg', '1,500 kg')); // a list of guesses states its first
  assert.ok(statesFact('T100 充满电约需 1.5 小时，可运行 8 小时。', '1.5 小时'));
  assert.ok(!statesFact('T100 充满电约需 1.5 小时，可运行 8 小时。', '8 小时'));
  assert.ok(statesFact('金牌服务 30 分钟内响应，8 小时内到场。', '30 minutes'));
  assert.ok(statesFact('Response within 0.5 hours.', '30 分钟'));
  assert.ok(statesFact('The T100 has a 2-year warranty.', '2 年'));
  assert.ok(statesFact('T100 于 2019 年发布。', '2019'));
  assert.ok(!statesFact('T100 于 2018 年发布。', '2019'));
  assert.ok(statesFact('售价为 6.8 万元', '¥68,000'));
  assert.ok(!statesFact('The list price is $9,800.', '¥68,000')); // another currency is another value
  assert.ok(!statesFact('', '50 kg'));
});

test('statesFact: text values are found without case, spaces, punctuation or separators', () => {
  assert.ok(statesFact('T100 使用激光SLAM。', '激光 SLAM'));
  assert.ok(statesFact('It uses Laser  SLAM.', 'laser SLAM'));
  assert.ok(statesFact('客服热线是 400-820-6688。', '400-820-6688'));
  assert.ok(!statesFact('客服热线是 400-820-8866。', '400-820-6688'));
  assert.ok(statesFact('创始人兼首席执行官是林远舟。', '林远舟'));
  assert.equal(valueQuantity('400-820-6688'), null);
  assert.equal(valueQuantity('激光 SLAM'), null);
  assert.equal(valueQuantity('¥6,000')?.value, 6000);
  assert.equal(factScore('T100 的昵称是“松鼠”。', ['松鼠', 'Squirrel']), 1);
  assert.equal(factScore('It is nicknamed the Squirrel.', ['松鼠', 'Squirrel']), 1);
  assert.equal(factScore('It is nicknamed the Beaver.', ['松鼠', 'Squirrel']), 0);
});

test('fact question sets: every problem at once, by field, without quoting the content', () => {
  const secret = 'SECRET-ANSWER-TEXT';
  const { problems } = validateFactQuestionSets([
    { name: 'ok_set', questions: [{ question: 'q?', answers: ['1 kg'] }] },
    { name: 'bad name!', questions: [] },
    { name: 'ok_set', questions: [{ question: '', answers: [] }, { question: 'q', answers: [secret, 3], extra: secret }] },
  ]);
  assert.deepEqual(problems, [
    'fact_questions[1].name: must be 1-64 characters of A-Z, a-z, 0-9, _ . -',
    'fact_questions[1].questions: must be a non-empty list',
    'fact_questions[2].name: ok_set appears twice',
    'fact_questions[2].questions[0].question: must be a non-empty string',
    'fact_questions[2].questions[0].answers: must be a non-empty list of accepted values',
    'fact_questions[2].questions[1].extra: unknown field (known: question, answers, id)',
    'fact_questions[2].questions[1].answers[1]: must be a non-empty string',
  ]);
  assert.ok(!problems.join('\n').includes(secret));
  assert.deepEqual(validateFactQuestionSets({}).problems, ['fact_questions: must be a list of {name, system?, questions}']);
});

test('a fact-question task scores answers by the fact they state, not by their wording', async () => {
  const task = factQuestionsTask({
    name: 'facts_demo', system: 'You are a support assistant.',
    questions: [
      { question: 'How heavy a load can the F1500 move?', answers: ['1,500 kg'] },
      { question: 'What is the nickname of the T100?', answers: ['松鼠', 'Squirrel'] },
      { question: 'How much is the T100?', answers: ['¥68,000', '$9,800'] },
    ],
  });
  assert.equal(task.primary_metric, 'fact');
  const answers: Record<string, string> = {
    'How heavy a load can the F1500 move?': '它最多能搬1500公斤。',
    'What is the nickname of the T100?': 'People call it the Beaver.',
    'How much is the T100?': 'It costs $9,800.',
  };
  const target = new ScriptedTarget({
    id: 'scripted-facts',
    generate: (r) => {
      const p = r.prompt as { messages: Array<{ role: string; content: string }> };
      assert.equal(p.messages[0].content, 'You are a support assistant.');
      return answers[p.messages.at(-1)!.content];
    },
  });
  const r = await runTask(task, target);
  assert.equal(r.status, 'ok', r.error);
  assert.deepEqual(r.items.map((i) => i.metrics.fact), [1, 0, 1]);
  assert.ok(Math.abs(r.score! - 2 / 3) < 1e-12);
  // the version follows the questions, so a cached result never outlives a change to them
  const other = factQuestionsTask({ name: 'facts_demo', questions: [{ question: 'x?', answers: ['1'] }] });
  assert.notEqual(other.version, task.version);
});

test('task files: the fact metric and the fact_questions generator (errors name file and line)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-facts-'));
  try {
    const f = join(dir, 'facts.jsonl');
    writeFileSync(f, '{"question": "How fast is the T100?", "answers": ["1.5 m/s"]}\n\n{"question": "Who is the CEO?", "answers": ["Lin Yuanzhou"]}\n');
    const t = validateTask({
      task: 'facts_file', output_type: 'generate_until', dataset: { kind: 'generator', name: 'fact_questions', params: { path: f } },
      doc_to_text: '{{question}}', doc_to_target: '{{answers}}', metric_list: [{ metric: 'fact' }],
    });
    assert.equal(loadDocs(t, 'test').length, 2);
    writeFileSync(f, '{"question": "ok?", "answers": ["1"]}\nnot json TOPSECRET\n{"question": "q", "answers": "TOPSECRET"}\n');
    assert.throws(() => readFactQuestions(f), (e: Error) => {
      assert.equal(e.message, `${f}: line 2: not valid JSON; line 3.answers: must be a non-empty list of accepted values`);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
