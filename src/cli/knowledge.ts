/**
 * `modelfab knowledge ...`: the Knowledge Factory from the command line — create, ingest, list, show, review,
 * search, ask, attribute, rebuild. Thin: parses options, builds the service (models from flags or environment),
 * prints text or `--json`. Data lives in --data (default ./modelfab-data) under knowledge/<kb>/.
 * Models: --embed-url/--embed-model (OpenAI-compatible /v1/embeddings) or --embed-gguf FILE; --chat-url/--chat-model
 * for answers (default: the extractive fallback); environment MODELFAB_EMBED_URL, MODELFAB_EMBED_MODEL,
 * MODELFAB_EMBED_GGUF, MODELFAB_CHAT_URL, MODELFAB_CHAT_MODEL, MODELFAB_API_KEY do the same.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { FileKnowledgeRepository } from '../knowledge/repository.ts';
import { builtinLexicon, BUILTIN_LEXICONS, KnowledgeService, type ReviewAction } from '../knowledge/service.ts';
import { LlamaEmbedder, OpenAIEmbedder, type Embedder } from '../knowledge/embed.ts';
import { JudgeFromGenerator, OpenAIChatGenerator, type Generator } from '../knowledge/generate.ts';
import type { SearchMode } from '../knowledge/search.ts';

interface ModelOpts { data: string; embedUrl?: string; embedModel?: string; embedGguf?: string; chatUrl?: string; chatModel?: string; judge?: boolean }

function withModelOptions(c: Command): Command {
  return c
    .option('--data <dir>', 'data folder', process.env.MODELFAB_DATA ?? './modelfab-data')
    .option('--embed-url <url>', 'OpenAI-compatible embeddings endpoint (base URL)', process.env.MODELFAB_EMBED_URL)
    .option('--embed-model <name>', 'embedding model name at that endpoint', process.env.MODELFAB_EMBED_MODEL)
    .option('--embed-gguf <file>', 'GGUF embedding model run through llama.cpp (CPU)', process.env.MODELFAB_EMBED_GGUF)
    .option('--chat-url <url>', 'OpenAI-compatible chat endpoint for answers (base URL)', process.env.MODELFAB_CHAT_URL)
    .option('--chat-model <name>', 'chat model name at that endpoint', process.env.MODELFAB_CHAT_MODEL)
    .option('--judge', 'use the chat model as the attribution judge');
}

async function service(o: ModelOpts): Promise<KnowledgeService> {
  const apiKey = process.env.MODELFAB_API_KEY;
  let embedder: Embedder | null = null;
  if (o.embedGguf) embedder = await LlamaEmbedder.load(o.embedGguf, { threads: 2 });
  else if (o.embedUrl && o.embedModel) embedder = new OpenAIEmbedder({ baseUrl: o.embedUrl, model: o.embedModel, apiKey });
  let generator: Generator | null = null;
  if (o.chatUrl && o.chatModel) generator = new OpenAIChatGenerator({ baseUrl: o.chatUrl, model: o.chatModel, apiKey });
  return new KnowledgeService(new FileKnowledgeRepository(o.data), { embedder, generator, judge: o.judge && generator ? new JudgeFromGenerator(generator) : null });
}

const out = (json: boolean | undefined, value: unknown, text: () => string) => console.log(json ? JSON.stringify(value, null, 2) : text());

export function registerKnowledge(program: Command): void {
  const k = program.command('knowledge').description('Knowledge Factory: ingest documents, review, search, ask with citations, check attribution');

  withModelOptions(k.command('create <name>').description('create a knowledge base'))
    .option('--id <id>', 'identifier (default: from the name)')
    .option('--description <text>', 'description', '')
    .option('--require-approval', 'serve only approved items')
    .option('--t2s', 'convert Traditional Chinese to Simplified at ingest')
    .option('--lexicon <file|name>', `domain lexicon file, or a built-in one (${Object.keys(BUILTIN_LEXICONS).join(', ')})`)
    .option('--max-chars <n>', 'child chunk size in characters', '400')
    .option('--json', 'print JSON')
    .action(async (name: string, o: ModelOpts & { id?: string; description: string; requireApproval?: boolean; t2s?: boolean; lexicon?: string; maxChars: string; json?: boolean }) => {
      const lexicon = o.lexicon ? (o.lexicon in BUILTIN_LEXICONS ? builtinLexicon(o.lexicon) : readFileSync(o.lexicon, 'utf8')) : undefined;
      const kb = await (await service(o)).createKb({ id: o.id, name, description: o.description, requireApproval: !!o.requireApproval, t2s: !!o.t2s, lexicon, chunking: { maxChars: Number(o.maxChars) } });
      out(o.json, kb, () => `created ${kb.id}${kb.requireApproval ? ' (approval required)' : ''}`);
    });

  withModelOptions(k.command('ingest <kb> <files...>').description('ingest txt, md, html, pdf or docx files'))
    .option('--json', 'print JSON')
    .action(async (kbId: string, files: string[], o: ModelOpts & { json?: boolean }) => {
      const svc = await service(o);
      const done: { document: import('../knowledge/types.ts').DocumentRecord; items: number; articles: number }[] = [];
      for (const f of files) {
        const r = await svc.ingest(kbId, f, readFileSync(f), { rebuild: false, actor: 'cli' });
        done.push({ document: r.document, items: r.items.length, articles: r.items.filter((i) => i.kind === 'article').length });
      }
      const rb = await svc.rebuild(kbId);
      out(o.json, { documents: done, rebuild: rb }, () => [
        ...done.map((d) => `${d.document.filename}: ${d.document.format}, ${d.items} items${d.document.statute ? ` (${d.articles} articles)` : ''}, id ${d.document.id}`),
        `index: ${rb.items} servable items, ${rb.chunks} chunks${rb.vectors ? `, ${rb.vectors} vectors` : ''}`,
      ].join('\n'));
    });

  withModelOptions(k.command('list [kb]').description('list knowledge bases, or the items of one'))
    .option('--state <state>', 'pending | approved | rejected')
    .option('--docs', 'list the documents instead of items')
    .option('--json', 'print JSON')
    .action(async (kbId: string | undefined, o: ModelOpts & { state?: 'pending' | 'approved' | 'rejected'; docs?: boolean; json?: boolean }) => {
      const svc = await service(o);
      if (!kbId) {
        const kbs = await svc.listKbs();
        return out(o.json, kbs, () => kbs.map((b) => `${b.id}\t${b.name}${b.requireApproval ? '\t[approval required]' : ''}`).join('\n') || '(no knowledge bases)');
      }
      if (o.docs) {
        const docs = await svc.listDocuments(kbId);
        return out(o.json, docs, () => docs.map((d) => `${d.id}\t${d.format}\t${d.units} units\t${d.filename}`).join('\n'));
      }
      const items = await svc.listItems(kbId, { state: o.state });
      out(o.json, items, () => items.map((i) => `${i.id}\t${i.state}\tv${i.version}\t${[...i.path, i.label].join(' > ')}\t${i.text.slice(0, 40).replace(/\n/g, ' ')}`).join('\n'));
    });

  withModelOptions(k.command('show <kb> <item>').description('show an item and its version history'))
    .option('--json', 'print JSON')
    .action(async (kbId: string, itemId: string, o: ModelOpts & { json?: boolean }) => {
      const svc = await service(o);
      const item = await svc.getItem(kbId, itemId);
      const history = await svc.history(kbId, itemId);
      out(o.json, { item, history }, () => `${[...item.path, item.label].join(' > ')}  [${item.state}, v${item.version}${item.tags.length ? `, tags ${item.tags.join(',')}` : ''}]\n\n${item.text}\n\nhistory:\n${history.map((h) => `  v${h.version} ${new Date(h.at * 1000).toISOString()} ${h.actor} ${h.action}${h.note ? ` (${h.note})` : ''}`).join('\n')}`);
    });

  withModelOptions(k.command('review <kb> <action> <items...>').description('approve | reject | reset | edit | tag | meta items (use "all" for every item)'))
    .option('--text <text>', 'new text (edit)')
    .option('--text-file <file>', 'new text from a file (edit)')
    .option('--add <tags>', 'comma-separated tags to add (tag)')
    .option('--remove <tags>', 'comma-separated tags to remove (tag)')
    .option('--set <k=v...>', 'metadata to set (meta)')
    .option('--note <text>', 'a note for the history')
    .option('--actor <name>', 'who reviews', process.env.USER ?? 'reviewer')
    .option('--json', 'print JSON')
    .action(async (kbId: string, action: string, itemIds: string[], o: ModelOpts & { text?: string; textFile?: string; add?: string; remove?: string; set?: string[]; note?: string; actor: string; json?: boolean }) => {
      const svc = await service(o);
      const ids = itemIds.length === 1 && itemIds[0] === 'all' ? (await svc.listItems(kbId)).map((i) => i.id) : itemIds;
      const list = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
      let a: ReviewAction;
      switch (action) {
        case 'approve': case 'reject': case 'reset': a = { action, note: o.note }; break;
        case 'edit': a = { action, text: o.textFile ? readFileSync(o.textFile, 'utf8') : (o.text ?? ''), note: o.note }; break;
        case 'tag': a = { action, add: list(o.add), remove: list(o.remove), note: o.note }; break;
        case 'meta': a = { action, set: Object.fromEntries((o.set ?? []).map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i), kv.slice(i + 1)]; })), note: o.note }; break;
        default: throw new Error(`unknown review action ${action} (approve, reject, reset, edit, tag, meta)`);
      }
      const items = await svc.review(kbId, ids, a, o.actor);
      out(o.json, items, () => `${action}: ${items.length} item(s) now at ${items.map((i) => `${i.id} v${i.version} ${i.state}`).slice(0, 5).join(', ')}${items.length > 5 ? ', ...' : ''}`);
    });

  withModelOptions(k.command('search <kb> <query>').description('search a knowledge base (comma-separate several KBs)'))
    .option('-k <n>', 'results', '5')
    .option('--mode <mode>', 'lexical | dense | hybrid (default: hybrid with an embedder, else lexical)')
    .option('--tag <tags>', 'only items with these tags (comma-separated)')
    .option('--path <text>', 'only chunks under a heading containing this text')
    .option('--json', 'print JSON')
    .action(async (kbIds: string, query: string, o: ModelOpts & { k: string; mode?: SearchMode; tag?: string; path?: string; json?: boolean }) => {
      const svc = await service(o);
      const res = await svc.search(kbIds.split(','), query, { k: Number(o.k), mode: o.mode, filter: { tags: o.tag?.split(','), path: o.path } });
      out(o.json, res, () => [
        `mode: ${res.mode}${res.notice ? ` (${res.notice})` : ''}`,
        ...res.results.map((r, i) => `${i + 1}. ${[r.docTitle, ...r.path, r.label].join(' > ')}  score ${r.score.toFixed(3)}  coverage ${r.coverage.toFixed(2)}\n   ${r.text.replace(/\n/g, ' ').slice(0, 160)}`),
      ].join('\n'));
    });

  withModelOptions(k.command('ask <kb> <question>').description('answer a question from the knowledge base, with [n] citations and an attribution check'))
    .option('-k <n>', 'passages given to the model', '5')
    .option('--json', 'print JSON')
    .action(async (kbIds: string, question: string, o: ModelOpts & { k: string; json?: boolean }) => {
      const svc = await service(o);
      const r = await svc.ask(kbIds.split(','), question, { k: Number(o.k) });
      out(o.json, r, () => [
        r.answer, '',
        ...r.citations.filter((c) => c.cited).map((c) => `[${c.ref}] ${[c.docTitle, ...c.path, c.label].join(' > ')} (chars ${c.start}-${c.end}, item ${c.itemId})`),
        ...(r.attribution?.sentences.filter((s) => !s.supported).map((s) => `UNSUPPORTED (support ${s.support.toFixed(2)}): ${s.text}`) ?? []),
        `(${r.generator}, ${r.mode} search${r.notice ? `; ${r.notice}` : ''})`,
      ].join('\n'));
    });

  withModelOptions(k.command('attribute <kb> <text>').description('where does this text come from? flags sentences no passage supports'))
    .option('--file', 'read the text from the file named <text>')
    .option('--json', 'print JSON')
    .action(async (kbIds: string, text: string, o: ModelOpts & { file?: boolean; json?: boolean }) => {
      const svc = await service(o);
      const body = o.file ? readFileSync(text, 'utf8') : text;
      const r = await svc.attribute(kbIds.split(','), body);
      out(o.json, r, () => r.sentences.map((s) => {
        const best = s.sources[0];
        const src = best ? r.passages.find((p) => p.id === best.passageId) : undefined;
        return `${s.supported ? 'ok  ' : 'FLAG'} ${s.support.toFixed(2)}  ${s.text}\n      <- ${src?.label ?? '(none)'}${best?.missingFacts.length ? `  missing: ${best.missingFacts.join(', ')}` : ''}`;
      }).join('\n'));
    });

  withModelOptions(k.command('rebuild <kb>').description('rebuild chunks and indexes from the items'))
    .option('--json', 'print JSON')
    .action(async (kbId: string, o: ModelOpts & { json?: boolean }) => {
      const r = await (await service(o)).rebuild(kbId);
      out(o.json, r, () => `${r.items} servable items -> ${r.chunks} chunks${r.vectors ? `, ${r.vectors} vectors` : ''} in ${(r.ms / 1000).toFixed(2)} s`);
    });
}
