/**
 * Named guard policies (`guard_policies`): stored as the JSON a client sent, parsed by the guard when loaded
 * (guard-runtime.ts re-parses only when the stored text changed).
 */
import type { Kysely } from 'kysely';

export interface GuardPoliciesTable { name: string; policy: string; updated_at: number }

/** The table this file owns (migration 0004). */
export interface GuardPolicyTables { guard_policies: GuardPoliciesTable }

/** A stored guard policy (GET /v1/guard/policies): the policy as it was put, `updated_at` in seconds. */
export interface GuardPolicyEntry { name: string; updated_at: number; policy: unknown }

export class GuardPolicyStore {
  constructor(private readonly db: Kysely<GuardPolicyTables>, private readonly now: () => number = Date.now) {}

  async putPolicy(name: string, policy: unknown): Promise<void> {
    await this.db.insertInto('guard_policies').values({ name, policy: JSON.stringify(policy), updated_at: this.now() })
      .onConflict((oc) => oc.column('name').doUpdateSet({ policy: JSON.stringify(policy), updated_at: this.now() })).execute();
  }
  async getPolicy(name: string): Promise<unknown | null> {
    const r = await this.db.selectFrom('guard_policies').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? JSON.parse(r.policy) : null;
  }
  /** The stored policy as JSON text, for caches that re-parse only when it changed. */
  async getPolicyText(name: string): Promise<string | null> {
    const r = await this.db.selectFrom('guard_policies').select('policy').where('name', '=', name).executeTakeFirst();
    return r ? r.policy : null;
  }
  async listPolicies(): Promise<GuardPolicyEntry[]> {
    return (await this.db.selectFrom('guard_policies').selectAll().orderBy('name').execute()).map((r) => ({ name: r.name, updated_at: Math.floor(Number(r.updated_at) / 1000), policy: JSON.parse(r.policy) }));
  }
  async deletePolicy(name: string): Promise<boolean> {
    return Number((await this.db.deleteFrom('guard_policies').where('name', '=', name).executeTakeFirst()).numDeletedRows) > 0;
  }
}
