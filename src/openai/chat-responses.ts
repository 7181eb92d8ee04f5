/**
 * OpenAI's response objects and stream chunks, built in one place for every chat endpoint (the gateway's models,
 * published bots, the Copilot): `chat.completion` / `text_completion` objects, their choices, usage, completions-API
 * logprobs, and the server-sent-event strings of a stream.
 *
 * Stream chunks are written on the per-token hot path, so `ChunkFormat` builds each choice's constant prefix and
 * suffix once per response and a text piece costs one `JSON.stringify` of the piece and one concatenation; the
 * bytes are exactly those of `JSON.stringify` of the chunk object (same keys, same order), so clients see the same
 * JSON either way. Extra documented fields (guard, citations, bot, copilot, usage) follow `choices`.
 */
import type {
  ChatCompletion, ChatCompletionChoice, CompletionLogprobs, ErrorBody, FinishReason, PromptTokenLogprob, TextCompletion, TextCompletionChoice, TokenLogprob, ToolCallOut, Usage,
} from './wire-types.ts';

export const SYSTEM_FINGERPRINT = 'modelfab';

export function usage(prompt: number, completion: number, cached?: number): Usage {
  const u: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cached !== undefined) u.prompt_tokens_details = { cached_tokens: cached };
  return u;
}

/** Completions-API logprobs from chat-style token logprobs; offsets count from `startOffset` (the echoed prompt). */
export function completionLogprobs(lps: ReadonlyArray<TokenLogprob | PromptTokenLogprob>, startOffset: number): CompletionLogprobs {
  const offsets: number[] = [];
  let off = startOffset;
  for (const l of lps) { offsets.push(off); off += l.token.length; }
  return {
    tokens: lps.map((l) => l.token), token_logprobs: lps.map((l) => l.logprob),
    // an echoed prompt's first token has no distribution to draw alternatives from: null, as OpenAI's legacy API
    top_logprobs: lps.map((l) => (l.logprob === null ? null : Object.fromEntries(l.top_logprobs.map((t) => [t.token, t.logprob])))), text_offset: offsets,
  };
}

/**
 * One chat choice. A refusal (finish_reason content_filter) is the text in both `content` and `refusal`; a choice
 * that only called tools has `content: null`.
 */
export function chatChoice(index: number, text: string, finish: FinishReason, o: { toolCalls?: ToolCallOut[]; logprobs?: TokenLogprob[] | null } = {}): ChatCompletionChoice {
  const calls = o.toolCalls ?? [];
  return {
    index,
    message: { role: 'assistant', content: calls.length && !text ? null : text, refusal: finish === 'content_filter' ? text : null, ...(calls.length ? { tool_calls: calls } : {}) },
    logprobs: o.logprobs ? { content: o.logprobs, refusal: null } : null,
    finish_reason: finish,
  };
}

export function textChoice(index: number, text: string, finish: FinishReason, logprobs: CompletionLogprobs | null = null): TextCompletionChoice {
  return { index, text, logprobs, finish_reason: finish };
}

interface ObjectHead { id: string; created: number; model: string; usage: Usage; extra?: Record<string, unknown> }

export function chatCompletion(h: ObjectHead & { choices: ChatCompletionChoice[] }): ChatCompletion {
  return { id: h.id, object: 'chat.completion', created: h.created, model: h.model, system_fingerprint: SYSTEM_FINGERPRINT, choices: h.choices, usage: h.usage, ...h.extra };
}

export function textCompletion(h: ObjectHead & { choices: TextCompletionChoice[] }): TextCompletion {
  return { id: h.id, object: 'text_completion', created: h.created, model: h.model, system_fingerprint: SYSTEM_FINGERPRINT, choices: h.choices, usage: h.usage, ...h.extra };
}

/** An object's fields as they continue a JSON object (`,"a":1,"b":2`), or '' for none; undefined values are left out as JSON.stringify does. */
function moreFields(extra: Record<string, unknown> | undefined): string {
  if (!extra) return '';
  const s = JSON.stringify(extra);
  return s.length > 2 ? `,${s.slice(1, -1)}` : '';
}

/** An error after a stream has started: one SSE event carrying OpenAI's error body. */
export function errorEvent(body: ErrorBody['error']): string {
  return `data: ${JSON.stringify({ error: body })}\n\n`;
}

export const DONE_EVENT = 'data: [DONE]\n\n';

/**
 * The SSE events of one streamed response (`chat.completion.chunk`, or `text_completion` for /v1/completions), for
 * `choices` choices. Strings end with the blank line that ends an event.
 */
export class ChunkFormat {
  private readonly head: string;
  private readonly textPrefix: string[] = [];
  private readonly textTail: string;
  private readonly finalPrefix: string[] = [];

  constructor(readonly id: string, readonly kind: 'chat' | 'text', readonly created: number, readonly model: string, choices: number) {
    this.head = `data: {"id":"${id}","object":"${kind === 'chat' ? 'chat.completion.chunk' : 'text_completion'}","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":"${SYSTEM_FINGERPRINT}",`;
    const choice = `${this.head}"choices":[{"index":`;
    for (let i = 0; i < choices; i++) {
      this.textPrefix.push(`${choice}${i},${kind === 'chat' ? '"delta":{"content":' : '"text":'}`);
      this.finalPrefix.push(`${choice}${i},${kind === 'chat' ? '"delta":{}' : '"text":""'},"logprobs":null,"finish_reason":`);
    }
    this.textTail = kind === 'chat' ? '},"logprobs":null,"finish_reason":null}]}\n\n' : ',"logprobs":null,"finish_reason":null}]}\n\n';
  }

  /** The first chunk of a chat choice: the assistant's role with empty content. */
  role(ci: number): string {
    return `${this.head}"choices":[{"index":${ci},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  /** A piece of a choice's text. */
  text(ci: number, text: string): string {
    return this.textPrefix[ci]! + JSON.stringify(text) + this.textTail;
  }

  /** A piece of text with the logprobs of its tokens. */
  textWithLogprobs(ci: number, text: string, lp: TokenLogprob[]): string {
    const l = this.kind === 'chat' ? `{"content":${JSON.stringify(lp)}}` : JSON.stringify(completionLogprobs(lp, 0));
    return `${this.textPrefix[ci]}${JSON.stringify(text)}${this.kind === 'chat' ? '}' : ''},"logprobs":${l},"finish_reason":null}]}\n\n`;
  }

  /** A choice's tool calls in one chunk: whole calls (a client accumulates pieces by index; one piece is one call). */
  toolCalls(ci: number, calls: ToolCallOut[]): string {
    return `${this.head}"choices":[{"index":${ci},"delta":{"tool_calls":${JSON.stringify(calls.map((c, index) => ({ index, ...c })))}},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  /** The chunk that ends a choice, with documented extra fields after `choices` when given. */
  finish(ci: number, reason: FinishReason, extra?: Record<string, unknown>): string {
    return `${this.finalPrefix[ci]}"${reason}"}]${moreFields(extra)}}\n\n`;
  }

  /** A chunk with no choices carrying response-level fields (usage, guard, copilot). */
  fields(extra: Record<string, unknown>): string {
    return `${this.head}"choices":[]${moreFields(extra)}}\n\n`;
  }
}
