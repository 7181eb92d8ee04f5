/**
 * npm run bench:eval — items/s of a multiple-choice task through llama.cpp (node-llama-cpp 3.21.1, CPU, 1 thread)
 * on a ~25M-parameter model exported by modelfab (exportModel, F32 GGUF), with 1 and 4 parallel sequences.
 *
 * Model: as bench:serve (vocab 2048 BPE trained on the demo corpus, hidden 512, 8 layers, 8 / 4 KV heads, FFN 1408,
 * untied, random init, ~25.6M parameters). Task: MMLU marketing, zero-shot, 4 log-likelihoods per item
 * ($MODELFAB_BENCH_DATA or ../shared/data/bench; without it the generated English arithmetic task). Flags:
 * --items N (default 48). Prints a table, then one JSON line:
 *   {"bench":"eval","items_per_s_seq1":…,"items_per_s_seq4":…, …}
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaModel } from '../src/engine/llama-model.ts';
import { parameterCount, type LlamaConfig } from '../src/engine/config.ts';
import { trainBpe, CHATML_SPECIAL_TOKENS } from '../src/engine/tokenizer/tokenizer-exports.ts';
import { loadDemoCorpus } from '../src/demo/corpus.ts';
import { exportModel } from '../src/model-files/model-files.ts';
import { examTask, reasoningTask, runTask } from '../src/bench/bench-exports.ts';
import { LlamaTarget } from '../src/bench/targets/llama.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const ITEMS = arg('items', 48);

const tok = trainBpe(loadDemoCorpus().map((d) => d.text), { vocabSize: 2048, specialTokens: CHATML_SPECIAL_TOKENS, eos: '<|im_end|>', minFrequency: 1 });
const config: LlamaConfig = {
  vocabSize: tok.vocabSize, hiddenSize: 512, numLayers: 8, numHeads: 8, numKvHeads: 4, ffnSize: 1408,
  ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: 1024,
};
const model = LlamaModel.init(config, 1);
const dir = mkdtempSync(join(tmpdir(), 'mf-bench-eval-'));
const path = join(dir, 'eval-F32.gguf');
exportModel(model, tok, { format: 'gguf', path, weightType: 'F32' });

const data = process.env.MODELFAB_BENCH_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data', 'bench');
const useMmlu = existsSync(join(data, 'mmlu', 'test', 'marketing_test.csv'));
const task = useMmlu ? examTask('mmlu', join(data, 'mmlu'), 'marketing', { limit: ITEMS }) : { ...reasoningTask('en', { n: ITEMS }), limit: ITEMS };
const result: Record<string, number | string> = { bench: 'eval' };
const rows: string[] = [];
try {
  const accs: number[] = [];
  for (const parallel of [1, 4]) {
    const t = await LlamaTarget.load(path, { parallel, threads: 1, contextSize: 512 });
    try {
      await runTask({ ...task, limit: 2 }, t); // warm-up
      const t0 = performance.now();
      const r = await runTask(task, t);
      const s = (performance.now() - t0) / 1000;
      if (r.status !== 'ok') throw new Error(`${task.task}: ${r.status}: ${r.error}`);
      const ips = r.n / s;
      accs.push(r.metrics.acc);
      rows.push(`llama.cpp F32 1 thread, ${parallel} sequence${parallel > 1 ? 's' : ' '}  ${task.task}  ${r.n} items (${4 * r.n} log-likelihoods) in ${s.toFixed(2)} s  ${ips.toFixed(2).padStart(7)} items/s  acc ${(100 * r.metrics.acc).toFixed(1)}%`);
      result[`items_per_s_seq${parallel}`] = +ips.toFixed(3);
    } finally {
      await t.close();
    }
  }
  result.speedup = +((result.items_per_s_seq4 as number) / (result.items_per_s_seq1 as number)).toFixed(2);
  result.same_acc = accs[0] === accs[1] ? 'yes' : 'no';
  result.task = task.task;
  result.items = ITEMS;
  result.params = parameterCount(config);
  console.log(`model: ${(parameterCount(config) / 1e6).toFixed(1)}M parameters (random init), vocab ${tok.vocabSize}; task ${task.task}${useMmlu ? '' : ' (no MMLU data found)'}`);
  for (const r of rows) console.log(r);
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
