/**
 * Magic Writer's pure parts: the shipped templates are valid data and every problem of a broken one is named by
 * file and field; a form's fields and the style controls are checked; an outline reads as headings; citations keep
 * only passages the model was given; the exports (Markdown, and DOCX opened as a ZIP: word/document.xml).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinTemplates, parseTemplate, readFields, templateMessages } from '../../src/writer/writer-templates.ts';
import { parseStyle, styleInstructions } from '../../src/writer/writer-style.ts';
import { addSources, linkCitations, newDocument, parseDocumentRequest, parseOutline, sectionMessages } from '../../src/writer/writer-document.ts';
import { toDocx, toMarkdown } from '../../src/writer/writer-export.ts';
import { ValidationError } from '../../src/util/status-error.ts';
import { zipEntries } from './zip-entries.ts';

const problemsOf = (f: () => unknown): Array<{ file: string; path?: string; message: string }> => {
  try { f(); } catch (e) { assert.ok(e instanceof ValidationError, String(e)); return e.problems; }
  assert.fail('no error');
};

test('the shipped templates: five business forms, each field labelled in both languages, instructions naming only fields', () => {
  const ts = builtinTemplates();
  assert.deepEqual(ts.map((t) => t.id), ['marketing-copy', 'meeting-summary', 'press-release', 'product-description', 'report-from-notes']);
  for (const t of ts) {
    assert.ok(t.fields.some((f) => f.required), t.id);
    for (const f of t.fields) assert.ok(f.label.en && f.label.zh, `${t.id}.${f.name}`);
  }
});

test('a broken template names every problem by file and field', () => {
  const good = builtinTemplates()[0]!;
  const p = problemsOf(() => parseTemplate({ ...good, id: 'Bad Id', fields: [{ ...good.fields[0], kind: 'select' }, { ...good.fields[0] }], description: { en: 'x' }, instructions: { en: 'Write {{nope}}', zh: '写' } }, 'templates/x.json'));
  assert.deepEqual(p.map((x) => x.path), ['id', 'description', 'fields[0].kind', 'fields[1].name', 'instructions.en']);
  assert.ok(p.every((x) => x.file === 'templates/x.json'));
});

test('fields: required ones, unknown ones and types are named; the prompt fills the form in the chosen language', () => {
  const t = builtinTemplates().find((x) => x.id === 'press-release')!;
  assert.deepEqual(problemsOf(() => readFields(t, { organisation: 'Spruce', news: '   ', extra: 'x', date_place: 3 })).map((x) => x.path), ['fields.news', 'fields.date_place', 'fields.extra']);
  const fields = readFields(t, { organisation: 'Spruce Ltd', news: 'a new plant in Suzhou', date_place: 'Suzhou, 1 May' });
  const style = parseStyle({ language: 'zh', audience: '行业媒体' }, t.defaults);
  assert.equal(style.tone, 'formal', 'the template default');
  const [sys, user] = templateMessages(t, fields, style);
  assert.match(sys!.content, /用简体中文写作。语气：正式、严谨/);
  assert.match(sys!.content, /读者：行业媒体/);
  assert.match(user!.content, /以Spruce Ltd的名义撰写新闻稿/);
  assert.match(user!.content, /引语（（未提供））/, 'an empty optional field reads "not given"');
  assert.deepEqual(problemsOf(() => parseStyle({ tone: 'angry', length: 3, colour: 'red' })).map((x) => x.path), ['style.tone', 'style.length', 'style.colour']);
  assert.match(styleInstructions(parseStyle({ length: 'long' })), /about 450-700 words/);
});

test('outlines: a list or lines, markers dropped; limits named; a document request needs title and model', () => {
  assert.deepEqual(parseOutline('1. Overview\n- Market\n\n## Risks\n二、结论'), ['Overview', 'Market', 'Risks', '结论']);
  assert.deepEqual(parseOutline(['Intro', 'End']), ['Intro', 'End']);
  assert.deepEqual(problemsOf(() => parseOutline(['ok', 5])).map((x) => x.path), ['outline[1]']);
  assert.deepEqual(problemsOf(() => parseOutline('\n \n')).map((x) => x.path), ['outline']);
  assert.throws(() => parseDocumentRequest({ outline: ['a'], model: 'm' }), /'title' is required/);
  assert.equal(parseDocumentRequest({ title: 'T', outline: 'A\nB', model: 'm', knowledge: 'kb' }).knowledge, 'kb');
});

test('citations: numbered once per document; a [n] the section was not given is removed', () => {
  const doc = newDocument('d', { title: 'Returns', brief: '', outline: ['Policy', 'Process'], style: parseStyle({}), model: 'm', knowledge: 'kb' }, 0);
  const a = addSources(doc, [{ kb: 'kb', label: 'Handbook §1', text: 'Thirty days.' }, { kb: 'kb', label: 'Handbook §2', text: 'Receipt needed.' }]);
  const b = addSources(doc, [{ kb: 'kb', label: 'Handbook §2', text: 'Receipt needed.' }, { kb: 'kb', label: 'Handbook §3', text: 'Refund in 5 days.' }]);
  assert.deepEqual([a, b], [[1, 2], [2, 3]]);
  assert.deepEqual(linkCitations('Returns take thirty days [1]. A receipt is needed [2][7].', [1, 2]), { text: 'Returns take thirty days [1]. A receipt is needed [2].', cited: [1, 2] });
  const [, user] = sectionMessages(doc, 1, b);
  assert.match(user!.content, /Sources:\n\[2\] Handbook §2\nReceipt needed\.\n\n\[3\] Handbook §3/);
  assert.match(user!.content, /2\. Process {2}<- this section/);
});

test('exports: Markdown with headings and the cited sources; DOCX whose document.xml holds the text', async () => {
  const doc = newDocument('d', { title: 'Returns guide', brief: '', outline: ['Policy', 'Steps'], style: parseStyle({}), model: 'm', knowledge: 'kb' }, 0);
  addSources(doc, [{ kb: 'kb', label: 'Handbook §1', text: 'Thirty days.' }, { kb: 'kb', label: 'Handbook §9', text: 'Unused.' }]);
  doc.sections[0] = { heading: 'Policy', text: 'Customers may return goods within **thirty days** [1].', status: 'done', given: [1, 2], cited: [1] };
  doc.sections[1] = { heading: 'Steps', text: '- Bring the receipt\n- Fill in the form', status: 'done', given: [], cited: [] };
  const md = toMarkdown(doc);
  assert.match(md, /^# Returns guide\n\n## Policy\n\nCustomers may return goods within \*\*thirty days\*\* \[1\]\.\n\n## Steps\n/);
  assert.match(md, /## Sources\n\n\[1\] Handbook §1 \(kb\)\n$/);
  assert.doesNotMatch(md, /§9/, 'only cited sources are listed');
  const entries = zipEntries(await toDocx(doc));
  const xml = entries.get('word/document.xml')!.toString('utf8');
  assert.ok(xml.includes('Returns guide') && xml.includes('Policy') && xml.includes('thirty days') && xml.includes('Bring the receipt'));
  assert.match(xml, /<w:b\/>[\s\S]*?thirty days/, 'bold survives');
  assert.ok(xml.includes('[1] Handbook §1 (kb)'));
  assert.ok(entries.has('word/numbering.xml') || xml.includes('w:numPr'), 'the list is a list');
});
