/**
 * The whole server killed during an experiment (kill -9 of `modelfab serve` and of one of its trainers), then
 * started again on the same data folder: every job finishes, none is lost, and none restarts from scratch (each
 * metrics.jsonl counts step 1 once: the runs continue from their checkpoints).
 * [slow: real server processes and trainers, ~1 minute]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../../src/api/server.ts';
import { ensureBaseModels } from '../../src/demo/base-models.ts';
import { writeDemoDatasets } from '../../src/demo/demo-datasets.ts';
import { readMetrics } from '../../src/engine/metrics-log.ts';
import { apiCall, until } from './server-helpers.ts';

const KEY = 'sk-mf-crash-test-key-0123456789abcdef';
const bin = new URL('../../bin/modelfab.js', import.meta.url).pathname;

function serve(dir: string, port: number): ChildProcess {
  return spawn(process.execPath, [bin, 'serve', '--data', dir, '--port', String(port), '--no-base-models'], { env: { ...process.env, MODELFAB_ADMIN_KEY: KEY }, stdio: 'ignore' });
}

const api = <T>(port: number, method: string, path: string, body?: unknown) => apiCall<T>(port, KEY, method, path, body);

interface Job { id: string; status: string; modelfab: { step: number | null } }

test('[slow] kill -9 of the server and a trainer mid-experiment: every job finishes from its checkpoint', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-crash-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  let proc: ChildProcess | null = null;
  try {
    // A base model and a dataset, made in-process first.
    const srv = await createServer({ dataDir: dir, adminKey: KEY });
    const bases = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: dir, quick: true });
    assert.equal((await srv.factory.scheduler.waitFor(bases[0].id, undefined, 120_000)).status, 'succeeded');
    await srv.factory.factory.idle();
    writeDemoDatasets(join(dir, 'ds'));
    await srv.service.importDataset({ name: 'support', source: { path: join(dir, 'ds', 'support_qa.train.jsonl') } });
    await srv.close();

    proc = serve(dir, port);
    await until(() => api(port, 'GET', '/v1/experiments'), 60_000, 'the server');
    const exp = await api<{ id: string; jobs: Job[] }>(port, 'POST', '/v1/experiments', {
      name: 'crash', base_models: ['spruce-s'], datasets: ['support'], suites: [],
      methods: [{ name: 'full', spec: { type: 'full' } }, { name: 'lora', spec: { type: 'lora', rank: 4, alpha: 8 } }, { name: 'prompt', spec: { type: 'prompt', numVirtualTokens: 4 } }],
      hyperparameters: { batchSize: 8, seqLen: 64, maxSteps: 400, checkpointEvery: 5 },
    });
    assert.equal(exp.jobs.length, 3);
    // Wait until two trainers are past a checkpoint, then kill the server and one trainer.
    const running = await until(async () => {
      const e = await api<{ jobs: Job[] }>(port, 'GET', `/v1/experiments/${exp.id}`);
      const r = e.jobs.filter((j) => j.status === 'running' && (j.modelfab.step ?? 0) >= 12);
      return r.length >= 1 ? r : null;
    }, 120_000, 'running jobs');
    proc.kill('SIGKILL');
    await new Promise((r) => proc!.once('exit', r));
    const victim = running[0];
    const hb = JSON.parse(readFileSync(join(dir, 'jobs', victim.id, 'heartbeat'), 'utf8')) as { pid: number };
    try { process.kill(hb.pid, 'SIGKILL'); } catch { /* already gone */ }

    proc = serve(dir, port);
    const done = await until(async () => {
      const e = await api<{ status: string; jobs: Job[] }>(port, 'GET', `/v1/experiments/${exp.id}`);
      return ['succeeded', 'completed_with_failures'].includes(e.status) ? e : null;
    }, 240_000, 'the experiment to finish');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.jobs.map((j) => [j.id, j.status])));
    for (const j of done.jobs) {
      const steps = readMetrics(join(dir, 'jobs', j.id, 'metrics.jsonl')).map((m) => m.step);
      assert.equal(steps.filter((s) => s === 1).length, 1, `${j.id} restarted from scratch`);
      assert.equal(Math.max(...steps), 400);
      assert.ok(existsSync(join(dir, 'jobs', j.id, 'manifest.json')));
    }
    const events = readFileSync(join(dir, 'jobs', victim.id, 'events.jsonl'), 'utf8');
    assert.match(events, /resuming from the latest checkpoint/, 'the killed trainer resumed from a checkpoint');
  } finally {
    proc?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
