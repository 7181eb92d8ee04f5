/**
 * Moving an installation up: every table of one database copied into another (a data folder's SQLite into
 * PostgreSQL), checked by per-table row counts and checksums read back from both sides.
 *
 * 1. Both databases are migrated to this version's schema (the source first: an older folder's file gains the newer
 *    tables and columns, as a server start would do), so the two have the same tables and columns.
 * 2. The target must hold no rows in any table: a copy never merges into a used database.
 * 3. Every table the Store knows (`COPY_TABLES`, parents before children) is read in batches in its key order and
 *    written to the target inside one transaction: all or nothing. A source table missing from that list stops the
 *    copy before anything is written (a newer migration this list does not know yet).
 * 4. Each table's rows are read back from both sides and summarised as a count and a checksum: SHA-256 of the sorted
 *    SHA-256s of the rows as canonical JSON (keys sorted), so neither side's sort order or collation matters.
 * Rows are copied as stored: paths inside the data folder are stored relative to it, so the target's servers use
 * the same data folder (artifacts and job folders stay there).
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';

/** Every table of the Store, parents before children, with its key (the order rows are read in). */
export const COPY_TABLES: ReadonlyArray<{ table: string; key: readonly string[] }> = [
  { table: 'files', key: ['id'] },
  { table: 'datasets', key: ['id'] },
  { table: 'dataset_versions', key: ['id'] },
  { table: 'api_keys', key: ['id'] },
  { table: 'models', key: ['id'] },
  { table: 'deployments', key: ['id'] },
  { table: 'routes', key: ['id'] },
  { table: 'usage', key: ['key_id', 'model', 'day'] },
  { table: 'experiments', key: ['id'] },
  { table: 'jobs', key: ['id'] },
  { table: 'job_events', key: ['seq'] },
  { table: 'feedback', key: ['id'] },
  { table: 'control_responses', key: ['id'] },
  { table: 'guard_policies', key: ['name'] },
  { table: 'knowledge_bases', key: ['id'] },
  { table: 'knowledge_documents', key: ['kb_id', 'id'] },
  { table: 'knowledge_items', key: ['kb_id', 'id'] },
  { table: 'knowledge_item_versions', key: ['kb_id', 'seq'] },
  { table: 'knowledge_chunks', key: ['kb_id', 'ordinal'] },
  { table: 'knowledge_vectors', key: ['kb_id', 'model'] },
  { table: 'bots', key: ['name'] },
  { table: 'bot_pairs', key: ['bot', 'id'] },
  { table: 'bot_pair_history', key: ['bot', 'seq'] },
  { table: 'bot_versions', key: ['bot', 'version'] },
  { table: 'bot_reports', key: ['bot', 'id'] },
  { table: 'bot_approvals', key: ['bot', 'seq'] },
  { table: 'writer_documents', key: ['id'] },
  { table: 'coach_scenarios', key: ['id'] },
  { table: 'coach_sessions', key: ['id'] },
  { table: 'rate_windows', key: ['key_id', 'minute'] },
];

/** Rows read and written per statement. */
const BATCH = 500;

export interface TableSummary { table: string; rows: number; checksum: string }
export interface CopyReport { tables: Array<TableSummary & { target_rows: number; target_checksum: string; ok: boolean }>; ok: boolean }

type AnyDb = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the copy reads every table by name, typed by none

/** A row as canonical JSON: keys sorted, bigint and numeric strings of integer columns as numbers. */
export function canonicalRow(row: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(row).sort()) out[k] = typeof row[k] === 'bigint' ? Number(row[k]) : row[k];
  return JSON.stringify(out);
}

/** SHA-256 of the sorted SHA-256s of the rows: the same for the same rows in any order. */
export function tableChecksum(rows: readonly Record<string, unknown>[]): string {
  const hashes = rows.map((r) => createHash('sha256').update(canonicalRow(r)).digest('hex')).sort();
  const h = createHash('sha256');
  for (const x of hashes) h.update(x);
  return h.digest('hex');
}

async function* batches(db: AnyDb, table: string, key: readonly string[]): AsyncGenerator<Record<string, unknown>[]> {
  for (let offset = 0; ; offset += BATCH) {
    let q = db.selectFrom(table).selectAll();
    for (const k of key) q = q.orderBy(k);
    const rows = await q.limit(BATCH).offset(offset).execute() as Record<string, unknown>[];
    if (rows.length) yield rows;
    if (rows.length < BATCH) return;
  }
}

export async function summarise(db: AnyDb, table: string, key: readonly string[]): Promise<TableSummary> {
  const all: Record<string, unknown>[] = [];
  for await (const b of batches(db, table, key)) all.push(...b);
  return { table, rows: all.length, checksum: tableChecksum(all) };
}

/** The Store's tables the database holds (not the migrator's own). */
async function tablesOf(db: AnyDb): Promise<string[]> {
  return (await db.introspection.getTables()).map((t) => t.name).filter((n) => !n.startsWith('kysely_'));
}

export class CopyError extends Error {}

/**
 * Copies every table of `from` into `to` (both migrated already) and compares the two. Throws `CopyError` before
 * writing anything when the target holds rows or the source has a table this version does not know.
 */
export async function copyDatabase(from: AnyDb, to: AnyDb, onTable: (t: TableSummary) => void = () => {}): Promise<CopyReport> {
  const known = new Set(COPY_TABLES.map((t) => t.table));
  const unknown = (await tablesOf(from)).filter((t) => !known.has(t));
  if (unknown.length) throw new CopyError(`the source has tables this version of modelfab does not copy: ${unknown.join(', ')}`);
  for (const { table } of COPY_TABLES) {
    const r = await to.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    if (Number(r.n) > 0) throw new CopyError(`the target database already holds ${Number(r.n)} rows in ${table}: copy into an empty database (or a new ?schema=)`);
  }
  await to.transaction().execute(async (tx) => {
    for (const { table, key } of COPY_TABLES) {
      for await (const rows of batches(from, table, key)) await tx.insertInto(table).values(rows).execute();
    }
  });
  const tables: CopyReport['tables'] = [];
  for (const { table, key } of COPY_TABLES) {
    const a = await summarise(from, table, key);
    const b = await summarise(to, table, key);
    onTable(a);
    tables.push({ ...a, target_rows: b.rows, target_checksum: b.checksum, ok: a.rows === b.rows && a.checksum === b.checksum });
  }
  return { tables, ok: tables.every((t) => t.ok) };
}
