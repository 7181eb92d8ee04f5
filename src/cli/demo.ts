/** `modelfab demo`: the main job — pretraining and fine-tuning on the built-in demo company, then a results table. */
import type { Command } from 'commander';
import { createGemm, describeGemm } from '../engine/gemm/index.ts';
import { runDemo } from '../demo/run.ts';
import { terminalReporter } from './progress.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('pretrain a small model on the built-in demo company (Spruce Robotics) and fine-tune it with several methods')
    .option('-o, --out <dir>', 'output folder', './modelfab-data/demo')
    .option('--seed <n>', 'random seed', (v) => Number.parseInt(v, 10), 0)
    .option('--quick', 'a much smaller run (a smoke test, under a minute)')
    .option('--threads <n>', 'compute threads (default: all cores, at most 2 here)', (v) => Number.parseInt(v, 10))
    .action(async (o: { out: string; seed: number; quick?: boolean; threads?: number }) => {
      const gemm = await createGemm({ threads: o.threads });
      const rep = terminalReporter();
      rep.line(`modelfab demo: Spruce Robotics (云杉智造) — ${describeGemm(gemm)}`);
      try {
        const r = await runDemo({ outDir: o.out, gemm, reporter: rep, seed: o.seed, quick: o.quick });
        rep.line('');
        rep.line('Results (validation loss on assistant tokens of held-out support chats; lower is better)');
        rep.line('  method   trainable params   steps   eval before   eval after   time');
        for (const m of r.methods) {
          rep.line(`  ${m.method.padEnd(8)} ${m.trainable.toLocaleString('en-US').padStart(16)} ${String(m.steps).padStart(7)} ${m.evalBefore.toFixed(3).padStart(13)} ${m.evalAfter.toFixed(3).padStart(12)} ${m.seconds.toFixed(0).padStart(5)} s`);
        }
        const s = r.methods[0].sample;
        rep.line('');
        rep.line(`Sample (held-out question): ${s.question}`);
        rep.line(`  expected: ${s.expected}`);
        for (const m of r.methods) rep.line(`  ${m.method.padEnd(8)}: ${m.sample.answer}`);
        rep.line('');
        rep.line(`Base model: ${r.base.dir} (${(r.base.params / 1e6).toFixed(2)}M params, validation perplexity ${r.base.valPerplexity.toFixed(1)} vs unigram ${r.base.unigramPerplexity.toFixed(1)})`);
        rep.line(`Everything is in ${r.outDir}: corpus.txt, datasets/, models/, runs/ (metrics.jsonl, checkpoints), summary.json`);
        rep.line(`Done in ${r.seconds.toFixed(0)} s.`);
      } finally {
        gemm.close();
      }
    });
}
