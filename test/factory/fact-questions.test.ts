/**
 * An experiment's fact questions: checked before anything is created (every problem, by field, without quoting
 * them), refused when the factory suite that asks them is left out, and turned into the `facts` dimension of the
 * suite every job runs (a file per set beside the held-out splits, asked under the set's system prompt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_KEY, startServer } from '../api/helpers.ts';
import { experimentSuite } from '../../src/factory/evaluate.ts';
import { factQuestionsJsonl } from '../../src/bench/fact-question-sets.ts';

const auth = { authorization: `Bearer ${ADMIN_KEY}` };

test('fact_questions: every problem at once, by field; nothing is created', async () => {
  const { srv, stop } = await startServer();
  try {
    const body = {
      name: 'facts', base_models: ['spruce-s'], datasets: ['sup'], methods: [{ type: 'full' }], hyperparameters: {},
      fact_questions: [
        { name: 'ok', questions: [{ question: 'How heavy?', answers: ['50 kg'] }] },
        { name: 'bad', system: 3, questions: [{ question: 'Who?', answers: ['PRIVATE-VALUE', ''] }] },
      ],
    };
    for (const url of ['/v1/experiments/plan', '/v1/experiments']) {
      const r = await srv.app.inject({ method: 'POST', url, headers: auth, payload: body });
      assert.equal(r.statusCode, 400, r.body);
      const e = r.json().error;
      assert.equal(e.param, 'fact_questions');
      assert.equal(e.message, 'fact_questions[1].system: must be a string; fact_questions[1].questions[0].answers[1]: must be a non-empty string');
      assert.ok(!r.body.includes('PRIVATE-VALUE'));
    }
    const off = await srv.app.inject({ method: 'POST', url: '/v1/experiments/plan', headers: auth, payload: { ...body, suites: [], fact_questions: [body.fact_questions[0]] } });
    assert.equal(off.statusCode, 400);
    assert.match(off.json().error.message, /fact_questions: are asked by the factory suite, which suites leaves out/);
    const list = await srv.app.inject({ method: 'GET', url: '/v1/experiments', headers: auth });
    assert.deepEqual(list.json().data, []);
  } finally {
    await stop();
  }
});

test('the factory suite: fact questions are the facts dimension, first, each set under its system prompt', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-facts-suite-'));
  try {
    const f = join(dir, 'company_facts_en.facts.jsonl');
    writeFileSync(f, factQuestionsJsonl([{ question: 'How heavy a load can the T100 move?', answers: ['50 kg'] }, { question: 'Who runs it?', answers: ['Lin Yuanzhou'] }]));
    const suite = experimentSuite({ cacheDir: dir, datasets: [], limit: 1, factQuestions: [{ name: 'company_facts_en', path: f, system: 'You are the assistant.' }] });
    assert.deepEqual(suite.dimensions.map((d) => d.name), ['facts', 'reasoning', 'context']);
    const t = suite.dimensions[0].tasks[0].task;
    assert.equal(t.task, 'company_facts_en');
    assert.equal(t.primary_metric, 'fact');
    assert.equal(t.system_prompt, 'You are the assistant.');
    assert.equal(t.limit, undefined, 'every fact question is asked, not the first `limit`');
    assert.deepEqual(experimentSuite({ cacheDir: dir, datasets: [], limit: 1 }).dimensions.map((d) => d.name), ['reasoning', 'context']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
