/**
 * lm-evaluation-harness against the Benchmark System on one MMLU subject: a random model made here is served by the
 * gateway (engine backend), the harness scores it through /v1/completions on the task exported from modelfab's
 * own, and modelfab scores the same model in-process. Used by `npm run bench:torch` (lmeval_abs_diff) and by the
 * parity test, which checks every question as well.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../src/api/server.ts';
import { EngineTarget } from '../src/bench/targets/engine.ts';
import { examTask } from '../src/bench/builtin.ts';
import { runTask } from '../src/bench/task-runner.ts';
import type { TaskResult } from '../src/bench/bench-types.ts';
import { exportLmEvalTask } from '../src/bench/lm-eval-export.ts';
import { runLmEval, type LmEvalTaskResult } from '../src/bench/lm-eval-run.ts';
import { saveModel } from '../src/engine/io.ts';
import { exportHfModel, writeModelFolder } from '../src/model-files/hf-folder.ts';
import { randomModel, shapeConfig, testTokenizer } from '../test/model-files/model-fixtures.ts';

const ADMIN = 'sk-mf-bench-admin-key-0123456789abcdef';

export interface LmEvalParityOptions {
  python: string;
  /** The folder with mmlu/{dev,test}/ (../shared/data/bench). */
  benchData: string;
  subject?: string;
  limit?: number;
  numFewshot?: number;
}

export interface LmEvalParity {
  task: string;
  n: number;
  modelfab: TaskResult;
  harness: LmEvalTaskResult;
  harnessVersion: string;
  /** |harness acc - modelfab acc| in accuracy points (0-100). */
  absDiffPoints: number;
  samePredictions: number;
  seconds: number;
}

export async function lmEvalParity(o: LmEvalParityOptions): Promise<LmEvalParity> {
  const dir = mkdtempSync(join(tmpdir(), 'mf-lmeval-'));
  const srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false }, modelDirs: [dir] });
  try {
    // a random model with weights large enough that its choice differs from question to question
    const tokenizer = testTokenizer();
    const model = randomModel(shapeConfig(tokenizer.vocabSize, { contextLength: 1024 }), 7, 0.5);
    const base = join(dir, 'base');
    saveModel(base, model, tokenizer);
    // the tokenizer the harness encodes with: the model's own, as its Hugging Face export carries it
    writeModelFolder(join(dir, 'hf'), exportHfModel(model, tokenizer));
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const dep = await fetch(`${url}/v1/deployments`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'tiny', path: base, settings: { backend: 'engine', contextSize: 1024 } }),
    });
    if (dep.status !== 200) throw new Error(`deployment refused: ${dep.status} ${await dep.text()}`);

    const task = examTask('mmlu', join(o.benchData, 'mmlu'), o.subject ?? 'high_school_geography', { numFewshot: o.numFewshot ?? 1 });
    const modelfab = await runTask(task, await EngineTarget.load(base), { limit: o.limit });
    const x = exportLmEvalTask(task, join(dir, 'tasks'));
    const run = await runLmEval({ python: o.python, baseURL: `${url}/v1`, apiKey: ADMIN, model: 'tiny', tokenizer: join(dir, 'hf'), tasks: [x.name], includePath: x.dir, workDir: join(dir, 'lmeval'), limit: o.limit });
    const harness = run.tasks[x.name];
    if (!harness) throw new Error(`lm_eval reported no result for ${x.name}`);
    const same = harness.samples.filter((s, i) => s.pred === modelfab.items[i]?.pred).length;
    return {
      task: x.name, n: modelfab.items.length, modelfab, harness, harnessVersion: run.version,
      absDiffPoints: Math.abs((harness.metrics.acc ?? NaN) - (modelfab.metrics.acc ?? NaN)) * 100, samePredictions: same, seconds: run.seconds,
    };
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
