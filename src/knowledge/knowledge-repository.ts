/**
 * Knowledge storage. Owns the `KnowledgeRepository` interface (knowledge bases, documents and their original bytes,
 * items with review state, the append-only version history, derived chunks and vectors, the KB's lexicon) and its
 * local-files implementation `FileKnowledgeRepository`:
 *     <data>/knowledge/<kb>/kb.json            the knowledge base
 *     <data>/knowledge/<kb>/documents.json     document records
 *     <data>/knowledge/<kb>/originals/<doc>    the bytes as ingested
 *     <data>/knowledge/<kb>/items.json         current items (latest version of each)
 *     <data>/knowledge/<kb>/versions.jsonl     every change of every item, appended
 *     <data>/knowledge/<kb>/chunks.jsonl       derived: chunks of the last rebuild
 *     <data>/knowledge/<kb>/vectors-<model>.bin/.json   derived: embeddings of those chunks
 *     <data>/knowledge/<kb>/lexicon.txt        the KB's domain lexicon (optional)
 * Guarantees: whole-file writes are atomic (util/atomic-write.ts); a version line is appended (and fsync'd) before the
 * item file is replaced, so the history is never behind the current state; a torn last line of versions.jsonl (a
 * crash mid-append) is ignored on read. Derived files can always be rebuilt from items. The server keeps knowledge
 * in the database (`knowledge-tables.ts`, shared by several servers); this layout is what older data folders hold,
 * imported from on start, and a store for tests and tools over a plain folder.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.ts';
import type { Chunk, DocumentRecord, ItemVersion, KnowledgeBase, KnowledgeItem } from './knowledge-types.ts';
import { StatusError } from '../util/status-error.ts';

export interface StoredVectors { model: string; dims: number; ids: string[]; vectors: Float32Array }

export interface KnowledgeRepository {
  listKbs(): Promise<KnowledgeBase[]>;
  getKb(id: string): Promise<KnowledgeBase | null>;
  putKb(kb: KnowledgeBase): Promise<void>;
  deleteKb(id: string): Promise<void>;

  listDocuments(kbId: string): Promise<DocumentRecord[]>;
  putDocument(doc: DocumentRecord, original: Uint8Array): Promise<void>;
  getOriginal(kbId: string, docId: string): Promise<Uint8Array | null>;

  listItems(kbId: string): Promise<KnowledgeItem[]>;
  getItem(kbId: string, itemId: string): Promise<KnowledgeItem | null>;
  /** Writes items and appends one version per item (the version's `item` must equal the item written). */
  putItems(kbId: string, changes: ItemVersion[]): Promise<void>;
  itemHistory(kbId: string, itemId: string): Promise<ItemVersion[]>;

  /** Replaces the chunks; returns their new revision (it changes on every write, whichever server writes). */
  putChunks(kbId: string, chunks: Chunk[]): Promise<number>;
  listChunks(kbId: string): Promise<Chunk[] | null>;
  /** The revision of the chunks (0: never built): a server's cached index is rebuilt when it changed. */
  chunksRevision(kbId: string): Promise<number>;
  putVectors(kbId: string, v: StoredVectors): Promise<void>;
  getVectors(kbId: string, model: string): Promise<StoredVectors | null>;

  getLexicon(kbId: string): Promise<string | null>;
  putLexicon(kbId: string, text: string): Promise<void>;
}

/** No knowledge base, document or item by that id: a 404. */
export class NotFoundError extends StatusError {
  constructor(message: string) { super(404, message, { code: 'not_found' }); }
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export class FileKnowledgeRepository implements KnowledgeRepository {
  readonly root: string;
  /** Cache of items per KB (items.json is the truth; the cache only saves re-reading it). */
  private items = new Map<string, Map<string, KnowledgeItem>>();

  constructor(dataDir: string) {
    this.root = join(dataDir, 'knowledge');
  }

  private dir(kbId: string): string {
    if (!SAFE_ID.test(kbId)) throw new StatusError(400, `invalid knowledge base id: ${JSON.stringify(kbId)}`);
    return join(this.root, kbId);
  }

  private readJson<T>(file: string, fallback: T): T {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
      throw e;
    }
  }

  async listKbs(): Promise<KnowledgeBase[]> {
    if (!fs.existsSync(this.root)) return [];
    const out: KnowledgeBase[] = [];
    for (const name of fs.readdirSync(this.root).sort()) {
      const kb = this.readJson<KnowledgeBase | null>(join(this.root, name, 'kb.json'), null);
      if (kb) out.push(kb);
    }
    return out;
  }

  async getKb(id: string): Promise<KnowledgeBase | null> {
    return this.readJson<KnowledgeBase | null>(join(this.dir(id), 'kb.json'), null);
  }

  async putKb(kb: KnowledgeBase): Promise<void> {
    const dir = this.dir(kb.id);
    fs.mkdirSync(join(dir, 'originals'), { recursive: true });
    writeFileAtomic(join(dir, 'kb.json'), `${JSON.stringify(kb, null, 2)}\n`);
  }

  async deleteKb(id: string): Promise<void> {
    fs.rmSync(this.dir(id), { recursive: true, force: true });
    this.items.delete(id);
  }

  async listDocuments(kbId: string): Promise<DocumentRecord[]> {
    return this.readJson<DocumentRecord[]>(join(this.dir(kbId), 'documents.json'), []);
  }

  async putDocument(doc: DocumentRecord, original: Uint8Array): Promise<void> {
    const dir = this.dir(doc.kbId);
    if (!SAFE_ID.test(doc.id)) throw new StatusError(400, `invalid document id: ${doc.id}`);
    writeFileAtomic(join(dir, 'originals', doc.id), original);
    const docs = (await this.listDocuments(doc.kbId)).filter((d) => d.id !== doc.id);
    docs.push(doc);
    writeFileAtomic(join(dir, 'documents.json'), `${JSON.stringify(docs, null, 2)}\n`);
  }

  async getOriginal(kbId: string, docId: string): Promise<Uint8Array | null> {
    if (!SAFE_ID.test(docId)) return null;
    try { return fs.readFileSync(join(this.dir(kbId), 'originals', docId)); } catch { return null; }
  }

  private itemMap(kbId: string): Map<string, KnowledgeItem> {
    let m = this.items.get(kbId);
    if (!m) {
      const list = this.readJson<KnowledgeItem[]>(join(this.dir(kbId), 'items.json'), []);
      m = new Map(list.map((i) => [i.id, i]));
      this.items.set(kbId, m);
    }
    return m;
  }

  async listItems(kbId: string): Promise<KnowledgeItem[]> {
    return [...this.itemMap(kbId).values()].sort((a, b) => (a.docId === b.docId ? a.ordinal - b.ordinal : a.docId < b.docId ? -1 : 1));
  }

  async getItem(kbId: string, itemId: string): Promise<KnowledgeItem | null> {
    return this.itemMap(kbId).get(itemId) ?? null;
  }

  async putItems(kbId: string, changes: ItemVersion[]): Promise<void> {
    if (!changes.length) return;
    const dir = this.dir(kbId);
    // 1. history first (durable), 2. then the current state.
    const fd = fs.openSync(join(dir, 'versions.jsonl'), 'a');
    try {
      fs.writeSync(fd, changes.map((c) => JSON.stringify(c)).join('\n') + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const m = new Map(this.itemMap(kbId));
    for (const c of changes) m.set(c.item.id, c.item);
    writeFileAtomic(join(dir, 'items.json'), JSON.stringify([...m.values()]));
    this.items.set(kbId, m);
  }

  async itemHistory(kbId: string, itemId: string): Promise<ItemVersion[]> {
    return (await this.allHistory(kbId)).filter((v) => v.itemId === itemId);
  }

  /** Every item's history in the order it was written (importing a folder into tables keeps that order). */
  async allHistory(kbId: string): Promise<ItemVersion[]> {
    let text = '';
    try { text = fs.readFileSync(join(this.dir(kbId), 'versions.jsonl'), 'utf8'); } catch { return []; }
    const out: ItemVersion[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try { out.push(JSON.parse(line) as ItemVersion); } catch { continue; /* torn last line after a crash */ }
    }
    return out;
  }

  async putChunks(kbId: string, chunks: Chunk[]): Promise<number> {
    writeFileAtomic(join(this.dir(kbId), 'chunks.jsonl'), chunks.map((c) => JSON.stringify(c)).join('\n') + (chunks.length ? '\n' : ''));
    return this.chunksRevision(kbId);
  }

  async chunksRevision(kbId: string): Promise<number> {
    try { return fs.statSync(join(this.dir(kbId), 'chunks.jsonl')).mtimeMs; } catch { return 0; }
  }

  async listChunks(kbId: string): Promise<Chunk[] | null> {
    let text: string;
    try { text = fs.readFileSync(join(this.dir(kbId), 'chunks.jsonl'), 'utf8'); } catch { return null; }
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Chunk);
  }

  private vectorBase(kbId: string, model: string): string {
    return join(this.dir(kbId), `vectors-${model.replace(/[^A-Za-z0-9_.-]+/g, '_')}`);
  }

  async putVectors(kbId: string, v: StoredVectors): Promise<void> {
    const base = this.vectorBase(kbId, v.model);
    writeFileAtomic(`${base}.bin`, new Uint8Array(v.vectors.buffer, v.vectors.byteOffset, v.vectors.byteLength));
    writeFileAtomic(`${base}.json`, JSON.stringify({ model: v.model, dims: v.dims, ids: v.ids }));
  }

  async getVectors(kbId: string, model: string): Promise<StoredVectors | null> {
    const base = this.vectorBase(kbId, model);
    try {
      const head = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as { model: string; dims: number; ids: string[] };
      const buf = fs.readFileSync(`${base}.bin`);
      if (buf.byteLength !== head.ids.length * head.dims * 4) return null;
      const vectors = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      return { ...head, vectors };
    } catch {
      return null;
    }
  }

  /** The models a knowledge base holds embeddings of (each `vectors-<model>.json` names its model). */
  vectorModels(kbId: string): string[] {
    const dir = this.dir(kbId);
    let names: string[];
    try { names = fs.readdirSync(dir); } catch { return []; }
    const out: string[] = [];
    for (const f of names.filter((n) => /^vectors-.*\.json$/.test(n)).sort()) {
      try { out.push((JSON.parse(fs.readFileSync(join(dir, f), 'utf8')) as { model: string }).model); } catch { /* a torn or foreign file: no vectors */ }
    }
    return out;
  }

  async getLexicon(kbId: string): Promise<string | null> {
    try { return fs.readFileSync(join(this.dir(kbId), 'lexicon.txt'), 'utf8'); } catch { return null; }
  }

  async putLexicon(kbId: string, text: string): Promise<void> {
    writeFileAtomic(join(this.dir(kbId), 'lexicon.txt'), text);
  }
}
