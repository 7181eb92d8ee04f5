/**
 * The llama.cpp backend's step barrier: every generating sequence asks for its next decode together, and the work
 * waiting for "after the next dispatch" runs then (or at once when nothing generates).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { StepBarrier } from '../../src/serve/llama/llama-serve-backend.ts';

test('sequences are released together once every generating one has parked', async () => {
  const b = new StepBarrier(10_000);
  b.start(); b.start(); b.start();
  const order: string[] = [];
  const a = b.step().then(() => order.push('a'));
  const c = b.step().then(() => order.push('c'));
  await tick();
  assert.equal(order.length, 0, 'two of three parked: nobody goes');
  const d = b.step().then(() => order.push('d'));
  await Promise.all([a, c, d]);
  assert.deepEqual(order, ['a', 'c', 'd']);
});

test('a sequence that stops releases the ones waiting for it; a slow one stalls the rest at most maxWaitMs', async () => {
  const b = new StepBarrier(30);
  b.start(); b.start();
  let released = false;
  const p = b.step().then(() => { released = true; });
  await tick();
  assert.equal(released, false);
  b.stop();
  await p;
  assert.equal(released, true);

  b.start();
  const t0 = performance.now();
  await b.step(); // one parked of two active: the timer lets it go
  assert.ok(performance.now() - t0 >= 25);
});

test('work waits for the next dispatch, runs at once when nothing generates, and can be withdrawn', async () => {
  const b = new StepBarrier();
  const ran: string[] = [];
  b.afterDispatch(() => ran.push('idle'));
  assert.deepEqual(ran, ['idle']);

  b.start();
  const f = () => ran.push('f');
  b.afterDispatch(f);
  b.afterDispatch(f); // not twice
  const g = () => ran.push('g');
  b.afterDispatch(g);
  b.cancel(g);
  assert.deepEqual(ran, ['idle']);
  let dispatched = false;
  b.dispatchSchedule(() => { dispatched = true; });
  await tick();
  assert.equal(dispatched, true);
  assert.deepEqual(ran, ['idle'], 'the waiting work runs a turn after the dispatch');
  await tick();
  assert.deepEqual(ran, ['idle', 'f']);

  b.afterDispatch(() => ran.push('last'));
  b.stop(); // the last generating sequence leaves: nothing will dispatch, so the work runs now
  assert.deepEqual(ran, ['idle', 'f', 'last']);
});
