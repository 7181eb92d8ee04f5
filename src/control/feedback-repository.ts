/**
 * The feedback table (`feedback`, migration 0004) behind a small repository, on SQLite or PostgreSQL: the service
 * (`feedback.ts`) validates, reviews and exports; this file only stores and finds rows.
 * Guarantees: items are numbered in the order they were made (`seq`, taken again when a concurrent writer on another
 * connection took the same one); listings follow that order, a cursor (`after`: an id) continues it either way.
 */
import type { Kysely } from 'kysely';
import { retryOnUniqueViolation } from '../store/store.ts';

export interface FeedbackTable {
  id: string; seq: number; created_at: number; response_id: string | null; model: string | null; source: string; prompt: string;
  answer: string | null; label: string | null; rating: number | null; correction: string | null; preferred: string | null;
  annotator: string | null; status: string; reviewer: string | null; reviewed_at: number | null; note: string | null;
}

/** The table this file owns (migration 0004). */
export interface FeedbackTables { feedback: FeedbackTable }

/** What a listing asks for, already validated. */
export interface FeedbackRowFilter {
  status?: string; model?: string; annotator?: string; label?: string; kind?: 'rating' | 'label' | 'correction' | 'preference';
  after?: string; limit: number; order: 'asc' | 'desc';
}

export interface FeedbackRepository {
  /** Stores a new item with the next number; returns the row as stored. */
  insert(row: Omit<FeedbackTable, 'seq'>): Promise<FeedbackTable>;
  get(id: string): Promise<FeedbackTable | null>;
  list(f: FeedbackRowFilter): Promise<{ rows: FeedbackTable[]; has_more: boolean }>;
  update(id: string, patch: Partial<Pick<FeedbackTable, 'status' | 'reviewer' | 'reviewed_at' | 'note' | 'correction'>>): Promise<void>;
  /** Items with `status` (or, `exclude`, every status but it), optionally of one model, in order. */
  byStatus(status: string, o: { exclude?: boolean; model?: string }): Promise<FeedbackTable[]>;
}

const INTS = ['seq', 'created_at', 'rating', 'reviewed_at'] as const;
const fix = (r: FeedbackTable): FeedbackTable => {
  for (const k of INTS) if (r[k] !== null) (r as unknown as Record<string, number>)[k] = Number(r[k]);
  return r;
};

export function kyselyFeedbackRepository(db: Kysely<FeedbackTables>): FeedbackRepository {
  return {
    insert: (row) => retryOnUniqueViolation(() => db.transaction().execute(async (tx) => {
      const last = await tx.selectFrom('feedback').select((eb) => eb.fn.max('seq').as('m')).executeTakeFirst();
      const stored: FeedbackTable = { ...row, seq: Number(last?.m ?? 0) + 1 };
      await tx.insertInto('feedback').values(stored).execute();
      return stored;
    })),
    async get(id) {
      const r = await db.selectFrom('feedback').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? fix(r) : null;
    },
    async list(f) {
      let q = db.selectFrom('feedback').selectAll();
      if (f.status) q = q.where('status', '=', f.status);
      if (f.model) q = q.where('model', '=', f.model);
      if (f.annotator) q = q.where('annotator', '=', f.annotator);
      if (f.label) q = q.where('label', '=', f.label);
      if (f.kind === 'rating') q = q.where('rating', 'is not', null);
      if (f.kind === 'label') q = q.where('label', 'is not', null);
      if (f.kind === 'correction') q = q.where('correction', 'is not', null);
      if (f.kind === 'preference') q = q.where('preferred', 'is not', null);
      const desc = f.order === 'desc';
      if (f.after) {
        const a = await db.selectFrom('feedback').select('seq').where('id', '=', f.after).executeTakeFirst();
        if (a) q = q.where('seq', desc ? '<' : '>', a.seq);
      }
      const rows = await q.orderBy('seq', desc ? 'desc' : 'asc').limit(f.limit + 1).execute();
      return { rows: rows.slice(0, f.limit).map(fix), has_more: rows.length > f.limit };
    },
    async update(id, patch) { await db.updateTable('feedback').set(patch).where('id', '=', id).execute(); },
    async byStatus(status, o) {
      let q = db.selectFrom('feedback').selectAll().where('status', o.exclude ? '!=' : '=', status);
      if (o.model) q = q.where('model', '=', o.model);
      return (await q.orderBy('seq').execute()).map(fix);
    },
  };
}
