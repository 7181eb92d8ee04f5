/**
 * llama.cpp (node-llama-cpp 3.21.1, CPU, 1 thread) against the engine on exported models: next-token probability
 * parity for several shapes and weight types, with and without LoRA (scales 1 and 0.5), merged LoRA, the
 * dequantizers (Q4_0 / Q4_K / Q6_K files run by llama.cpp against the engine on our dequantized weights), the Qwen2
 * (NEOX RoPE, HF row order) architecture, tokenizer ids, log-likelihoods, greedy generation, adapter versions, and
 * malformed files rejected before llama.cpp sees them with the process alive.
 * Figures are printed (console.log) for the report.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { generate } from '../../src/engine/generate.ts';
import {
  exportGgufLora, exportGgufModel, importGgufModel, importGgufLora, applyLoraAdapter, type GgufWeightType, type GgufLoraAdapter,
} from '../../src/model-files/gguf-model.ts';
import { decodeGguf, gv, GGML_TYPE, type GgufKV } from '../../src/formats/gguf.ts';
import { quantize } from '../../src/formats/gguf-quants.ts';
import { engineToHfName, ModelFileError, ropeHeads } from '../../src/model-files/llama-layout.ts';
import { exportHfModel } from '../../src/model-files/hf-folder.ts';
import { exportPeftLora } from '../../src/model-files/peft.ts';
import { decodeSafetensors, tensorToF32 } from '../../src/formats/safetensors.ts';
import { LlamaCppBackend, writeAdapterVersion } from '../../src/serve/llama/llama-cpp.ts';
import { probeGguf } from '../../src/serve/llama/probe.ts';
import { CHAT_TEMPLATES, CHATML_SPECIAL_TOKENS, trainBpe } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import {
  CORPUS, engineProbs, maxAbsDiff, randomizeLora, randomModel, rewriteGguf, shapes, testGemm, testTokenizer, trainBriefly, TEXTS,
} from '../model-files/model-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'mf-serve-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tok = testTokenizer();
const SHAPES = shapes(tok.vocabSize);
const PROMPTS = [tok.encode(TEXTS.english).slice(0, 10), tok.encode(TEXTS.code).slice(0, 17), tok.encode(TEXTS.chinese).slice(0, 6)];
let fileNo = 0;
const write = (bytes: Uint8Array, name = 'm') => { const p = join(dir, `${name}-${fileNo++}.gguf`); writeFileSync(p, bytes); return p; };

async function parity(b: LlamaCppBackend, m: LlamaModel): Promise<number> {
  let worst = 0;
  for (const ids of PROMPTS) worst = Math.max(worst, maxAbsDiff(await b.nextTokenProbs(ids), await engineProbs(m, ids)));
  return worst;
}

function withAdapters(base: LlamaModel, list: Array<{ adapter: GgufLoraAdapter; scale: number }>): LlamaModel {
  const m = LlamaModel.fromTensors(base.config, new Map([...base.params].map(([n, t]) => [n, t.data])));
  const merged: GgufLoraAdapter = { arch: 'llama', alpha: list[0].adapter.alpha, rank: list[0].adapter.rank, pairs: new Map() };
  for (const { adapter } of list) for (const [n, p] of adapter.pairs) merged.pairs.set(n, p);
  applyLoraAdapter(m, merged);
  for (const { adapter, scale } of list) for (const n of adapter.pairs.keys()) m.lora.get(n)!.scale = (adapter.alpha / adapter.rank) * scale;
  return m;
}

test('parity: F32 / F16 / Q8_0 exports of random and trained models, several shapes', async () => {
  const rows: string[] = [];
  for (const [shape, c] of Object.entries(SHAPES)) {
    const models: Array<[string, LlamaModel]> = [['random', randomModel(c, 11)]];
    if (shape === 'gqa' || shape === 'qkv_bias') {
      const t = LlamaModel.init(c, 5);
      const loss = await trainBriefly(t, tok);
      models.push([`trained(loss ${loss.toFixed(2)})`, t]);
    }
    for (const [kind, m] of models) {
      for (const wt of ['F32', 'F16', 'Q8_0'] as GgufWeightType[]) {
        const bytes = exportGgufModel(m, tok, { weightType: wt });
        const b = await LlamaCppBackend.load(write(bytes), { threads: 1 });
        try {
          const vsF32 = await parity(b, m);
          const deq = LlamaModel.fromTensors(c, importGgufModel(bytes).tensors);
          const vsDeq = await parity(b, deq);
          rows.push(`${shape} ${kind} ${wt}: max|dp| vs engine F32 ${vsF32.toExponential(2)}, vs engine on the file's weights ${vsDeq.toExponential(2)}`);
          if (wt === 'F32') assert.ok(vsF32 <= 1e-3, `${shape} ${kind} F32 parity ${vsF32}`);
          else assert.ok(vsDeq <= 2e-2, `${shape} ${kind} ${wt} parity ${vsDeq}`);
        } finally {
          await b.close();
        }
      }
    }
  }
  console.log(rows.join('\n'));
});

test('parity: LoRA adapters at scales 1 and 0.5, two adapters at once, merged LoRA, adapter versions', async () => {
  const rows: string[] = [];
  for (const shape of ['gqa', 'qkv_bias'] as const) {
    const c = SHAPES[shape];
    const base = randomModel(c, 21);
    const basePath = write(exportGgufModel(base, tok), `base-${shape}`);
    const loraModel = (targets: string[], seed: number, trained: boolean) => {
      const m = LlamaModel.fromTensors(c, new Map([...base.params].map(([n, t]) => [n, t.data])));
      m.applyMethod({ type: 'lora', rank: 4, alpha: 8, targets }, seed);
      if (!trained) randomizeLora(m, seed);
      return m;
    };
    const m1 = loraModel(['all'], 1, false);
    const m2 = loraModel(['q', 'v'], 2, true);
    await trainBriefly(m2, tok, 20, 2e-2);
    const m3 = loraModel(['up', 'down'], 3, false);
    const a1 = writeAdapterVersion(dir, `lora-${shape}-all`, 1, exportGgufLora(m1));
    const a2 = writeAdapterVersion(dir, `lora-${shape}-qv`, 1, exportGgufLora(m2));
    const a3 = writeAdapterVersion(dir, `lora-${shape}-ffn`, 1, exportGgufLora(m3));
    const ad = (p: string) => importGgufLora(new Uint8Array(readFileSync(p)), c);
    const b = await LlamaCppBackend.load(basePath, { threads: 1 });
    try {
      rows.push(`${shape} no LoRA: ${(await parity(b, base)).toExponential(2)}`);
      for (const scale of [1, 0.5]) {
        for (const [label, path, m] of [['all-modules random', a1, m1], ['q,v trained', a2, m2]] as const) {
          await b.setAdapters([{ path, scale }]);
          const ref = withAdapters(base, [{ adapter: ad(path), scale }]);
          const d = await parity(b, ref);
          if (scale === 1) assert.ok(maxAbsDiff(await engineProbs(ref, PROMPTS[0]), await engineProbs(m, PROMPTS[0])) < 1e-6);
          rows.push(`${shape} LoRA ${label} scale ${scale}: ${d.toExponential(2)}`);
          assert.ok(d <= 1e-3, `${shape} ${label} scale ${scale}: ${d}`);
        }
      }
      await b.setAdapters([{ path: a2, scale: 1 }, { path: a3, scale: 0.5 }]);
      const two = await parity(b, withAdapters(base, [{ adapter: ad(a2), scale: 1 }, { adapter: ad(a3), scale: 0.5 }]));
      rows.push(`${shape} two adapters (q,v @1 + up,down @0.5): ${two.toExponential(2)}`);
      assert.ok(two <= 1e-3);
      // a new version of an adapter goes to a new file; switching to it changes the outputs accordingly
      randomizeLora(m1, 99);
      assert.throws(() => writeAdapterVersion(dir, `lora-${shape}-all`, 1, exportGgufLora(m1)), /different adapter/);
      const a1v2 = writeAdapterVersion(dir, `lora-${shape}-all`, 2, exportGgufLora(m1));
      await b.setAdapters([{ path: a1v2 }]);
      const v2 = await parity(b, m1);
      rows.push(`${shape} adapter version 2: ${v2.toExponential(2)}`);
      assert.ok(v2 <= 1e-3);
    } finally {
      await b.close();
    }
    const merged = await LlamaCppBackend.load(write(exportGgufModel(m1, tok, { lora: 'merge' })), { threads: 1 });
    try {
      const d = await parity(merged, m1);
      rows.push(`${shape} merged LoRA model: ${d.toExponential(2)}`);
      assert.ok(d <= 1e-3);
    } finally {
      await merged.close();
    }
  }
  console.log(rows.join('\n'));
});

test('dequantizers: BF16, Q4_0, Q4_K and Q6_K files run by llama.cpp match the engine on our dequantized weights', async () => {
  const c = { ...SHAPES.gqa, hiddenSize: 256, ffnSize: 512, numHeads: 4, numKvHeads: 2, numLayers: 1 };
  const m = randomModel(c, 31, 0.08);
  const rows: string[] = [];
  for (const wt of ['BF16', 'Q4_0', 'Q4_K', 'Q6_K'] as GgufWeightType[]) {
    const bytes = exportGgufModel(m, tok, { weightType: wt });
    const imported = importGgufModel(bytes);
    const deq = LlamaModel.fromTensors(c, imported.tensors);
    const b = await LlamaCppBackend.load(write(bytes), { threads: 1 });
    try {
      const d = await parity(b, deq), loose = await parity(b, m);
      rows.push(`${wt}: max|dp| vs engine on dequantized weights ${d.toExponential(2)} (vs original F32 weights ${loose.toExponential(2)})`);
      assert.ok(d <= 2e-2, `${wt}: ${d}`);
      assert.ok(d < loose || loose < 1e-3, `${wt}: the dequantized weights should explain llama.cpp's output better than the originals`);
    } finally {
      await b.close();
    }
  }
  console.log(rows.join('\n'));
});

test('HF layout checked by llama.cpp: our HF export (q/k and PEFT lora_B rows) run as a qwen2 (NEOX RoPE) GGUF equals the engine', async () => {
  const c = SHAPES.qkv_bias;
  const m = randomModel(c, 41);
  // the q/k weights and biases in this qwen2-architecture file are exactly those of our Hugging Face export
  const hf = decodeSafetensors(exportHfModel(m, tok).get('model.safetensors')!);
  const toQwen2 = (meta: Map<string, GgufKV>) => {
    const entries = [...meta].map(([k, v]) => [k.replace(/^llama\./, 'qwen2.'), k === 'general.architecture' ? gv.str('qwen2') : v] as const);
    meta.clear();
    for (const [k, v] of entries) meta.set(k, v);
  };
  const bytes = rewriteGguf(exportGgufModel(m, tok), (meta, tensors) => {
    toQwen2(meta);
    for (const t of tensors) {
      if (!ropeHeads(t.name, c)) continue;
      t.data = quantize(GGML_TYPE.F32, tensorToF32(hf.tensors.get(engineToHfName(t.name)!)!));
    }
  });
  const back = importGgufModel(bytes);
  for (const [n, t] of m.params) assert.deepEqual(back.tensors.get(n), t.data, n);
  // a LoRA adapter whose lora_A / lora_B are our PEFT export's tensors
  const lm = LlamaModel.fromTensors(c, new Map([...m.params].map(([n, t]) => [n, t.data])));
  lm.applyMethod({ type: 'lora', rank: 4, alpha: 8, targets: ['q', 'k', 'v'] }, 1);
  randomizeLora(lm, 5);
  const peft = decodeSafetensors(exportPeftLora(lm).get('adapter_model.safetensors')!);
  const adapter = rewriteGguf(exportGgufLora(lm), (meta, tensors) => {
    toQwen2(meta);
    for (const t of tensors) {
      const [, base, ab] = /^(.+)\.weight\.lora_([ab])$/.exec(t.name)!;
      const name = `base_model.model.${engineToHfName(`${base}.weight`)!.replace(/\.weight$/, '')}.lora_${ab.toUpperCase()}.weight`;
      t.data = quantize(GGML_TYPE.F32, tensorToF32(peft.tensors.get(name)!));
    }
  });
  const b = await LlamaCppBackend.load(write(bytes), { threads: 1 });
  try {
    const d = await parity(b, m);
    await b.setAdapters([{ path: write(adapter) }]);
    const dl = await parity(b, lm);
    console.log(`HF-layout weights as a qwen2-arch file: max|dp| ${d.toExponential(2)}; with the PEFT LoRA tensors: ${dl.toExponential(2)}`);
    assert.ok(d <= 1e-3, `qwen2 parity ${d}`);
    assert.ok(dl <= 1e-3, `qwen2 + PEFT LoRA parity ${dl}`);
  } finally {
    await b.close();
  }
});

test('tokenizer, log-likelihood and greedy generation agree with the engine', async () => {
  const c = SHAPES.gqa;
  const m = LlamaModel.init(c, 7);
  await trainBriefly(m, tok, 40, 1e-2);
  const b = await LlamaCppBackend.load(write(exportGgufModel(m, tok, { chatTemplate: CHAT_TEMPLATES.chatml.jinja })), { threads: 1 });
  try {
    for (const [k, text] of Object.entries(TEXTS)) assert.deepEqual(b.tokenize(text), tok.encode(text), k);
    const chat = '<|im_start|>user\nhi<|im_end|>\n';
    assert.deepEqual(b.tokenize(chat, true), tok.encode(chat, { allowSpecial: true }));
    assert.equal(b.detokenize(tok.encode(TEXTS.emoji)), TEXTS.emoji);
    for (const end of ['<|im_end|>', '<|endoftext|>']) assert.ok(b.isEndOfGeneration(tok.encode(end, { allowSpecial: true })[0]), end);
    assert.ok(!b.isEndOfGeneration(tok.encode('<|im_start|>', { allowSpecial: true })[0]));
    // per-choice log-likelihoods
    const ctxIds = tok.encode('The quick brown fox');
    const gemm = await testGemm();
    for (const choice of [' jumps over', ' sleeps', ' 今天']) {
      const cont = tok.encode(choice);
      const ll = await b.logLikelihood(ctxIds, cont);
      let ref = 0;
      for (let i = 0; i < cont.length; i++) ref += Math.log((await engineProbs(m, [...ctxIds, ...cont.slice(0, i)]))[cont[i]]);
      assert.ok(Math.abs(ll.logProb - ref) < 2e-3 * cont.length, `${choice}: ${ll.logProb} vs ${ref}`);
    }
    // greedy generation: same ids as the engine's generate()
    const prompt = tok.encode('Once upon a time');
    const g = await b.generate(prompt, { maxTokens: 16 });
    const e = generate(m, gemm, prompt, (ids) => tok.decode(ids), { maxTokens: 16 });
    assert.deepEqual(g.ids, e.ids);
    console.log(`greedy generation (${g.ids.length} tokens) identical: ${JSON.stringify(g.text)}`);
  } finally {
    await b.close();
  }
});

test('tokenizer ids agree for the llama3 and gpt2 pre-tokenizers too', async () => {
  for (const pre of ['llama3', 'gpt2'] as const) {
    const t = trainBpe(Array.from({ length: 4 }, () => CORPUS).flat(), { vocabSize: 300, specialTokens: CHATML_SPECIAL_TOKENS, eos: '<|im_end|>', pre });
    const m = randomModel({ ...SHAPES.gqa, vocabSize: t.vocabSize, numLayers: 1 }, 3);
    const b = await LlamaCppBackend.load(write(exportGgufModel(m, t)), { threads: 1 });
    try {
      for (const [k, text] of Object.entries({ ...TEXTS, mixed: "I'm   here\n\n  it's 2024!!  x" })) assert.deepEqual(b.tokenize(text), t.encode(text), `${pre} ${k}`);
    } finally {
      await b.close();
    }
  }
});

test('malformed models and adapters are rejected before llama.cpp reads them; the process stays alive', async () => {
  const c = SHAPES.gqa;
  const m = randomModel(c, 51);
  const good = exportGgufModel(m, tok);
  const goodPath = write(good);
  const expectCode = async (p: Promise<unknown>, code: string) => {
    await assert.rejects(p, (e: unknown) => e instanceof ModelFileError && e.code === code, `expected ${code}`);
  };
  await expectCode(LlamaCppBackend.load(write(good.subarray(0, good.length - 100))), 'BAD_FILE');
  await expectCode(LlamaCppBackend.load(write(good.subarray(0, 1000))), 'BAD_FILE');
  await expectCode(LlamaCppBackend.load(write(rewriteGguf(good, (meta) => meta.delete('llama.feed_forward_length')))), 'MISSING_KEY');
  await expectCode(LlamaCppBackend.load(write(rewriteGguf(good, (meta) => meta.set('llama.embedding_length', gv.u32(1 << 30))))), 'ABSURD_DIMENSION');
  await expectCode(LlamaCppBackend.load(write(rewriteGguf(good, (meta) => meta.set('llama.block_count', gv.u32(3))))), 'MISSING_TENSOR');
  await expectCode(LlamaCppBackend.load(join(dir, 'nope.gguf')), 'MISSING_FILE');

  const lm = LlamaModel.fromTensors(c, new Map([...m.params].map(([n, t]) => [n, t.data])));
  lm.applyMethod({ type: 'lora', rank: 4, alpha: 8, targets: ['q', 'v'] }, 1);
  randomizeLora(lm, 1);
  const adapter = exportGgufLora(lm);
  const b = await LlamaCppBackend.load(goodPath, { threads: 1 });
  try {
    await expectCode(b.setAdapters([{ path: write(rewriteGguf(adapter, (meta) => meta.set('general.architecture', gv.str('qwen2')))) }]), 'ARCH_MISMATCH');
    await expectCode(b.setAdapters([{ path: write(adapter), expectedRank: 8 }]), 'RANK_MISMATCH');
    const otherSize = LlamaModel.init({ ...c, hiddenSize: 96, numHeads: 6, numKvHeads: 2 }, 1);
    otherSize.applyMethod({ type: 'lora', rank: 4, alpha: 8, targets: ['q'] }, 1);
    await expectCode(b.setAdapters([{ path: write(exportGgufLora(otherSize)) }]), 'SHAPE_MISMATCH');
    await expectCode(b.setAdapters([{ path: goodPath }]), 'NOT_AN_ADAPTER');
    await expectCode(LlamaCppBackend.load(write(adapter)), 'NOT_A_MODEL');
    // still serving
    const p = await b.nextTokenProbs(PROMPTS[0]);
    assert.ok(maxAbsDiff(p, await engineProbs(m, PROMPTS[0])) <= 1e-3);
  } finally {
    await b.close();
  }
});

test('isolation: a file llama.cpp cannot load (validation bypassed) fails in a child process, not here', async () => {
  const c = SHAPES.gqa;
  const good = exportGgufModel(randomModel(c, 61), tok);
  const goodPath = write(good);
  assert.deepEqual(await probeGguf(goodPath), { ok: true, trainContextSize: c.contextLength });
  const bad = write(rewriteGguf(good, (meta) => meta.delete('llama.feed_forward_length')));
  const t0 = Date.now();
  await assert.rejects(probeGguf(bad), (e: unknown) => {
    console.log(`probe of a file without llama.feed_forward_length: ${(e as Error).message.slice(0, 300)} (${Date.now() - t0} ms)`);
    return e instanceof ModelFileError && e.code === 'BAD_FILE';
  });
  const b = await LlamaCppBackend.load(goodPath, { threads: 1, isolate: true });
  try {
    assert.equal((await b.nextTokenProbs(PROMPTS[0])).length, tok.vocabSize);
  } finally {
    await b.close();
  }
});

test('a padded vocabulary (more embedding rows than tokens) exports with filler tokens, runs in llama.cpp, and imports back', async () => {
  const c = { ...SHAPES.gqa, vocabSize: tok.vocabSize + 7 };
  const m = LlamaModel.init(c, 9);
  const file = write(exportGgufModel(m, tok, { chatTemplate: CHAT_TEMPLATES.chatml.jinja }));
  const meta = decodeGguf(new Uint8Array(readFileSync(file))).metadata;
  const tokens = meta.get('tokenizer.ggml.tokens')!.value as string[];
  assert.equal(tokens.length, c.vocabSize);
  assert.equal(tokens.at(-1), `[PAD${c.vocabSize - 1}]`);
  assert.equal((meta.get('tokenizer.ggml.token_type')!.value as Int32Array).at(-1), 5, 'UNUSED');
  const b = await LlamaCppBackend.load(file, { threads: 1 });
  try {
    for (const [k, text] of Object.entries(TEXTS)) assert.deepEqual(b.tokenize(text), tok.encode(text), k);
    const probs = await b.nextTokenProbs(PROMPTS[0]);
    assert.equal(probs.length, c.vocabSize);
    const ref = await engineProbs(m, PROMPTS[0]);
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - probs[i]));
    assert.ok(maxDiff < 1e-3, `max |dp| ${maxDiff}`);
  } finally {
    await b.close();
  }
  // back into the engine: the fillers are rows of the model, not tokens
  const back = importGgufModel(new Uint8Array(readFileSync(file)));
  assert.equal(back.config.vocabSize, c.vocabSize);
  assert.equal(back.tokenizer.vocabSize, tok.vocabSize);
  assert.deepEqual(back.tokenizer.encode(TEXTS.chinese), tok.encode(TEXTS.chinese));
  // fewer rows than tokens cannot be exported
  assert.throws(() => exportGgufModel(LlamaModel.init({ ...SHAPES.gqa, vocabSize: tok.vocabSize - 1 }, 1), tok), /more than the model's/);
});
