/**
 * Chat templates as data, for every stage that renders conversations (previews, statistics, training examples,
 * and, stored with each base model, serving): ChatML, Qwen2 and Llama 3 from the engine, plus Mistral.
 *
 * A `ChatTemplateSpec` is plain JSON (so a model row can store it by value): a turn renders as
 * prefix[role] + content + suffix[role]; an assistant turn trains on its content and `trainedSuffix` (the end token,
 * so the model learns to stop), nothing else. The engine's three templates convert exactly (`fromEngine`), and
 * `encodeWithTemplate` gives the same ids and labels as the engine's `encodeChat` for them (tested).
 *
 * Mistral (instruct v0.1-v0.3 text form, as LLaMA-Factory's `mistral` template):
 *   <s>[INST] {system}\n\n{user}[/INST]{assistant}</s>[INST] {user}[/INST]{assistant}</s>
 * The system prompt is merged into the first user turn (Mistral has no system role); tool results render as
 * [TOOL_RESULTS] {content}[/TOOL_RESULTS]. The engine's ChatTemplate cannot express a per-role suffix, which is why
 * this one lives here; a small engine addition (`suffix` per role) would let it move there.
 */
import { CHAT_TEMPLATES, IGNORE_INDEX, type ChatRole, type ChatTemplate, type Tokenizer } from '../engine/tokenizer/tokenizer-exports.ts';
import { StatusError } from '../util/status-error.ts';

export interface ChatTemplateSpec {
  name: string;
  bos: string;
  prefix: Record<ChatRole, string>;
  suffix: Record<ChatRole, string>;
  /** The start of the assistant suffix that is trained on (the end-of-turn token). */
  trainedSuffix: string;
  /** 'turn': the system prompt is a turn of its own; 'merge-first-user': prepended to the first user turn + "\n\n". */
  system: 'turn' | 'merge-first-user';
  defaultSystem: string | null;
  trimContent: boolean;
  stop: string[];
  /** Special tokens the template text needs in a tokenizer. */
  requires: string[];
  jinja: string;
}

export function fromEngine(t: ChatTemplate): ChatTemplateSpec {
  const roles: ChatRole[] = ['system', 'user', 'assistant', 'tool'];
  return {
    name: t.name,
    bos: t.bos,
    prefix: { ...t.prefix },
    suffix: Object.fromEntries(roles.map((r) => [r, t.end + t.separator])) as Record<ChatRole, string>,
    trainedSuffix: t.end,
    system: 'turn',
    defaultSystem: t.defaultSystem,
    trimContent: t.trimContent,
    stop: [...t.stop],
    requires: [...t.requires],
    jinja: t.jinja,
  };
}

export const MISTRAL_TEMPLATE: ChatTemplateSpec = {
  name: 'mistral',
  bos: '<s>',
  prefix: { system: '', user: '[INST] ', assistant: '', tool: '[TOOL_RESULTS] ' },
  suffix: { system: '', user: '[/INST]', assistant: '</s>', tool: '[/TOOL_RESULTS]' },
  trainedSuffix: '</s>',
  system: 'merge-first-user',
  defaultSystem: null,
  trimContent: false,
  stop: ['</s>'],
  requires: ['<s>', '</s>'],
  jinja:
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] + '\\n\\n' %}{% set loop_messages = messages[1:] %}" +
    "{% else %}{% set system = '' %}{% set loop_messages = messages %}{% endif %}{% set ns = namespace(first=true) %}" +
    "{% for message in loop_messages %}{% if message['role'] == 'user' %}{% if ns.first %}{{ '[INST] ' + system + message['content'] + '[/INST]' }}" +
    "{% set ns.first = false %}{% else %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% endif %}" +
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}" +
    "{% elif message['role'] == 'tool' %}{{ '[TOOL_RESULTS] ' + message['content'] + '[/TOOL_RESULTS]' }}{% endif %}{% endfor %}",
};

export type TemplateName = 'chatml' | 'qwen2' | 'llama3' | 'mistral';

/** The one registry of chat templates (a test checks every entry renders and encodes). */
export const CHAT_TEMPLATE_SPECS: Readonly<Record<TemplateName, ChatTemplateSpec>> = {
  chatml: fromEngine(CHAT_TEMPLATES.chatml),
  qwen2: fromEngine(CHAT_TEMPLATES.qwen2),
  llama3: fromEngine(CHAT_TEMPLATES.llama3),
  mistral: MISTRAL_TEMPLATE,
};

export function chatTemplateSpec(name: string | ChatTemplateSpec): ChatTemplateSpec {
  if (typeof name !== 'string') return name;
  const t = (CHAT_TEMPLATE_SPECS as Record<string, ChatTemplateSpec | undefined>)[name];
  if (!t) throw new StatusError(400, `unknown chat template '${name}' (known: ${Object.keys(CHAT_TEMPLATE_SPECS).join(', ')})`, { param: 'template' });
  return t;
}

interface Msg { role: ChatRole; content: string; weight?: 0 | 1 }
interface Segment { text: string; template: boolean; trained: boolean }

function segments(messages: readonly Msg[], t: ChatTemplateSpec, addGenerationPrompt: boolean): Segment[] {
  let all: Msg[] = t.defaultSystem !== null && messages.length > 0 && messages[0].role !== 'system'
    ? [{ role: 'system', content: t.defaultSystem }, ...messages] : [...messages];
  if (t.system === 'merge-first-user') {
    const sys = all.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    all = all.filter((m) => m.role !== 'system');
    const u = all.findIndex((m) => m.role === 'user');
    if (sys && u >= 0) all[u] = { ...all[u], content: `${sys}\n\n${all[u].content}` };
    else if (sys) all.unshift({ role: 'user', content: sys });
  }
  const out: Segment[] = [];
  if (all.length > 0 && t.bos) out.push({ text: t.bos, template: true, trained: false });
  for (const m of all) {
    const trained = m.role === 'assistant' && m.weight !== 0;
    out.push({ text: t.prefix[m.role], template: true, trained: false });
    out.push({ text: t.trimContent ? m.content.trim() : m.content, template: false, trained });
    const suffix = t.suffix[m.role];
    if (m.role === 'assistant' && suffix.startsWith(t.trainedSuffix) && t.trainedSuffix) {
      out.push({ text: t.trainedSuffix, template: true, trained });
      out.push({ text: suffix.slice(t.trainedSuffix.length), template: true, trained: false });
    } else out.push({ text: suffix, template: true, trained: false });
  }
  if (addGenerationPrompt) out.push({ text: t.prefix.assistant, template: true, trained: false });
  return out;
}

export function renderWithTemplate(messages: readonly Msg[], template: string | ChatTemplateSpec, addGenerationPrompt = false): string {
  return segments(messages, chatTemplateSpec(template), addGenerationPrompt).map((s) => s.text).join('');
}

export function encodeWithTemplate(tok: Tokenizer, messages: readonly Msg[], template: string | ChatTemplateSpec, addGenerationPrompt = false): { ids: number[]; labels: number[] } {
  const t = chatTemplateSpec(template);
  for (const s of t.requires) tok.specialId(s);
  const ids: number[] = [], labels: number[] = [];
  for (const seg of segments(messages, t, addGenerationPrompt)) {
    if (!seg.text) continue;
    for (const id of tok.encode(seg.text, { allowSpecial: seg.template })) {
      ids.push(id);
      labels.push(seg.trained ? id : IGNORE_INDEX);
    }
  }
  return { ids, labels };
}
