/** Shared fixtures of the engine tests: a tiny config that exercises every feature, and one spec per method. */
import type { LlamaConfig } from '../../src/engine/config.ts';
import type { MethodSpec } from '../../src/engine/methods.ts';

export const TINY: LlamaConfig = {
  vocabSize: 23, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 24,
  ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: true, contextLength: 32,
};

export const METHODS: Record<string, MethodSpec> = {
  full: { type: 'full' },
  freeze: { type: 'freeze', trainableLayers: 1, extraModules: ['output_norm'] },
  lora: { type: 'lora', rank: 3, alpha: 6, targets: ['q', 'v', 'down'] },
  rslora: { type: 'lora', rank: 4, alpha: 4, targets: ['all'], rslora: true },
  qlora: { type: 'qlora', rank: 2, alpha: 4, targets: ['q_proj', 'k_proj', 'o_proj'] },
  prefix: { type: 'prefix', numVirtualTokens: 3 },
  prompt: { type: 'prompt', numVirtualTokens: 2 },
};

