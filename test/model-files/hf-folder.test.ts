/**
 * Hugging Face folders and PEFT adapters: engine -> HF -> engine round trips (identical F32 weights; sharded; tied;
 * QKV bias; F16/BF16), the RoPE row permutation, PEFT LoRA / prompt / prefix round trips (same outputs), and
 * malformed folders giving typed errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exportHfModel, filesFromMap, importHfModel, readModelFolder, writeModelFolder,
} from '../../src/model-files/hf-folder.ts';
import { exportPeftLora, importPeftLora, exportPeftPromptLearning, importPeftPromptLearning, applyPromptLearning } from '../../src/model-files/peft.ts';
import { applyLoraAdapter } from '../../src/model-files/gguf-model.ts';
import { engineToHfRows, hfToEngineRows, ModelFileError } from '../../src/model-files/llama-layout.ts';
import { decodeSafetensors, encodeSafetensors, tensorToF32 } from '../../src/formats/safetensors.ts';
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from '../../src/formats/half.ts';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { CHAT_TEMPLATES } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import { engineProbs, maxAbsDiff, randomizeLora, randomModel, shapes, testTokenizer, TEXTS } from './model-fixtures.ts';

const tok = testTokenizer();
const SHAPES = shapes(tok.vocabSize);
const dec = new TextDecoder();
const jsonOf = (files: Map<string, Uint8Array>, name: string) => JSON.parse(dec.decode(files.get(name)!));
const clone = (m: LlamaModel) => LlamaModel.fromTensors(m.config, new Map([...m.params].map(([n, t]) => [n, t.data])));
const IDS = tok.encode(TEXTS.english).slice(0, 12);

test('engine -> HF -> engine: identical F32 weights, config, tokenizer, chat template (every shape)', () => {
  for (const [shape, c] of Object.entries(SHAPES)) {
    const m = randomModel(c, 1);
    const files = exportHfModel(m, tok, { chatTemplate: CHAT_TEMPLATES.chatml.jinja });
    const cfg = jsonOf(files, 'config.json');
    assert.deepEqual(cfg.architectures, [c.qkvBias ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM']);
    assert.equal(cfg.tie_word_embeddings, c.tieEmbeddings);
    assert.equal(cfg.num_key_value_heads, c.numKvHeads);
    assert.equal(jsonOf(files, 'tokenizer_config.json').chat_template, CHAT_TEMPLATES.chatml.jinja);
    assert.equal(jsonOf(files, 'tokenizer_config.json').eos_token, '<|im_end|>');
    const st = decodeSafetensors(files.get('model.safetensors')!);
    assert.equal(st.tensors.has('lm_head.weight'), !c.tieEmbeddings, shape);
    assert.deepEqual(st.tensors.get('model.layers.0.self_attn.k_proj.weight')!.shape, [c.numKvHeads * (c.hiddenSize / c.numHeads), c.hiddenSize]);
    assert.equal(st.tensors.has('model.layers.0.self_attn.q_proj.bias'), c.qkvBias);
    const back = importHfModel(filesFromMap(files));
    assert.deepEqual(back.config, c, shape);
    for (const [n, t] of m.params) assert.deepEqual(back.tensors.get(n), t.data, `${shape} ${n}`);
    for (const text of Object.values(TEXTS)) assert.deepEqual(back.tokenizer.encode(text), tok.encode(text));
    assert.equal(back.tokenizer.eosId, tok.eosId);
    assert.equal(back.chatTemplate, CHAT_TEMPLATES.chatml.jinja);
    assert.deepEqual(back.warnings, []);
  }
});

test('q/k rows are permuted to HF rotate-half order (convert_hf_to_gguf permute), v and biases of v are not', () => {
  const c = SHAPES.qkv_bias, D = c.hiddenSize / c.numHeads;
  const m = randomModel(c, 2);
  const st = decodeSafetensors(exportHfModel(m, tok).get('model.safetensors')!);
  const q = tensorToF32(st.tensors.get('model.layers.1.self_attn.q_proj.weight')!), qe = m.param('blk.1.attn_q.weight').data;
  const qb = tensorToF32(st.tensors.get('model.layers.1.self_attn.q_proj.bias')!), qbe = m.param('blk.1.attn_q.bias').data;
  for (let h = 0; h < c.numHeads; h++) {
    for (let i = 0; i < D / 2; i++) {
      for (let j = 0; j < 2; j++) {
        const hf = h * D + j * (D / 2) + i, en = h * D + 2 * i + j;
        assert.deepEqual(q.subarray(hf * c.hiddenSize, (hf + 1) * c.hiddenSize), qe.subarray(en * c.hiddenSize, (en + 1) * c.hiddenSize));
        assert.equal(qb[hf], qbe[en]);
      }
    }
  }
  assert.deepEqual(tensorToF32(st.tensors.get('model.layers.1.self_attn.v_proj.weight')!), m.param('blk.1.attn_v.weight').data);
  assert.deepEqual(tensorToF32(st.tensors.get('model.layers.1.self_attn.v_proj.bias')!), m.param('blk.1.attn_v.bias').data);
  const w = Float32Array.from({ length: 8 * 3 }, (_, i) => i);
  assert.deepEqual(hfToEngineRows(engineToHfRows(w, 2, 3), 2, 3), w);
});

test('sharded export with model.safetensors.index.json, F16 / BF16, folder I/O', () => {
  const c = SHAPES.gqa, m = randomModel(c, 3);
  const files = exportHfModel(m, tok, { maxShardBytes: 100_000 });
  assert.ok(!files.has('model.safetensors'));
  const idx = jsonOf(files, 'model.safetensors.index.json');
  const shards = [...new Set(Object.values(idx.weight_map))] as string[];
  assert.ok(shards.length >= 3, `${shards.length} shards`);
  assert.match(shards[0], /^model-00001-of-000\d\d\.safetensors$/);
  const dir = mkdtempSync(join(tmpdir(), 'mf-hf-'));
  try {
    writeModelFolder(dir, files);
    const back = importHfModel(readModelFolder(dir));
    for (const [n, t] of m.params) assert.deepEqual(back.tensors.get(n), t.data, n);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [dtype, round] of [['F16', (x: number) => f16ToF32(f32ToF16(x))], ['BF16', (x: number) => bf16ToF32(f32ToBf16(x))]] as const) {
    const f = exportHfModel(m, tok, { dtype });
    assert.equal(jsonOf(f, 'config.json').torch_dtype, dtype === 'F16' ? 'float16' : 'bfloat16');
    const back = importHfModel(filesFromMap(f));
    const w = m.param('blk.0.ffn_gate.weight').data;
    assert.deepEqual(back.tensors.get('blk.0.ffn_gate.weight'), w.map(round));
  }
});

test('PEFT LoRA: names, permuted lora_B of q/k, round trip gives the same outputs (LoRA and rsLoRA)', async () => {
  const c = SHAPES.qkv_bias;
  for (const rslora of [false, true]) {
    const m = randomModel(c, 4);
    m.applyMethod({ type: 'lora', rank: 4, alpha: 16, targets: ['all'], rslora }, 1);
    randomizeLora(m, 5);
    const files = exportPeftLora(m, { baseModelName: 'modelfab/test' });
    const cfg = jsonOf(files, 'adapter_config.json');
    assert.equal(cfg.peft_type, 'LORA');
    assert.equal(cfg.r, 4);
    assert.equal(cfg.lora_alpha, 16);
    assert.equal(cfg.use_rslora, rslora);
    assert.deepEqual(cfg.target_modules, ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    const st = decodeSafetensors(files.get('adapter_model.safetensors')!);
    assert.deepEqual(st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape, [4, c.hiddenSize]);
    assert.deepEqual(st.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')!.shape, [c.hiddenSize, 4]);
    const qb = tensorToF32(st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!);
    assert.deepEqual(qb, engineToHfRows(m.lora.get('blk.0.attn_q.weight')!.b.data, c.numHeads, 4));
    const ad = importPeftLora(filesFromMap(files), c);
    const fresh = randomModel(c, 4);
    applyLoraAdapter(fresh, ad);
    assert.ok(maxAbsDiff(await engineProbs(fresh, IDS), await engineProbs(m, IDS)) < 1e-6);
    assert.ok(maxAbsDiff(await engineProbs(fresh, IDS), await engineProbs(randomModel(c, 4), IDS)) > 1e-3);
  }
});

test('PEFT prompt tuning and prefix tuning: the formats that carry them; round trips give the same outputs', async () => {
  for (const type of ['prompt', 'prefix'] as const) {
    const c = SHAPES.gqa;
    const m = randomModel(c, 6);
    m.applyMethod({ type, numVirtualTokens: 3 }, 2);
    const files = exportPeftPromptLearning(m);
    const cfg = jsonOf(files, 'adapter_config.json');
    assert.equal(cfg.peft_type, type === 'prompt' ? 'PROMPT_TUNING' : 'PREFIX_TUNING');
    const st = decodeSafetensors(files.get('adapter_model.safetensors')!);
    const D = c.hiddenSize / c.numHeads;
    assert.deepEqual(st.tensors.get('prompt_embeddings')!.shape, type === 'prompt' ? [3, c.hiddenSize] : [3, c.numLayers * 2 * c.numKvHeads * D]);
    const fresh = randomModel(c, 6);
    applyPromptLearning(fresh, importPeftPromptLearning(filesFromMap(files), c));
    assert.ok(maxAbsDiff(await engineProbs(fresh, IDS), await engineProbs(m, IDS)) < 1e-7, type);
    assert.throws(() => exportHfModel(m, tok), (e: unknown) => e instanceof ModelFileError && /exportPeftPromptLearning/.test(e.message));
    assert.throws(() => importPeftLora(filesFromMap(files), c), (e: unknown) => e instanceof ModelFileError && e.code === 'NOT_AN_ADAPTER');
  }
});

test('malformed HF folders and PEFT adapters give typed errors naming the problem', () => {
  const c = SHAPES.gqa, m = randomModel(c, 7);
  const files = exportHfModel(m, tok);
  const edit = (f: (x: Map<string, Uint8Array>) => void) => { const x = new Map(files); f(x); return x; };
  const setJson = (x: Map<string, Uint8Array>, name: string, g: (v: Record<string, unknown>) => void) => {
    const v = JSON.parse(dec.decode(x.get(name)!)); g(v); x.set(name, new TextEncoder().encode(JSON.stringify(v)));
  };
  const err = (x: Map<string, Uint8Array>, code: string, re?: RegExp) => assert.throws(() => importHfModel(filesFromMap(x)),
    (e: unknown) => e instanceof ModelFileError && e.code === code && (!re || re.test(e.message)), `${code} ${re ?? ''}`);
  err(edit((x) => x.delete('config.json')), 'MISSING_FILE', /config\.json/);
  err(edit((x) => x.set('config.json', new TextEncoder().encode('{nope'))), 'BAD_FILE', /config\.json/);
  err(edit((x) => setJson(x, 'config.json', (v) => { v.model_type = 'gpt2'; })), 'UNSUPPORTED', /model_type/);
  err(edit((x) => setJson(x, 'config.json', (v) => { delete v.hidden_size; })), 'MISSING_KEY', /hidden_size/);
  err(edit((x) => setJson(x, 'config.json', (v) => { v.hidden_size = 2 ** 40; })), 'ABSURD_DIMENSION');
  err(edit((x) => setJson(x, 'config.json', (v) => { v.intermediate_size = 100; })), 'SHAPE_MISMATCH', /mlp\.gate_proj/);
  err(edit((x) => setJson(x, 'config.json', (v) => { v.hidden_act = 'gelu'; })), 'UNSUPPORTED');
  err(edit((x) => setJson(x, 'config.json', (v) => { v.tie_word_embeddings = true; v.num_hidden_layers = 1; })), 'UNEXPECTED_TENSOR');
  err(edit((x) => x.set('model.safetensors', files.get('model.safetensors')!.subarray(0, 5000))), 'BAD_FILE', /model\.safetensors/);
  err(edit((x) => x.delete('tokenizer.json')), 'MISSING_FILE', /tokenizer\.json/);
  err(edit((x) => setJson(x, 'tokenizer.json', (v) => { (v.model as Record<string, unknown>).type = 'Unigram'; })), 'TOKENIZER');
  const st = decodeSafetensors(files.get('model.safetensors')!);
  const without = [...st.tensors].filter(([n]) => n !== 'model.layers.1.mlp.up_proj.weight').map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data }));
  err(edit((x) => x.set('model.safetensors', encodeSafetensors(without))), 'MISSING_TENSOR', /up_proj/);
  const all = [...st.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data }));
  const extra = [...all, { name: 'model.layers.0.self_attn.o_proj.bias', dtype: 'F32' as const, shape: [c.hiddenSize], data: new Float32Array(c.hiddenSize) }];
  err(edit((x) => x.set('model.safetensors', encodeSafetensors(extra))), 'UNEXPECTED_TENSOR', /o_proj\.bias/);
  const sharded = exportHfModel(m, tok, { maxShardBytes: 100_000 });
  const shard2 = [...sharded.keys()].find((k) => k.startsWith('model-00002'))!;
  assert.throws(() => importHfModel(filesFromMap(new Map([...sharded].filter(([k]) => k !== shard2)))), (e: unknown) => e instanceof ModelFileError && e.code === 'MISSING_FILE' && e.message.includes(shard2));
  // warnings, not errors, for what the engine ignores
  const w = importHfModel(filesFromMap(edit((x) => setJson(x, 'config.json', (v) => { v.rope_scaling = { rope_type: 'llama3', factor: 8 }; }))));
  assert.match(w.warnings.join(), /rope_scaling/);
  // PEFT
  const lm = clone(m);
  lm.applyMethod({ type: 'lora', rank: 2, alpha: 4, targets: ['q'] }, 1);
  const peft = exportPeftLora(lm);
  const perr = (x: Map<string, Uint8Array>, cfg: typeof c, code: string) => assert.throws(() => importPeftLora(filesFromMap(x), cfg), (e: unknown) => e instanceof ModelFileError && e.code === code, code);
  const pedit = (f: (x: Map<string, Uint8Array>) => void) => { const x = new Map(peft); f(x); return x; };
  perr(pedit((x) => setJson(x, 'adapter_config.json', (v) => { v.r = 8; })), c, 'RANK_MISMATCH');
  perr(peft, { ...c, hiddenSize: 96, numHeads: 6 }, 'SHAPE_MISMATCH');
  perr(peft, { ...c, numLayers: 1 }, 'ARCH_MISMATCH');
  perr(pedit((x) => x.delete('adapter_model.safetensors')), c, 'MISSING_FILE');
  perr(pedit((x) => setJson(x, 'adapter_config.json', (v) => { v.use_dora = true; })), c, 'UNSUPPORTED');
});
