/**
 * Knowledge storage in the product's database (SQLite or PostgreSQL), so several servers share it: the
 * `KnowledgeRepository` of `knowledge-repository.ts` over the tables of migration 0010, with blobs in the artifact
 * store. Each record is one row, its JSON beside the columns lists are ordered by:
 *     knowledge_bases           the knowledge base, its lexicon, whether chunks were written
 *     knowledge_documents       document records, in the order they were (last) put; originals: artifact
 *                               `knowledge-blobs/<kb>/originals/<doc>`
 *     knowledge_items           current items (latest version of each)
 *     knowledge_item_versions   every change of every item, numbered per knowledge base
 *     knowledge_chunks          derived: chunks of the last rebuild, in order
 *     knowledge_vectors         derived: the chunk ids and dims of a model's embeddings; the float32 rows are the
 *                               artifact `knowledge-blobs/<kb>/vectors-<model>.bin`
 * Guarantees: the behaviour of the file repository it replaces (same orders, same 400 for an unsafe id, null for
 * what is absent); a change of items writes its versions and the items in one transaction, so the history is never
 * behind the current state; a blob is written before the row that names it. Nothing is cached in the process: a
 * second server sees every change at once.
 *
 * `importKnowledgeFolder` moves an older data folder's `knowledge/` (the file repository's layout) into the tables
 * on start: each knowledge base in one transaction, skipped when its row exists (imported before, or by another
 * server); once every one is committed the folder is renamed `knowledge.imported-json/`, kept as a backup.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import type { ArtifactStore } from '../store/artifacts.ts';
import { isUniqueViolation, retryOnUniqueViolation } from '../store/store.ts';
import type { Chunk, DocumentRecord, ItemVersion, KnowledgeBase, KnowledgeItem } from './knowledge-types.ts';
import { FileKnowledgeRepository, type KnowledgeRepository, type StoredVectors } from './knowledge-repository.ts';
import { StatusError } from '../util/status-error.ts';
import { retireImportedFolder } from '../store/legacy-folders.ts';

export interface KnowledgeTables {
  knowledge_bases: { id: string; data: string; lexicon: string | null; chunks_built: number };
  knowledge_documents: { kb_id: string; id: string; seq: number; data: string; original_key: string };
  knowledge_items: { kb_id: string; id: string; doc_id: string; ordinal: number; data: string };
  knowledge_item_versions: { kb_id: string; seq: number; item_id: string; data: string };
  knowledge_chunks: { kb_id: string; ordinal: number; data: string };
  knowledge_vectors: { kb_id: string; model: string; dims: number; ids: string; blob_key: string };
}

type Db = Kysely<KnowledgeTables> | Transaction<KnowledgeTables>;

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
/** Rows per INSERT (well under SQLite's and PostgreSQL's limits on bound values). */
const BATCH = 200;

function checkKb(kbId: string): string {
  if (!SAFE_ID.test(kbId)) throw new StatusError(400, `invalid knowledge base id: ${JSON.stringify(kbId)}`);
  return kbId;
}

const blobPrefix = (kbId: string) => `knowledge-blobs/${kbId}`;
const vectorKey = (kbId: string, model: string) => `${blobPrefix(kbId)}/vectors-${model.replace(/[^A-Za-z0-9_.-]+/g, '_')}.bin`;

const byDocThenOrdinal = (a: KnowledgeItem, b: KnowledgeItem) => (a.docId === b.docId ? a.ordinal - b.ordinal : a.docId < b.docId ? -1 : 1);

async function insertBatched<T extends keyof KnowledgeTables>(db: Db, table: T, rows: KnowledgeTables[T][]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) await db.insertInto(table).values(rows.slice(i, i + BATCH) as never).execute();
}

async function nextSeq(db: Db, table: 'knowledge_documents' | 'knowledge_item_versions', kbId: string): Promise<number> {
  const r = await db.selectFrom(table).select((eb) => eb.fn.max('seq').as('m')).where('kb_id', '=', kbId).executeTakeFirst();
  return Number(r?.m ?? 0) + 1;
}

export class TableKnowledgeRepository implements KnowledgeRepository {
  constructor(private readonly db: Kysely<KnowledgeTables>, private readonly artifacts: ArtifactStore) {}

  async listKbs(): Promise<KnowledgeBase[]> {
    const rows = await this.db.selectFrom('knowledge_bases').select(['id', 'data']).execute();
    return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((r) => JSON.parse(r.data) as KnowledgeBase);
  }

  async getKb(id: string): Promise<KnowledgeBase | null> {
    const r = await this.db.selectFrom('knowledge_bases').select('data').where('id', '=', checkKb(id)).executeTakeFirst();
    return r ? (JSON.parse(r.data) as KnowledgeBase) : null;
  }

  async putKb(kb: KnowledgeBase): Promise<void> {
    const data = JSON.stringify(kb);
    await this.db.insertInto('knowledge_bases').values({ id: checkKb(kb.id), data, lexicon: null, chunks_built: 0 })
      .onConflict((oc) => oc.column('id').doUpdateSet({ data })).execute();
  }

  async deleteKb(id: string): Promise<void> {
    checkKb(id);
    await this.db.transaction().execute(async (tx) => {
      for (const t of ['knowledge_vectors', 'knowledge_chunks', 'knowledge_item_versions', 'knowledge_items', 'knowledge_documents'] as const) {
        await tx.deleteFrom(t).where('kb_id', '=', id).execute();
      }
      await tx.deleteFrom('knowledge_bases').where('id', '=', id).execute();
    });
    for (const key of await this.artifacts.list(blobPrefix(id))) await this.artifacts.delete(key);
  }

  async listDocuments(kbId: string): Promise<DocumentRecord[]> {
    const rows = await this.db.selectFrom('knowledge_documents').select('data').where('kb_id', '=', checkKb(kbId)).orderBy('seq').orderBy('id').execute();
    return rows.map((r) => JSON.parse(r.data) as DocumentRecord);
  }

  async putDocument(doc: DocumentRecord, original: Uint8Array): Promise<void> {
    checkKb(doc.kbId);
    if (!SAFE_ID.test(doc.id)) throw new StatusError(400, `invalid document id: ${doc.id}`);
    const key = `${blobPrefix(doc.kbId)}/originals/${doc.id}`;
    await this.artifacts.put(key, original);
    await this.writeDocument(this.db, doc, key);
  }

  private async writeDocument(db: Kysely<KnowledgeTables>, doc: DocumentRecord, key: string): Promise<void> {
    await retryOnUniqueViolation(() => db.transaction().execute(async (tx) => {
      const seq = await nextSeq(tx, 'knowledge_documents', doc.kbId);
      const data = JSON.stringify(doc);
      await tx.insertInto('knowledge_documents').values({ kb_id: doc.kbId, id: doc.id, seq, data, original_key: key })
        .onConflict((oc) => oc.columns(['kb_id', 'id']).doUpdateSet({ seq, data, original_key: key })).execute();
    }));
  }

  async getOriginal(kbId: string, docId: string): Promise<Uint8Array | null> {
    if (!SAFE_ID.test(docId)) return null;
    const r = await this.db.selectFrom('knowledge_documents').select('original_key').where('kb_id', '=', checkKb(kbId)).where('id', '=', docId).executeTakeFirst();
    if (!r) return null;
    try { return await this.artifacts.get(r.original_key); } catch { return null; }
  }

  async listItems(kbId: string): Promise<KnowledgeItem[]> {
    const rows = await this.db.selectFrom('knowledge_items').select('data').where('kb_id', '=', checkKb(kbId)).execute();
    return rows.map((r) => JSON.parse(r.data) as KnowledgeItem).sort(byDocThenOrdinal);
  }

  async getItem(kbId: string, itemId: string): Promise<KnowledgeItem | null> {
    const r = await this.db.selectFrom('knowledge_items').select('data').where('kb_id', '=', checkKb(kbId)).where('id', '=', itemId).executeTakeFirst();
    return r ? (JSON.parse(r.data) as KnowledgeItem) : null;
  }

  async putItems(kbId: string, changes: ItemVersion[]): Promise<void> {
    checkKb(kbId);
    if (!changes.length) return;
    await retryOnUniqueViolation(() => this.db.transaction().execute(async (tx) => {
      // 1. history first, 2. then the current state: one transaction, so neither is ever without the other
      const first = await nextSeq(tx, 'knowledge_item_versions', kbId);
      await insertBatched(tx, 'knowledge_item_versions', changes.map((c, i) => ({ kb_id: kbId, seq: first + i, item_id: c.itemId, data: JSON.stringify(c) })));
      const latest = new Map<string, KnowledgeItem>();
      for (const c of changes) latest.set(c.item.id, c.item);
      for (const item of latest.values()) {
        const data = JSON.stringify(item);
        await tx.insertInto('knowledge_items').values({ kb_id: kbId, id: item.id, doc_id: item.docId, ordinal: item.ordinal, data })
          .onConflict((oc) => oc.columns(['kb_id', 'id']).doUpdateSet({ doc_id: item.docId, ordinal: item.ordinal, data })).execute();
      }
    }));
  }

  async itemHistory(kbId: string, itemId: string): Promise<ItemVersion[]> {
    const rows = await this.db.selectFrom('knowledge_item_versions').select('data').where('kb_id', '=', checkKb(kbId)).where('item_id', '=', itemId).orderBy('seq').execute();
    return rows.map((r) => JSON.parse(r.data) as ItemVersion);
  }

  async putChunks(kbId: string, chunks: Chunk[]): Promise<number> {
    checkKb(kbId);
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('knowledge_chunks').where('kb_id', '=', kbId).execute();
      await insertBatched(tx, 'knowledge_chunks', chunks.map((c, i) => ({ kb_id: kbId, ordinal: i, data: JSON.stringify(c) })));
      // the revision: 1 on the first build, one more on each (its row is locked until this commits)
      await tx.updateTable('knowledge_bases').set((eb) => ({ chunks_built: eb('chunks_built', '+', 1) })).where('id', '=', kbId).execute();
      const r = await tx.selectFrom('knowledge_bases').select('chunks_built').where('id', '=', kbId).executeTakeFirst();
      return Number(r?.chunks_built ?? 0);
    });
  }

  async chunksRevision(kbId: string): Promise<number> {
    const kb = await this.db.selectFrom('knowledge_bases').select('chunks_built').where('id', '=', checkKb(kbId)).executeTakeFirst();
    return Number(kb?.chunks_built ?? 0);
  }

  async listChunks(kbId: string): Promise<Chunk[] | null> {
    const kb = await this.db.selectFrom('knowledge_bases').select('chunks_built').where('id', '=', checkKb(kbId)).executeTakeFirst();
    if (!kb || Number(kb.chunks_built) < 1) return null;
    const rows = await this.db.selectFrom('knowledge_chunks').select('data').where('kb_id', '=', kbId).orderBy('ordinal').execute();
    return rows.map((r) => JSON.parse(r.data) as Chunk);
  }

  async putVectors(kbId: string, v: StoredVectors): Promise<void> {
    const key = vectorKey(checkKb(kbId), v.model);
    await this.artifacts.put(key, new Uint8Array(v.vectors.buffer, v.vectors.byteOffset, v.vectors.byteLength));
    const row = { kb_id: kbId, model: v.model, dims: v.dims, ids: JSON.stringify(v.ids), blob_key: key };
    await this.db.insertInto('knowledge_vectors').values(row)
      .onConflict((oc) => oc.columns(['kb_id', 'model']).doUpdateSet({ dims: row.dims, ids: row.ids, blob_key: key })).execute();
  }

  async getVectors(kbId: string, model: string): Promise<StoredVectors | null> {
    const r = await this.db.selectFrom('knowledge_vectors').selectAll().where('kb_id', '=', checkKb(kbId)).where('model', '=', model).executeTakeFirst();
    if (!r) return null;
    let buf: Buffer;
    try { buf = await this.artifacts.get(r.blob_key); } catch { return null; }
    const ids = JSON.parse(r.ids) as string[];
    const dims = Number(r.dims);
    if (buf.byteLength !== ids.length * dims * 4) return null;
    return { model: r.model, dims, ids, vectors: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)) };
  }

  async getLexicon(kbId: string): Promise<string | null> {
    const r = await this.db.selectFrom('knowledge_bases').select('lexicon').where('id', '=', checkKb(kbId)).executeTakeFirst();
    return r?.lexicon ?? null;
  }

  async putLexicon(kbId: string, text: string): Promise<void> {
    const r = await this.db.updateTable('knowledge_bases').set({ lexicon: text }).where('id', '=', checkKb(kbId)).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new StatusError(404, `knowledge base ${kbId} not found`, { code: 'not_found' });
  }

  /**
   * Copies one knowledge base from another repository (an older folder's files) in one transaction: the record,
   * documents with their originals, items and their whole history, chunks, vectors and lexicon. False when a
   * knowledge base with that id is here already (nothing is changed).
   */
  async importKb(from: FileKnowledgeRepository, kb: KnowledgeBase): Promise<boolean> {
    if (await this.getKb(kb.id)) return false;
    const docs = await from.listDocuments(kb.id);
    const keys = new Map<string, string>();
    for (const d of docs) {
      const original = await from.getOriginal(kb.id, d.id);
      if (original === null) throw new Error(`knowledge import: ${kb.id}: the original of document ${d.id} is missing`);
      const key = `${blobPrefix(kb.id)}/originals/${d.id}`;
      await this.artifacts.put(key, original);
      keys.set(d.id, key);
    }
    const items = await from.listItems(kb.id);
    const history = await from.allHistory(kb.id);
    const chunks = await from.listChunks(kb.id);
    const vectors: StoredVectors[] = [];
    for (const model of chunks ? from.vectorModels(kb.id) : []) {
      const v = await from.getVectors(kb.id, model);
      if (v) { await this.artifacts.put(vectorKey(kb.id, v.model), new Uint8Array(v.vectors.buffer, v.vectors.byteOffset, v.vectors.byteLength)); vectors.push(v); }
    }
    const lexicon = await from.getLexicon(kb.id);
    try {
      await this.db.transaction().execute(async (tx) => {
        await tx.insertInto('knowledge_bases').values({ id: kb.id, data: JSON.stringify(kb), lexicon, chunks_built: chunks ? 1 : 0 }).execute();
        await insertBatched(tx, 'knowledge_documents', docs.map((d, i) => ({ kb_id: kb.id, id: d.id, seq: i + 1, data: JSON.stringify(d), original_key: keys.get(d.id)! })));
        await insertBatched(tx, 'knowledge_items', items.map((it) => ({ kb_id: kb.id, id: it.id, doc_id: it.docId, ordinal: it.ordinal, data: JSON.stringify(it) })));
        await insertBatched(tx, 'knowledge_item_versions', history.map((c, i) => ({ kb_id: kb.id, seq: i + 1, item_id: c.itemId, data: JSON.stringify(c) })));
        await insertBatched(tx, 'knowledge_chunks', (chunks ?? []).map((c, i) => ({ kb_id: kb.id, ordinal: i, data: JSON.stringify(c) })));
        for (const v of vectors) {
          await tx.insertInto('knowledge_vectors').values({ kb_id: kb.id, model: v.model, dims: v.dims, ids: JSON.stringify(v.ids), blob_key: vectorKey(kb.id, v.model) }).execute();
        }
      });
    } catch (e) {
      if (isUniqueViolation(e)) return false; // another server imported it first
      throw e;
    }
    return true;
  }
}

/**
 * Imports `<dataDir>/knowledge/` (the file layout) into `repo` and renames it `knowledge.imported-json/` once every
 * knowledge base is committed. Returns the ids imported now; nothing to do (no folder) returns [].
 */
export async function importKnowledgeFolder(dataDir: string, repo: TableKnowledgeRepository): Promise<string[]> {
  const folder = join(dataDir, 'knowledge');
  if (!existsSync(folder)) return [];
  const files = new FileKnowledgeRepository(dataDir);
  const done: string[] = [];
  for (const kb of await files.listKbs()) if (await repo.importKb(files, kb)) done.push(kb.id);
  retireImportedFolder(dataDir, 'knowledge');
  return done;
}
