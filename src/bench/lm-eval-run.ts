/**
 * lm-evaluation-harness (`lm_eval` from PyPI) run against an OpenAI-compatible `/v1/completions` endpoint, such as
 * the gateway: its `local-completions` model sends each prompt as token ids with `echo`, `logprobs` and
 * `max_tokens: 1`, and reads the prompt's log-probabilities back.
 *
 * Owns: `runLmEval`: one harness run of tasks exported by lm-eval-export.ts, in a child process with the Hugging
 * Face libraries held offline (no hub, no network; the datasets cache in the run's folder), and its results file
 * read back: each task's metrics and, per document, the harness's prediction.
 * Guarantees: a harness that is not installed, exits non-zero or writes no results fails with an Error carrying
 * the last lines of its output; the API key travels in the child's environment, never on its command line.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface LmEvalRunOptions {
  /** The Python that has lm_eval installed. */
  python: string;
  /** e.g. http://127.0.0.1:8080/v1 (the harness posts to <baseURL>/completions). */
  baseURL: string;
  apiKey?: string;
  model: string;
  /** A folder transformers' AutoTokenizer loads: the served model's tokenizer (token ids go over the wire). */
  tokenizer: string;
  /** Task names, and the folder their YAML files are in (--include_path). */
  tasks: string[];
  includePath: string;
  /** Where the harness writes (results, samples, datasets cache). */
  workDir: string;
  limit?: number;
  numFewshot?: number;
  /** Prompts per request (default 8). */
  batchSize?: number;
  timeoutMs?: number;
  onLine?: (line: string) => void;
}

export interface LmEvalTaskResult {
  metrics: Record<string, number>;
  /** Per document (in the harness's doc_id order): the predicted choice and the gold one. */
  samples: Array<{ docId: number; pred: number; gold: number; loglikelihoods: number[] }>;
}

export interface LmEvalResult {
  version: string;
  tasks: Record<string, LmEvalTaskResult>;
  seconds: number;
}

export async function runLmEval(o: LmEvalRunOptions): Promise<LmEvalResult> {
  const work = resolve(o.workDir);
  mkdirSync(work, { recursive: true });
  const modelArgs = [
    `model=${o.model}`, `base_url=${o.baseURL.replace(/\/+$/, '')}/completions`, `tokenizer=${resolve(o.tokenizer)}`,
    'tokenizer_backend=huggingface', 'tokenized_requests=True', 'num_concurrent=1', 'max_retries=1', `timeout=${Math.round((o.timeoutMs ?? 600_000) / 1000)}`,
  ].join(',');
  const args = [
    '-m', 'lm_eval', '--model', 'local-completions', '--model_args', modelArgs, '--tasks', o.tasks.join(','),
    '--include_path', resolve(o.includePath), '--output_path', join(work, 'out'), '--log_samples', '--batch_size', String(o.batchSize ?? 8),
    ...(o.limit !== undefined ? ['--limit', String(o.limit)] : []), ...(o.numFewshot !== undefined ? ['--num_fewshot', String(o.numFewshot)] : []),
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env, OPENAI_API_KEY: o.apiKey ?? '', HF_HUB_OFFLINE: '1', HF_DATASETS_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1',
    HF_HOME: join(work, 'hf'), HF_DATASETS_CACHE: join(work, 'hf', 'datasets'), TOKENIZERS_PARALLELISM: 'false', PYTHONUNBUFFERED: '1',
  };
  const t0 = performance.now();
  const tail: string[] = [];
  const code = await new Promise<number>((done, fail) => {
    const child = spawn(o.python, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 600_000);
    const read = (b: Buffer) => {
      for (const line of b.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        o.onLine?.(line);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('error', (e) => { clearTimeout(timer); fail(new Error(`lm_eval: ${o.python} does not run: ${e.message}`)); });
    child.on('close', (c, sig) => { clearTimeout(timer); done(c ?? (sig ? 128 : 1)); });
  });
  if (code !== 0) throw new Error(`lm_eval exited with ${code}:\n${tail.join('\n')}`);
  const files = walk(join(work, 'out'));
  const resultsFile = files.filter((f) => /\/results_[^/]*\.json$/.test(f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!resultsFile) throw new Error(`lm_eval wrote no results under ${join(work, 'out')}:\n${tail.join('\n')}`);
  const res = JSON.parse(readFileSync(resultsFile, 'utf8')) as { results: Record<string, Record<string, unknown>>; lm_eval_version?: string; git_hash?: string };
  const tasks: Record<string, LmEvalTaskResult> = {};
  for (const [name, r] of Object.entries(res.results)) {
    const metrics: Record<string, number> = {};
    // the harness names metrics "<metric>,<filter>": acc,none
    for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k.includes(',')) metrics[k.split(',')[0]!] = v;
    const sampleFile = files.find((f) => new RegExp(`/samples_${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_[^/]*\\.jsonl$`).test(f));
    const samples = sampleFile ? readFileSync(sampleFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => {
      const s = JSON.parse(l) as { doc_id: number; target: number | string; filtered_resps: Array<[number, boolean]> };
      const lls = s.filtered_resps.map((x) => Number(x[0]));
      return { docId: s.doc_id, pred: lls.indexOf(Math.max(...lls)), gold: Number(s.target), loglikelihoods: lls };
    }).sort((a, b) => a.docId - b.docId) : [];
    tasks[name] = { metrics, samples };
  }
  return { version: res.lm_eval_version ?? 'unknown', tasks, seconds: (performance.now() - t0) / 1000 };
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}
