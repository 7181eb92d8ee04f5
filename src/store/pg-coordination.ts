/**
 * Coordination (coordination.ts) over PostgreSQL, on one dedicated connection:
 *   - presence: a session advisory lock (classid "server" of this schema, objid a hash of the owner id), held
 *     while the connection lives, so PostgreSQL itself releases it when the server dies (kill -9 closes its
 *     socket); `alive(other)` tries that lock: taken means nobody holds it (released at once), so the other is gone;
 *   - leadership: a session advisory lock (classid "leader" of this schema) taken with pg_try_advisory_lock;
 *   - notices: LISTEN/NOTIFY on a channel of this schema.
 * The lock keys include the schema, so servers (and tests) on other schemas of the same database never meet.
 * A lost connection drops leadership and presence with it; the next `lead()` reconnects and joins again.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Coordination } from './coordination.ts';

/** A signed 32-bit key from text (advisory lock keys are int4 pairs). */
export function lockKey(text: string): number {
  return createHash('sha256').update(text).digest().readInt32BE(0);
}

export interface PgCoordinationOptions {
  /** The connection string (the database's URL without modelfab's own `schema` parameter). */
  connectionString: string;
  /** The schema the Store's tables are in (null: the default one). */
  schema: string | null;
}

export function pgCoordination(o: PgCoordinationOptions): Coordination {
  const space = o.schema ?? 'public';
  const serverClass = lockKey(`modelfab/server/${space}`);
  const leaderClass = lockKey(`modelfab/leader/${space}`);
  const channel = `modelfab_jobs_${(lockKey(space) >>> 0).toString(16)}`;
  const listeners: Array<() => void> = [];
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let owner: string | null = null;
  let leader = false;
  let closed = false;

  const lost = (c: pg.Client) => {
    if (client !== c) return;
    client = null;
    leader = false;
    c.end().catch(() => {});
  };

  const connect = (): Promise<pg.Client> => {
    if (client) return Promise.resolve(client);
    connecting ??= (async () => {
      const c = new pg.Client({ connectionString: o.connectionString });
      c.on('error', () => lost(c));
      c.on('end', () => lost(c));
      c.on('notification', (n) => { if (n.channel === channel) for (const fn of listeners) fn(); });
      await c.connect();
      try {
        if (owner) await c.query('select pg_advisory_lock($1, $2)', [serverClass, lockKey(owner)]);
        await c.query(`listen ${channel}`);
      } catch (e) {
        await c.end().catch(() => {});
        throw e;
      }
      client = c;
      return c;
    })().finally(() => { connecting = null; });
    return connecting;
  };

  return {
    kind: 'postgres advisory locks',
    shared: true,
    async join(id) {
      owner = id;
      // a new connection takes the presence lock itself; one opened before (by lead or alive) takes it here
      if (client) await client.query('select pg_advisory_lock($1, $2)', [serverClass, lockKey(id)]);
      else await connect();
    },
    async lead() {
      if (closed) return false;
      if (leader && client) return true;
      let c: pg.Client;
      try { c = await connect(); } catch { return false; }
      const r = await c.query<{ got: boolean }>('select pg_try_advisory_lock($1, 0) as got', [leaderClass]).catch(() => null);
      leader = r?.rows[0]?.got === true && client === c;
      return leader;
    },
    async resign() {
      if (!leader || !client) { leader = false; return; }
      leader = false;
      await client.query('select pg_advisory_unlock($1, 0)', [leaderClass]).catch(() => {});
    },
    async alive(other) {
      if (other === owner) return true;
      let c: pg.Client;
      try { c = await connect(); } catch { return undefined; }
      const key = lockKey(other);
      const r = await c.query<{ got: boolean }>('select pg_try_advisory_lock($1, $2) as got', [serverClass, key]).catch(() => null);
      if (!r) return undefined;
      if (r.rows[0]?.got) {
        await c.query('select pg_advisory_unlock($1, $2)', [serverClass, key]).catch(() => {});
        return false;
      }
      return true;
    },
    notify() {
      if (!client) { for (const fn of listeners) fn(); return; }
      client.query(`notify ${channel}`).catch(() => {});
    },
    onNotice(fn) { listeners.push(fn); },
    async close() {
      closed = true;
      leader = false;
      listeners.length = 0;
      const c = client;
      client = null;
      if (c) await c.end().catch(() => {});
    },
  };
}
