/**
 * Ingest that cannot hold the server: chunking is linear (the chunks are exactly those of the former
 * implementation, kept here as the oracle, on the demo corpus, the statutes and synthetic texts), a document over
 * the paragraph, text or byte limit is refused with an error naming the limit (HTTP 413), a DOCX's paragraphs are
 * counted in its XML before it is converted, and documents are parsed in a worker thread with the same result.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunkItem } from '../../src/knowledge/chunk.ts';
import type { Chunk, ChunkOptions, KnowledgeItem } from '../../src/knowledge/knowledge-types.ts';
import { readDocument } from '../../src/knowledge/ingest/readers.ts';
import { parseDocument } from '../../src/knowledge/ingest/parse.ts';
import { closeIngestWorker, parseOffThread } from '../../src/knowledge/ingest/parse-worker.ts';
import { IngestLimitError, countParagraphElements, docxPrecheck } from '../../src/knowledge/ingest/ingest-limits.ts';
import { CPL, CPL_PATH, INSURANCE, INSURANCE_PATH } from './quality.ts';
import { needsShared } from '../shared-data.ts';
import { makeDocx, makePdf, makeZip } from './fixtures.ts';
import { ADMIN_KEY, startServer } from '../api/helpers.ts';

after(() => closeIngestWorker());

// ------------------------------------------------------------------ the former chunker (quadratic), as the oracle
interface Span { start: number; end: number }
function oParagraphs(text: string): Span[] {
  const out: Span[] = []; let start = 0;
  for (let i = 0; i <= text.length; i++) if (i === text.length || text[i] === '\n') { if (i > start) out.push({ start, end: i }); start = i + 1; }
  return out;
}
const SENTENCE_END = /[。！？；!?;]|\.(?=\s|$)/g;
function oSplit(text: string, span: Span, max: number, overlap: number): Span[] {
  if (span.end - span.start <= max) return [span];
  const sentences: Span[] = []; const seg = text.slice(span.start, span.end); let s = 0;
  for (const m of seg.matchAll(SENTENCE_END)) { const e = m.index! + m[0].length; sentences.push({ start: span.start + s, end: span.start + e }); s = e; }
  if (s < seg.length) sentences.push({ start: span.start + s, end: span.end });
  const out: Span[] = [];
  for (const p of oPack(sentences, max)) {
    if (p.end - p.start <= max) { out.push(p); continue; }
    const step = Math.max(1, max - overlap);
    for (let a = p.start; a < p.end; a += step) { out.push({ start: a, end: Math.min(p.end, a + max) }); if (a + max >= p.end) break; }
  }
  return out;
}
function oPack(spans: Span[], max: number): Span[] {
  const out: Span[] = []; let cur: Span | null = null;
  for (const sp of spans) { if (cur && sp.end - cur.start <= max) cur.end = sp.end; else { if (cur) out.push(cur); cur = { ...sp }; } }
  if (cur) out.push(cur);
  return out;
}
function oChildren(text: string, parent: Span, opt: ChunkOptions): Span[] {
  const paras = oParagraphs(text).filter((p) => p.start >= parent.start && p.end <= parent.end);
  const children = oPack(paras.flatMap((p) => oSplit(text, p, opt.maxChars, opt.overlap)), opt.maxChars);
  return children.map((c, i) => (i === 0 || text[c.start - 1] === '\n' ? c : { start: Math.max(parent.start, c.start - opt.overlap), end: c.end }));
}
function oracle(item: KnowledgeItem, docTitle: string, opt: ChunkOptions): Chunk[] {
  const text = item.text;
  const parents = text.length <= opt.parentMaxChars ? [{ start: 0, end: text.length }] : oPack(oParagraphs(text).flatMap((p) => oSplit(text, p, opt.parentMaxChars, 0)), opt.parentMaxChars);
  const base = { kbId: item.kbId, docId: item.docId, itemId: item.id, label: item.label, path: item.path, number: item.number, tags: item.tags, meta: item.meta, docTitle };
  const chunks: Chunk[] = [];
  parents.forEach((p, i) => {
    const parentId = `${item.id}#p${i}`;
    chunks.push({ ...base, id: parentId, role: 'parent', text: text.slice(p.start, p.end), start: p.start, end: p.end });
    oChildren(text, p, opt).forEach((c, j) => chunks.push({ ...base, id: `${parentId}c${j}`, parentId, role: 'child', text: text.slice(c.start, c.end), start: c.start, end: c.end }));
  });
  return chunks;
}
// ------------------------------------------------------------------

const item = (id: string, text: string): KnowledgeItem => ({ id, kbId: 'k', docId: 'd', ordinal: 0, kind: 'section', label: 'S', path: ['A'], text, state: 'approved', tags: [], meta: {}, version: 1, updatedAt: 0 });
const OPTIONS: ChunkOptions[] = [{ maxChars: 400, overlap: 60, parentMaxChars: 1600 }, { maxChars: 80, overlap: 20, parentMaxChars: 300 }, { maxChars: 50, overlap: 0, parentMaxChars: 120 }];

async function sameAsBefore(name: string, bytes: Uint8Array): Promise<number> {
  const doc = await parseDocument(name, bytes);
  let n = 0;
  doc.units.forEach((u, i) => {
    const it = { ...item(`${name}-${i}`, u.text), label: u.label, path: u.path, number: u.number };
    for (const opt of OPTIONS) {
      const now = chunkItem(it, doc.title, opt);
      assert.deepEqual(now, oracle(it, doc.title, opt), `${name} unit ${i} ${JSON.stringify(opt)}`);
      n += now.length;
    }
  });
  return n;
}

test('chunks are exactly as before on the demo corpus', async () => {
  const dir = join(import.meta.dirname, '..', '..', 'demo', 'corpus');
  let n = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.md'))) n += await sameAsBefore(f, readFileSync(join(dir, f)));
  assert.ok(n > 100);
});

test('chunks are exactly as before on the statutes', needsShared(CPL, INSURANCE), async () => {
  for (const p of [CPL_PATH, INSURANCE_PATH]) assert.ok(await sameAsBefore(p, readFileSync(p)) > 100);
});

test('chunks are exactly as before on synthetic texts: long paragraphs, no sentence ends, empty lines', () => {
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const pieces = ['短句。', 'A sentence. ', '没有句号的一段很长很长的文字', '\n', '\n\n', '；', 'word ', '？'];
  for (let k = 0; k < 40; k++) {
    let text = '';
    const len = 50 + rnd(4000);
    while (text.length < len) text += pieces[rnd(pieces.length)]!.repeat(1 + rnd(30));
    for (const opt of OPTIONS) assert.deepEqual(chunkItem(item(`s${k}`, text), 'T', opt), oracle(item(`s${k}`, text), 'T', opt), `text ${k}`);
  }
});

test('a unit of 600,000 short paragraphs is chunked, every character covered', { timeout: 120_000 }, () => {
  const text = Array.from({ length: 600_000 }, (_, i) => `第${i}段`).join('\n');
  const opt = { maxChars: 400, overlap: 60, parentMaxChars: 1600 };
  const chunks = chunkItem(item('big', text), 'T', opt);
  const parents = chunks.filter((c) => c.role === 'parent'), children = chunks.filter((c) => c.role === 'child');
  assert.equal(parents[0]!.start, 0);
  assert.equal(parents.at(-1)!.end, text.length);
  for (let i = 1; i < parents.length; i++) assert.ok(parents[i]!.start > parents[i - 1]!.end - 1);
  assert.ok(children.every((c) => c.text.length <= opt.maxChars && c.text === text.slice(c.start, c.end)));
  assert.equal(children.reduce((n, c) => n + c.text.split('\n').length, 0), 600_000);
});

test('documents over the paragraph or text limit are refused, naming the limit', async () => {
  const limits = { maxBytes: 1_000_000, maxChars: 50_000, maxParagraphs: 1000 };
  const md = new TextEncoder().encode(Array.from({ length: 1001 }, (_, i) => `段落 ${i}`).join('\n\n'));
  await assert.rejects(readDocument('many.md', md, undefined, limits), (e: Error) => e instanceof IngestLimitError && e.limit === 'maxParagraphs'
    && e.message === 'many.md has 1,001 paragraphs: over the limit of 1,000 paragraphs per document (maxParagraphs; MODELFAB_KNOWLEDGE_MAX_PARAGRAPHS)');
  assert.equal((await readDocument('ok.md', md.subarray(0, md.lastIndexOf(10) - 1), undefined, limits)).blocks.length, 1000);
  await assert.rejects(readDocument('long.txt', new TextEncoder().encode('字'.repeat(50_001)), undefined, limits), (e: Error) => e instanceof IngestLimitError && e.limit === 'maxChars');
  await assert.rejects(readDocument('big.txt', new Uint8Array(1_000_001).fill(97), undefined, limits), (e: Error) => e instanceof IngestLimitError && e.limit === 'maxBytes');
});

test('a DOCX is refused from its XML before it is converted: 600,000 empty paragraphs', async () => {
  assert.equal(countParagraphElements(Buffer.from('<w:p><w:pPr/><w:proofErr/></w:p><w:p/><w:p w:rsidR="1">')), 3);
  const docx = makeDocx('标题', ['第一段']);
  assert.doesNotThrow(() => docxPrecheck(docx, { maxBytes: 1e9, maxChars: 1e9, maxParagraphs: 2 }, 'd.docx'));
  assert.throws(() => docxPrecheck(docx, { maxBytes: 1e9, maxChars: 1e9, maxParagraphs: 1 }, 'd.docx'), /d.docx has 2 paragraphs: over the limit of 1 paragraphs/);
  const bomb = makeZip({ 'word/document.xml': `<w:document><w:body>${'<w:p/>'.repeat(600_000)}</w:body></w:document>` });
  await assert.rejects(readDocument('bomb.docx', bomb), (e: Error) => e instanceof IngestLimitError && e.limit === 'maxParagraphs' && /bomb.docx has 600,000 paragraphs/.test(e.message));
  await assert.rejects(readDocument('huge.docx', bomb, undefined, { maxBytes: 1e9, maxChars: 100_000, maxParagraphs: 1e9 }), (e: Error) => e instanceof IngestLimitError && e.limit === 'maxChars');
});

test('the worker thread parses as the calling thread does, and brings limit errors back as they are', async () => {
  const dir = join(import.meta.dirname, '..', '..', 'demo', 'corpus');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.md')).slice(0, 4)) {
    const bytes = readFileSync(join(dir, f));
    assert.deepEqual(await parseOffThread(f, bytes), await parseDocument(f, bytes));
  }
  const docx = makeDocx('员工手册', ['第一条 员工应当遵守本手册。', '第二条 年假为十天。', '第三条 本手册自发布之日起施行。']);
  assert.deepEqual(await parseOffThread('h.docx', docx), await parseDocument('h.docx', docx));
  const pdf = makePdf([['Returns policy', 'Goods may be returned within seven days.'], ['Returns policy', 'Refunds are paid within 7 days.'], ['Returns policy', 'Shipping is paid by the buyer.']]);
  const viaWorker = await parseOffThread('h.pdf', pdf);
  assert.deepEqual(viaWorker, await parseDocument('h.pdf', pdf));
  assert.match(viaWorker.units.map((u) => u.text).join('\n'), /Refunds are paid within 7 days/);
  const zh = new TextEncoder().encode('# 員工手冊\n\n第一條 員工應當遵守本手冊。\n\n第二條 年假為十天。\n\n第三條 本手冊自發佈之日起施行。');
  assert.deepEqual(await parseOffThread('t.md', zh, { t2s: true }), await parseDocument('t.md', zh, { t2s: true }));
  const md = new TextEncoder().encode('段\n\n'.repeat(3001));
  await assert.rejects(parseOffThread('m.md', md, { limits: { maxBytes: 1e9, maxChars: 1e9, maxParagraphs: 3000 } }), (e: Error) => e instanceof IngestLimitError && e.limit === 'maxParagraphs' && e.message.startsWith('m.md has 3,001 paragraphs'));
});

test('HTTP: a document with 200,000 paragraphs gets 413 naming the limit; the knowledge base is unchanged', async () => {
  const { url, stop } = await startServer();
  try {
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as any };
    };
    assert.equal((await call('POST', '/v1/knowledge/bases', { id: 'kb', name: 'kb' })).status, 200);
    const r = await call('POST', '/v1/knowledge/bases/kb/documents', { filename: 'many.md', text: '段落\n\n'.repeat(200_000) });
    assert.equal(r.status, 413, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'document_too_large');
    assert.match(r.json.error.message, /^many\.md has 200,000 paragraphs: over the limit of 50,000 paragraphs per document \(maxParagraphs; MODELFAB_KNOWLEDGE_MAX_PARAGRAPHS\)$/);
    assert.deepEqual((await call('GET', '/v1/knowledge/bases/kb/documents')).json.data, []);
    const ok = await call('POST', '/v1/knowledge/bases/kb/documents', { filename: 'ok.md', text: '# 标题\n\n第一段。\n\n第二段。' });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
  } finally {
    await stop();
  }
});
