/**
 * The request log (`control_responses`): every answer the gateway, the bots and the Copilot send, recorded by id
 * with its prompt, source, key, the guard policies applied, their verdicts and outcome, so feedback can name just a
 * response id, and `GET /v1/requests[/{id}]` can show (and filter by) what the guard did.
 * Guarantees: recording the same id again updates the answer and verdicts (a guard that rewrote after the fact);
 * listing is newest first with a stable cursor (`before`: an id); pruning removes entries by age only.
 */
import type { Kysely } from 'kysely';
import type { ChatMessage } from './chat-model.ts';
import type { GuardVerdict } from './guard.ts';
import { ControlError } from './feedback.ts';

export interface ResponsesTable {
  id: string; created_at: number; model: string | null; prompt: string; answer: string; guard: string;
  key_id: string | null; source: string; policy: string | null; outcome: string | null; latency_ms: number | null;
}
/** The table this file owns (migration 0004). */
export interface RequestLogTables { control_responses: ResponsesTable }

/** What the guard did to one answer: nothing found, warned, changed the text, or refused. */
export type GuardOutcome = 'passed' | 'flagged' | 'rewritten' | 'refused';
export type ResponseSource = 'api' | 'bot' | 'playground' | 'knowledge' | 'copilot' | 'images' | 'writer' | 'coach';

export interface ResponseRecord {
  id: string; created_at: number; model: string | null; source: ResponseSource; key_id: string | null; prompt: ChatMessage[]; answer: string;
  /** Guard policies applied (names), empty when none. */
  policies: string[]; outcome: GuardOutcome | null; guard: GuardVerdict[];
  /** Time the guard's checks took, summed (ms). */
  guard_ms: number | null;
}

export interface RecordResponseInput {
  id: string; model?: string | null; source?: ResponseSource; keyId?: string | null; prompt: ChatMessage[]; answer: string; guard?: GuardVerdict[];
  policies?: string[]; outcome?: GuardOutcome | null;
}

const fromRow = (r: ResponsesTable): ResponseRecord => ({
  id: r.id, created_at: Math.floor(Number(r.created_at) / 1000), model: r.model, source: (r.source ?? 'api') as ResponseSource, key_id: r.key_id ?? null, prompt: JSON.parse(r.prompt), answer: r.answer,
  policies: r.policy ? r.policy.split(',') : [], outcome: (r.outcome ?? null) as GuardOutcome | null, guard: JSON.parse(r.guard), guard_ms: r.latency_ms ?? null,
});

/** The outcome of a request's verdicts: the strongest action any check took. */
export function outcomeOf(verdicts: readonly GuardVerdict[]): GuardOutcome {
  if (verdicts.some((v) => v.action === 'refuse')) return 'refused';
  if (verdicts.some((v) => v.action === 'rewrite')) return 'rewritten';
  if (verdicts.some((v) => v.action === 'warn')) return 'flagged';
  return 'passed';
}

export class RequestLog {
  constructor(private readonly db: Kysely<RequestLogTables>, private readonly now: () => number = Date.now) {}

  /** Logs (or, same id, updates) one answer with its guard verdicts. */
  async recordResponse(r: RecordResponseInput): Promise<void> {
    const guard = r.guard ?? [];
    const ms = guard.length ? Math.round(guard.reduce((a, v) => a + v.latency_ms, 0) * 1000) / 1000 : null;
    const policy = r.policies?.length ? r.policies.join(',') : null;
    const outcome = r.outcome ?? (guard.length ? outcomeOf(guard) : null);
    await this.db.insertInto('control_responses').values({
      id: r.id, created_at: this.now(), model: r.model ?? null, source: r.source ?? 'api', key_id: r.keyId ?? null, prompt: JSON.stringify(r.prompt), answer: r.answer,
      guard: JSON.stringify(guard), policy, outcome, latency_ms: ms,
    }).onConflict((oc) => oc.column('id').doUpdateSet({ answer: r.answer, guard: JSON.stringify(guard), policy, outcome, latency_ms: ms })).execute();
  }

  async getResponse(id: string): Promise<ResponseRecord | null> {
    const r = await this.db.selectFrom('control_responses').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? fromRow(r) : null;
  }

  /** Deletes log entries older than `before` (epoch ms); feedback keeps its own copy of prompt and answer. */
  async pruneResponses(before: number): Promise<number> {
    return Number((await this.db.deleteFrom('control_responses').where('created_at', '<', before).executeTakeFirst()).numDeletedRows);
  }

  /** The request log, newest first: filter by model, source, guard outcome (`guarded`: any guard ran); `before` is an id (cursor). */
  async listResponses(f: { model?: string; source?: string; keyId?: string; outcome?: GuardOutcome | 'guarded'; before?: string; limit?: number } = {}): Promise<{ data: ResponseRecord[]; has_more: boolean }> {
    const limit = Math.max(1, Math.min(500, f.limit ?? 50));
    let q = this.db.selectFrom('control_responses').selectAll();
    if (f.model) q = q.where('model', '=', f.model);
    if (f.source) q = q.where('source', '=', f.source);
    if (f.keyId) q = q.where('key_id', '=', f.keyId);
    if (f.outcome === 'guarded') q = q.where('outcome', 'is not', null);
    else if (f.outcome) q = q.where('outcome', '=', f.outcome);
    if (f.before) {
      const c = await this.db.selectFrom('control_responses').select(['created_at', 'id']).where('id', '=', f.before).executeTakeFirst();
      if (!c) throw new ControlError(400, `before: no request ${f.before} in the log`, 'before');
      q = q.where((eb) => eb.or([eb('created_at', '<', c.created_at), eb.and([eb('created_at', '=', c.created_at), eb('id', '<', c.id)])]));
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    return { data: rows.slice(0, limit).map(fromRow), has_more: rows.length > limit };
  }
}
