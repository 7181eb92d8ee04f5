/**
 * Fixtures of the gateway tests: small engine model folders made in the test (a random Llama-family model over the
 * shared trained BPE tokenizer, ChatML), a LoRA adapter folder over it, and a prefix-tuned one (engine-only).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { saveAdapter, saveModel } from '../../src/engine/io.ts';
import { randomizeLora, randomModel, shapeConfig, testTokenizer } from '../model-files/model-fixtures.ts';

export interface GatewayFixture { base: string; lora: string; prefix: string }

export function makeModels(dir: string, over: Parameters<typeof shapeConfig>[1] = {}): GatewayFixture {
  const tok = testTokenizer();
  const config = shapeConfig(tok.vocabSize, { contextLength: 512, ...over });
  const m = randomModel(config, 21, 0.08);
  const base = join(dir, 'base');
  mkdirSync(base, { recursive: true });
  saveModel(base, m, tok, { chatTemplate: 'chatml' });
  const l = LlamaModel.fromTensors(config, new Map([...m.params].map(([n, t]) => [n, t.data.slice()])));
  l.applyMethod({ type: 'lora', rank: 4, alpha: 8, targets: ['attn_q', 'attn_v'] }, 1);
  randomizeLora(l, 5, 0.3);
  const lora = join(dir, 'lora');
  saveAdapter(lora, l, base);
  const p = LlamaModel.fromTensors(config, new Map([...m.params].map(([n, t]) => [n, t.data.slice()])));
  p.applyMethod({ type: 'prefix', numVirtualTokens: 4 }, 1);
  const prefix = join(dir, 'prefix');
  saveAdapter(prefix, p, base);
  return { base, lora, prefix };
}
