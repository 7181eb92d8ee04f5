/** MemoryJobRepository: the conformance suite, in memory and mirrored to a JSON file (reloaded by a new instance). */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryJobRepository } from '../../src/factory/job-repository.ts';
import { repositorySuite, specFor } from './repository-suite.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'mf-repo-')); dirs.push(d); return d; };

repositorySuite('MemoryJobRepository', async () => new MemoryJobRepository());
repositorySuite('MemoryJobRepository (file)', async () => new MemoryJobRepository({ file: join(tmp(), 'jobs.json') }));

test('MemoryJobRepository (file): a new instance over the file sees every completed change', async () => {
  const dir = tmp();
  const file = join(dir, 'jobs.json');
  const a = new MemoryJobRepository({ file });
  await a.create({ id: 'j', status: 'queued', priority: 1, experimentId: 'e', spec: specFor('j'), estimate: { cpuThreads: 1, memoryMB: 10 } });
  await a.update('j', { status: 'running', leaseOwner: 'x', attempts: 2 });
  await a.appendEvent({ jobId: 'j', type: 't', message: 'm' });
  const b = new MemoryJobRepository({ file });
  assert.deepEqual(await b.get('j'), await a.get('j'));
  assert.equal((await b.events('j')).length, 1);
  const next = await b.create({ id: 'k', status: 'queued', priority: 0, experimentId: null, spec: specFor('k'), estimate: { cpuThreads: 1, memoryMB: 10 } });
  assert.ok(next.seq > (await b.get('j'))!.seq);
  assert.deepEqual(readdirSync(dir), ['jobs.json']); // no temporaries left
  const c = MemoryJobRepository.fromJSON(JSON.parse(JSON.stringify(b.toJSON())));
  assert.deepEqual(await c.list(), await b.list());
});
