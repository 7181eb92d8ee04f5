// The retriever stage as a factory job, run by the engine worker in this process on tiny data: the data file read
// with every problem named by file, line and field; the spec validated; metrics.jsonl a line a step, the model folder
// (loadable), the benchmark before and after training, manifest.json last; a stop writes nothing to resume from.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRetrieverData, retrieverPlan, writeRetrieverData, RetrieverDataError } from '../../src/factory/retriever-job.ts';
import { runJob, validateJobSpec, JobSpecError, type Manifest } from '../../src/factory/engine-worker.ts';
import { readMetrics } from '../../src/engine/metrics-log.ts';
import { loadRetriever } from '../../src/knowledge/retriever.ts';
import type { JobSpec } from '../../src/factory/job-spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'mf-retriever-job-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const UNITS = [
  { id: 'a1', title: '第一条', text: '消费者网购商品，有权自收到商品之日起七日内退货，且无需说明理由。' },
  { id: 'a2', title: '第二条', text: '经营者不得搜查消费者的身体及其携带的物品，不得侵犯消费者的人身自由。' },
  { id: 'a3', title: '第三条', text: '经营者提供商品或者服务有欺诈行为的，应当增加赔偿消费者的损失，增加赔偿的金额为价款的三倍。' },
  { id: 'a4', title: '第四条', text: '消费者因商品缺陷造成人身损害的，可以向销售者要求赔偿，也可以向生产者要求赔偿。' },
];
const QUESTIONS = [
  { unit: 'a1', text: '网上买的东西能退吗' }, { unit: 'a2', text: '商场保安可以搜我的包吗' },
  { unit: 'a3', text: '商家欺诈赔多少' }, { unit: 'a4', text: '产品有缺陷把人弄伤了找谁赔' },
];
const VALIDATION = [{ unit: 'a1', text: '七天无理由退货' }, { unit: 'a3', text: '欺诈要赔三倍吗' }];

function spec(id: string, epochs: number): JobSpec {
  const files = writeRetrieverData(join(dir, id, 'data'), UNITS, QUESTIONS, VALIDATION, '搜包, 翻包 => 搜查');
  return {
    version: 1, id, name: `retriever ${id}`, stage: 'retriever', base: { kind: 'dual-encoder', vocab: 4096, dims: 32 }, method: { type: 'full' },
    data: { train: { path: files.train, kind: 'retriever' }, validation: { path: files.validation!, kind: 'retriever' } },
    hyperparameters: { batchSize: 4, epochs, lr: 3e-3, seqLen: 0, warmupSteps: 1, retriever: { tau: 0.2, hardNegatives: 2, minSentence: 6 } },
    seed: 3, outputDir: join(dir, id), threads: 1,
  };
}

test('a retriever job trains, writes its curve, its model, its benchmark and its manifest', async () => {
  const s = validateJobSpec(JSON.parse(JSON.stringify(spec('job1', 4))));
  assert.equal(await runJob(s, { heartbeatS: 60 }), 'succeeded');
  const plan = retrieverPlan(UNITS, QUESTIONS, { vocab: 4096, dims: 32, batch: 4, epochs: 4, minSentence: 6 });
  const metrics = readMetrics(join(dir, 'job1', 'metrics.jsonl'));
  assert.equal(metrics.length, plan.steps, 'one line a step, as many as planned');
  assert.deepEqual(metrics.map((m) => m.step), metrics.map((_, i) => i + 1));
  assert.ok(metrics.every((m) => m.total_steps === plan.steps && Number.isFinite(m.loss) && m.eta_s >= 0));
  assert.ok(metrics.at(-1)!.loss < metrics[0]!.loss, `the loss falls: ${metrics[0]!.loss} -> ${metrics.at(-1)!.loss}`);
  const m = JSON.parse(readFileSync(join(dir, 'job1', 'manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.model_kind, 'retriever');
  assert.equal(m.steps, plan.steps);
  assert.equal(m.train_loss, metrics.at(-1)!.loss);
  assert.equal(m.trainable_params, 4096 * 32 + 32 * 32);
  assert.equal(m.eval_metrics!.questions, 2);
  for (const k of ['top1', 'top3', 'top1_before', 'top3_before']) assert.ok(m.eval_metrics![k]! >= 0 && m.eval_metrics![k]! <= 1, k);
  assert.equal(m.bench!.overall, m.eval_metrics!.top1);
  assert.equal(m.bench!.base_overall, m.eval_metrics!.top1_before);
  const r = await loadRetriever(join(dir, 'job1', 'model'));
  assert.equal(r.dims, 32);
  assert.equal(r.meta.units, 4);
  assert.equal(r.meta.finalLoss, m.train_loss);
  // the lexicon's words travel with the model, so a text is cut into the same words wherever it is loaded
  assert.deepEqual(r.meta.userWords, ['搜包', '搜查', '翻包']);
  // deterministic for its seed: the same spec trains the same curve
  assert.equal(await runJob(validateJobSpec(JSON.parse(JSON.stringify({ ...spec('job1b', 4) }))), { heartbeatS: 60 }), 'succeeded');
  assert.deepEqual(readMetrics(join(dir, 'job1b', 'metrics.jsonl')).map((x) => x.loss), metrics.map((x) => x.loss));
});

test('a stopped retriever job says so and starts its curve again when run again', async () => {
  const ac = new AbortController();
  ac.abort();
  const s = spec('job2', 2);
  assert.equal(await runJob(s, { signal: ac.signal, heartbeatS: 60 }), 'stopped');
  assert.equal(readMetrics(join(dir, 'job2', 'metrics.jsonl')).length, 1);
  assert.ok(!existsSync(join(dir, 'job2', 'manifest.json')));
  assert.equal(await runJob(s, { heartbeatS: 60 }), 'succeeded');
  const steps = retrieverPlan(UNITS, QUESTIONS, { vocab: 4096, dims: 32, batch: 4, epochs: 2, minSentence: 6 }).steps;
  assert.deepEqual(readMetrics(join(dir, 'job2', 'metrics.jsonl')).map((x) => x.step), Array.from({ length: steps }, (_, i) => i + 1));
});

test('bad retriever data names the file, the line and the field', async () => {
  const f = join(dir, 'bad.jsonl');
  const bad = (lines: string[], re: RegExp, known?: Set<string>) => {
    writeFileSync(f, lines.join('\n'));
    assert.throws(() => readRetrieverData(f, known), (e: unknown) => e instanceof RetrieverDataError && re.test((e as Error).message) && (e as Error).message.startsWith(f));
  };
  const unit = JSON.stringify({ id: 'u', title: 't', text: '正文' });
  bad([unit, '{"unit": "u", "question": '], /bad\.jsonl:2: invalid JSON$/);
  bad([unit, JSON.stringify({ unit: 'v', question: '问' })], /:2: field "unit": "v" names no unit/);
  bad([unit, unit], /:2: field "id": unit "u" appears twice/);
  bad([unit, JSON.stringify({ text: 3, id: 'w' })], /:2: field "text" must be a non-empty string/);
  bad([unit, JSON.stringify({ q: 'x' })], /:2: a line is a unit/);
  bad([JSON.stringify({ unit: 'u', question: '问' })], /:1: a question before any unit/);
  bad([unit], /:1: a validation file holds questions only/, new Set(['u']));
  bad([''], /: no units$/);
  assert.deepEqual(readRetrieverData((writeFileSync(f, `${unit}\n${JSON.stringify({ unit: 'u', question: '问题' })}\n`), f)).questions, [{ unit: 'u', text: '问题' }]);
  // the worker reports it as invalid data (exit 2), naming the file
  const s = spec('job3', 1);
  writeFileSync(s.data.train.path, `${unit}\n{oops\n`);
  await assert.rejects(runJob(s, { heartbeatS: 60 }), (e: unknown) => e instanceof JobSpecError && /train\.jsonl:2: invalid JSON/.test((e as Error).message));
  assert.throws(() => validateJobSpec({ ...spec('job4', 1), base: { kind: 'engine', path: 'x' } }), /base.kind must be dual-encoder/);
  assert.throws(() => validateJobSpec({ ...spec('job5', 1), base: { kind: 'dual-encoder', vocab: 0, dims: 8 } }), /base.vocab and base.dims/);
});
