/**
 * `modelfab knowledge ...`: the Knowledge Factory of the running server — create, ingest, list, show, review,
 * search, ask, attribute, rebuild. Thin: parses options, calls /v1/knowledge/..., prints text or `--json`. Documents
 * are uploaded with the Files API (purpose assistants) and ingested by file id. Embedding and answering models are
 * the server's (`modelfab serve --embed-url/--embed-model or --embed-gguf, --chat-url/--chat-model`): a knowledge
 * base searches lexically unless the server has an embedding model, and answers extractively without a chat model.
 */
import type { Command } from 'commander';
import { basename } from 'node:path';
import { BUILTIN_LEXICONS } from '../knowledge/knowledge-service.ts';
import type { DocumentRecord, ItemVersion, KnowledgeBase, KnowledgeItem } from '../knowledge/knowledge-types.ts';
import type { SearchResponse } from '../knowledge/search.ts';
import type { AskResult } from '../knowledge/chat-search.ts';
import { ApiClient, clientOptions, out, remote, seg, type Remote } from './client.ts';
import { lexiconField, readUserText, requireFile } from './user-files.ts';
const kbPath = (id: string) => `/v1/knowledge/bases/${seg(id)}`;
const kbList = (ids: string) => ids.split(',').map((x) => x.trim()).filter(Boolean);

export function registerKnowledge(program: Command): void {
  const k = program.command('knowledge').description('Knowledge Factory on the server: ingest documents, review, search, ask with citations, check attribution');

  remote(k.command('create <name>').description('create a knowledge base'))
    .option('--id <id>', 'identifier (default: from the name)')
    .option('--description <text>', 'description', '')
    .option('--require-approval', 'serve only approved items')
    .option('--t2s', 'convert Traditional Chinese to Simplified at ingest')
    .option('--lexicon <file|name>', `domain lexicon file, or a built-in one (${Object.keys(BUILTIN_LEXICONS).join(', ')})`)
    .option('--max-chars <n>', 'child chunk size in characters', '400')
    .option('--guard <policy>', 'a guard policy (modelfab guard policies) for chat search over it')
    .action(async (name: string, o: Remote & { id?: string; description: string; requireApproval?: boolean; t2s?: boolean; lexicon?: string; maxChars: string; guard?: string }) => {
      const maxChars = Number(o.maxChars);
      if (!Number.isInteger(maxChars) || maxChars < 50) throw new Error(`--max-chars must be a whole number of at least 50, got ${o.maxChars}`);
      const kb = await new ApiClient(clientOptions(o)).post<KnowledgeBase>('/v1/knowledge/bases', {
        name, ...(o.id ? { id: o.id } : {}), description: o.description, require_approval: !!o.requireApproval, t2s: !!o.t2s, max_chars: maxChars,
        ...lexiconField(o.lexicon, BUILTIN_LEXICONS), ...(o.guard ? { guard: o.guard } : {}),
      });
      out(o.json, kb, () => `created ${kb.id}${kb.requireApproval ? ' (approval required)' : ''}`);
    });

  remote(k.command('ingest <kb> <files...>').description('upload and ingest txt, md, html, pdf or docx files, then rebuild the index'))
    .action(async (kbId: string, files: string[], o: Remote) => {
      for (const f of files) requireFile(f); // every name checked before anything is sent
      const client = new ApiClient(clientOptions(o));
      await client.get(kbPath(kbId)); // an unknown knowledge base fails before any upload
      const done: { document: DocumentRecord; items: number }[] = [];
      for (const f of files) {
        const file = await client.upload(f, 'assistants');
        done.push(await client.post<{ document: DocumentRecord; items: number }>(`${kbPath(kbId)}/documents`, { file_id: file.id, filename: basename(f), rebuild: false }));
      }
      const rb = await client.post<{ items: number; chunks: number; vectors: number }>(`${kbPath(kbId)}/rebuild`);
      out(o.json, { documents: done, rebuild: rb }, () => [
        ...done.map((d) => `${d.document.filename}: ${d.document.format}, ${d.items} items${d.document.statute ? ` (${d.document.units} articles)` : ''}, id ${d.document.id}`),
        `index: ${rb.items} servable items, ${rb.chunks} chunks${rb.vectors ? `, ${rb.vectors} vectors` : ''}`,
      ].join('\n'));
    });

  remote(k.command('list [kb]').description('list knowledge bases, or the items of one'))
    .option('--state <state>', 'pending | approved | rejected')
    .option('--docs', 'list the documents instead of items')
    .action(async (kbId: string | undefined, o: Remote & { state?: string; docs?: boolean }) => {
      const client = new ApiClient(clientOptions(o));
      if (!kbId) {
        const { data } = await client.get<{ data: KnowledgeBase[] }>('/v1/knowledge/bases');
        return out(o.json, data, () => data.map((b) => `${b.id}\t${b.name}${b.requireApproval ? '\t[approval required]' : ''}`).join('\n') || '(no knowledge bases)');
      }
      if (o.docs) {
        const { data } = await client.get<{ data: DocumentRecord[] }>(`${kbPath(kbId)}/documents`);
        return out(o.json, data, () => data.map((d) => `${d.id}\t${d.format}\t${d.units} units\t${d.filename}`).join('\n') || '(no documents)');
      }
      const { data } = await client.get<{ data: KnowledgeItem[] }>(`${kbPath(kbId)}/items${o.state ? `?state=${seg(o.state)}` : ''}`);
      out(o.json, data, () => data.map((i) => `${i.id}\t${i.state}\tv${i.version}\t${[...i.path, i.label].join(' > ')}\t${i.text.slice(0, 40).replace(/\n/g, ' ')}`).join('\n') || '(no items)');
    });

  remote(k.command('show <kb> <item>').description('show an item and its version history'))
    .action(async (kbId: string, itemId: string, o: Remote) => {
      const client = new ApiClient(clientOptions(o));
      const item = await client.get<KnowledgeItem>(`${kbPath(kbId)}/items/${seg(itemId)}`);
      const { data: history } = await client.get<{ data: ItemVersion[] }>(`${kbPath(kbId)}/items/${seg(itemId)}/history`);
      out(o.json, { item, history }, () => `${[...item.path, item.label].join(' > ')}  [${item.state}, v${item.version}${item.tags.length ? `, tags ${item.tags.join(',')}` : ''}]\n\n${item.text}\n\nhistory:\n${history.map((h) => `  v${h.version} ${new Date(h.at * 1000).toISOString()} ${h.actor} ${h.action}${h.note ? ` (${h.note})` : ''}`).join('\n')}`);
    });

  remote(k.command('review <kb> <action> <items...>').description('approve | reject | reset | edit | tag | meta items (use "all" for every item)'))
    .option('--text <text>', 'new text (edit)')
    .option('--text-file <file>', 'new text from a file (edit)')
    .option('--add <tags>', 'comma-separated tags to add (tag)')
    .option('--remove <tags>', 'comma-separated tags to remove (tag)')
    .option('--set <k=v...>', 'metadata to set (meta)')
    .option('--note <text>', 'a note for the history')
    .option('--actor <name>', 'who reviews', process.env.USER ?? 'reviewer')
    .action(async (kbId: string, action: string, itemIds: string[], o: Remote & { text?: string; textFile?: string; add?: string; remove?: string; set?: string[]; note?: string; actor: string }) => {
      const list = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
      let a: Record<string, unknown>;
      switch (action) {
        case 'approve': case 'reject': case 'reset': a = { action, note: o.note }; break;
        case 'edit':
          if (o.textFile === undefined && o.text === undefined) throw new Error('edit needs --text or --text-file');
          a = { action, text: o.textFile !== undefined ? readUserText(o.textFile) : o.text, note: o.note }; break;
        case 'tag': a = { action, add: list(o.add), remove: list(o.remove), note: o.note }; break;
        case 'meta': a = { action, set: Object.fromEntries((o.set ?? []).map((kv) => { const i = kv.indexOf('='); if (i <= 0) throw new Error(`--set expects key=value, got ${kv}`); return [kv.slice(0, i), kv.slice(i + 1)]; })), note: o.note }; break;
        default: throw new Error(`unknown review action ${action} (approve, reject, reset, edit, tag, meta)`);
      }
      const client = new ApiClient(clientOptions(o));
      const ids = itemIds.length === 1 && itemIds[0] === 'all' ? (await client.get<{ data: KnowledgeItem[] }>(`${kbPath(kbId)}/items`)).data.map((i) => i.id) : itemIds;
      if (!ids.length) throw new Error(`knowledge base ${kbId} has no items`);
      const { data: items } = await client.post<{ data: KnowledgeItem[] }>(`${kbPath(kbId)}/items/review`, { ids, actor: o.actor, ...a });
      out(o.json, items, () => `${action}: ${items.length} item(s) now at ${items.map((i) => `${i.id} v${i.version} ${i.state}`).slice(0, 5).join(', ')}${items.length > 5 ? ', ...' : ''}`);
    });

  remote(k.command('search <kb> <query>').description('search a knowledge base (comma-separate several KBs)'))
    .option('-k <n>', 'results', '5')
    .option('--mode <mode>', 'lexical | dense | hybrid (default: hybrid with an embedder, else lexical)')
    .option('--tag <tags>', 'only items with these tags (comma-separated)')
    .option('--path <text>', 'only chunks under a heading containing this text')
    .action(async (kbIds: string, query: string, o: Remote & { k: string; mode?: string; tag?: string; path?: string }) => {
      const filter = { ...(o.tag ? { tags: o.tag.split(',') } : {}), ...(o.path ? { path: o.path } : {}) };
      const res = await new ApiClient(clientOptions(o)).post<SearchResponse>('/v1/knowledge/search', { kbs: kbList(kbIds), query, k: Number(o.k), ...(o.mode ? { mode: o.mode } : {}), filter });
      out(o.json, res, () => [
        `mode: ${res.mode}${res.notice ? ` (${res.notice})` : ''}`,
        ...res.results.map((r, i) => `${i + 1}. ${[r.docTitle, ...r.path, r.label].join(' > ')}  score ${r.score.toFixed(3)}  coverage ${r.coverage.toFixed(2)}\n   ${r.text.replace(/\n/g, ' ').slice(0, 160)}`),
      ].join('\n'));
    });

  remote(k.command('ask <kb> <question>').description('answer a question from the knowledge base, with [n] citations and an attribution check'))
    .option('-k <n>', 'passages given to the model', '5')
    .action(async (kbIds: string, question: string, o: Remote & { k: string }) => {
      const r = await new ApiClient(clientOptions(o)).post<AskResult & { refused?: boolean }>('/v1/knowledge/ask', { kbs: kbList(kbIds), question, k: Number(o.k) });
      out(o.json, r, () => [
        r.answer, '',
        ...r.citations.filter((c) => c.cited).map((c) => `[${c.ref}] ${[c.docTitle, ...c.path, c.label].join(' > ')} (chars ${c.start}-${c.end}, item ${c.itemId})`),
        ...(r.attribution?.sentences.filter((s) => !s.supported).map((s) => `UNSUPPORTED (support ${s.support.toFixed(2)}): ${s.text}`) ?? []),
        `(${r.generator}, ${r.mode} search${r.notice ? `; ${r.notice}` : ''})`,
      ].join('\n'));
    });

  remote(k.command('attribute <kb> <text>').description('where does this text come from? flags sentences no passage supports'))
    .option('--file', 'read the text from the file named <text>')
    .action(async (kbIds: string, text: string, o: Remote & { file?: boolean }) => {
      const body = o.file ? readUserText(text) : text;
      const r = await new ApiClient(clientOptions(o)).post<{ sentences: Array<{ supported: boolean; support: number; text: string; sources: Array<{ passageId: string; missingFacts: string[] }> }>; passages: Array<{ id: string; label: string }> }>('/v1/knowledge/attribute', { kbs: kbList(kbIds), text: body });
      out(o.json, r, () => r.sentences.map((s) => {
        const best = s.sources[0];
        const src = best ? r.passages.find((p) => p.id === best.passageId) : undefined;
        return `${s.supported ? 'ok  ' : 'FLAG'} ${s.support.toFixed(2)}  ${s.text}\n      <- ${src?.label ?? '(none)'}${best?.missingFacts.length ? `  missing: ${best.missingFacts.join(', ')}` : ''}`;
      }).join('\n'));
    });

  remote(k.command('rebuild <kb>').description('rebuild chunks and indexes from the items'))
    .action(async (kbId: string, o: Remote) => {
      const r = await new ApiClient(clientOptions(o)).post<{ items: number; chunks: number; vectors: number; ms: number }>(`${kbPath(kbId)}/rebuild`);
      out(o.json, r, () => `${r.items} servable items -> ${r.chunks} chunks${r.vectors ? `, ${r.vectors} vectors` : ''} in ${(r.ms / 1000).toFixed(2)} s`);
    });
}
