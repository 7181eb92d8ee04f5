/**
 * The Copilot: one assistant over everything the factory serves. Any chat model can drive it; it answers from
 * the knowledge bases first (retrieval before the first word, so a small model answers grounded and cited), and,
 * when the driving model calls tools, it searches knowledge, asks published bots, asks other models and lists
 * what is deployed, in a loop of at most `maxSteps` calls before the answer. A client that shows a web page (the
 * browser extension) sends the page's passages with its own ids: they are the first sources, so an answer's [n]
 * points back into the page.
 *
 * Owns: the tools' definitions and execution, the loop, the system prompt (Chinese and English), the sources an
 * answer may cite and the steps it took. Side effects (models, search, bots) come through `CopilotDeps`, so the
 * route (src/api/routes/copilot-routes.ts) decides what the caller's key may reach.
 */
import type { ChatMessageIn } from '../serve/model-backend.ts';
import type { ToolCallOut, ToolDef } from '../serve/tools.ts';

export interface CopilotSource {
  /** The citation number used in the answer ([n]). */
  ref: number;
  kind: 'knowledge' | 'bot' | 'page';
  /** The knowledge base, the bot, or the page's address (as the client sent it). */
  from: string;
  /** A page passage's id, as the client numbered it (kind 'page' only), so a citation can point back into the page. */
  passage?: string;
  label: string;
  text: string;
}

export interface CopilotStep {
  tool: string;
  arguments: Record<string, unknown>;
  /** What the tool returned, shortened for the response (the model saw all of it). */
  result: string;
  ok: boolean;
  ms: number;
}

export interface GenerateOut {
  text: string;
  toolCalls?: ToolCallOut[];
  finishReason: string;
  model: string;
}

/** What the Copilot may reach, already narrowed to the caller's key. */
export interface CopilotDeps {
  /** Runs the driving model (or, for ask_model, another one) through the gateway, counting its tokens; `onText` streams the text. */
  generate(model: string, req: { messages: ChatMessageIn[]; tools?: ToolDef[]; toolChoice?: 'auto' | 'none'; maxTokens?: number; temperature?: number }, onText?: (t: string) => void): Promise<GenerateOut>;
  knowledgeBases(): Promise<Array<{ id: string; name: string; description: string }>>;
  search(kbIds: string[], query: string, k: number): Promise<Array<{ kb: string; label: string; text: string }>>;
  bots(): Promise<Array<{ name: string; description: string }>>;
  askBot(name: string, question: string): Promise<{ answer: string; found: boolean; citations: Array<{ label: string; passage: string }> }>;
  models(): Promise<string[]>;
}

export interface CopilotOptions {
  /** Model calls before the answer (default 4). */
  maxSteps?: number;
  /** Passages retrieved before the first call (default 4; 0: none). */
  retrieve?: number;
  maxTokens?: number;
  temperature?: number;
  /** Only these knowledge bases (default: every one the key may read). */
  knowledge?: string[];
  /** The page the user is reading (a browser extension sends it): its passages are sources [1..n], before any retrieved. */
  page?: CopilotPage;
}

/** A page as a client sends it: passages with the client's own ids; nothing here is fetched or opened. */
export interface CopilotPage {
  title?: string;
  url?: string;
  passages: Array<{ id: string; text: string }>;
}

export interface CopilotResult {
  answer: string;
  sources: CopilotSource[];
  steps: CopilotStep[];
  model: string;
  finishReason: string;
}

export const COPILOT_TOOLS: ToolDef[] = [
  { type: 'function', function: { name: 'search_knowledge', description: 'Search the enterprise knowledge bases (Chinese or English). Returns numbered passages to cite as [n].', parameters: { type: 'object', properties: { query: { type: 'string' }, base: { type: 'string', description: 'one knowledge base id; all when left out' } }, required: ['query'] } } },
  { type: 'function', function: { name: 'ask_bot', description: 'Ask a published bot (a tested question-answering bot over one document). Returns its answer with citations.', parameters: { type: 'object', properties: { bot: { type: 'string' }, question: { type: 'string' } }, required: ['bot', 'question'] } } },
  { type: 'function', function: { name: 'ask_model', description: 'Ask another model served here and return its answer.', parameters: { type: 'object', properties: { model: { type: 'string' }, prompt: { type: 'string' } }, required: ['model', 'prompt'] } } },
  { type: 'function', function: { name: 'list_models', description: 'List the models and bots this assistant can use.', parameters: { type: 'object', properties: {} } } },
];

const clip = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n)}…`);
const TOOL_RESULT_CHARS = 4000;

/** The Copilot's system prompt: what it is, what it can reach, and the passages retrieved for the question. */
export function copilotSystemPrompt(o: { kbs: Array<{ id: string; name: string }>; bots: Array<{ name: string; description: string }>; sources: CopilotSource[]; zh: boolean; page?: string }): string {
  const lines = o.zh
    ? ['你是企业的 Copilot 助手。先依据下面的资料回答，用 [n] 标注引用的资料；资料里没有的，如实说明，不要编造。需要时可以调用工具查询知识库、询问机器人或其他模型。']
    : ['You are the enterprise Copilot. Answer from the sources below first and cite them as [n]; say so when they do not cover the question instead of making things up. Use the tools to search the knowledge bases, ask bots or other models when you need more.'];
  if (o.page !== undefined && o.sources.some((s) => s.kind === 'page')) lines.push(o.zh ? `用户正在阅读网页「${clip(o.page, 120)}」，资料中标为“网页”的是它的段落。` : `The user is reading the page "${clip(o.page, 120)}"; the sources labelled "page" are its passages.`);
  if (o.kbs.length) lines.push(`${o.zh ? '知识库' : 'Knowledge bases'}: ${o.kbs.map((k) => `${k.id} (${k.name})`).join(', ')}`);
  if (o.bots.length) lines.push(`${o.zh ? '机器人' : 'Bots'}: ${o.bots.map((b) => `${b.name}${b.description ? ` (${clip(b.description, 60)})` : ''}`).join(', ')}`);
  if (o.sources.length) {
    lines.push(o.zh ? '资料：' : 'Sources:');
    for (const s of o.sources) lines.push(`[${s.ref}] ${s.label}\n${clip(s.text, 600)}`);
  }
  return lines.join('\n\n');
}

/** Whether a text is mostly Chinese (the Copilot answers in the user's language). */
export function isChinese(text: string): boolean {
  const han = (text.match(/\p{Script=Han}/gu) ?? []).length;
  const latin = (text.match(/[A-Za-z]/g) ?? []).length;
  return han > 0 && han * 2 >= latin;
}

export class Copilot {
  constructor(private readonly deps: CopilotDeps, private readonly o: CopilotOptions = {}) {}

  /** Answers the conversation's last user message with `model` driving; `onText` streams the answer's text. */
  async chat(model: string, messages: ChatMessageIn[], onText?: (t: string) => void): Promise<CopilotResult> {
    const question = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const allKbs = await this.deps.knowledgeBases();
    const kbs = this.o.knowledge ? allKbs.filter((k) => this.o.knowledge!.includes(k.id)) : allKbs;
    const bots = await this.deps.bots();
    const sources: CopilotSource[] = [];
    const steps: CopilotStep[] = [];
    const addSource = (s: Omit<CopilotSource, 'ref'>): number => {
      const same = sources.find((x) => x.from === s.from && x.label === s.label && x.text === s.text);
      if (same) return same.ref;
      sources.push({ ...s, ref: sources.length + 1 });
      return sources.length;
    };
    // the page the user reads comes first: its passages are [1..n], each keeping the client's id
    const page = this.o.page;
    const zh = isChinese(question);
    for (const p of page?.passages ?? []) {
      sources.push({ kind: 'page', from: page!.url ?? '', passage: p.id, label: `${zh ? '网页' : 'page'} ${p.id}`, text: p.text, ref: sources.length + 1 });
    }
    // retrieval first: the passages for the question are in the prompt before the model says a word
    const k = this.o.retrieve ?? 4;
    if (k > 0 && kbs.length && question.trim()) {
      for (const h of await this.deps.search(kbs.map((x) => x.id), question.slice(0, 500), k)) addSource({ kind: 'knowledge', from: h.kb, label: h.label, text: h.text });
    }
    const pageTitle = page ? page.title || page.url || '' : undefined;
    const conv: ChatMessageIn[] = [{ role: 'system', content: copilotSystemPrompt({ kbs, bots, sources: [...sources], zh, page: pageTitle }) }, ...messages.filter((m) => m.role !== 'system')];
    const maxSteps = Math.max(1, this.o.maxSteps ?? 4);
    // A small model's context may not hold the tools, or all the passages: it then answers without tools, and
    // then from fewer, shorter passages (said in the steps), rather than not at all.
    let tools = true, shrink = 0;
    const SHRINK = [{ n: 2, chars: 300 }, { n: 1, chars: 120 }];
    const tooLong = (e: unknown) => (e as { code?: string }).code === 'context_length_exceeded';
    for (let step = 0; ; step++) {
      const last = step >= maxSteps - 1 || !tools;
      let out: GenerateOut;
      try {
        out = await this.deps.generate(model, {
          messages: conv, tools: last ? undefined : COPILOT_TOOLS, toolChoice: last ? undefined : 'auto', maxTokens: this.o.maxTokens, temperature: this.o.temperature,
        }, onText);
      } catch (e) {
        if (!tooLong(e) || steps.some((s) => s.tool !== '(none)')) throw e;
        if (tools) { tools = false; steps.push({ tool: '(none)', arguments: {}, result: 'the tools do not fit this model\'s context: answering from the retrieved passages', ok: false, ms: 0 }); step--; continue; }
        if (shrink < SHRINK.length && sources.length) {
          const { n, chars } = SHRINK[shrink++];
          sources.splice(n);
          for (const s of sources) s.text = clip(s.text, chars);
          conv[0] = { role: 'system', content: copilotSystemPrompt({ kbs: [], bots: [], sources, zh, page: pageTitle }) };
          steps.push({ tool: '(none)', arguments: {}, result: `the passages do not fit this model's context: answering from the first ${n}, shortened to ${chars} characters`, ok: false, ms: 0 });
          step--;
          continue;
        }
        if (conv[0]?.role === 'system') {
          // the last resort: the conversation alone, so nothing is cited that the model did not see
          conv.shift();
          sources.splice(0);
          steps.push({ tool: '(none)', arguments: {}, result: 'the Copilot\'s instructions do not fit this model\'s context: answering the conversation alone, without sources', ok: false, ms: 0 });
          step--;
          continue;
        }
        throw e;
      }
      if (!out.toolCalls?.length || last) {
        return { answer: out.text, sources, steps, model: out.model, finishReason: out.finishReason === 'tool_calls' ? 'stop' : out.finishReason };
      }
      conv.push({ role: 'assistant', content: out.text, tool_calls: out.toolCalls });
      for (const call of out.toolCalls) {
        const t0 = performance.now();
        let args: Record<string, unknown> = {};
        let result: string, ok = true;
        try {
          args = JSON.parse(call.function.arguments || '{}') as Record<string, unknown>;
          result = await this.run(call.function.name, args, kbs.map((x) => x.id), addSource);
        } catch (e) {
          ok = false;
          result = JSON.stringify({ error: (e as Error).message });
        }
        steps.push({ tool: call.function.name, arguments: args, result: clip(result, 500), ok, ms: Math.round(performance.now() - t0) });
        conv.push({ role: 'tool', tool_call_id: call.id, content: clip(result, TOOL_RESULT_CHARS) });
      }
    }
  }

  /** Runs one tool; what it returns is what the model reads (JSON). */
  private async run(name: string, a: Record<string, unknown>, kbIds: string[], addSource: (s: Omit<CopilotSource, 'ref'>) => number): Promise<string> {
    const str = (k: string): string => {
      const v = a[k];
      if (typeof v !== 'string' || !v.trim()) throw new Error(`${name}: "${k}" must be a non-empty string`);
      return v;
    };
    switch (name) {
      case 'search_knowledge': {
        const base = typeof a.base === 'string' && a.base ? a.base : null;
        if (base && !kbIds.includes(base)) throw new Error(`search_knowledge: no knowledge base "${base}" here (${kbIds.join(', ') || 'none'})`);
        if (!kbIds.length) return JSON.stringify({ passages: [], note: 'no knowledge base is available' });
        const hits = await this.deps.search(base ? [base] : kbIds, str('query').slice(0, 500), 4);
        return JSON.stringify({ passages: hits.map((h) => ({ ref: addSource({ kind: 'knowledge', from: h.kb, label: h.label, text: h.text }), source: h.label, text: clip(h.text, 800) })) });
      }
      case 'ask_bot': {
        const bot = str('bot');
        const r = await this.deps.askBot(bot, str('question'));
        const refs = r.citations.map((c) => addSource({ kind: 'bot', from: bot, label: c.label, text: c.passage }));
        return JSON.stringify({ answer: r.answer, found: r.found, refs });
      }
      case 'ask_model': {
        const model = str('model');
        if (!(await this.deps.models()).includes(model)) throw new Error(`ask_model: model "${model}" is not available to this key`);
        const r = await this.deps.generate(model, { messages: [{ role: 'user', content: str('prompt') }], maxTokens: this.o.maxTokens, temperature: this.o.temperature });
        return JSON.stringify({ model: r.model, answer: r.text });
      }
      case 'list_models':
        return JSON.stringify({ models: await this.deps.models(), bots: (await this.deps.bots()).map((b) => b.name) });
      default:
        throw new Error(`unknown tool "${name}"`);
    }
  }
}
