/**
 * The Knowledge Factory's service layer: the one place that API routes and CLI commands call. Owns the workflows —
 * create a knowledge base, ingest a document (read -> clean -> structure -> items), review items (approve, reject,
 * edit, tag, meta; every change a version), rebuild the chunks and indexes from the items, search (with API-key
 * scope), chat search and attribution — over a `KnowledgeRepository` and optional models (embedder, generator,
 * reranker, judge). Guarantees: only servable items are chunked and indexed (not rejected, and approved when the KB
 * requires approval); every mutation persists the new chunks before it returns, so another process sees them;
 * search outside the caller's scope raises AccessDeniedError; without an embedder search is lexical and says so.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Chunk, ChunkOptions, DocumentRecord, ItemVersion, KnowledgeBase, KnowledgeItem, ReviewState } from './knowledge-types.ts';
import { DEFAULT_CHUNKING } from './knowledge-types.ts';
import type { KnowledgeRepository } from './knowledge-repository.ts';
import { NotFoundError } from './knowledge-repository.ts';
import { parseDocument } from './ingest/parse.ts';
import { parseOffThread } from './ingest/parse-worker.ts';
import type { IngestLimits } from './ingest/ingest-limits.ts';
import { chunkItem } from './chunk.ts';
import { KbIndex, type Reranker, type SearchOptions, type SearchResponse, type SearchResult } from './search.ts';
import { Lexicon } from './text/lexicon.ts';
import { bilingualFor } from './text/cedict.ts';
import type { Embedder } from './embed.ts';
import { RETRIEVER_DENSE_WEIGHT, RetrieverWaits, retrieverJobStatus, retrieverUnits, type RetrieverJobs, type RetrieverUnit } from './retriever.ts';
import { ask, type AskOptions, type AskResult } from './chat-search.ts';
import { attribute, splitSentences, type AttributionOptions, type AttributionReport, type Passage, type SupportJudge } from './attribution.ts';
import { ExtractiveGenerator, type Generator } from './answer-generator.ts';
import { StatusError } from '../util/status-error.ts';

/** A knowledge base outside the key's knowledge scope: a 403. */
export class AccessDeniedError extends StatusError {
  constructor(message: string) { super(403, message, { code: 'knowledge_base_not_allowed' }); }
}
/** A knowledge base with this id exists already: a 409. */
export class KbExistsError extends StatusError {
  constructor(message: string) { super(409, message, { param: 'name', code: 'already_exists' }); }
}
/** A request the service cannot run as asked (a missing or malformed argument): a 400. */
export class KnowledgeRequestError extends StatusError {
  constructor(message: string, param: string | null = null) { super(400, message, { param }); }
}

/** Built-in lexicons by name (text files under text/lexicons/). */
export const BUILTIN_LEXICONS: Record<string, URL> = {
  'consumer-zh': new URL('./text/lexicons/consumer-zh.txt', import.meta.url),
};

export function builtinLexicon(name: string): string {
  const url = Object.hasOwn(BUILTIN_LEXICONS, name) ? BUILTIN_LEXICONS[name] : undefined;
  if (!url) throw new KnowledgeRequestError(`no built-in lexicon ${name} (have: ${Object.keys(BUILTIN_LEXICONS).join(', ')})`, 'lexicon_name');
  return readFileSync(url, 'utf8');
}

export interface KnowledgeServiceOptions {
  embedder?: Embedder | null;
  generator?: Generator | null;
  reranker?: Reranker | null;
  judge?: SupportJudge | null;
  /** Vector count above which the HNSW index replaces exact search (default 5000). */
  annThreshold?: number;
  /** Where documents are parsed: a worker thread (default, so the event loop stays free) or the calling thread. */
  parse?: 'worker' | 'inline';
  /** Per-document limits (default: ingest/limits.ts defaultIngestLimits, read at each ingest). */
  limits?: IngestLimits;
  /** Where a knowledge base's retriever (`retriever: true`) trains: the factory (wired by api/server.ts). */
  retrievers?: RetrieverJobs;
}

/** A knowledge base's retriever, as GET /v1/knowledge/bases/{id} shows it. */
export interface KbRetrieverStatus {
  /** training: until its job succeeds search is lexical (or on the server's embedder); ready: fused with BM25. */
  status: 'not-started' | 'training' | 'ready' | 'failed' | 'unavailable';
  job_id: string | null;
  job_status: string | null;
  /** The embedding model the job made (served at /v1/embeddings). */
  model: string | null;
  error: string | null;
}

export interface CreateKbInput {
  id?: string;
  name: string;
  description?: string;
  requireApproval?: boolean;
  chunking?: Partial<ChunkOptions>;
  t2s?: boolean;
  /** Lexicon text (see text/lexicon.ts). */
  lexicon?: string;
  /** A guard policy name for chat search over this KB. */
  guard?: string | null;
}

export type ReviewAction =
  | { action: 'approve' | 'reject' | 'reset'; note?: string }
  | { action: 'edit'; text: string; note?: string }
  | { action: 'tag'; add?: string[]; remove?: string[]; note?: string }
  | { action: 'meta'; set: Record<string, string | number | boolean>; unset?: string[]; note?: string };

/** A caller's access: the knowledge bases its API key may read (undefined = all, e.g. the local CLI). */
export interface Scope { kbs?: string[] }

function now(): number { return Math.floor(Date.now() / 1000); }

/** The id a knowledge base named `name` gets. */
export function slug(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return s || `kb-${randomBytes(4).toString('hex')}`;
}

export function isServable(kb: KnowledgeBase, item: KnowledgeItem): boolean {
  return item.state !== 'rejected' && (!kb.requireApproval || item.state === 'approved');
}

export class KnowledgeService {
  private indexes = new Map<string, KbIndex>();
  /** The chunks' revision each cached index was built from: another server's rebuild changes it (see index()). */
  private revisions = new Map<string, number>();
  /** Per index: the lexicon's user words, and the bilingual dictionary being attached (withBilingual). */
  private userWords = new WeakMap<KbIndex, Iterable<string>>();
  private bilinguals = new WeakMap<KbIndex, Promise<void>>();
  /** Indexes built while their KB's retriever job trains, by KB id. */
  private readonly waits = new RetrieverWaits();

  constructor(readonly repo: KnowledgeRepository, readonly o: KnowledgeServiceOptions = {}) {}

  private check(kbId: string, scope?: Scope): void {
    if (scope?.kbs && !scope.kbs.includes(kbId)) throw new AccessDeniedError(`access to knowledge base ${kbId} is not in this key's scope`);
  }

  async requireKb(id: string, scope?: Scope): Promise<KnowledgeBase> {
    this.check(id, scope);
    const kb = await this.repo.getKb(id);
    if (!kb) throw new NotFoundError(`no knowledge base ${id}`);
    return kb;
  }

  async createKb(input: CreateKbInput): Promise<KnowledgeBase> {
    const id = input.id ?? slug(input.name);
    if (await this.repo.getKb(id)) throw new KbExistsError(`knowledge base ${id} already exists`);
    const t = now();
    const kb: KnowledgeBase = {
      id, name: input.name, description: input.description ?? '', requireApproval: input.requireApproval ?? false,
      chunking: { ...DEFAULT_CHUNKING, ...input.chunking }, t2s: input.t2s ?? false, ...(input.guard ? { guard: input.guard } : {}), createdAt: t, updatedAt: t,
    };
    await this.repo.putKb(kb);
    if (input.lexicon) await this.repo.putLexicon(id, input.lexicon);
    return kb;
  }

  async listKbs(scope?: Scope): Promise<KnowledgeBase[]> {
    return (await this.repo.listKbs()).filter((kb) => !scope?.kbs || scope.kbs.includes(kb.id));
  }

  async updateKb(id: string, patch: Partial<Pick<KnowledgeBase, 'name' | 'description' | 'requireApproval' | 't2s' | 'guard' | 'retriever'>> & { lexicon?: string }): Promise<KnowledgeBase> {
    if (patch.retriever && !this.o.retrievers) throw new KnowledgeRequestError('retriever: this server runs no factory to train one', 'retriever');
    const kb = await this.requireKb(id);
    const { lexicon, ...rest } = patch;
    const next = { ...kb, ...rest, updatedAt: now() };
    await this.repo.putKb(next);
    if (lexicon !== undefined) await this.repo.putLexicon(id, lexicon);
    // the guard is read at answer time; everything else shapes the index
    if (Object.keys(patch).some((k) => k !== 'guard')) await this.rebuild(id);
    return next;
  }

  /** Reads, cleans and structures a document into pending items; rebuilds the KB's chunks unless told not to. */
  async ingest(kbId: string, filename: string, data: Uint8Array, o: { rebuild?: boolean; actor?: string } = {}): Promise<{ document: DocumentRecord; items: KnowledgeItem[] }> {
    const kb = await this.requireKb(kbId);
    const parse = this.o.parse === 'inline' ? parseDocument : parseOffThread;
    const parsed = await parse(filename, data, { t2s: kb.t2s, limits: this.o.limits });
    const { units, statute, meta } = parsed;
    const sha256 = createHash('sha256').update(data).digest('hex');
    const docId = `d-${sha256.slice(0, 12)}`;
    const t = now();
    const document: DocumentRecord = {
      id: docId, kbId, filename: filename.split(/[\\/]/).pop()!, format: parsed.format, title: parsed.title, sha256,
      bytes: data.byteLength, createdAt: t, units: units.length, statute, ...(Object.keys(meta).length ? { meta } : {}),
    };
    const existing = new Map((await this.repo.listItems(kbId)).filter((i) => i.docId === docId).map((i) => [i.id, i]));
    const changes: ItemVersion[] = [];
    const items: KnowledgeItem[] = [];
    units.forEach((u, ordinal) => {
      const id = `${docId}-${String(ordinal).padStart(4, '0')}`;
      const prev = existing.get(id);
      if (prev && prev.text === u.text) { items.push(prev); return; } // re-ingest of the same file keeps reviews
      const item: KnowledgeItem = {
        id, kbId, docId, ordinal, kind: u.kind, number: u.number, label: u.label, path: u.path, text: u.text,
        state: 'pending', tags: [], meta: {}, version: (prev?.version ?? 0) + 1, updatedAt: t,
      };
      changes.push({ itemId: id, version: item.version, at: t, actor: o.actor ?? 'ingest', action: prev ? 'edit' : 'create', item, note: `from ${document.filename}` });
      items.push(item);
    });
    // Items of an earlier ingest that are no unit any more (e.g. a statute preamble, now document metadata) leave
    // the index but keep their history: rejected, with the reason.
    const fresh = new Set(items.map((i) => i.id));
    for (const prev of existing.values()) {
      if (fresh.has(prev.id) || prev.state === 'rejected') continue;
      const item: KnowledgeItem = { ...prev, state: 'rejected', version: prev.version + 1, updatedAt: t };
      changes.push({ itemId: prev.id, version: item.version, at: t, actor: o.actor ?? 'ingest', action: 'reject', item, note: `no longer a unit of ${document.filename}` });
    }
    await this.repo.putDocument(document, data);
    await this.repo.putItems(kbId, changes);
    if (o.rebuild !== false) await this.rebuild(kbId);
    return { document, items };
  }

  async listDocuments(kbId: string, scope?: Scope): Promise<DocumentRecord[]> {
    await this.requireKb(kbId, scope);
    return this.repo.listDocuments(kbId);
  }

  async listItems(kbId: string, filter: { state?: ReviewState; docId?: string; tag?: string } = {}, scope?: Scope): Promise<KnowledgeItem[]> {
    await this.requireKb(kbId, scope);
    return (await this.repo.listItems(kbId)).filter((i) => (!filter.state || i.state === filter.state) && (!filter.docId || i.docId === filter.docId) && (!filter.tag || i.tags.includes(filter.tag)));
  }

  async getItem(kbId: string, itemId: string, scope?: Scope): Promise<KnowledgeItem> {
    await this.requireKb(kbId, scope);
    const item = await this.repo.getItem(kbId, itemId);
    if (!item) throw new NotFoundError(`no item ${itemId} in ${kbId}`);
    return item;
  }

  async history(kbId: string, itemId: string): Promise<ItemVersion[]> {
    await this.getItem(kbId, itemId);
    return this.repo.itemHistory(kbId, itemId);
  }

  /** Applies review actions to items (one version each) and rebuilds the chunks once. */
  async review(kbId: string, itemIds: string[], a: ReviewAction, actor = 'reviewer', o: { rebuild?: boolean } = {}): Promise<KnowledgeItem[]> {
    const changes: ItemVersion[] = [];
    for (const itemId of itemIds) {
      const item = { ...(await this.getItem(kbId, itemId)) };
      item.tags = [...item.tags];
      item.meta = { ...item.meta };
      switch (a.action) {
        case 'approve': item.state = 'approved'; break;
        case 'reject': item.state = 'rejected'; break;
        case 'reset': item.state = 'pending'; break;
        case 'edit':
          if (!a.text.trim()) throw new KnowledgeRequestError('an edit needs non-empty text');
          item.text = a.text.trim();
          break;
        case 'tag':
          item.tags = [...new Set([...item.tags.filter((t) => !a.remove?.includes(t)), ...(a.add ?? [])])];
          break;
        case 'meta':
          Object.assign(item.meta, a.set);
          for (const k of a.unset ?? []) delete item.meta[k];
          break;
      }
      item.version += 1;
      item.updatedAt = now();
      changes.push({ itemId, version: item.version, at: item.updatedAt, actor, action: a.action, item, note: a.note });
    }
    await this.repo.putItems(kbId, changes);
    if (o.rebuild !== false) await this.rebuild(kbId);
    return changes.map((c) => c.item);
  }

  /** Rebuilds chunks (persisted) and the in-memory indexes from the servable items; embeds only new chunk texts. */
  async rebuild(kbId: string): Promise<{ items: number; chunks: number; vectors: number; ms: number }> {
    const t0 = performance.now();
    const kb = await this.requireKb(kbId);
    const docs = new Map((await this.repo.listDocuments(kbId)).map((d) => [d.id, d]));
    const items = (await this.repo.listItems(kbId)).filter((i) => isServable(kb, i));
    const chunks: Chunk[] = [];
    let slice = performance.now();
    for (const i of items) {
      for (const c of chunkItem(i, docs.get(i.docId)?.title ?? '', kb.chunking)) chunks.push(c);
      // bounded slices: other requests are answered between them
      if (performance.now() - slice > 20) { await new Promise((r) => setImmediate(r)); slice = performance.now(); }
    }
    const revision = await this.repo.putChunks(kbId, chunks);
    const index = await this.buildIndex(kb, chunks);
    this.indexes.set(kbId, index);
    this.revisions.set(kbId, revision);
    return { items: items.length, chunks: chunks.length, vectors: index.vectors ? index.children.length : 0, ms: performance.now() - t0 };
  }

  private async buildIndex(kb: KnowledgeBase, chunks: Chunk[]): Promise<KbIndex> {
    const lexText = await this.repo.getLexicon(kb.id);
    const lexicon = lexText ? Lexicon.parse(lexText) : null;
    const index = new KbIndex(kb.id, chunks, lexicon);
    this.userWords.set(index, lexicon?.userWords ?? []);
    // the dense list: the KB's own trained retriever once its job succeeded, else the server's embedder
    if (!kb.retriever) this.waits.forget(kb.id);
    const trained = kb.retriever ? await this.trainedRetriever(kb, index, lexText) : null;
    const e = trained ?? this.o.embedder;
    if (e) {
      const stored = await this.repo.getVectors(kb.id, e.name);
      // Vectors are keyed by chunk id + text hash, so an edited item is re-embedded.
      const key = (c: Chunk) => `${c.id}:${createHash('sha1').update(c.text).digest('hex').slice(0, 12)}`;
      const keyed = stored ? { ...stored, ids: stored.ids } : null;
      const byKey = new Map(index.children.map((c) => [key(c), c.id]));
      const remapped = keyed ? { dims: keyed.dims, vectors: keyed.vectors, ids: keyed.ids.map((k) => byKey.get(k) ?? `stale:${k}`) } : null;
      const data = await index.attachVectors(e, remapped, this.o.annThreshold);
      await this.repo.putVectors(kb.id, { model: e.name, dims: data.length / Math.max(1, index.children.length) || e.dims, ids: index.children.map(key), vectors: data });
      // a retriever trained on the KB's own units is fused at a small weight (measured: bench:search)
      if (trained) index.weights = { lexical: 1, dense: RETRIEVER_DENSE_WEIGHT };
    }
    return index;
  }

  /** What finds a KB's retriever job again: the KB (and when it was made), and its units (another set: another job). */
  private retrieverMeta(kb: KnowledgeBase, units: RetrieverUnit[]): Record<string, string> {
    const sha = createHash('sha1').update(JSON.stringify(units)).digest('hex').slice(0, 12);
    return { kb: kb.id, kb_created: String(kb.createdAt), units: sha, purpose: 'kb-retriever' };
  }

  /**
   * The KB's retriever for these units as an embedder, once its factory job succeeded; else null, with the job
   * submitted (trained on the units' own sentences and titles) and awaited by `index()`.
   */
  private async trainedRetriever(kb: KnowledgeBase, index: KbIndex, lexicon: string | null): Promise<Embedder | null> {
    const jobs = this.o.retrievers;
    const units = retrieverUnits(index);
    if (!jobs || units.length < 2) return null;
    const metadata = this.retrieverMeta(kb, units);
    const job = (await jobs.find(metadata)) ?? (await jobs.submit({ name: `${kb.id}-retriever`, units, questions: [], validation: [], lexicon, dataset: kb.id, metadata }));
    this.waits.note(kb.id, job);
    return job.status === 'succeeded' && job.model ? jobs.embedder(job.model) : null;
  }

  /** The KB's retriever: its job for the current units and whether search uses it; null when the KB has none. */
  async retrieverStatus(kbId: string, scope?: Scope): Promise<KbRetrieverStatus | null> {
    const kb = await this.requireKb(kbId, scope);
    if (!kb.retriever) return null;
    const jobs = this.o.retrievers;
    if (!jobs) return { status: 'unavailable', job_id: null, job_status: null, model: null, error: 'this server runs no factory to train it' };
    const job = await jobs.find(this.retrieverMeta(kb, retrieverUnits(await this.index(kbId))));
    return { status: retrieverJobStatus(job), job_id: job?.id ?? null, job_status: job?.status ?? null, model: job?.model ?? null, error: job?.error ?? null };
  }

  /**
   * Attaches the bilingual dictionary over the index's words (CC-CEDICT and the legal glossary: questions in the
   * other language, traditional characters, homophone slips, toneless pinyin), built on the index's first search. A
   * dictionary that cannot be built leaves the index searching as asked.
   */
  private async withBilingual(index: KbIndex): Promise<void> {
    if (index.bilingual) return;
    let p = this.bilinguals.get(index);
    if (!p) {
      p = bilingualFor([...index.lexical.vocabulary(), ...(this.userWords.get(index) ?? [])]).then((b) => index.attachBilingual(b), () => {});
      this.bilinguals.set(index, p);
    }
    await p;
  }

  /** The KB's index: from memory, else from the persisted chunks, else rebuilt. */
  async index(kbId: string): Promise<KbIndex> {
    // one small read per search: servers sharing the database rebuild their copy when another one changed the chunks
    const revision = await this.repo.chunksRevision(kbId);
    const cached = this.indexes.get(kbId);
    // built while the KB's retriever trained: built again once it is ready
    if (cached && this.revisions.get(kbId) === revision && !(await this.waits.ready(kbId, this.o.retrievers))) return cached;
    const kb = await this.requireKb(kbId);
    const chunks = await this.repo.listChunks(kbId);
    if (!chunks) { await this.rebuild(kbId); return this.indexes.get(kbId)!; }
    const index = await this.buildIndex(kb, chunks);
    this.indexes.set(kbId, index);
    this.revisions.set(kbId, revision);
    return index;
  }

  /** Searches one or more knowledge bases; results of several KBs are merged by score rank. */
  async search(kbIds: string | string[], query: string, o: SearchOptions & { scope?: Scope } = {}): Promise<SearchResponse> {
    const ids = Array.isArray(kbIds) ? kbIds : [kbIds];
    if (!query.trim()) throw new KnowledgeRequestError('empty query');
    for (const id of ids) await this.requireKb(id, o.scope);
    const opts: SearchOptions = { ...o, reranker: o.reranker ?? this.o.reranker ?? undefined };
    const responses = await Promise.all(ids.map(async (id) => {
      const index = await this.index(id);
      await this.withBilingual(index);
      return index.search(query, opts);
    }));
    if (responses.length === 1) return responses[0]!;
    const k = o.k ?? 5;
    // Interleave by rank (scores of different KBs' BM25 are not comparable).
    const merged: SearchResult[] = [];
    for (let r = 0; merged.length < k && responses.some((x) => x.results.length > r); r++) {
      for (const x of responses.map((resp) => resp.results[r]).filter(Boolean).sort((a, b) => b!.coverage - a!.coverage)) merged.push(x!);
    }
    return { ...responses[0]!, results: merged.slice(0, k) };
  }

  async ask(kbIds: string | string[], question: string, o: AskOptions & { scope?: Scope; search?: SearchOptions } = {}): Promise<AskResult> {
    const generator = this.o.generator ?? new ExtractiveGenerator();
    return ask(question, (q, k) => this.search(kbIds, q, { ...o.search, k, scope: o.scope }), generator, {
      ...o, attribution: { embedder: this.o.embedder ?? undefined, judge: this.o.judge ?? undefined, ...o.attribution },
    });
  }

  /**
   * "Where does this come from?": checks any text against given passages, or, without passages, against the
   * passages the KB's search finds for the whole text and for each of its sentences.
   */
  async attribute(kbIds: string | string[] | null, text: string, o: { passages?: Passage[]; k?: number; scope?: Scope } & AttributionOptions = {}): Promise<AttributionReport & { passages: Passage[] }> {
    let passages = o.passages;
    if (!passages) {
      if (!kbIds || (Array.isArray(kbIds) && !kbIds.length)) throw new KnowledgeRequestError('attribution needs passages or a knowledge base to search (kbs)', 'kbs');
      const found = new Map<string, Passage>();
      const queries = [text, ...splitSentences(text).map((s) => s.text)];
      for (const q of queries) {
        for (const r of (await this.search(kbIds, q.slice(0, 500), { k: o.k ?? 3, scope: o.scope })).results) {
          if (!found.has(r.chunkId)) found.set(r.chunkId, { id: r.chunkId, ref: found.size + 1, label: `${r.docTitle} ${r.label}`.trim(), text: r.context.length <= 1200 ? r.context : r.text });
        }
      }
      passages = [...found.values()];
    }
    const report = await attribute(text, passages, { embedder: this.o.embedder ?? undefined, judge: this.o.judge ?? undefined, ...o });
    return { ...report, passages };
  }
}
