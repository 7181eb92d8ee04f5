/**
 * Emoti Coach: practice conversations for customer-facing staff. A session follows a scenario (coach-scenario.ts):
 *   1. start: the scenario is copied into the session (later edits do not change old scores) and the persona opens;
 *   2. each trainee message: the persona model answers in character, then the judge model scores the message
 *      against the rubric with quotes, given knowledge-base passages for it when the scenario names a base;
 *   3. finish: the judge scores the whole session (criteria, goals met, summary) and the overall score is set;
 *   4. report: progress across a key's finished sessions (coach-report.ts).
 * A malformed judgement (coach-judge.ts) is sent back to the judge once with the error naming the field; a second
 * malformed one fails the request with that error (502) and leaves the session as it was before the message.
 * Two requests racing on one session: the later one's write fails (409) rather than dropping the other's turn.
 * Models and search come through `CoachDeps`, narrowed to the caller's key by the route.
 */
import { randomBytes } from 'node:crypto';
import { StatusError } from '../util/status-error.ts';
import { builtinScenarios, parseScenario, type Scenario } from './coach-scenario.ts';
import { JudgementError, overallScore, parseSessionJudgement, parseTurnJudgement, personaPrompt, sessionJudgePrompt, turnJudgePrompt, type Turn } from './coach-judge.ts';
import { progressReport, type CoachReport } from './coach-report.ts';
import type { CoachRepository, CoachSession } from './coach-repository.ts';

export interface CoachMessage { role: 'system' | 'user' | 'assistant'; content: string }

export interface CoachDeps {
  generate(model: string, messages: CoachMessage[], o: { maxTokens: number; temperature?: number; json?: boolean }): Promise<{ text: string; model: string }>;
  search(kb: string, query: string, k: number): Promise<Array<{ label: string; text: string }>>;
}

export type ScenarioObject = Scenario & { object: 'coach.scenario'; source: 'builtin' | 'organisation' };

const MAX_MESSAGE = 4000;

export class CoachService {
  constructor(private readonly repo: CoachRepository, private readonly now: () => number = Date.now) {}

  async scenarios(): Promise<ScenarioObject[]> {
    const own = await this.repo.scenarios();
    return [
      ...builtinScenarios().map((s) => ({ ...s, object: 'coach.scenario' as const, source: 'builtin' as const })),
      ...own.map((s) => ({ ...s, object: 'coach.scenario' as const, source: 'organisation' as const })),
    ];
  }

  async scenario(id: string): Promise<ScenarioObject> {
    const s = (await this.scenarios()).find((x) => x.id === id);
    if (!s) throw new StatusError(404, `No coach scenario '${id}'.`, { code: 'scenario_not_found', param: 'scenario' });
    return s;
  }

  /** Validates and stores an organisation's scenario (`id` from the URL; a body `id` must agree). */
  async putScenario(id: string, body: unknown, by: string | null): Promise<ScenarioObject> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new StatusError(400, 'The body must be the scenario as a JSON object.', { code: 'invalid_value', param: 'body' });
    const b = { id, ...(body as Record<string, unknown>) };
    if (b.id !== id) throw new StatusError(400, `The body's id "${String(b.id)}" differs from the URL's "${id}".`, { code: 'invalid_value', param: 'id' });
    const s = parseScenario(b, 'request');
    if (builtinScenarios().some((x) => x.id === s.id)) throw new StatusError(409, `'${s.id}' is a built-in scenario: give yours another id.`, { code: 'scenario_exists', param: 'id' });
    await this.repo.putScenario(s, by, this.now());
    return { ...s, object: 'coach.scenario', source: 'organisation' };
  }

  async deleteScenario(id: string): Promise<void> {
    if (builtinScenarios().some((x) => x.id === id)) throw new StatusError(400, `'${id}' is a built-in scenario and cannot be deleted.`, { code: 'scenario_builtin', param: 'id' });
    if (!(await this.repo.deleteScenario(id))) throw new StatusError(404, `No coach scenario '${id}'.`, { code: 'scenario_not_found', param: 'id' });
  }

  /** 1. A new session; the persona's opening line is its first turn. */
  async start(r: { scenario: string; personaModel: string; judgeModel: string; keyId: string | null }): Promise<CoachSession> {
    const { object: _o, source: _s, ...scenario } = await this.scenario(r.scenario);
    const now = this.now();
    const s: CoachSession = {
      id: `coach_${randomBytes(12).toString('base64url')}`, object: 'coach.session', created_at: now, updated_at: now, key_id: r.keyId, scenario,
      persona_model: r.personaModel, judge_model: r.judgeModel, status: 'active', turns: [{ role: 'persona', content: scenario.persona.opening }], judgement: null, score: null,
    };
    await this.repo.insertSession(s);
    return s;
  }

  /** A session the key may see (`keyId` undefined: an admin). */
  async session(id: string, keyId: string | undefined): Promise<CoachSession> {
    const s = await this.repo.session(id);
    if (!s || (keyId !== undefined && s.key_id !== keyId)) throw new StatusError(404, `No coach session '${id}'.`, { code: 'session_not_found', param: 'id' });
    return s;
  }

  sessions(keyId: string | undefined, scenario?: string): Promise<CoachSession[]> {
    return this.repo.sessions({ keyId, scenario });
  }

  /** 2. The trainee says something: the persona answers, the judge scores the message. */
  async reply(deps: CoachDeps, id: string, keyId: string | undefined, content: unknown): Promise<{ session: CoachSession; reply: string; judgement: Turn['judgement'] }> {
    if (typeof content !== 'string' || !content.trim()) throw new StatusError(400, "Missing required parameter: 'content' (what the trainee says).", { code: 'missing_required_parameter', param: 'content' });
    if (content.length > MAX_MESSAGE) throw new StatusError(400, `'content' is longer than ${MAX_MESSAGE} characters.`, { code: 'invalid_value', param: 'content' });
    const s = await this.session(id, keyId);
    if (s.status !== 'active') throw new StatusError(409, `Session '${id}' is finished.`, { code: 'session_finished', param: 'id' });
    const said = s.turns.filter((t) => t.role === 'trainee').length;
    if (said >= s.scenario.max_turns) throw new StatusError(409, `Session '${id}' has had its ${s.scenario.max_turns} messages: finish it for the judgement.`, { code: 'session_full', param: 'id' });
    const turns: Turn[] = [...s.turns, { role: 'trainee', content: content.trim() }];
    const persona = await deps.generate(s.persona_model, [{ role: 'system', content: personaPrompt(s.scenario) }, ...turns.map((t): CoachMessage => ({ role: t.role === 'persona' ? 'assistant' : 'user', content: t.content }))], { maxTokens: 300, temperature: 0.8 });
    const passages = await this.passages(deps, s.scenario, content);
    const judgement = await this.judge(deps, s.judge_model, turnJudgePrompt(s.scenario, turns, passages), (t) => parseTurnJudgement(t, s.scenario, content.trim()));
    turns[turns.length - 1] = { ...turns.at(-1)!, judgement };
    turns.push({ role: 'persona', content: persona.text.trim() });
    s.turns = turns;
    await this.save(s);
    return { session: s, reply: persona.text.trim(), judgement };
  }

  /** 3. The judgement of the whole session and its score. */
  async finish(deps: CoachDeps, id: string, keyId: string | undefined): Promise<CoachSession> {
    const s = await this.session(id, keyId);
    if (s.status === 'finished') return s;
    const said = s.turns.filter((t) => t.role === 'trainee').map((t) => t.content);
    if (!said.length) throw new StatusError(409, `Session '${id}' has no message from the trainee to judge.`, { code: 'session_empty', param: 'id' });
    const passages = await this.passages(deps, s.scenario, said.join(' '));
    const judgement = await this.judge(deps, s.judge_model, sessionJudgePrompt(s.scenario, s.turns, passages), (t) => parseSessionJudgement(t, s.scenario, said));
    s.judgement = judgement;
    s.score = overallScore(s.scenario, judgement.scores);
    s.status = 'finished';
    await this.save(s);
    return s;
  }

  /** 4. Progress across the key's finished sessions (of one scenario when named). */
  async report(keyId: string | undefined, scenario?: string): Promise<CoachReport> {
    return progressReport(await this.repo.sessions({ keyId, scenario, status: 'finished', limit: 1000 }));
  }

  /** Stores a changed session: a compare-and-set on its updated_at, so of two requests racing on one session the later fails (409) instead of dropping the other's turn. */
  private async save(s: CoachSession): Promise<void> {
    const before = s.updated_at;
    s.updated_at = Math.max(this.now(), before + 1);
    if (!(await this.repo.updateSession(s, before))) throw new StatusError(409, `Session '${s.id}' changed while this message was answered: reload it and try again.`, { code: 'session_changed', param: 'id' });
  }

  private async passages(deps: CoachDeps, s: Scenario, query: string): Promise<Array<{ ref: number; label: string; text: string }>> {
    if (!s.knowledge) return [];
    return (await deps.search(s.knowledge, query.slice(0, 500), 3)).map((p, i) => ({ ref: i + 1, label: p.label, text: p.text.slice(0, 900) }));
  }

  /** Asks the judge; a malformed answer goes back once with the error, then fails naming the field. */
  private async judge<T>(deps: CoachDeps, model: string, messages: CoachMessage[], parse: (text: string) => T): Promise<T> {
    const first = await deps.generate(model, messages, { maxTokens: 900, temperature: 0, json: true });
    try {
      return parse(first.text);
    } catch (e) {
      if (!(e instanceof JudgementError)) throw e;
      const again = await deps.generate(model, [...messages, { role: 'assistant', content: first.text }, { role: 'user', content: `Your answer is invalid: ${e.field}: ${e.detail}. Answer again with the JSON object only, in the format asked.` }], { maxTokens: 900, temperature: 0, json: true });
      return parse(again.text);
    }
  }
}
