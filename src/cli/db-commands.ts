/**
 * `modelfab db copy` (local): moves an installation from its data folder's SQLite database into PostgreSQL, checked
 * by per-table row counts and checksums (src/store/db-copy.ts). The data folder stays where it is: servers started
 * with `--data <the folder> --database <the URL>` use the copied rows and the folder's artifacts and job folders.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { copyDatabase } from '../store/db-copy.ts';
import { databaseTarget, redactDatabaseUrl } from '../store/database-url.ts';
import { openPostgresDatabase } from '../store/postgres.ts';
import { openSqliteDatabase } from '../store/sqlite.ts';
import { table } from './tables.ts';

export function registerDb(program: Command): void {
  const db = program.command('db').description('local: the database under a data folder (SQLite) and PostgreSQL');
  db.command('copy')
    .description('local: copy a data folder\'s SQLite database into an empty PostgreSQL database, checked by per-table counts and checksums')
    .requiredOption('--from <dir>', 'the data folder whose modelfab.db is copied (migrated to this version first)')
    .requiredOption('--to <url>', 'an empty PostgreSQL database: postgres://user:password@host:5432/db, ?schema=<name> optional')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nThen run every server with --data <the same folder, on a path they all see> --database <the URL>.\n' +
      '之后每台服务器都用 --data <同一数据目录（各服务器都能访问的路径）> --database <该 URL> 启动。')
    .action((o: DbCopyOptions) => dbCopy(o, (text) => process.stdout.write(text)));
}

export interface DbCopyOptions { from: string; to: string; json?: boolean }

/** The command's work, printing through `write`: throws (nothing copied, or a copy that does not match) on failure. */
export async function dbCopy(o: DbCopyOptions, write: (text: string) => void): Promise<void> {
  const dir = resolve(o.from);
  const file = join(dir, 'modelfab.db');
  if (!existsSync(file)) throw new Error(`--from: ${file} does not exist (a data folder holds modelfab.db)`);
  if (databaseTarget(o.to).kind !== 'postgres') throw new Error('--to: a postgres:// URL is required');
  const src = await openSqliteDatabase(file);
  try {
    const dst = await openPostgresDatabase(o.to, { root: dir });
    try {
      const report = await copyDatabase(src.db, dst.db);
      if (o.json) write(`${JSON.stringify({ from: file, to: redactDatabaseUrl(o.to), ...report })}\n`);
      else {
        const rows = report.tables.map((t) => [t.table, String(t.rows), String(t.target_rows), t.checksum.slice(0, 16), t.ok ? 'ok' : 'MISMATCH']);
        write(`${table(['table', 'rows', 'copied', 'checksum', ''], rows).join('\n')}\n\n` +
          `${report.ok ? 'copied' : 'NOT copied faithfully'}: ${file} -> ${redactDatabaseUrl(o.to)} (${report.tables.reduce((a, t) => a + t.rows, 0)} rows)\n`);
      }
      if (!report.ok) throw new Error('the copy does not match its source (see the table above); the target database is not fit for use');
    } finally { await dst.store.close(); }
  } finally { await src.store.close(); }
}
