/**
 * Where the Store lives, from what a user names: nothing (SQLite in the data folder, the default) or a
 * `postgres://` / `postgresql://` URL (`--database`, `MODELFAB_DATABASE_URL`). Pure functions over strings.
 *
 * A URL may carry `?schema=<name>`: the Store's tables live in that schema (created when missing), so several
 * installations, or test runs, share one database. Passwords never leave this file in a message: every error and
 * log line names a database by `redactDatabaseUrl`.
 */
import { StatusError } from '../util/status-error.ts';

export type DatabaseTarget =
  | { kind: 'sqlite' }
  | { kind: 'postgres'; url: string; schema: string | null };

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

/** The URL with its password (and any `password=` parameter) replaced by `***`; text that is no URL by a placeholder. */
export function redactDatabaseUrl(url: string): string {
  let u: URL;
  try { u = new URL(url); } catch { return '<database URL that does not parse>'; }
  if (u.password) u.password = '***';
  for (const k of [...u.searchParams.keys()]) if (/pass/i.test(k)) u.searchParams.set(k, '***');
  return u.toString();
}

/** The database a server opens: `spec` (a flag or the environment's value); empty or absent means SQLite. */
export function databaseTarget(spec: string | null | undefined): DatabaseTarget {
  const s = (spec ?? '').trim();
  if (s === '' || s === 'sqlite') return { kind: 'sqlite' };
  let u: URL;
  try { u = new URL(s); } catch {
    throw new StatusError(400, `database: expected a postgres:// URL (or nothing for SQLite in the data folder), got ${JSON.stringify(redactDatabaseUrl(s))}`, { param: 'database' });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new StatusError(400, `database: only postgres:// URLs are supported (SQLite needs none), got ${u.protocol}//`, { param: 'database' });
  }
  const schema = u.searchParams.get('schema');
  if (schema !== null && !SCHEMA.test(schema)) {
    throw new StatusError(400, `database: schema must be lower-case letters, digits and _ (at most 63), got ${JSON.stringify(schema)}`, { param: 'database' });
  }
  u.searchParams.delete('schema');
  return { kind: 'postgres', url: u.toString(), schema };
}
