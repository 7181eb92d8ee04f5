/**
 * `modelfab demo`: the main job. The demo factory on the embedded defaults: the factory pretrains the project's
 * three base models, runs the 3 x 3 x 3 experiment of fine-tunes, prints the results and the leaderboard, and deploys
 * the best fine-tune behind the gateway under a guard policy.
 */
import type { Command } from 'commander';
import { runFactoryDemo } from '../demo/factory-demo.ts';
import { terminalReporter } from './progress.ts';
import { withData } from './local.ts';

export function registerDemo(program: Command): void {
  withData(program.command('demo').description('local: run the demo factory: pretrain 3 small base models, then fine-tune 3 x 3 datasets x methods = 27 models'))
    .option('--seed <n>', 'random seed', (v) => Number.parseInt(v, 10), 0)
    .option('--quick', 'a much smaller run (1 base model, few steps): a smoke test')
    .action(async (o: { data: string; seed: number; quick?: boolean }) => {
      const rep = terminalReporter();
      rep.line('modelfab demo: the factory of 云杉智造 / Spruce Robotics, on this machine only');
      const r = await runFactoryDemo({ dataDir: o.data, reporter: rep, seed: o.seed, quick: o.quick });
      rep.line('');
      rep.line(`Fine-tuned models are registered as ft:<base>:<method>:<job id>; list them with the API (GET /v1/models) after \`modelfab serve --data ${o.data}\`.`);
      if (r.served) rep.line(`Serve it: \`modelfab serve --data ${o.data}\`, then any OpenAI client with base URL http://127.0.0.1:8080/v1 and model "${r.served.deployment}"; the console at http://127.0.0.1:8080/ (request log, guard verdicts, feedback).`);
      rep.line(`Everything is in ${r.dataDir}: modelfab.db (SQLite), jobs/<id>/ (metrics.jsonl, checkpoints, model/), bases/, demo-datasets/, demo-summary.json`);
      const t = (sec: number) => (sec < 120 ? `${sec.toFixed(0)} s` : `${(sec / 60).toFixed(1)} min`);
      rep.line(`Done in ${t(r.wallS)} (${r.basesS ? `the last base model ready after ${t(r.basesS)}, ` : ''}the experiment ${t(r.jobsS)}, the demo's own processes kept the CPUs ${(r.cpuUtil * 100).toFixed(0)}% busy).`);
    });
}
