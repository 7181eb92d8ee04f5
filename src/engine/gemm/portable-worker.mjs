/**
 * A worker thread of the portable gemm (portable.ts). Plain JavaScript so it runs the same with or without a
 * TypeScript loader (it is started with execArgv: []).
 *
 * It instantiates the kernel module on the shared memory, says 'ready', then loops: wait for its slot's
 * generation counter to move (spin briefly, then Atomics.wait), run the job described in its slot, publish
 * `done = generation`, notify. No messages on the hot path; only errors are posted (on `port`) so the
 * caller can read them synchronously with receiveMessageOnPort; 'ready' goes to parentPort.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { gemmBlock } from './gemm-kernel.mjs';

const { memory, module, slotByte, slotInts, cfg, spin, port } = workerData;
const S = Object.freeze({ GEN: 0, DONE: 1, STATUS: 2, QUIT: 3, ALIVE: 4, TA: 5, TB: 6, M: 7, N: 8, K: 9, A: 10, LDA: 11, B: 12, LDB: 13, C: 14, LDC: 15, WORK: 16, ALPHA: 17, BETA: 18 });

const ctrl = new Int32Array(memory.buffer, slotByte, slotInts);
const ctrlF = new Float32Array(memory.buffer, slotByte, slotInts);
let ex;
try {
  ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
} catch (e) {
  parentPort.postMessage({ ready: false, error: String(e && e.stack ? e.stack : e) });
  throw e;
}
// Read the generation before saying ready: the caller may post the first job as soon as it hears from us.
let seen = Atomics.load(ctrl, S.GEN);
Atomics.store(ctrl, S.ALIVE, 1);
parentPort.postMessage({ ready: true });
try {
  for (;;) {
    let g;
    for (let i = 0; (g = Atomics.load(ctrl, S.GEN)) === seen; i++) if (i >= spin) Atomics.wait(ctrl, S.GEN, seen);
    seen = g;
    if (Atomics.load(ctrl, S.QUIT)) break;
    let status = 0;
    try {
      const u = (i) => ctrl[i] >>> 0;
      gemmBlock(ex, cfg, ctrl[S.TA] !== 0, ctrl[S.TB] !== 0, ctrl[S.M], ctrl[S.N], ctrl[S.K], ctrlF[S.ALPHA],
        u(S.A), ctrl[S.LDA], u(S.B), ctrl[S.LDB], ctrlF[S.BETA], u(S.C), ctrl[S.LDC], u(S.WORK));
    } catch (e) {
      status = 1;
      port.postMessage({ error: String(e && e.stack ? e.stack : e) });
    }
    Atomics.store(ctrl, S.STATUS, status);
    Atomics.store(ctrl, S.DONE, g);
    Atomics.notify(ctrl, S.DONE);
  }
} finally {
  Atomics.store(ctrl, S.ALIVE, 0);
  Atomics.notify(ctrl, S.DONE);
}
