/**
 * Child-process side of probeGguf (probe.ts): loads a model (and adapters) with node-llama-cpp, evaluates one token,
 * prints one JSON line and exits. llama.cpp may abort this process on a malformed file; that is the point.
 * Usage: node --import tsx probe-child.ts <model.gguf> [adapter.gguf ...]
 */
import type { Token } from 'node-llama-cpp';
import { getCpuLlama } from './llama-cpp.ts';

const [modelPath, ...adapters] = process.argv.slice(2);
try {
  const llama = await getCpuLlama();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const ctx = await model.createContext({
    contextSize: 64, threads: 1, sequences: 1, batchSize: 64,
    lora: adapters.length ? { adapters: adapters.map((filePath) => ({ filePath })) } : undefined,
  });
  const seq = ctx.getSequence();
  const ids = model.tokenize('a');
  await seq.evaluateWithoutGeneratingNewTokens(ids.length ? ids : [0 as Token]); // id 0 exists in every vocabulary
  process.stdout.write(JSON.stringify({ ok: true, trainContextSize: model.trainContextSize }) + '\n');
  await ctx.dispose();
  await model.dispose();
  process.exit(0);
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: String((e as Error)?.message ?? e) }) + '\n');
  process.exit(1);
}
