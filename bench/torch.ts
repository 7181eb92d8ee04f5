/**
 * The torch trainer against the engine: `python -m modelfab_torch.parity` run with the trainer's virtual
 * environment, on this checkout's code.
 *
 *   npm run bench:torch [-- --steps 50 --only dpo-full,sft-prefix]
 *
 * Every case runs the same job.json (a tiny random model made and exported by the engine, the same data, seed and
 * hyperparameters, fp32 on CPU) on the engine's worker and on the torch trainer. Prints one line per case (each
 * trainer's first-step loss, their relative difference, the largest relative difference over the curve) and ends
 * with one JSON line:
 *   {"bench":"torch","methods":[...],"steps":N,"max_step1_rel":...,"max_curve_dev":...,"ddp_max_dev":...,
 *    "hf_logit_max":...,"peft_logit_max":...,"lmeval_abs_diff":...}
 * ddp_max_dev: an SFT job under torchrun with 2 gloo processes against one process (largest relative loss
 * difference); peft_logit_max: PEFT with the engine's LoRA, prompt and prefix adapters against the engine's logits;
 * lmeval_abs_diff: lm-evaluation-harness through the gateway's /v1/completions against the Benchmark System on
 * MMLU high_school_geography, one shot (accuracy points; null, with the reason, without lm_eval or the MMLU data at
 * $MODELFAB_BENCH_DATA, else ../shared/data/bench). The interpreter is $MODELFAB_TORCH_PYTHON, else
 * <repo>/.venv-torch/bin/python (bash trainers/torch/setup-venv.sh creates it); without one the bench says so and
 * exits 2.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { lmEvalParity } from './lm-eval-parity.ts';

const root = join(import.meta.dirname, '..');
const python = process.env.MODELFAB_TORCH_PYTHON || join(root, '.venv-torch', 'bin', 'python');
const fromEnv = Boolean(process.env.MODELFAB_TORCH_PYTHON);

function fail(message: string): never {
  process.stderr.write(`bench:torch: ${message}\n`);
  process.exit(2);
}

if (!existsSync(python)) {
  fail(fromEnv
    ? `MODELFAB_TORCH_PYTHON=${python} does not exist`
    : `no Python for the torch trainer: ${python} is missing. Create it with \`bash trainers/torch/setup-venv.sh\` ` +
      '(about 5 minutes, 4.9 GB) or point MODELFAB_TORCH_PYTHON at an interpreter with torch, transformers and peft');
}
const src = join(root, 'trainers', 'torch', 'src');
// This checkout's trainer, whatever the venv has installed in editable mode elsewhere.
const env = { ...process.env, PYTHONPATH: [src, process.env.PYTHONPATH].filter(Boolean).join(delimiter), MODELFAB_REPO: root };
const check = spawnSync(python, ['-c', 'import torch, transformers, peft, tokenizers, safetensors'], { env, encoding: 'utf8' });
if (check.error) fail(`${python} does not run: ${check.error.message}`);
if (check.status !== 0) {
  const last = check.stderr.trim().split('\n').pop() ?? '';
  fail(`${python} lacks the trainer's packages (${last}); run \`bash trainers/torch/setup-venv.sh\``);
}
const r = spawnSync(python, ['-m', 'modelfab_torch.parity', ...process.argv.slice(2)], { env, stdio: ['inherit', 'pipe', 'inherit'], cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
if (r.error) fail(r.error.message);
const lines = r.stdout.trimEnd().split('\n');
const last = lines.pop() ?? '';
process.stdout.write(lines.join('\n') + '\n');
if (r.status !== 0 || !last.startsWith('{')) { process.stdout.write(last + '\n'); process.exit(r.status || 1); }
const figures = JSON.parse(last) as Record<string, unknown>;

// lm-evaluation-harness against the Benchmark System, through the gateway
const benchData = process.env.MODELFAB_BENCH_DATA ?? join(root, '..', 'shared', 'data', 'bench');
let lmeval: number | null = null;
if (spawnSync(python, ['-c', 'import lm_eval'], { env }).status !== 0) console.log('lm-eval: not installed in this environment (trainers/torch/requirements.lock has it); lmeval_abs_diff is null');
else if (!existsSync(join(benchData, 'mmlu'))) console.log(`lm-eval: no MMLU data at ${benchData} (set MODELFAB_BENCH_DATA); lmeval_abs_diff is null`);
else {
  const p = await lmEvalParity({ python, benchData, subject: 'high_school_geography', numFewshot: 1 });
  lmeval = p.absDiffPoints;
  console.log(`lm-eval ${p.harnessVersion} through /v1/completions, ${p.task} (${p.n} questions, 1 shot): acc ${(p.harness.metrics.acc! * 100).toFixed(2)} ` +
    `against modelfab's ${(p.modelfab.metrics.acc! * 100).toFixed(2)}; the same choice on ${p.samePredictions} of ${p.n} questions (${p.seconds.toFixed(0)} s)`);
}
console.log(JSON.stringify({ ...figures, lmeval_abs_diff: lmeval }));
