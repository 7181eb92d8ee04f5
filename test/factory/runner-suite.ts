/**
 * The Runner conformance suite: what the scheduler relies on from any runner (src/factory/runners.ts), run with
 * the stand-in trainer (fixtures/fake-worker.mjs) so that it checks the runner, not training:
 *   - start writes job.json before the trainer reads it, the trainer's output lands in worker.log, and `exited`
 *     reports its exit code;
 *   - stop() lets the trainer stop (SIGTERM: exit 3), stop(true) kills it;
 *   - a second runner (as after a server restart) adopts a live trainer by its ref, follows it to its end, and
 *     adopts nothing once it has ended.
 * Used by local-runner.test.ts and slurm-runner.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdoptingRunner, PlacingRunner, RefRunHandle } from '../../src/factory/runners.ts';
import { specFor } from './repository-suite.ts';

export const FAKE_WORKER = fileURLToPath(new URL('./fixtures/fake-worker.mjs', import.meta.url));

type TestRunner = PlacingRunner & AdoptingRunner;

export interface RunnerSuiteOptions {
  name: string;
  /** A runner whose trainers are the stand-in in FAKE_MODE `mode`, working in `cwd`. */
  make(mode: string, cwd: string): TestRunner;
  /** What `exited` says of a trainer stopped by stop() (default exit 3: it checkpointed and stopped). */
  stopped?: { code: number | null; signal: string | null };
  /** What `exited` says of a trainer ended by stop(true) (a kill; Slurm's cancel sends SIGTERM first, then SIGKILL). */
  killed: { code: number | null; signal: string | null };
  /** What an adopted handle's `exited` says when the trainer exits 3 (null code where nobody can wait for it). */
  adoptedExit: { code: number | null; signal: string | null };
  skip?: string;
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ready(outputDir: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(join(outputDir, 'heartbeat'))) {
    if (Date.now() > end) throw new Error(`no heartbeat in ${outputDir}`);
    await sleep(20);
  }
}

export function runnerSuite(o: RunnerSuiteOptions): void {
  const opts = { skip: o.skip, timeout: o.timeoutMs ?? 120_000 };
  // every trainer a test started is killed when it ends, passed or not, so none outlives its folder
  const withDir = async (f: (dir: string, make: (mode: string) => TestRunner) => Promise<void>) => {
    const dir = mkdtempSync(join(tmpdir(), `mf-runner-${o.name}-`));
    const started: RefRunHandle[] = [];
    const make = (mode: string): TestRunner => {
      const r = o.make(mode, dir);
      return Object.assign(Object.create(r) as TestRunner, {
        start: (...a: Parameters<TestRunner['start']>) => { const h = r.start(...a); started.push(h); return h; },
      });
    };
    try {
      await f(dir, make);
    } finally {
      for (const h of started) h.stop(true);
      await Promise.race([Promise.all(started.map((h) => h.exited)), sleep(10_000)]);
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test(`${o.name} runner conformance: job.json first, output in worker.log, exit codes reported`, opts, () => withDir(async (dir, make) => {
    const spec = specFor('ok', join(dir, 'jobs', 'ok'));
    const h = make('exit:0').start(spec);
    assert.equal(typeof h.ref, 'string');
    assert.deepEqual(await h.exited, { code: 0, signal: null });
    const log = readFileSync(join(spec.outputDir, 'worker.log'), 'utf8');
    assert.match(log, /starting the worker for ok/);
    assert.equal(JSON.parse(log.split('\n').find((l) => l.startsWith('{'))!).id, 'ok', 'the trainer read its job.json');
    assert.deepEqual(await make('exit:2').start(specFor('bad', join(dir, 'jobs', 'bad'))).exited, { code: 2, signal: null });
  }));

  test(`${o.name} runner conformance: stop() lets the trainer checkpoint (exit 3), stop(true) kills it`, opts, () => withDir(async (dir, make) => {
    const r = make('wait');
    const a = r.start(specFor('a', join(dir, 'jobs', 'a')));
    const b = r.start(specFor('b', join(dir, 'jobs', 'b')));
    await ready(join(dir, 'jobs', 'a'));
    await ready(join(dir, 'jobs', 'b'));
    a.stop();
    b.stop(true);
    assert.deepEqual(await a.exited, o.stopped ?? { code: 3, signal: null });
    assert.deepEqual(await b.exited, o.killed);
  }));

  test(`${o.name} runner conformance: a second runner adopts a live trainer by its ref and sees it end`, opts, () => withDir(async (dir, make) => {
    const spec = specFor('o', join(dir, 'jobs', 'o'));
    const first = make('wait').start(spec);
    await ready(spec.outputDir);
    const later = o.make('wait', dir);
    const adopted = later.adopt(spec, first.ref!) as (RefRunHandle & { dispose?: () => void }) | null;
    assert.ok(adopted, 'adopted by ref');
    assert.equal(adopted.ref, first.ref);
    adopted.stop();
    assert.deepEqual(await adopted.exited, o.adoptedExit);
    assert.deepEqual(await first.exited, o.stopped ?? { code: 3, signal: null });
    assert.equal(later.adopt(spec, first.ref!), null, 'ended: nothing to adopt');
  }));
}
