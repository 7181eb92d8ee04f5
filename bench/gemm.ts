/**
 * Gemm micro-benchmark: GFLOP/s of each available backend in one run (native: the engine's own kernels;
 * openblas: OpenBLAS, where it was built; portable: WebAssembly; amx-bf16 and avx512-bf16: the native
 * mixed-precision kernels the processor runs), 1 thread and all threads, at shapes typical of training a small
 * transformer (1024 tokens x d_model 256; projections to 256, 768 (qkv) and 4096).
 *
 *   node --import tsx bench/gemm.ts [--quick] [--backends=native,openblas,portable,reference]
 *
 * Each shape runs as NN (forward, X·W), NT (X·Wᵀ / dY·Wᵀ) and TN (dW = Xᵀ·dY) with M x N x K as given
 * (so TN reads A as K x M). Prints a table, then one JSON line. Best-of timing (the machine may be shared).
 */
import os from 'node:os';
import { createGemm, describeGemm, gemmAvailability, type Gemm, type GemmBackend } from '../src/engine/gemm/create-gemm.ts';
import { createNativeGemm, nativeKernels, precisionRefusal } from '../src/engine/gemm/native.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--backends='))?.slice(11).split(',');
const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
const SHAPES: [number, number, number][] = [[1024, 256, 256], [1024, 768, 256], [1024, 4096, 256]];
const TRANS: [string, boolean, boolean][] = [['NN', false, false], ['NT', false, true], ['TN', true, false]];
const budgetMs = quick ? 60 : 250; // per measurement

function fill(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return a;
}

function measure(g: Gemm, tA: boolean, tB: boolean, M: number, N: number, K: number, budget: number): { best: number; median: number } {
  const A = fill(M * K), B = fill(K * N), C = new Float32Array(M * N);
  g.sgemm(tA, tB, M, N, K, 1, A, B, 0, C); // warm-up (memory growth, JIT tiers)
  const times: number[] = [];
  const start = performance.now();
  do {
    const t0 = performance.now();
    g.sgemm(tA, tB, M, N, K, 1, A, B, 0, C);
    times.push(performance.now() - t0);
  } while (performance.now() - start < budget && times.length < 200 || times.length < 3);
  times.sort((x, y) => x - y);
  const gf = (ms: number) => (2 * M * N * K) / ms / 1e6;
  return { best: gf(times[0]), median: gf(times[times.length >> 1]) };
}

const avail = gemmAvailability();
const results: Record<string, Record<string, { best: number; median: number }>> = {};
const configs: { label: string; backend: GemmBackend; threads: number; kernel?: string }[] = [];
for (const backend of ['native', 'openblas', 'portable'] as const) {
  if (only && !only.includes(backend)) continue;
  if (!avail[backend].ok) {
    console.log(`${backend}: unavailable (${(avail[backend] as { reason: string }).reason})`);
    continue;
  }
  configs.push({ label: `${backend}/1`, backend, threads: 1 });
  if (cores > 1) configs.push({ label: `${backend}/${cores}`, backend, threads: cores });
  // mixed precision (bf16 operands, float32 sums) where the processor has a bf16 kernel
  if (backend === 'native' && precisionRefusal('bf16') === null) {
    for (const k of nativeKernels().filter((x) => x.bf16 && x.supported)) {
      configs.push({ label: `${k.name}/1`, backend, threads: 1, kernel: k.name });
      if (cores > 1) configs.push({ label: `${k.name}/${cores}`, backend, threads: cores, kernel: k.name });
    }
  }
}

const header = ['shape'.padEnd(18), ...configs.map((c) => c.label.padStart(14))].join('');
console.log(`gemm GFLOP/s (best of ~${budgetMs} ms; ${cores} cores)`);
const gemms = new Map<string, Gemm>();
const gemmsInfo: Record<string, string> = {};
for (const c of configs) {
  const g = c.kernel ? createNativeGemm({ threads: c.threads, kernel: c.kernel }) : await createGemm({ backend: c.backend, threads: c.threads });
  console.log(`  ${c.label}: ${describeGemm(g)}`);
  gemms.set(c.label, g);
  gemmsInfo[c.label] = describeGemm(g);
}
console.log(header);
for (const [M, N, K] of SHAPES) {
  for (const [t, tA, tB] of TRANS) {
    const key = `${M}x${N}x${K} ${t}`;
    const row = [key.padEnd(18)];
    results[key] = {};
    for (const c of configs) {
      const r = measure(gemms.get(c.label)!, tA, tB, M, N, K, budgetMs);
      results[key][c.label] = { best: +r.best.toFixed(2), median: +r.median.toFixed(2) };
      row.push(r.best.toFixed(1).padStart(14));
    }
    console.log(row.join(''));
  }
}
for (const [label, g] of gemms) {
  const st = (g as Gemm & { stats?: { chunks: number; callerChunks: number } }).stats;
  if (st && g.threads > 1 && st.chunks > 0) {
    console.log(`  ${label}: worker threads computed ${(100 * (1 - st.callerChunks / st.chunks)).toFixed(0)}% of the chunks (the rest: the caller, e.g. while workers were not scheduled)`);
  }
  g.close();
}

if (!only || only.includes('reference')) { // one shape only: it is ~100x slower
  const g = await createGemm({ backend: 'reference' });
  const r = measure(g, false, false, 256, 256, 256, budgetMs);
  results['256x256x256 NN'] = { 'reference/1': { best: +r.best.toFixed(2), median: +r.median.toFixed(2) } };
  console.log(`reference/1 at 256x256x256 NN: ${r.best.toFixed(2)} GFLOP/s`);
}
// Geometric mean over the shapes of each configuration against OpenBLAS's at the same threads, when both ran.
const ratios: Record<string, number> = {};
for (const c of configs.filter((x) => x.backend !== 'openblas')) {
  const ref = `openblas/${c.threads}`;
  if (!configs.some((x) => x.label === ref)) continue;
  const logs = Object.values(results).filter((r) => r[c.label] && r[ref]).map((r) => Math.log(r[c.label].best / r[ref].best));
  if (logs.length) ratios[`${c.label}_vs_${ref}`] = +Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length).toFixed(3);
}
if (Object.keys(ratios).length) console.log(`geometric-mean speed against OpenBLAS: ${Object.entries(ratios).map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(JSON.stringify({ bench: 'gemm', unit: 'GFLOP/s', cores, node: process.version, kernels: gemmsInfo, ratios, results }));
