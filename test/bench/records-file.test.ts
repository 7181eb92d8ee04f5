/**
 * Records files a user names are read asynchronously, only when they are regular files within a size limit: a FIFO
 * is refused without waiting for a writer, a device (/dev/zero) without reading a byte, a file over the limit with
 * the limit named; errors name the path, never the contents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecords, readRecords } from '../../src/bench/heldout.ts';
import { loadDocs, validateTask } from '../../src/bench/task.ts';

const REC = JSON.stringify({ messages: [{ role: 'user', content: '问' }, { role: 'assistant', content: '答' }] });

test('a regular file is read; one over the size limit is refused with the limit named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-records-'));
  try {
    const f = join(dir, 'val.jsonl');
    writeFileSync(f, `${REC}\n${REC}\n`);
    assert.equal((await readRecords(f)).length, 2);
    await assert.rejects(readRecords(f, 10), (e: Error) => e.message.startsWith(`${f}: `) && /over the limit of/.test(e.message));
    await assert.rejects(readRecords(join(dir, 'missing.jsonl')), /no such file/);
    await assert.rejects(readRecords(dir), /not a regular file/);
    writeFileSync(f, `${REC}\n{"secret": tru\n`);
    await assert.rejects(readRecords(f), (e: Error) => e.message.startsWith(`${f}: line 2: invalid JSON`) && !e.message.includes('secret'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a FIFO and /dev/zero are refused before anything is read, by the async and the task-file readers', { skip: process.platform === 'win32' ? 'no FIFOs' : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-records-'));
  const fifo = join(dir, 'pipe.jsonl');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  // a writer that would feed a reader a valid record: a reader that opened the FIFO would get it
  const writer = spawn('sh', ['-c', `printf '%s\\n' '${REC}' > "${fifo}"`], { stdio: 'ignore' });
  try {
    await assert.rejects(readRecords(fifo), (e: Error) => e.message === `${fifo}: not a regular file`);
    const task = validateTask({ task: 'h', dataset: { kind: 'generator', name: 'heldout', params: { path: fifo } }, output_type: 'generate_until', doc_to_text: '{{question}}', doc_to_target: '{{answer}}', metric_list: [{ metric: 'f1' }] }, 'h');
    assert.throws(() => loadDocs(task, 'test'), /not a regular file/);
    if (existsSync('/dev/zero')) {
      await assert.rejects(readRecords('/dev/zero'), /\/dev\/zero: not a regular file/);
    }
  } finally {
    writer.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseRecords: JSON Lines with line numbers, or a JSON array', () => {
  assert.deepEqual(parseRecords(`${REC}\n\n${REC}\n`, 'x').length, 2);
  assert.deepEqual(parseRecords(`[${REC}]`, 'x').length, 1);
  assert.throws(() => parseRecords('{}\nnot json', 'f.jsonl'), /^Error: f.jsonl: line 2: invalid JSON/);
});
