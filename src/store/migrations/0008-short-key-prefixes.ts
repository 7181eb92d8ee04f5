/**
 * Key prefixes shown in lists and errors keep at most 4 characters of a key's secret part: `sk-mf-` + 4 for
 * generated keys (unchanged: that is what they stored), the first 4 characters for a key of another form (an admin
 * key given by MODELFAB_ADMIN_KEY stored its first 10: most of a 16-character key). The full key was never stored,
 * so a prefix can only be cut, not restored: `down` leaves the short prefixes.
 */
import { sql, type Kysely, type Migration } from 'kysely';

const MARKER = 'sk-mf-';
const SECRET_CHARS = 4;

/** The prefix a stored prefix is cut to (a pure function of the stored prefix, so the migration is idempotent). */
export function shortPrefix(prefix: string): string {
  return prefix.startsWith(MARKER) ? prefix.slice(0, MARKER.length + SECRET_CHARS) : prefix.slice(0, SECRET_CHARS);
}

export const shortKeyPrefixes: Migration = {
  async up(db: Kysely<unknown>) {
    const rows = await sql<{ id: string; prefix: string }>`select id, prefix from api_keys`.execute(db);
    for (const r of rows.rows) {
      const p = shortPrefix(r.prefix);
      if (p !== r.prefix) await sql`update api_keys set prefix = ${p} where id = ${r.id}`.execute(db);
    }
  },
  async down() {
    // the cut characters are gone: nothing to restore
  },
};
