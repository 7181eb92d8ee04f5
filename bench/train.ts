/**
 * npm run bench:train — training throughput of the engine against PyTorch, in the same run.
 *
 * Reference config: vocab 4096, hidden 256, 4 layers, 4 heads, FFN 768, untied output, batch 8 x 128 tokens.
 * One step = forward with the loss (`forwardLoss`), backward, gradient clipping, AdamW: the training step of
 * src/engine/train.ts.
 * Measured for full fine-tuning and LoRA (rank 8 on q and v), with each available gemm backend (native: the
 * engine's own kernels; openblas where it was built; portable: WebAssembly), at the same thread count as PyTorch
 * (default 1: `--threads N` to change), and the native backend again at 2 threads. PyTorch runs
 * bench/torch_train.py under Debian's /usr/bin/python3 when python3-torch is installed (1.13), and under
 * .venv-torch/bin/python (PyTorch 2.x from PyPI: trainers/torch/setup-venv.sh) when that exists, at the same
 * threads and at 2.
 *
 * Each figure is the median step of its measurement; the engine's and PyTorch's measurements alternate for
 * `--rounds N` rounds (default 2) and each keeps its best round, so a slow spell of a shared machine costs both.
 *
 * Mixed precision, where the processor has a bf16 kernel: the engine with precision bf16 (AMX or AVX512-BF16:
 * operands rounded to bfloat16, float32 sums) against PyTorch's forward under CPU autocast to bfloat16 (oneDNN, AMX
 * too), both versions, in the same rounds. bf16_* are the engine's, torch_bf16_* and torch2_bf16_* PyTorch's; ratio_bf16_*
 * divides the engine's bf16 step by 1.13's float32 one, ratio2_bf16_* by 2.x's bf16 one (like for like).
 *
 * Prints a table, then one JSON line with the figures: ratio_* against 1.13, ratio2_* against 2.x,
 * threads2_speedup = the engine's full step at 2 threads over 1 thread (threads2_speedup_lora for LoRA),
 * packing_speedup = real (unpadded) tokens per second of a LoRA step over short SFT-like examples packed into rows
 * over the same examples padded one a row (padded_real_tok_s, packed_real_tok_s).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { LlamaModel } from '../src/engine/llama-model.ts';
import { Tape, type Ctx } from '../src/engine/tensor.ts';
import { Rng } from '../src/engine/rng.ts';
import { BufferPool } from '../src/engine/pool.ts';
import { AdamW, clipGradNorm } from '../src/engine/optim.ts';
import { createGemm, describeGemm, gemmAvailability, type GemmBackend } from '../src/engine/gemm/create-gemm.ts';
import type { LlamaConfig } from '../src/engine/config.ts';
import { useNativeKernels } from '../src/engine/ops/native-kernels.ts';
import { createNativeGemm, precisionRefusal, type GemmPrecision } from '../src/engine/gemm/native.ts';

function nativeKernelName(precision: GemmPrecision = 'fp32'): string {
  const g = createNativeGemm({ threads: 1, precision });
  g.close();
  return g.kernel;
}
import type { MethodSpec } from '../src/engine/methods.ts';
import { collate, collatePacked, type Batch, type Example } from '../src/engine/batches.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const THREADS = arg('threads', 1), STEPS = arg('steps', 8), WARMUP = arg('warmup', 2), ROUNDS = Math.max(1, arg('rounds', 2));
const B = 8, T = 128;
const CONFIG: LlamaConfig = {
  vocabSize: 4096, hiddenSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 4, ffnSize: 768,
  ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: T,
};
const LORA: MethodSpec = { type: 'lora', rank: 8, alpha: 16, targets: ['q', 'v'] };

/**
 * WARMUP + STEPS training steps of a fresh model on `backend` (zero the gradients, forward with the loss, backward,
 * clip, AdamW: the step of train.ts), each on the batch `batches` gives for it (made before its clock starts, from
 * the step's Rng, which also draws the dropout); the measured steps' milliseconds and real tokens. `kernels`: whether
 * the native row kernels run (a machine without the native addon has neither them nor the native gemm).
 */
async function timedSteps(backend: GemmBackend, method: MethodSpec, threads: number, seed: number, batches: (rng: Rng) => (step: number) => Batch,
  kernels = backend !== 'portable', precision: GemmPrecision = 'fp32'): Promise<{ gemm: string; steps: { ms: number; tokens: number }[] }> {
  useNativeKernels(kernels);
  const gemm = await createGemm({ backend, threads, precision });
  try {
    const model = LlamaModel.init(CONFIG, 1);
    model.applyMethod(method, 2);
    const params = model.trainableParams();
    const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0.01, threads });
    const rng = new Rng(seed);
    const batchOf = batches(rng);
    const pool = new BufferPool();
    const ctx: Ctx = { gemm, tape: new Tape(), rng, training: true, pool };
    const steps: { ms: number; tokens: number }[] = [];
    for (let s = 0; s < WARMUP + STEPS; s++) {
      const b = batchOf(s);
      const t0 = performance.now();
      for (const p of params) p.zeroGrad();
      ctx.tape!.backward(model.forwardLoss(ctx, b.ids, b.B, b.labels, b.positions).loss);
      clipGradNorm(params, 1, threads);
      opt.step();
      pool.release();
      if (s >= WARMUP) steps.push({ ms: performance.now() - t0, tokens: b.tokens });
    }
    return { gemm: describeGemm(gemm), steps };
  } finally {
    gemm.close();
  }
}

/** The reference step (B x T random tokens, every position scored): its median step's tokens per second. */
async function measure(backend: GemmBackend, method: MethodSpec, threads = THREADS, precision: GemmPrecision = 'fp32'): Promise<number> {
  const r = await timedSteps(backend, method, threads, 3, (rng) => {
    const ids = Int32Array.from({ length: B * T }, () => rng.int(CONFIG.vocabSize));
    const labels = Int32Array.from({ length: B * T }, () => rng.int(CONFIG.vocabSize));
    const b: Batch = { ids, labels, B, T, tokens: B * T };
    return () => b;
  }, backend !== 'portable', precision);
  const times = r.steps.map((x) => x.ms).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const tokS = (B * T) / (median / 1000);
  console.log(`${r.gemm.padEnd(48)} ${method.type.padEnd(5)} ${median.toFixed(0).padStart(6)} ms/step ${tokS.toFixed(0).padStart(7)} tok/s`);
  return tokS;
}

/**
 * Packing: SFT-like examples of 12-128 tokens (prompt a third, unscored), 16 a micro-batch, LoRA, one thread: real
 * tokens per second padded (one example a row) and packed (rows of 128 tokens). The same tokens are scored either way.
 */
async function measurePacking(packed: boolean): Promise<number> {
  const r = await timedSteps(native ? 'native' : 'portable', LORA, THREADS, 5, (rng) => {
    const batches = Array.from({ length: 4 }, () => Array.from({ length: 16 }, (): Example => {
      const n = 12 + rng.int(T - 11);
      return { ids: Int32Array.from({ length: n }, () => rng.int(CONFIG.vocabSize)), labels: Int32Array.from({ length: n }, (_, i) => (i < n / 3 ? -100 : rng.int(CONFIG.vocabSize))) };
    }));
    return (s) => (packed ? collatePacked(batches[s % 4]!, 0, T) : collate(batches[s % 4]!, 0));
  }, true);
  const rates = r.steps.map((x) => x.tokens / (x.ms / 1000)).sort((a, b) => a - b);
  const tokS = rates[Math.floor(rates.length / 2)]!;
  console.log(`${r.gemm.padEnd(48)} lora, 16 examples of 12-${T} tokens, ${packed ? 'packed' : 'padded'}: ${tokS.toFixed(0)} real tok/s`);
  return tokS;
}

interface TorchResult { full_tok_s?: number; lora_tok_s?: number; torch_version?: string; error?: string }

function torch(py: string, threads: number, bf16 = false): TorchResult {
  if (!existsSync(py)) return { error: `${py} not found` };
  const script = new URL('./torch_train.py', import.meta.url).pathname;
  const r = spawnSync(py, [script, '--threads', String(threads), '--steps', String(Math.max(STEPS, 6)), '--warmup', String(WARMUP), ...(bf16 ? ['--bf16'] : [])], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try { return JSON.parse(line) as TorchResult; } catch { return { error: `torch_train.py printed no JSON (exit ${r.status}): ${r.stderr.slice(-300)}` }; }
}

const avail = gemmAvailability();
console.log(`bench:train  config hidden 256, 4 layers, 4 heads, FFN 768, vocab 4096, batch ${B}x${T}; ${THREADS} thread(s); median of ${STEPS} steps`);
for (const b of ['native', 'openblas'] as const) {
  if (!avail[b].ok) console.log(`${b} backend unavailable: ${(avail[b] as { reason: string }).reason}`);
}
const native = avail.native.ok;
const bf16Why = precisionRefusal('bf16');
if (bf16Why) console.log(`mixed precision not measured: ${bf16Why}`);
const venvPython = new URL('../.venv-torch/bin/python', import.meta.url).pathname;
const most = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
const bestOf = (a: TorchResult | null, b: TorchResult): TorchResult => (!a || a.error ? b : b.error ? a : {
  torch_version: a.torch_version, full_tok_s: Math.max(a.full_tok_s ?? 0, b.full_tok_s ?? 0), lora_tok_s: Math.max(a.lora_tok_s ?? 0, b.lora_tok_s ?? 0),
});
// The engine and PyTorch alternate, round after round, and each keeps its best round: a slow spell of this (virtual)
// machine then costs both sides alike instead of whichever ran during it.
let full: number | null = null, lora: number | null = null, full2: number | null = null, lora2: number | null = null;
let t1: TorchResult | null = null, t2n: TorchResult | null = null, t2two: TorchResult | null = null;
let bf16Full: number | null = null, bf16Lora: number | null = null, t1b: TorchResult | null = null, t2b: TorchResult | null = null;
for (let r = 0; r < ROUNDS; r++) {
  if (ROUNDS > 1) console.log(`round ${r + 1} of ${ROUNDS}`);
  if (native) {
    full = most(full, await measure('native', { type: 'full' }));
    lora = most(lora, await measure('native', LORA));
    if (THREADS !== 2) { full2 = most(full2, await measure('native', { type: 'full' }, 2)); lora2 = most(lora2, await measure('native', LORA, 2)); }
  }
  t1 = bestOf(t1, torch('/usr/bin/python3', THREADS));
  t2n = bestOf(t2n, torch(venvPython, THREADS));
  if (THREADS !== 2 && !t2n.error) t2two = bestOf(t2two, torch(venvPython, 2));
  if (!bf16Why) {
    bf16Full = most(bf16Full, await measure('native', { type: 'full' }, THREADS, 'bf16'));
    bf16Lora = most(bf16Lora, await measure('native', LORA, THREADS, 'bf16'));
    t1b = bestOf(t1b, torch('/usr/bin/python3', THREADS, true));
    t2b = bestOf(t2b, torch(venvPython, THREADS, true));
  }
}
const t = t1!, t2 = t2n!;
const blasFull = avail.openblas.ok ? await measure('openblas', { type: 'full' }) : null;
const blasLora = avail.openblas.ok ? await measure('openblas', LORA) : null;
const portableFull = avail.portable.ok ? await measure('portable', { type: 'full' }) : null;
const portableLora = avail.portable.ok ? await measure('portable', LORA) : null;
const paddedTokS = await measurePacking(false), packedTokS = await measurePacking(true);
const torchLine = (label: string, x: TorchResult, threads: number) => {
  if (x.error) console.log(`${label}: ${x.error}`);
  else console.log(`PyTorch ${x.torch_version} (${threads} thread(s))${' '.repeat(22)} full ${x.full_tok_s?.toFixed(0)} tok/s, lora ${x.lora_tok_s?.toFixed(0)} tok/s`);
};
if (ROUNDS > 1) console.log(`best of ${ROUNDS} rounds: engine full ${full?.toFixed(0)} / lora ${lora?.toFixed(0)} tok/s at ${THREADS} thread(s), ${full2?.toFixed(0)} / ${lora2?.toFixed(0)} at 2`);
torchLine('PyTorch 1.13 reference (Debian)', t, THREADS);
torchLine('PyTorch 2.x reference (.venv-torch)', t2, THREADS);
if (t2two) torchLine('PyTorch 2.x reference (.venv-torch)', t2two, 2);
if (t1b) torchLine('PyTorch 1.13 bf16 autocast (Debian)', t1b, THREADS);
if (t2b) torchLine('PyTorch 2.x bf16 autocast (.venv-torch)', t2b, THREADS);
const ratio = (a: number | null, b: number | undefined) => (a !== null && b ? Number((a / b).toFixed(3)) : null);
const round = (x: number | null | undefined) => (x === null || x === undefined ? null : Math.round(x));
const headFull = full ?? portableFull, headLora = lora ?? portableLora;
const out = {
  bench: 'train', threads: THREADS, backend_native: native, gemm_kernel: native ? nativeKernelName() : null,
  full_tok_s: round(headFull), lora_tok_s: round(headLora),
  full_tok_s_2t: round(full2), lora_tok_s_2t: round(lora2),
  openblas_full_tok_s: round(blasFull), openblas_lora_tok_s: round(blasLora),
  portable_full_tok_s: round(portableFull), portable_lora_tok_s: round(portableLora),
  rounds: ROUNDS,
  torch_full_tok_s: round(t.full_tok_s), torch_lora_tok_s: round(t.lora_tok_s),
  ratio_full: ratio(headFull, t.full_tok_s), ratio_lora: ratio(headLora, t.lora_tok_s),
  portable_ratio_full: ratio(portableFull, t.full_tok_s),
  torch2_version: t2.torch_version ?? null,
  torch2_full_tok_s: round(t2.full_tok_s), torch2_lora_tok_s: round(t2.lora_tok_s),
  torch2_full_tok_s_2t: round(t2two?.full_tok_s), torch2_lora_tok_s_2t: round(t2two?.lora_tok_s),
  ratio2_full: ratio(headFull, t2.full_tok_s), ratio2_lora: ratio(headLora, t2.lora_tok_s),
  openblas_ratio2_full: ratio(blasFull, t2.full_tok_s), portable_ratio2_full: ratio(portableFull, t2.full_tok_s),
  threads2_speedup: full !== null && full2 !== null ? Number((full2 / full).toFixed(3)) : null,
  threads2_speedup_lora: lora !== null && lora2 !== null ? Number((lora2 / lora).toFixed(3)) : null,
  bf16_kernel: bf16Why ? null : nativeKernelName('bf16'), bf16_full_tok_s: round(bf16Full), bf16_lora_tok_s: round(bf16Lora),
  torch_bf16_full_tok_s: round(t1b?.full_tok_s), torch_bf16_lora_tok_s: round(t1b?.lora_tok_s),
  torch2_bf16_full_tok_s: round(t2b?.full_tok_s), torch2_bf16_lora_tok_s: round(t2b?.lora_tok_s),
  ratio_bf16_full: ratio(bf16Full, t.full_tok_s), ratio_bf16_lora: ratio(bf16Lora, t.lora_tok_s),
  ratio2_bf16_full: ratio(bf16Full, t2b?.full_tok_s), ratio2_bf16_lora: ratio(bf16Lora, t2b?.lora_tok_s),
  padded_real_tok_s: round(paddedTokS), packed_real_tok_s: round(packedTokS), packing_speedup: Number((packedTokS / paddedTokS).toFixed(3)),
  peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
};
console.log(`ratios (ours / PyTorch 1.13): full ${out.ratio_full ?? 'n/a'}, lora ${out.ratio_lora ?? 'n/a'}, portable full ${out.portable_ratio_full ?? 'n/a'}`);
console.log(`ratios (ours / PyTorch 2.x): full ${out.ratio2_full ?? 'n/a'}, lora ${out.ratio2_lora ?? 'n/a'}; 2 threads over 1: full ${out.threads2_speedup ?? 'n/a'}, lora ${out.threads2_speedup_lora ?? 'n/a'}`);
if (!bf16Why) console.log(`bf16 (mixed precision): engine full ${out.bf16_full_tok_s} / lora ${out.bf16_lora_tok_s} tok/s; over PyTorch 2.x bf16 autocast: full ${out.ratio2_bf16_full ?? 'n/a'}, lora ${out.ratio2_bf16_lora ?? 'n/a'}; over 1.13 float32: full ${out.ratio_bf16_full ?? 'n/a'}, lora ${out.ratio_bf16_lora ?? 'n/a'}`);
console.log(JSON.stringify(out));
