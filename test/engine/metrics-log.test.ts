import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MetricsLog, readMetrics, readMetricsFrom, parseMetrics, type MetricsRecord } from '../../src/engine/metrics-log.ts';

function rec(step: number, extra: Partial<MetricsRecord> = {}): MetricsRecord {
  return { step, epoch: 0, loss: 2 - step / 100, lr: 1e-3, grad_norm: 0.5, tokens_per_s: 1000, elapsed_s: step, eta_s: 100 - step, ...extra };
}

const dirs: string[] = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function tmpFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfab-metrics-'));
  dirs.push(dir);
  return path.join(dir, 'run', 'metrics.jsonl');
}

test('MetricsLog appends whole lines, notifies listeners, and readMetrics reads them back', () => {
  const file = tmpFile();
  const seen: number[] = [];
  const log = new MetricsLog(file, { listener: (r) => seen.push(r.step) });
  const seen2: number[] = [];
  const off = log.onRecord((r) => seen2.push(r.step));
  log.log(rec(1));
  // Visible to a reader immediately, as a whole line.
  assert.ok(fs.readFileSync(file, 'utf8').endsWith('}\n'));
  assert.deepEqual(readMetrics(file), [rec(1)]);
  off();
  log.log(rec(2, { eval_loss: 1.5, custom: { a: [1, 2] } }));
  log.write(rec(3, { loss: NaN, grad_norm: Infinity })); // write = log
  log.close();
  assert.deepEqual(seen, [1, 2, 3]);
  assert.deepEqual(seen2, [1]);
  const back = readMetrics(file);
  assert.equal(back.length, 3);
  assert.deepEqual(back[1], rec(2, { eval_loss: 1.5, custom: { a: [1, 2] } }));
  assert.ok(Number.isNaN(back[2].loss), 'NaN loss survives');
  assert.equal(back[2].grad_norm, Infinity);
  assert.equal(fs.readFileSync(file, 'utf8').split('\n').length, 4);
  assert.throws(() => log.log(rec(4)), /closed/);
  assert.throws(() => new MetricsLog(file).log({ ...rec(1), step: NaN }), /step must be a finite number/);
  // The listener may be passed directly instead of in options.
  const direct: number[] = [];
  const log3 = new MetricsLog(file, (r) => direct.push(r.step));
  log3.log(rec(9));
  log3.close();
  assert.deepEqual(direct, [9]);
});

test('a partial last line (crash mid-write) is ignored, and a reopened log starts on a fresh line', () => {
  const file = tmpFile();
  const log = new MetricsLog(file);
  log.log(rec(1));
  log.log(rec(2));
  log.close();
  // Simulate a crash in the middle of writing record 3.
  const full = JSON.stringify(rec(3));
  fs.appendFileSync(file, full.slice(0, 20));
  assert.deepEqual(readMetrics(file).map((r) => r.step), [1, 2]);
  const parsed = parseMetrics(fs.readFileSync(file, 'utf8'));
  assert.equal(parsed.partialTail, true);
  assert.equal(parsed.skipped, 0);
  // The run resumes and appends again.
  const log2 = new MetricsLog(file);
  log2.log(rec(3));
  log2.close();
  const after = parseMetrics(fs.readFileSync(file, 'utf8'));
  assert.deepEqual(after.records.map((r) => r.step), [1, 2, 3]);
  assert.equal(after.skipped, 1, 'the sealed partial line is skipped, not glued to record 3');
  assert.equal(after.partialTail, false);
  // Every truncation point of a valid file yields a prefix of the records, never an error.
  const text = fs.readFileSync(file, 'utf8');
  for (let cut = 0; cut <= text.length; cut++) {
    const steps = parseMetrics(text.slice(0, cut)).records.map((r) => r.step);
    assert.deepEqual(steps, [1, 2, 3].slice(0, steps.length));
  }
  assert.deepEqual(readMetrics(path.join(path.dirname(file), 'missing.jsonl')), []);
});

test('readMetricsFrom tails a growing file one whole line at a time', () => {
  const file = tmpFile();
  const log = new MetricsLog(file);
  let { records, nextOffset } = readMetricsFrom(file, 0);
  assert.deepEqual(records, []);
  log.log(rec(1, { note: 'ünïcødé' }));
  log.log(rec(2));
  ({ records, nextOffset } = readMetricsFrom(file, nextOffset));
  assert.deepEqual(records.map((r) => r.step), [1, 2]);
  assert.equal(records[0].note, 'ünïcødé');
  // A line in the middle of being written is not consumed...
  const line = JSON.stringify(rec(3, { note: 'ü' })) + '\n';
  const bytes = Buffer.from(line);
  fs.appendFileSync(file, bytes.subarray(0, bytes.indexOf(Buffer.from('ü')) + 1)); // cut inside the 2-byte 'ü'
  const mid = readMetricsFrom(file, nextOffset);
  assert.deepEqual(mid, { records: [], nextOffset });
  // ...and is read whole once finished.
  fs.appendFileSync(file, bytes.subarray(bytes.indexOf(Buffer.from('ü')) + 1));
  ({ records, nextOffset } = readMetricsFrom(file, nextOffset));
  assert.deepEqual(records, [rec(3, { note: 'ü' })]);
  assert.equal(nextOffset, fs.statSync(file).size);
  log.close();
});
