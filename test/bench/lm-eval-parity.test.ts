/**
 * The field's evaluation harness agrees with the Benchmark System: lm-evaluation-harness (`lm_eval` from PyPI, in
 * the torch trainer's virtual environment) scores a model served by the gateway through /v1/completions (token-id
 * prompts, echo, logprobs) on an MMLU subject exported from modelfab's own task, and gets modelfab's accuracy (and
 * the same prediction on every question). Slow (the harness starts in about 15 s); skipped without the virtual
 * environment, except under MODELFAB_REQUIRE_PYTHON_TESTS=1 (CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { examTask, reasoningTask } from '../../src/bench/builtin.ts';
import { exportLmEvalTask, lmEvalUnsupported } from '../../src/bench/lm-eval-export.ts';
import { lmEvalParity } from '../../bench/lm-eval-parity.ts';
import { needsShared, shared } from '../shared-data.ts';

const root = join(import.meta.dirname, '..', '..');
const python = process.env.MODELFAB_TORCH_PYTHON || join(root, '.venv-torch', 'bin', 'python');
const noHarness = !existsSync(python) && process.env.MODELFAB_REQUIRE_PYTHON_TESTS !== '1'
  ? `no Python environment at ${python} (bash scripts/setup-test-env.sh creates it)` : undefined;

test('an exam task exports to the harness\'s YAML with its documents; what the harness scores differently is refused', needsShared('bench/mmlu'), () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-lmx-'));
  try {
    const t = examTask('mmlu', shared('bench/mmlu'), 'marketing', { numFewshot: 2 });
    const x = exportLmEvalTask(t, dir);
    const y = parse(readFileSync(x.yamlPath, 'utf8'));
    assert.equal(y.task, 'mmlu_marketing');
    assert.equal(y.output_type, 'multiple_choice');
    assert.equal(y.doc_to_text, t.doc_to_text);
    assert.deepEqual(y.doc_to_choice, ['A', 'B', 'C', 'D']);
    assert.equal(y.num_fewshot, 2);
    assert.deepEqual(y.fewshot_config, { sampler: 'first_n' });
    assert.equal(x.docs.test, 234);
    assert.equal(x.docs.dev, 5);
    const first = JSON.parse(readFileSync(y.dataset_kwargs.data_files.test, 'utf8').split('\n')[0]);
    assert.equal(typeof first.question, 'string');
    assert.equal(first.choices.length, 4);
    assert.match(lmEvalUnsupported(examTask('mmlu', shared('bench/mmlu'), 'marketing', { circular: true })) ?? '', /circular_eval/);
    assert.equal(lmEvalUnsupported(reasoningTask('en')), null);
    assert.throws(() => exportLmEvalTask({ ...t, output_type: 'generate_until' }, dir), /only multiple_choice/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lm-evaluation-harness through the gateway scores an MMLU subject as the Benchmark System does', { skip: noHarness ?? needsShared('bench/mmlu').skip, timeout: 600_000 }, async () => {
  const limit = 40;
  const p = await lmEvalParity({ python, benchData: shared('bench'), subject: 'high_school_geography', limit, numFewshot: 1 });
  const { harness: r, modelfab: ours } = p;
  assert.equal(r.samples.length, limit);
  const preds = ours.items.map((s) => s.pred);
  assert.ok(new Set(preds).size >= 3, `the model's choice varies from question to question (${preds.join('')})`);
  assert.deepEqual(r.samples.map((s) => s.pred), preds, 'the same choice on every question');
  assert.deepEqual(r.samples.map((s) => s.gold), ours.items.map((s) => s.gold));
  for (const [i, s] of r.samples.entries()) {
    for (const [k, ll] of s.loglikelihoods.entries()) assert.ok(Math.abs(ll - ours.items[i]!.loglikelihoods![k]!) < 1e-3, `doc ${i} choice ${k}: ${ll} vs ${ours.items[i]!.loglikelihoods![k]}`);
  }
  assert.equal(p.samePredictions, limit);
  assert.ok(p.absDiffPoints < 1e-6, `harness acc ${r.metrics.acc} vs modelfab ${ours.metrics.acc}`);
});
