/**
 * A worker thread of the portable gemm (portable.ts). Plain JavaScript so it runs the same with or without a
 * TypeScript loader (it is started with execArgv: []).
 *
 * It instantiates the kernel module on the shared memory, says 'ready' (parentPort), then loops: wait for the
 * job generation to move (spin briefly, then Atomics.wait), claim and compute chunks of the job until none is
 * left (claimChunks in gemm-kernel.mjs), repeat. No messages on the hot path; an error sets ERR and is posted
 * on `port`, which the caller reads synchronously with receiveMessageOnPort.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CTRL, claimChunks } from './gemm-kernel.mjs';

const { memory, module, ctrlByte, slot, workByte, cfg, spin, port } = workerData;
const ctrl = new Int32Array(memory.buffer, ctrlByte, CTRL.INTS);
const ctrlF = new Float32Array(memory.buffer, ctrlByte, CTRL.INTS);
const claim = new BigInt64Array(memory.buffer, ctrlByte + CTRL.CLAIM_BYTE, 1);

let ex;
try {
  ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
} catch (e) {
  parentPort.postMessage({ ready: false, error: String(e && e.stack ? e.stack : e) });
  throw e;
}
let seen = Atomics.load(ctrl, CTRL.JOBGEN);
Atomics.store(ctrl, CTRL.ALIVE + slot, 1);
parentPort.postMessage({ ready: true });

try {
  for (;;) {
    let g;
    for (let i = 0; (g = Atomics.load(ctrl, CTRL.JOBGEN)) === seen; i++) if (i >= spin) Atomics.wait(ctrl, CTRL.JOBGEN, seen);
    seen = g;
    if (Atomics.load(ctrl, CTRL.QUIT)) break;
    try {
      claimChunks(ex, cfg, ctrl, ctrlF, claim, workByte, null);
    } catch (e) {
      port.postMessage({ error: String(e && e.stack ? e.stack : e) });
      Atomics.store(ctrl, CTRL.ERR, 1);
    }
  }
} finally {
  Atomics.store(ctrl, CTRL.ALIVE + slot, 0);
  Atomics.notify(ctrl, CTRL.DONE);
}
