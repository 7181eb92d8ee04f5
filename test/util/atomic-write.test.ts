import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { writeFileAtomic, isAtomicTemp, atomicTempName, writeFileDurable } from '../../src/util/atomic-write.ts';

test('writeFileAtomic writes, replaces, and leaves no temporary file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfab-atomic-'));
  const file = path.join(dir, 'state.json');
  writeFileAtomic(file, '{"a":1}');
  assert.equal(fs.readFileSync(file, 'utf8'), '{"a":1}');
  const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i * 7);
  writeFileAtomic(file, big);
  assert.deepEqual(new Uint8Array(fs.readFileSync(file)), big);
  assert.deepEqual(fs.readdirSync(dir), ['state.json']);
  writeFileDurable(path.join(dir, 'plain.bin'), new Uint8Array([1, 2, 3]));
  assert.deepEqual([...fs.readFileSync(path.join(dir, 'plain.bin'))], [1, 2, 3]);
  fs.rmSync(dir, { recursive: true });
});

test('a failed rename keeps the old content and removes the temporary file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfab-atomic-'));
  const file = path.join(dir, 'f.txt');
  writeFileAtomic(file, 'old');
  const real = fs.renameSync;
  fs.renameSync = (() => { throw Object.assign(new Error('injected EIO'), { code: 'EIO' }); }) as typeof fs.renameSync;
  syncBuiltinESMExports();
  try {
    assert.throws(() => writeFileAtomic(file, 'new'), /injected EIO/);
  } finally {
    fs.renameSync = real;
    syncBuiltinESMExports();
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
  assert.deepEqual(fs.readdirSync(dir), ['f.txt']);
  // A missing directory is an error, not a silent no-op.
  assert.throws(() => writeFileAtomic(path.join(dir, 'nope', 'x'), 'x'), /ENOENT/);
  fs.rmSync(dir, { recursive: true });
});

test('temporary names are recognizable and live beside the target', () => {
  const t = atomicTempName('/a/b/model.safetensors');
  assert.equal(path.dirname(t), '/a/b');
  assert.ok(isAtomicTemp(t), t);
  assert.ok(!isAtomicTemp('/a/b/model.safetensors'));
  assert.ok(!isAtomicTemp('.tmp-step-3-1-ab'));
});
