/**
 * Re-attaching to an experiment: `modelfab experiment run FILE` detached with Ctrl-C (SIGINT) says how to follow
 * it again, `modelfab experiment watch ID` follows it to the end with the same view and prints its results,
 * `modelfab experiment leaderboard ID` prints the ranking (and --json), and `models list` shows the fine-tunes with
 * their base, dataset and method. [slow: starts a server and trains small models in worker processes]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_KEY } from '../api/helpers.ts';
import { bin, cli, serverWithIdentity } from './helpers.ts';

test('[slow] modelfab experiment run, detach, watch ID, leaderboard ID; models list as a table', { timeout: 480_000 }, async () => {
  const { url, dir, stop } = await serverWithIdentity();
  try {
    const file = join(dir, 'exp.yaml');
    writeFileSync(file, [
      'name: watch-grid', 'stage: sft', 'base_models: [spruce-s]', 'datasets: [identity]',
      'methods:', '  - {name: full, spec: {type: full}}', '  - {name: lora, spec: {type: lora, rank: 4, alpha: 8}}',
      'hyperparameters: {epochs: 1, batchSize: 8, seqLen: 64, maxSteps: 4}',
    ].join('\n'));
    const env = { MODELFAB_URL: url, MODELFAB_API_KEY: ADMIN_KEY };

    // run, then Ctrl-C as soon as the experiment exists: the CLI detaches, the server goes on
    const run = spawn(process.execPath, [bin, 'experiment', 'run', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    run.stdout!.on('data', (d) => { out += d; });
    run.stderr!.on('data', (d) => { out += d; });
    const id = await new Promise<string>((resolve, reject) => {
      const look = () => { const m = /^experiment (\S+): 2 jobs/m.exec(out); if (m) { run.stdout!.off('data', look); resolve(m[1]!); } };
      run.stdout!.on('data', look);
      run.once('exit', () => reject(new Error(`experiment run ended before detaching:\n${out}`)));
    });
    // the CLI listens for Ctrl-C from the moment it printed the experiment's id
    const code = await new Promise<number | null>((resolve) => { run.once('exit', (c) => resolve(c)); run.kill('SIGINT'); });
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`detached: experiment ${id} goes on in the server\\. Follow it again with \`modelfab experiment watch ${id}\``));

    const watch = await cli(['experiment', 'watch', id], env);
    assert.equal(watch.code, 0, watch.out);
    assert.match(watch.out, new RegExp(`^experiment ${id} \\(watch-grid\\): `, 'm'));
    assert.match(watch.out, /spruce-s x identity x full\s+succeeded/);
    assert.match(watch.out, /spruce-s x identity x lora\s+succeeded/);
    // watching a finished experiment returns at once with the same results
    const again = await cli(['experiment', 'watch', id, '--json'], env);
    assert.equal(again.code, 0, again.out);
    assert.equal(JSON.parse(again.out.slice(again.out.indexOf('{'))).jobs.length, 2);

    const board = await cli(['experiment', 'leaderboard', id], env);
    assert.equal(board.code, 0, board.out);
    const json = JSON.parse((await cli(['experiment', 'leaderboard', id, '--json'], env)).out);
    assert.equal(json.experiment_id, id);
    assert.equal(json.pending, 0);
    assert.equal(board.out.trim(), json.text.trim());

    const models = await cli(['models', 'list'], env);
    assert.equal(models.code, 0, models.out);
    assert.match(models.out, /^MODEL\s+BASE\s+DATASET\s+METHOD\s+STAGE\s+EVAL LOSS\s+OWNED BY$/m);
    assert.match(models.out, /^ft:spruce-s:\S+\s+spruce-s\s+identity\s+full\s+sft\s+\d+\.\d{3}\s/m);
    assert.match(models.out, /^ft:spruce-s:\S+\s+spruce-s\s+identity\s+lora\s+sft\s+\d+\.\d{3}\s/m);
    const listed = JSON.parse((await cli(['models', 'list', '--json'], env)).out) as Array<{ id: string; dataset?: string }>;
    assert.equal(listed.filter((m) => m.id.startsWith('ft:') && m.dataset === 'identity').length, 2);
  } finally {
    await stop();
  }
});
