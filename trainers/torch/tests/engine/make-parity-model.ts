/**
 * The engine's side of the parity tests: `node --import tsx make-parity-model.ts <outDir> <input.json>`.
 *
 * input.json: {texts: string[], chats: ChatMessage[][], seed: number}. Writes
 *   <outDir>/base/             a tiny random Llama exported by the engine as a Hugging Face folder (hf-folder.ts),
 *                              its tokenizer a byte-level BPE the engine trained, with ChatML and Llama 3 tokens
 *   <outDir>/model.gguf        the same model through the engine's GGUF writer (F32, gguf-model.ts)
 *   <outDir>/adapters/<kind>/  the engine's PEFT exports (peft.ts) of a LoRA (rsLoRA, every linear, random A and B),
 *                              a prompt-tuning and a prefix-tuning adapter (3 virtual tokens, random rows) over base
 *   <outDir>/engine-ids.json   {pretrain: ids per text, chats: {template: [{ids, labels}] per chat}}: what the
 *                              engine's tokenizer and chat templates make of the same records, and
 *                              logits: {ids, values}: the engine's forward over the first chat's ids (fp32, [T, V]),
 *                              adapterLogits: {<kind>: values}: the same forward with each adapter ([P + T, V] for
 *                              prompt tuning, whose soft rows come first; the engine numbers positions from 0)
 * so the Python side can check that it reads the same weights and builds the same token ids and labels.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlamaModel } from '../../../../src/engine/llama-model.ts';
import { Rng } from '../../../../src/engine/rng.ts';
import { createGemm } from '../../../../src/engine/gemm/create-gemm.ts';
import { encodeChat, trainBpe, type ChatMessage, type ChatTemplateName } from '../../../../src/engine/tokenizer/tokenizer-exports.ts';
import { exportHfModel, writeModelFolder } from '../../../../src/model-files/hf-folder.ts';
import { exportPeftLora, exportPeftPromptLearning } from '../../../../src/model-files/peft.ts';
import { exportGgufModel } from '../../../../src/model-files/gguf-model.ts';
import { CHAT_TEMPLATES } from '../../../../src/engine/tokenizer/tokenizer-exports.ts';
import type { MethodSpec } from '../../../../src/engine/methods.ts';

const [outDir, inputPath] = process.argv.slice(2);
if (!outDir || !inputPath) throw new Error('usage: make-parity-model.ts <outDir> <input.json>');
const input = JSON.parse(readFileSync(inputPath, 'utf8')) as { texts: string[]; chats: ChatMessage[][]; seed: number };

const specials = [
  '<|endoftext|>', '<|im_start|>', '<|im_end|>',
  '<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>',
];
const corpus = [...input.texts, ...input.chats.flatMap((c) => c.map((m) => m.content))];
const tokenizer = trainBpe(corpus, { vocabSize: 420, specialTokens: specials, eos: '<|im_end|>', pad: '<|endoftext|>', minFrequency: 2 });
const model = LlamaModel.init({
  vocabSize: tokenizer.vocabSize, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64,
  ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: 256,
}, input.seed);
mkdirSync(outDir, { recursive: true });
writeModelFolder(join(outDir, 'base'), exportHfModel(model, tokenizer));
writeFileSync(join(outDir, 'model.gguf'), exportGgufModel(model, tokenizer, { weightType: 'F32', chatTemplate: CHAT_TEMPLATES.chatml.jinja }));

const templates: ChatTemplateName[] = ['chatml', 'qwen2', 'llama3'];
const chats = Object.fromEntries(templates.map((t) => [t, input.chats.map((c) => encodeChat(tokenizer, c, { template: t }))]));
const pretrain = input.texts.map((t) => tokenizer.encode(t));
const gemm = await createGemm({ threads: 1 });
const ids = Int32Array.from(chats.chatml[0].ids);
const logits = model.forward({ gemm, tape: null, rng: new Rng(0), training: false }, ids, 1).logits;

// The same base with each PEFT method, its tensors drawn far from zero so that a misread layout shows in the logits.
const adapterLogits: Record<string, number[]> = {};
const methods: Array<[string, MethodSpec]> = [
  ['lora', { type: 'lora', rank: 4, alpha: 8, targets: ['all'], rslora: true }],
  ['prompt', { type: 'prompt', numVirtualTokens: 3 }],
  ['prefix', { type: 'prefix', numVirtualTokens: 3 }],
];
for (const [kind, spec] of methods) {
  const m = LlamaModel.fromTensors(model.config, new Map([...model.params].map(([n, t]) => [n, t.data])));
  m.applyMethod(spec, input.seed + 1);
  const rng = new Rng(input.seed + 2);
  for (const t of m.methodTensors()) for (let i = 0; i < t.size; i++) t.data[i] = rng.normal() * 0.3;
  writeModelFolder(join(outDir, 'adapters', kind), kind === 'lora' ? exportPeftLora(m) : exportPeftPromptLearning(m));
  adapterLogits[kind] = [...m.forward({ gemm, tape: null, rng: new Rng(0), training: false }, ids, 1).logits.data];
}
gemm.close();
writeFileSync(join(outDir, 'engine-ids.json'), JSON.stringify({
  pretrain, chats, vocabSize: tokenizer.vocabSize, logits: { ids: [...ids], values: [...logits.data] }, adapterLogits,
}));
