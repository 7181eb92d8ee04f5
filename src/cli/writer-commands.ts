/**
 * `modelfab writer ...`: Magic Writer on the running server — templates, compose (a filled template), write (a long
 * document from an outline, section by section, progress as it is written), list, show, export (Markdown or DOCX),
 * image (a picture through /v1/images/generations, saved or added to a document) and delete. Thin: reads options,
 * calls /v1/writer/..., prints text or --json. Useful text needs a capable model (any model the server serves works).
 */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import type { WriterTemplate } from '../writer/writer-templates.ts';
import type { WriterDocument } from '../writer/writer-document.ts';
import type { WriterEvent, ComposeResult } from '../writer/writer-service.ts';
import { ApiClient, ApiClientError, clientOptions, out, remote, seg, type Remote } from './client.ts';
import { readUserJson, readUserText } from './user-files.ts';
import { collect } from './option-values.ts';

type StyleOptions = { tone?: string; length?: string; audience?: string; language?: string };

const styleOf = (o: StyleOptions) => ({ ...(o.tone ? { tone: o.tone } : {}), ...(o.length ? { length: o.length } : {}), ...(o.audience ? { audience: o.audience } : {}), ...(o.language ? { language: o.language } : {}) });
const withStyle = (c: Command): Command => c
  .option('--tone <tone>', 'neutral, formal, friendly, persuasive or concise')
  .option('--length <length>', 'short, medium or long')
  .option('--audience <text>', 'who reads it')
  .option('--language <lang>', 'en or zh');

/** `key=value` of --field. */
function fieldPairs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of list) {
    const i = f.indexOf('=');
    if (i < 1) throw new Error(`--field must be name=value, got ${JSON.stringify(f)}`);
    out[f.slice(0, i)] = f.slice(i + 1);
  }
  return out;
}

/** A response's body as bytes (exports), or the server's error as one line. */
async function bytes(client: ApiClient, path: string): Promise<Buffer> {
  let res: Response;
  try { res = await fetch(client.url + path, { headers: { authorization: `Bearer ${client.key}` } }); } catch (e) {
    throw new ApiClientError(0, `cannot reach ${client.url} (${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message})`);
  }
  const buf = Buffer.from(await res.arrayBuffer());
  if (!res.ok) {
    let msg = buf.toString('utf8').slice(0, 300);
    try { msg = (JSON.parse(msg) as { error: { message: string } }).error.message; } catch { /* not JSON */ }
    throw new ApiClientError(res.status, `${res.status}: ${msg}`);
  }
  return buf;
}

/** Writes an export to `file` (format from the extension unless given). */
async function exportTo(client: ApiClient, id: string, file: string, format?: string): Promise<void> {
  const f = format ?? (file.endsWith('.docx') ? 'docx' : 'markdown');
  writeFileSync(file, await bytes(client, `/v1/writer/documents/${seg(id)}/export?format=${encodeURIComponent(f)}`));
}

export function registerWriter(program: Command): void {
  const w = program.command('writer').description('Magic Writer on the server: business texts from templates, long documents from an outline with citations, Markdown/DOCX');

  remote(w.command('templates').description('list the writing templates and their fields')).action(async (o: Remote) => {
    const r = await new ApiClient(clientOptions(o)).get<{ data: WriterTemplate[]; image_models: string[] }>('/v1/writer/templates');
    out(o.json, r, () => [...r.data.map((t) => `${t.id.padEnd(22)} ${t.name.en} / ${t.name.zh}\n${' '.repeat(23)}fields: ${t.fields.map((f) => `${f.name}${f.required ? '*' : ''}`).join(', ')}`),
      `pictures: ${r.image_models.length ? r.image_models.join(', ') : 'no images model is configured (register an OpenAI-compatible images endpoint)'}`].join('\n'));
  });

  withStyle(remote(w.command('compose <template>').description('write a text from a template: --field name=value for each field (* in `writer templates` = required)')))
    .requiredOption('--model <model>', 'the model that writes')
    .option('--field <name=value>', 'a field of the form (repeatable)', collect, [])
    .option('--fields <file>', 'the fields as a JSON object')
    .option('--knowledge <kb>', 'ground the text in this knowledge base (citations as [n])')
    .action(async (template: string, o: Remote & StyleOptions & { model: string; field: string[]; fields?: string; knowledge?: string }) => {
      const fields = { ...(o.fields ? readUserJson<Record<string, string>>(o.fields) : {}), ...fieldPairs(o.field) };
      const r = await new ApiClient(clientOptions(o)).post<ComposeResult>('/v1/writer/compose', { template, model: o.model, fields, style: styleOf(o), ...(o.knowledge ? { knowledge: o.knowledge } : {}) });
      out(o.json, r, () => [r.text, ...(r.sources.length ? ['', ...r.sources.map((s) => `[${s.ref}] ${s.label} (${s.kb})`)] : [])].join('\n'));
    });

  withStyle(remote(w.command('write <title>').description('write a long document from an outline, section by section (progress as it goes)')))
    .requiredOption('--model <model>', 'the model that writes')
    .option('--outline <file>', 'the outline: one section heading a line')
    .option('--section <heading>', 'a section heading (repeatable; instead of --outline)', collect, [])
    .option('--brief <text>', 'what the document is for, what it must say')
    .option('--knowledge <kb>', 'ground every section in this knowledge base (citations as [n])')
    .option('--out <file>', 'also save it: .md (Markdown) or .docx')
    .action(async (title: string, o: Remote & StyleOptions & { model: string; outline?: string; section: string[]; brief?: string; knowledge?: string; out?: string }) => {
      const outline = o.outline ? readUserText(o.outline) : o.section;
      if (!o.outline && !o.section.length) throw new Error('give the outline: --outline FILE or --section HEADING (repeatable)');
      const client = new ApiClient(clientOptions(o));
      let doc: WriterDocument | null = null;
      for await (const { event, data } of client.events('/v1/writer/documents', undefined, { title, outline, model: o.model, brief: o.brief, knowledge: o.knowledge, style: styleOf(o), stream: true })) {
        const e = data as WriterEvent;
        if (event === 'error') throw new ApiClientError(0, `writing stopped: ${(data as { error: { message: string } }).error.message}`);
        if (e.type === 'document.created' && !o.json) process.stderr.write(`${e.document.id}: ${e.document.sections.length} sections\n`);
        if (e.type === 'section.started' && !o.json) process.stderr.write(`  [${e.index + 1}] ${e.heading}${e.sources.length ? ` (${e.sources.length} passages)` : ''} … `);
        if (e.type === 'section.done' && !o.json) process.stderr.write(`${e.text.length} characters${e.cited.length ? `, cites ${e.cited.map((n) => `[${n}]`).join('')}` : ''}\n`);
        if (e.type === 'document.done') doc = e.document;
      }
      if (!doc) throw new Error('the server ended the stream before the document was done');
      if (o.out) await exportTo(client, doc.id, o.out);
      const d = doc;
      out(o.json, d, () => `${d.id}: ${d.title} (${d.sections.length} sections, ${d.usage.completion_tokens} tokens)${o.out ? `, saved to ${o.out}` : `; export it: modelfab writer export ${d.id} --out FILE.docx`}`);
    });

  remote(w.command('list').description('your documents, newest first')).action(async (o: Remote) => {
    const { data } = await new ApiClient(clientOptions(o)).get<{ data: WriterDocument[] }>('/v1/writer/documents');
    out(o.json, data, () => data.map((d) => `${d.id}  ${new Date(d.created_at).toISOString().slice(0, 16)}  ${d.status.padEnd(9)} ${d.title}`).join('\n') || '(no documents)');
  });

  remote(w.command('show <id>').description('print a document as Markdown')).action(async (id: string, o: Remote) => {
    const client = new ApiClient(clientOptions(o));
    if (o.json) { out(true, await client.get(`/v1/writer/documents/${seg(id)}`), () => ''); return; }
    process.stdout.write((await bytes(client, `/v1/writer/documents/${seg(id)}/export?format=markdown`)).toString('utf8'));
  });

  remote(w.command('export <id>').description('save a document as Markdown or DOCX'))
    .requiredOption('--out <file>', 'where to save it (.md or .docx)')
    .option('--format <format>', 'markdown or docx (default: from the file name)')
    .action(async (id: string, o: Remote & { out: string; format?: string }) => {
      await exportTo(new ApiClient(clientOptions(o)), id, o.out, o.format);
      console.log(`saved ${o.out}`);
    });

  remote(w.command('image <prompt>').description('make a picture through the server\'s images endpoint; save it, or add it to a document'))
    .requiredOption('--model <model>', 'an images model (an OpenAI-compatible images endpoint the server serves)')
    .option('--size <size>', 'e.g. 1024x1024')
    .option('--document <id>', 'add the picture to this document (its DOCX export embeds it)')
    .option('--out <file>', 'save the picture (PNG)')
    .action(async (prompt: string, o: Remote & { model: string; size?: string; document?: string; out?: string }) => {
      const client = new ApiClient(clientOptions(o));
      if (o.document) {
        const d = await client.post<WriterDocument>(`/v1/writer/documents/${seg(o.document)}/images`, { model: o.model, prompt, ...(o.size ? { size: o.size } : {}) });
        out(o.json, d, () => `${d.id}: ${d.images.length} picture(s)`);
        return;
      }
      const r = await client.post<{ data: Array<{ b64_json?: string; url?: string }> }>('/v1/images/generations', { model: o.model, prompt, response_format: 'b64_json', ...(o.size ? { size: o.size } : {}) });
      const img = r.data[0];
      if (o.out && img?.b64_json) writeFileSync(o.out, Buffer.from(img.b64_json, 'base64'));
      out(o.json, r, () => (o.out && img?.b64_json ? `saved ${o.out}` : img?.url ?? '(a picture as base64; pass --out FILE.png to save it)'));
    });

  remote(w.command('delete <id>').description('delete a document')).action(async (id: string, o: Remote) => {
    const r = await new ApiClient(clientOptions(o)).delete(`/v1/writer/documents/${seg(id)}`);
    out(o.json, r, () => `deleted ${id}`);
  });
}
