/**
 * Emoti Coach in the Store's database (migration 0009): the organisation's scenarios (`coach_scenarios`, the
 * validated JSON) and practice sessions (`coach_sessions`: the scenario as it was at the start, the turns with
 * their judgements, the session's judgement and score).
 */
import type { Kysely } from 'kysely';
import type { Scenario } from './coach-scenario.ts';
import type { SessionJudgement, Turn } from './coach-judge.ts';

export interface CoachScenariosTable { id: string; created_at: number; updated_at: number; scenario: string; created_by: string | null }
export interface CoachSessionsTable {
  id: string; key_id: string | null; created_at: number; updated_at: number; scenario_id: string; scenario: string; persona_model: string; judge_model: string;
  status: string; turns: string; judgement: string | null; score: number | null;
}
/** The tables this stage owns. */
export interface CoachTables { coach_scenarios: CoachScenariosTable; coach_sessions: CoachSessionsTable }

export interface CoachSession {
  id: string;
  object: 'coach.session';
  created_at: number;
  updated_at: number;
  key_id: string | null;
  scenario: Scenario;
  persona_model: string;
  judge_model: string;
  status: 'active' | 'finished';
  turns: Turn[];
  judgement: SessionJudgement | null;
  /** 0..100 once finished. */
  score: number | null;
}

const toRow = (s: CoachSession): CoachSessionsTable => ({
  id: s.id, key_id: s.key_id, created_at: s.created_at, updated_at: s.updated_at, scenario_id: s.scenario.id, scenario: JSON.stringify(s.scenario),
  persona_model: s.persona_model, judge_model: s.judge_model, status: s.status, turns: JSON.stringify(s.turns), judgement: s.judgement ? JSON.stringify(s.judgement) : null, score: s.score,
});
const fromRow = (r: CoachSessionsTable): CoachSession => ({
  id: r.id, object: 'coach.session', created_at: Number(r.created_at), updated_at: Number(r.updated_at), key_id: r.key_id, scenario: JSON.parse(r.scenario),
  persona_model: r.persona_model, judge_model: r.judge_model, status: r.status as CoachSession['status'], turns: JSON.parse(r.turns),
  judgement: r.judgement ? JSON.parse(r.judgement) : null, score: r.score === null ? null : Number(r.score),
});

export class CoachRepository {
  constructor(private readonly db: Kysely<CoachTables>) {}

  async putScenario(s: Scenario, by: string | null, now: number): Promise<void> {
    const json = JSON.stringify(s);
    await this.db.insertInto('coach_scenarios').values({ id: s.id, created_at: now, updated_at: now, scenario: json, created_by: by })
      .onConflict((oc) => oc.column('id').doUpdateSet({ scenario: json, updated_at: now })).execute();
  }

  async scenarios(): Promise<Scenario[]> {
    return (await this.db.selectFrom('coach_scenarios').select('scenario').orderBy('id').execute()).map((r) => JSON.parse(r.scenario) as Scenario);
  }

  async deleteScenario(id: string): Promise<boolean> {
    return Number((await this.db.deleteFrom('coach_scenarios').where('id', '=', id).executeTakeFirst()).numDeletedRows) > 0;
  }

  async insertSession(s: CoachSession): Promise<void> {
    await this.db.insertInto('coach_sessions').values(toRow(s)).execute();
  }

  /** Writes the session if it is still as it was read (`before`: its updated_at then); false when another request changed it meanwhile. */
  async updateSession(s: CoachSession, before: number): Promise<boolean> {
    const { id, key_id: _k, created_at: _c, ...rest } = toRow(s);
    const r = await this.db.updateTable('coach_sessions').set(rest).where('id', '=', id).where('updated_at', '=', before).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async session(id: string): Promise<CoachSession | null> {
    const r = await this.db.selectFrom('coach_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? fromRow(r) : null;
  }

  /** Oldest first (progress reads in time order); `keyId` undefined: every key's. */
  async sessions(f: { keyId?: string; scenario?: string; status?: CoachSession['status']; limit?: number }): Promise<CoachSession[]> {
    let q = this.db.selectFrom('coach_sessions').selectAll();
    if (f.keyId !== undefined) q = q.where('key_id', '=', f.keyId);
    if (f.scenario) q = q.where('scenario_id', '=', f.scenario);
    if (f.status) q = q.where('status', '=', f.status);
    return (await q.orderBy('created_at', 'asc').orderBy('id', 'asc').limit(Math.max(1, Math.min(1000, f.limit ?? 200))).execute()).map(fromRow);
  }
}
