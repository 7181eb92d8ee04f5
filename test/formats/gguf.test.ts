/**
 * GGUF reader/writer, ggml block encodings, engine <-> GGUF model and LoRA round trips, and the malformed-file suite
 * (every broken file gives a typed error naming the problem; nothing else is ever thrown).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeGguf, encodeGguf, GgufError, GGML_TYPE, GGUF_TYPE, gv, metadataRecord, type GgufKV, type GgufTensorInput,
} from '../../src/formats/gguf.ts';
import {
  decodeQ8_0Blocks, dequantize, dequantizeQ8_0, encodeQ8_0Blocks, quantize, quantizeQ8_0, Q8_0_BLOCK_BYTES,
} from '../../src/formats/gguf-quants.ts';
import {
  adapterBaseOfConfig, applyLoraAdapter, exportGgufLora, exportGgufModel, importGgufLora, importGgufModel, readGgufFile,
  readGgufHeader, validateGgufAdapter, validateGgufModel,
} from '../../src/model-files/gguf-model.ts';
import { mergedTensors, ModelFileError } from '../../src/model-files/llama-layout.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/formats/half.ts';
import { LlamaModel } from '../../src/engine/llama-model.ts';
import { Rng } from '../../src/engine/rng.ts';
import { CHAT_TEMPLATES } from '../../src/engine/tokenizer/tokenizer-exports.ts';
import { engineProbs, maxAbsDiff, randomizeLora, randomModel, rewriteGguf, shapes, testTokenizer, TEXTS } from '../model-files/model-fixtures.ts';

const tok = testTokenizer();
const SHAPES = shapes(tok.vocabSize);
const randn = (n: number, seed: number, std = 1) => { const r = new Rng(seed); return Float32Array.from({ length: n }, () => r.normal() * std); };

test('encodeGguf / decodeGguf: every value type, arrays, tensors, alignment, byte layout', () => {
  const meta: Array<[string, GgufKV]> = [
    ['general.alignment', gv.u32(64)],
    ['a.u8', gv.u8(200)], ['a.i8', { type: GGUF_TYPE.INT8, value: -5 }], ['a.u16', { type: GGUF_TYPE.UINT16, value: 65535 }],
    ['a.i16', { type: GGUF_TYPE.INT16, value: -300 }], ['a.u32', gv.u32(4e9)], ['a.i32', gv.i32(-7)], ['a.f32', gv.f32(1.5)],
    ['a.bool', gv.bool(true)], ['a.str', gv.str('héllo 🙂')], ['a.u64', gv.u64(2n ** 60n)], ['a.i64', { type: GGUF_TYPE.INT64, value: -9 }],
    ['a.f64', gv.f64(Math.PI)], ['a.strs', gv.strs(['x', '', '今天'])], ['a.i32s', gv.i32s([1, -2, 3])], ['a.f32s', gv.f32s([0.5, 2])],
  ];
  const w = randn(64, 1);
  const tensors: GgufTensorInput[] = [
    { name: 'w', type: GGML_TYPE.F32, dims: [16, 4], data: quantize(GGML_TYPE.F32, w) },
    { name: 'h', type: GGML_TYPE.F16, dims: [3], data: quantize(GGML_TYPE.F16, Float32Array.from([1, 2, 3])) },
    { name: 'q', type: GGML_TYPE.Q8_0, dims: [64], data: quantize(GGML_TYPE.Q8_0, w) },
  ];
  const buf = encodeGguf(meta, tensors);
  const dv = new DataView(buf.buffer);
  assert.equal(new TextDecoder().decode(buf.subarray(0, 4)), 'GGUF');
  assert.equal(dv.getUint32(4, true), 3);
  assert.equal(dv.getBigUint64(8, true), 3n);
  assert.equal(dv.getBigUint64(16, true), BigInt(meta.length));
  const d = decodeGguf(buf);
  assert.equal(d.alignment, 64);
  assert.equal(d.dataOffset % 64, 0);
  const rec = metadataRecord(d);
  assert.equal(rec['a.u8'], 200); assert.equal(rec['a.i8'], -5); assert.equal(rec['a.u32'], 4e9); assert.equal(rec['a.str'], 'héllo 🙂');
  assert.equal(rec['a.u64'], 2n ** 60n); assert.equal(rec['a.i64'], -9); assert.equal(rec['a.f64'], Math.PI); assert.equal(rec['a.bool'], true);
  assert.deepEqual(rec['a.strs'], ['x', '', '今天']);
  assert.deepEqual([...(rec['a.i32s'] as Int32Array)], [1, -2, 3]);
  assert.deepEqual([...(rec['a.f32s'] as Float32Array)], [0.5, 2]);
  for (const t of tensors) {
    const got = d.tensors.get(t.name)!;
    assert.deepEqual(got.dims, t.dims);
    assert.deepEqual(got.data, t.data);
    assert.equal(got.offset % 64, 0);
  }
  assert.deepEqual(dequantize(GGML_TYPE.F32, d.tensors.get('w')!.data, 64), w);
  // re-encoding the decoded file gives the same bytes
  assert.deepEqual(encodeGguf(d.metadata, [...d.tensors.values()]), buf);
});

test('quantization: Q8_0 matches the engine helpers; Q4_0 / Q4_K / Q6_K round trips within their step', () => {
  const x = randn(1024, 2, 0.1);
  assert.deepEqual(dequantize(GGML_TYPE.Q8_0, quantize(GGML_TYPE.Q8_0, x), x.length), dequantizeQ8_0(quantizeQ8_0(x)));
  const h = dequantize(GGML_TYPE.F16, quantize(GGML_TYPE.F16, x), x.length);
  for (let i = 0; i < x.length; i++) assert.equal(h[i], f16ToF32(f32ToF16(x[i])));
  const bf = dequantize(GGML_TYPE.BF16, quantize(GGML_TYPE.BF16, x), x.length);
  assert.ok(maxAbsDiff(bf, x) < 1e-3);
  const tol: Record<number, number> = { [GGML_TYPE.Q4_0]: 0.05, [GGML_TYPE.Q4_K]: 0.05, [GGML_TYPE.Q6_K]: 0.012 };
  for (const t of [GGML_TYPE.Q4_0, GGML_TYPE.Q4_K, GGML_TYPE.Q6_K]) {
    const y = dequantize(t, quantize(t, x), x.length);
    const err = maxAbsDiff(y, x);
    assert.ok(err < tol[t], `type ${t}: max error ${err}`);
    let same = 0;
    for (let i = 0; i < x.length; i++) if (y[i] === x[i]) same++;
    assert.ok(same < x.length / 2);
  }
  assert.throws(() => dequantize(GGML_TYPE.Q4_K, new Uint8Array(10), 256), /256 values need 144 bytes/);
  assert.throws(() => dequantize(GGML_TYPE.IQ2_XXS, new Uint8Array(66), 256), /cannot be dequantized/);
});

test('Q4_K and Q6_K: hand-built blocks decode per ggml layout (6-bit scale packing, ql/qh nibbles)', () => {
  // Q4_K: d = 1, dmin = 0.5; sub-block 1: scale 3, min 4; sub-block 5: scale 37, min 50 (high bits in bytes 1 and 5)
  const b = new Uint8Array(144);
  b[0] = 0x00; b[1] = 0x3c; b[2] = 0x00; b[3] = 0x38;
  const sc = 4;
  b[sc + 1] = 3; b[sc + 5] = 4;
  b[sc + 9] = (37 & 15) | ((50 & 15) << 4);
  b[sc + 1] |= (37 >> 4) << 6;
  b[sc + 5] |= (50 >> 4) << 6;
  const qs = 16;
  b[qs + 7] = 0x09 << 4; // value 32 + 7 (sub-block 1, high nibble of pair 0) = 3 * 9 - 0.5 * 4
  b[qs + 64 + 3] = 0xa0; // value 160 + 3 (sub-block 5, high nibble of pair 2) = 37 * 10 - 0.5 * 50
  const y = dequantize(GGML_TYPE.Q4_K, b, 256);
  assert.equal(y[39], 27 - 2);
  assert.equal(y[163], 370 - 25);
  assert.equal(y[160], -25);
  assert.equal(y[0], 0);
  // Q6_K: d = 1, scales[s] = s + 1; value 200 (sub-block 12: half 1, l = 8, third quarter) = 13 * (50 - 32)
  const q = new Uint8Array(210);
  q[208] = 0x00; q[209] = 0x3c;
  for (let s = 0; s < 16; s++) q[192 + s] = s + 1;
  q[64 + 8] = (50 & 15) << 4; // ql of half 1 at l = 8, high nibble -> value 128 + 64 + 8
  q[128 + 32 + 8] = (50 >> 4) << 4; // qh of half 1 at l = 8, bits 4-5
  q[5] = 7; // value 5, low nibble, q = 7 -> (7 - 32) * scales[0]
  const z = dequantize(GGML_TYPE.Q6_K, q, 256);
  assert.equal(z[200], 13 * 18);
  assert.equal(z[5], -25);
  assert.equal(z[72], -160); // value 72: sub-block 4 (scale 5), q = 0 -> (0 - 32) * 5
  // Q4_0: d = 2, low nibble of byte 0 = value 0, high nibble = value 16
  const r = new Uint8Array(18);
  r[0] = 0x00; r[1] = 0x40; r[2] = 0x3f;
  const w = dequantize(GGML_TYPE.Q4_0, r, 32);
  assert.equal(w[0], (15 - 8) * 2);
  assert.equal(w[16], (3 - 8) * 2);
});

test('engine -> GGUF -> engine: identical F32 weights, config, tokenizer and chat template; F16 / Q8_0 as rounded', () => {
  for (const [shape, c] of Object.entries(SHAPES)) {
    const m = randomModel(c, 3);
    const bytes = exportGgufModel(m, tok, { name: `t-${shape}`, chatTemplate: CHAT_TEMPLATES.chatml.jinja });
    const back = importGgufModel(bytes);
    assert.deepEqual(back.config, c, shape);
    for (const [n, t] of m.params) assert.deepEqual(back.tensors.get(n), t.data, `${shape} ${n}`);
    assert.equal(back.chatTemplate, CHAT_TEMPLATES.chatml.jinja);
    assert.equal(back.name, `t-${shape}`);
    for (const text of Object.values(TEXTS)) assert.deepEqual(back.tokenizer.encode(text), tok.encode(text));
    assert.equal(back.tokenizer.eosId, tok.eosId);
    assert.deepEqual(back.warnings, []);
    const m2 = LlamaModel.fromTensors(back.config, back.tensors);
    assert.deepEqual(m2.storage, m.storage);

    const d = decodeGguf(bytes);
    const rec = metadataRecord(d);
    for (const k of ['context_length', 'embedding_length', 'block_count', 'feed_forward_length', 'attention.head_count', 'attention.head_count_kv', 'rope.dimension_count', 'vocab_size']) {
      assert.equal(d.metadata.get(`llama.${k}`)!.type, GGUF_TYPE.UINT32, k);
    }
    assert.equal(d.metadata.get('llama.rope.freq_base')!.type, GGUF_TYPE.FLOAT32);
    assert.equal(rec['general.architecture'], 'llama');
    assert.equal(rec['general.file_type'], 0);
    assert.equal(rec['general.alignment'], 32);
    assert.equal(rec['tokenizer.ggml.model'], 'gpt2');
    assert.equal(rec['tokenizer.ggml.pre'], 'qwen2');
    assert.equal((rec['tokenizer.ggml.tokens'] as string[])[rec['tokenizer.ggml.eos_token_id'] as number], '<|im_end|>');
    assert.equal(d.tensors.has('output.weight'), !c.tieEmbeddings);
    assert.deepEqual(d.tensors.get('blk.0.attn_k.weight')!.dims, [c.hiddenSize, c.numKvHeads * (c.hiddenSize / c.numHeads)]);
  }
  const c = SHAPES.gqa, m = randomModel(c, 4);
  const f16 = decodeGguf(exportGgufModel(m, tok, { weightType: 'F16' }));
  assert.equal(metadataRecord(f16)['general.file_type'], 1);
  assert.equal(f16.tensors.get('blk.0.attn_norm.weight')!.type, GGML_TYPE.F32);
  assert.equal(f16.tensors.get('blk.0.ffn_up.weight')!.type, GGML_TYPE.F16);
  const q8 = exportGgufModel(m, tok, { weightType: 'Q8_0' });
  const q8d = decodeGguf(q8);
  assert.equal(metadataRecord(q8d)['general.file_type'], 7);
  assert.equal(q8d.tensors.get('token_embd.weight')!.type, GGML_TYPE.Q8_0);
  assert.equal(q8d.tensors.get('output_norm.weight')!.type, GGML_TYPE.F32);
  const back = importGgufModel(q8);
  const w = m.param('blk.1.ffn_down.weight').data;
  assert.deepEqual(back.tensors.get('blk.1.ffn_down.weight'), dequantizeQ8_0(quantizeQ8_0(w)));
  const bf = importGgufModel(exportGgufModel(m, tok, { weightType: 'BF16' }));
  assert.deepEqual(bf.tensors.get('blk.1.ffn_down.weight'), w.map((x) => bf16ToF32(f32ToBf16(x))));
  assert.deepEqual(bf.tensors.get('blk.1.ffn_norm.weight'), m.param('blk.1.ffn_norm.weight').data);
  // a matrix whose rows are not whole Q8_0 blocks falls back to F16
  const odd = randomModel({ ...c, hiddenSize: 48, numHeads: 4, numKvHeads: 2, ffnSize: 72 }, 5);
  const oddD = decodeGguf(exportGgufModel(odd, tok, { weightType: 'Q8_0' }));
  assert.equal(oddD.tensors.get('blk.0.attn_q.weight')!.type, GGML_TYPE.F16);
});

test('LoRA: GGUF adapter round trip (incl. rsLoRA), shapes as llama.cpp expects, merged model equals the adapted one', async () => {
  const c = SHAPES.qkv_bias;
  for (const rslora of [false, true]) {
    const m = randomModel(c, 6);
    m.applyMethod({ type: 'lora', rank: 4, alpha: 8, targets: ['q', 'k', 'down'], rslora }, 1);
    randomizeLora(m, 2);
    const bytes = exportGgufLora(m);
    const d = decodeGguf(bytes);
    const rec = metadataRecord(d);
    assert.equal(rec['general.type'], 'adapter');
    assert.equal(rec['adapter.type'], 'lora');
    const scale = rslora ? 8 / 2 : 8 / 4;
    assert.equal(rec['adapter.lora.alpha'], scale * 4);
    assert.deepEqual(d.tensors.get('blk.0.attn_q.weight.lora_a')!.dims, [c.hiddenSize, 4]);
    assert.deepEqual(d.tensors.get('blk.0.ffn_down.weight.lora_b')!.dims, [4, c.hiddenSize]);
    const ad = importGgufLora(bytes, c);
    assert.equal(ad.rank, 4);
    for (const [n, p] of m.lora) { assert.deepEqual(ad.pairs.get(n)!.a, p.a.data); assert.deepEqual(ad.pairs.get(n)!.b, p.b.data); }
    const fresh = LlamaModel.fromTensors(c, new Map([...m.params].map(([n, t]) => [n, t.data])));
    applyLoraAdapter(fresh, ad);
    const ids = tok.encode(TEXTS.code).slice(0, 12);
    assert.ok(maxAbsDiff(await engineProbs(fresh, ids), await engineProbs(m, ids)) < 1e-6);
    const merged = LlamaModel.fromTensors(c, mergedTensors(m));
    assert.ok(maxAbsDiff(await engineProbs(merged, ids), await engineProbs(m, ids)) < 1e-5);
    assert.throws(() => exportGgufModel(m, tok), (e: unknown) => e instanceof ModelFileError && /lora: "merge"/.test(e.message));
  }
});

test('prefix- and prompt-tuned models cannot go to GGUF: a clear error pointing to PEFT', () => {
  for (const type of ['prefix', 'prompt'] as const) {
    const m = randomModel(SHAPES.gqa, 7);
    m.applyMethod({ type, numVirtualTokens: 3 }, 1);
    assert.throws(() => exportGgufModel(m, tok), (e: unknown) => e instanceof ModelFileError && e.code === 'UNSUPPORTED' && /exportPeftPromptLearning/.test(e.message));
  }
});

// --------------------------------------------------------------------------------------------- malformed files

const c0 = SHAPES.gqa;
const good = exportGgufModel(randomModel(c0, 8), tok);
const isTyped = (e: unknown) => e instanceof GgufError || e instanceof ModelFileError;
function code(f: () => unknown): string {
  try { f(); } catch (e) {
    if (!isTyped(e)) throw e;
    return (e as GgufError | ModelFileError).code;
  }
  return 'OK';
}

/** File position of a tensor info's type (u32) and offset (u64) fields. */
function infoPos(buf: Uint8Array, name: string): { type: number; offset: number } {
  const enc = new TextEncoder().encode(name), dv = new DataView(buf.buffer, buf.byteOffset);
  for (let i = 24; i + 8 + enc.length < buf.length; i++) {
    if (dv.getBigUint64(i, true) !== BigInt(enc.length) || !enc.every((b, j) => buf[i + 8 + j] === b)) continue;
    const nd = dv.getUint32(i + 8 + enc.length, true);
    if (nd < 1 || nd > 4) continue;
    const type = i + 8 + enc.length + 4 + nd * 8;
    return { type, offset: type + 4 };
  }
  throw new Error(`no tensor info for ${name}`);
}

test('malformed: truncated, bad magic/version, absurd counts, duplicate keys, unknown value type', () => {
  assert.equal(code(() => importGgufModel(good)), 'OK');
  for (const n of [0, 3, 7, 20, 100, 5000, good.length - 1]) {
    const c = code(() => importGgufModel(good.subarray(0, n)));
    assert.equal(c, 'BAD_FILE', `truncated at ${n}`);
  }
  assert.match(String((() => { try { decodeGguf(good.subarray(0, good.length - 10)); } catch (e) { return (e as Error).message; } })()), /ends past the end of the file/);
  const patch = (pos: number, bytes: number[]) => { const b = good.slice(); b.set(bytes, pos); return b; };
  assert.equal(code(() => decodeGguf(patch(0, [0x47, 0x47, 0x55, 0x47]))), 'BAD_MAGIC');
  // the magic is a file's first bytes: the error says what is wrong, never what the bytes are ("root" here)
  const notGguf = (() => { try { decodeGguf(new TextEncoder().encode('root:x:0:0:root:/root:/bin/bash\n')); } catch (e) { return (e as Error).message; } return ''; })();
  assert.equal(notGguf, 'GGUF: not a GGUF file (bad magic)');
  assert.equal(code(() => decodeGguf(patch(4, [1, 0, 0, 0]))), 'BAD_VERSION');
  assert.equal(code(() => decodeGguf(patch(8, [0, 0, 0, 0, 1, 0, 0, 0]))), 'ABSURD_COUNT'); // 2^32 tensors
  assert.equal(code(() => decodeGguf(patch(16, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]))), 'ABSURD_COUNT');
  const one = encodeGguf([['a', gv.u32(1)]], []);
  const kv = one.subarray(24, 24 + 8 + 1 + 4 + 4);
  const dup2 = new Uint8Array(24 + 2 * kv.length);
  dup2.set(one.subarray(0, 24)); dup2.set(kv, 24); dup2.set(kv, 24 + kv.length);
  new DataView(dup2.buffer).setBigUint64(16, 2n, true);
  assert.equal(code(() => decodeGguf(dup2)), 'DUPLICATE_KEY');
  const badType = encodeGguf([['a', gv.u32(1)]], []);
  new DataView(badType.buffer).setUint32(24 + 8 + 1, 99, true);
  assert.equal(code(() => decodeGguf(badType)), 'UNKNOWN_VALUE_TYPE');
  const hugeArray = encodeGguf([['a', gv.i32s([1, 2])]], []);
  new DataView(hugeArray.buffer).setBigUint64(24 + 8 + 1 + 4 + 4, 1n << 40n, true);
  assert.equal(code(() => decodeGguf(hugeArray)), 'ABSURD_COUNT');
});

test('malformed: wrong offsets, unknown tensor type, absurd dimensions, overlapping tensors', () => {
  const last = 'output.weight', { type, offset } = infoPos(good, last);
  const set64 = (b: Uint8Array, pos: number, v: bigint) => { const c = b.slice(); new DataView(c.buffer).setBigUint64(pos, v, true); return c; };
  const set32 = (b: Uint8Array, pos: number, v: number) => { const c = b.slice(); new DataView(c.buffer).setUint32(pos, v, true); return c; };
  const off = new DataView(good.buffer).getBigUint64(offset, true);
  assert.equal(code(() => decodeGguf(set64(good, offset, off + 4n))), 'BAD_OFFSET');
  assert.equal(code(() => decodeGguf(set64(good, offset, off + 1024n * 1024n))), 'OUT_OF_BOUNDS');
  assert.equal(code(() => decodeGguf(set64(good, offset, 0n))), 'OVERLAP');
  assert.equal(code(() => decodeGguf(set32(good, type, 77))), 'UNKNOWN_TENSOR_TYPE');
  assert.equal(code(() => decodeGguf(set32(good, type, GGML_TYPE.Q4_K))), 'BAD_BLOCK_SHAPE'); // ne0 = 64 is not a 256 block
  assert.equal(code(() => decodeGguf(set64(good, type - 8, 1n << 40n))), 'OUT_OF_BOUNDS'); // ne1 = 2^40 rows
  assert.equal(code(() => decodeGguf(set64(good, type - 8, 1n << 62n))), 'ABSURD_COUNT');
  assert.equal(code(() => decodeGguf(set64(good, type - 8, 0n))), 'BAD_DIMS');
  assert.equal(code(() => decodeGguf(set32(good, type - 20, 9))), 'BAD_DIMS'); // n_dims 9
});

test('malformed: missing keys, bad key types, absurd hyperparameters, shape mismatches, tokenizer problems', () => {
  const v = (edit: (meta: Map<string, GgufKV>, t: GgufTensorInput[]) => void) => code(() => importGgufModel(rewriteGguf(good, edit)));
  for (const k of ['general.architecture', 'llama.context_length', 'llama.embedding_length', 'llama.block_count', 'llama.feed_forward_length', 'llama.attention.head_count', 'llama.attention.layer_norm_rms_epsilon']) {
    assert.equal(v((m) => m.delete(k)), 'MISSING_KEY', k);
  }
  assert.equal(v((m) => m.set('llama.feed_forward_length', gv.str('128'))), 'BAD_KEY');
  assert.equal(v((m) => m.set('llama.feed_forward_length', gv.i32s([128, 128]))), 'BAD_KEY');
  assert.equal(v((m) => m.set('llama.rope.freq_base', gv.f32(-1))), 'BAD_KEY');
  assert.equal(v((m) => m.set('llama.embedding_length', gv.u64(2 ** 40))), 'ABSURD_DIMENSION');
  assert.equal(v((m) => m.set('llama.block_count', gv.u32(1e6))), 'ABSURD_DIMENSION');
  assert.equal(v((m) => m.set('llama.attention.head_count', gv.u32(3))), 'BAD_KEY');
  assert.equal(v((m) => m.set('llama.feed_forward_length', gv.u32(256))), 'SHAPE_MISMATCH');
  assert.equal(v((m) => m.set('llama.block_count', gv.u32(1))), 'UNEXPECTED_TENSOR');
  assert.equal(v((m) => m.set('general.architecture', gv.str('gptneox'))), 'UNSUPPORTED');
  assert.equal(v((m) => m.set('general.type', gv.str('adapter'))), 'NOT_A_MODEL');
  assert.equal(v((_, t) => t.splice(t.findIndex((x) => x.name === 'blk.1.ffn_up.weight'), 1)), 'MISSING_TENSOR');
  assert.equal(v((m) => m.delete('tokenizer.ggml.tokens')), 'TOKENIZER');
  assert.equal(v((m) => m.set('tokenizer.ggml.eos_token_id', gv.u32(100000))), 'TOKENIZER');
  assert.equal(v((m) => m.set('tokenizer.ggml.model', gv.str('llama'))), 'TOKENIZER');
  assert.equal(v((m) => m.set('llama.rope.dimension_count', gv.u32(8))), 'UNSUPPORTED');
  assert.equal(v((_, t) => { const e = t.find((x) => x.name === 'blk.0.attn_q.weight')!; e.type = GGML_TYPE.IQ4_NL; e.data = new Uint8Array((e.data.length / 4 / 32) * 18); }), 'UNSUPPORTED');
  // the message names the problem
  assert.throws(() => importGgufModel(rewriteGguf(good, (m) => m.delete('llama.feed_forward_length'))), /"llama\.feed_forward_length" is required/);
});

test('malformed adapters: other architecture, wrong rank, other model size, unpaired tensors, not an adapter', () => {
  const m = randomModel(c0, 9);
  m.applyMethod({ type: 'lora', rank: 4, alpha: 4, targets: ['q', 'v'] }, 1);
  const ad = exportGgufLora(m);
  const base = adapterBaseOfConfig(c0);
  const v = (buf: Uint8Array, rank?: number) => code(() => validateGgufAdapter(decodeGguf(buf), base, rank));
  assert.equal(v(ad), 'OK');
  assert.equal(v(ad, 8), 'RANK_MISMATCH');
  assert.equal(v(rewriteGguf(ad, (meta) => meta.set('general.architecture', gv.str('qwen2')))), 'ARCH_MISMATCH');
  assert.equal(v(rewriteGguf(ad, (meta) => meta.set('adapter.type', gv.str('control_vector')))), 'NOT_AN_ADAPTER');
  assert.equal(v(rewriteGguf(ad, (meta) => meta.delete('general.type'))), 'NOT_AN_ADAPTER');
  assert.equal(v(rewriteGguf(ad, (_, t) => t.splice(t.findIndex((x) => x.name.endsWith('lora_b')), 1))), 'MISSING_TENSOR');
  assert.equal(v(rewriteGguf(ad, (_, t) => { const a = t.find((x) => x.name === 'blk.0.attn_q.weight.lora_a')!; a.dims = [c0.hiddenSize, 2]; a.data = a.data.subarray(0, a.data.length / 2); })), 'RANK_MISMATCH');
  assert.equal(v(rewriteGguf(ad, (_, t) => { for (const x of t) x.name = x.name.replace('blk.0.', 'blk.7.'); })), 'ARCH_MISMATCH');
  assert.equal(v(rewriteGguf(ad, (_, t) => { const a = t.find((x) => x.name === 'blk.0.attn_q.weight.lora_a')!; a.dims = [4, c0.hiddenSize]; })), 'RANK_MISMATCH'); // A transposed
  const other = randomModel({ ...c0, hiddenSize: 96, numHeads: 6 }, 1);
  other.applyMethod({ type: 'lora', rank: 4, alpha: 4, targets: ['q'] }, 1);
  assert.equal(v(exportGgufLora(other)), 'SHAPE_MISMATCH');
  assert.equal(v(good), 'NOT_AN_ADAPTER');
  assert.equal(code(() => importGgufLora(ad.subarray(0, ad.length - 3), c0)), 'BAD_FILE');
});

test('fuzz: random corruptions never throw anything but typed errors; header-only reads agree with full reads', () => {
  const rng = new Rng(123);
  const small = exportGgufModel(randomModel({ ...c0, numLayers: 1 }, 10), tok);
  const headerEnd = decodeGguf(small).dataOffset;
  let typed = 0;
  for (let i = 0; i < 300; i++) {
    const b = small.slice();
    const n = 1 + rng.int(4);
    for (let k = 0; k < n; k++) b[rng.int(headerEnd)] = rng.int(256);
    try { importGgufModel(b); } catch (e) { assert.ok(isTyped(e), `iteration ${i}: ${String(e)}`); typed++; }
  }
  assert.ok(typed > 100);
  const dir = mkdtempSync(join(tmpdir(), 'mf-gguf-'));
  try {
    const p = join(dir, 'm.gguf');
    writeFileSync(p, good);
    const h = readGgufHeader(p), f = readGgufFile(p);
    assert.deepEqual(validateGgufModel(h).config, validateGgufModel(f).config);
    assert.equal(h.tensors.size, f.tensors.size);
    writeFileSync(p, good.subarray(0, good.length - 1));
    assert.throws(() => readGgufHeader(p), (e: unknown) => e instanceof ModelFileError && e.code === 'BAD_FILE' && /ends past the end/.test(e.message));
    assert.throws(() => readGgufHeader(join(dir, 'none.gguf')), (e: unknown) => e instanceof ModelFileError && e.code === 'MISSING_FILE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Q8_0: ggml rounding, error bound, GGUF block bytes round trip', () => {
  const w = new Float32Array(70);
  const rng = new Rng(5);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal();
  w[0] = 127; w[1] = 0.5; w[2] = -0.5; w[3] = 1.5; // block 0: d = 1, half-away rounding
  const q = quantizeQ8_0(w);
  assert.equal(q.d.length, 3);
  assert.equal(f16ToF32(q.d[0]), 1);
  assert.deepEqual([...q.qs.subarray(0, 4)], [127, 1, -1, 2]);
  const d = dequantizeQ8_0(q);
  for (let i = 0; i < w.length; i++) {
    const b = Math.floor(i / 32);
    const amax = Math.max(...w.subarray(b * 32, b * 32 + 32).map(Math.abs));
    // half a step of d = amax/127, plus the f16 rounding of d (relative 2^-11) times |q| <= 127
    assert.ok(Math.abs(w[i] - d[i]) <= (amax / 127) * (0.5 + 127 * 2 ** -11) + 1e-6, `i=${i}`);
  }
  const bytes = encodeQ8_0Blocks(q);
  assert.equal(bytes.length, 3 * Q8_0_BLOCK_BYTES);
  assert.deepEqual([...bytes.subarray(0, 2)], [0x00, 0x3c]); // f16 1.0 little-endian
  assert.equal(bytes[2], 127);
  const back = decodeQ8_0Blocks(bytes, 70);
  assert.deepEqual(back.d, q.d);
  assert.deepEqual(back.qs, q.qs);
  assert.throws(() => decodeQ8_0Blocks(bytes, 100), RangeError);
});
