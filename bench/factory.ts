/**
 * npm run bench:factory — the demo grid through the factory: 3 base models x 3 datasets x 3 methods = 27
 * fine-tunes scheduled over the cores by the local runner, each followed by its benchmarks.
 * wall_s is the experiment's wall time from its submission, which comes right after the base models' pretraining
 * jobs (its fine-tunes wait on them: each base's fine-tunes start as soon as it is made); bases_s is when the last
 * base model was ready; total_s the whole run;
 * cpu_util = CPU time of the bench's own processes (this process and every worker it spawned, from /proc/PID/stat:
 * utime + stime of the live ones, cutime + cstime of the reaped ones) / (wall time x cores) over the experiment;
 * other programs on the machine are not counted. cpu_s is that CPU time in seconds.
 * scheduler_overhead_ms_per_job = scheduling decisions + process spawns per started job.
 * facts_best / facts_base = the share of held-out company-fact questions the best fine-tune (facts_model) and its
 * base answer with the right fact.
 * Goal: 27 jobs within 10 minutes, cpu_util >= 0.9. `--data DIR` reuses a data folder (its base models too).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { join } from 'node:path';
import { runFactoryDemo } from '../src/demo/factory-demo.ts';
import { terminalReporter } from '../src/cli/progress.ts';

const args = process.argv.slice(2);
const i = args.indexOf('--data');
const dataDir = i >= 0 ? args[i + 1] : mkdtempSync(join(tmpdir(), 'mf-bench-factory-'));
const keep = i >= 0;
try {
  const t0 = performance.now();
  const r = await runFactoryDemo({ dataDir, reporter: terminalReporter(), quick: args.includes('--quick') });
  const jobs = r.experiment.jobs;
  const ok = jobs.filter((j) => j.status === 'succeeded').length;
  console.log(`\n${ok}/${jobs.length} jobs succeeded; experiment ${r.jobsS.toFixed(0)} s, the last base model ready after ${r.basesS.toFixed(0)} s, total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  console.log(`cpu_util ${r.cpuUtil.toFixed(3)} over ${os.availableParallelism()} cores (${r.cpuS.toFixed(0)} CPU s of the bench process and its workers only, over ${r.jobsS.toFixed(0)} s); scheduler overhead ${r.schedulerOverheadMsPerJob.toFixed(1)} ms per job`);
  console.log(JSON.stringify({
    bench: 'factory', jobs: jobs.length, succeeded: ok, wall_s: Number(r.jobsS.toFixed(1)), bases_s: Number(r.basesS.toFixed(1)), total_s: Number(r.wallS.toFixed(1)),
    cpu_util: Number(r.cpuUtil.toFixed(3)), cpu_s: Number(r.cpuS.toFixed(1)), cpu_scope: 'own processes', scheduler_overhead_ms_per_job: Number(r.schedulerOverheadMsPerJob.toFixed(2)), cores: os.availableParallelism(),
    ...(r.facts ? { facts_model: r.facts.best.name, facts_best: Number(r.facts.best.score.toFixed(3)), facts_base: r.facts.base.score === null ? null : Number(r.facts.base.score.toFixed(3)) } : {}),
  }));
} finally {
  if (!keep) rmSync(dataDir, { recursive: true, force: true });
}
