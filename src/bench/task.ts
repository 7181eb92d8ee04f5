/**
 * Task definitions: the schema (shaped like lm-evaluation-harness task YAML), the YAML loader with validation,
 * data sources, prompt construction with seeded few-shot sampling, and the template hash.
 *
 * A task file (YAML; `loadTaskFile`) or object (`validateTask`):
 *   task: mmlu_marketing                 # name, [A-Za-z0-9_.-]
 *   version: 1                           # bump when the task changes; part of every cache key
 *   dataset:                             # where documents come from (one of)
 *     {kind: exam, format: mmlu|cmmlu|ceval, root: <folder>, subject: <name>}   # the published folder layouts
 *     {kind: csv, format?: mmlu|cmmlu|ceval, files: {test: a.csv, dev: b.csv}}
 *     {kind: jsonl, files: {test: a.jsonl}}   {kind: inline, splits: {test: [docs]}}
 *     {kind: generator, name: needle|heldout|..., params: {...}}             # registerGenerator
 *   test_split: test                     fewshot_split: dev (default: test_split, the item itself excluded)
 *   output_type: multiple_choice | generate_until | loglikelihood_rolling (alias perplexity) | judged
 *   description: ""                      # text before everything (few-shot examples included)
 *   doc_to_text: "{{question}}"          # template.ts syntax
 *   doc_to_choice: ["A", "B"] | "{{choices}}"        # multiple_choice
 *   doc_to_target: "{{answer}}"          # mc: index, letter or choice text; generation: text or list of texts
 *   target_delimiter: " "   fewshot_delimiter: "\n\n"
 *   num_fewshot: 0   fewshot_config: {sampler: first_n | random, seed: 1234}
 *   circular_eval: {field: choices}      # mc only: rotate this list (and the gold) through every shift
 *   generation_kwargs: {until: ["\n\n"], max_gen_toks: 64, temperature: 0}
 *   answer_regex: "..."                  # generation: metrics see the first capture group of the first match
 *   metric_list: [{metric: acc}, {metric: acc_norm}, {metric: regex, pattern: "..."}]   # fact: fact-match.ts
 *   primary_metric: acc                  # what suites aggregate (default: the first metric)
 *   chat: false    system_prompt: "..."  # chat: prompts are chat messages rendered by the target's template
 *   judge: {mode: rubric | pairwise, rubric: "...", prompt_template?: "...", baseline_field?: reference}
 *   limit: 100                           # first N documents only
 * Paths are relative to the YAML file; `${name}` in a path is replaced from `vars` (e.g. ${bench_data}).
 * Guarantees: a definition that loads is complete and consistent; every problem is reported at once, each naming
 * its field path (and YAML line), e.g. `mmlu.yaml: metric_list[1].metric (line 14): unknown metric "accc"`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { parseExamCsv, readExamSplit, type ExamFormat } from './importers.ts';
import { parseTemplate, renderValue, render, stableHash, TemplateError } from './template.ts';
import { Rng } from '../engine/rng.ts';
import type { BenchMessage, Doc, Prompt } from './bench-types.ts';

export type OutputType = 'multiple_choice' | 'generate_until' | 'loglikelihood_rolling' | 'judged';

export const METRICS_BY_OUTPUT: Record<OutputType, readonly string[]> = {
  multiple_choice: ['acc', 'acc_norm', 'circular'],
  generate_until: ['exact_match', 'f1', 'rouge_l', 'bleu', 'contains', 'fact', 'regex', 'valid_json'],
  loglikelihood_rolling: ['byte_perplexity', 'bits_per_byte', 'token_perplexity', 'word_perplexity'],
  judged: ['rating', 'win_rate', 'rouge_l', 'f1', 'contains'],
};

export interface MetricSpec { metric: string; pattern?: string }

export type DataSource =
  | { kind: 'exam'; format: ExamFormat; root: string; subject: string }
  | { kind: 'csv'; format?: ExamFormat; files: Record<string, string> }
  | { kind: 'jsonl'; files: Record<string, string> }
  | { kind: 'inline'; splits: Record<string, Doc[]> }
  | { kind: 'generator'; name: string; params: Record<string, unknown> };

export interface JudgeSpec {
  mode: 'rubric' | 'pairwise';
  /** What a good answer looks like (rubric mode), inserted into the prompt as {{rubric}}. */
  rubric?: string;
  /** Overrides the built-in judge prompt (judge.ts); fields: question, answer, reference, rubric, answer_a, answer_b. */
  prompt_template?: string;
  /** Pairwise: the document field holding the other answer (default: the reference from doc_to_target). */
  baseline_field?: string;
}

export interface TaskConfig {
  task: string;
  version: number | string;
  dataset: DataSource;
  test_split: string;
  fewshot_split?: string;
  output_type: OutputType;
  description: string;
  doc_to_text: string;
  doc_to_choice?: string | string[];
  doc_to_target?: string;
  target_delimiter: string;
  fewshot_delimiter: string;
  num_fewshot: number;
  fewshot_config: { sampler: 'first_n' | 'random'; seed: number };
  circular_eval?: { field: string };
  generation_kwargs: { until: string[]; max_gen_toks: number; temperature: number };
  answer_regex?: string;
  metric_list: MetricSpec[];
  primary_metric: string;
  chat: boolean;
  system_prompt?: string;
  judge?: JudgeSpec;
  limit?: number;
  /** Free-form (dimension hints, source notes). */
  metadata?: Record<string, unknown>;
}

export interface ValidationIssue { path: string; message: string; line?: number }

export class TaskValidationError extends Error {
  constructor(readonly source: string, readonly issues: ValidationIssue[]) {
    super(`${source}: ${issues.map((i) => `${i.path}${i.line ? ` (line ${i.line})` : ''}: ${i.message}`).join('; ')}`);
    this.name = 'TaskValidationError';
  }
}

// --------------------------------------------------------------------------------------------- validation

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const KNOWN_KEYS = new Set([
  'task', 'version', 'dataset', 'test_split', 'fewshot_split', 'validation_split', 'output_type', 'description', 'doc_to_text',
  'doc_to_choice', 'doc_to_target', 'target_delimiter', 'fewshot_delimiter', 'num_fewshot', 'fewshot_config',
  'circular_eval', 'generation_kwargs', 'answer_regex', 'metric_list', 'primary_metric', 'chat', 'system_prompt',
  'judge', 'limit', 'metadata', 'tag', 'group',
]);

/** Validates a plain object (parsed YAML/JSON) into a TaskConfig with defaults, or throws TaskValidationError. */
export function validateTask(raw: unknown, source = 'task', lineOf: (path: Array<string | number>) => number | undefined = () => undefined): TaskConfig {
  const issues: ValidationIssue[] = [];
  const add = (path: Array<string | number>, message: string) => {
    const p = path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '');
    issues.push({ path: p || '(root)', message, line: lineOf(path) });
  };
  if (!isObj(raw)) throw new TaskValidationError(source, [{ path: '(root)', message: 'a task must be a mapping (key: value)' }]);
  const r = raw;
  for (const k of Object.keys(r)) if (!KNOWN_KEYS.has(k)) add([k], `unknown field (known: ${[...KNOWN_KEYS].join(', ')})`);
  const str = (k: string, required: boolean): string | undefined => {
    const v = r[k];
    if (v === undefined) { if (required) add([k], 'is required'); return undefined; }
    if (typeof v !== 'string') { add([k], `must be a string, got ${typeof v}`); return undefined; }
    return v;
  };
  const tmpl = (path: Array<string | number>, v: string) => {
    try { parseTemplate(v); } catch (e) { if (e instanceof TemplateError) add(path, e.message); else throw e; }
  };

  const task = str('task', true);
  if (task !== undefined && !/^[A-Za-z0-9_.-]+$/.test(task)) add(['task'], `must match [A-Za-z0-9_.-]+, got ${JSON.stringify(task)}`);
  const version = r.version ?? 0;
  if (typeof version !== 'number' && typeof version !== 'string') add(['version'], 'must be a number or a string');
  let outputType = str('output_type', true) as string | undefined;
  if (outputType === 'perplexity') outputType = 'loglikelihood_rolling';
  if (outputType !== undefined && !(outputType in METRICS_BY_OUTPUT)) add(['output_type'], `must be one of multiple_choice, generate_until, loglikelihood_rolling (perplexity), judged; got ${JSON.stringify(outputType)}`);
  const ot = (outputType ?? 'multiple_choice') as OutputType;

  // dataset
  let dataset: DataSource | undefined;
  const ds = r.dataset;
  if (ds === undefined) add(['dataset'], 'is required');
  else if (!isObj(ds)) add(['dataset'], 'must be a mapping with "kind"');
  else {
    const kind = ds.kind;
    const files = (k: string) => {
      const f = ds[k];
      if (!isObj(f) || Object.keys(f).length === 0) { add(['dataset', k], 'must map split names to file paths'); return {}; }
      for (const [s, p] of Object.entries(f)) if (typeof p !== 'string') add(['dataset', k, s], 'must be a file path');
      return f as Record<string, string>;
    };
    const fmt = (required: boolean): ExamFormat | undefined => {
      const f = ds.format;
      if (f === undefined) { if (required) add(['dataset', 'format'], 'is required (cmmlu, mmlu or ceval)'); return undefined; }
      if (f !== 'cmmlu' && f !== 'mmlu' && f !== 'ceval') { add(['dataset', 'format'], `must be cmmlu, mmlu or ceval, got ${JSON.stringify(f)}`); return undefined; }
      return f;
    };
    if (kind === 'exam') {
      const format = fmt(true);
      if (typeof ds.root !== 'string') add(['dataset', 'root'], 'must be a folder path');
      if (typeof ds.subject !== 'string') add(['dataset', 'subject'], 'must be a subject name');
      dataset = { kind, format: format ?? 'mmlu', root: String(ds.root), subject: String(ds.subject) };
    } else if (kind === 'csv') dataset = { kind, format: fmt(false), files: files('files') };
    else if (kind === 'jsonl') dataset = { kind, files: files('files') };
    else if (kind === 'inline') {
      const splits = ds.splits;
      if (!isObj(splits)) add(['dataset', 'splits'], 'must map split names to lists of documents');
      else for (const [s, docs] of Object.entries(splits)) {
        if (!Array.isArray(docs)) add(['dataset', 'splits', s], 'must be a list of documents');
        else docs.forEach((d, i) => { if (!isObj(d)) add(['dataset', 'splits', s, i], 'must be a mapping'); });
      }
      dataset = { kind, splits: (isObj(splits) ? splits : {}) as Record<string, Doc[]> };
    } else if (kind === 'generator') {
      if (typeof ds.name !== 'string') add(['dataset', 'name'], 'must name a generator');
      else if (!GENERATORS.has(ds.name)) add(['dataset', 'name'], `unknown generator ${JSON.stringify(ds.name)} (known: ${[...GENERATORS.keys()].join(', ')})`);
      if (ds.params !== undefined && !isObj(ds.params)) add(['dataset', 'params'], 'must be a mapping');
      dataset = { kind, name: String(ds.name), params: (isObj(ds.params) ? ds.params : {}) };
    } else add(['dataset', 'kind'], `must be exam, csv, jsonl, inline or generator; got ${JSON.stringify(kind)}`);
  }

  const testSplit = str('test_split', false) ?? 'test';
  const fewshotSplit = str('fewshot_split', false);
  const description = str('description', false) ?? '';
  const docToText = str('doc_to_text', ot !== 'loglikelihood_rolling') ?? '';
  if (docToText) tmpl(['doc_to_text'], docToText);
  if (description) tmpl(['description'], description);

  let docToChoice: string | string[] | undefined;
  if (r.doc_to_choice !== undefined) {
    if (typeof r.doc_to_choice === 'string') { docToChoice = r.doc_to_choice; tmpl(['doc_to_choice'], docToChoice); }
    else if (Array.isArray(r.doc_to_choice) && r.doc_to_choice.length >= 2) {
      docToChoice = r.doc_to_choice.map((c, i) => {
        if (typeof c !== 'string' && typeof c !== 'number') { add(['doc_to_choice', i], 'must be a string'); return ''; }
        tmpl(['doc_to_choice', i], String(c));
        return String(c);
      });
    } else add(['doc_to_choice'], 'must be a template or a list of at least two templates');
  } else if (ot === 'multiple_choice') add(['doc_to_choice'], 'is required for output_type multiple_choice');
  const docToTarget = r.doc_to_target === undefined ? undefined : typeof r.doc_to_target === 'number' ? String(r.doc_to_target) : str('doc_to_target', false);
  if (docToTarget !== undefined) tmpl(['doc_to_target'], docToTarget);
  else if (ot !== 'loglikelihood_rolling' && !(ot === 'judged' && isObj(r.judge) && r.judge.mode === 'rubric')) add(['doc_to_target'], `is required for output_type ${ot}`);
  if (ot === 'loglikelihood_rolling' && docToTarget === undefined && !docToText) add(['doc_to_target'], 'perplexity tasks need doc_to_target (the scored text) or doc_to_text');

  const targetDelimiter = r.target_delimiter === undefined ? ' ' : str('target_delimiter', false) ?? ' ';
  const fewshotDelimiter = r.fewshot_delimiter === undefined ? '\n\n' : str('fewshot_delimiter', false) ?? '\n\n';
  const int = (k: string, dflt: number, min: number): number => {
    const v = r[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) { add([k], `must be an integer >= ${min}, got ${JSON.stringify(v)}`); return dflt; }
    return v;
  };
  const numFewshot = int('num_fewshot', 0, 0);
  const limit = r.limit === undefined ? undefined : int('limit', 0, 1);

  const fc = r.fewshot_config ?? {};
  let sampler: 'first_n' | 'random' = 'random', fsSeed = 1234;
  if (!isObj(fc)) add(['fewshot_config'], 'must be a mapping');
  else {
    if (fc.sampler !== undefined) {
      if (fc.sampler !== 'first_n' && fc.sampler !== 'random') add(['fewshot_config', 'sampler'], `must be first_n or random, got ${JSON.stringify(fc.sampler)}`);
      else sampler = fc.sampler;
    }
    if (fc.seed !== undefined) { if (!Number.isInteger(fc.seed)) add(['fewshot_config', 'seed'], 'must be an integer'); else fsSeed = fc.seed as number; }
  }

  let circular: { field: string } | undefined;
  if (r.circular_eval !== undefined && r.circular_eval !== false) {
    if (ot !== 'multiple_choice') add(['circular_eval'], 'applies to multiple_choice tasks only');
    const c = r.circular_eval === true ? { field: 'choices' } : r.circular_eval;
    if (!isObj(c) || typeof c.field !== 'string') add(['circular_eval'], 'must be true or {field: <list field to rotate>}');
    else circular = { field: c.field };
  }

  const gk = r.generation_kwargs ?? {};
  const gen = { until: ['\n\n'], max_gen_toks: 64, temperature: 0 };
  if (!isObj(gk)) add(['generation_kwargs'], 'must be a mapping');
  else {
    for (const k of Object.keys(gk)) if (!['until', 'max_gen_toks', 'temperature', 'do_sample'].includes(k)) add(['generation_kwargs', k], 'unknown field (until, max_gen_toks, temperature)');
    if (gk.until !== undefined) {
      const u = typeof gk.until === 'string' ? [gk.until] : gk.until;
      if (!Array.isArray(u) || u.some((s) => typeof s !== 'string')) add(['generation_kwargs', 'until'], 'must be a string or a list of strings');
      else gen.until = u as string[];
    }
    if (gk.max_gen_toks !== undefined) { if (!Number.isInteger(gk.max_gen_toks) || (gk.max_gen_toks as number) < 1) add(['generation_kwargs', 'max_gen_toks'], 'must be a positive integer'); else gen.max_gen_toks = gk.max_gen_toks as number; }
    if (gk.temperature !== undefined) { if (typeof gk.temperature !== 'number' || gk.temperature < 0) add(['generation_kwargs', 'temperature'], 'must be a number >= 0'); else gen.temperature = gk.temperature; }
  }
  const answerRegex = str('answer_regex', false);
  if (answerRegex !== undefined) { try { new RegExp(answerRegex); } catch (e) { add(['answer_regex'], `invalid regular expression: ${(e as Error).message}`); } }

  // judge
  let judge: JudgeSpec | undefined;
  if (r.judge !== undefined) {
    const j = r.judge;
    if (!isObj(j)) add(['judge'], 'must be a mapping');
    else {
      if (j.mode !== 'rubric' && j.mode !== 'pairwise') add(['judge', 'mode'], `must be rubric or pairwise, got ${JSON.stringify(j.mode)}`);
      for (const k of ['rubric', 'prompt_template', 'baseline_field'] as const) if (j[k] !== undefined && typeof j[k] !== 'string') add(['judge', k], 'must be a string');
      if (typeof j.prompt_template === 'string') tmpl(['judge', 'prompt_template'], j.prompt_template);
      judge = { mode: j.mode === 'pairwise' ? 'pairwise' : 'rubric', rubric: j.rubric as string | undefined, prompt_template: j.prompt_template as string | undefined, baseline_field: j.baseline_field as string | undefined };
    }
  } else if (ot === 'judged') add(['judge'], 'is required for output_type judged');

  // metrics
  const allowed = METRICS_BY_OUTPUT[ot];
  let metrics: MetricSpec[] = [];
  if (r.metric_list === undefined) {
    metrics = ot === 'multiple_choice' ? [{ metric: 'acc' }, { metric: 'acc_norm' }, ...(circular ? [{ metric: 'circular' }] : [])]
      : ot === 'generate_until' ? [{ metric: 'exact_match' }, { metric: 'f1' }]
        : ot === 'loglikelihood_rolling' ? [{ metric: 'byte_perplexity' }, { metric: 'bits_per_byte' }, { metric: 'token_perplexity' }, { metric: 'word_perplexity' }]
          : [{ metric: judge?.mode === 'pairwise' ? 'win_rate' : 'rating' }];
  } else if (!Array.isArray(r.metric_list) || r.metric_list.length === 0) add(['metric_list'], 'must be a non-empty list of {metric: name}');
  else {
    r.metric_list.forEach((m, i) => {
      const spec = typeof m === 'string' ? { metric: m } : m;
      if (!isObj(spec) || typeof spec.metric !== 'string') { add(['metric_list', i], 'must be {metric: name}'); return; }
      if (!allowed.includes(spec.metric)) { add(['metric_list', i, 'metric'], `unknown metric ${JSON.stringify(spec.metric)} for ${ot} (known: ${allowed.join(', ')})`); return; }
      if (spec.metric === 'circular' && !circular) add(['metric_list', i, 'metric'], 'circular needs circular_eval');
      if (spec.metric === 'regex') {
        if (typeof spec.pattern !== 'string') add(['metric_list', i, 'pattern'], 'the regex metric needs a pattern');
        else try { new RegExp(spec.pattern.replace(/^\/(.*)\/[dgimsuy]*$/s, '$1')); } catch (e) { add(['metric_list', i, 'pattern'], `invalid regular expression: ${(e as Error).message}`); }
      }
      metrics.push({ metric: spec.metric, ...(typeof spec.pattern === 'string' ? { pattern: spec.pattern } : {}) });
    });
  }
  const primary = str('primary_metric', false) ?? metrics[0]?.metric ?? 'acc';
  if (metrics.length && !metrics.some((m) => m.metric === primary)) add(['primary_metric'], `must be one of the task's metrics (${metrics.map((m) => m.metric).join(', ')}), got ${JSON.stringify(primary)}`);
  const chat = r.chat === undefined ? false : r.chat;
  if (typeof chat !== 'boolean') add(['chat'], 'must be true or false');
  const systemPrompt = str('system_prompt', false);
  if (r.metadata !== undefined && !isObj(r.metadata)) add(['metadata'], 'must be a mapping');

  if (issues.length) throw new TaskValidationError(source, issues);
  return {
    task: task!, version: version as number | string, dataset: dataset!, test_split: testSplit, fewshot_split: fewshotSplit,
    output_type: ot, description, doc_to_text: docToText, doc_to_choice: docToChoice, doc_to_target: docToTarget,
    target_delimiter: targetDelimiter, fewshot_delimiter: fewshotDelimiter, num_fewshot: numFewshot,
    fewshot_config: { sampler, seed: fsSeed }, circular_eval: circular, generation_kwargs: gen, answer_regex: answerRegex,
    metric_list: metrics, primary_metric: primary, chat: chat as boolean, system_prompt: systemPrompt, judge, limit,
    metadata: r.metadata as Record<string, unknown> | undefined,
  };
}

/** Parses YAML text into a validated task. `file` names the source in errors; relative paths resolve against its folder. */
export function parseTaskYaml(text: string, file = 'task.yaml', vars: Record<string, string> = {}): TaskConfig {
  const lc = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lc, prettyErrors: true });
  if (doc.errors.length) {
    throw new TaskValidationError(file, doc.errors.map((e) => ({ path: '(yaml)', message: e.message.split('\n')[0], line: e.linePos?.[0]?.line })));
  }
  const lineOf = (path: Array<string | number>): number | undefined => {
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const t = validateTask(doc.toJS(), file, lineOf);
  return resolvePaths(t, dirname(resolve(file)), vars);
}

export function loadTaskFile(path: string, vars: Record<string, string> = {}): TaskConfig {
  if (!existsSync(path)) throw new TaskValidationError(path, [{ path: '(file)', message: 'file not found' }]);
  return parseTaskYaml(readFileSync(path, 'utf8'), path, vars);
}

function expand(p: string, baseDir: string, vars: Record<string, string>): string {
  const s = p.replace(/\$\{(\w+)\}/g, (m, k: string) => {
    if (!(k in vars)) throw new Error(`path ${p}: unknown variable \${${k}} (known: ${Object.keys(vars).join(', ') || 'none'})`);
    return vars[k];
  });
  return isAbsolute(s) ? s : join(baseDir, s);
}

/** Makes every data path absolute (relative to baseDir), substituting ${vars}. */
export function resolvePaths(t: TaskConfig, baseDir: string, vars: Record<string, string> = {}): TaskConfig {
  const d = t.dataset;
  const files = (f: Record<string, string>) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, expand(v, baseDir, vars)]));
  if (d.kind === 'exam') return { ...t, dataset: { ...d, root: expand(d.root, baseDir, vars) } };
  if (d.kind === 'csv' || d.kind === 'jsonl') return { ...t, dataset: { ...d, files: files(d.files) } };
  return t;
}

// --------------------------------------------------------------------------------------------- data

export type Generator = (params: Record<string, unknown>, split: string) => Doc[];
const GENERATORS = new Map<string, Generator>();

/** Registers a document generator for `dataset: {kind: generator, name}` (needle.ts, heldout.ts register theirs). */
export function registerGenerator(name: string, g: Generator): void {
  GENERATORS.set(name, g);
}

/** The documents of one split. Throws naming the task, split and file when the data is missing or malformed. */
export function loadDocs(t: TaskConfig, split: string): Doc[] {
  const d = t.dataset;
  const where = `task ${t.task}, split ${split}`;
  switch (d.kind) {
    case 'exam': return readExamSplit(d.format, d.root, d.subject, split);
    case 'csv': {
      const f = d.files[split];
      if (!f) throw new Error(`${where}: dataset.files has no "${split}" (has ${Object.keys(d.files).join(', ')})`);
      if (!existsSync(f)) throw new Error(`${where}: ${f} not found`);
      return parseExamCsv(readFileSync(f, 'utf8'), { name: f, format: d.format });
    }
    case 'jsonl': {
      const f = d.files[split];
      if (!f) throw new Error(`${where}: dataset.files has no "${split}" (has ${Object.keys(d.files).join(', ')})`);
      if (!existsSync(f)) throw new Error(`${where}: ${f} not found`);
      return readFileSync(f, 'utf8').split('\n').flatMap((line, i) => {
        if (!line.trim()) return [];
        try { return [JSON.parse(line) as Doc]; } catch (e) { throw new Error(`${f}: line ${i + 1}: invalid JSON (${(e as Error).message})`); }
      });
    }
    case 'inline': {
      const docs = d.splits[split];
      if (!docs) throw new Error(`${where}: dataset.splits has no "${split}" (has ${Object.keys(d.splits).join(', ')})`);
      return docs;
    }
    case 'generator': {
      const g = GENERATORS.get(d.name);
      if (!g) throw new Error(`${where}: unknown generator ${d.name}`);
      return g(d.params, split);
    }
  }
}

// --------------------------------------------------------------------------------------------- prompts

/** Everything that shapes the prompts and the scoring: hashed into every result and cache key. */
export function templateHash(t: TaskConfig): string {
  return stableHash({
    output_type: t.output_type, description: t.description, doc_to_text: t.doc_to_text, doc_to_choice: t.doc_to_choice,
    doc_to_target: t.doc_to_target, target_delimiter: t.target_delimiter, fewshot_delimiter: t.fewshot_delimiter,
    num_fewshot: t.num_fewshot, fewshot_config: t.fewshot_config, circular_eval: t.circular_eval,
    generation_kwargs: t.generation_kwargs, answer_regex: t.answer_regex, metric_list: t.metric_list,
    primary_metric: t.primary_metric, chat: t.chat, system_prompt: t.system_prompt, judge: t.judge,
    test_split: t.test_split, fewshot_split: t.fewshot_split, dataset: t.dataset.kind === 'generator' ? t.dataset : t.dataset.kind,
  });
}

/** The choices of a multiple-choice document. */
export function docChoices(t: TaskConfig, doc: Doc): string[] {
  const c = t.doc_to_choice;
  if (c === undefined) throw new Error(`task ${t.task}: no doc_to_choice`);
  if (Array.isArray(c)) return c.map((x) => render(x, doc));
  const v = renderValue(c, doc);
  if (!Array.isArray(v)) throw new Error(`task ${t.task}: doc_to_choice ${JSON.stringify(c)} must give a list, got ${JSON.stringify(v)}`);
  return v.map((x) => String(x));
}

/**
 * The gold index of a multiple-choice document: doc_to_target gives an index, a choice's text, or a letter A..Z
 * when the choices are not letters themselves.
 */
export function docGold(t: TaskConfig, doc: Doc, choices: readonly string[]): number {
  const v = renderValue(t.doc_to_target ?? '', doc);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < choices.length) return v;
  const s = String(v).trim();
  const byText = choices.indexOf(s);
  if (byText >= 0) return byText;
  if (/^\d+$/.test(s) && Number(s) < choices.length) return Number(s);
  if (/^[A-Z]$/.test(s) && s.charCodeAt(0) - 65 < choices.length) return s.charCodeAt(0) - 65;
  throw new Error(`task ${t.task}: doc_to_target gave ${JSON.stringify(v)}, which is neither an index, a letter nor one of the choices ${JSON.stringify(choices)}`);
}

/** The reference answers of a generation document (a list when doc_to_target gives a list). */
export function docTargets(t: TaskConfig, doc: Doc): string[] {
  if (t.doc_to_target === undefined) return [];
  const v = renderValue(t.doc_to_target, doc);
  return Array.isArray(v) ? v.map((x) => String(x)) : [String(v)];
}

/** The text shown after a few-shot example's question: the gold choice, or the first reference. */
function shotAnswer(t: TaskConfig, doc: Doc): string {
  if (t.output_type === 'multiple_choice') { const c = docChoices(t, doc); return c[docGold(t, doc, c)]; }
  return docTargets(t, doc)[0] ?? '';
}

/** Seeded few-shot examples for document `index` (first_n: the first k; random: k without replacement, seeded per item). */
export function sampleFewshot(t: TaskConfig, pool: readonly Doc[], index: number, samePool: boolean): Doc[] {
  const k = t.num_fewshot;
  if (k === 0) return [];
  const candidates = pool.map((d, i) => ({ d, i })).filter((x) => !(samePool && x.i === index));
  if (candidates.length < k) throw new Error(`task ${t.task}: ${k} few-shot examples asked, the few-shot split has ${candidates.length}`);
  if (t.fewshot_config.sampler === 'first_n') return candidates.slice(0, k).map((x) => x.d);
  const rng = new Rng((t.fewshot_config.seed * 1_000_003 + index * 7919) >>> 0);
  const idx = candidates.map((_, i) => i);
  for (let i = 0; i < k; i++) { const j = i + rng.int(idx.length - i); [idx[i], idx[j]] = [idx[j], idx[i]]; }
  return idx.slice(0, k).map((i) => candidates[i].d);
}

/**
 * The prompt of a document with its few-shot examples. Plain: description + (shot text + target delimiter + shot
 * answer + few-shot delimiter)* + text. Chat: system prompt (and description) as the system message, each shot as
 * a user/assistant turn pair (lm-evaluation-harness's fewshot_as_multiturn), then the user turn.
 */
export function buildPrompt(t: TaskConfig, doc: Doc, shots: readonly Doc[]): Prompt {
  const text = render(t.doc_to_text, doc);
  if (!t.chat) {
    const parts = shots.map((s) => render(t.doc_to_text, s) + t.target_delimiter + shotAnswer(t, s) + t.fewshot_delimiter);
    return t.description + parts.join('') + text;
  }
  const messages: BenchMessage[] = [];
  const system = [t.system_prompt, t.description].filter(Boolean).join('\n\n');
  if (system) messages.push({ role: 'system', content: system });
  for (const s of shots) {
    messages.push({ role: 'user', content: render(t.doc_to_text, s) });
    messages.push({ role: 'assistant', content: shotAnswer(t, s) });
  }
  messages.push({ role: 'user', content: text });
  return { messages };
}

/** A prompt as one readable string (chat prompts as JSON), for item records. */
export function promptText(p: Prompt): string {
  return typeof p === 'string' ? p : JSON.stringify(p.messages);
}
