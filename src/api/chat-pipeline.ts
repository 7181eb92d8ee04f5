/**
 * The one chat pipeline behind every chat endpoint: the gateway's /v1/chat/completions and /v1/completions, a
 * published bot's /v1/bots/{name}/chat/completions (also reached under its name on the gateway) and the Copilot's
 * /v1/copilot/chat/completions. A request meets, in order:
 *
 *   admit   `requireKey` (401), `answerer.read` (the body, validated: 400), `answerer.authorize` (the key's
 *           endpoint and model scopes: 401 expired / 403), `KeyPolicy.admit` (rate limit and quota: 429),
 *           `answerer.prepare` (what must exist before any work, e.g. the Copilot's knowledge bases);
 *   guard   the input: the policies the answerer names are loaded and `guardInput` checks the last user message
 *           (or every completion prompt): a rewrite replaces it, a refusal becomes the answer (content_filter);
 *   answer  `answerer.answer` writes each choice's text into a `ChoiceSink`: live (streamed as it is made) when the
 *           answerer streams and no guard needs the whole answer, else collected;
 *   guard   the output: a live guarded answer passes the sentence-boundary `GuardStream` piece by piece; a whole
 *           answer is checked once, with the sources it drew on when the answerer has them;
 *   record  the answer, its prompt and the verdicts go to the request log before the response ends, so feedback by
 *           response id works at once;
 *   write   the `chat.completion` / `text_completion` object, or the rest of the SSE stream (src/openai/);
 *   account usage for the key, metrics (gateway models), one access-log line.
 *
 * The answerers (gateway models: routes/gateway-routes.ts, published bots: routes/bots-routes.ts, the Copilot:
 * routes/copilot-routes.ts) own only what differs: reading their body, which guard policies apply, and answering.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRow } from '../store/store.ts';
import type { ChatMessageIn, CompletionPrompt, EchoedPrompt, FinishReason, TokenLogprob, ToolCallOut } from '../openai/wire-types.ts';
import { ChunkFormat, chatChoice, chatCompletion, completionLogprobs, DONE_EVENT, errorEvent, textChoice, textCompletion, usage } from '../openai/chat-responses.ts';
import { SSE_HEADERS, SseWriter } from '../openai/sse-writer.ts';
import type { KeyPolicy } from '../serve/api-keys.ts';
import type { Metrics } from '../serve/prometheus.ts';
import type { GuardRuntime, RequestGuard } from '../control/guard-runtime.ts';
import type { GuardStream } from '../control/guard.ts';
import type { ResponseSource } from '../control/request-log.ts';
import type { ChatMessage } from '../control/chat-model.ts';
import type { Passage } from '../knowledge/attribution.ts';
import { ApiError, toApiError } from './errors.ts';

/** The SSE event of an error after a stream has started: the body the central map (./errors.ts) gives it. */
function streamError(e: unknown): string {
  return errorEvent(toApiError(e).body.error);
}

/** 401 unless the auth hook attached a key (it has refused unknown and revoked ones). */
export function requireKey(req: FastifyRequest): ApiKeyRow {
  if (!req.apiKey) throw new ApiError(401, 'Missing API key.', 'invalid_request_error', null, 'missing_api_key');
  return req.apiKey;
}

/** What the guard checks on the way in: a conversation (its last user message) or completion prompts (each). */
export type ChatInput = { kind: 'chat'; messages: ChatMessageIn[] } | { kind: 'text'; prompts: CompletionPrompt[] };

/** A request as the pipeline needs it, once an answerer has read it. */
export interface ChatRead {
  /** The model asked for: checked against the key's scopes, named in the response unless a target serves it. */
  model: string;
  stream: boolean;
  includeUsage: boolean;
  /** Choices per prompt (`n`). */
  n: number;
  input: ChatInput;
  /** Token logprobs were asked for (kept on a whole answer the guard passed unchanged). */
  logprobs?: boolean;
  /** Completions: each choice starts with its prompt. */
  echo?: boolean;
}

/** The guard's input stage result. */
export interface GuardedInput { input: ChatInput; question: string | undefined; refusal: string | null }

/**
 * The guard's input stage of one request: a chat's last user message (the new input; earlier turns were checked
 * when they were sent), or every completion prompt. A rewrite (e.g. a masked phone number) replaces what the model
 * will see; a refusal yields the message to answer with instead.
 */
export async function guardInput(guard: RequestGuard, input: ChatInput): Promise<GuardedInput> {
  if (input.kind === 'chat') {
    const { messages } = input;
    let ui = -1;
    for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.role === 'user') { ui = i; break; }
    if (ui < 0) return { input, question: undefined, refusal: null };
    const g = await guard.input(messages[ui]!.content);
    if (g.refused) return { input, question: messages[ui]!.content, refusal: g.message ?? '' };
    return { input: { kind: 'chat', messages: messages.map((m, i) => (i === ui ? { ...m, content: g.text } : m)) }, question: g.text, refusal: null };
  }
  const checked: string[] = [];
  for (const p of input.prompts) {
    if (typeof p !== 'string') throw new ApiError(400, "This model's guard reads text: send 'prompt' as text, not token ids.", 'invalid_request_error', 'prompt', 'unsupported_parameter');
    const g = await guard.input(p);
    if (g.refused) return { input, question: undefined, refusal: g.message ?? '' };
    checked.push(g.text);
  }
  return { input: { kind: 'text', prompts: checked }, question: undefined, refusal: null };
}

/** How a choice ended, as an answerer reports it. */
export interface ChoiceEnd {
  finish: FinishReason;
  toolCalls?: ToolCallOut[];
  /** The generation was stopped (client gone, guard refusal): no finish chunk is sent for it. */
  aborted?: boolean;
  /** The whole text, when it differs from the pieces sent (the Copilot's final answer). */
  text?: string;
}

/** Where an answerer writes its choices. */
export interface ChoiceSink {
  /** Stops choice `ci` (the client left, or the guard refused it mid-stream). */
  signal(ci: number): AbortSignal;
  /** The model that answers has its slot: a live stream opens now, naming it (the status is 200 from here on). */
  begin(model: string): void;
  /** A piece of choice `ci`'s text, in order; `logprobs` covers its tokens. */
  text(ci: number, text: string, logprobs?: TokenLogprob[]): void;
  /** Choice `ci`'s prompt as the model read it (completions' echo), before its text. */
  prompt?(ci: number, prompt: EchoedPrompt): void;
  /** Choice `ci` is complete. */
  end(ci: number, e: ChoiceEnd): Promise<void>;
}

export interface Answered {
  /** The model that answered (a route's target, the Copilot's driving model). */
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens the model had cached (OpenAI's usage.prompt_tokens_details.cached_tokens), when it reports them. */
  cachedTokens?: number;
  /** The passages the answer drew on: the whole-answer output check runs against them. */
  sources?: Passage[];
}

export interface ChatAnswerer<R extends ChatRead> {
  readonly source: ResponseSource;
  /** For the access log and metrics. */
  readonly endpoint: string;
  /** Reads and validates the body (the answerer's own scope rules, if it has any, run here too). */
  read(req: FastifyRequest, key: ApiKeyRow): Promise<R> | R;
  /** The key's endpoint and model scopes (after `read`, before the rate limit). */
  authorize(key: ApiKeyRow, r: R): void;
  /** Checks that need an admitted request (404 for a named resource), before any model is touched. */
  prepare?(r: R): Promise<void>;
  /**
   * Documented fields after `usage` (citations, bot, copilot): of the answer, or of none when the input was
   * refused; `refused` says whether the response is a refusal.
   */
  extra?(r: R, answered: Answered | null, refused: boolean): Record<string, unknown>;
  /** The guard policies the request answers under. */
  policies(r: R): Promise<Array<string | null | undefined>>;
  /** Answers: every choice gets `end` (or the call rejects). The input is the guarded one. */
  answer(r: R, input: ChatInput, sink: ChoiceSink, question: string | undefined): Promise<Answered>;
  /**
   * Whether the answer's text can stream as it is made. An answerer whose output check needs the sources it finds
   * (known only at the end) streams only unguarded; its guarded answer is checked whole and sent as one piece.
   */
  readonly live: 'always' | 'unguarded' | 'never';
  /** Where the response-level fields go in a stream: one chunk each (gateway), one chunk together (Copilot), or on the final choice chunk (bots). */
  readonly trailer: 'chunk-each' | 'one-chunk' | 'on-finish';
  /** The response names the model that served (a route's target) rather than the one asked for. */
  readonly namesServed?: boolean;
  /** Headers of a JSON answer / a stream (beyond SSE's own). */
  headers(model: string, stream: boolean): Record<string, string>;
  /** The model name usage and metrics count a request under before any model was resolved. */
  readonly unresolved?: string;
  /** Gateway metrics (requests, tokens, time to first token), for answerers that serve models. */
  readonly metrics?: Metrics;
}

export interface PipelineDeps {
  policy?: KeyPolicy;
  /** The guard at serving time and the request log. */
  guard?: GuardRuntime;
  /** Log every answer (default true). */
  log?: boolean;
}

interface Choice {
  /** The prompt the model reported (echo). */
  echoed: EchoedPrompt | null;
  pieces: string[];
  logprobs: TokenLogprob[];
  finish: FinishReason;
  calls: ToolCallOut[];
  /** Text went out as it was made. */
  streamed: boolean;
  /** The finish chunk went out. */
  ended: boolean;
  /** The guard changed or refused the text (its logprobs no longer describe it). */
  changed: boolean;
  gs: GuardStream | null;
  chain: Promise<void>;
  ac: AbortController;
}

export async function serveChat<R extends ChatRead>(deps: PipelineDeps, req: FastifyRequest, reply: FastifyReply, a: ChatAnswerer<R>): Promise<unknown> {
  const t0 = performance.now();
  // ------------------------------------------------------------------ admit
  const key = requireKey(req);
  const r = await a.read(req, key);
  a.authorize(key, r);
  await deps.policy?.admit(key);
  await a.prepare?.(r);

  const chat = r.input.kind === 'chat';
  const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('base64url')}`;
  const created = Math.floor(Date.now() / 1000);
  const n = r.input.kind === 'chat' ? r.n : r.input.prompts.length * r.n;
  const ac = new AbortController();
  const onClose = () => { if (!reply.raw.writableFinished) ac.abort(); };
  reply.raw.on('close', onClose);
  let served = r.model;
  let resolved: string | null = null;
  let status = 200;
  let promptTokens = 0, completionTokens = 0;
  let firstAt = 0;
  let guard: RequestGuard | null = null;
  let sse: SseWriter | null = null;
  let fmt: ChunkFormat | null = null;
  let live = false;
  const choices: Choice[] = Array.from({ length: n }, () => ({
    echoed: null, pieces: [], logprobs: [], finish: 'stop', calls: [], streamed: false, ended: false, changed: false, gs: null, chain: Promise.resolve(), ac: new AbortController(),
  }));
  const textOf = (c: Choice) => (c.pieces.length === 1 ? c.pieces[0]! : c.pieces.join(''));

  const open = (model: string) => {
    if (sse) return;
    sse = SseWriter.open(reply, { headers: { ...SSE_HEADERS, ...a.headers(model, true) } });
    fmt = new ChunkFormat(id, chat ? 'chat' : 'text', created, model, n);
    if (chat) for (let i = 0; i < n; i++) sse.push(fmt.role(i));
  };
  /** A piece that leaves now (checked already when a guard streams). */
  const emit = (ci: number, text: string, lp?: TokenLogprob[]) => {
    const c = choices[ci]!;
    c.pieces.push(text);
    if (!live) { if (lp) for (const x of lp) c.logprobs.push(x); return; }
    if (!sse) open(served);
    c.streamed = true;
    sse!.push(lp && lp.length ? fmt!.textWithLogprobs(ci, text, lp) : fmt!.text(ci, text));
  };
  const finishChunk = (ci: number, extra?: Record<string, unknown>) => {
    const c = choices[ci]!;
    if (c.calls.length) sse!.push(fmt!.toolCalls(ci, c.calls));
    sse!.push(fmt!.finish(ci, c.finish, extra));
    c.ended = true;
  };

  const sink: ChoiceSink = {
    signal: (ci) => choices[ci]!.ac.signal,
    begin(model) {
      served = resolved = model;
      if (live) open(model);
    },
    prompt(ci, p) {
      choices[ci]!.echoed = p;
    },
    text(ci, text, lp) {
      if (firstAt === 0) { firstAt = performance.now(); a.metrics?.firstToken(resolved ?? a.unresolved ?? r.model, (firstAt - t0) / 1000); }
      const c = choices[ci]!;
      if (!c.gs) { emit(ci, text, lp); return; }
      const gs = c.gs;
      c.chain = c.chain.then(async () => {
        const ok = await gs.push(text);
        if (ok) emit(ci, ok);
        if (gs.refused) c.ac.abort();
      });
    },
    async end(ci, e) {
      const c = choices[ci]!;
      c.finish = e.finish;
      if (e.toolCalls?.length) { c.calls = e.toolCalls; c.finish = 'tool_calls'; }
      if (e.text !== undefined) c.pieces = [e.text];
      if (c.gs) {
        const gs = c.gs;
        await c.chain;
        const rest = await gs.end();
        if (rest) emit(ci, rest);
        if (gs.refused) { emit(ci, gs.message ?? ''); c.finish = 'content_filter'; c.calls = []; }
        guard!.collect(gs);
        if (sse && !ac.signal.aborted) finishChunk(ci);
      } else if (sse && live && !e.aborted) finishChunk(ci);
    },
  };

  try {
    // ------------------------------------------------------------------ guard the input
    guard = deps.guard ? await deps.guard.load(await a.policies(r)) : null;
    const g = guard ? await guardInput(guard, r.input) : { input: r.input, question: undefined, refusal: null };
    live = r.stream && g.refusal === null && (a.live === 'always' || (a.live === 'unguarded' && !guard));
    const liveGuard = live && guard !== null;
    for (const c of choices) {
      c.changed = guard !== null && (r.stream || g.refusal !== null);
      if (liveGuard) c.gs = guard!.stream(g.question !== undefined ? { question: g.question } : {});
      ac.signal.addEventListener('abort', () => c.ac.abort(), { once: true });
    }

    // ------------------------------------------------------------------ answer
    let answered: Answered | null = null;
    if (g.refusal !== null) {
      // refused on input: no model is touched; every choice carries the refusal message
      for (const c of choices) { c.pieces = [g.refusal]; c.finish = 'content_filter'; }
    } else {
      answered = await a.answer(r, g.input, sink, g.question);
      served = a.namesServed ? answered.model : r.model;
      resolved = answered.model;
      promptTokens = answered.promptTokens;
      completionTokens = answered.completionTokens;
    }
    if (ac.signal.aborted && sse && reply.raw.destroyed) { status = 499; return; }

    // ------------------------------------------------------------------ guard the output (whole answers)
    // A whole answer is checked once it is complete; its logprobs stay when the guard passed the text unchanged.
    if (guard && !liveGuard && g.refusal === null) {
      const ctx = { ...(g.question !== undefined ? { question: g.question } : {}), ...(answered?.sources ? { sources: answered.sources } : {}) };
      for (const c of choices) {
        const before = textOf(c);
        if (!before && c.calls.length) continue; // only calls: no text to check
        const out = await guard.output(before, ctx);
        c.pieces = [out.refused ? out.message ?? '' : out.text];
        c.changed = out.refused || out.text !== before;
        if (out.refused) { c.finish = 'content_filter'; c.calls = []; }
      }
    }

    // ------------------------------------------------------------------ record
    const refused = choices[0]!.finish === 'content_filter';
    if (deps.guard && deps.log !== false) {
      const first = choices[0]!;
      await deps.guard.record({
        id, model: a.namesServed ? served : resolved ?? r.model, source: a.source === 'api' && req.headers['x-modelfab-source'] === 'playground' ? 'playground' : a.source, keyId: key.id,
        answer: [textOf(first), ...first.calls.map((c) => `{"name":${JSON.stringify(c.function.name)},"arguments":${c.function.arguments || '{}'}}`)].filter(Boolean).join('\n'),
        prompt: g.input.kind === 'chat' ? g.input.messages.filter((m): m is ChatMessageIn & ChatMessage => m.role === 'system' || m.role === 'user' || m.role === 'assistant') : [{ role: 'user', content: promptText(g.input.prompts[0], choices[0]!.echoed) }],
        guard,
      }, (e) => req.log.error({ err: e }, 'request log write failed'));
    }

    // ------------------------------------------------------------------ write
    const extra = { ...a.extra?.(r, answered, refused), ...(guard ? { guard: guard.summary() } : {}) };
    const u = usage(promptTokens, completionTokens, answered?.cachedTokens);
    if (r.stream) {
      if (!sse) open(served);
      const s = sse!, f = fmt!;
      for (let ci = 0; ci < n; ci++) {
        const c = choices[ci]!;
        if (c.ended) continue;
        const text = textOf(c);
        if (!c.streamed && text) s.push(f.text(ci, text));
        finishChunk(ci, a.trailer === 'on-finish' && ci === n - 1 ? extra : undefined);
      }
      if (a.trailer === 'chunk-each') {
        for (const [k, v] of Object.entries(extra)) s.push(f.fields({ [k]: v }));
        if (r.includeUsage) s.push(f.fields({ usage: u }));
      } else if (a.trailer === 'one-chunk') s.push(f.fields({ ...extra, ...(r.includeUsage ? { usage: u } : {}) }));
      s.end(DONE_EVENT);
      return reply;
    }
    for (const [k, v] of Object.entries(a.headers(served, false))) void reply.header(k, v);
    if (chat) {
      return chatCompletion({
        id, created, model: served, usage: u, extra,
        choices: choices.map((c, i) => chatChoice(i, textOf(c), c.finish, { toolCalls: c.calls, logprobs: r.logprobs && !c.changed ? c.logprobs : null })),
      });
    }
    const prompts = g.input.kind === 'text' ? g.input.prompts : [];
    return textCompletion({
      id, created, model: served, usage: u, extra,
      choices: choices.map((c, i) => {
        const p = r.echo ? promptText(prompts[Math.floor(i / r.n)], c.echoed) : '';
        const lps = r.logprobs && !c.changed ? (r.echo && c.echoed?.logprobs ? [...c.echoed.logprobs, ...c.logprobs] : c.logprobs) : null;
        return textChoice(i, p + textOf(c), c.finish, lps ? completionLogprobs(lps, r.echo && !c.echoed?.logprobs ? p.length : 0) : null);
      }),
    });
  } catch (e) {
    ac.abort();
    status = toApiError(e).status;
    if (sse) {
      const s: SseWriter = sse;
      if (!s.closed) s.end(streamError(e));
      if (status >= 500) req.log.error({ err: e }, 'stream failed');
      return reply;
    }
    throw e;
  } finally {
    reply.raw.off('close', onClose);
    const secs = (performance.now() - t0) / 1000;
    const name = resolved ?? a.unresolved ?? r.model;
    a.metrics?.request(name, a.endpoint, status, secs);
    a.metrics?.tokens(name, promptTokens, completionTokens);
    deps.policy?.record(key.id, name, promptTokens, completionTokens, status >= 400);
    const gl = guard ? { guard: { policies: guard.policies, outcome: guard.summary().outcome, ms: Math.round(guard.verdicts.reduce((x, v) => x + v.latency_ms, 0) * 1000) / 1000 } } : {};
    req.log.info({ access: { id, key: key.id, endpoint: a.endpoint, model: served, status, stream: r.stream, prompt_tokens: promptTokens, completion_tokens: completionTokens, ttft_ms: firstAt ? Math.round(firstAt - t0) : null, ms: Math.round(secs * 1000), ...gl } }, 'inference');
  }
}

/** A completion prompt's text: as sent, or as the model read its token ids. */
function promptText(p: CompletionPrompt | undefined, echoed: EchoedPrompt | null): string {
  return typeof p === 'string' ? p : echoed?.text ?? '';
}
