/**
 * `modelfab info`: what this machine gives the engine (the gemm kernels that run, e.g. "native avx2+fma (own
 * kernels)", "openblas" or "portable" (WebAssembly); the other backends and why one is unavailable; the native exp
 * kernels; threads), whether the torch trainer is installed (its `--info`: versions, CUDA devices) and the GPUs
 * nvidia-smi lists.
 */
import type { Command } from 'commander';
import os from 'node:os';
import { createGemm, describeGemm, gemmAvailability, type Gemm } from '../engine/gemm/create-gemm.ts';
import type { NativeGemm } from '../engine/gemm/native.ts';
import { nativeKernels } from '../engine/ops/native-kernels.ts';
import { nativeKernels as gemmKernels, precisionRefusal } from '../engine/gemm/native.ts';
import { nvidiaGpus, probeTorch, torchPython, TORCH_INSTALL_HINT } from '../factory/torch-trainer.ts';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('local: show the compute backends this machine gives the engine')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const avail = gemmAvailability();
      const gemm = await createGemm();
      const kernels = gemmKernels();
      const info = {
        node: process.version, cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        gemm: describeGemm(gemm), kernels: kernelsLine(gemm), backends: avail,
        gemmKernels: kernels.map((k) => ({ name: k.name, supported: k.supported, bf16: k.bf16 })), nativeKernels: nativeKernels() !== null,
        bf16: precisionRefusal('bf16') ?? `yes (${kernels.find((k) => k.bf16 && k.supported)?.name})`,
        torch: await probeTorch(torchPython()), gpus: nvidiaGpus(),
      };
      gemm.close();
      if (o.json) { console.log(JSON.stringify(info, null, 2)); return; }
      console.log(`node ${info.node}, ${info.cores} cores, ${info.memoryGiB} GiB`);
      console.log(`kernels: ${info.kernels}`);
      console.log(info.gemm);
      for (const [k, v] of Object.entries(avail)) console.log(`  ${k.padEnd(9)} ${v.ok ? 'available' : `unavailable: ${(v as { reason: string }).reason}`}`);
      if (kernels.length) console.log(`  native kernels here: ${kernels.map((k) => `${k.name}${k.bf16 ? ' (bf16 operands)' : ''}${k.supported ? '' : ' (not on this processor)'}`).join(', ')}`);
      console.log(`mixed precision (precision: bf16): ${info.bf16}`);
      console.log(`native exp kernels: ${info.nativeKernels ? 'yes' : 'no (TypeScript loops)'}`);
      const t = info.torch;
      if (t.ok) {
        const dev = t.info.devices.length ? t.info.devices.map((d) => `${d.index}: ${d.name} ${Math.round(d.memory_mb / 1024)} GiB`).join(', ') : 'no CUDA devices (CPU)';
        console.log(`torch trainer: installed (${t.python}): torch ${t.info.torch}, transformers ${t.info.transformers}, peft ${t.info.peft}; ${dev}`);
        console.log(`  stages ${t.info.stages.join(', ')}; methods ${t.info.methods.join(', ')}`);
      } else {
        console.log(`torch trainer: not installed: ${t.reason}; ${TORCH_INSTALL_HINT}`);
      }
      console.log(info.gpus === null ? 'GPUs: none found (no nvidia-smi)' : `GPUs: ${info.gpus.length ? info.gpus.map((g) => `${g.index}: ${g.name} ${g.memoryMB} MiB`).join(', ') : 'none'}`);
    });
}

/** Which gemm kernels run, in a few words: "native avx2+fma (own kernels)", "openblas", "wasm" or "reference". */
export function kernelsLine(g: Gemm): string {
  if (g.name === 'native') return `native ${(g as NativeGemm).kernel} (own kernels)`;
  if (g.name === 'portable') return 'wasm (portable WebAssembly SIMD)';
  return g.name === 'openblas' ? `openblas (${(g as Gemm & { info: string }).info})` : 'reference (TypeScript)';
}
