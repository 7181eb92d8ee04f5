/**
 * The training-memory estimate against what a step really takes: the buffers of a LoRA step's pool (and the
 * checkpointed layers' scratch) on a small model, with and without checkpointing, on the plain and the chunked
 * loss, within 10%. Whole-process peaks at real sizes are measured by `npm run bench:scale`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { Tape, type Ctx } from '../../src/engine/tensor.ts';
import { Rng } from '../../src/engine/rng.ts';
import { BufferPool } from '../../src/engine/pool.ts';
import { referenceGemm } from '../../src/engine/gemm/reference.ts';
import { engineMemoryPlan, trainingMemory } from '../../src/engine/memory-estimate.ts';
import type { LlamaConfig } from '../../src/engine/config.ts';
import type { MethodSpec } from '../../src/engine/methods.ts';

const config: LlamaConfig = { vocabSize: 2000, hiddenSize: 64, numLayers: 3, numHeads: 8, numKvHeads: 2, ffnSize: 176, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: true, contextLength: 512 };

for (const checkpointing of [false, true]) {
  for (const chunkAbove of [Infinity, 0]) {
    test(`the estimate of a step's buffers is within 10% of the pool's (checkpointing ${checkpointing}, ${chunkAbove ? 'plain' : 'chunked'} loss)`, () => {
      const T = 96, m = LlamaModel.init(config, 1);
      const method: MethodSpec = { type: 'lora', rank: 8, alpha: 16, targets: ['q', 'k', 'v', 'o'] };
      m.applyMethod(method, 2);
      m.checkpointing = checkpointing; m.lossChunkAbove = chunkAbove;
      const pool = new BufferPool(), ids = Int32Array.from({ length: T }, (_, i) => (i * 7) % config.vocabSize);
      for (let s = 0; s < 2; s++) {
        const ctx: Ctx = { gemm: referenceGemm(), tape: new Tape(), rng: new Rng(0), training: true, pool };
        ctx.tape!.backward(m.forwardLoss(ctx, ids, 1, ids).loss);
        pool.release();
      }
      const measured = pool.bytes() + (m as unknown as { layerPool: BufferPool }).layerPool.bytes();
      const e = trainingMemory(config, method, { seqLen: T, batchSize: 1, checkpointing, lossChunkAbove: chunkAbove });
      // The chunked loss's tiles are 512 x 8192 at most: here smaller than the estimate's cap, so compare the layers.
      const estimated = e.activations + (chunkAbove ? e.loss : 0);
      const got = measured - (chunkAbove ? 0 : 2 * T * config.vocabSize * 4 + T * 4);
      assert.ok(Math.abs(estimated - got) / got < 0.1, `estimated ${estimated} bytes, measured ${got}`);
    });
  }
}

test('the memory plan: real sizes hold frozen matrices in bf16 and recompute layers; small models keep everything', () => {
  const q05: LlamaConfig = { vocabSize: 151936, hiddenSize: 896, numLayers: 24, numHeads: 14, numKvHeads: 2, ffnSize: 4864, ropeBase: 1e6, rmsEps: 1e-6, tieEmbeddings: true, qkvBias: true, contextLength: 32768 };
  assert.deepEqual(engineMemoryPlan(q05, { type: 'lora', rank: 16, alpha: 32 }), { halfBase: true, checkpointing: true });
  assert.deepEqual(engineMemoryPlan(q05, { type: 'full' }), { halfBase: false, checkpointing: true });
  assert.deepEqual(engineMemoryPlan(config, { type: 'lora', rank: 16, alpha: 32 }), { halfBase: false, checkpointing: false });
  const lora = trainingMemory(q05, { type: 'lora', rank: 16, alpha: 32, targets: ['q', 'k', 'v', 'o'] }, { seqLen: 512, batchSize: 1, halfBase: true, checkpointing: true });
  const full = trainingMemory(q05, { type: 'full' }, { seqLen: 512, batchSize: 1, lossChunkAbove: Infinity });
  assert.ok(lora.weights < 0.55 * full.weights && lora.activations < full.activations / 5 && lora.loss < full.loss / 4);
});
