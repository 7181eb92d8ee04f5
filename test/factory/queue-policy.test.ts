/**
 * The pure scheduling policy: node-aware placement (placement.ts) and one pass of backfill with reservations
 * (queue-policy.ts), on small pools whose answers can be worked out by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { earliestStart, placeOnPool, poolStates, type PoolNode } from '../../src/factory/placement.ts';
import { agedFirst, fairOrder, planPass, type PassJob } from '../../src/factory/queue-policy.ts';

const gpuNode = (name: string): PoolNode => ({ name, capacity: { cpuThreads: 64, memoryMB: 1_000_000, gpus: 8, gpuMemoryMB: 80_000 } });
const cpuNode = (name: string): PoolNode => ({ name, capacity: { cpuThreads: 32, memoryMB: 256_000 } });
const gpus = (n: number) => ({ cpuThreads: n, memoryMB: 1000 * n, gpus: n });
const job = (id: string, n: number, extra: Partial<PassJob> = {}): PassJob => ({ id, priority: 0, resources: gpus(n), waitedMs: 0, durationMs: 3_600_000, ...extra });

test('placeOnPool: GPUs on one node, best fit packs, CPU-only jobs prefer nodes without GPUs', () => {
  const nodes = [gpuNode('a'), gpuNode('b'), cpuNode('c')];
  // a has 6 GPUs taken, b 2: a 2-GPU job fills a; a 7-GPU job fits on no node's free devices
  const states = poolStates(nodes, [
    { node: 'a', resources: gpus(6), placement: { gpuIds: [0, 1, 2, 3, 4, 5] } },
    { node: 'b', resources: gpus(2), placement: { gpuIds: [0, 1] } },
  ]);
  assert.deepEqual(placeOnPool(gpus(2), states), { node: 0, placement: { gpuIds: [6, 7] } });
  assert.deepEqual(placeOnPool(gpus(6), states), { node: 1, placement: { gpuIds: [2, 3, 4, 5, 6, 7] } });
  assert.equal(placeOnPool(gpus(7), states), null, 'GPUs of two nodes are never combined');
  assert.equal(placeOnPool({ cpuThreads: 4, memoryMB: 100 }, states)!.node, 2, 'a CPU job goes to the CPU node');
  assert.equal(placeOnPool({ cpuThreads: 40, memoryMB: 100 }, states)!.node, 0, 'too wide for the CPU node: the fullest GPU node that fits');
  assert.equal(placeOnPool(gpus(1), states, (i) => i === 1)!.node, 1, 'allowed() restricts the nodes');
  assert.equal(placeOnPool({ cpuThreads: 1, memoryMB: 2_000_000 }, states), null, 'memory is never oversubscribed');
});

test('earliestStart: releases in time order, unknown ends last, never when it cannot fit', () => {
  const [s] = poolStates([gpuNode('a')], [
    { node: 'a', resources: gpus(4), placement: { gpuIds: [0, 1, 2, 3] }, endsAt: 5000 },
    { node: 'a', resources: gpus(2), placement: { gpuIds: [4, 5] }, endsAt: 2000 },
    { node: 'a', resources: gpus(2), placement: { gpuIds: [6, 7] } },
  ]);
  assert.equal(earliestStart(gpus(2), s, 1000), 2000);
  assert.equal(earliestStart(gpus(6), s, 1000), 5000);
  assert.equal(earliestStart(gpus(8), s, 1000), Infinity, 'needs the job of unknown end');
  assert.equal(earliestStart(gpus(9), s, 1000), null);
});

test('planPass: an 8-GPU job reserves the node that frees first; backfill only where it does not delay it', () => {
  const nodes = [gpuNode('a'), gpuNode('b')];
  const running = [
    { node: 'a', resources: gpus(6), placement: { gpuIds: [0, 1, 2, 3, 4, 5] }, endsAt: 10_000 },
    { node: 'b', resources: gpus(6), placement: { gpuIds: [0, 1, 2, 3, 4, 5] }, endsAt: 50_000 },
  ];
  const plan = planPass([
    job('big', 8, { durationMs: 100_000 }),
    job('long', 2, { durationMs: 90_000 }), // would hold a's GPUs past 10 s: only b
    job('short', 2, { durationMs: 5_000 }), // ends before the reservation: may use a
    job('late', 1, { durationMs: 90_000 }), // a would delay big, b is full: it reserves b
  ], poolStates(nodes, running), 0, { reserveAfterMs: 0 });
  assert.deepEqual(plan.reservations.map((r) => [r.id, r.node, r.at]), [['big', 0, 10_000], ['late', 1, 50_000]]);
  assert.deepEqual(plan.starts.map((s) => [s.id, s.node]), [['long', 1], ['short', 0]]);
});

test('planPass: jobs of unknown length may use only what the reserved job does not need', () => {
  const [node] = [{ name: 'm', capacity: { cpuThreads: 8, memoryMB: 10_000, gpus: 2, gpuMemoryMB: 16_000 } }];
  const running = [{ node: 'm', resources: { cpuThreads: 2, memoryMB: 1000, gpus: 1 }, placement: { gpuIds: [0] } }];
  const plan = planPass([
    { id: 'two-gpus', priority: 0, resources: { cpuThreads: 2, memoryMB: 1000, gpus: 2 }, waitedMs: 0 },
    { id: 'one-gpu', priority: 0, resources: { cpuThreads: 1, memoryMB: 1000, gpus: 1 }, waitedMs: 0 },
    { id: 'cpu', priority: 0, resources: { cpuThreads: 2, memoryMB: 1000 }, waitedMs: 0 },
  ], poolStates([node], running), 0, { reserveAfterMs: 0 });
  assert.deepEqual(plan.reservations.map((r) => [r.id, r.at]), [['two-gpus', Infinity]]);
  assert.deepEqual(plan.starts.map((s) => s.id), ['cpu'], 'the CPU job takes threads the reserved job does not need; the GPU job would delay it');
});

test('planPass: before reserveAfterMs plain backfill; a blocked job without a reservation stops lower priorities', () => {
  const nodes = [gpuNode('a')];
  const running = [{ node: 'a', resources: gpus(6), placement: { gpuIds: [0, 1, 2, 3, 4, 5] }, endsAt: 10_000 }];
  const queue = [job('big', 8, { priority: 1 }), job('same', 2, { priority: 1, durationMs: 90_000 }), job('lower', 1, { priority: 0 })];
  const young = planPass(queue, poolStates(nodes, running), 0, { reserveAfterMs: 60_000 });
  assert.deepEqual(young.starts.map((s) => s.id), ['same']);
  assert.deepEqual(young.reservations, []);
  const old = planPass(queue.map((j) => ({ ...j, waitedMs: 60_000 })), poolStates(nodes, running), 0, { reserveAfterMs: 60_000 });
  assert.deepEqual(old.starts, [], 'big reserved the node at 10 s: nothing else fits without delaying it');
  assert.equal(old.reservations[0].id, 'big');
});

test('planPass: a job bound to a node runs only there', () => {
  const plan = planPass([job('bound', 1, { nodes: ['b'] }), job('free', 1)], poolStates([gpuNode('a'), gpuNode('b')], []), 0, { reserveAfterMs: 0 });
  assert.deepEqual(plan.starts.map((s) => [s.id, s.node]), [['bound', 1], ['free', 1]], 'free packs beside bound (best fit)');
});

test('fairOrder: the least served group goes first, whatever the number means', () => {
  const j = (id: string, experimentId: string, seq: number, priority = 0) => ({ id, experimentId, seq, priority });
  const q = [j('a1', 'a', 1), j('a2', 'a', 2), j('b1', 'b', 3), j('b2', 'b', 4), j('c1', 'c', 5, 1)];
  assert.deepEqual(fairOrder(q, new Map([['a', 500], ['b', 20]])).map((x) => x.id), ['c1', 'b1', 'a1', 'b2', 'a2']);
});

test('agedFirst: within a priority, jobs waiting ageMs or more go first, longest waiting first; the rest keep the fair order', () => {
  const j = (id: string, waited: number, priority = 0) => ({ id, experimentId: 'e', seq: 0, priority, waited });
  const fair = [j('p1', 10, 1), j('p1-old', 900, 1), j('a', 50), j('b', 700), j('c', 100), j('d', 800)];
  assert.deepEqual(agedFirst(fair, (x) => x.waited, 600).map((x) => x.id), ['p1-old', 'p1', 'd', 'b', 'a', 'c'], 'an aged job never passes a higher priority');
  assert.deepEqual(agedFirst(fair, (x) => x.waited, Infinity).map((x) => x.id), fair.map((x) => x.id), 'no aging: the order as given');
  // the aged 8-GPU job's reservation comes first: it gets the node that frees first, not the younger job ahead of it in fair order
  const running = [
    { node: 'a', resources: gpus(8), placement: { gpuIds: [0, 1, 2, 3, 4, 5, 6, 7] }, endsAt: 10_000 },
    { node: 'b', resources: gpus(8), placement: { gpuIds: [0, 1, 2, 3, 4, 5, 6, 7] }, endsAt: 50_000 },
  ];
  const queue = [job('young', 8, { waitedMs: 1000 }), job('old', 8, { waitedMs: 7 * 3_600_000 })];
  const before = planPass(queue, poolStates([gpuNode('a'), gpuNode('b')], running), 0, { reserveAfterMs: 0 });
  assert.deepEqual(before.reservations.map((r) => [r.id, r.at]), [['young', 10_000], ['old', 50_000]]);
  const aged = planPass(agedFirst(queue, (x) => x.waitedMs, 6 * 3_600_000), poolStates([gpuNode('a'), gpuNode('b')], running), 0, { reserveAfterMs: 0 });
  assert.deepEqual(aged.reservations.map((r) => [r.id, r.at]), [['old', 10_000], ['young', 50_000]]);
});
