/**
 * Conformance suite for JobRepository implementations (src/factory/job-repository.ts): the memory one runs it in
 * repository.test.ts; the SQLite one should run the same `repositorySuite(name, make)`.
 * Covers: create/get/list order and filters, duplicate ids, copies not references, compare-and-set updates,
 * unknown ids, JSON round trip of every field, events order and afterSeq.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobRepository, NewJob } from '../../src/factory/job-repository.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';

export function specFor(id: string, outputDir = `/tmp/${id}`): JobSpec {
  return {
    version: 1, id, name: id, stage: 'pretrain',
    base: { kind: 'scratch', config: { vocabSize: 300, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 64 }, tokenizer: { vocabSize: 300 } },
    method: { type: 'full' } as JobSpec['method'], data: { train: { path: '/dev/null', kind: 'pretrain' } },
    hyperparameters: { batchSize: 4, seqLen: 32, lr: 3e-3, maxSteps: 40, checkpointEvery: 5 }, seed: 1, outputDir, threads: 1,
  };
}

function newJob(id: string, extra: Partial<NewJob> = {}): NewJob {
  return { id, status: 'queued', priority: 0, experimentId: null, spec: specFor(id), estimate: { cpuThreads: 1, memoryMB: 100 }, ...extra };
}

export function repositorySuite(name: string, make: () => Promise<JobRepository>, opts: { skip?: string } = {}): void {
  test(`${name}: create, get, list in creation order with filters`, opts, async () => {
    const r = await make();
    const a = await r.create(newJob('a', { experimentId: 'x' }));
    const b = await r.create(newJob('b', { status: 'paused' }));
    await r.create(newJob('c', { experimentId: 'x', priority: 5 }));
    assert.equal(a.attempts, 0); assert.equal(a.runs, 0); assert.equal(a.leaseOwner, null); assert.equal(a.step, null);
    assert.deepEqual(a.dependsOn, []);
    const d = await r.create(newJob('d', { dependsOn: ['a', 'b'] }));
    assert.deepEqual(d.dependsOn, ['a', 'b']);
    assert.deepEqual((await r.get('d'))!.dependsOn, ['a', 'b']);
    assert.deepEqual((await r.update('d', { priority: 2 }))!.dependsOn, ['a', 'b']);
    assert.ok(b.seq > a.seq);
    assert.deepEqual((await r.list()).map((j) => j.id), ['a', 'b', 'c', 'd']);
    assert.deepEqual((await r.list({ status: 'queued' })).map((j) => j.id), ['a', 'c', 'd']);
    assert.deepEqual((await r.list({ status: ['paused', 'running'] })).map((j) => j.id), ['b']);
    assert.deepEqual((await r.list({ experimentId: 'x' })).map((j) => j.id), ['a', 'c']);
    assert.equal(await r.get('nope'), null);
    await assert.rejects(r.create(newJob('a')), /exists/);
  });

  test(`${name}: records are copies and every field round-trips as JSON`, opts, async () => {
    const r = await make();
    const created = await r.create(newJob('a', { estimate: { cpuThreads: 2, memoryMB: 300, gpus: 1, gpuMemoryMB: 4000 } }));
    created.spec.name = 'mutated';
    const got = (await r.get('a'))!;
    assert.equal(got.spec.name, 'a');
    assert.deepEqual(JSON.parse(JSON.stringify(got)), got);
    const upd = (await r.update('a', { placement: { gpuIds: [1] }, workerRef: 'local:1', stopRequest: 'pause', step: 7, leaseExpiresAt: 123 }))!;
    assert.deepEqual(upd.placement, { gpuIds: [1] });
    assert.deepEqual(await r.get('a'), upd);
  });

  test(`${name}: update is a compare-and-set on status and lease owner`, opts, async () => {
    const r = await make();
    await r.create(newJob('a'));
    assert.equal(await r.update('a', { status: 'running' }, { status: 'paused' }), null);
    assert.equal((await r.get('a'))!.status, 'queued');
    const run = await r.update('a', { status: 'running', leaseOwner: 'me' }, { status: ['queued', 'paused'] });
    assert.equal(run!.status, 'running');
    assert.equal(await r.update('a', { status: 'queued' }, { status: 'running', leaseOwner: 'other' }), null);
    assert.equal((await r.update('a', { status: 'queued', leaseOwner: null }, { status: 'running', leaseOwner: 'me' }))!.status, 'queued');
    await assert.rejects(r.update('missing', { status: 'queued' }), /not found/);
  });

  test(`${name}: events in order, per job, after a seq`, opts, async () => {
    const r = await make();
    await r.create(newJob('a')); await r.create(newJob('b'));
    const e1 = await r.appendEvent({ jobId: 'a', type: 'status', message: 'one', data: { x: 1 } });
    await r.appendEvent({ jobId: 'b', type: 'status', message: 'other' });
    const e3 = await r.appendEvent({ jobId: 'a', type: 'status', message: 'two' });
    assert.ok(e3.seq > e1.seq);
    assert.deepEqual((await r.events('a')).map((e) => e.message), ['one', 'two']);
    assert.deepEqual((await r.events('a'))[0].data, { x: 1 });
    assert.deepEqual((await r.events('a', { afterSeq: e1.seq })).map((e) => e.message), ['two']);
  });
}
