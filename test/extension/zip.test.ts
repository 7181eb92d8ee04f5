/** The extension's zip writer (extension/zip.mjs): read back by Python's zipfile, same bytes for the same files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zip } from '../../extension/zip.mjs';

const files = [
  { name: 'manifest.json', data: '{"manifest_version": 3}' },
  { name: '_locales/zh_CN/messages.json', data: '{"name": {"message": "智能助手"}}' },
  { name: 'panel.js', data: 'console.log(1);\n'.repeat(500) },
  { name: 'empty.txt', data: '' },
];

test('a zip that another reader opens, with every file as written', () => {
  const bytes = zip(files);
  assert.deepEqual(zip([...files].reverse()), bytes, 'reproducible: order and time do not change the bytes');
  assert.ok(bytes.length < 2000, 'compressed');
  const dir = mkdtempSync(join(tmpdir(), 'mf-zip-'));
  try {
    writeFileSync(join(dir, 'x.zip'), bytes);
    const py = spawnSync('python3', ['-c', 'import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(json.dumps({i.filename: z.read(i).decode() for i in z.infolist()}))', join(dir, 'x.zip')], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    assert.deepEqual(JSON.parse(py.stdout), Object.fromEntries(files.map((f) => [f.name, f.data])));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => zip([{ name: '../evil', data: 'x' }]), /bad entry name/);
});
