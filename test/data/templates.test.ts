// Chat templates as data: the engine's three convert exactly; Mistral renders as LLaMA-Factory's template.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_TEMPLATE_SPECS, encodeWithTemplate, renderWithTemplate } from '../../src/data/templates.ts';
import { CHATML_SPECIAL_TOKENS, encodeChat, renderChatText, trainBpe, type ChatMessage } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import { estimateTokens } from '../../src/data/dataset-limits.ts';

const chat: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' }, { role: 'user', content: '你好' }, { role: 'assistant', content: ' Hi! ', weight: 0 },
  { role: 'user', content: 'Again?' }, { role: 'assistant', content: 'Yes.' },
];

test('engine templates: same text, ids and labels as the engine', () => {
  const specials = [...CHATML_SPECIAL_TOKENS, '<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>', '<s>', '</s>'];
  const tok = trainBpe(['Be brief. 你好 Hi! Again? Yes. system user assistant'], { vocabSize: 300, specialTokens: specials });
  for (const name of ['chatml', 'qwen2', 'llama3'] as const) {
    assert.equal(renderWithTemplate(chat, name), renderChatText(chat, { template: name }), name);
    assert.deepEqual(encodeWithTemplate(tok, chat, name), encodeChat(tok, chat, { template: name }), name);
    assert.equal(renderWithTemplate(chat, name, true), renderChatText(chat, { template: name, addGenerationPrompt: true }));
  }
  const m = encodeWithTemplate(tok, chat, 'mistral');
  const trained = m.ids.filter((_, i) => m.labels[i] !== -100);
  assert.equal(tok.decode(trained), 'Yes.</s>');
  for (const [name, t] of Object.entries(CHAT_TEMPLATE_SPECS)) {
    assert.equal(t.name, name);
    assert.equal(JSON.parse(JSON.stringify(t)).jinja, t.jinja, 'plain JSON');
  }
});

test('mistral renders the system prompt into the first user turn', () => {
  assert.equal(renderWithTemplate(chat, 'mistral'), '<s>[INST] Be brief.\n\n你好[/INST] Hi! </s>[INST] Again?[/INST]Yes.</s>');
});

test('the rough token estimate is on the high side and catches the toy file line 5', () => {
  assert.ok(estimateTokens('Eat a banana!'.repeat(2000)) > 8192);
  assert.equal(estimateTokens('你好，世界'), 5);
  assert.equal(estimateTokens('1234567'), 3);
});
