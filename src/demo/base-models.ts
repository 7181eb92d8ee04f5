/**
 * The project's own base models: three small Llama-family models of different sizes and shapes, pretrained by the
 * factory itself (as pretraining jobs any user can watch) on the demo company's corpus, which the repository
 * ships. A fresh data folder gets them on first start; they are registered as soon as each job succeeds.
 * They live in demo/ because their data is the demo's: the factory only sees jobs and datasets, like any user's.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parameterCount, type LlamaConfig } from '../engine/config.ts';
import { trainBpe, CHATML_SPECIAL_TOKENS } from '../engine/tokenizer/tokenizer-exports.ts';
import { demoPretrainText } from './corpus.ts';
import { supportQA } from './demo-datasets.ts';
import type { DataService } from '../data/data-service.ts';
import type { FactoryService } from '../factory/factory-service.ts';
import type { Hyperparameters } from '../factory/job-spec.ts';
import type { JobRecord } from '../factory/job-repository.ts';

export const CORPUS_DATASET = 'spruce-corpus';
export const BASE_VOCAB = 4096;

/** Three shapes: narrow and deep-ish, the middle one with GQA, a wider Qwen2-style one with QKV bias and an untied output. */
export const BASE_MODELS: ReadonlyArray<{ name: string; config: Omit<LlamaConfig, 'vocabSize'>; steps: number }> = [
  { name: 'spruce-s', steps: 140, config: { hiddenSize: 128, numLayers: 4, numHeads: 4, numKvHeads: 2, ffnSize: 352, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 256 } },
  { name: 'spruce-m', steps: 120, config: { hiddenSize: 192, numLayers: 4, numHeads: 6, numKvHeads: 2, ffnSize: 512, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 256 } },
  { name: 'spruce-l', steps: 100, config: { hiddenSize: 256, numLayers: 3, numHeads: 8, numKvHeads: 4, ffnSize: 688, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: true, contextLength: 256 } },
];

export const PRETRAIN_HYPER = (steps: number): Hyperparameters => ({
  batchSize: 16, seqLen: 128, lr: 3e-3, maxSteps: steps, warmupSteps: 20, schedule: 'cosine', minLrRatio: 0.1, weightDecay: 0.1,
  maxGradNorm: 1, evalEvery: steps, checkpointEvery: 40,
});

/**
 * Makes sure the base models exist or are being made: writes the corpus dataset and the shared tokenizer once,
 * then submits a pretraining job for each base that is neither registered nor already queued or running.
 * Returns the jobs submitted now or still in flight.
 */
export async function ensureBaseModels(o: { factory: FactoryService; data: DataService; dataDir: string; seed?: number; quick?: boolean }): Promise<JobRecord[]> {
  const { factory, data, dataDir } = o;
  const seed = o.seed ?? 0;
  const models = (o.quick ? BASE_MODELS.slice(0, 1) : BASE_MODELS);
  const inFlight = (await factory.listJobs({ experimentId: 'base-models', limit: 100 })).data.filter((j) => ['queued', 'running', 'paused', 'validating_files'].includes(j.status));
  const missing: typeof models[number][] = [];
  for (const m of models) {
    if (await factory.catalogGet(m.name)) continue;
    if (inFlight.some((j) => j.spec.name.startsWith(`${m.name} `))) continue;
    missing.push(m);
  }
  if (missing.length === 0) return inFlight;
  const dir = join(dataDir, 'bases');
  mkdirSync(dir, { recursive: true });
  const corpusFile = join(dir, 'corpus.jsonl');
  const tokFile = join(dir, 'tokenizer.json');
  let text: string | null = null;
  if (!existsSync(corpusFile)) {
    text = demoPretrainText(seed, o.quick ? 100_000 : 900_000);
    // One record per paragraph group of ~2 KB, so the split and the windows see whole documents.
    const docs: string[] = [];
    let cur = '';
    for (const para of text.split(/\n{2,}/)) {
      cur += (cur ? '\n\n' : '') + para;
      if (cur.length > 2000) { docs.push(cur); cur = ''; }
    }
    if (cur) docs.push(cur);
    writeFileSync(corpusFile, docs.map((d) => JSON.stringify({ text: d })).join('\n') + '\n');
  }
  try { await data.getDataset(CORPUS_DATASET); } catch {
    await data.importDataset({ name: CORPUS_DATASET, source: { path: corpusFile }, stage: 'pretrain', validationSplit: 0.05, seed });
  }
  if (!existsSync(tokFile)) {
    text ??= (await data.records(CORPUS_DATASET)).records.map((r) => (r as { text: string }).text).join('\n\n');
    const chats = supportQA(seed).train.map((r) => r.messages.map((m) => m.content).join('\n'));
    const tok = trainBpe([text, ...chats], { vocabSize: o.quick ? 1024 : BASE_VOCAB, specialTokens: [...CHATML_SPECIAL_TOKENS], eos: '<|im_end|>', pad: '<|endoftext|>' } as Parameters<typeof trainBpe>[1]);
    writeFileSync(tokFile, JSON.stringify(tok.toJSON()));
  }
  const submitted: JobRecord[] = [...inFlight];
  // Longest first (by parameters x steps): the scheduler starts jobs in submission order, so the longest job does
  // not start last and leave a core idle at the end.
  const work = (m: typeof missing[number]) => parameterCount({ ...m.config, vocabSize: BASE_VOCAB }) * m.steps;
  for (const m of [...missing].sort((a, b) => work(b) - work(a))) {
    const steps = o.quick ? 20 : m.steps;
    const config: LlamaConfig = { ...m.config, vocabSize: o.quick ? 1024 : BASE_VOCAB, ...(o.quick ? { hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 160 } : {}) };
    submitted.push(await factory.createPretrainJob({ name: m.name, config, tokenizerPath: tokFile, dataset: CORPUS_DATASET, hyperparameters: { ...PRETRAIN_HYPER(steps), ...(o.quick ? { seqLen: 64, batchSize: 8, evalEvery: steps, checkpointEvery: 10 } : {}) }, seed: seed + 1 }));
  }
  return submitted;
}
