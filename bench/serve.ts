/**
 * npm run bench:serve — llama.cpp (node-llama-cpp 3.21.1, CPU, 1 thread) serving a ~25M-parameter model exported
 * by modelfab, as F32 and F16 GGUF: prefill tokens/s (a 256-token prompt) and greedy generation tokens/s; beside it,
 * the engine's own generation speed (src/engine/generate.ts, 1-thread gemm) for the same model.
 *
 * Model: vocab 2048 (a BPE tokenizer trained on the demo corpus), hidden 512, 8 layers, 8 heads / 4 KV heads,
 * FFN 1408, untied output (~25.6M parameters), random init. Flags: --gen N (tokens, default 64), --prompt N (256).
 * Prints a table, then one JSON line:
 *   {"bench":"serve","llama_gen_tok_s":…,"llama_prefill_tok_s":…,"engine_gen_tok_s":…, …F16 and extra figures}
 * (llama_gen_tok_s / llama_prefill_tok_s are the F32 file's, the same weights the engine runs.)
 * Both sides are counted alike (generationRates): the same prompt, greedy, the same budget and the same stop (the
 * end-of-turn token); prefill = prompt tokens / (the prompt's forward pass + the first token), generation = the
 * tokens made after the first / the time after it; each the mean of 2 runs. *_gen_tokens: tokens generated per run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaModel } from '../src/engine/llama-model.ts';
import { parameterCount, type LlamaConfig } from '../src/engine/config.ts';
import { createGemm, describeGemm } from '../src/engine/gemm/create-gemm.ts';
import { generate, generationRates, type GenerationTiming } from '../src/engine/generate.ts';
import { Rng } from '../src/engine/rng.ts';
import { trainBpe, CHATML_SPECIAL_TOKENS } from '../src/engine/tokenizer/tokenizer-exports.ts';
import { loadDemoCorpus } from '../src/demo/corpus.ts';
import { exportGgufModel, type GgufWeightType } from '../src/model-files/gguf-model.ts';
import { LlamaCppBackend } from '../src/serve/llama/llama-cpp.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const GEN = arg('gen', 64), PROMPT = arg('prompt', 256);

const tok = trainBpe(loadDemoCorpus().map((d) => d.text), { vocabSize: 2048, specialTokens: CHATML_SPECIAL_TOKENS, eos: '<|im_end|>', minFrequency: 1 });
const config: LlamaConfig = {
  vocabSize: tok.vocabSize, hiddenSize: 512, numLayers: 8, numHeads: 8, numKvHeads: 4, ffnSize: 1408,
  ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: 1024,
};
const model = LlamaModel.init(config, 1);
// a random prompt of ordinary tokens (no specials), the same for both engines
const rng = new Rng(7);
const prompt = Array.from({ length: PROMPT }, () => rng.int(1500));
const dir = mkdtempSync(join(tmpdir(), 'mf-bench-serve-'));
// Both sides stop at the end-of-turn token (llama.cpp always stops at an end-of-generation token) or at GEN tokens.
const STOP = [tok.eosId!];
const RUNS = 2;
async function runs(one: () => Promise<GenerationTiming>): Promise<GenerationTiming[]> {
  const out: GenerationTiming[] = [];
  for (let r = 0; r < RUNS; r++) out.push(await one());
  return out;
}
/** Mean rates over the runs, every run counted by generationRates; `generated` is the mean count per run. */
function mean(ts: GenerationTiming[]): { prefill: number; gen: number; generated: number } {
  const rates = ts.map(generationRates);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { prefill: avg(rates.map((r) => r.prefillTokS)), gen: avg(rates.map((r) => r.genTokS)), generated: avg(ts.map((t) => t.generated)) };
}
const rows: string[] = [];
const result: Record<string, number | string> = { bench: 'serve' };

try {
  for (const wt of ['F32', 'F16'] as GgufWeightType[]) {
    const path = join(dir, `bench-${wt}.gguf`);
    writeFileSync(path, exportGgufModel(model, tok, { weightType: wt }));
    const b = await LlamaCppBackend.load(path, { threads: 1, contextSize: 1024 });
    try {
      await b.generate(prompt.slice(0, 16), { maxTokens: 4 }); // warm-up
      const r = mean(await runs(async () => {
        const g = await b.generate(prompt, { maxTokens: GEN, stopIds: STOP });
        return { promptTokens: g.promptTokens, generated: g.ids.length, stopped: g.ids.length < GEN, prefillMs: g.prefillMs, decodeMs: g.decodeMs };
      }));
      const { prefill, gen } = r;
      rows.push(`llama.cpp ${wt.padEnd(4)} 1 thread   prefill ${prefill.toFixed(0).padStart(6)} tok/s   generation ${gen.toFixed(1).padStart(7)} tok/s`);
      const key = wt === 'F32' ? 'llama' : 'llama_f16';
      result[`${key}_gen_tok_s`] = +gen.toFixed(2);
      result[`${key}_prefill_tok_s`] = +prefill.toFixed(2);
      result[`${key}_gen_tokens`] = r.generated;
    } finally {
      await b.close();
    }
  }
  const gemm = await createGemm({ threads: 1 });
  const decode = (ids: number[]) => tok.decode(ids);
  generate(model, gemm, prompt.slice(0, 16), decode, { maxTokens: 4 }); // warm-up
  const e = mean(await runs(async () => {
    const g = generate(model, gemm, prompt, decode, { maxTokens: GEN, stopIds: STOP });
    return { promptTokens: g.promptTokens, generated: g.ids.length, stopped: g.ids.length < GEN, prefillMs: g.prefillMs, decodeMs: g.decodeMs };
  }));
  rows.push(`engine    F32  1 thread   prefill ${e.prefill.toFixed(0).padStart(6)} tok/s   generation ${e.gen.toFixed(1).padStart(7)} tok/s   (${describeGemm(gemm)})`);
  result.engine_gen_tok_s = +e.gen.toFixed(2);
  result.engine_prefill_tok_s = +e.prefill.toFixed(2);
  result.engine_gen_tokens = e.generated;
  result.params = parameterCount(config);
  result.prompt_tokens = prompt.length;
  result.gen_tokens = GEN;
  result.threads = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`model: ${(parameterCount(config) / 1e6).toFixed(1)}M parameters (vocab ${config.vocabSize}, hidden ${config.hiddenSize}, ${config.numLayers} layers), prompt ${prompt.length} tokens, at most ${GEN} generated (llama.cpp ${result.llama_gen_tokens}, engine ${result.engine_gen_tokens}); generation tok/s counts the tokens after the first, which the prefill makes`);
console.log(rows.join('\n'));
const ordered = { bench: result.bench, llama_gen_tok_s: result.llama_gen_tok_s, llama_prefill_tok_s: result.llama_prefill_tok_s, engine_gen_tok_s: result.engine_gen_tok_s, ...result };
console.log(JSON.stringify(ordered));
