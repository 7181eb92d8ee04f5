/**
 * `modelfab demo`: the main job. The demo factory on the embedded defaults: the factory pretrains the project's
 * three base models, then runs the 3 x 3 x 3 experiment of fine-tunes and prints the results.
 */
import type { Command } from 'commander';
import { runFactoryDemo, resultsTable } from '../demo/factory-demo.ts';
import { terminalReporter } from './progress.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the demo factory: pretrain 3 small base models, then fine-tune 3 x 3 datasets x methods = 27 models')
    .option('-d, --data <dir>', 'data folder (SQLite database, datasets, models, jobs)', './modelfab-data')
    .option('--seed <n>', 'random seed', (v) => Number.parseInt(v, 10), 0)
    .option('--quick', 'a much smaller run (1 base model, few steps): a smoke test')
    .action(async (o: { data: string; seed: number; quick?: boolean }) => {
      const rep = terminalReporter();
      rep.line('modelfab demo: the factory of 云杉智造 / Spruce Robotics, on this machine only');
      const r = await runFactoryDemo({ dataDir: o.data, reporter: rep, seed: o.seed, quick: o.quick });
      rep.line('');
      rep.line('[4/4] results: validation loss on the held-out split of each dataset, before and after fine-tuning');
      for (const l of resultsTable(r.experiment.jobs)) rep.line(l);
      if (r.experiment.rejected.length) for (const x of r.experiment.rejected) rep.line(`  rejected: ${x.name}: ${x.reason}`);
      rep.line('');
      rep.line('Leaderboard (benchmark scores, higher is better; each base model beside its fine-tunes):');
      for (const l of r.leaderboard.split('\n')) rep.line(`  ${l}`);
      rep.line('');
      rep.line(`Base models: ${r.bases.map((b) => `${b.name} (${(b.params / 1e6).toFixed(2)}M parameters, validation perplexity ${b.perplexity?.toFixed(1) ?? '?'} vs ${b.unigramPerplexity?.toFixed(1) ?? '?'} for a unigram model)`).join(', ')}`);
      rep.line(`Fine-tuned models are registered as ft:<base>:<method>:<job id>; list them with the API (GET /v1/models) after \`modelfab serve --data ${o.data}\`.`);
      rep.line(`Everything is in ${r.dataDir}: modelfab.db (SQLite), jobs/<id>/ (metrics.jsonl, checkpoints, model/), bases/, demo-datasets/, demo-summary.json`);
      rep.line(`Done in ${(r.wallS / 60).toFixed(1)} min (fine-tunes ${(r.jobsS / 60).toFixed(1)} min, CPU busy ${(r.cpuUtil * 100).toFixed(0)}%).`);
    });
}
