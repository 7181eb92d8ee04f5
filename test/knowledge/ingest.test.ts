// Ingest: statute structure (63 and 185 article units with numbers and chapter paths; the preamble is document
// metadata, not a unit), readers for every format, cleaning, Chinese numerals, chunking guarantees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readDocument, detectFormat } from '../../src/knowledge/ingest/readers.ts';
import { structureDocument, parseChineseNumber } from '../../src/knowledge/ingest/structure.ts';
import { toChineseNumeral as toChineseNumber } from '../../src/util/chinese-numerals.ts';
import { normalizeText, stripRepeatedHeadersFooters, toHalfWidth, traditionalToSimplified } from '../../src/knowledge/ingest/normalize.ts';
import { chunkItem } from '../../src/knowledge/chunk.ts';
import type { KnowledgeItem } from '../../src/knowledge/knowledge-types.ts';
import { CPL, CPL_PATH, INSURANCE, INSURANCE_PATH } from './quality.ts';
import { needsShared } from '../shared-data.ts';
import { makeDocx, makePdf } from './fixtures.ts';

async function articles(path: string) {
  const { units, statute } = structureDocument(await readDocument(path, readFileSync(path)));
  assert.ok(statute);
  return units.filter((u) => u.kind === 'article');
}

test('consumer-protection law: exactly 63 articles, numbered 1..63, each with its chapter path', needsShared(CPL), async () => {
  const a = await articles(CPL_PATH);
  assert.equal(a.length, 63);
  assert.deepEqual(a.map((u) => u.number), Array.from({ length: 63 }, (_, i) => i + 1));
  for (const u of a) assert.equal(u.path.length, 1, `${u.label} has chapter path ${u.path}`);
  const a25 = a[24]!;
  assert.equal(a25.label, '第二十五条');
  assert.deepEqual(a25.path, ['第三章 经营者的义务']);
  assert.match(a25.text, /七日内退货/);
  assert.match(a25.text, /（四）交付的报纸、期刊。/); // continuation paragraphs belong to the article
  assert.deepEqual(a[62]!.path, ['第八章 附则']);
});

test('insurance law: exactly 185 articles with chapter and section paths', needsShared(INSURANCE), async () => {
  const a = await articles(INSURANCE_PATH);
  assert.equal(a.length, 185);
  assert.deepEqual(a.map((u) => u.number), Array.from({ length: 185 }, (_, i) => i + 1));
  const withSection = a.filter((u) => u.path.length === 2);
  assert.ok(withSection.length > 0 && withSection.every((u) => /^第二章/.test(u.path[0]!) && /^第.节/.test(u.path[1]!)));
  assert.match(a[64]!.text, /责任保险/);
  assert.match(a[181]!.text, /海商法/);
  assert.equal(a[184]!.label, '第一百八十五条');
});

test('statute preambles are metadata, not units: a 63-article law is 63 units, a 185-article law 185', needsShared(CPL, INSURANCE), async () => {
  for (const [path, n, passedBy, passedOn, amendments] of [
    [CPL_PATH, 63, '第八届全国人民代表大会常务委员会第四次会议', '1993-10-31', 2],
    [INSURANCE_PATH, 185, '第八届全国人民代表大会常务委员会第十四次会议', '1995-06-30', 4],
  ] as const) {
    const { units, statute, meta } = structureDocument(await readDocument(path, readFileSync(path)));
    assert.ok(statute);
    assert.equal(units.length, n, `${path}: every unit is an article`);
    assert.ok(units.every((u) => u.kind === 'article'));
    assert.ok(units.every((u) => !/全国人民代表大会常务委员会第.+次会议/.test(u.text)), 'no unit holds the history');
    assert.match(meta.title!, /^中华人民共和国/);
    assert.equal(meta.passedBy, passedBy);
    assert.equal(meta.passedOn, passedOn);
    assert.equal(meta.history!.filter((e) => e.event === '修正' || e.event === '修订').length, amendments);
    assert.ok(meta.history!.every((e) => /^\d{4}-\d{2}-\d{2}$/.test(e.date!) && e.session));
  }
  // a title inside a title (《关于修改<…>的决定》) is text, not an HTML tag
  const cpl = structureDocument(await readDocument(CPL_PATH, readFileSync(CPL_PATH))).meta;
  assert.match(cpl.history![2]!.text, /《关于修改<中华人民共和国消费者权益保护法>的决定》第二次修正$/);
});

test('statute preamble as plain text: bracketed history, promulgation notice and table of contents are metadata; a real 序言 stays a unit', async () => {
  const txt = [
    '中华人民共和国测试法',
    '（1993年10月31日第八届全国人民代表大会常务委员会第四次会议通过　根据2009年8月27日第十一届全国人民代表大会常务委员会第十次会议《关于修改部分法律的决定》第一次修正）',
    '中华人民共和国主席令第七号',
    '目录', '第一章 总则', '第二章 细则', '第三章 附则',
    '第一章 总则', '第一条 为了测试，制定本法。', '第二章 细则', '第二条 本法适用于测试。', '第三章 附则', '第三条 本法自公布之日起施行。',
  ].join('\n\n');
  const { units, meta } = structureDocument(await readDocument('t.txt', Buffer.from(txt)));
  assert.deepEqual(units.map((u) => [u.label, u.path]), [['第一条', ['第一章 总则']], ['第二条', ['第二章 细则']], ['第三条', ['第三章 附则']]]);
  assert.equal(meta.title, '中华人民共和国测试法');
  assert.deepEqual(meta.history!.map((e) => [e.date, e.event]), [['1993-10-31', '通过'], ['2009-08-27', '修正'], [null, null]]);
  assert.equal(meta.passedBy, '第八届全国人民代表大会常务委员会第四次会议');
  assert.deepEqual(meta.contents, ['第一章 总则', '第二章 细则', '第三章 附则']);

  const constitution = ['# 中华人民共和国宪法', '（1982年12月4日第五届全国人民代表大会第五次会议通过）', '中国是世界上历史最悠久的国家之一。', '第一条 甲。', '第二条 乙。', '第三条 丙。'].join('\n\n');
  const c = structureDocument(await readDocument('c.md', Buffer.from(constitution)));
  assert.deepEqual(c.units.map((u) => u.label), ['序言', '第一条', '第二条', '第三条']);
  assert.equal(c.units[0]!.text, '中国是世界上历史最悠久的国家之一。');
  assert.equal(c.meta.passedBy, '第五届全国人民代表大会第五次会议');
});

test('Chinese numerals both ways', () => {
  for (const [s, n] of [['一', 1], ['十', 10], ['十二', 12], ['二十', 20], ['一百零五', 105], ['一百八十五', 185], ['两千零三', 2003], ['63', 63]] as const) assert.equal(parseChineseNumber(s), n);
  for (let n = 1; n < 1200; n++) assert.equal(parseChineseNumber(toChineseNumber(n)), n);
  assert.equal(toChineseNumber(105), '一百零五');
  assert.equal(toChineseNumber(20), '二十');
});

test('normalisation: half-width, whitespace, repeated headers/footers, traditional to simplified', async () => {
  assert.equal(toHalfWidth('ＡＢＣ１２３，。（）'), 'ABC123，。（）');
  assert.equal(normalizeText('  a \t b\u200b\r\n\r\n\r\n c '), 'a b\n\nc');
  const bodies = ['Leave is ten days.', 'Overtime needs approval.', 'Travel is booked centrally.', 'Laptops are encrypted.'];
  const pages = bodies.map((b, i) => `ACME Handbook\n${b}\nPage ${i + 1} of 4`);
  const out = stripRepeatedHeadersFooters(pages);
  assert.deepEqual(out, bodies);
  assert.equal(await traditionalToSimplified('消費者權益保護法'), '消费者权益保护法');
});

test('readers: txt, markdown, html, pdf and docx', async () => {
  const txt = await readDocument('a.txt', Buffer.from('第一章 总则\n\n第一条 为了测试，制定本法。\n\n第二条 本法适用于测试。\n\n第三条 本法自公布之日起施行。'));
  const st = structureDocument(txt);
  assert.ok(st.statute);
  assert.deepEqual(st.units.map((u) => [u.number, u.path]), [[1, ['第一章 总则']], [2, ['第一章 总则']], [3, ['第一章 总则']]]);

  const md = await readDocument('a.md', Buffer.from('# Guide\n\n## Setup\n\nInstall **it** [now](http://x).\n\n### Linux\n\n- apt install x\n- run it\n\n## Use\n\nRun.'));
  const sec = structureDocument(md).units;
  assert.equal(md.title, 'Guide');
  assert.deepEqual(sec.map((u) => u.path), [['Guide', 'Setup'], ['Guide', 'Setup', 'Linux'], ['Guide', 'Use']]);
  assert.equal(sec[0]!.text, 'Install it now.');

  const html = await readDocument('a.html', Buffer.from('<html><head><style>p{}</style></head><body><nav>menu</nav><h1>Title</h1><p>One &amp; two</p><script>x()</script><h2>Sub</h2><ul><li>item a</li><li>item b</li></ul></body></html>'));
  assert.deepEqual(html.blocks, [{ kind: 'heading', level: 1, text: 'Title' }, { kind: 'paragraph', text: 'One & two' }, { kind: 'heading', level: 2, text: 'Sub' }, { kind: 'paragraph', text: 'item a' }, { kind: 'paragraph', text: 'item b' }]);

  const pdfBytes = makePdf([['Returns policy', 'Goods may be returned within seven days.'], ['Returns policy', 'Refunds are paid within 7 days.'], ['Returns policy', 'Shipping is paid by the buyer.']]);
  assert.equal(detectFormat('x.bin', pdfBytes), 'pdf');
  const pdf = await readDocument('p.pdf', pdfBytes);
  const pdfText = pdf.blocks.map((b) => b.text).join('\n');
  assert.match(pdfText, /returned within seven days/);
  assert.match(pdfText, /Shipping is paid by the buyer/);
  assert.doesNotMatch(pdfText, /Returns policy/); // repeated header removed

  const docx = await readDocument('d.docx', makeDocx('员工手册', ['第一条 员工应当遵守本手册。', '第二条 年假为十天。', '第三条 本手册自发布之日起施行。']));
  assert.equal(docx.title, '员工手册');
  const du = structureDocument(docx).units.filter((u) => u.kind === 'article');
  assert.deepEqual(du.map((u) => u.number), [1, 2, 3]);
});

test('chunking: structure first, size limits with overlap, parent-child, full coverage', () => {
  const paras = Array.from({ length: 12 }, (_, i) => `第${i}段。${'这是一句很长的测试文字，用来检查切分。'.repeat(8)}`);
  const item: KnowledgeItem = { id: 'it', kbId: 'k', docId: 'd', ordinal: 0, kind: 'section', label: 'S', path: ['A'], text: paras.join('\n'), state: 'approved', tags: [], meta: {}, version: 1, updatedAt: 0 };
  const opt = { maxChars: 200, overlap: 30, parentMaxChars: 800 };
  const chunks = chunkItem(item, 'Doc', opt);
  const parents = chunks.filter((c) => c.role === 'parent');
  const children = chunks.filter((c) => c.role === 'child');
  assert.ok(parents.length > 1 && children.length > parents.length);
  for (const c of chunks) {
    assert.equal(c.text, item.text.slice(c.start, c.end));
    assert.ok(c.text.length <= (c.role === 'parent' ? opt.parentMaxChars : opt.maxChars + opt.overlap));
  }
  for (const c of children) { const p = parents.find((x) => x.id === c.parentId)!; assert.ok(c.start >= p.start && c.end <= p.end); }
  // every character in exactly one parent and at least one child
  const inParent = new Uint8Array(item.text.length), inChild = new Uint8Array(item.text.length);
  for (const p of parents) for (let i = p.start; i < p.end; i++) inParent[i]!++;
  for (const c of children) for (let i = c.start; i < c.end; i++) inChild[i] = 1;
  for (let i = 0; i < item.text.length; i++) if (item.text[i] !== '\n') { assert.equal(inParent[i], 1); assert.equal(inChild[i], 1); }
  assert.deepEqual(chunkItem(item, 'Doc', opt).map((c) => c.id), chunks.map((c) => c.id)); // deterministic ids
});
