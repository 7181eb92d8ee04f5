/**
 * A long document written from an outline, section by section: the document's shape, reading a request (title,
 * brief, outline, style, knowledge base), each section's prompt, and the citations a section's text makes. Pure.
 *
 * Citations are numbered once per document: a passage retrieved for a later section that an earlier one already
 * used keeps its number. A section's [n] that names no passage given for that section is removed (a citation must
 * point at text the model saw), and the remaining ones are listed under the section.
 */
import { ValidationError, type ProblemDetail } from '../util/status-error.ts';
import { parseStyle, styleInstructions, type WriterStyle } from './writer-style.ts';

export interface WriterSource {
  /** The citation number ([ref]) across the document. */
  ref: number;
  /** The knowledge base it came from. */
  kb: string;
  label: string;
  text: string;
}

export interface WriterSection {
  heading: string;
  text: string;
  status: 'pending' | 'writing' | 'done' | 'failed';
  /** Sources given for this section ([ref] numbers of the document's `sources`). */
  given: number[];
  /** Sources the text cites. */
  cited: number[];
}

export interface WriterImage { prompt: string; model: string; b64_json?: string; url?: string; revised_prompt?: string }

export interface WriterDocument {
  id: string;
  object: 'writer.document';
  created_at: number;
  updated_at: number;
  title: string;
  brief: string;
  model: string;
  knowledge: string | null;
  style: WriterStyle;
  status: 'writing' | 'completed' | 'failed';
  sections: WriterSection[];
  sources: WriterSource[];
  images: WriterImage[];
  error: string | null;
  usage: { prompt_tokens: number; completion_tokens: number };
}

export interface DocumentRequest { title: string; brief: string; outline: string[]; style: WriterStyle; model: string; knowledge: string | null }

export const MAX_SECTIONS = 30;

/** An outline as a list of headings, or as text: one heading a line (list markers and numbering dropped). */
export function parseOutline(v: unknown): string[] {
  const lines = typeof v === 'string' ? v.split(/\r?\n/) : Array.isArray(v) ? v : null;
  if (!lines) throw new ValidationError(400, 'outline must be a list of section headings or text with one heading a line', { code: 'invalid_value', param: 'outline' });
  const problems: ProblemDetail[] = [];
  const out: string[] = [];
  lines.forEach((l: unknown, i) => {
    if (typeof l !== 'string') { problems.push({ file: 'request', path: `outline[${i}]`, message: 'must be text' }); return; }
    const h = l.replace(/^\s*(?:[-*•]|\d+[.)、]|[一二三四五六七八九十]+[、.])\s*/, '').replace(/^#+\s*/, '').trim();
    if (!h) return;
    if (h.length > 200) problems.push({ file: 'request', path: `outline[${i}]`, message: 'is longer than 200 characters' });
    out.push(h);
  });
  if (!out.length && !problems.length) problems.push({ file: 'request', path: 'outline', message: 'has no section heading' });
  if (out.length > MAX_SECTIONS) problems.push({ file: 'request', path: 'outline', message: `has ${out.length} sections; at most ${MAX_SECTIONS}` });
  if (problems.length) throw new ValidationError(400, `Invalid outline: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, { code: 'invalid_value', param: problems[0]!.path }, problems);
  return out;
}

/** Reads POST /v1/writer/documents' body (model and knowledge base are checked by the caller). */
export function parseDocumentRequest(body: unknown): DocumentRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ValidationError(400, 'the body must be a JSON object {title, outline, model, ...}', { code: 'invalid_value' });
  const b = body as Record<string, unknown>;
  const text = (k: string, max: number, required: boolean): string => {
    const v = b[k];
    if (v === undefined || v === null || v === '') {
      if (required) throw new ValidationError(400, `'${k}' is required`, { code: 'missing_required_parameter', param: k });
      return '';
    }
    if (typeof v !== 'string' || v.length > max) throw new ValidationError(400, `'${k}' must be text of at most ${max} characters`, { code: 'invalid_value', param: k });
    return v.trim();
  };
  const title = text('title', 300, true);
  const model = text('model', 200, true);
  const brief = text('brief', 8000, false);
  const knowledge = text('knowledge', 200, false) || null;
  return { title, brief, model, knowledge, outline: parseOutline(b.outline), style: parseStyle(b.style) };
}

/** A new document, every section pending. */
export function newDocument(id: string, r: DocumentRequest, now: number): WriterDocument {
  return {
    id, object: 'writer.document', created_at: now, updated_at: now, title: r.title, brief: r.brief, model: r.model, knowledge: r.knowledge, style: r.style,
    status: 'writing', sections: r.outline.map((heading) => ({ heading, text: '', status: 'pending', given: [], cited: [] })), sources: [], images: [], error: null,
    usage: { prompt_tokens: 0, completion_tokens: 0 },
  };
}

/** What a section's passages are searched with: the document's title and the heading. */
export function sectionQuery(doc: WriterDocument, i: number): string {
  return `${doc.title} ${doc.sections[i]!.heading}`.slice(0, 500);
}

/** Adds passages to the document's sources (the same passage keeps its number); returns the refs of these. */
export function addSources(doc: WriterDocument, passages: Array<{ kb: string; label: string; text: string }>): number[] {
  return passages.map((p) => {
    const same = doc.sources.find((s) => s.kb === p.kb && s.label === p.label && s.text === p.text);
    if (same) return same.ref;
    const ref = doc.sources.length + 1;
    doc.sources.push({ ref, kb: p.kb, label: p.label, text: p.text });
    return ref;
  });
}

const clip = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n)}…`);

/** The messages that write section `i`: the document, its outline, where the text stands, the section's sources. */
export function sectionMessages(doc: WriterDocument, i: number, given: number[]): Array<{ role: 'system' | 'user'; content: string }> {
  const zh = doc.style.language === 'zh';
  const s = doc.sections[i]!;
  const outline = doc.sections.map((x, j) => `${j + 1}. ${x.heading}${j === i ? (zh ? '  ← 本节' : '  <- this section') : ''}`).join('\n');
  const prev = i > 0 ? clip(doc.sections[i - 1]!.text.slice(-400), 400) : '';
  const sources = given.map((ref) => doc.sources[ref - 1]!).map((x) => `[${x.ref}] ${x.label}\n${clip(x.text, 900)}`).join('\n\n');
  const system = zh
    ? `你是企业的写作助手 Magic Writer，正在按大纲逐节撰写一篇长文。只输出本节正文，不要写标题，不要解释。${sources ? '依据所给资料写作，用 [n] 标注引用；资料没有的事实不要编造。' : ''}`
    : `You are Magic Writer, writing a long document section by section from its outline. Output only this section's body: no heading, no explanations.${sources ? ' Write from the sources given and cite them as [n]; invent no facts they do not contain.' : ''}`;
  const user = [
    zh ? `文档标题：${doc.title}` : `Document title: ${doc.title}`,
    doc.brief ? (zh ? `写作要求：${doc.brief}` : `Brief: ${doc.brief}`) : '',
    (zh ? '大纲：\n' : 'Outline:\n') + outline,
    prev ? (zh ? `上一节的结尾：…${prev}` : `The previous section ended: …${prev}`) : '',
    sources ? (zh ? `资料：\n${sources}` : `Sources:\n${sources}`) : '',
    zh ? `现在撰写第 ${i + 1} 节「${s.heading}」。` : `Now write section ${i + 1}, "${s.heading}".`,
  ].filter(Boolean).join('\n\n');
  return [{ role: 'system', content: `${system}\n${styleInstructions(doc.style)}` }, { role: 'user', content: user }];
}

/** A section's text with only the [n] that name a given source kept, and the refs it cites. */
export function linkCitations(text: string, given: number[]): { text: string; cited: number[] } {
  const cited = new Set<number>();
  const out = text.replace(/\s?\[(\d{1,3})\]/g, (m, n: string) => {
    const ref = Number(n);
    if (!given.includes(ref)) return '';
    cited.add(ref);
    return m;
  });
  return { text: out.trim(), cited: [...cited].sort((a, b) => a - b) };
}
