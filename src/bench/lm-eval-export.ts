/**
 * A task of the Benchmark System as an lm-evaluation-harness task, so the field's harness can score a model on the
 * very documents and prompts modelfab scores it on (and the two figures can be compared).
 *
 * Owns: `exportLmEvalTask`: writes `<task>.yaml` and the task's documents as JSON lines (each split as modelfab
 * loaded it: exam CSVs, generated items, inline docs) into one folder, for `lm_eval --include_path <folder>`.
 * The prompt fields (description, doc_to_text, doc_to_choice, doc_to_target, delimiters, few-shot count and
 * sampler) are copied as they are: modelfab's templates are the Jinja subset lm-evaluation-harness renders.
 * Guarantees: only what the harness computes the same way is exported (multiple_choice and loglikelihood tasks
 * with acc / acc_norm, first_n few-shot, no chat template, no CircularEval); anything else is an Error naming the
 * field. Nothing outside the folder is written.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { loadDocs, type TaskConfig } from './task.ts';

export interface LmEvalExport {
  /** The harness's task name (modelfab's, with characters the harness cannot take replaced). */
  name: string;
  /** Folder to pass as --include_path. */
  dir: string;
  yamlPath: string;
  /** Documents written per split. */
  docs: Record<string, number>;
}

const METRICS = new Set(['acc', 'acc_norm']);

/** Why the harness would not score `t` as modelfab does, or null. */
export function lmEvalUnsupported(t: TaskConfig): string | null {
  if (t.output_type !== 'multiple_choice') return `output_type ${t.output_type}: only multiple_choice tasks are exported`;
  if (t.chat) return 'chat: the task renders a chat template, which the harness applies differently';
  if (t.circular_eval) return 'circular_eval: the harness has no CircularEval';
  if (t.num_fewshot > 0 && t.fewshot_config.sampler !== 'first_n') return `fewshot_config.sampler ${t.fewshot_config.sampler}: only first_n draws the same shots`;
  const other = t.metric_list.map((m) => m.metric).filter((m) => !METRICS.has(m));
  if (other.length) return `metric_list: ${other.join(', ')} (the harness computes acc and acc_norm)`;
  return null;
}

/** Writes the task for lm-evaluation-harness into `dir` (see the header). */
export function exportLmEvalTask(t: TaskConfig, dir: string): LmEvalExport {
  const why = lmEvalUnsupported(t);
  if (why) throw new Error(`task ${t.task} cannot be exported to lm-evaluation-harness: ${why}`);
  const name = t.task.replace(/[^A-Za-z0-9_.-]/g, '_');
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  const splits = [...new Set([t.test_split, ...(t.num_fewshot > 0 && t.fewshot_split ? [t.fewshot_split] : [])])];
  const dataFiles: Record<string, string> = {};
  const docs: Record<string, number> = {};
  for (const split of splits) {
    const list = loadDocs(t, split);
    const file = join(out, `${name}.${split}.jsonl`);
    writeFileSync(file, list.map((d) => JSON.stringify(d)).join('\n') + '\n');
    dataFiles[split] = file;
    docs[split] = list.length;
  }
  const spec: Record<string, unknown> = {
    task: name,
    dataset_path: 'json',
    dataset_kwargs: { data_files: dataFiles },
    test_split: t.test_split,
    ...(t.num_fewshot > 0 && t.fewshot_split ? { fewshot_split: t.fewshot_split, fewshot_config: { sampler: 'first_n' } } : {}),
    output_type: 'multiple_choice',
    description: t.description,
    doc_to_text: t.doc_to_text,
    doc_to_choice: t.doc_to_choice,
    doc_to_target: t.doc_to_target,
    target_delimiter: t.target_delimiter,
    fewshot_delimiter: t.fewshot_delimiter,
    num_fewshot: t.num_fewshot,
    metric_list: t.metric_list.map((m) => ({ metric: m.metric, aggregation: 'mean', higher_is_better: true })),
    metadata: { version: Number(t.version) || 1, source: `modelfab task ${t.task} v${t.version}` },
  };
  const yamlPath = join(out, `${name}.yaml`);
  writeFileSync(yamlPath, stringify(spec, { lineWidth: 0 }));
  return { name, dir: out, yamlPath, docs };
}
