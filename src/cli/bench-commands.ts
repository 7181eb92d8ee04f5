/**
 * `modelfab bench run|show|compare|export-lmeval` (local): benchmark models on suites or single tasks, show runs and the leaderboard,
 * compare two runs' answers item by item, on this machine's files (the server's evals are /v1/evals/runs). Thin over
 * src/bench/.
 *
 *   modelfab bench run --model <ref> [--model <ref> ...] [--suite standard|<suite.yaml>] [--task <task.yaml> ...]
 *                      [--bench-data <dir>] [--heldout <records.jsonl>] [--limit N] [--seed N] [--parallel N]
 *                      [--judge <ref>] [--data <dir>] [--no-cache] [--json]
 *   modelfab bench show [<run-id>] [--items <task>] [--data <dir>] [--json]   (no id: the runs and their leaderboard)
 *   modelfab bench compare <run-a> <run-b> [--task <name>] [--data <dir>] [--json]
 *   modelfab bench export-lmeval --out <dir> [--suite standard|<suite.yaml>] [--task <task.yaml> ...] [--bench-data <dir>]
 *                      (the tasks lm-evaluation-harness scores the same way, for `lm_eval --include_path <dir>`)
 * Model references: an engine model folder, a .gguf file, or openai:<http(s)://host/v1>#<model>[?logprobs=1] (sent
 * MODELFAB_BENCH_API_KEY as its key: this command runs locally, for the person who names the URL).
 * Runs are kept under <data>/bench/runs, the result cache under <data>/bench/cache (--data: default $MODELFAB_DATA or
 * ./modelfab-data).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  buildLeaderboard, compareRuns, exportLmEvalTask, formatLeaderboard, lmEvalUnsupported, JsonFileResultCache, JsonFileRunStore, loadSuiteFile, loadTaskFile, makeSuite, readRecords,
  runBenchmark, standardSuite, type BenchmarkRun, type Suite, type TaskConfig,
} from '../bench/bench-exports.ts';
import { openTarget } from '../bench/targets/open.ts';
import { withData } from './local.ts';
import { requireFile } from './user-files.ts';
import { collect } from './option-values.ts';

const dataDir = (o: { data: string }) => resolve(o.data);
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(1)}%`);

function summary(run: BenchmarkRun): string {
  const lines = [`${run.id}  ${run.name}  (${run.cache_hits}/${run.tasks.length} tasks from cache)`, `  overall ${pct(run.scores.overall)}${run.scores.missing.length ? `  (missing: ${run.scores.missing.join(', ')})` : ''}`];
  for (const d of run.scores.dimensions) {
    lines.push(`  ${d.name.padEnd(11)} ${pct(d.score).padStart(6)}`);
    for (const t of d.tasks) {
      const r = run.tasks.find((x) => x.task === t.task);
      const detail = r?.status === 'ok' ? Object.entries(r.metrics).filter(([k]) => !k.endsWith('_stderr')).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`).join(', ') : `${r?.status ?? 'not run'}: ${r?.error ?? ''}`;
      lines.push(`    ${t.task.padEnd(28)} ${pct(t.score).padStart(6)}  n ${r?.n ?? 0}  ${detail}`);
    }
  }
  return lines.join('\n');
}

/** The suite --suite / --task / --bench-data / --heldout describe (standard when neither --suite nor --task). */
async function suiteOf(o: { suite?: string; task?: string[]; benchData?: string; heldout?: string; limit?: number }): Promise<Suite> {
  const vars = { bench_data: o.benchData ?? '' };
  if (o.suite && o.suite !== 'standard') return loadSuiteFile(o.suite, { vars });
  if (o.suite === 'standard' || !o.task?.length) {
    return standardSuite({ benchData: o.benchData, heldout: o.heldout ? { name: 'heldout', records: await readRecords(o.heldout) } : undefined, limit: o.limit });
  }
  return makeSuite('custom', 0, { custom: { tasks: o.task.map((f): TaskConfig => loadTaskFile(f, vars)) } });
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('local: benchmark models on this machine: scores per task, dimension and overall; leaderboards');

  withData(bench.command('run')
    .description('local: run a suite (or tasks) on one or more models'), 'runs and the result cache under bench/')
    .requiredOption('-m, --model <ref>', 'model: engine folder, .gguf file or openai:<url>#<model> (repeatable)', collect)
    .option('-s, --suite <name|file>', 'standard (built in) or a suite YAML file')
    .option('-t, --task <file>', 'a task YAML file (repeatable; without --suite the tasks form one "custom" dimension)', collect)
    .option('--bench-data <dir>', 'folder with cmmlu/ and mmlu/ (the standard suite\'s knowledge dimension)', process.env.MODELFAB_BENCH_DATA)
    .option('--heldout <file>', 'held-out records (JSONL, chat or alpaca) for the dialogue and generation dimensions')
    .option('--limit <n>', 'items per task at most', (v) => Number.parseInt(v, 10))
    .option('--seed <n>', 'seed (few-shot sampling, generation)', (v) => Number.parseInt(v, 10), 0)
    .option('--parallel <n>', 'parallel sequences (llama.cpp) / requests (endpoints)', (v) => Number.parseInt(v, 10), 1)
    .option('--judge <ref>', 'the judge model of judged tasks')
    .option('--no-cache', 'ignore cached task results')
    .option('--json', 'print the runs as JSON')
    .action(async (o: { model: string[]; suite?: string; task?: string[]; benchData?: string; heldout?: string; limit?: number; seed: number; parallel: number; judge?: string; data: string; cache: boolean; json?: boolean }) => {
      for (const f of [o.suite && o.suite !== 'standard' ? o.suite : undefined, ...(o.task ?? []), o.heldout]) if (f) requireFile(f);
      // a model is a .gguf file or a folder here, unless it names an endpoint
      for (const m of [...o.model, ...(o.judge ? [o.judge] : [])]) if (!m.startsWith('openai:') && !existsSync(m)) throw new Error(`file not found: ${m}`);
      const suite = await suiteOf(o);
      const dir = join(dataDir(o), 'bench');
      const cache = o.cache ? new JsonFileResultCache(join(dir, 'cache')) : undefined;
      const store = new JsonFileRunStore(join(dir, 'runs'));
      const judge = o.judge ? await openTarget(o.judge, { parallel: o.parallel, apiKey: process.env.MODELFAB_BENCH_API_KEY }) : undefined;
      const runs: BenchmarkRun[] = [];
      try {
        for (const ref of o.model) {
          const target = await openTarget(ref, { parallel: o.parallel, apiKey: process.env.MODELFAB_BENCH_API_KEY });
          try {
            const run = await runBenchmark(suite, target, {
              cache, seed: o.seed, limit: o.limit, judge,
              onTask: (r, cached, i, n) => { if (!o.json) process.stderr.write(`[${i + 1}/${n}] ${target.name} ${r.task}: ${r.status}${r.score !== null ? ` ${pct(r.score)}` : ''}${cached ? ' (cached)' : ` ${r.seconds.toFixed(1)}s`}\n`); },
            });
            await store.save(run);
            runs.push(run);
            if (!o.json) console.log(summary(run));
          } finally {
            await target.close();
          }
        }
      } finally {
        await judge?.close();
      }
      if (o.json) console.log(JSON.stringify(runs.length === 1 ? runs[0] : runs, null, 2));
      else if (runs.length > 1) console.log(`\n${formatLeaderboard(buildLeaderboard(runs))}`);
    });

  bench.command('export-lmeval')
    .description('local: write a suite\'s tasks as lm-evaluation-harness tasks (YAML and the documents as modelfab reads them), to score a model with `lm_eval --include_path <dir>` and compare')
    .requiredOption('-o, --out <dir>', 'folder to write into (created)')
    .option('-s, --suite <name|file>', 'standard (built in) or a suite YAML file')
    .option('-t, --task <file>', 'a task YAML file (repeatable)', collect)
    .option('--bench-data <dir>', 'folder with cmmlu/ and mmlu/ (the standard suite\'s knowledge dimension)', process.env.MODELFAB_BENCH_DATA)
    .action(async (o: { out: string; suite?: string; task?: string[]; benchData?: string }) => {
      for (const f of [o.suite && o.suite !== 'standard' ? o.suite : undefined, ...(o.task ?? [])]) if (f) requireFile(f);
      const suite = await suiteOf(o);
      const names: string[] = [];
      for (const t of suite.dimensions.flatMap((d) => d.tasks.map((x) => x.task))) {
        const why = lmEvalUnsupported(t);
        if (why) { console.log(`skipped ${t.task}: ${why}`); continue; }
        const x = exportLmEvalTask(t, o.out);
        names.push(x.name);
        console.log(`${x.name}: ${x.yamlPath} (${Object.entries(x.docs).map(([k, n]) => `${k} ${n}`).join(', ')})`);
      }
      if (!names.length) throw new Error('no task of this suite can be scored by lm-evaluation-harness the way modelfab scores it');
      console.log(`\nlm_eval --model local-completions --model_args model=<name>,base_url=<gateway>/v1/completions,tokenizer=<the model's HF folder>,tokenizer_backend=huggingface \\\n  --include_path ${resolve(o.out)} --tasks ${names.join(',')}`);
    });

  withData(bench.command('show')
    .description('local: show a run (scores, or one task\'s items), or list the runs with their leaderboard'), 'runs under bench/runs')
    .argument('[run-id]')
    .option('--items <task>', 'print the per-item outputs of this task')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, o: { items?: string; data: string; json?: boolean }) => {
      const store = new JsonFileRunStore(join(dataDir(o), 'bench', 'runs'));
      if (!id) {
        const runs = await store.list();
        if (o.json) { console.log(JSON.stringify(runs.map((r) => ({ id: r.id, name: r.name, model: r.model, suite: r.suite.name, overall: r.scores.overall, created_at: r.created_at })), null, 2)); return; }
        if (!runs.length) { console.log('no benchmark runs yet (modelfab bench run --model ...)'); return; }
        for (const r of runs) console.log(`${r.id}  ${r.name.padEnd(40)} overall ${pct(r.scores.overall)}`);
        for (const s of new Set(runs.map((r) => r.suite.name))) console.log(`\n${formatLeaderboard(buildLeaderboard(runs.filter((r) => r.suite.name === s)))}`);
        return;
      }
      const run = await store.get(id);
      if (!run) throw new Error(`no benchmark run ${id}`);
      if (o.items) {
        const t = run.tasks.find((x) => x.task === o.items);
        if (!t) throw new Error(`run ${id} has no task ${o.items} (tasks: ${run.tasks.map((x) => x.task).join(', ')})`);
        if (o.json) { console.log(JSON.stringify(t.items, null, 2)); return; }
        for (const it of t.items) console.log(`#${it.index} ${JSON.stringify(it.metrics)}\n  input:  ${it.input.slice(-200).replace(/\n/g, '\\n')}\n  target: ${it.target}\n  output: ${it.output.replace(/\n/g, '\\n')}`);
        return;
      }
      console.log(o.json ? JSON.stringify(run, null, 2) : summary(run));
    });

  withData(bench.command('compare')
    .description('local: two runs\' answers side by side on the same items'), 'runs under bench/runs')
    .argument('<run-a>').argument('<run-b>')
    .option('--task <name>', 'the task (default: every task both runs have)')
    .option('--json', 'print JSON')
    .action(async (a: string, b: string, o: { task?: string; data: string; json?: boolean }) => {
      const store = new JsonFileRunStore(join(dataDir(o), 'bench', 'runs'));
      const ra = await store.get(a), rb = await store.get(b);
      if (!ra) throw new Error(`no benchmark run ${a}`);
      if (!rb) throw new Error(`no benchmark run ${b}`);
      const tasks = o.task ? [o.task] : ra.tasks.map((t) => t.task).filter((t) => rb.tasks.some((x) => x.task === t));
      const out = tasks.map((t) => compareRuns(ra, rb, t));
      if (o.json) { console.log(JSON.stringify(out, null, 2)); return; }
      for (const c of out) {
        console.log(`${c.task} (${c.primaryMetric}): ${ra.model.name} better on ${c.summary.aBetter}, ${rb.model.name} better on ${c.summary.bBetter}, same on ${c.summary.same}`);
        for (const it of c.items.filter((x) => Math.abs(x.diff) > 1e-12).slice(0, 10)) {
          console.log(`  #${it.index} target: ${it.target.slice(0, 80)}\n    A: ${it.a.output.slice(0, 80).replace(/\n/g, '\\n')}  (${it.a.metrics[c.primaryMetric]})\n    B: ${it.b.output.slice(0, 80).replace(/\n/g, '\\n')}  (${it.b.metrics[c.primaryMetric]})`);
        }
      }
    });
}
