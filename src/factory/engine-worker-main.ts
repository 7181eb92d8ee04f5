/**
 * Worker process entry: `node --import tsx src/factory/engine-worker-main.ts <outputDir>/job.json`.
 * Exit codes: 0 succeeded (manifest.json written), 3 stopped on SIGTERM/SIGINT (checkpoint written, resumable),
 * 2 invalid job spec or data, 1 any other failure. The last line of events.jsonl says why.
 */
import { readFileSync } from 'node:fs';
import { JobSpecError, runJob, validateJobSpec } from './engine-worker.ts';

export const EXIT_STOPPED = 3;
export const EXIT_INVALID = 2;

const path = process.argv[2];
if (!path) { process.stderr.write('usage: engine-worker-main.ts <job.json>\n'); process.exit(EXIT_INVALID); }
const abort = new AbortController();
process.on('SIGTERM', () => abort.abort());
process.on('SIGINT', () => abort.abort());
try {
  const spec = validateJobSpec(JSON.parse(readFileSync(path, 'utf8')));
  const outcome = await runJob(spec, { signal: abort.signal });
  process.exit(outcome === 'stopped' ? EXIT_STOPPED : 0);
} catch (e) {
  process.stderr.write(`worker: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof JobSpecError || e instanceof SyntaxError ? EXIT_INVALID : 1);
}
