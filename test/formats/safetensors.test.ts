import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeSafetensors, decodeSafetensors, tensorToF32, SafetensorsError, MAX_HEADER_SIZE,
  type SafetensorsErrorCode, type SafetensorsTensorInput,
} from '../../src/formats/safetensors.ts';
import { f32ArrayToF16, f32ArrayToBf16 } from '../../src/formats/half.ts';
import { Rng } from '../../src/engine/rng.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A file image from a header string (padded or not, as given) and raw data bytes. */
function handMade(header: string, data: ArrayLike<number> = [], headerLenOverride?: number): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, headerLenOverride ?? h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function f32Bytes(values: number[]): number[] {
  return [...new Uint8Array(new Float32Array(values).buffer)];
}

function expectError(buf: Uint8Array, code: SafetensorsErrorCode, message: RegExp): void {
  assert.throws(() => decodeSafetensors(buf), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${e}`);
    assert.equal(e.code, code, `code for: ${e.message}`);
    assert.match(e.message, message);
    return true;
  });
}

test('byte-level: matches hand-made files (the reference implementation\'s own test vectors)', () => {
  const data = new Float32Array([0, 1, 2, 3, 4, 5]);
  // 64-byte header, already aligned: no padding.
  const a = encodeSafetensors([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data }]);
  const wantA = handMade('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', f32Bytes([0, 1, 2, 3, 4, 5]));
  assert.deepEqual([...a], [...wantA]);
  assert.deepEqual([...a.subarray(0, 8)], [64, 0, 0, 0, 0, 0, 0, 0]);
  // 65-byte JSON padded with 7 spaces to 72.
  const b = encodeSafetensors([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data }]);
  const wantB = handMade('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ', f32Bytes([0, 1, 2, 3, 4, 5]));
  assert.deepEqual([...b], [...wantB]);
  assert.equal(b[0], 72);
  // Empty file, with and without metadata.
  assert.deepEqual([...encodeSafetensors([])], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  assert.deepEqual([...encodeSafetensors([], { framework: 'pt' })], [...handMade('{"__metadata__":{"framework":"pt"}}     ')]);
  // And the decoder reads a hand-made file.
  const d = decodeSafetensors(wantB);
  const t = d.tensors.get('attn0')!;
  assert.equal(t.dtype, 'F32');
  assert.deepEqual(t.shape, [1, 1, 2, 3]);
  assert.deepEqual([...tensorToF32(t)], [0, 1, 2, 3, 4, 5]);
  assert.equal(d.metadata, null);
});

test('round trip: dtypes, shapes (scalar, empty), metadata; header sorted and 8-aligned', () => {
  const rng = new Rng(7);
  const f = new Float32Array(12).map(() => rng.normal());
  const tensors: SafetensorsTensorInput[] = [
    { name: 'z.weight', dtype: 'F32', shape: [3, 4], data: f },
    { name: 'a.bias', dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) },
    { name: 'half', dtype: 'F16', shape: [2, 6], data: f32ArrayToF16(f) },
    { name: 'brain', dtype: 'BF16', shape: [12], data: f32ArrayToBf16(f) },
    { name: 'ids', dtype: 'I32', shape: [3], data: new Int32Array([-1, 0, 7]) },
    { name: 'flag', dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    { name: 'scalar', dtype: 'F64', shape: [], data: new Float64Array([Math.PI]) },
    { name: 'empty', dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
    { name: 'ünï', dtype: 'U8', shape: [1], data: new Uint8Array([9]) },
  ];
  const meta = { format: 'pt', note: 'quote " backslash \\ newline \n tab \t' };
  const buf = encodeSafetensors(tensors, meta);
  const n = new DataView(buf.buffer).getUint32(0, true);
  assert.equal(n % 8, 0);
  const headerText = dec.decode(buf.subarray(8, 8 + n));
  assert.match(headerText, /^\{"__metadata__":\{"format":"pt","note":/);
  assert.match(headerText, / *$/);
  const keys = Object.keys(JSON.parse(headerText));
  // Decreasing alignment (F64, then I32/F32 by enum order: F32 before I32, then BF16, F16, U8, BOOL), then name.
  assert.deepEqual(keys, ['__metadata__', 'scalar', 'a.bias', 'empty', 'z.weight', 'ids', 'brain', 'half', 'ünï', 'flag']);
  const d = decodeSafetensors(buf);
  assert.deepEqual(d.metadata, meta);
  assert.deepEqual([...d.tensors.keys()], keys.slice(1)); // data-offset order
  for (const t of tensors) {
    const got = d.tensors.get(t.name)!;
    assert.equal(got.dtype, t.dtype);
    assert.deepEqual(got.shape, [...t.shape]);
    assert.deepEqual([...got.data], [...new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
    // Every tensor starts at a file offset aligned to its element size.
    const size = t.data.byteLength / Math.max(1, t.shape.reduce((a, b) => a * b, 1));
    if (t.data.byteLength) assert.equal((got.data.byteOffset - buf.byteOffset) % size, 0, t.name);
  }
  assert.deepEqual([...tensorToF32(d.tensors.get('z.weight')!)], [...f]);
  const h = tensorToF32(d.tensors.get('half')!);
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(h[i] - f[i]) <= Math.abs(f[i]) * 2 ** -11 + 1e-7);
  const bf = tensorToF32(d.tensors.get('brain')!);
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(bf[i] - f[i]) <= Math.abs(f[i]) * 2 ** -8);
  assert.equal(tensorToF32(d.tensors.get('scalar')!)[0], Math.fround(Math.PI));
  assert.throws(() => tensorToF32(d.tensors.get('ids')!), (e: unknown) => e instanceof SafetensorsError && e.code === 'UNSUPPORTED_DTYPE');
  // A Node Buffer (readFileSync's type; small ones live at an offset in a shared pool) decodes the same.
  const nodeBuf = Buffer.from(buf);
  const fromBuf = tensorToF32(decodeSafetensors(nodeBuf).tensors.get('z.weight')!);
  assert.deepEqual([...fromBuf], [...f]);
  // Decoding a view at a non-zero offset into a bigger buffer works too.
  const big = new Uint8Array(buf.length + 13);
  big.set(buf, 5);
  assert.deepEqual([...decodeSafetensors(big.subarray(5, 5 + buf.length)).tensors.get('ids')!.data], [...new Uint8Array(new Int32Array([-1, 0, 7]).buffer)]);
});

test('tensor order is UTF-8 byte order (as Rust sorts Strings), also beyond U+FFFF', () => {
  const names = ['b', 'a', '\u{1F600}', '\uFF61', 'Z', 'aa'];
  const buf = encodeSafetensors(names.map((name) => ({ name, dtype: 'U8', shape: [1], data: new Uint8Array([1]) })));
  const n = new DataView(buf.buffer).getUint32(0, true);
  // U+FF61 (UTF-8 EF BD A1) sorts before U+1F600 (F0 9F 98 80), though its UTF-16 unit 0xFF61 > 0xD83D.
  assert.deepEqual(Object.keys(JSON.parse(dec.decode(buf.subarray(8, 8 + n)))), ['Z', 'a', 'aa', 'b', '\uFF61', '\u{1F600}']);
});

test('encoder rejects bad input with SafetensorsError(INVALID_INPUT)', () => {
  const bad = (ts: SafetensorsTensorInput[], re: RegExp) =>
    assert.throws(() => encodeSafetensors(ts), (e: unknown) => e instanceof SafetensorsError && e.code === 'INVALID_INPUT' && re.test(e.message));
  bad([{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array(2) }], /needs 12 bytes, data has 8/);
  bad([{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) }, { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) }], /duplicate tensor name "a"/);
  bad([{ name: '__metadata__', dtype: 'F32', shape: [1], data: new Float32Array(1) }], /reserved/);
  bad([{ name: 'a', dtype: 'F128' as never, shape: [1], data: new Float32Array(1) }], /unknown dtype "F128"/);
  bad([{ name: 'a', dtype: 'F32', shape: [-1], data: new Float32Array(1) }], /bad shape/);
});

test('errors never quote the bytes of a file that is not safetensors (a text file read by mistake)', () => {
  const secret = new TextEncoder().encode('root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n');
  const msg = (b: Uint8Array) => { try { decodeSafetensors(b); } catch (e) { return (e as Error).message; } return 'no error'; };
  // the first 8 bytes as a length, the header start, and JSON.parse's own message (it quotes the text) all leak
  for (const b of [secret, handMade('root:x:0:0:root'), handMade('{"root:x:0:0:root'), handMade('{"a":1} root:x:0')]) {
    const m = msg(b);
    assert.doesNotMatch(m.replace(String(MAX_HEADER_SIZE), 'LIMIT'), /root|daemon|bash|0x|\d{6,}/, m);
  }
});

test('malformed files: each problem has its own code and a message naming it', () => {
  const good = (offs: string) => `{"a":{"dtype":"F32","shape":[2],"data_offsets":${offs}}}`;
  const eight = new Array(8).fill(0);
  expectError(new Uint8Array(5), 'FILE_TOO_SMALL', /file is 5 bytes, shorter than the 8-byte header length/);
  expectError(handMade('{}', [], MAX_HEADER_SIZE + 1), 'HEADER_TOO_LARGE', /^safetensors: header length exceeds the 100000000-byte limit \(not a safetensors file\?\)$/);
  const huge = handMade('{}');
  new DataView(huge.buffer).setUint32(4, 1, true);
  expectError(huge, 'HEADER_TOO_LARGE', /^safetensors: header length exceeds/);
  expectError(handMade('{}  ', [], 100), 'HEADER_LENGTH', /^safetensors: header length reaches beyond the end of the 12-byte file/);
  const badUtf8 = handMade('{"a":1}');
  badUtf8[10] = 0xff;
  expectError(badUtf8, 'INVALID_UTF8', /not valid UTF-8/);
  expectError(handMade('[1,2]'), 'INVALID_HEADER_START', /^safetensors: header must start with '\{' \(not a safetensors file\?\)$/);
  expectError(handMade(''), 'INVALID_HEADER_START', /N = 0/);
  expectError(handMade(' {}'), 'INVALID_HEADER_START', /must start with '\{'/);
  expectError(handMade('{"a":'), 'INVALID_JSON', /header is not valid JSON/);
  expectError(handMade('{"a":{}} x'), 'INVALID_JSON', /^safetensors: header is not valid JSON \(at position 9\)$/);
  expectError(handMade('{"a":5}'), 'INVALID_HEADER', /tensor "a": entry must be an object, got number 5/);
  expectError(handMade('{"a":{"dtype":"F32"}}'), 'INVALID_HEADER', /tensor "a": missing shape, data_offsets/);
  expectError(handMade('{"__metadata__":{"k":1}}'), 'INVALID_HEADER', /"__metadata__"."k" must be a string, got number 1/);
  expectError(handMade('{"__metadata__":[]}'), 'INVALID_HEADER', /"__metadata__" must be an object of strings, got an array/);
  expectError(handMade('{"a":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}}', eight), 'UNKNOWN_DTYPE', /tensor "a": unknown dtype "F128"/);
  expectError(handMade('{"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}}', eight), 'UNKNOWN_DTYPE', /unknown dtype number 7/);
  expectError(handMade('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', eight), 'INVALID_SHAPE', /tensor "a": shape must be an array of non-negative integers, got \[-2\]/);
  expectError(handMade('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}', eight), 'INVALID_SHAPE', /got \[1.5\]/);
  expectError(handMade('{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', eight), 'INVALID_SHAPE', /got "2"/);
  expectError(handMade('{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}'), 'INVALID_SHAPE', /element count of shape \[4294967296,4294967296,0\] overflows/);
  expectError(handMade(good('[8,0]'), eight), 'INVALID_OFFSETS', /tensor "a": data_offsets must be \[begin, end\] with 0 <= begin <= end, got \[8,0\]/);
  expectError(handMade(good('[0]'), eight), 'INVALID_OFFSETS', /got \[0\]/);
  expectError(handMade(good('[-1,7]'), eight), 'INVALID_OFFSETS', /got \[-1,7\]/);
  expectError(handMade(good('[0,1e300]'), eight), 'INVALID_OFFSETS', /got \[0,1e\+300\]/);
  expectError(handMade('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', new Array(12).fill(0)),
    'OFFSETS_OVERLAP', /tensor "b" \[4, 12\] overlaps tensor "a" which ends at 8/);
  expectError(handMade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', new Array(12).fill(0)),
    'OFFSETS_GAP', /bytes \[4, 8\) between tensor "a" and tensor "b" are not covered by any tensor/);
  expectError(handMade(good('[4,12]'), new Array(12).fill(0)), 'OFFSETS_GAP', /bytes \[0, 4\) before the first tensor "a"/);
  expectError(handMade(good('[0,8]'), [0, 0, 0, 0]), 'OFFSETS_OUT_OF_BOUNDS', /tensor "a" \[0, 8\] ends past the data section of 4 bytes/);
  expectError(handMade(good('[0,8]'), new Array(10).fill(0)), 'TRAILING_DATA', /2 bytes at the end of the data section \(from offset 8 of 10\) are not covered/);
  expectError(handMade('{}', [1]), 'TRAILING_DATA', /1 bytes at the end/);
  expectError(handMade('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', eight), 'SIZE_MISMATCH', /tensor "a": F32 shape \[3\] needs 12 bytes, data_offsets \[0, 8\] span 8/);
  // Accepted: unpadded header, zero-size tensors, out-of-order entries, unknown extra fields (as the reference).
  const ok = decodeSafetensors(handMade('{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}', [5, 6]));
  assert.deepEqual([...ok.tensors.keys()], ['e', 'a', 'b']);
  assert.deepEqual([...ok.tensors.get('b')!.data], [6]);
  assert.equal(decodeSafetensors(handMade('{"__metadata__":null}')).metadata, null);
  // A "__proto__" tensor name or metadata key is just a name.
  const proto = decodeSafetensors(handMade('{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [3]));
  assert.equal(proto.metadata!['__proto__'], 'x');
  assert.equal(Object.getPrototypeOf(proto.metadata), Object.prototype);
  assert.deepEqual([...proto.tensors.get('__proto__')!.data], [3]);
});

function decodeOnlyTypedErrors(buf: Uint8Array): 'ok' | SafetensorsErrorCode {
  try {
    decodeSafetensors(buf);
    return 'ok';
  } catch (e) {
    if (e instanceof SafetensorsError) return e.code;
    throw new Error(`untyped throw on ${buf.length} bytes [${[...buf.subarray(0, 64)]}]: ${e instanceof Error ? e.stack : e}`);
  }
}

test('fuzz: truncations, random bytes and header mutations only ever throw SafetensorsError', () => {
  const rng = new Rng(2024);
  const file = encodeSafetensors([
    { name: 'w', dtype: 'F32', shape: [4, 3], data: new Float32Array(12).map(() => rng.normal()) },
    { name: 'b', dtype: 'F16', shape: [3], data: new Uint16Array([1, 2, 3]) },
    { name: 'i', dtype: 'I64', shape: [2], data: new BigInt64Array([1n, -1n]) },
  ], { format: 'pt' });
  // Every truncation fails, with a typed error.
  for (let len = 0; len < file.length; len++) assert.notEqual(decodeOnlyTypedErrors(file.subarray(0, len)), 'ok', `truncated to ${len}`);
  assert.equal(decodeOnlyTypedErrors(file), 'ok');
  // Pure random bytes, with and without a plausible header length.
  for (let iter = 0; iter < 3000; iter++) {
    const b = new Uint8Array(rng.int(200));
    for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
    if (iter % 2 === 0 && b.length >= 8) { b.fill(0, 0, 8); b[0] = rng.int(b.length - 7); b[8] = 0x7b; }
    decodeOnlyTypedErrors(b);
  }
  // Mutations of a valid file: flip, insert, delete bytes anywhere (mostly in the header).
  const n = new DataView(file.buffer).getUint32(0, true);
  for (let iter = 0; iter < 5000; iter++) {
    let b = file.slice();
    const edits = 1 + rng.int(3);
    for (let k = 0; k < edits; k++) {
      const at = rng.uniform() < 0.8 ? 8 + rng.int(n) : rng.int(b.length);
      const op = rng.int(3);
      if (op === 0) b[at] = rng.int(256);
      else if (op === 1) b = Uint8Array.from([...b.subarray(0, at), rng.int(256), ...b.subarray(at)]);
      else b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]);
    }
    decodeOnlyTypedErrors(b);
  }
  // Structured JSON headers assembled from plausible and implausible pieces.
  const values = ['0', '-1', '1.5', '1e400', 'null', 'true', '"F32"', '"F16"', '"BOOL"', '"X"', '[]', '[0]', '[0,4]', '[4,0]', '[0,8]', '[2]', '[2,2]', '{}', '{"a":"b"}', '[[1]]', '"__proto__"', '9007199254740993'];
  const pick = () => values[rng.int(values.length)];
  for (let iter = 0; iter < 5000; iter++) {
    const entries: string[] = [];
    for (let k = 0, m = rng.int(4); k < m; k++) {
      const name = rng.uniform() < 0.1 ? '__metadata__' : `t${rng.int(3)}`;
      const fields = [`"dtype":${pick()}`, `"shape":${pick()}`, `"data_offsets":${pick()}`].filter(() => rng.uniform() < 0.9);
      entries.push(rng.uniform() < 0.1 ? `"${name}":${pick()}` : `"${name}":{${fields.join(',')}}`);
    }
    decodeOnlyTypedErrors(handMade(`{${entries.join(',')}}`, new Array(rng.int(3) * 4).fill(0)));
  }
  // Deep nesting must not escape as a RangeError.
  assert.equal(decodeOnlyTypedErrors(handMade('{"a":' + '['.repeat(200000) + ']'.repeat(200000) + '}')), 'INVALID_HEADER');
});
