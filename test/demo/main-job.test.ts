/**
 * The main job end to end in its quick form (`modelfab demo --quick`): the factory pretrains one small base, runs a
 * 1 x 3 x 3 experiment, benchmarks every fine-tune, and deploys the leaderboard's best behind the gateway under the
 * demo guard policy: a plain question is answered, a phone number is masked before the model sees it, a banned
 * request is refused with the policy's message, and a mark by response id reaches the feedback queue.
 * [slow: trains 10 small models in worker processes, about half a minute]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFactoryDemo } from '../../src/demo/factory-demo.ts';
import { createServer } from '../../src/api/server.ts';

test('[slow] main job (quick): bases, 9 fine-tunes, leaderboard, the best deployed under a guard', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-main-job-'));
  const lines: string[] = [];
  try {
    const r = await runFactoryDemo({ dataDir: dir, quick: true, reporter: { line: (t) => lines.push(t), run: () => ({ update() {}, done() {} }) } });
    assert.equal(r.experiment.jobs.length, 9);
    assert.ok(r.experiment.jobs.every((j) => j.status === 'succeeded'), JSON.stringify(r.experiment.jobs.map((j) => j.status)));
    assert.match(r.leaderboard, /spruce-s x support_qa x full/);
    // the held-out company-fact questions are a dimension of the leaderboard, and the results state the margin
    assert.match(r.leaderboard.split('\n')[1], /overall\s+facts\s+reasoning/);
    assert.ok(r.facts, 'the facts margin');
    assert.equal(r.facts!.perBase.length, 1);
    assert.ok(lines.some((l) => new RegExp(`best fine-tune ${r.facts!.best.name}: \\d+% of the company-fact questions vs \\d+% for its base spruce-s`).test(l)), lines.join('\n'));
    const spec = JSON.parse(readFileSync(join(dir, 'experiments', r.experiment.id, 'heldout', 'company_facts_zh.facts.jsonl'), 'utf8').split('\n')[0]);
    assert.ok(spec.question && spec.answers.length > 0);
    assert.ok(r.served, lines.join('\n'));
    const [plain, pii, banned] = r.served!.requests;
    assert.notEqual(plain.outcome, 'refused');
    assert.equal(pii.outcome, 'rewritten');
    assert.equal(banned.outcome, 'refused');
    assert.equal(banned.finish, 'content_filter');
    assert.equal(banned.answer, '抱歉，云杉智造不提供此类服务。');
    assert.ok(lines.some((l) => l.includes('(the model saw: 我的手机号是138****5678，')), lines.join('\n'));

    // everything the demo made is in the data folder: a server started on it has the deployment, log and feedback
    const srv = await createServer({ dataDir: dir, adminKey: 'sk-mf-test-admin-main-job-0123456789', serve: { warm: false } });
    try {
      const fb = await srv.feedback.list({ status: 'pending' });
      assert.equal(fb.data.length, 1);
      assert.equal(fb.data[0].response_id, plain.id);
      assert.equal((await srv.requestLog.getResponse(banned.id))?.outcome, 'refused');
      assert.equal((await srv.store.deployments.getByName('spruce-assistant'))?.status, 'active');
    } finally {
      await srv.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
