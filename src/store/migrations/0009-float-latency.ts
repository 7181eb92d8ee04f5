/**
 * A request's guard time (`control_responses.latency_ms`) was declared `real`: 8 bytes in SQLite, but 4 in
 * PostgreSQL, where 12.345 would read back as 12.3450002670288. On PostgreSQL it becomes `double precision`;
 * SQLite is left as it is (its REAL already is).
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationContext } from './all-migrations.ts';

export function floatLatency(ctx: MigrationContext): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (ctx.dialect === 'postgres') await sql`alter table control_responses alter column latency_ms type double precision`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      if (ctx.dialect === 'postgres') await sql`alter table control_responses alter column latency_ms type real`.execute(db);
    },
  };
}
