/**
 * `modelfab datasets import|list|show|preview|delete`: the dataset registry of a data folder, used directly (no server
 * needed; SQLite's WAL and busy timeout let it run beside `modelfab serve`).
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DataService, folderResolver, type DatasetObject } from '../data/service.ts';
import { DatasetValidationError, formatProblem } from '../data/problems.ts';
import { FORMAT_NAMES, type FormatName } from '../data/formats/index.ts';
import type { DedupMode } from '../data/curate.ts';
import type { Stage } from '../data/records.ts';
import { Tokenizer, fromHfTokenizerJson, type HfTokenizerJson, type TokenizerJSON } from '../engine/tokenizer/index.ts';
import { LocalArtifactStore } from '../store/artifacts.ts';
import { openSqliteStore } from '../store/sqlite.ts';

interface Common { data: string; json?: boolean }

async function withService<T>(o: Common, f: (svc: DataService) => Promise<T>): Promise<T> {
  const dir = resolve(o.data);
  const store = await openSqliteStore(join(dir, 'modelfab.db'));
  try {
    return await f(new DataService(store, new LocalArtifactStore(dir)));
  } catch (e) {
    if (e instanceof DatasetValidationError) {
      const lines = e.problems.map((p) => `  ${formatProblem(p)}`);
      if (e.omitted) lines.push(`  ... and ${e.omitted} more`);
      throw new Error(`nothing was imported: ${e.problems.length + e.omitted} problem(s)\n${lines.join('\n')}`);
    }
    throw e;
  } finally {
    await store.close();
  }
}

function line(d: DatasetObject): string {
  const v = d.version;
  return `${d.id}  ${d.name.padEnd(28)} ${d.stage.padEnd(10)} ${d.format.padEnd(17)} ${String(d.rows).padStart(7)} rows` +
    (v ? `  (train ${v.train_rows}, validation ${v.validation_rows}, version ${v.hash.slice(0, 12)})` : '');
}

function loadTokenizer(path: string): Tokenizer {
  const j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return 'model' in j ? fromHfTokenizerJson(j as unknown as HfTokenizerJson) : Tokenizer.fromJSON(j as unknown as TokenizerJSON);
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerDatasets(program: Command): void {
  const ds = program.command('datasets').description('import, list, inspect and delete datasets');
  const dataOpt = (c: Command) => c.option('--data <dir>', 'data folder', './modelfab-data');

  dataOpt(ds.command('import')
    .description('import dataset files (OpenAI JSONL, LLaMA-Factory alpaca/sharegpt, {"text"} JSONL, .txt, .md, JSON, CSV) or a whole dataset_info.json')
    .argument('[files...]', 'dataset files (one dataset; several files are imported one dataset each, named after the file)')
    .option('--name <name>', 'dataset name (default: the file name without extension)')
    .option('--dataset-info <path>', 'import a LLaMA-Factory dataset_info.json: every entry whose file is present')
    .option('--only <name>', 'with --dataset-info: import only this entry (repeatable)', collect)
    .option('--prefix <text>', 'with --dataset-info: prefix for dataset names', '')
    .option('--validation-file <path>', 'validation records from this file (instead of a split)')
    .option('--val-split <fraction>', 'hold out this fraction for validation (seeded)', '0')
    .option('--seed <n>', 'split seed', '0')
    .option('--dedup <mode>', 'none | exact | near', 'none')
    .option('--format <name>', `force the format: ${FORMAT_NAMES.join(', ')}`)
    .option('--stage <stage>', 'force the stage: pretrain, sft, preference, kto')
    .option('--placeholder <key=value>', 'fill {{key}} placeholders (repeatable)', collect)
    .option('--max-record-tokens <n>', 'per-record limit, estimated tokens (default 8192)')
    .option('--max-record-bytes <n>', 'per-record limit in bytes (default 1 MiB)')
    .option('--json', 'print JSON'))
    .action(async (files: string[], o: Common & {
      name?: string; datasetInfo?: string; only?: string[]; prefix: string; validationFile?: string; valSplit: string; seed: string;
      dedup: string; format?: string; stage?: string; placeholder?: string[]; maxRecordTokens?: string; maxRecordBytes?: string;
    }) => {
      if (!['none', 'exact', 'near'].includes(o.dedup)) throw new Error(`--dedup must be none, exact or near`);
      if (o.format && !FORMAT_NAMES.includes(o.format as FormatName)) throw new Error(`--format must be one of ${FORMAT_NAMES.join(', ')}`);
      const placeholders = o.placeholder ? Object.fromEntries(o.placeholder.map((kv) => {
        const i = kv.indexOf('=');
        if (i <= 0) throw new Error(`--placeholder expects key=value, got ${kv}`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      })) : undefined;
      const common = { validationSplit: Number(o.valSplit), seed: Number(o.seed), dedup: o.dedup as DedupMode, placeholders };
      const limits = { maxRecordTokens: o.maxRecordTokens ? Number(o.maxRecordTokens) : undefined, maxRecordBytes: o.maxRecordBytes ? Number(o.maxRecordBytes) : undefined };
      if (!o.datasetInfo && files.length === 0) throw new Error('give dataset files or --dataset-info <path>');
      await withService(o, async (svc0) => {
        const svc = new DataService(svc0.store, svc0.artifacts, limits);
        const out: DatasetObject[] = [];
        let skipped: { name: string; reason: string }[] = [];
        if (o.datasetInfo) {
          const info = JSON.parse(readFileSync(o.datasetInfo, 'utf8'));
          const r = await svc.importDatasetInfo({ ...common, info, resolve: folderResolver(o.datasetInfo), only: o.only, prefix: o.prefix });
          out.push(...r.data);
          skipped = r.skipped;
        }
        for (const f of files) {
          out.push(await svc.importDataset({
            ...common, name: o.name && files.length === 1 ? o.name : basename(f).replace(/\.[^.]+$/, ''), source: { path: f },
            ...(o.validationFile ? { validation: { path: o.validationFile } } : {}),
            format: o.format as FormatName | undefined, stage: o.stage as Stage | undefined,
          }));
        }
        if (o.json) { console.log(JSON.stringify({ data: out, skipped }, null, 2)); return; }
        for (const d of out) {
          console.log(line(d));
          for (const w of d.warnings ?? []) console.log(`    warning: ${w}`);
        }
        if (skipped.length) console.log(`skipped ${skipped.length} entries (no local file, hub or multimodal datasets); --json lists them`);
      });
    });

  dataOpt(ds.command('list').description('list datasets').option('--json', 'print JSON'))
    .action(async (o: Common) => withService(o, async (svc) => {
      const list = await svc.listDatasets();
      if (o.json) { console.log(JSON.stringify({ object: 'list', data: list }, null, 2)); return; }
      if (list.length === 0) console.log('no datasets');
      for (const d of list) console.log(line(d));
    }));

  dataOpt(ds.command('show').description('a dataset with its versions and statistics').argument('<dataset>', 'id or name')
    .option('--tokenizer <path>', 'count tokens with this tokenizer (modelfab or HF tokenizer.json) instead of the estimate')
    .option('--json', 'print JSON'))
    .action(async (id: string, o: Common & { tokenizer?: string }) => withService(o, async (svc) => {
      const d = await svc.getDataset(id, { versions: true });
      const stats = o.tokenizer ? await svc.statsWith(id, loadTokenizer(o.tokenizer), basename(o.tokenizer)) : d.version?.stats;
      if (o.json) { console.log(JSON.stringify({ ...d, stats }, null, 2)); return; }
      console.log(line(d));
      for (const v of d.versions ?? []) console.log(`  version ${v.id} ${v.hash.slice(0, 12)}  ${new Date(v.created_at * 1000).toISOString()}  train ${v.train_rows}  validation ${v.validation_rows}`);
      if (stats) {
        console.log(`  tokens (${stats.tokenizer}): ${stats.tokens.total}  ${Object.entries(stats.tokens.byRole).map(([k, n]) => `${k} ${n}`).join(', ')}`);
        console.log(`  length per record: min ${stats.lengths.min}, p50 ${stats.lengths.p50}, mean ${stats.lengths.mean}, p95 ${stats.lengths.p95}, max ${stats.lengths.max}`);
        console.log(`  histogram: ${stats.lengths.histogram.filter((h) => h.count).map((h) => `${h.upTo === null ? '>8192' : `<=${h.upTo}`}: ${h.count}`).join(', ')}`);
        console.log(`  languages: ${Object.entries(stats.languages).map(([k, n]) => `${k} ${n}`).join(', ')}`);
      }
    }));

  dataOpt(ds.command('preview').description('the first records rendered through a chat template').argument('<dataset>', 'id or name')
    .option('-n, --count <n>', 'how many records', '3')
    .option('--template <name>', 'chatml, qwen2, llama3, mistral', 'chatml')
    .option('--split <split>', 'train or validation', 'train')
    .option('--json', 'print JSON'))
    .action(async (id: string, o: Common & { count: string; template: string; split: string }) => withService(o, async (svc) => {
      const p = await svc.preview(id, { n: Number(o.count), template: o.template, split: o.split as 'train' | 'validation' });
      if (o.json) { console.log(JSON.stringify(p, null, 2)); return; }
      for (const r of p.data) {
        console.log(`--- record ${r.index} (${p.template})`);
        console.log(r.chosen_text !== undefined ? `${r.text}\n[chosen]\n${r.chosen_text}\n[rejected]\n${r.rejected_text}` : r.text);
      }
    }));

  dataOpt(ds.command('delete').description('delete a dataset and its versions').argument('<dataset>', 'id or name').option('--json', 'print JSON'))
    .action(async (id: string, o: Common) => withService(o, async (svc) => {
      const r = await svc.deleteDataset(id);
      console.log(o.json ? JSON.stringify(r) : `deleted ${r.id}`);
    }));
}
