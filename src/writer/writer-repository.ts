/**
 * Writer documents in the Store's database (table `writer_documents`, migration 0009): one row per document, its
 * sections, sources and pictures as JSON. Listing is per key (an admin lists all), newest first.
 */
import type { Kysely } from 'kysely';
import type { WriterDocument } from './writer-document.ts';

export interface WriterDocumentsTable {
  id: string; key_id: string | null; created_at: number; updated_at: number; title: string; model: string; knowledge: string | null;
  style: string; status: string; sections: string; images: string; error: string | null;
}
/** The tables this stage owns. */
export interface WriterTables { writer_documents: WriterDocumentsTable }

/** The parts kept in the `sections` JSON beside the sections themselves. */
interface SectionsJson { sections: WriterDocument['sections']; sources: WriterDocument['sources']; brief: string; usage: WriterDocument['usage'] }

const toRow = (d: WriterDocument, keyId: string | null): WriterDocumentsTable => ({
  id: d.id, key_id: keyId, created_at: d.created_at, updated_at: d.updated_at, title: d.title, model: d.model, knowledge: d.knowledge,
  style: JSON.stringify(d.style), status: d.status, images: JSON.stringify(d.images), error: d.error,
  sections: JSON.stringify({ sections: d.sections, sources: d.sources, brief: d.brief, usage: d.usage } satisfies SectionsJson),
});

const fromRow = (r: WriterDocumentsTable): WriterDocument & { key_id: string | null } => {
  const s = JSON.parse(r.sections) as SectionsJson;
  return {
    id: r.id, object: 'writer.document', created_at: Number(r.created_at), updated_at: Number(r.updated_at), title: r.title, brief: s.brief, model: r.model,
    knowledge: r.knowledge, style: JSON.parse(r.style), status: r.status as WriterDocument['status'], sections: s.sections, sources: s.sources,
    images: JSON.parse(r.images), error: r.error, usage: s.usage, key_id: r.key_id,
  };
};

export class WriterRepository {
  constructor(private readonly db: Kysely<WriterTables>) {}

  async insert(d: WriterDocument, keyId: string | null): Promise<void> {
    await this.db.insertInto('writer_documents').values(toRow(d, keyId)).execute();
  }

  async update(d: WriterDocument): Promise<void> {
    const { key_id: _k, id, created_at: _c, ...rest } = toRow(d, null);
    await this.db.updateTable('writer_documents').set(rest).where('id', '=', id).execute();
  }

  async get(id: string): Promise<(WriterDocument & { key_id: string | null }) | null> {
    const r = await this.db.selectFrom('writer_documents').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? fromRow(r) : null;
  }

  /** Newest first; `keyId` undefined lists every key's. */
  async list(keyId: string | undefined, limit = 50): Promise<WriterDocument[]> {
    let q = this.db.selectFrom('writer_documents').selectAll();
    if (keyId !== undefined) q = q.where('key_id', '=', keyId);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(Math.max(1, Math.min(200, limit))).execute();
    return rows.map((r) => { const { key_id: _k, ...d } = fromRow(r); return d; });
  }

  async delete(id: string): Promise<boolean> {
    return Number((await this.db.deleteFrom('writer_documents').where('id', '=', id).executeTakeFirst()).numDeletedRows) > 0;
  }
}
