/** Templates, the task YAML loader (validation errors name the field and line), few-shot sampling, prompts, generators. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render, renderValue, TemplateError } from '../../src/bench/template.ts';
import {
  buildPrompt, docChoices, docGold, loadDocs, loadTaskFile, parseTaskYaml, sampleFewshot, templateHash, TaskValidationError, validateTask,
  arithmeticDocs, needleDocs, heldoutDocs,
} from '../../src/bench/bench-exports.ts';

test('template: fields, indexes, filters, raw values, errors naming the field', () => {
  const doc = { q: ' Why? ', choices: ['x', 'y'], n: 2, meta: { lang: 'zh' } };
  assert.equal(render('Q: {{ q | trim }} / {{choices[1]}} / {{ meta.lang | upper }} / {{n|letter}}', doc), 'Q: Why? / y / ZH / C');
  assert.equal(render('{{ choices | join(" | ") }}', doc), 'x | y');
  assert.deepEqual(renderValue('{{choices}}', doc), ['x', 'y']);
  assert.equal(renderValue(' {{n}} ', doc), 2);
  assert.equal(render('{{missing | default("none")}}', doc), 'none');
  assert.throws(() => render('{{missing}}', doc), (e: unknown) => e instanceof TemplateError && /no field "missing"/.test((e as Error).message));
  assert.throws(() => render('{{q | shout}}', doc), /unknown filter/);
  assert.throws(() => render('{{q', doc), /never closed/);
});

const GOOD = `
task: tiny_mc
version: 2
dataset:
  kind: inline
  splits:
    test:
      - {question: "1+1?", choices: ["1", "2", "3", "4"], answer: 1}
      - {question: "2+2?", choices: ["4", "5", "6", "7"], answer: 0}
      - {question: "3+3?", choices: ["5", "7", "6", "9"], answer: 2}
output_type: multiple_choice
doc_to_text: "{{question}}\\nA. {{choices[0]}}\\nB. {{choices[1]}}\\nC. {{choices[2]}}\\nD. {{choices[3]}}\\nAnswer:"
doc_to_choice: [A, B, C, D]
doc_to_target: "{{answer}}"
num_fewshot: 1
fewshot_config: {sampler: first_n}
circular_eval: {field: choices}
metric_list: [{metric: acc}, {metric: acc_norm}, {metric: circular}]
`;

test('YAML task: loads with defaults; prompt with few-shot; gold from index, letter or text', () => {
  const t = parseTaskYaml(GOOD, 'tiny.yaml');
  assert.equal(t.task, 'tiny_mc');
  assert.equal(t.target_delimiter, ' ');
  assert.equal(t.primary_metric, 'acc');
  const docs = loadDocs(t, 'test');
  const shots = sampleFewshot(t, docs, 0, true);
  assert.deepEqual(shots, [docs[1]]); // first_n, the item itself excluded
  assert.equal(buildPrompt(t, docs[0], shots), '2+2?\nA. 4\nB. 5\nC. 6\nD. 7\nAnswer: A\n\n1+1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:');
  assert.equal(docGold(t, docs[0], docChoices(t, docs[0])), 1);
  assert.equal(docGold({ ...t, doc_to_target: 'C' }, docs[0], ['A', 'B', 'C', 'D']), 2);
  assert.equal(docGold({ ...t, doc_to_target: '{{choices[3]}}' }, docs[0], ['1', '2', '3', '4']), 3);
  // chat prompts: shots as turns
  const chat = buildPrompt({ ...t, chat: true, system_prompt: 'Be brief.' }, docs[0], shots);
  assert.ok(typeof chat !== 'string' && chat.messages.length === 4 && chat.messages[0].role === 'system' && chat.messages[2].content === 'A');
  // the hash changes with the prompt, not with the data
  assert.notEqual(templateHash(t), templateHash({ ...t, doc_to_text: t.doc_to_text + ' ' }));
  assert.equal(templateHash(t), templateHash(parseTaskYaml(GOOD, 'tiny.yaml')));
});

test('seeded random few-shot sampling is reproducible per item', () => {
  const t = validateTask({ task: 'x', dataset: { kind: 'inline', splits: { test: Array.from({ length: 20 }, (_, i) => ({ q: `q${i}`, a: `a${i}` })) } }, output_type: 'generate_until', doc_to_text: '{{q}}', doc_to_target: '{{a}}', num_fewshot: 3 });
  const docs = loadDocs(t, 'test');
  const a = sampleFewshot(t, docs, 5, true), b = sampleFewshot(t, docs, 5, true);
  assert.deepEqual(a, b);
  assert.equal(new Set(a).size, 3);
  assert.ok(!a.includes(docs[5]));
  assert.notDeepEqual(sampleFewshot({ ...t, fewshot_config: { sampler: 'random', seed: 99 } }, docs, 5, true), a);
});

test('validation errors name every bad field with its YAML line', () => {
  const bad = `task: bad task
dataset: {kind: inline, splits: {test: []}}
output_type: multiple_choice
doc_to_text: "{{question"
metric_list:
  - metric: acc
  - metric: accc
num_fewshot: -1
colour: blue
`;
  try {
    parseTaskYaml(bad, 'bad.yaml');
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof TaskValidationError);
    const paths = e.issues.map((i) => i.path);
    for (const p of ['task', 'doc_to_text', 'metric_list[1].metric', 'num_fewshot', 'colour', 'doc_to_choice', 'doc_to_target']) assert.ok(paths.includes(p), `missing ${p} in ${paths}`);
    assert.match(e.message, /bad\.yaml: .*metric_list\[1\]\.metric \(line 7\): unknown metric "accc"/);
  }
  assert.throws(() => parseTaskYaml('task: [unclosed', 'x.yaml'), TaskValidationError);
  assert.throws(() => validateTask({ task: 'j', dataset: { kind: 'generator', name: 'nope' }, output_type: 'judged', doc_to_text: 'x' }), /dataset\.name: unknown generator.*judge: is required/);
});

test('task files: relative data paths and ${vars}', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-bench-task-'));
  writeFileSync(join(dir, 'd.jsonl'), '{"q": "hi", "a": "hello"}\n{"q": "bye", "a": "ciao"}\n');
  writeFileSync(join(dir, 't.yaml'), 'task: t\ndataset: {kind: jsonl, files: {test: "${root}/d.jsonl"}}\noutput_type: generate_until\ndoc_to_text: "{{q}}"\ndoc_to_target: "{{a}}"\n');
  const t = loadTaskFile(join(dir, 't.yaml'), { root: dir });
  assert.equal(loadDocs(t, 'test').length, 2);
  assert.throws(() => loadTaskFile(join(dir, 't.yaml')), /unknown variable \$\{root\}/);
});

test('generators: needle (zh, en), arithmetic, held-out records', () => {
  for (const lang of ['zh', 'en'] as const) {
    const docs = needleDocs({ lang, lengths: [400, 1500], depths: [0, 0.5, 1] });
    assert.equal(docs.length, 6);
    for (const d of docs) {
      const ctx = d.context as string;
      assert.ok(Math.abs(ctx.length - (d.length as number)) < 120, `${lang} length ${ctx.length} vs ${d.length}`);
      assert.equal(ctx.split(d.answer as string).length, 2, 'the code occurs exactly once');
      assert.equal((d.choices as string[])[d.gold as number], d.answer);
    }
    const first = docs[0].context as string, last = docs[2].context as string;
    assert.ok(first.indexOf(docs[0].answer as string) < 60 && last.indexOf(docs[2].answer as string) > last.length - 60, 'depth 0 at the start, 1 at the end');
    assert.deepEqual(needleDocs({ lang, lengths: [400] }), needleDocs({ lang, lengths: [400] }));
  }
  const ar = arithmeticDocs({ lang: 'zh', n: 30 });
  for (const d of ar) assert.equal((d.choices as string[])[d.gold as number], d.answer);
  assert.equal(new Set(ar.map((d) => d.gold)).size, 4);
  const h = heldoutDocs([
    { messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'Q1' }, { role: 'assistant', content: 'A1' }] },
    { instruction: 'Translate', input: 'cat', output: '猫' },
    { messages: [{ role: 'user', content: 'no answer' }] },
  ]);
  assert.equal(h.skipped, 1);
  assert.deepEqual(h.docs.map((d) => [d.system, d.question, d.answer]), [['S', 'Q1', 'A1'], ['', 'Translate\ncat', '猫']]);
});
