/** `modelfab info`: what this machine gives the engine (gemm backend, native kernels, threads). */
import type { Command } from 'commander';
import os from 'node:os';
import { createGemm, describeGemm, gemmAvailability } from '../engine/gemm/create-gemm.ts';
import { nativeKernels } from '../engine/ops/native-kernels.ts';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('local: show the compute backends this machine gives the engine')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const avail = gemmAvailability();
      const gemm = await createGemm();
      const info = {
        node: process.version, cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        gemm: describeGemm(gemm), backends: avail, nativeKernels: nativeKernels() !== null,
      };
      gemm.close();
      if (o.json) { console.log(JSON.stringify(info, null, 2)); return; }
      console.log(`node ${info.node}, ${info.cores} cores, ${info.memoryGiB} GiB`);
      console.log(info.gemm);
      for (const [k, v] of Object.entries(avail)) console.log(`  ${k.padEnd(9)} ${v.ok ? 'available' : `unavailable: ${(v as { reason: string }).reason}`}`);
      console.log(`native exp kernels: ${info.nativeKernels ? 'yes' : 'no (TypeScript loops)'}`);
    });
}
