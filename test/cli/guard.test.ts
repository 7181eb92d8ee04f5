/**
 * The CLI's control commands against a running server (spawned CLI, async): `guard policies put|list`,
 * `deploy --guard` (refused for a policy that does not exist, named in the error), `deployments` showing the guard,
 * and `requests` / `requests show` listing a guarded request with its verdicts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_KEY, startServer } from '../api/helpers.ts';
import { cli } from './helpers.ts';


test('modelfab guard policies, deploy --guard, requests', { timeout: 120_000 }, async () => {
  const { srv, url, dir, stop } = await startServer();
  try {
    const env = { MODELFAB_URL: url, MODELFAB_API_KEY: ADMIN_KEY };
    const file = join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify({ refusal_message: '不能回答。', checks: [{ name: 'ban', kind: 'keywords', words: ['赌博'], stage: 'input' }] }));
    const put = await cli(['guard', 'policies', 'put', 'shop', file], env);
    assert.equal(put.code, 0, put.out);
    const list = await cli(['guard', 'policies', 'list'], env);
    assert.match(list.out, /^shop\s+\S+\s+ban$/m);
    writeFileSync(file, JSON.stringify({ checks: [{ name: 'bad', kind: 'regex', patterns: ['('] }] }));
    const bad = await cli(['guard', 'policies', 'put', 'broken', file], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /checks\[0\] "bad"/);

    // an endpoint model (never called: the guard refuses on input)
    await srv.app.inject({ method: 'POST', url: '/v1/serve/models', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { name: 'remote', kind: 'endpoint', endpoint: { url: 'http://127.0.0.1:9/v1' } } });
    const missing = await cli(['deploy', 'shop-bot', '--model', 'remote', '--guard', 'nope', '--no-warm'], env);
    assert.notEqual(missing.code, 0);
    assert.match(missing.out, /guard: no guard policy named "nope"/);
    const dep = await cli(['deploy', 'shop-bot', '--model', 'remote', '--guard', 'shop', '--no-warm'], env);
    assert.equal(dep.code, 0, dep.out);
    assert.match((await cli(['deployments'], env)).out, /shop-bot .*guard shop/);

    const res = await srv.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { model: 'shop-bot', messages: [{ role: 'user', content: '哪里能赌博' }] } });
    assert.equal(res.statusCode, 200, res.body);
    const id = res.json().id as string;
    const reqs = await cli(['requests', '--outcome', 'refused'], env);
    assert.equal(reqs.code, 0, reqs.out);
    assert.match(reqs.out, new RegExp(`^${id}\\s+\\S+\\s+shop-bot\\s+refused\\s+哪里能赌博`, 'm'));
    // a bot's guard from the CLI: checked against the stored policies
    const law = join(dir, 'rules.md');
    writeFileSync(law, '# 示例条例\n\n第一条 投保人可以在合同成立后十五日内解除合同。\n\n第二条 保险人应当在三十日内作出核定。\n');
    assert.equal((await cli(['bots', 'build', 'rules', law, '--approve-all'], env)).code, 0);
    const noPolicy = await cli(['bots', 'config', 'rules', '--guard', 'nope'], env);
    assert.notEqual(noPolicy.code, 0);
    assert.match(noPolicy.out, /no guard policy named "nope"/);
    const cfg = await cli(['bots', 'config', 'rules', '--guard', 'shop', '--citations', '2'], env);
    assert.equal(cfg.code, 0, cfg.out);
    assert.match(cfg.out, /rules: guard shop, .*citations 2/);
    const botRes = await srv.app.inject({ method: 'POST', url: '/v1/bots/rules/chat/completions', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { version: 1, messages: [{ role: 'user', content: '赌博算不算保险事故' }] } });
    assert.equal(botRes.json().choices[0].finish_reason, 'content_filter');

    const show = await cli(['requests', 'show', id], env);
    assert.match(show.out, /outcome refused\s+policies shop/);
    assert.match(show.out, /input\s+refuse\s+ban\s+[\d.]+ ms\s+keyword "赌博"/);
  } finally {
    await stop();
  }
});
