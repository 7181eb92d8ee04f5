/** Runs the `modelfab` command in a child process (asynchronously: a test may host the server in-process). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startServer } from '../api/helpers.ts';
import { ensureBaseModels } from '../../src/demo/base-models.ts';
import { writeDemoDatasets } from '../../src/demo/demo-datasets.ts';

export const bin = new URL('../../bin/modelfab.js', import.meta.url).pathname;

/** The CLI's output (stdout and stderr together) and exit code; `input` is written to its stdin, `cwd` is where it runs. */
export function cli(args: string[], env: Record<string, string>, o: { input?: string; cwd?: string } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, cwd: o.cwd, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => { out += d; });
    p.stderr!.on('data', (d) => { out += d; });
    if (o.input !== undefined) p.stdin!.end(o.input);
    p.on('close', (code) => resolve({ code, out }));
  });
}

/** A server with the quick spruce-s base pretrained and the demo's `identity` dataset imported: ready for a grid. */
export async function serverWithIdentity(): Promise<Awaited<ReturnType<typeof startServer>>> {
  const started = await startServer();
  const { srv, dir } = started;
  try {
    const bases = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: dir, quick: true });
    assert.equal((await srv.factory.scheduler.waitFor(bases[0].id, undefined, 240_000)).status, 'succeeded');
    await srv.factory.factory.idle();
    const ds = join(dir, 'ds');
    writeDemoDatasets(ds);
    await srv.service.importDataset({ name: 'identity', source: { path: join(ds, 'identity.json') }, validation: { path: join(ds, 'identity.val.json') } });
    return started;
  } catch (e) {
    await started.stop();
    throw e;
  }
}
