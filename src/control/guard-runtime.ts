/**
 * The guard at serving time: what the gateway's /v1/chat/completions and /v1/completions and the bots' chat
 * endpoint call around a generation.
 *
 * Owns:
 *   - `GuardRuntime.load(names)`: the policies a request is under, by name, from the store (parsed once per change
 *     of the stored text, so regexes and word lists compile once), merged into one chain when there are several;
 *   - `RequestGuard`: one request's chain: `input` (the new user message or prompt; a rewrite replaces it),
 *     `output` (a whole answer), `stream` (a sentence-boundary filter per streamed choice), every verdict collected
 *     in order, and the request's outcome (passed, flagged, rewritten, refused);
 *   - `record`: the answer, its prompt and verdicts into the request log (feedback by response id, GET /v1/requests).
 * Guarantees: a policy named by a deployment or bot that no longer exists fails closed (a 503 naming it), never
 * open; an unguarded request costs no policy lookups.
 */
import type { Passage } from '../knowledge/attribution.ts';
import { ControlError } from './feedback.ts';
import { outcomeOf, type GuardOutcome, type RequestLog, type ResponseSource } from './request-log.ts';
import type { GuardPolicyStore } from './guard-policies.ts';
import { GuardPolicyError, GuardStream, mergePolicies, parsePolicy, runGuard, type GuardDeps, type GuardPolicy, type GuardResult, type GuardVerdict } from './guard.ts';
import type { ChatMessage } from './chat-model.ts';

/** Longest prompt (characters, all messages) the request log keeps. */
export const MAX_LOGGED_PROMPT = 1_000_000;

export interface GuardSummary {
  /** The policies applied. */
  policies: string[];
  outcome: GuardOutcome;
  verdicts: GuardVerdict[];
}

/** One request's guard chain; verdicts of every stage and choice are collected in order. */
export class RequestGuard {
  readonly verdicts: GuardVerdict[] = [];

  constructor(readonly policies: string[], readonly policy: GuardPolicy, private readonly deps: GuardDeps) {}

  /** Checks the request's input (the last user message, or a completion prompt). */
  async input(text: string): Promise<GuardResult> {
    const r = await runGuard(this.policy, { stage: 'input', text }, this.deps);
    this.verdicts.push(...r.verdicts);
    return r;
  }

  /** Checks a whole answer. */
  async output(text: string, ctx: { question?: string; sources?: Passage[] } = {}): Promise<GuardResult> {
    const r = await runGuard(this.policy, { stage: 'output', text, ...ctx }, this.deps);
    this.verdicts.push(...r.verdicts);
    return r;
  }

  /** A streaming filter for one choice; call `collect` with it when it has ended. */
  stream(ctx: { question?: string; sources?: Passage[] } = {}): GuardStream {
    return new GuardStream(this.policy, this.deps, ctx);
  }

  collect(s: GuardStream): void {
    this.verdicts.push(...s.verdicts);
  }

  summary(): GuardSummary {
    return { policies: this.policies, outcome: outcomeOf(this.verdicts), verdicts: this.verdicts };
  }
}

export class GuardRuntime {
  private readonly parsed = new Map<string, { text: string; policy: GuardPolicy }>();
  private readonly merged = new Map<string, { parts: GuardPolicy[]; policy: GuardPolicy }>();

  constructor(readonly policyStore: GuardPolicyStore, readonly requestLog: RequestLog, readonly deps: GuardDeps) {}

  private async one(name: string): Promise<GuardPolicy> {
    const text = await this.policyStore.getPolicyText(name);
    if (text === null) {
      this.parsed.delete(name);
      throw new ControlError(503, `guard policy "${name}" is set on this model but does not exist; create it (PUT /v1/guard/policies/${name}) or change the deployment's guard setting`, 'guard', 'guard_policy_missing');
    }
    const c = this.parsed.get(name);
    if (c && c.text === text) return c.policy;
    let policy: GuardPolicy;
    try {
      policy = parsePolicy(text);
    } catch (e) {
      // stored before a rule tightened (a regex the linear-time engine refuses): fail closed, say how to fix it
      if (!(e instanceof GuardPolicyError)) throw e;
      this.parsed.delete(name);
      throw new ControlError(503, `guard policy "${name}" no longer loads (${e.message}); fix it with PUT /v1/guard/policies/${name}`, 'guard', 'guard_policy_invalid');
    }
    this.parsed.set(name, { text, policy });
    return policy;
  }

  /** The chain for these policy names (deduplicated, in order), or null when there are none. */
  async load(names: ReadonlyArray<string | null | undefined>): Promise<RequestGuard | null> {
    const list = [...new Set(names.filter((n): n is string => !!n))];
    if (!list.length) return null;
    const parts = await Promise.all(list.map((n) => this.one(n)));
    const key = list.join('\u0000');
    let m = this.merged.get(key);
    if (!m || m.parts.some((p, i) => p !== parts[i])) {
      m = { parts, policy: mergePolicies(list.map((name, i) => ({ name, policy: parts[i] }))) };
      this.merged.set(key, m);
    }
    return new RequestGuard(list, m.policy, this.deps);
  }

  /**
   * Logs an answer (with the guard's verdicts when a guard ran). Prompts over `MAX_LOGGED_PROMPT` characters are not
   * logged (feedback on them must then carry the prompt). Failures are reported, never thrown at the caller.
   */
  async record(r: { id: string; model: string | null; source: ResponseSource; keyId?: string | null; prompt: ChatMessage[]; answer: string; guard: RequestGuard | null }, onError?: (e: unknown) => void): Promise<void> {
    if (r.prompt.reduce((n, m) => n + m.content.length, 0) > MAX_LOGGED_PROMPT) return;
    try {
      await this.requestLog.recordResponse({
        id: r.id, model: r.model, source: r.source, keyId: r.keyId ?? null, prompt: r.prompt, answer: r.answer,
        ...(r.guard ? { guard: r.guard.verdicts, policies: r.guard.policies, outcome: outcomeOf(r.guard.verdicts) } : {}),
      });
    } catch (e) {
      onError?.(e);
    }
  }
}
