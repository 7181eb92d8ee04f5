// Formats, validation and encodings on the shared real datasets and on small hand-made cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadDatasetBytes, loadDatasetFile } from '../../src/data/load.ts';
import { DatasetValidationError, type Problem } from '../../src/data/problems.ts';
import { locateJsonError } from '../../src/data/json.ts';
import { SHARED_DATA, needsShared } from '../shared-data.ts';

const SHARED = SHARED_DATA + '/';
const LLAMAFACTORY = ['dataset_info.json', 'identity.json', 'alpaca_en_demo.json', 'alpaca_zh_demo.json', 'glaive_toolcall_en_demo.json', 'glaive_toolcall_zh_demo.json', 'dpo_en_demo.json', 'dpo_zh_demo.json', 'kto_en_demo.json', 'c4_demo.jsonl'].map((f) => `llamafactory/${f}`);

function problems(f: () => unknown): Problem[] {
  try { f(); } catch (e) { if (e instanceof DatasetValidationError) return e.problems; throw e; }
  assert.fail('expected a DatasetValidationError');
}
const load = (name: string, text: string | Buffer, opts = {}) => loadDatasetBytes(Buffer.isBuffer(text) ? text : Buffer.from(text), { name, ...opts });

test('every present dataset of the LLaMA-Factory dataset_info.json loads with the right counts and stage', needsShared(...LLAMAFACTORY), () => {
  const info = JSON.parse(readFileSync(`${SHARED}llamafactory/dataset_info.json`, 'utf8'));
  const expected: Record<string, [number, string]> = {
    identity: [91, 'sft'], alpaca_en_demo: [999, 'sft'], alpaca_zh_demo: [1000, 'sft'], glaive_toolcall_en_demo: [300, 'sft'],
    glaive_toolcall_zh_demo: [300, 'sft'], dpo_en_demo: [300, 'preference'], dpo_zh_demo: [300, 'preference'],
    kto_en_demo: [300, 'kto'], c4_demo: [300, 'pretrain'],
  };
  for (const [name, [n, stage]] of Object.entries(expected)) {
    const d = loadDatasetFile(`${SHARED}llamafactory/${info[name].file_name}`, { format: info[name] });
    assert.equal(d.records.length, n, name);
    assert.equal(d.stage, stage, name);
  }
  const glaive = loadDatasetFile(`${SHARED}llamafactory/glaive_toolcall_zh_demo.json`, { format: info.glaive_toolcall_zh_demo });
  const r = glaive.records[0] as { messages: { role: string; tool_calls?: { name: string }[] }[]; tools: unknown[] };
  assert.deepEqual(r.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
  assert.equal(r.messages[1].tool_calls![0].name, 'generate_invoice');
  assert.ok(Array.isArray(r.tools));
  const dpo = loadDatasetFile(`${SHARED}llamafactory/dpo_zh_demo.json`, { format: info.dpo_zh_demo });
  assert.ok(dpo.records.some((x) => (x as { messages: { role: string }[] }).messages[0].role === 'system'));
});

test('OpenAI recipe files import; the toy file is rejected with each problem named', needsShared('openai-format/recipe_finetune_training.jsonl', 'openai-format/recipe_finetune_validation.jsonl', 'openai-format/toy_chat_fine_tuning.jsonl'), () => {
  assert.equal(loadDatasetFile(`${SHARED}openai-format/recipe_finetune_training.jsonl`).records.length, 101);
  assert.equal(loadDatasetFile(`${SHARED}openai-format/recipe_finetune_validation.jsonl`).records.length, 100);
  const ps = problems(() => loadDatasetFile(`${SHARED}openai-format/toy_chat_fine_tuning.jsonl`));
  assert.deepEqual(ps.map((p) => [p.file, p.line]), [['toy_chat_fine_tuning.jsonl', 4], ['toy_chat_fine_tuning.jsonl', 5]]);
  assert.match(ps[0].message, /no user message/);
  assert.match(ps[1].message, /about \d+ tokens .* over the limit of 8192 tokens/);
  // a higher limit lets line 5 through
  const ps2 = problems(() => loadDatasetFile(`${SHARED}openai-format/toy_chat_fine_tuning.jsonl`, { limits: { maxRecordTokens: 20000 } }));
  assert.deepEqual(ps2.map((p) => p.line), [4]);
});

test('OpenAI chat rules: roles, weights, tool calls, unknown keys, all problems reported', () => {
  const bad = [
    '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "weight": 2}]}',
    '{"messages": [{"role": "robot", "content": "hi"}]}',
    '{"messages": [{"role": "user", "content": "hi", "foo": 1}, {"role": "assistant", "content": "x"}]}',
    '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "weight": 0}]}',
    '{"messages": "nope"}',
  ].join('\n');
  const ps = problems(() => load('bad.jsonl', bad));
  assert.deepEqual(ps.map((p) => p.line), [1, 2, 3, 4, 5]);
  assert.equal(ps[0].path, 'messages[1].weight');
  assert.match(ps[1].message, /unknown role "robot"/);
  assert.match(ps.find((p) => p.line === 3)!.message, /unrecognized message key 'foo'/);
  assert.match(ps.find((p) => p.line === 4)!.message, /weight 0/);
  const ok = load('tools.jsonl', JSON.stringify({
    messages: [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Hangzhou"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '25C' },
      { role: 'assistant', content: 'It is 25C.', weight: 1 },
    ],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: {} } }],
  }));
  assert.equal(ok.stage, 'sft');
  const pref = load('pref.jsonl', JSON.stringify({ input: { messages: [{ role: 'user', content: 'q' }] }, preferred_output: [{ role: 'assistant', content: 'a' }], non_preferred_output: [{ role: 'assistant', content: 'b' }] }));
  assert.equal(pref.stage, 'preference');
  assert.deepEqual(pref.records[0], { messages: [{ role: 'user', content: 'q' }], chosen: { role: 'assistant', content: 'a' }, rejected: { role: 'assistant', content: 'b' } });
});

test('alpaca with history and system, sharegpt alternation, CSV, text and markdown', () => {
  const a = load('a.json', JSON.stringify([{ instruction: 'Q2', input: 'ctx', output: 'A2', system: 'S', history: [['Q1', 'A1']] }]));
  assert.deepEqual((a.records[0] as { messages: unknown }).messages, [
    { role: 'system', content: 'S' }, { role: 'user', content: 'Q1' }, { role: 'assistant', content: 'A1' },
    { role: 'user', content: 'Q2\nctx' }, { role: 'assistant', content: 'A2' },
  ]);
  const ps = problems(() => load('s.json', '[\n{"conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]}\n]'));
  assert.equal(ps[0].line, 2);
  assert.equal(ps[0].path, '$[0].conversations[1].from');
  assert.match(ps[0].message, /alternate/);
  const csv = load('c.csv', 'instruction,input,output\n"Say ""hi""",,"hi,\nthere"\nQ,,A\n');
  assert.equal(csv.records.length, 2);
  assert.equal((csv.records[0] as { messages: { content: string }[] }).messages[1].content, 'hi,\nthere');
  const csvBad = problems(() => load('c.csv', 'instruction,output\nQ,A,extra\n'));
  assert.match(csvBad[0].message, /3 fields, the header has 2/);
  assert.equal(load('t.txt', 'one\n\ntwo\n').records.length, 2);
  const md = load('doc.md', '# Title\n\nPara one.\n\nPara two.\n');
  assert.deepEqual(md.records, [{ text: '# Title\n\nPara one.\n\nPara two.' }]);
  assert.equal(md.stage, 'pretrain');
});

test('placeholders are filled on import', () => {
  const d = load('id.json', JSON.stringify([{ instruction: 'who?', input: '', output: 'I am {{name}} by {{ author }}.' }]), { placeholders: { name: 'Sprucy', author: 'Spruce' } });
  assert.equal((d.records[0] as { messages: { content: string }[] }).messages[1].content, 'I am Sprucy by Spruce.');
});

test('encodings are detected and named', () => {
  const gbk = Buffer.from([...Buffer.from('{"text": "'), 0xc4, 0xe3, 0xba, 0xc3, 0xca, 0xc0, 0xbd, 0xe7, ...Buffer.from('"}\n')]);
  assert.match(problems(() => load('g.jsonl', gbk))[0].message, /GBK\/GB18030/);
  assert.match(problems(() => load('u.jsonl', Buffer.from('{"text": "hi"}\n', 'utf16le')))[0].message, /UTF-16LE/);
  assert.match(problems(() => load('u.jsonl', Buffer.from([0xff, 0xfe, 0x7b, 0x00])))[0].message, /UTF-16LE \(byte order mark FF FE\)/);
  const bad = Buffer.from('{"text": "ok"}\n{"text": "\xff"}\n', 'latin1');
  const p = problems(() => load('b.jsonl', bad))[0];
  assert.equal(p.line, 2);
  assert.match(p.message, /invalid UTF-8: byte FF/);
  const bom = load('bom.jsonl', Buffer.from('\ufeff{"text": "hi"}\n'));
  assert.equal(bom.records.length, 1);
  assert.match(bom.warnings[0], /byte order mark/);
});

test('JSON syntax errors say where and why', () => {
  assert.deepEqual(locateJsonError('{"a": 1,}'), { offset: 8, message: 'trailing comma before }' });
  const ps = problems(() => load('x.json', '[\n {"instruction": "a", "output": "b"},\n {"instruction": "a" "output": "b"}\n]'));
  assert.equal(ps[0].line, 3);
  assert.match(ps[0].message, /expected ',' or '}'/);
});
