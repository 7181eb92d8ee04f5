/**
 * /v1/knowledge: knowledge bases, documents (upload as base64 JSON: txt, md, html, pdf, docx), items and their
 * review, search, chat search with citations and attribution (under the KBs' guard policies, logged in the request
 * log with an `id` for feedback), and the attribution check on any text. Documents may also come by `file_id`.
 * Thin over KnowledgeService. Access per knowledge base by API-key scope: a key whose scopes name `knowledge`
 * (a list of knowledge-base ids) sees only those; admin keys see all. Writes need the `knowledge` management area
 * (../authz.ts), within the same scope; a bot's knowledge base needs `bots` too, a guard policy an admin.
 */
import { keyScopes } from '../../serve/api-keys.ts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BUILTIN_LEXICONS, builtinLexicon, slug, type KnowledgeService, type ReviewAction, type Scope } from '../../knowledge/knowledge-service.ts';
import { ApiError } from '../errors.ts';
import { randomBytes } from 'node:crypto';
import type { GuardRuntime, GuardSummary, RequestGuard } from '../../control/guard-runtime.ts';
import type { ReviewState } from '../../knowledge/knowledge-types.ts';
import type { SearchFilter, SearchMode } from '../../knowledge/search.ts';
import type { AskResult } from '../../knowledge/chat-search.ts';
import { requireRequestAccess } from '../authz.ts';

/**
 * The answer of POST /v1/knowledge/ask: chat search's result with its id in the request log; under a guarded base
 * also the guard's verdicts, and a question the guard refused never reaches the search (`mode: 'none'`).
 */
export type KnowledgeAskObject = Omit<AskResult, 'mode'> & { id: string; mode: AskResult['mode'] | 'none'; refused?: boolean; guard?: GuardSummary };

/**
 * Checks of a write beyond the route's rule (../authz.ts: `manage:knowledge`): a bot's knowledge base (`bot-<name>`,
 * made and kept by the Bot Factory) needs `manage:bots` too, and setting or removing a guard policy needs an admin.
 */
function checkWrite(req: FastifyRequest, kbId: string, o: { guard?: unknown } = {}): void {
  if (kbId.startsWith('bot-')) requireRequestAccess(req, 'manage:bots');
  if (o.guard !== undefined) requireRequestAccess(req, 'admin');
}

/** Who did it, for the item history: the key (an admin may name the reviewer). */
function actorOf(req: FastifyRequest, named: unknown): string {
  const k = req.apiKey!;
  if (k.role === 'admin') return typeof named === 'string' && named.trim() ? named : k.name;
  return `key:${k.name}`;
}

/** The knowledge bases a key may read (its `knowledge` scope); undefined: all. */
export function knowledgeScope(req: FastifyRequest): Scope | undefined {
  const k = req.apiKey;
  if (!k || k.role === 'admin' || !k.scopes) return undefined;
  const s = keyScopes(k);
  return s.knowledge ? { kbs: s.knowledge } : undefined;
}

export interface KnowledgeRouteDeps {
  /** A stored file's name and bytes (the Files API), for documents sent by file_id. */
  file?: (id: string) => Promise<{ filename: string; bytes: Uint8Array }>;
  /** The guard at serving time and the request log: a KB's `guard` policy runs on chat search. */
  control?: GuardRuntime;
}

export function knowledgeRoutes(app: FastifyInstance, kb: KnowledgeService, deps: KnowledgeRouteDeps = {}): void {
  app.get('/v1/knowledge/bases', async (req) => ({ object: 'list', data: await kb.listKbs(knowledgeScope(req)) }));
  /** A KB's `guard` must name an existing guard policy. */
  const checkPolicy = async (name: string | null | undefined) => {
    if (name === undefined || name === null || !deps.control) return;
    if ((await deps.control.policyStore.getPolicyText(name)) === null) throw new ApiError(400, `guard: no guard policy named ${JSON.stringify(name)} (create it with PUT /v1/guard/policies/{name})`, 'invalid_request_error', 'guard', 'guard_policy_not_found');
  };
  app.post<{ Body: { id?: string; name: string; description?: string; requireApproval?: boolean; require_approval?: boolean; t2s?: boolean; guard?: string; lexicon?: string; lexicon_name?: string; max_chars?: number } }>('/v1/knowledge/bases', {
    schema: { body: { type: 'object', required: ['name'], properties: {
      id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,39}$' }, name: { type: 'string', minLength: 1 }, description: { type: 'string' }, requireApproval: { type: 'boolean' }, require_approval: { type: 'boolean' }, t2s: { type: 'boolean' },
      guard: { type: 'string', minLength: 1 }, lexicon: { type: 'string' }, lexicon_name: { type: 'string', enum: Object.keys(BUILTIN_LEXICONS) }, max_chars: { type: 'integer', minimum: 50, maximum: 20000 },
    } } },
  }, async (req) => {
    const b = req.body;
    const id = b.id ?? slug(b.name);
    checkWrite(req, id, { guard: b.guard });
    const scope = knowledgeScope(req);
    if (scope?.kbs && !scope.kbs.includes(id)) throw new ApiError(403, `knowledge base ${id} would not be in this key's knowledge scope`, 'invalid_request_error', null, 'knowledge_base_not_allowed');
    await checkPolicy(b.guard);
    // a lexicon as text, or a built-in one by name (both: the built-in first, then the text)
    const lexicon = [b.lexicon_name ? builtinLexicon(b.lexicon_name) : '', b.lexicon ?? ''].join('\n').trim() || undefined;
    return kb.createKb({ id, name: b.name, description: b.description, requireApproval: b.requireApproval ?? b.require_approval, t2s: b.t2s, guard: b.guard, lexicon, ...(b.max_chars ? { chunking: { maxChars: b.max_chars } } : {}) });
  });
  app.patch<{ Params: { id: string }; Body: { name?: string; description?: string; require_approval?: boolean; t2s?: boolean; guard?: string | null; retriever?: boolean } }>('/v1/knowledge/bases/:id', {
    schema: { body: { type: 'object', properties: { name: { type: 'string', minLength: 1 }, description: { type: 'string' }, require_approval: { type: 'boolean' }, t2s: { type: 'boolean' }, guard: { type: ['string', 'null'] }, retriever: { type: 'boolean' } } } },
  }, async (req) => {
    const b = req.body ?? {};
    await kb.requireKb(req.params.id, knowledgeScope(req));
    checkWrite(req, req.params.id, { guard: b.guard });
    await checkPolicy(b.guard);
    return kb.updateKb(req.params.id, {
      ...(b.name !== undefined ? { name: b.name } : {}), ...(b.description !== undefined ? { description: b.description } : {}),
      ...(b.require_approval !== undefined ? { requireApproval: b.require_approval } : {}), ...(b.t2s !== undefined ? { t2s: b.t2s } : {}),
      ...(b.guard !== undefined ? { guard: b.guard } : {}), ...(b.retriever !== undefined ? { retriever: b.retriever } : {}),
    });
  });
  // with its retriever's state when it asks for one (its factory job for the current units)
  app.get<{ Params: { id: string } }>('/v1/knowledge/bases/:id', async (req) => {
    const base = await kb.requireKb(req.params.id, knowledgeScope(req));
    return base.retriever ? { ...base, retriever_status: await kb.retrieverStatus(base.id, knowledgeScope(req)) } : base;
  });

  app.get<{ Params: { id: string } }>('/v1/knowledge/bases/:id/documents', async (req) => ({ object: 'list', data: await kb.listDocuments(req.params.id, knowledgeScope(req)) }));
  app.post<{ Params: { id: string }; Body: { filename?: string; base64?: string; text?: string; file_id?: string; rebuild?: boolean } }>('/v1/knowledge/bases/:id/documents', {
    bodyLimit: 64 * 1024 * 1024,
    schema: { body: { type: 'object', properties: { filename: { type: 'string', minLength: 1 }, base64: { type: 'string' }, text: { type: 'string' }, file_id: { type: 'string', minLength: 1 }, rebuild: { type: 'boolean' } } } },
  }, async (req) => {
    await kb.requireKb(req.params.id, knowledgeScope(req));
    checkWrite(req, req.params.id);
    const b = req.body;
    let filename = b.filename;
    let data: Uint8Array | null = b.base64 !== undefined ? new Uint8Array(Buffer.from(b.base64, 'base64')) : b.text !== undefined ? new Uint8Array(Buffer.from(b.text, 'utf8')) : null;
    if (data === null && b.file_id !== undefined) {
      // a document uploaded with the Files API (purpose assistants or user_data; large PDFs need not travel as base64)
      if (!deps.file) throw new ApiError(400, 'file_id is not available on this server', 'invalid_request_error', 'file_id');
      requireRequestAccess(req, 'manage:files'); // reading a stored file
      const f = await deps.file(b.file_id);
      data = f.bytes;
      filename ??= f.filename;
    }
    if (!data) throw new ApiError(400, 'send the document as file_id (Files API), base64 or text', 'invalid_request_error', 'base64');
    if (!filename) throw new ApiError(400, 'filename is required with base64 or text', 'invalid_request_error', 'filename');
    // rebuild: false leaves the index for one POST .../rebuild after several documents
    const r = await kb.ingest(req.params.id, filename, data, { rebuild: b.rebuild !== false, actor: req.apiKey?.name });
    return { document: r.document, items: r.items.length };
  });

  // `state` is not checked: an unknown one matches no item
  app.get<{ Params: { id: string }; Querystring: { state?: ReviewState; doc?: string; tag?: string } }>('/v1/knowledge/bases/:id/items', async (req) => ({
    object: 'list', data: await kb.listItems(req.params.id, { state: req.query.state, docId: req.query.doc, tag: req.query.tag }, knowledgeScope(req)),
  }));
  app.get<{ Params: { id: string; item: string } }>('/v1/knowledge/bases/:id/items/:item', async (req) => kb.getItem(req.params.id, req.params.item, knowledgeScope(req)));
  app.get<{ Params: { id: string; item: string } }>('/v1/knowledge/bases/:id/items/:item/history', async (req) => {
    await kb.requireKb(req.params.id, knowledgeScope(req));
    return { object: 'list', data: await kb.history(req.params.id, req.params.item) };
  });
  app.post<{ Params: { id: string }; Body: { ids: string[]; actor?: string } & ReviewAction }>('/v1/knowledge/bases/:id/items/review', {
    schema: { body: { type: 'object', required: ['ids', 'action'], properties: { ids: { type: 'array', items: { type: 'string' }, minItems: 1 }, action: { type: 'string', enum: ['approve', 'reject', 'reset', 'edit', 'tag', 'meta'] } } } },
  }, async (req) => {
    await kb.requireKb(req.params.id, knowledgeScope(req));
    checkWrite(req, req.params.id);
    const { ids, actor, ...action } = req.body;
    return { object: 'list', data: await kb.review(req.params.id, ids, action as ReviewAction, actorOf(req, actor)) };
  });
  app.post<{ Params: { id: string } }>('/v1/knowledge/bases/:id/rebuild', async (req) => {
    await kb.requireKb(req.params.id, knowledgeScope(req));
    checkWrite(req, req.params.id);
    return kb.rebuild(req.params.id);
  });

  const kbList = (req: FastifyRequest, kbs: string[] | string | undefined): string[] => {
    const list: unknown = typeof kbs === 'string' ? [kbs] : kbs ?? [];
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || !x)) throw new ApiError(400, 'kbs must be a knowledge base id or an array of them', 'invalid_request_error', 'kbs');
    if (list.length === 0) throw new ApiError(400, 'kbs: name at least one knowledge base', 'invalid_request_error', 'kbs');
    return list;
  };
  app.post<{ Body: { kbs: string[] | string; query: string; k?: number; mode?: SearchMode; filter?: SearchFilter } }>('/v1/knowledge/search', {
    schema: { body: { type: 'object', required: ['kbs', 'query'], properties: { query: { type: 'string', minLength: 1 }, k: { type: 'integer', minimum: 1, maximum: 100 }, mode: { type: 'string', enum: ['lexical', 'dense', 'hybrid'] } } } },
  }, async (req) => kb.search(kbList(req, req.body.kbs), req.body.query, { k: req.body.k, mode: req.body.mode, filter: req.body.filter, scope: knowledgeScope(req) }));
  app.post<{ Body: { kbs: string[] | string; question: string; k?: number } }>('/v1/knowledge/ask', {
    schema: { body: { type: 'object', required: ['kbs', 'question'], properties: { question: { type: 'string', minLength: 1 }, k: { type: 'integer', minimum: 1, maximum: 50 } } } },
  }, async (req): Promise<KnowledgeAskObject> => {
    const kbs = kbList(req, req.body.kbs);
    const scope = knowledgeScope(req);
    // the guard policies of the KBs asked: the question first, then the answer against its citations
    let g: RequestGuard | null = null;
    if (deps.control) {
      const names = await Promise.all(kbs.map(async (id) => (await kb.requireKb(id, scope)).guard ?? null));
      g = await deps.control.load(names);
    }
    const id = `kbask-${randomBytes(12).toString('base64url')}`;
    let question = req.body.question;
    if (g) {
      const r = await g.input(question);
      if (r.refused) {
        const answer = r.message ?? '';
        await deps.control!.record({ id, model: kbs.join(','), source: 'knowledge', keyId: req.apiKey?.id ?? null, prompt: [{ role: 'user', content: question }], answer, guard: g }, (e) => req.log.error({ err: e }, 'request log write failed'));
        return { id, question, answer, found: false, refused: true, generator: 'guard', mode: 'none', citations: [], attribution: null, guard: g.summary() };
      }
      question = r.text;
    }
    const res = await kb.ask(kbs, question, { scope, ...(req.body.k ? { k: req.body.k } : {}) });
    let answer = res.answer, refused = false;
    if (g) {
      const r = await g.output(res.answer, { question, sources: res.citations.map((c) => ({ id: c.chunkId, ref: c.ref, text: c.text })) });
      refused = r.refused;
      answer = r.refused ? r.message ?? '' : r.text;
    }
    await deps.control?.record({ id, model: kbs.join(','), source: 'knowledge', keyId: req.apiKey?.id ?? null, prompt: [{ role: 'user', content: question }], answer, guard: g }, (e) => req.log.error({ err: e }, 'request log write failed'));
    return { id, ...res, question, answer, ...(refused ? { refused: true, citations: [] } : {}), ...(g ? { guard: g.summary() } : {}) };
  });
  app.post<{ Body: { kbs?: string[] | string; text: string } }>('/v1/knowledge/attribute', {
    schema: { body: { type: 'object', required: ['text'], properties: { text: { type: 'string', minLength: 1 } } } },
  }, async (req) => {
    if (req.body.kbs === undefined) throw new ApiError(400, 'kbs is required: the knowledge bases to check the text against', 'invalid_request_error', 'kbs');
    return kb.attribute(kbList(req, req.body.kbs), req.body.text, { scope: knowledgeScope(req) });
  });
}
