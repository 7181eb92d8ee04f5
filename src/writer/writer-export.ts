/**
 * A Writer document as Markdown and as DOCX (the `docx` package): the title, each section under its heading with
 * its [n] citations inline, the pictures, and the sources the text cites, numbered as in the text. Paragraphs are
 * the section text's blank-line-separated blocks; a block of "- " lines is a list; "**bold**" stays bold in DOCX.
 */
import { Document, HeadingLevel, ImageRun, Packer, Paragraph, TextRun } from 'docx';
import type { WriterDocument } from './writer-document.ts';

const cited = (d: WriterDocument) => {
  const refs = new Set(d.sections.flatMap((s) => s.cited));
  return d.sources.filter((s) => refs.has(s.ref));
};
const sourcesTitle = (d: WriterDocument) => (d.style.language === 'zh' ? '参考资料' : 'Sources');
const imagesTitle = (d: WriterDocument) => (d.style.language === 'zh' ? '配图' : 'Pictures');

export function toMarkdown(d: WriterDocument): string {
  const out = [`# ${d.title}`, ''];
  for (const s of d.sections) out.push(`## ${s.heading}`, '', s.text || '', '');
  if (d.images.length) {
    out.push(`## ${imagesTitle(d)}`, '');
    d.images.forEach((im, i) => out.push(im.url ? `![${im.prompt}](${im.url})` : `*${i + 1}. ${im.prompt}* (${d.style.language === 'zh' ? '图片见 DOCX 导出' : 'embedded in the DOCX export'})`, ''));
  }
  const src = cited(d);
  if (src.length) {
    out.push(`## ${sourcesTitle(d)}`, '');
    for (const s of src) out.push(`[${s.ref}] ${s.label} (${s.kb})`);
    out.push('');
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

/** Text runs of one line: **bold** marked, the rest plain. */
function runs(line: string): TextRun[] {
  return line.split(/(\*\*[^*]+\*\*)/).filter(Boolean).map((p) => (p.startsWith('**') && p.endsWith('**') ? new TextRun({ text: p.slice(2, -2), bold: true }) : new TextRun(p)));
}

function paragraphs(text: string): Paragraph[] {
  const out: Paragraph[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!lines.length) continue;
    if (lines.every((l) => /^[-*•]\s+/.test(l))) {
      for (const l of lines) out.push(new Paragraph({ children: runs(l.replace(/^[-*•]\s+/, '')), bullet: { level: 0 } }));
    } else out.push(new Paragraph({ children: runs(lines.join(' ')) }));
  }
  return out;
}

/** A PNG's or JPEG's pixel size (the picture keeps its aspect ratio), or a square when it is neither. */
function imageSize(b: Buffer): { width: number; height: number; type: 'png' | 'jpg' } {
  if (b.length > 24 && b.readUInt32BE(0) === 0x89504e47) return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), type: 'png' };
  for (let i = 2; i + 9 < b.length && b[0] === 0xff && b[1] === 0xd8;) {
    if (b[i] !== 0xff) break;
    const marker = b[i + 1]!, len = b.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc3) return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7), type: 'jpg' };
    i += 2 + len;
  }
  return { width: 512, height: 512, type: 'png' };
}

export async function toDocx(d: WriterDocument): Promise<Buffer> {
  const children: Paragraph[] = [new Paragraph({ text: d.title, heading: HeadingLevel.TITLE })];
  for (const s of d.sections) {
    children.push(new Paragraph({ text: s.heading, heading: HeadingLevel.HEADING_1 }));
    children.push(...paragraphs(s.text));
  }
  const pictures = d.images.filter((im) => im.b64_json);
  if (pictures.length) {
    children.push(new Paragraph({ text: imagesTitle(d), heading: HeadingLevel.HEADING_1 }));
    for (const im of pictures) {
      const data = Buffer.from(im.b64_json!, 'base64');
      const { width, height, type } = imageSize(data);
      const w = Math.min(480, width || 480);
      children.push(new Paragraph({ children: [new ImageRun({ type, data, transformation: { width: w, height: Math.round((w * (height || w)) / (width || w)) } })] }));
      children.push(new Paragraph({ children: [new TextRun({ text: im.prompt, italics: true })] }));
    }
  }
  const src = cited(d);
  if (src.length) {
    children.push(new Paragraph({ text: sourcesTitle(d), heading: HeadingLevel.HEADING_1 }));
    for (const s of src) children.push(new Paragraph({ children: [new TextRun(`[${s.ref}] ${s.label} (${s.kb})`)] }));
  }
  const doc = new Document({ creator: 'modelfab Magic Writer', title: d.title, sections: [{ children }] });
  return Packer.toBuffer(doc);
}
