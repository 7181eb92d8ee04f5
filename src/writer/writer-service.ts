/**
 * Magic Writer: business writing from templates (one call: a filled form becomes a text) and long documents
 * written from an outline, section by section, grounded in a knowledge base with citations when one is chosen.
 *
 * A document is written in order:
 *   1. store the document, every section pending (so a client can watch it);
 *   2. per section: retrieve passages for the title and heading from the chosen knowledge base (numbered once per
 *      document), prompt with the outline, the previous section's end and the passages, generate (the text streams
 *      out as `section.delta` events), keep only citations of passages given, store the section;
 *   3. mark the document completed, or failed with the error (sections written so far stay).
 * Side effects (models, search, pictures) come through `WriterDeps`, which the route narrows to the caller's key.
 */
import { randomBytes } from 'node:crypto';
import { StatusError } from '../util/status-error.ts';
import { addSources, linkCitations, newDocument, sectionMessages, sectionQuery, type DocumentRequest, type WriterDocument, type WriterImage } from './writer-document.ts';
import { MAX_TOKENS } from './writer-style.ts';
import { builtinTemplates, readFields, templateMessages, templateStyle, type WriterTemplate } from './writer-templates.ts';
import type { WriterRepository } from './writer-repository.ts';

export interface WriterMessage { role: 'system' | 'user'; content: string }

export interface WriterDeps {
  /** One generation by `model` through the gateway (the key's scopes already checked); `onText` streams it. */
  generate(model: string, messages: WriterMessage[], o: { maxTokens: number; signal?: AbortSignal }, onText?: (t: string) => void): Promise<{ text: string; model: string; promptTokens: number; completionTokens: number }>;
  /** Passages of one knowledge base for a query. */
  search(kb: string, query: string, k: number): Promise<Array<{ label: string; text: string }>>;
  /** One picture from an OpenAI-compatible images endpoint behind the gateway. */
  image?(model: string, prompt: string, size: string | undefined): Promise<Omit<WriterImage, 'prompt' | 'model'>>;
}

/** Progress of a document being written. */
export type WriterEvent =
  | { type: 'document.created'; document: WriterDocument }
  | { type: 'section.started'; index: number; heading: string; sources: number[] }
  | { type: 'section.delta'; index: number; text: string }
  | { type: 'section.done'; index: number; text: string; cited: number[] }
  | { type: 'document.done'; document: WriterDocument };

export interface ComposeResult { object: 'writer.text'; template: string; model: string; text: string; style: WriterDocument['style']; sources: WriterDocument['sources']; usage: WriterDocument['usage'] }

export class WriterService {
  /** Passages retrieved per section. */
  readonly passagesPerSection = 4;

  constructor(private readonly repo: WriterRepository, private readonly now: () => number = Date.now) {}

  templates(): WriterTemplate[] {
    return builtinTemplates();
  }

  template(id: string): WriterTemplate {
    const t = this.templates().find((x) => x.id === id);
    if (!t) throw new StatusError(404, `No writer template '${id}' (${this.templates().map((x) => x.id).join(', ')}).`, { code: 'template_not_found', param: 'template' });
    return t;
  }

  /** A filled template's text in one generation (grounded in `knowledge` when given). */
  async compose(deps: WriterDeps, r: { template: string; fields: unknown; style: unknown; model: string; knowledge: string | null; signal?: AbortSignal }, onText?: (t: string) => void): Promise<ComposeResult> {
    const t = this.template(r.template);
    const fields = readFields(t, r.fields);
    const style = templateStyle(t, r.style);
    const doc = newDocument('', { title: t.name[style.language], brief: '', outline: ['-'], style, model: r.model, knowledge: r.knowledge }, 0);
    if (r.knowledge) addSources(doc, (await deps.search(r.knowledge, Object.values(fields).join(' ').slice(0, 500), this.passagesPerSection)).map((p) => ({ kb: r.knowledge!, ...p })));
    const out = await deps.generate(r.model, templateMessages(t, fields, style, doc.sources), { maxTokens: MAX_TOKENS[style.length], signal: r.signal }, onText);
    const linked = linkCitations(out.text, doc.sources.map((s) => s.ref));
    return {
      object: 'writer.text', template: t.id, model: out.model, text: linked.text, style, sources: doc.sources.filter((s) => linked.cited.includes(s.ref)),
      usage: { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens },
    };
  }

  /** Steps 1-3 of the header; resolves with the document as stored last (completed or failed). */
  async write(deps: WriterDeps, r: DocumentRequest, keyId: string | null, onEvent: (e: WriterEvent) => void = () => {}, signal?: AbortSignal): Promise<WriterDocument> {
    // 1. store the document
    const doc = newDocument(`wdoc_${randomBytes(12).toString('base64url')}`, r, this.now());
    await this.repo.insert(doc, keyId);
    onEvent({ type: 'document.created', document: structuredClone(doc) });
    try {
      // 2. section by section
      for (let i = 0; i < doc.sections.length; i++) {
        if (signal?.aborted) throw new StatusError(499, 'stopped: the client went away', { code: 'aborted' });
        const s = doc.sections[i]!;
        s.status = 'writing';
        s.given = doc.knowledge ? addSources(doc, (await deps.search(doc.knowledge, sectionQuery(doc, i), this.passagesPerSection)).map((p) => ({ kb: doc.knowledge!, ...p }))) : [];
        onEvent({ type: 'section.started', index: i, heading: s.heading, sources: s.given });
        const out = await deps.generate(doc.model, sectionMessages(doc, i, s.given), { maxTokens: MAX_TOKENS[doc.style.length], signal }, (t) => onEvent({ type: 'section.delta', index: i, text: t }));
        const linked = linkCitations(out.text, s.given);
        s.text = linked.text;
        s.cited = linked.cited;
        s.status = 'done';
        doc.usage.prompt_tokens += out.promptTokens;
        doc.usage.completion_tokens += out.completionTokens;
        doc.updated_at = this.now();
        await this.repo.update(doc);
        onEvent({ type: 'section.done', index: i, text: s.text, cited: s.cited });
      }
      // 3. completed
      doc.status = 'completed';
    } catch (e) {
      doc.status = 'failed';
      doc.error = (e as Error).message;
      for (const s of doc.sections) if (s.status === 'writing') s.status = 'failed';
      doc.updated_at = this.now();
      await this.repo.update(doc);
      throw e;
    }
    doc.updated_at = this.now();
    await this.repo.update(doc);
    onEvent({ type: 'document.done', document: structuredClone(doc) });
    return doc;
  }

  /** A document the key may read (`keyId` undefined: an admin, any document). 404 otherwise. */
  async get(id: string, keyId: string | undefined): Promise<WriterDocument> {
    const d = await this.repo.get(id);
    if (!d || (keyId !== undefined && d.key_id !== keyId)) throw new StatusError(404, `No writer document '${id}'.`, { code: 'document_not_found', param: 'id' });
    const { key_id: _k, ...doc } = d;
    return doc;
  }

  list(keyId: string | undefined, limit?: number): Promise<WriterDocument[]> {
    return this.repo.list(keyId, limit);
  }

  async delete(id: string, keyId: string | undefined): Promise<void> {
    await this.get(id, keyId);
    await this.repo.delete(id);
  }

  /** Adds a picture (from the images endpoint) to a document. */
  async addImage(deps: WriterDeps, id: string, keyId: string | undefined, r: { model: string; prompt: string; size?: string }): Promise<WriterDocument> {
    if (!deps.image) throw new StatusError(400, 'pictures are not available on this server', { code: 'images_unavailable' });
    const doc = await this.get(id, keyId);
    const img = await deps.image(r.model, r.prompt, r.size);
    doc.images.push({ prompt: r.prompt, model: r.model, ...img });
    doc.updated_at = this.now();
    await this.repo.update(doc);
    return doc;
  }
}
