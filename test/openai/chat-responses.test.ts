// OpenAI's response objects and stream chunks: the hand-built chunk strings of ChunkFormat are byte for byte
// JSON.stringify of the chunk objects OpenAI documents (chat and text completions, role, text, logprobs, tool calls,
// finish with extra fields, response-level chunks); choices, refusals and tool-only answers; completions logprobs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkFormat, chatChoice, chatCompletion, completionLogprobs, errorEvent, textChoice, textCompletion, usage } from '../../src/openai/chat-responses.ts';
import type { TokenLogprob } from '../../src/openai/wire-types.ts';

const event = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const LP: TokenLogprob[] = [{ token: 'He', logprob: -0.5, bytes: [72, 101], top_logprobs: [{ token: 'He', logprob: -0.5, bytes: [72, 101] }, { token: 'A', logprob: -1.5, bytes: [65] }] }, { token: 'y"\n', logprob: -0.25, bytes: [121, 34, 10], top_logprobs: [] }];

test('chat chunks are the bytes of the documented chunk objects', () => {
  const f = new ChunkFormat('chatcmpl-abc', 'chat', 1700000000, 'm "quoted"', 2);
  const head = { id: 'chatcmpl-abc', object: 'chat.completion.chunk', created: 1700000000, model: 'm "quoted"', system_fingerprint: 'modelfab' };
  assert.equal(f.role(1), event({ ...head, choices: [{ index: 1, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }));
  for (const text of ['hello', 'line\n"two"\\', '中文', '\u2028', '']) {
    assert.equal(f.text(0, text), event({ ...head, choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }] }));
  }
  assert.equal(f.textWithLogprobs(1, 'Hey"', LP), event({ ...head, choices: [{ index: 1, delta: { content: 'Hey"' }, logprobs: { content: LP }, finish_reason: null }] }));
  const calls = [{ id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{"a":1}' } }, { id: 'call_2', type: 'function' as const, function: { name: 'g', arguments: '{}' } }];
  assert.equal(f.toolCalls(0, calls), event({ ...head, choices: [{ index: 0, delta: { tool_calls: calls.map((c, index) => ({ index, ...c })) }, logprobs: null, finish_reason: null }] }));
  assert.equal(f.finish(1, 'length'), event({ ...head, choices: [{ index: 1, delta: {}, logprobs: null, finish_reason: 'length' }] }));
  const extra = { citations: [{ ref: 1, passage: 'p' }], bot: { name: 'b' }, skipped: undefined };
  assert.equal(f.finish(0, 'stop', extra), event({ ...head, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], ...extra }));
  assert.equal(f.finish(0, 'stop', {}), f.finish(0, 'stop'));
  assert.equal(f.fields({ usage: usage(3, 4) }), event({ ...head, choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } }));
});

test('text completion chunks, with completions-API logprobs', () => {
  const f = new ChunkFormat('cmpl-x', 'text', 5, 'tiny', 1);
  const head = { id: 'cmpl-x', object: 'text_completion', created: 5, model: 'tiny', system_fingerprint: 'modelfab' };
  assert.equal(f.text(0, 'a b'), event({ ...head, choices: [{ index: 0, text: 'a b', logprobs: null, finish_reason: null }] }));
  assert.equal(f.textWithLogprobs(0, 'Hey"', LP), event({ ...head, choices: [{ index: 0, text: 'Hey"', logprobs: completionLogprobs(LP, 0), finish_reason: null }] }));
  assert.equal(f.finish(0, 'content_filter'), event({ ...head, choices: [{ index: 0, text: '', logprobs: null, finish_reason: 'content_filter' }] }));
  assert.deepEqual(completionLogprobs(LP, 10), { tokens: ['He', 'y"\n'], token_logprobs: [-0.5, -0.25], top_logprobs: [{ He: -0.5, A: -1.5 }, {}], text_offset: [10, 12] });
});

test('choices: refusals carry the text twice, tool-only answers have null content; objects keep field order', () => {
  assert.deepEqual(chatChoice(0, 'no', 'content_filter'), { index: 0, message: { role: 'assistant', content: 'no', refusal: 'no' }, logprobs: null, finish_reason: 'content_filter' });
  const call = { id: 'c', type: 'function' as const, function: { name: 'f', arguments: '{}' } };
  assert.deepEqual(chatChoice(1, '', 'tool_calls', { toolCalls: [call] }).message, { role: 'assistant', content: null, refusal: null, tool_calls: [call] });
  assert.deepEqual(chatChoice(0, 'x', 'stop', { logprobs: LP }).logprobs, { content: LP, refusal: null });
  const o = chatCompletion({ id: 'i', created: 1, model: 'm', usage: usage(1, 2), choices: [chatChoice(0, 'x', 'stop')], extra: { copilot: { steps: [] }, guard: { outcome: 'passed' } } });
  assert.deepEqual(Object.keys(o), ['id', 'object', 'created', 'model', 'system_fingerprint', 'choices', 'usage', 'copilot', 'guard']);
  const t = textCompletion({ id: 'i', created: 1, model: 'm', usage: usage(0, 0), choices: [textChoice(0, 'x', 'length')] });
  assert.equal(t.object, 'text_completion');
  assert.deepEqual(t.choices[0], { index: 0, text: 'x', logprobs: null, finish_reason: 'length' });
  assert.equal(errorEvent({ message: 'm', type: 'server_error', param: null, code: null }), 'data: {"error":{"message":"m","type":"server_error","param":null,"code":null}}\n\n');
});
