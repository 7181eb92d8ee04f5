/**
 * `npm run bench:scale`: training at the sizes users bring. Random-initialised models of Qwen2.5-0.5B's shape
 * (hidden 896, 24 layers, 14 / 2 heads, FFN 4,864, vocabulary 151,936, tied, QKV bias) and Qwen2.5-1.5B's
 * (hidden 1,536, 28 layers, 12 / 2 heads, FFN 8,960), LoRA r16 on q, k, v, o, sequences of 512 tokens, batch 1
 * with accumulation, 2 threads, through the engine's own training loop with the memory plan the engine worker
 * applies (frozen matrices in bf16, layers recomputed in the backward, the chunked output loss). Each shape runs
 * in its own child process, so peak resident memory is its own; the same step in PyTorch 2.x (.venv-torch,
 * bench/torch_scale.py) runs in the same bench; the scheduler's estimate (src/engine/memory-estimate.ts) is set
 * against each measured peak. Ends with one JSON line:
 *   {"bench":"scale","q05_tok_s","q05_peak_rss_mb","q05_torch_tok_s","q15_tok_s","q15_peak_rss_mb","estimate_error"}
 * estimate_error is the largest |estimate - peak| / peak of the two shapes. Bars: 0.5B within 4 GB, 1.5B within
 * 8 GB, the estimate within 15%. Where the processor has a bf16 kernel (AMX-BF16 or AVX512-BF16), each shape runs
 * again in mixed precision (precision bf16: q05_bf16_tok_s, q05_bf16_peak_rss_mb, ...) and PyTorch's 0.5B step
 * again under CPU autocast to bfloat16 (q05_torch_bf16_tok_s).
 *
 * Options (environment): SCALE_SHAPES=q05,q15  SCALE_STEPS=1 (optimizer steps, all timed)  SCALE_ACCUM=2 (micro-batches
 * of one sequence a step)  SCALE_THREADS=2  SCALE_TORCH=0 (skip PyTorch).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { LlamaConfig } from '../src/engine/config.ts';
import { parameterCount } from '../src/engine/config.ts';
import { LlamaModel } from '../src/engine/llama-model.ts';
import { createGemm, describeGemm } from '../src/engine/gemm/create-gemm.ts';
import { precisionRefusal, type GemmPrecision } from '../src/engine/gemm/native.ts';
import { train } from '../src/engine/train.ts';
import { Rng } from '../src/engine/rng.ts';
import { engineMemoryPlan, trainingMemory } from '../src/engine/memory-estimate.ts';
import type { MethodSpec } from '../src/engine/methods.ts';

const QWEN = { ropeBase: 1_000_000, rmsEps: 1e-6, tieEmbeddings: true, qkvBias: true, contextLength: 32768, vocabSize: 151_936 };
const SHAPES: Record<string, LlamaConfig> = {
  q05: { ...QWEN, hiddenSize: 896, numLayers: 24, numHeads: 14, numKvHeads: 2, ffnSize: 4864 },
  q15: { ...QWEN, hiddenSize: 1536, numLayers: 28, numHeads: 12, numKvHeads: 2, ffnSize: 8960 },
};
const METHOD: MethodSpec = { type: 'lora', rank: 16, alpha: 32, targets: ['q', 'k', 'v', 'o'] };
const SEQ = 512;
const STEPS = Number(process.env.SCALE_STEPS ?? 1), ACCUM = Number(process.env.SCALE_ACCUM ?? 2), THREADS = Number(process.env.SCALE_THREADS ?? 2);
const MB = 2 ** 20;

interface ChildResult { tok_s: number; peak_rss_mb: number; build_s: number; estimate_mb: number; breakdown_mb: Record<string, number>; gemm: string; loss: number }

/** One shape, in this process: build, train 1 + STEPS optimizer steps, report. */
async function child(shape: string, precision: GemmPrecision): Promise<ChildResult> {
  const config = SHAPES[shape];
  const gemm = await createGemm({ threads: THREADS, precision });
  const t0 = performance.now();
  const plan = engineMemoryPlan(config, METHOD);
  const model = LlamaModel.init(config, 1, { half: plan.halfBase });
  model.applyMethod(METHOD, 2);
  model.checkpointing = plan.checkpointing;
  const buildS = (performance.now() - t0) / 1000;
  const rng = new Rng(3);
  const train1 = Array.from({ length: STEPS * ACCUM }, () => {
    const ids = Int32Array.from({ length: SEQ }, () => rng.int(config.vocabSize));
    return { ids, labels: Int32Array.from({ length: SEQ }, (_, i) => (i + 1 < SEQ ? ids[i + 1] : -100)) };
  });
  // Every step is timed, the first included: at these sizes a step takes minutes and its first-touch allocations
  // are a small share of it.
  let loss = NaN;
  const t1 = performance.now();
  await train({
    model, train: train1, gemm,
    config: { batchSize: 1, gradAccum: ACCUM, maxSteps: STEPS, lr: 1e-4, seed: 1, padId: 0, maxGradNorm: 1, checkpointEvery: 0 },
    onMetrics: (m) => { loss = m.loss; },
  });
  const secs = (performance.now() - t1) / 1000;
  gemm.close();
  const est = trainingMemory(config, METHOD, { seqLen: SEQ, batchSize: 1, ...plan });
  const breakdown = Object.fromEntries(Object.entries(est).map(([k, v]) => [k, Math.round(v / MB)]));
  return {
    tok_s: Math.round((STEPS * ACCUM * (SEQ - 1) / secs) * 100) / 100, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    build_s: Math.round(buildS * 10) / 10, estimate_mb: Math.round(est.total / MB), breakdown_mb: breakdown, gemm: describeGemm(gemm), loss,
  };
}

function lastJson(stdout: string): Record<string, unknown> | null {
  const line = stdout.trim().split('\n').pop();
  try { return line ? JSON.parse(line) as Record<string, unknown> : null; } catch { return null; }
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--child');
  if (at >= 0) { console.log(JSON.stringify(await child(process.argv[at + 1], process.argv.includes('--bf16') ? 'bf16' : 'fp32'))); return; }
  const shapes = (process.env.SCALE_SHAPES ?? 'q05,q15').split(',').filter((s) => s in SHAPES);
  const self = fileURLToPath(import.meta.url);
  const out: Record<string, unknown> = { bench: 'scale' };
  let worst = 0;
  const bf16Why = precisionRefusal('bf16');
  if (bf16Why) console.error(`mixed precision not measured: ${bf16Why}`);
  const torchRun = (shape: string, bf16: boolean): Record<string, unknown> | null => {
    const py = fileURLToPath(new URL('../.venv-torch/bin/python', import.meta.url));
    if (!existsSync(py)) { console.error('PyTorch 2.x: .venv-torch is missing (trainers/torch/setup-venv.sh)'); return null; }
    const t = spawnSync(py, [fileURLToPath(new URL('torch_scale.py', import.meta.url)), '--shape', shape, '--threads', String(THREADS), '--steps', String(STEPS), '--accum', String(ACCUM), '--seq', String(SEQ), ...(bf16 ? ['--bf16'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const tr = lastJson(t.stdout);
    if (tr && typeof tr.tok_s === 'number') return tr;
    console.error(`PyTorch: ${t.stdout.trim() || `exit ${t.status}`}`);
    return null;
  };
  // One shape in a child process of its own (its peak memory its own), or why it gave no result.
  const engineRun = (shape: string, bf16: boolean): ChildResult | string => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', shape, ...(bf16 ? ['--bf16'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    return (lastJson(r.stdout) as ChildResult | null) ?? `exit ${r.status}`;
  };
  for (const shape of shapes) {
    if (!bf16Why) {
      const res = engineRun(shape, true);
      if (typeof res !== 'string') {
        console.error(`[engine ${shape} bf16] ${res.gemm}: ${res.tok_s} tok/s, peak RSS ${res.peak_rss_mb} MB, loss ${res.loss.toFixed(3)}`);
        out[`${shape}_bf16_tok_s`] = res.tok_s;
        out[`${shape}_bf16_peak_rss_mb`] = res.peak_rss_mb;
      } else console.error(`${shape} bf16: the engine child failed (${res})`);
      if (shape === 'q05' && process.env.SCALE_TORCH !== '0') {
        const tr = torchRun(shape, true);
        if (tr) out[`${shape}_torch_bf16_tok_s`] = tr.tok_s;
      }
    }
    const res = engineRun(shape, false);
    if (typeof res === 'string') { console.error(`${shape}: the engine child failed (${res})`); out[`${shape}_error`] = res; continue; }
    const err = Math.abs(res.estimate_mb - res.peak_rss_mb) / res.peak_rss_mb;
    worst = Math.max(worst, err);
    console.error(`[engine ${shape}] ${(parameterCount(SHAPES[shape]) / 1e9).toFixed(2)}B params, ${res.gemm}: built in ${res.build_s} s, ${res.tok_s} tok/s, peak RSS ${res.peak_rss_mb} MB, estimate ${res.estimate_mb} MB (${(err * 100).toFixed(1)}%: ${JSON.stringify(res.breakdown_mb)}), loss ${res.loss.toFixed(3)}`);
    out[`${shape}_tok_s`] = res.tok_s;
    out[`${shape}_peak_rss_mb`] = res.peak_rss_mb;
    out[`${shape}_build_s`] = res.build_s;
    out[`${shape}_estimate_mb`] = res.estimate_mb;
    if (shape === 'q05' && process.env.SCALE_TORCH !== '0') {
      const tr = torchRun(shape, false);
      if (tr) { out[`${shape}_torch_tok_s`] = tr.tok_s; out[`${shape}_torch_peak_rss_mb`] = tr.peak_rss_mb; }
    }
  }
  out.estimate_error = Math.round(worst * 1000) / 1000;
  console.log(JSON.stringify(out));
}

await main();
