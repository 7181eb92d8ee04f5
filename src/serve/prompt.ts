/**
 * Prompts for the local backends: OpenAI chat messages -> template segments, with the engine's chat templates as
 * data (src/engine/tokenizer/chat-template.ts). Template text (role prefixes, end-of-turn tokens) may contain
 * special tokens; message content never does, so "<|im_end|>" typed by a user stays plain text.
 *
 * Guarantees: the segments joined equal `renderChatText(messages, {template, addGenerationPrompt: true})` for the
 * known templates; a model without a known template gets a plain "role: content" rendering (named 'plain').
 * `developer` messages are treated as `system`.
 */
import { CHAT_TEMPLATES, type ChatTemplate, type ChatTemplateName } from '../engine/tokenizer/chat-template.ts';
import type { ChatMessageIn } from './model-backend.ts';

export interface Segment { text: string; special: boolean }

export type TemplateName = ChatTemplateName | 'plain';

/** The template whose Jinja is `jinja` (GGUF tokenizer.chat_template), or undefined. */
export function templateFromJinja(jinja: string | undefined): ChatTemplateName | undefined {
  if (!jinja) return undefined;
  for (const [name, t] of Object.entries(CHAT_TEMPLATES)) if (t.jinja === jinja) return name as ChatTemplateName;
  if (jinja.includes('<|im_start|>')) return 'chatml';
  if (jinja.includes('<|start_header_id|>')) return 'llama3';
  return undefined;
}

export function resolveTemplate(name: string | null | undefined, fallback: TemplateName): TemplateName {
  if (name === 'plain') return 'plain';
  if (name && name in CHAT_TEMPLATES) return name as ChatTemplateName;
  return fallback;
}

/**
 * The template for a model that records none: ChatML when its tokenizer has ChatML's special tokens (what the
 * factory trains with by default), else plain. Every backend uses this one rule, so a model reads the same prompt
 * whichever serves it.
 */
export function fallbackTemplate(tok: { hasSpecial(token: string): boolean }): TemplateName {
  return tok.hasSpecial('<|im_start|>') && tok.hasSpecial('<|im_end|>') ? 'chatml' : 'plain';
}

export function chatSegments(messages: readonly ChatMessageIn[], name: TemplateName): Segment[] {
  if (name === 'plain') {
    const out: Segment[] = messages.map((m) => ({ text: `${m.role === 'developer' ? 'system' : m.role}: ${m.content}\n`, special: false }));
    out.push({ text: 'assistant:', special: false });
    return out;
  }
  const t: ChatTemplate = CHAT_TEMPLATES[name];
  const out: Segment[] = [];
  const msgs = messages.map((m) => ({ role: m.role === 'developer' ? 'system' as const : m.role, content: m.content }));
  const all = t.defaultSystem !== null && msgs.length > 0 && msgs[0].role !== 'system' ? [{ role: 'system' as const, content: t.defaultSystem }, ...msgs] : msgs;
  if (all.length > 0 && t.bos) out.push({ text: t.bos, special: true });
  for (const m of all) {
    out.push({ text: t.prefix[m.role], special: true });
    out.push({ text: t.trimContent ? m.content.trim() : m.content, special: false });
    out.push({ text: t.end, special: true });
    if (t.separator) out.push({ text: t.separator, special: true });
  }
  out.push({ text: t.prefix.assistant, special: true });
  return out.filter((s) => s.text.length > 0);
}

/** Strings that end generation under a template (besides the model's own end-of-generation tokens). */
export function templateStops(name: TemplateName): string[] {
  return name === 'plain' ? ['\nuser:', '\nsystem:'] : [...CHAT_TEMPLATES[name].stop];
}
