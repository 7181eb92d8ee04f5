/**
 * `modelfab datasets import|list|show|preview|delete`: the dataset registry of the running server. Files are
 * uploaded with the Files API (`POST /v1/files`, purpose fine-tune: validated on arrival, every problem named by file
 * and line), then imported as a dataset (`POST /v1/datasets`); a LLaMA-Factory dataset_info.json uploads every
 * local file it names.
 */
import type { Command } from 'commander';
import { basename, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { FORMAT_NAMES, type FormatName } from '../data/formats/format-spec.ts';
import type { DatasetObject } from '../data/data-service.ts';
import type { DatasetInfo } from '../data/formats/llamafactory.ts';
import { ApiClient, clientOptions, seg, withClient } from './client.ts';
import { readUserJson } from './user-files.ts';
import { collect, fraction, integer } from './option-values.ts';

interface Common { url?: string; apiKey?: string; json?: boolean }

function line(d: DatasetObject): string {
  const v = d.version;
  return `${d.id}  ${d.name.padEnd(28)} ${d.stage.padEnd(10)} ${d.format.padEnd(17)} ${String(d.rows).padStart(7)} rows` +
    (v ? `  (train ${v.train_rows}, validation ${v.validation_rows}, version ${v.hash.slice(0, 12)})` : '');
}

export function registerDatasets(program: Command): void {
  const ds = program.command('datasets').description('datasets on the server: import (upload + validate), list, inspect, delete');

  withClient(ds.command('import')
    .description('upload and import dataset files (OpenAI JSONL, LLaMA-Factory alpaca/sharegpt, {"text"} JSONL, .txt, .md, JSON, CSV) or a whole dataset_info.json')
    .argument('[files...]', 'dataset files (one dataset; several files are imported one dataset each, named after the file)')
    .option('--name <name>', 'dataset name (default: the file name without extension)')
    .option('--dataset-info <path>', 'import a LLaMA-Factory dataset_info.json: every entry whose file is present beside it')
    .option('--only <name>', 'with --dataset-info: import only this entry (repeatable)', collect)
    .option('--prefix <text>', 'with --dataset-info: prefix for dataset names', '')
    .option('--validation-file <path>', 'validation records from this file (instead of a split)')
    .option('--val-split <fraction>', 'hold out this fraction for validation (seeded)', '0')
    .option('--seed <n>', 'split seed', '0')
    .option('--dedup <mode>', 'none | exact | near', 'none')
    .option('--format <name>', `force the format: ${FORMAT_NAMES.join(', ')}`)
    .option('--stage <stage>', 'force the stage: pretrain, sft, preference, kto')
    .option('--placeholder <key=value>', 'fill {{key}} placeholders (repeatable)', collect)
    .option('--json', 'print JSON'))
    .action(async (files: string[], o: Common & {
      name?: string; datasetInfo?: string; only?: string[]; prefix: string; validationFile?: string; valSplit: string; seed: string;
      dedup: string; format?: string; stage?: string; placeholder?: string[];
    }) => {
      if (!['none', 'exact', 'near'].includes(o.dedup)) throw new Error('--dedup must be none, exact or near');
      if (o.format && !FORMAT_NAMES.includes(o.format as FormatName)) throw new Error(`--format must be one of ${FORMAT_NAMES.join(', ')}`);
      if (o.stage && !['pretrain', 'sft', 'preference', 'kto'].includes(o.stage)) throw new Error('--stage must be pretrain, sft, preference or kto');
      const placeholders = o.placeholder ? Object.fromEntries(o.placeholder.map((kv) => {
        const i = kv.indexOf('=');
        if (i <= 0) throw new Error(`--placeholder expects key=value, got ${kv}`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      })) : undefined;
      if (!o.datasetInfo && files.length === 0) throw new Error('give dataset files or --dataset-info <path>');
      const common = { validation_split: fraction(o.valSplit, 'val-split'), seed: integer(o.seed, 'seed'), dedup: o.dedup, ...(placeholders ? { placeholders } : {}) };
      const client = new ApiClient(clientOptions(o));
      const out: DatasetObject[] = [];
      let skipped: { name: string; reason: string }[] = [];
      if (o.datasetInfo) {
        const info = readUserJson<DatasetInfo>(o.datasetInfo);
        if (!info || typeof info !== 'object' || Array.isArray(info)) throw new Error(`${o.datasetInfo}: a dataset_info.json is an object of named entries`);
        const uploaded: Record<string, string> = {};
        for (const [name, entry] of Object.entries(info)) {
          if (o.only && !o.only.includes(name)) continue;
          const f = entry?.file_name;
          if (typeof f !== 'string' || uploaded[f] || !existsSync(join(dirname(o.datasetInfo), f))) continue;
          uploaded[f] = (await client.upload(join(dirname(o.datasetInfo), f), 'fine-tune')).id;
        }
        const r = await client.post<{ data: DatasetObject[]; skipped: { name: string; reason: string }[] }>('/v1/datasets', {
          ...common, dataset_info: info, files: uploaded, ...(o.only ? { only: o.only } : {}), prefix: o.prefix,
        });
        out.push(...r.data);
        skipped = r.skipped;
      }
      const validation = o.validationFile ? (await client.upload(o.validationFile, 'fine-tune')).id : undefined;
      for (const f of files) {
        const file = await client.upload(f, 'fine-tune');
        out.push(await client.post<DatasetObject>('/v1/datasets', {
          ...common, name: o.name && files.length === 1 ? o.name : basename(f).replace(/\.[^.]+$/, ''), file_id: file.id,
          ...(validation ? { validation_file_id: validation } : {}), ...(o.format ? { format: o.format } : {}), ...(o.stage ? { stage: o.stage } : {}),
        }));
      }
      if (o.json) { console.log(JSON.stringify({ data: out, skipped }, null, 2)); return; }
      for (const d of out) {
        console.log(line(d));
        for (const w of d.warnings ?? []) console.log(`    warning: ${w}`);
      }
      if (skipped.length) console.log(`skipped ${skipped.length} entries (no local file, hub or multimodal datasets); --json lists them`);
    });

  withClient(ds.command('list').description('list datasets').option('--json', 'print JSON'))
    .action(async (o: Common) => {
      const { data } = await new ApiClient(clientOptions(o)).get<{ data: DatasetObject[] }>('/v1/datasets');
      if (o.json) { console.log(JSON.stringify({ object: 'list', data }, null, 2)); return; }
      if (data.length === 0) console.log('no datasets');
      for (const d of data) console.log(line(d));
    });

  withClient(ds.command('show').description('a dataset with its versions and statistics').argument('<dataset>', 'id or name').option('--json', 'print JSON'))
    .action(async (id: string, o: Common) => {
      const d = await new ApiClient(clientOptions(o)).get<DatasetObject>(`/v1/datasets/${seg(id)}`);
      const stats = d.version?.stats;
      if (o.json) { console.log(JSON.stringify(d, null, 2)); return; }
      console.log(line(d));
      for (const v of d.versions ?? []) console.log(`  version ${v.id} ${v.hash.slice(0, 12)}  ${new Date(v.created_at * 1000).toISOString()}  train ${v.train_rows}  validation ${v.validation_rows}`);
      if (stats) {
        console.log(`  tokens (${stats.tokenizer}): ${stats.tokens.total}  ${Object.entries(stats.tokens.byRole).map(([k, n]) => `${k} ${n}`).join(', ')}`);
        console.log(`  length per record: min ${stats.lengths.min}, p50 ${stats.lengths.p50}, mean ${stats.lengths.mean}, p95 ${stats.lengths.p95}, max ${stats.lengths.max}`);
        console.log(`  histogram: ${stats.lengths.histogram.filter((h) => h.count).map((h) => `${h.upTo === null ? '>8192' : `<=${h.upTo}`}: ${h.count}`).join(', ')}`);
        console.log(`  languages: ${Object.entries(stats.languages).map(([k, n]) => `${k} ${n}`).join(', ')}`);
      }
    });

  withClient(ds.command('preview').description('the first records rendered through a chat template').argument('<dataset>', 'id or name')
    .option('-n, --count <n>', 'how many records', '3')
    .option('--template <name>', 'chatml, qwen2, llama3, mistral', 'chatml')
    .option('--split <split>', 'train or validation', 'train')
    .option('--json', 'print JSON'))
    .action(async (id: string, o: Common & { count: string; template: string; split: string }) => {
      const qs = new URLSearchParams({ n: o.count, template: o.template, split: o.split });
      const p = await new ApiClient(clientOptions(o)).get<{ template: string; data: Array<{ index: number; text: string; chosen_text?: string; rejected_text?: string }> }>(`/v1/datasets/${seg(id)}/preview?${qs}`);
      if (o.json) { console.log(JSON.stringify(p, null, 2)); return; }
      for (const r of p.data) {
        console.log(`--- record ${r.index} (${p.template})`);
        console.log(r.chosen_text !== undefined ? `${r.text}\n[chosen]\n${r.chosen_text}\n[rejected]\n${r.rejected_text}` : r.text);
      }
    });

  withClient(ds.command('delete').description('delete a dataset and its versions').argument('<dataset>', 'id or name').option('--json', 'print JSON'))
    .action(async (id: string, o: Common) => {
      const r = await new ApiClient(clientOptions(o)).delete<{ id: string }>(`/v1/datasets/${seg(id)}`);
      console.log(o.json ? JSON.stringify(r) : `deleted ${r.id}`);
    });
}
