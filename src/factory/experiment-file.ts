/**
 * Experiment files (YAML or JSON), validated the way dataset files are: every problem at once, each with the file,
 * the line and the field (`methods[1].spec.type`), in the dataset problems' shape (src/data/problems.ts).
 *
 *   validateExperimentRequest  the object itself (what POST /v1/experiments receives): unknown keys named with the
 *                              nearest valid key at every level (top level, hyperparameters, method specs, sweep,
 *                              the stages in `then`), enum values listed (stage, method type, targets, schedule,
 *                              chat template, preference loss, suites), types and ranges, required fields, method
 *                              names given twice. The server calls it with field paths only.
 *   parseExperimentFile        text -> the request and its problems, with lines (the `yaml` document API and a
 *                              LineCounter; a JSON file is checked as JSON first, then read the same way).
 *   loadExperimentFile         a file by path: the request, or one ExperimentValidationError with every problem.
 *
 * Pure apart from loadExperimentFile's read. Values are quoted in messages only as short scalars (never more of the
 * file than the one value at fault).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument } from 'yaml';
import { formatProblem, type Problem } from '../data/problems.ts';
import { isMethodType, METHOD_TYPES } from '../engine/methods.ts';
import { LINEAR_MODULES, MODULE_TENSOR } from '../engine/config.ts';
import { CHAT_TEMPLATES } from '../engine/tokenizer/chat-template.ts';
import type { ExperimentRequest } from './factory-service.ts';
import { isNodeCount, isProcessCount, STRATEGIES } from './job-spec.ts';
import { ValidationError } from '../util/status-error.ts';

/** An experiment file or request that failed validation: a 400 (`invalid_experiment`) with every problem. */
export class ExperimentValidationError extends ValidationError {
  declare readonly problems: Problem[];
  constructor(problems: Problem[]) {
    const shown = problems.slice(0, 50).map((p) => `  ${formatProblem(p)}`).join('\n');
    const more = problems.length > 50 ? `\n  ... and ${problems.length - 50} more` : '';
    super(400, `experiment validation failed with ${problems.length} problem(s):\n${shown}${more}`, { param: problems[0]?.path ?? null, code: 'invalid_experiment' }, problems);
  }
}

type Path = Array<string | number>;
type LineOf = (path: Path) => number | undefined;

/** `methods[1].spec.type` */
export function formatPath(path: Path): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

// ------------------------------------------------------------------------------------------------ nearest keys

/** Damerau-Levenshtein (optimal string alignment) distance: a swap of two letters ("lroa") counts once. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** Spellings other tools use for the same setting (LLaMA-Factory, Hugging Face, OpenAI). */
const SYNONYMS: Record<string, string> = {
  learningrate: 'lr', nepochs: 'epochs', numtrainepochs: 'epochs', perdevicetrainbatchsize: 'batchSize', bs: 'batchSize',
  gradientaccumulationsteps: 'gradAccum', gradientaccumulation: 'gradAccum', lrschedulertype: 'schedule', scheduler: 'schedule',
  cutofflen: 'seqLen', maxseqlength: 'seqLen', maxlength: 'seqLen', contextlength: 'seqLen', template: 'chatTemplate',
  evalsteps: 'evalEvery', savesteps: 'checkpointEvery', patience: 'earlyStoppingPatience',
  r: 'rank', lorarank: 'rank', loraalpha: 'alpha', loradropout: 'dropout', loratarget: 'targets', targetmodules: 'targets',
  userslora: 'rslora', numvirtualtokens: 'numVirtualTokens', virtualtokens: 'numVirtualTokens', freezetrainablelayers: 'trainableLayers',
  model: 'base_models', models: 'base_models', basemodel: 'base_models', base: 'base_models', dataset: 'datasets', data: 'datasets',
  method: 'methods', hyperparams: 'hyperparameters', hparams: 'hyperparameters', seed: 'seeds', suite: 'suites', stages: 'then',
  grid: 'sweep', losstype: 'loss', preferenceloss: 'loss', prefloss: 'loss',
  backend: 'trainer', dtype: 'precision', torchdtype: 'precision', mixedprecision: 'precision', gradientcheckpointing: 'gradient_checkpointing',
};

const norm = (s: string) => s.toLowerCase().replace(/[_\-\s]/g, '');

/** The valid key (or value) nearest to `given`, when one is near enough to be a likely misspelling. */
export function nearest(given: string, valid: readonly string[]): string | null {
  const g = norm(given);
  const syn = SYNONYMS[g];
  if (syn && valid.includes(syn)) return syn;
  let best: string | null = null, bestD = Infinity;
  for (const v of valid) {
    const d = distance(g, norm(v));
    if (d < bestD) { bestD = d; best = v; }
  }
  const limit = g.length <= 4 ? 1 : g.length <= 8 ? 2 : 3;
  return bestD <= limit ? best : null;
}

const quote = (v: unknown): string => {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return Array.isArray(v) ? (v.length ? 'a list' : 'an empty list') : 'a mapping';
};

// ------------------------------------------------------------------------------------------------ the rules

const STAGES = ['pretrain', 'sft', 'dpo'] as const;
const LATER_STAGES = ['sft', 'dpo'] as const;
const SUITES = ['factory'] as const;
const SCHEDULES = ['cosine', 'linear', 'constant'] as const;
const PREFERENCE_LOSSES = ['dpo', 'orpo', 'simpo'] as const;
/** Target module spellings the engine accepts (src/engine/config.ts parseModules): ours, PEFT's, GGUF's, and 'all'. */
const TARGETS: readonly string[] = ['all', ...LINEAR_MODULES, ...LINEAR_MODULES.map((m) => `${m}_proj`), ...Object.values(MODULE_TENSOR)];
const FREEZE_MODULES: readonly string[] = ['all', 'attn', 'ffn', 'norm', ...TARGETS.filter((t) => t !== 'all')];
const EXTRA_MODULES = ['token_embd', 'output', 'output_norm'] as const;

const TOP_KEYS = ['name', 'stage', 'base_models', 'datasets', 'methods', 'hyperparameters', 'sweep', 'seeds', 'suites', 'priority', 'then', 'fact_questions', 'trainer', 'precision', 'gradient_checkpointing', 'packing', 'nproc_per_node', 'strategy', 'nnodes', 'runner'];
const TRAINERS = ['engine', 'torch'] as const;
const PRECISIONS = ['fp32', 'bf16', 'fp16'] as const;
const THEN_KEYS = ['stage', 'datasets', 'hyperparameters'];
const NAMED_METHOD_KEYS = ['name', 'spec'];

/** A check of one value: null when fine, else what is wrong (without the field, which the problem names). */
type Check = (v: unknown) => string | null;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const int = (min: number, what = `an integer >= ${min}`): Check => (v) => (Number.isInteger(v) && (v as number) >= min ? null : `must be ${what}, got ${quote(v)}`);
const num = (ok: (n: number) => boolean, what: string): Check => (v) => (typeof v === 'number' && Number.isFinite(v) && ok(v) ? null : `must be ${what}, got ${quote(v)}`);
const bool: Check = (v) => (typeof v === 'boolean' ? null : `must be true or false, got ${quote(v)}`);
function oneOf(values: readonly string[]): Check {
  return (v) => {
    if (typeof v === 'string' && values.includes(v)) return null;
    const near = typeof v === 'string' ? nearest(v, values) : null;
    return `must be one of ${values.join(', ')}; got ${quote(v)}${near ? ` (did you mean '${near}'?)` : ''}`;
  };
}

/** Hyperparameters an experiment may set (src/factory/job-spec.ts Hyperparameters), each with its check. */
const HYPER: Record<string, Check> = {
  epochs: int(1), maxSteps: int(1), batchSize: int(1), gradAccum: int(1),
  lr: num((n) => n > 0, 'a number > 0'),
  schedule: oneOf(SCHEDULES),
  warmupRatio: num((n) => n >= 0 && n < 1, 'a number in [0, 1)'), warmupSteps: int(0),
  minLrRatio: num((n) => n >= 0 && n <= 1, 'a number in [0, 1]'), weightDecay: num((n) => n >= 0, 'a number >= 0'),
  maxGradNorm: num((n) => n >= 0, 'a number >= 0 (0: no clipping)'), seqLen: int(2),
  evalEvery: int(0), earlyStoppingPatience: int(0), checkpointEvery: int(0),
  chatTemplate: oneOf(Object.keys(CHAT_TEMPLATES)),
};
const PREFERENCE: Record<string, Check> = {
  loss: oneOf(PREFERENCE_LOSSES), beta: num((n) => n > 0, 'a number > 0'), lambda: num((n) => n > 0, 'a number > 0'), gamma: num((n) => n >= 0, 'a number >= 0'),
};
const HYPER_KEYS = [...Object.keys(HYPER), 'preference'];

const listOf = (values: readonly string[]): Check => (v) => {
  if (!Array.isArray(v) || v.length === 0) return `must be a non-empty list of ${values.join(', ')}`;
  const bad = v.filter((x) => typeof x !== 'string' || !values.includes(x));
  if (!bad.length) return null;
  const near = bad.map((b) => (typeof b === 'string' ? nearest(b, values) : null)).filter(Boolean);
  return `${bad.map(quote).join(', ')} ${bad.length > 1 ? 'are' : 'is'} not one of ${values.join(', ')}${near.length ? ` (did you mean ${near.map((n) => `'${n}'`).join(', ')}?)` : ''}`;
};

/**
 * Each method type's options with their checks (src/engine/methods.ts MethodSpec). None is required: the planner
 * fills LoRA's rank (8) and alpha (twice the rank) and the virtual tokens (16) when left out (withMethodDefaults).
 */
const LORA: Record<string, Check> = {
  rank: int(1, 'a positive integer'), alpha: num((n) => n > 0, 'a number > 0'), dropout: num((n) => n >= 0 && n < 1, 'a number in [0, 1)'),
  targets: listOf(TARGETS), rslora: bool,
};
const METHOD_OPTIONS: Record<string, Record<string, Check>> = {
  full: {},
  freeze: { trainableLayers: (v) => (Number.isInteger(v) && v !== 0 ? null : `must be a non-zero integer (negative: the first layers), got ${quote(v)}`), trainableModules: listOf(FREEZE_MODULES), extraModules: listOf(EXTRA_MODULES) },
  lora: LORA,
  qlora: { ...LORA, blockSize: int(1, 'a positive integer') },
  prefix: { numVirtualTokens: int(1, 'a positive integer') },
  prompt: { numVirtualTokens: int(1, 'a positive integer') },
};

// ------------------------------------------------------------------------------------------------ the validator

class Collector {
  readonly list: Problem[] = [];
  constructor(private readonly file: string, private readonly lineOf: LineOf) {}
  add(path: Path, message: string): void {
    const line = this.lineOf(path);
    this.list.push({ file: this.file, ...(line !== undefined ? { line } : {}), ...(path.length ? { path: formatPath(path) } : {}), message });
  }
  /** Names every key of `obj` that is not in `valid`, with the nearest valid key when there is one. */
  keys(obj: Record<string, unknown>, valid: readonly string[], at: Path, hint?: (key: string) => string | null): void {
    for (const k of Object.keys(obj)) {
      if (valid.includes(k)) continue;
      const special = hint?.(k);
      if (special) { this.add([...at, k], special); continue; }
      const near = nearest(k, valid);
      this.add([...at, k], `unknown key '${k}'${near ? ` (did you mean '${near}'?)` : ` (valid keys: ${valid.join(', ')})`}`);
    }
  }
  check(v: unknown, c: Check, at: Path): boolean {
    const msg = c(v);
    if (msg) this.add(at, msg);
    return !msg;
  }
}

function names(p: Collector, v: unknown, at: Path, what: string): void {
  if (v === undefined) { p.add(at, `is required: a list of ${what}`); return; }
  if (!Array.isArray(v) || v.length === 0) { p.add(at, `must be a non-empty list of ${what}, got ${quote(v)}`); return; }
  v.forEach((x, i) => { if (typeof x !== 'string' || !x.trim()) p.add([...at, i], `must be a name (a non-empty string), got ${quote(x)}`); });
}

function hyperparameters(p: Collector, v: unknown, at: Path): void {
  if (v === undefined || v === null) return;
  if (!isObj(v)) { p.add(at, `must be a mapping of hyperparameters (${HYPER_KEYS.join(', ')})`); return; }
  p.keys(v, HYPER_KEYS, at);
  for (const [k, c] of Object.entries(HYPER)) if (v[k] !== undefined) p.check(v[k], c, [...at, k]);
  const pref = v.preference;
  if (pref !== undefined) {
    if (!isObj(pref)) p.add([...at, 'preference'], `must be a mapping (${Object.keys(PREFERENCE).join(', ')})`);
    else {
      p.keys(pref, Object.keys(PREFERENCE), [...at, 'preference']);
      for (const [k, c] of Object.entries(PREFERENCE)) if (pref[k] !== undefined) p.check(pref[k], c, [...at, 'preference', k]);
    }
  }
}

function sweep(p: Collector, v: unknown, at: Path): void {
  if (v === undefined || v === null) return;
  const sweepable = Object.keys(HYPER);
  if (!isObj(v)) { p.add(at, `must be a mapping from a hyperparameter (${sweepable.join(', ')}) to the list of values to try`); return; }
  p.keys(v, sweepable, at, (k) => (k === 'preference' ? "'preference' cannot be swept (sweep a top-level hyperparameter such as lr)" : null));
  for (const [k, c] of Object.entries(HYPER)) {
    const values = v[k];
    if (values === undefined) continue;
    if (!Array.isArray(values) || values.length === 0) { p.add([...at, k], `must be a non-empty list of values to try, e.g. ${k}: [${k === 'lr' ? '0.001, 0.003' : '1, 2'}]; got ${quote(values)}`); continue; }
    values.forEach((x, i) => p.check(x, c, [...at, k, i]));
  }
}

/** Which method types have option `k` (for "'rank' is an option of lora, qlora, not of full"). */
const typesWith = (k: string) => Object.entries(METHOD_OPTIONS).filter(([, o]) => k in o).map(([t]) => t);

function methodSpec(p: Collector, spec: unknown, at: Path, named: boolean): void {
  if (!isObj(spec)) { p.add(at, `must be a mapping with a type (${METHOD_TYPES.join(', ')}) and its options`); return; }
  const type = spec.type;
  const allOptions = [...new Set(Object.values(METHOD_OPTIONS).flatMap((o) => Object.keys(o)))];
  if (type === undefined) {
    p.add([...at, 'type'], `is required: one of ${METHOD_TYPES.join(', ')}`);
    p.keys(spec, ['type', ...allOptions], at, (k) => (k === 'name' && !named ? "unknown key 'name': a named method is {name, spec: {type, ...}}" : null));
    return;
  }
  if (!isMethodType(type)) {
    p.check(type, oneOf(METHOD_TYPES), [...at, 'type']);
    p.keys(spec, ['type', ...allOptions], at, (k) => (k === 'name' && !named ? "unknown key 'name': a named method is {name, spec: {type, ...}}" : null));
    return;
  }
  const options = METHOD_OPTIONS[type];
  p.keys(spec, ['type', ...Object.keys(options)], at, (k) => {
    if (k === 'name' && !named) return "unknown key 'name': a named method is {name, spec: {type, ...}}";
    const owners = typesWith(k);
    if (!owners.length) return null;
    return `'${k}' is an option of ${owners.join(', ')}, not of ${type}${Object.keys(options).length ? ` (${type} takes ${Object.keys(options).join(', ')})` : ` (${type} takes no options)`}`;
  });
  for (const [k, c] of Object.entries(options)) if (spec[k] !== undefined) p.check(spec[k], c, [...at, k]);
}

function methods(p: Collector, v: unknown, at: Path): void {
  if (v === undefined) { p.add(at, `is required: a list of methods, e.g. - {type: lora, rank: 16, alpha: 32}`); return; }
  if (!Array.isArray(v) || v.length === 0) { p.add(at, `must be a non-empty list of methods, got ${quote(v)}`); return; }
  const given = new Map<string, number>();
  v.forEach((m, i) => {
    if (!isObj(m)) { p.add([...at, i], `must be a method: {type: ..., options} or {name: ..., spec: {type: ..., options}}, got ${quote(m)}`); return; }
    if ('spec' in m) {
      p.keys(m, NAMED_METHOD_KEYS, [...at, i]);
      if (m.name !== undefined) {
        if (typeof m.name !== 'string' || !m.name.trim()) p.add([...at, i, 'name'], `must be a non-empty string, got ${quote(m.name)}`);
        else if (given.has(m.name)) p.add([...at, i, 'name'], `'${m.name}' is already the name of methods[${given.get(m.name)}]: each method needs its own name (job and model names carry it)`);
        else given.set(m.name, i);
      }
      methodSpec(p, m.spec, [...at, i, 'spec'], true);
    } else methodSpec(p, m, [...at, i], false);
  });
}

function thenStages(p: Collector, v: unknown, at: Path): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) { p.add(at, `must be a list of stages, e.g. - {stage: dpo, datasets: [prefs]}`); return; }
  v.forEach((t, i) => {
    const here = [...at, i];
    if (!isObj(t)) { p.add(here, `must be a stage: {stage: ${LATER_STAGES.join(' | ')}, datasets: [...], hyperparameters: {...}}`); return; }
    p.keys(t, THEN_KEYS, here);
    if (t.stage === undefined) p.add([...here, 'stage'], `is required: one of ${LATER_STAGES.join(', ')}`);
    else p.check(t.stage, oneOf(LATER_STAGES), [...here, 'stage']);
    names(p, t.datasets, [...here, 'datasets'], 'registered dataset names');
    hyperparameters(p, t.hyperparameters, [...here, 'hyperparameters']);
  });
}

/** The trainer and its options; what the engine does not do is named (it trains fp32, in one process on one machine). */
function trainerFields(p: Collector, obj: Record<string, unknown>): void {
  if (obj.trainer !== undefined) p.check(obj.trainer, oneOf(TRAINERS), ['trainer']);
  if (obj.precision !== undefined) p.check(obj.precision, oneOf(PRECISIONS), ['precision']);
  if (obj.gradient_checkpointing !== undefined) p.check(obj.gradient_checkpointing, bool, ['gradient_checkpointing']);
  if (obj.packing !== undefined) p.check(obj.packing, bool, ['packing']);
  if (obj.nproc_per_node !== undefined && !isProcessCount(obj.nproc_per_node)) p.add(['nproc_per_node'], `must be an integer from 1 to 64, got ${JSON.stringify(obj.nproc_per_node)}`);
  if (obj.strategy !== undefined) p.check(obj.strategy, oneOf(STRATEGIES), ['strategy']);
  if (obj.nnodes !== undefined && !isNodeCount(obj.nnodes)) p.add(['nnodes'], `must be an integer from 1 to 64, got ${JSON.stringify(obj.nnodes)}`);
  if ((obj.trainer ?? 'engine') !== 'engine') return;
  if (typeof obj.nnodes === 'number' && obj.nnodes > 1) p.add(['nnodes'], 'needs trainer: torch (the engine trains on one machine)');
  if (obj.strategy !== undefined && obj.strategy !== 'ddp') p.add(['strategy'], 'needs trainer: torch (the engine trains in one process)');
  if (obj.precision === 'fp16') p.add(['precision'], 'fp16 needs trainer: torch (the engine trains in fp32, or bf16 where the processor has AMX-BF16 or AVX512-BF16)');
  if (typeof obj.nproc_per_node === 'number' && obj.nproc_per_node > 1 && obj.trainer !== 'torch') p.add(['nproc_per_node'], 'needs trainer: torch (the engine trains in one process; give it more threads)');
}

/**
 * Every problem of an experiment object (what POST /v1/experiments receives, or a parsed file). `lineOf` maps a
 * field path to its line in the file (omitted: problems carry the field path only).
 */
export function validateExperimentRequest(obj: unknown, o: { file: string; lineOf?: LineOf }): Problem[] {
  const p = new Collector(o.file, o.lineOf ?? (() => undefined));
  if (!isObj(obj)) {
    p.add([], `an experiment must be a mapping with name, base_models, datasets, methods (and optionally ${TOP_KEYS.slice(4).join(', ')}), got ${obj === undefined ? 'nothing' : quote(obj)}`);
    return p.list;
  }
  p.keys(obj, TOP_KEYS, [], (k) => (k in HYPER || k === 'preference' ? `'${k}' is a hyperparameter: put it under hyperparameters (or sweep)` : null));
  if (obj.name === undefined) p.add(['name'], 'is required: the experiment\'s name');
  else if (typeof obj.name !== 'string' || !obj.name.trim()) p.add(['name'], `must be a non-empty string, got ${quote(obj.name)}`);
  if (obj.stage !== undefined) p.check(obj.stage, oneOf(STAGES), ['stage']);
  names(p, obj.base_models, ['base_models'], 'model names (modelfab models list)');
  names(p, obj.datasets, ['datasets'], 'registered dataset names (modelfab datasets list)');
  methods(p, obj.methods, ['methods']);
  hyperparameters(p, obj.hyperparameters, ['hyperparameters']);
  sweep(p, obj.sweep, ['sweep']);
  if (obj.seeds !== undefined) {
    if (!Array.isArray(obj.seeds)) p.add(['seeds'], `must be a list of integers, e.g. [0, 1], got ${quote(obj.seeds)}`);
    else obj.seeds.forEach((s, i) => p.check(s, int(0, 'an integer >= 0'), ['seeds', i]));
  }
  if (obj.suites !== undefined) {
    if (!Array.isArray(obj.suites)) p.add(['suites'], `must be a list of suites (${SUITES.join(', ')}), or [] for none`);
    else obj.suites.forEach((s, i) => p.check(s, oneOf(SUITES), ['suites', i]));
  }
  if (obj.priority !== undefined && !Number.isInteger(obj.priority)) p.add(['priority'], `must be an integer, got ${quote(obj.priority)}`);
  // which runners exist is the server's to say (the factory refuses an unknown name with the list)
  if (obj.runner !== undefined && (typeof obj.runner !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(obj.runner))) {
    p.add(['runner'], `must be a runner's name (letters, digits, '.', '_', '-'), got ${quote(obj.runner)}`);
  }
  // the sets' contents are checked by the factory (validateFactQuestionSets), which names each problem by field
  if (obj.fact_questions !== undefined && !Array.isArray(obj.fact_questions)) p.add(['fact_questions'], 'must be a list of question sets ({name, system?, questions: [{question, answers}]})');
  thenStages(p, obj.then, ['then']);
  trainerFields(p, obj);
  return p.list;
}

// ------------------------------------------------------------------------------------------------ files

/** The line (1-based) of the character at `offset`. */
const lineAt = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

/**
 * Parses an experiment file's text (YAML, or JSON when `file` ends in .json) and validates it: the request, and
 * every problem with its line. Never throws on bad input.
 */
export function parseExperimentFile(text: string, file: string): { request: ExperimentRequest | null; problems: Problem[] } {
  if (file.toLowerCase().endsWith('.json')) {
    try { JSON.parse(text); } catch (e) {
      const pos = /position (\d+)/.exec((e as Error).message);
      const msg = (e as Error).message.replace(/^Unexpected token .*?(?= in JSON)/, 'unexpected character').replace(/ in JSON at position \d+.*$/, '').replace(/ \(line \d+ column \d+\)$/, '');
      return { request: null, problems: [{ file, ...(pos ? { line: lineAt(text, Number(pos[1])) } : {}), message: `invalid JSON: ${msg}` }] };
    }
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    return { request: null, problems: doc.errors.map((e) => ({ file, line: lc.linePos(e.pos[0]).line, message: `invalid ${file.toLowerCase().endsWith('.json') ? 'JSON' : 'YAML'}: ${e.message.split('\n')[0]}` })) };
  }
  const lineOf: LineOf = (path) => {
    let node: unknown = doc.contents;
    let line = isNode(node) && node.range ? lc.linePos(node.range[0]).line : undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
        if (!pair) break;
        if (isNode(pair.key) && pair.key.range) line = lc.linePos(pair.key.range[0]).line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (!isNode(item)) break;
        if (item.range) line = lc.linePos(item.range[0]).line;
        node = item;
      } else break;
    }
    return line;
  };
  const obj: unknown = doc.toJS();
  // in the file's order (a problem without a line, e.g. a missing top-level key, first)
  const problems = validateExperimentRequest(obj, { file, lineOf }).map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line ?? 0) - (b.p.line ?? 0) || a.i - b.i).map((x) => x.p);
  return { request: problems.length ? null : (obj as ExperimentRequest), problems };
}

/** Reads and validates an experiment file; `shown` is the name problems give it (default the path). */
export function loadExperimentFile(path: string, shown = path): ExperimentRequest {
  if (!existsSync(path)) throw new ExperimentValidationError([{ file: shown, message: 'file not found' }]);
  if (!statSync(path).isFile()) throw new ExperimentValidationError([{ file: shown, message: 'is not a file (an experiment is one YAML or JSON file)' }]);
  const { request, problems } = parseExperimentFile(readFileSync(path, 'utf8'), shown);
  if (problems.length || !request) throw new ExperimentValidationError(problems);
  return request;
}
