/**
 * Chat templates: messages -> prompt text, and messages -> token ids with SFT labels.
 *
 * Owns: the templates as data (one `ChatTemplate` object each: BOS text, a prefix per role, the end-of-turn token,
 * the text after it), their Jinja source (for GGUF `tokenizer.chat_template` and HF `tokenizer_config.json`), and
 * the label rule. A turn is rendered as  prefix(role) + content + end + separator:
 *   chatml   <|im_start|>{role}\n{content}<|im_end|>\n
 *   qwen2    chatml, plus "You are a helpful assistant." as system turn when the first message is not a system one
 *   llama3   <|begin_of_text|> once, then <|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|>
 * `addGenerationPrompt` appends the assistant prefix (`<|im_start|>assistant\n`), for inference.
 *
 * Labels (what LLaMA-Factory and Qwen's SFT scripts train on): `labels[i]` is `ids[i]` for the tokens of each
 * assistant content and the end token that closes it (so the model learns to stop), IGNORE_INDEX (-100) for everything
 * else: BOS, role prefixes, system/user/tool content, the separator after the end token, the generation prompt, and
 * every token of an assistant turn with `weight: 0`. Labels are not shifted; the loss shifts them.
 *
 * Guarantees: template text (prefixes, end tokens) is encoded with special tokens allowed; message content never is,
 * so "<|im_end|>" typed by a user stays plain text. Each segment is encoded on its own, as LLaMA-Factory does; this
 * equals encoding `renderChatText(...)` whole, except where content starts with a newline run that the
 * pre-tokenizer would have joined to the "\n" ending the prefix. `renderChatText` equals the Jinja rendering.
 */
import type { Tokenizer } from './tokenizer.ts';

export { IGNORE_INDEX } from '../ops/loss.ts';
import { IGNORE_INDEX } from '../ops/loss.ts';
import { StatusError } from '../../util/status-error.ts';

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant turns only: 0 = no loss on this turn. Default 1. */
  weight?: 0 | 1;
}

export interface ChatTemplate {
  name: string;
  /** Text before the first message (empty for ChatML). */
  bos: string;
  /** Text before the content, per role. */
  prefix: Readonly<Record<ChatRole, string>>;
  /** The end-of-turn token after every content; trained on after assistant content. */
  end: string;
  /** Text after `end` (ChatML "\n"); never trained on. */
  separator: string;
  /** Trim whitespace around each content (Llama 3's `| trim`). */
  trimContent: boolean;
  /** System prompt inserted when the first message is not a system one. */
  defaultSystem: string | null;
  /** Tokens that end generation. */
  stop: readonly string[];
  /** The special tokens the template text uses; encodeChat checks the tokenizer has them. */
  requires: readonly string[];
  /** The same template in Jinja, as HF and llama.cpp store it. */
  jinja: string;
}

export type ChatTemplateName = 'chatml' | 'qwen2' | 'llama3';

const chatmlPrefix = (role: ChatRole) => `<|im_start|>${role}\n`;
const llama3Prefix = (role: ChatRole) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
const rolePrefixes = (f: (role: ChatRole) => string): Record<ChatRole, string> =>
  ({ system: f('system'), user: f('user'), assistant: f('assistant'), tool: f('tool') });

const CHATML_JINJA =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

export const CHAT_TEMPLATES: Readonly<Record<ChatTemplateName, ChatTemplate>> = {
  chatml: {
    name: 'chatml',
    bos: '',
    prefix: rolePrefixes(chatmlPrefix),
    end: '<|im_end|>',
    separator: '\n',
    trimContent: false,
    defaultSystem: null,
    stop: ['<|im_end|>'],
    requires: ['<|im_start|>', '<|im_end|>'],
    jinja: CHATML_JINJA,
  },
  qwen2: {
    name: 'qwen2',
    bos: '',
    prefix: rolePrefixes(chatmlPrefix),
    end: '<|im_end|>',
    separator: '\n',
    trimContent: false,
    defaultSystem: 'You are a helpful assistant.',
    stop: ['<|im_end|>', '<|endoftext|>'],
    requires: ['<|im_start|>', '<|im_end|>'],
    jinja:
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
      "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}" +
      "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
  },
  llama3: {
    name: 'llama3',
    bos: '<|begin_of_text|>',
    prefix: rolePrefixes(llama3Prefix),
    end: '<|eot_id|>',
    separator: '',
    trimContent: true,
    defaultSystem: null,
    stop: ['<|eot_id|>', '<|end_of_text|>'],
    requires: ['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
    // Meta's Llama-3-Instruct template (it reads bos_token: render it with bos_token = '<|begin_of_text|>')
    jinja:
      "{% set loop_messages = messages %}{% for message in loop_messages %}" +
      "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}" +
      "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
  },
};

export function getChatTemplate(name: string): ChatTemplate {
  const t = (CHAT_TEMPLATES as Record<string, ChatTemplate | undefined>)[name];
  if (t === undefined) throw new StatusError(400, `unknown chat template '${name}' (known: ${Object.keys(CHAT_TEMPLATES).join(', ')})`, { param: 'template' });
  return t;
}

export interface ChatRenderOptions {
  /** A template or its name. Default 'chatml'. */
  template?: ChatTemplate | ChatTemplateName;
  /** End with the assistant prefix, ready for generation. Default false. */
  addGenerationPrompt?: boolean;
}

export interface EncodedChat {
  ids: number[];
  /** Same length as ids: the id where the token is trained on, IGNORE_INDEX elsewhere. */
  labels: number[];
}

/** One piece of a rendered conversation: template text (specials allowed) or message content (plain). */
interface Segment {
  text: string;
  template: boolean;
  trained: boolean;
}

function segments(messages: readonly ChatMessage[], t: ChatTemplate, addGenerationPrompt: boolean): Segment[] {
  const out: Segment[] = [];
  const all = t.defaultSystem !== null && messages.length > 0 && messages[0].role !== 'system'
    ? [{ role: 'system' as const, content: t.defaultSystem }, ...messages]
    : messages;
  if (all.length > 0 && t.bos) out.push({ text: t.bos, template: true, trained: false });
  all.forEach((m: ChatMessage, i) => {
    const prefix = t.prefix[m.role];
    if (prefix === undefined) throw new Error(`chat message ${i}: unknown role ${JSON.stringify(m.role)}`);
    if (typeof m.content !== 'string') throw new Error(`chat message ${i}: content must be a string`);
    if (m.weight !== undefined && m.weight !== 0 && m.weight !== 1) throw new Error(`chat message ${i}: weight must be 0 or 1`);
    const trained = m.role === 'assistant' && m.weight !== 0;
    out.push({ text: prefix, template: true, trained: false });
    out.push({ text: t.trimContent ? m.content.trim() : m.content, template: false, trained });
    out.push({ text: t.end, template: true, trained });
    if (t.separator) out.push({ text: t.separator, template: true, trained: false });
  });
  if (addGenerationPrompt) out.push({ text: t.prefix.assistant, template: true, trained: false });
  return out;
}

function resolve(opts: ChatRenderOptions): ChatTemplate {
  const t = opts.template ?? 'chatml';
  return typeof t === 'string' ? getChatTemplate(t) : t;
}

/** The prompt text, exactly as the template's Jinja renders it (with bos_token = template.bos). */
export function renderChatText(messages: readonly ChatMessage[], opts: ChatRenderOptions = {}): string {
  return segments(messages, resolve(opts), opts.addGenerationPrompt ?? false).map((s) => s.text).join('');
}

/** Token ids and SFT labels of a conversation (see the header for the label rule). */
export function encodeChat(tok: Tokenizer, messages: readonly ChatMessage[], opts: ChatRenderOptions = {}): EncodedChat {
  const t = resolve(opts);
  for (const s of t.requires) tok.specialId(s); // throws, naming the token, when the tokenizer lacks it
  const ids: number[] = [];
  const labels: number[] = [];
  for (const seg of segments(messages, t, opts.addGenerationPrompt ?? false)) {
    if (seg.text.length === 0) continue;
    const segIds = tok.encode(seg.text, { allowSpecial: seg.template });
    for (const id of segIds) {
      ids.push(id);
      labels.push(seg.trained ? id : IGNORE_INDEX);
    }
  }
  return { ids, labels };
}

/**
 * Special tokens that end generation whatever the template (llama.cpp treats them as end-of-generation too): the
 * end-of-text markers of the model families we read.
 */
export const END_OF_TEXT_TOKENS: readonly string[] = ['<|endoftext|>', '<|im_end|>', '<|eot_id|>', '<|end_of_text|>', '<|end|>', '</s>', '<eos>'];

/** The ids that end generation under this template. */
export function chatStopIds(tok: Tokenizer, template: ChatTemplate | ChatTemplateName = 'chatml'): number[] {
  const t = typeof template === 'string' ? getChatTemplate(template) : template;
  return t.stop.filter((s) => tok.hasSpecial(s)).map((s) => tok.specialId(s));
}
