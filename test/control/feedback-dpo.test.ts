/**
 * End to end: preferences recorded through the feedback API become a preference dataset, one call to
 * POST /v1/feedback/train runs a DPO job on the factory's quick base model, and on held-out pairs the new model
 * prefers the kind of answer annotators chose (a courteous answer over a brush-off) more than the base model did:
 * held-out prompts of items never trained on, scored on courteous answers and brush-offs whose strings no
 * training pair holds.
 * [slow: pretrains a small base model and runs DPO in worker processes]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ADMIN_KEY, startServer } from '../api/helpers.ts';
import { ensureBaseModels } from '../../src/demo/base-models.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';
import { EngineTarget } from '../../src/bench/targets/engine.ts';

// The training pairs: a courteous opening and the answer, preferred over a brush-off.
const POLITE = ['您好！很高兴为您服务。', '您好，感谢您的耐心等待。', '您好！这个问题我来帮您解答。', '感谢您的咨询！'];
const RUDE = ['不知道，自己查。', '别问我。', '这种事自己看说明书。', '没空回答。'];
// The held-out pairs: the same kind of preference in strings no training pair holds.
const HELD_POLITE = ['您好，很乐意为您解答。', '您好！谢谢您的提问。', '您好，感谢您联系我们。'];
const HELD_RUDE = ['少来烦我。', '问别人去，我不管。', '你自己上网搜吧。'];

test('[slow] feedback preferences -> DPO job -> the new model prefers the chosen kind of answer on held-out prompts and answers', { timeout: 300_000 }, async () => {
  const { srv, url, dir, stop } = await startServer();
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any };
  };
  try {
    const bases = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: dir, quick: true });
    const built = await srv.factory.scheduler.waitFor(bases[0].id, undefined, 240_000);
    assert.equal(built.status, 'succeeded', built.error ?? '');
    await srv.factory.factory.idle();
    const base = await srv.factory.factory.catalogGet('spruce-s');
    assert.ok(base);

    const qa = supportQA(0);
    const ask = (r: any) => ({ prompt: r.messages.filter((m: any) => m.role !== 'assistant').slice(0, 2), answer: r.messages.find((m: any) => m.role === 'assistant').content as string });
    const train = qa.train.slice(0, 32).map(ask);
    for (const [i, t] of train.entries()) {
      const polite = POLITE[i % POLITE.length] + t.answer, rude = RUDE[i % RUDE.length];
      const flip = i % 2 === 1; // the preferred answer is sometimes a, sometimes b
      const r = await api('POST', '/v1/feedback', { prompt: t.prompt, preferred: { answer_a: flip ? rude : polite, answer_b: flip ? polite : rude, choice: flip ? 'b' : 'a' }, annotator: `a${i % 3}`, source: i % 2 ? 'playground' : 'api' });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      // training takes reviewed items only: a reviewer accepts each one
      assert.equal((await api('POST', `/v1/feedback/${r.json.id}/review`, { status: 'accepted' })).json.status, 'accepted');
    }
    const started = await api('POST', '/v1/feedback/train', {
      model: 'spruce-s', dataset: 'support-prefs', suffix: 'polite', seed: 3,
      hyperparameters: { n_epochs: 5, batch_size: 4, fine_tuning_method: 'lora', lora_rank: 8, beta: 0.1, learning_rate_multiplier: 1 },
    });
    assert.equal(started.status, 200, JSON.stringify(started.json));
    assert.equal(started.json.pairs, 32);
    assert.equal(started.json.dataset.stage, 'preference');
    assert.equal(started.json.job.object, 'fine_tuning.job');
    const job = await srv.factory.scheduler.waitFor(started.json.job.id, undefined, 240_000);
    assert.equal(job.status, 'succeeded', job.error ?? '');
    assert.equal(job.spec.stage, 'dpo');

    // Held out: questions whose answers no training pair holds (other items), with held-out openings and brush-offs.
    const trainedText = new Set(train.flatMap((t, i) => [...t.prompt.map((m: any) => m.content as string), POLITE[i % POLITE.length] + t.answer, RUDE[i % RUDE.length]]));
    const trainedAnswers = new Set(train.map((t) => t.answer));
    const heldAnswers = new Set<string>();
    const held = qa.val.map(ask).filter((h) => !trainedAnswers.has(h.answer) && !heldAnswers.has(h.answer) && heldAnswers.add(h.answer)).slice(0, 12)
      .map((h, i) => ({ prompt: h.prompt, chosen: HELD_POLITE[i % HELD_POLITE.length] + h.answer, rejected: HELD_RUDE[i % HELD_RUDE.length] }));
    assert.equal(held.length, 12);
    for (const h of held) {
      for (const text of [h.prompt.at(-1).content, h.chosen, h.rejected]) assert.ok(!trainedText.has(text), `held-out text trained on: ${text}`);
      assert.ok(![...trainedText].some((t) => t.includes(h.rejected) || h.rejected.includes(t)), `held-out brush-off overlaps training: ${h.rejected}`);
    }
    const margin = async (t: EngineTarget) => {
      const reqs = held.flatMap((h) => [{ context: { messages: h.prompt }, continuation: h.chosen }, { context: { messages: h.prompt }, continuation: h.rejected }]);
      const lp = await t.loglikelihood(reqs as never);
      let wins = 0, sum = 0;
      const margins: number[] = [];
      for (let i = 0; i < held.length; i++) {
        const m = lp[2 * i].logProb - lp[2 * i + 1].logProb;
        margins.push(m);
        sum += m;
        if (m > 0) wins++;
      }
      return { mean: sum / held.length, wins, margins };
    };
    const before = await margin(await EngineTarget.load(base.path!));
    const after = await margin(await EngineTarget.load(join(job.spec.outputDir, 'model')));
    // DPO's implicit reward: (log pi - log pi_ref)(chosen) - (log pi - log pi_ref)(rejected) > 0 on held-out prompts
    const rewardWins = after.margins.filter((m, i) => m > before.margins[i]).length;
    process.stdout.write(`# held-out margin (log p(courteous answer) - log p(brush-off), strings never trained on): base ${before.mean.toFixed(2)} (${before.wins}/12 prefer chosen), dpo ${after.mean.toFixed(2)} (${after.wins}/12); raised on ${rewardWins}/12 prompts\n`);
    assert.ok(after.mean > before.mean + 1, `DPO raised the margin: ${before.mean} -> ${after.mean}`);
    assert.ok(rewardWins >= 10, `held-out prompts where the DPO model prefers the chosen answer more than the base: ${rewardWins}/12`);
    assert.ok(after.wins >= before.wins);
  } finally {
    await stop();
  }
});
