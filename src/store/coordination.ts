/**
 * How the servers that share one database agree on who acts: the seam the scheduler uses to run on several servers.
 *
 *   - presence: each server `join`s under its owner id ("host/pid/nonce", the id its job leases carry) and holds
 *     that presence while it lives; `alive(owner)` tells whether another server still does, so a dead server's
 *     jobs are adopted at once instead of after their leases expire;
 *   - leadership: at most one server at a time `lead`s (places queued jobs, adopts orphans); when it dies or
 *     resigns, another takes over on its next try;
 *   - notices: `notify()` tells every server that jobs changed (a job submitted to a server that does not lead
 *     reaches the leader at once), `onNotice` subscribes.
 *
 * Two implementations: `soleCoordination` (SQLite: one server, always the leader, nobody to tell) and
 * `pg-coordination.ts` (PostgreSQL advisory locks held by one connection, LISTEN/NOTIFY).
 */
export interface Coordination {
  /** What this is, for logs and `modelfab info`: "sole" or "postgres advisory locks". */
  readonly kind: string;
  /** Whether other servers may share the database (then each watches the jobs the others run). */
  readonly shared: boolean;
  /** Registers this server's presence under `owner` (held until close or the process dies). */
  join(owner: string): Promise<void>;
  /** Takes or keeps the leadership; false while another live server holds it. */
  lead(): Promise<boolean>;
  /** Gives the leadership up (a graceful stop), so another server takes over without waiting. */
  resign(): Promise<void>;
  /** Whether the server that joined as `owner` is still present; undefined when this coordination cannot tell. */
  alive(owner: string): Promise<boolean | undefined>;
  /** Tells every server (this one included) that jobs changed. */
  notify(): void;
  /** Calls `fn` on every notice. */
  onNotice(fn: () => void): void;
  close(): Promise<void>;
}

/** One server on its own database (SQLite): always the leader; presence and notices are this process's. */
export function soleCoordination(): Coordination {
  const listeners: Array<() => void> = [];
  return {
    kind: 'sole',
    shared: false,
    async join() {},
    async lead() { return true; },
    async resign() {},
    async alive() { return undefined; },
    notify() { for (const fn of listeners) fn(); },
    onNotice(fn) { listeners.push(fn); },
    async close() { listeners.length = 0; },
  };
}
