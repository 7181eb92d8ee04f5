/**
 * npm run bench:train — training throughput of the engine against PyTorch, in the same run.
 *
 * Reference config: vocab 4096, hidden 256, 4 layers, 4 heads, FFN 768, untied output, batch 8 x 128 tokens.
 * One step = forward, backward, gradient clipping, AdamW (the real training step of src/engine/train.ts).
 * Measured for full fine-tuning and LoRA (rank 8 on q and v), with each available gemm backend, at the same
 * thread count as PyTorch (default 1: `--threads N` to change). PyTorch runs bench/torch_train.py under
 * Debian's /usr/bin/python3 when python3-torch is installed.
 *
 * Prints a table, then one JSON line with the figures.
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
import type { MethodSpec } from '../src/engine/methods.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const THREADS = arg('threads', 1), STEPS = arg('steps', 8), WARMUP = arg('warmup', 2);
const B = 8, T = 128;
const CONFIG: LlamaConfig = {
  vocabSize: 4096, hiddenSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 4, ffnSize: 768,
  ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: T,
};
const LORA: MethodSpec = { type: 'lora', rank: 8, alpha: 16, targets: ['q', 'v'] };

async function measure(backend: GemmBackend, method: MethodSpec): Promise<number> {
  // A machine without the native addon has neither the OpenBLAS gemm nor the native exp kernels: measure the
  // portable backend as it runs there.
  useNativeKernels(backend === 'native');
  const gemm = await createGemm({ backend, threads: THREADS });
  try {
    const model = LlamaModel.init(CONFIG, 1);
    model.applyMethod(method, 2);
    const params = model.trainableParams();
    const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0.01 });
    const rng = new Rng(3);
    const ids = Int32Array.from({ length: B * T }, () => rng.int(CONFIG.vocabSize));
    const labels = Int32Array.from({ length: B * T }, () => rng.int(CONFIG.vocabSize));
    const pool = new BufferPool();
    const ctx: Ctx = { gemm, tape: new Tape(), rng, training: true, pool };
    const times: number[] = [];
    for (let s = 0; s < WARMUP + STEPS; s++) {
      const t0 = performance.now();
      for (const p of params) p.zeroGrad();
      const r = model.forward(ctx, ids, B, labels);
      ctx.tape!.backward(r.loss!.loss);
      clipGradNorm(params, 1);
      opt.step();
      pool.release();
      if (s >= WARMUP) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    const tokS = (B * T) / (median / 1000);
    console.log(`${describeGemm(gemm).padEnd(48)} ${method.type.padEnd(5)} ${median.toFixed(0).padStart(6)} ms/step ${tokS.toFixed(0).padStart(7)} tok/s`);
    return tokS;
  } finally {
    gemm.close();
  }
}

interface TorchResult { full_tok_s?: number; lora_tok_s?: number; torch_version?: string; error?: string }

function torch(): TorchResult {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return { error: `${py} not found` };
  const script = new URL('./torch_train.py', import.meta.url).pathname;
  const r = spawnSync(py, [script, '--threads', String(THREADS), '--steps', String(Math.max(STEPS, 6)), '--warmup', String(WARMUP)], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try { return JSON.parse(line) as TorchResult; } catch { return { error: `torch_train.py printed no JSON (exit ${r.status}): ${r.stderr.slice(-300)}` }; }
}

const avail = gemmAvailability();
console.log(`bench:train  config hidden 256, 4 layers, 4 heads, FFN 768, vocab 4096, batch ${B}x${T}; ${THREADS} thread(s); median of ${STEPS} steps`);
const native = avail.native.ok;
if (!native) console.log(`native backend unavailable: ${(avail.native as { reason: string }).reason}`);
const full = native ? await measure('native', { type: 'full' }) : null;
const lora = native ? await measure('native', LORA) : null;
const portableFull = avail.portable.ok ? await measure('portable', { type: 'full' }) : null;
const portableLora = avail.portable.ok ? await measure('portable', LORA) : null;
const t = torch();
if (t.error) console.log(`PyTorch reference: ${t.error}`);
else console.log(`PyTorch ${t.torch_version} (${THREADS} thread(s))${' '.repeat(22)} full ${t.full_tok_s?.toFixed(0)} tok/s, lora ${t.lora_tok_s?.toFixed(0)} tok/s`);
const ratio = (a: number | null, b: number | undefined) => (a !== null && b ? Number((a / b).toFixed(3)) : null);
const headFull = full ?? portableFull, headLora = lora ?? portableLora;
const out = {
  bench: 'train', threads: THREADS, backend_native: native,
  full_tok_s: headFull === null ? null : Math.round(headFull), lora_tok_s: headLora === null ? null : Math.round(headLora),
  portable_full_tok_s: portableFull === null ? null : Math.round(portableFull),
  portable_lora_tok_s: portableLora === null ? null : Math.round(portableLora),
  torch_full_tok_s: t.full_tok_s ? Math.round(t.full_tok_s) : null, torch_lora_tok_s: t.lora_tok_s ? Math.round(t.lora_tok_s) : null,
  ratio_full: ratio(headFull, t.full_tok_s), ratio_lora: ratio(headLora, t.lora_tok_s),
  portable_ratio_full: ratio(portableFull, t.full_tok_s),
  peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
};
console.log(`ratios (ours / PyTorch): full ${out.ratio_full ?? 'n/a'}, lora ${out.ratio_lora ?? 'n/a'}, portable full ${out.portable_ratio_full ?? 'n/a'}`);
console.log(JSON.stringify(out));
