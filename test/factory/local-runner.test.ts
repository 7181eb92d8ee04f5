/**
 * LocalRunner with a stand-in trainer (test/factory/fixtures/fake-worker.mjs, plain node, no training):
 * job.json and worker.log, environment pinning, exit codes and signals, capacity, and adoption by a second
 * runner (as after a server restart) that refuses pids that are not this job's worker.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalRunner, processState } from '../../src/factory/local-runner.ts';
import { specFor } from './repository-suite.ts';
import { FAKE_WORKER, runnerSuite } from './runner-suite.ts';

const FAKE = fileURLToPath(new URL('./fixtures/fake-worker.mjs', import.meta.url));
const runner = (mode: string, extra: ConstructorParameters<typeof LocalRunner>[0] = {}) =>
  new LocalRunner({ entry: FAKE, nodeArgs: [], env: { FAKE_MODE: mode }, ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until a stand-in worker has installed its SIGTERM handler (it then writes its heartbeat). */
const ready = async (outputDir: string) => { while (!existsSync(join(outputDir, 'heartbeat'))) await sleep(10); };
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'mf-local-')); dirs.push(d); return d; };

test('capacity: from the machine by default, configurable', () => {
  const c = new LocalRunner().capacity();
  assert.equal(c.cpuThreads, os.availableParallelism());
  assert.ok(c.memoryMB > 0 && c.memoryMB <= os.totalmem() / 2 ** 20);
  assert.equal(c.gpus, 0);
  assert.deepEqual(new LocalRunner({ cpuThreads: 3, memoryMB: 1000, gpus: 2, gpuMemoryMB: 8000 }).capacity(), { cpuThreads: 3, memoryMB: 1000, gpus: 2, gpuMemoryMB: 8000 });
});

test('start: job.json written first, output in worker.log, threads pinned, GPUs restricted to the placement, exit code reported', async () => {
  const dir = tmp();
  const spec = { ...specFor('j1', join(dir, 'j1')), threads: 2 };
  const h = runner('exit:0', { gpus: 2, gpuMemoryMB: 1000 }).start(spec, { gpuIds: [1] });
  assert.match(h.ref, /^local:\d+$/);
  assert.deepEqual(await h.exited, { code: 0, signal: null });
  assert.deepEqual(JSON.parse(readFileSync(join(spec.outputDir, 'job.json'), 'utf8')), spec);
  const log = readFileSync(join(spec.outputDir, 'worker.log'), 'utf8').split('\n');
  assert.match(log[0], /starting the worker for j1/);
  const said = JSON.parse(log[1]);
  assert.deepEqual(said, { argv: [join(spec.outputDir, 'job.json')], omp: '2', cuda: '1', id: 'j1' });
  assert.deepEqual(readdirSync(spec.outputDir).sort(), ['heartbeat', 'job.json', 'worker.log']);
  assert.deepEqual(await runner('exit:2').start(specFor('j2', join(dir, 'j2'))).exited, { code: 2, signal: null });
});

test('stop: SIGTERM lets the trainer stop (exit 3); force kills it', async () => {
  const dir = tmp();
  const a = runner('wait').start(specFor('a', join(dir, 'a')));
  const b = runner('wait').start(specFor('b', join(dir, 'b')));
  await ready(join(dir, 'a'));
  await ready(join(dir, 'b'));
  a.stop();
  b.stop(true);
  assert.deepEqual(await a.exited, { code: 3, signal: null });
  assert.deepEqual(await b.exited, { code: null, signal: 'SIGKILL' });
});

test('adopt: a new runner re-attaches to a live worker (by ref or heartbeat) and sees it end; refuses other pids', async () => {
  const dir = tmp();
  const spec = specFor('o', join(dir, 'o'));
  const first = runner('wait').start(spec);
  await ready(spec.outputDir);
  const later = new LocalRunner({ pollMs: 20 });
  const byRef = later.adopt(spec, first.ref)!;
  assert.ok(byRef, 'adopted by ref');
  assert.equal(byRef.pid, first.pid);
  byRef.dispose();
  const byHeartbeat = later.adopt(spec, null)!;
  assert.equal(byHeartbeat.pid, first.pid, 'adopted through the heartbeat pid');
  // another job's spec naming the same pid is refused: the command line does not name its job.json
  const other = specFor('other', join(dir, 'other'));
  assert.equal(later.adopt(other, first.ref), null);
  // a live process that is not a worker (a recycled pid) is refused
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)']);
  writeFileSync(join(spec.outputDir, 'heartbeat'), JSON.stringify({ pid: sleeper.pid }));
  assert.equal(later.adopt(spec, `local:${sleeper.pid}`), null);
  sleeper.kill('SIGKILL');
  byHeartbeat.stop(); // signals the adopted process (re-verified first)
  assert.deepEqual(await byHeartbeat.exited, { code: null, signal: null }, 'an adopted exit status is unknown');
  assert.deepEqual(await first.exited, { code: 3, signal: null });
  assert.equal(processState(first.pid), 'gone');
  assert.equal(later.adopt(spec, first.ref), null, 'gone: nothing to adopt');
});

runnerSuite({
  name: 'local', make: (mode, cwd) => new LocalRunner({ entry: FAKE_WORKER, nodeArgs: [], env: { FAKE_MODE: mode }, cwd, pollMs: 20 }),
  killed: { code: null, signal: 'SIGKILL' }, adoptedExit: { code: null, signal: null },
});
