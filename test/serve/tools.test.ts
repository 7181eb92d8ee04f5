/**
 * Function calling on local models (src/serve/tools.ts): the prompt a served model sees is the one fine-tuning
 * renders for the same conversation; calls are read back from the answer, streamed or whole, in any chunking;
 * a line that only looks like a call stays text; the request's tools are validated as OpenAI does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineMessages, type ChatMessage } from '../../src/data/records.ts';
import { callSchema, parseCallLine, promptWithTools, ToolCallFilter, generateWithPromptTools, type ToolDef } from '../../src/serve/tools.ts';
import { parseTools } from '../../src/openai/chat-requests.ts';
import type { ChatMessageIn, GenerateParams, ModelBackend } from '../../src/serve/model-backend.ts';

const TOOLS: ToolDef[] = [
  { type: 'function', function: { name: 'get_weather', description: '查询天气', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
  { type: 'function', function: { name: 'ticket', parameters: { type: 'object', properties: { urgent: { type: 'boolean' } } } } },
];
const NAMES = new Set(TOOLS.map((t) => t.function.name));

test('the serving prompt is the fine-tuning prompt of the same conversation', () => {
  const served: ChatMessageIn[] = [
    { role: 'system', content: '你是客服。' },
    { role: 'user', content: '杭州天气？' },
    { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"杭州"}' } }] },
    { role: 'tool', content: '{"weather":"晴"}', tool_call_id: 'call_1' },
  ];
  const trained: ChatMessage[] = [
    { role: 'system', content: '你是客服。' },
    { role: 'user', content: '杭州天气？' },
    { role: 'assistant', content: '', tool_calls: [{ name: 'get_weather', arguments: '{"city":"杭州"}' }] },
    { role: 'tool', content: '{"weather":"晴"}', tool_call_id: 'call_1' },
  ];
  assert.deepEqual(promptWithTools(served, TOOLS), engineMessages(trained, TOOLS).map((m) => ({ role: m.role, content: m.content })));
  const p = promptWithTools([{ role: 'user', content: 'hi' }], TOOLS);
  assert.equal(p[0].role, 'system');
  assert.match(p[0].content, /You may call these functions:\n\{"type":"function","function":\{"name":"get_weather"/);
});

test('calls are read back from a streamed answer in any chunking; look-alike lines stay text', () => {
  const answer = '好的，我来查一下。\n{"name":"get_weather","arguments":{"city":"杭州"}}\n{"name":"ticket","arguments":{"urgent":true}}';
  for (const size of [1, 2, 3, 7, 1000]) {
    let text = '';
    const f = new ToolCallFilter(NAMES, (t) => { text += t; });
    for (let i = 0; i < answer.length; i += size) f.push(answer.slice(i, i + size));
    f.end();
    assert.equal(text, '好的，我来查一下。', `chunks of ${size}`);
    assert.deepEqual(f.calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [['get_weather', { city: '杭州' }], ['ticket', { urgent: true }]]);
    assert.ok(f.calls.every((c) => /^call_/.test(c.id) && c.type === 'function'));
  }
  // not calls: an undeclared name, broken JSON, JSON in the middle of a line, a plain multi-line answer
  const plain = '配置如下：\n{"name":"rm_rf","arguments":{}}\n{"name":"get_weather",\n示例 {"name":"ticket","arguments":{}} 结束\n第二行';
  let text = '';
  const f = new ToolCallFilter(NAMES, (t) => { text += t; });
  f.push(plain);
  f.end();
  assert.equal(text, plain);
  assert.equal(f.calls.length, 0);
  assert.equal(parseCallLine('  {"name":"ticket"}  ', NAMES)!.function.arguments, '{}');
  assert.equal(parseCallLine('{"name":"ticket","arguments":[1]}', NAMES), null);
});

test('a required call is constrained by a JSON schema of the tools; "auto" reads calls; the engine refuses "required"', async () => {
  assert.deepEqual(callSchema(TOOLS, { type: 'function', function: { name: 'ticket' } }), {
    type: 'object', properties: { name: { const: 'ticket' }, arguments: { type: 'object', properties: { urgent: { type: 'boolean' } } } }, required: ['name', 'arguments'],
  });
  assert.equal((callSchema(TOOLS, 'required').oneOf as unknown[]).length, 2);

  const seen: GenerateParams[] = [];
  const fake = (out: string, jsonSchema: boolean): ModelBackend => ({
    kind: jsonSchema ? 'llama.cpp' : 'engine', capabilities: { embeddings: false, logprobs: false, promptLogprobs: false, jsonSchema }, maxConcurrency: 1, contextSize: 512,
    async generate(p, cb) { seen.push(p); cb.onText(out); return { finishReason: 'stop', promptTokens: 5, completionTokens: 9 }; },
    async embed() { throw new Error('no'); }, memoryBytes: () => 0, async close() {},
  });
  const base: GenerateParams = { prompt: { kind: 'chat', messages: [{ role: 'user', content: '天气？' }] }, maxTokens: 50, temperature: 0, topP: 1, topK: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0, tools: TOOLS };
  const r = await generateWithPromptTools(fake('{"name":"get_weather","arguments":{"city":"上海"}}', true), { ...base, toolChoice: 'required' }, { onText: () => assert.fail('a required call streams no text') });
  assert.equal(r.finishReason, 'tool_calls');
  assert.equal(r.toolCalls![0].function.name, 'get_weather');
  const sent = seen.at(-1)!;
  assert.deepEqual(sent.json, { schema: callSchema(TOOLS, 'required') });
  assert.equal(sent.tools, undefined, 'the backend sees a prompt, not tools');
  assert.match((sent.prompt as { messages: ChatMessageIn[] }).messages[0].content, /# Tools/);

  let text = '';
  const a = await generateWithPromptTools(fake('稍等。\n{"name":"ticket","arguments":{"urgent":false}}', false), base, { onText: (t) => { text += t; } });
  assert.equal(text, '稍等。');
  assert.equal(a.finishReason, 'tool_calls');
  assert.equal(seen.at(-1)!.json, undefined);
  const none = await generateWithPromptTools(fake('{"name":"ticket","arguments":{}}', false), { ...base, toolChoice: 'none' }, { onText: () => {} });
  assert.equal(none.finishReason, 'stop', 'tool_choice none: no tools in the prompt and nothing parsed');
  await assert.rejects(generateWithPromptTools(fake('', false), { ...base, toolChoice: 'required' }, { onText: () => {} }), /engine backend/);
});

test('tools, tool_choice and parallel_tool_calls are validated with the field named', () => {
  const ok = parseTools({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'ticket' } }, parallel_tool_calls: false });
  assert.equal(ok.tools!.length, 2);
  assert.equal(ok.parallel, false);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ tools: 'x' }, 'tools'],
    [{ tools: [{ type: 'retrieval' }] }, 'tools[0].type'],
    [{ tools: [{ type: 'function', function: { name: '查天气' } }] }, 'tools[0].function.name'],
    [{ tools: [TOOLS[0], TOOLS[0]] }, 'tools[1].function.name'],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: [] } }] }, 'tools[0].function.parameters'],
    [{ tools: TOOLS, tool_choice: 'sometimes' }, 'tool_choice'],
    [{ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
    [{ tool_choice: 'required' }, 'tool_choice'],
    [{ functions: [{ name: 'f' }] }, 'functions'],
    [{ tools: TOOLS, parallel_tool_calls: 'yes' }, 'parallel_tool_calls'],
  ];
  for (const [body, param] of cases) assert.throws(() => parseTools(body), (e: unknown) => (e as { param?: string }).param === param, JSON.stringify(body));
});
