/**
 * The demo pipeline (the README's main job, until the factory of issue 5 takes over): from the repository alone,
 *   1. write the demo company's corpus (hand-written + generated) and its fine-tuning datasets,
 *   2. train a byte-level BPE tokenizer on it,
 *   3. pretrain a small Llama-family base model, and compare its validation perplexity with a unigram model's,
 *   4. fine-tune the base on the customer-support chats with several methods, each scored by its validation loss
 *      on assistant tokens before and after, with sample answers,
 * and write everything (tokenizer, models, adapters, metrics, a summary) under the output folder.
 * Progress goes through a Reporter so the CLI can draw bars and tests can stay quiet.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { demoPretrainText } from './corpus.ts';
import { supportQA, writeDemoDatasets } from './datasets.ts';
import { LlamaModel } from '../engine/model.ts';
import { parameterCount, type LlamaConfig } from '../engine/config.ts';
import type { MethodSpec } from '../engine/methods.ts';
import { train, evaluate, type TrainConfig } from '../engine/train.ts';
import { pretrainExamples, sftExamples, type Example } from '../engine/examples.ts';
import { generate } from '../engine/generate.ts';
import { saveAdapter, saveModel, loadModel } from '../engine/io.ts';
import { trainBpe, encodeChat, chatStopIds, CHATML_SPECIAL_TOKENS, type Tokenizer, type ChatMessage } from '../engine/tokenizer/index.ts';
import type { Gemm } from '../engine/gemm/types.ts';
import type { MetricsRecord } from '../engine/metrics.ts';

export interface Reporter {
  line(text: string): void;
  /** A run of `total` steps; `update` is called after each step with its metrics. */
  run(label: string, total: number): { update(m: MetricsRecord): void; done(): void };
}

export interface DemoOptions {
  outDir: string;
  gemm: Gemm;
  reporter: Reporter;
  seed?: number;
  /** A much smaller run (tests, smoke checks): fewer steps and less text. */
  quick?: boolean;
}

export interface MethodResult {
  method: string;
  trainable: number;
  steps: number;
  evalBefore: number;
  evalAfter: number;
  seconds: number;
  tokensPerS: number;
  sample: { question: string; expected: string; answer: string };
  dir: string;
}

export interface DemoResult {
  outDir: string;
  tokenizer: { vocabSize: number; charsPerToken: number };
  base: { dir: string; params: number; steps: number; valPerplexity: number; unigramPerplexity: number; seconds: number; tokensPerS: number };
  methods: MethodResult[];
  seconds: number;
}

export const DEMO_BASE_CONFIG = (vocabSize: number): LlamaConfig => ({
  vocabSize, hiddenSize: 192, numLayers: 4, numHeads: 6, numKvHeads: 2, ffnSize: 512,
  ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 256,
});

export const DEMO_METHODS: Record<string, { spec: MethodSpec; lr: number }> = {
  full: { spec: { type: 'full' }, lr: 1e-3 },
  lora: { spec: { type: 'lora', rank: 16, alpha: 32, targets: ['all'] }, lr: 3e-3 },
  prefix: { spec: { type: 'prefix', numVirtualTokens: 16 }, lr: 1e-2 },
};

/** Perplexity of a unigram model (token frequencies of the training split, add-one smoothed) on the validation split. */
export function unigramPerplexity(trainIds: ArrayLike<number>, valIds: ArrayLike<number>, vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  for (let i = 0; i < trainIds.length; i++) counts[trainIds[i]]++;
  const total = trainIds.length + vocabSize;
  let nll = 0;
  for (let i = 0; i < valIds.length; i++) nll -= Math.log(counts[valIds[i]] / total);
  return Math.exp(nll / valIds.length);
}

function chatOf(messages: ChatMessage[]): ChatMessage[] {
  return messages.map((m) => ({ role: m.role, content: m.content }));
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const seed = opts.seed ?? 0, quick = opts.quick ?? false, rep = opts.reporter, gemm = opts.gemm;
  const out = resolve(opts.outDir);
  mkdirSync(out, { recursive: true });

  // 1. Corpus and datasets.
  const text = demoPretrainText(seed, quick ? 150_000 : 900_000);
  writeFileSync(join(out, 'corpus.txt'), text);
  const files = writeDemoDatasets(join(out, 'datasets'), seed);
  const support = supportQA(seed);
  rep.line(`[1/4] corpus: ${(Buffer.byteLength(text) / 1024).toFixed(0)} KB of company text; datasets in ${join(out, 'datasets')} (${Object.keys(files).length} files)`);

  // 2. Tokenizer.
  let t = performance.now();
  const tok: Tokenizer = trainBpe([text, ...support.train.map((r) => r.messages.map((m) => m.content).join('\n'))], {
    vocabSize: quick ? 1024 : 4096, specialTokens: [...CHATML_SPECIAL_TOKENS], eos: '<|im_end|>', pad: '<|endoftext|>',
  } as Parameters<typeof trainBpe>[1]);
  const ids = tok.encode(text);
  rep.line(`[2/4] tokenizer: byte-level BPE, ${tok.vocabSize} tokens, ${(text.length / ids.length).toFixed(2)} chars/token, trained in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  // 3. Pretraining.
  const seqLen = quick ? 64 : 128;
  // Every 20th window is held out, so validation covers the hand-written and the generated text alike.
  const windows = pretrainExamples(ids, seqLen);
  const trainEx = windows.filter((_, i) => i % 20 !== 7), valEx = windows.filter((_, i) => i % 20 === 7);
  const config = quick ? { ...DEMO_BASE_CONFIG(tok.vocabSize), hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 160 } : DEMO_BASE_CONFIG(tok.vocabSize);
  const base = LlamaModel.init(config, seed + 1);
  const params = parameterCount(config);
  const baseDir = join(out, 'models', 'spruce-base');
  const preCfg: TrainConfig = {
    batchSize: 16, maxSteps: quick ? 40 : 360, lr: 3e-3, warmupSteps: quick ? 4 : 30, schedule: 'cosine', minLrRatio: 0.1,
    weightDecay: 0.1, maxGradNorm: 1, evalEvery: quick ? 20 : 120, seed, padId: tok.padId ?? 0, checkpointEvery: quick ? 0 : 120, keepCheckpoints: 1,
  };
  rep.line(`[3/4] pretraining spruce-base: ${(params / 1e6).toFixed(2)}M parameters (hidden ${config.hiddenSize}, ${config.numLayers} layers, ${config.numHeads}/${config.numKvHeads} heads, FFN ${config.ffnSize}), ${trainEx.length} windows of ${seqLen} tokens`);
  t = performance.now();
  let bar = rep.run('pretrain', preCfg.maxSteps!);
  const pre = await train({ model: base, train: trainEx, val: valEx, gemm, config: preCfg, outDir: join(out, 'runs', 'pretrain'), onMetrics: (m) => bar.update(m) });
  bar.done();
  const preSeconds = (performance.now() - t) / 1000;
  const valPpl = Math.exp(pre.evalLoss ?? evaluate(base, gemm, valEx, 16, preCfg.padId));
  const flat = (ex: Example[]) => ex.flatMap((e) => [...e.labels]);
  const uniPpl = unigramPerplexity(flat(trainEx), flat(valEx), tok.vocabSize);
  saveModel(baseDir, base, tok, { chatTemplate: 'chatml', meta: { steps: pre.steps, valPerplexity: valPpl, unigramPerplexity: uniPpl } });
  rep.line(`      validation perplexity ${valPpl.toFixed(1)} (a unigram model: ${uniPpl.toFixed(1)}), ${pre.tokensPerS.toFixed(0)} tokens/s`);

  // 4. Fine-tuning with each method, from the same base.
  const encode = (m: readonly ChatMessage[]) => encodeChat(tok, m);
  const sftTrain = sftExamples(encode, support.train.map((r) => chatOf(r.messages)), 128);
  const sftVal: Example[] = sftExamples(encode, support.val.map((r) => chatOf(r.messages)), 128);
  rep.line(`[4/4] fine-tuning on customer-support chats: ${sftTrain.length} train / ${sftVal.length} validation, methods ${Object.keys(DEMO_METHODS).join(', ')}`);
  const methods: MethodResult[] = [];
  const probe = support.val[0].messages;
  for (const [name, { spec, lr }] of Object.entries(DEMO_METHODS)) {
    const { model } = loadModel(baseDir);
    model.applyMethod(spec, seed + 2);
    const before = evaluate(model, gemm, sftVal, 16, preCfg.padId);
    const sftCfg: TrainConfig = {
      batchSize: 16, epochs: quick ? 1 : 2, lr, warmupRatio: 0.05, schedule: 'cosine', minLrRatio: 0.1, weightDecay: 0,
      maxGradNorm: 1, evalEvery: 0, seed, padId: preCfg.padId, keepCheckpoints: 1,
    };
    t = performance.now();
    const runDir = join(out, 'runs', `sft-${name}`);
    bar = rep.run(`sft ${name}`, Math.max(1, Math.floor(sftTrain.length / 16)) * (sftCfg.epochs ?? 1));
    const r = await train({ model, train: sftTrain, gemm, config: sftCfg, outDir: runDir, onMetrics: (m) => bar.update(m) });
    bar.done();
    const after = evaluate(model, gemm, sftVal, 16, preCfg.padId);
    const dir = join(out, 'models', `spruce-support-${name}`);
    if (spec.type === 'full' || spec.type === 'freeze') saveModel(dir, model, tok, { chatTemplate: 'chatml', meta: { evalBefore: before, evalAfter: after } });
    else saveAdapter(dir, model, baseDir, { chatTemplate: 'chatml', meta: { evalBefore: before, evalAfter: after } });
    const prompt = encodeChat(tok, probe.slice(0, -1).map((m) => ({ role: m.role, content: m.content })), { addGenerationPrompt: true }).ids;
    const ans = generate(model, gemm, prompt, (x) => tok.decode(x), { maxTokens: 60, stopIds: chatStopIds(tok) });
    const trainable = model.trainableParams().reduce((n, p) => n + p.size, 0);
    methods.push({
      method: name, trainable, steps: r.steps, evalBefore: before, evalAfter: after, seconds: (performance.now() - t) / 1000,
      tokensPerS: r.tokensPerS, dir,
      sample: { question: probe[probe.length - 2].content, expected: probe[probe.length - 1].content, answer: ans.text.trim() },
    });
    rep.line(`      ${name.padEnd(7)} eval loss ${before.toFixed(3)} -> ${after.toFixed(3)}  (${trainable.toLocaleString('en-US')} trainable, ${r.steps} steps, ${((performance.now() - t) / 1000).toFixed(0)} s)`);
  }
  const result: DemoResult = {
    outDir: out,
    tokenizer: { vocabSize: tok.vocabSize, charsPerToken: text.length / ids.length },
    base: { dir: baseDir, params, steps: pre.steps, valPerplexity: valPpl, unigramPerplexity: uniPpl, seconds: preSeconds, tokensPerS: pre.tokensPerS },
    methods, seconds: (performance.now() - t0) / 1000,
  };
  writeFileSync(join(out, 'summary.json'), JSON.stringify(result, null, 2));
  return result;
}
