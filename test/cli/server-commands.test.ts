/**
 * The commands that used to write a data folder, now clients of the server (spawned CLI, in-process server): a
 * LLaMA-Factory dataset_info.json uploads the files it names; keys are created with scopes and revoked (the server
 * refuses the revoked key at once); routes are set, listed and deleted; knowledge bases take a built-in lexicon and
 * answer search and ask; the server holds everything, the data folder option is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_KEY, startServer } from '../api/helpers.ts';
import { cli } from './helpers.ts';

test('dataset_info imports, keys create/list/revoke, routes, knowledge search and ask through the server', { timeout: 180_000 }, async () => {
  const { srv, url, dir, stop } = await startServer();
  try {
    const env = { MODELFAB_URL: url, MODELFAB_API_KEY: ADMIN_KEY };
    // a dataset_info.json: the local file is uploaded, the hub entry skipped
    const alpaca = Array.from({ length: 10 }, (_, i) => ({ instruction: `云杉智造的 T100 能载多重？(${i})`, input: '', output: 'T100 的额定载重是 1,500 kg。' }));
    writeFileSync(join(dir, 'spruce.json'), JSON.stringify(alpaca));
    writeFileSync(join(dir, 'dataset_info.json'), JSON.stringify({ spruce: { file_name: 'spruce.json' }, hub: { hf_hub_url: 'someone/else' } }));
    const info = await cli(['datasets', 'import', '--dataset-info', join(dir, 'dataset_info.json'), '--prefix', 'lf-', '--json'], env);
    assert.equal(info.code, 0, info.out);
    const r = JSON.parse(info.out);
    assert.deepEqual(r.data.map((d: { name: string; rows: number }) => [d.name, d.rows]), [['lf-spruce', 10]]);
    assert.deepEqual(r.skipped.map((s: { name: string }) => s.name), ['hub']);
    assert.deepEqual((await srv.service.listDatasets()).map((d) => d.name), ['lf-spruce']);
    const preview = await cli(['datasets', 'preview', 'lf-spruce', '-n', '1'], env);
    assert.match(preview.out, /--- record 0 \(chatml\)\n[\s\S]*T100/);

    // keys: scopes reach the server; a revoked key is refused at once
    const made = await cli(['keys', 'create', 'chat-only', '--models', 'spruce-assistant', '--endpoints', 'chat.completions,models', '--rpm', '30', '--json'], env);
    assert.equal(made.code, 0, made.out);
    const key = JSON.parse(made.out) as { id: string; key: string; scopes: { models: string[]; endpoints: string[] }; rate_limit_rpm: number };
    assert.deepEqual([key.scopes.models, key.scopes.endpoints, key.rate_limit_rpm], [['spruce-assistant'], ['chat.completions', 'models'], 30]);
    assert.equal((await srv.store.apiKeys.get(key.id))?.name, 'chat-only');
    assert.match((await cli(['keys', 'list'], env)).out, new RegExp(`^${key.id}\\s+sk-mf-\\S+…\\s+chat-only\\s+user\\s+active\\s+models spruce-assistant; endpoints chat.completions,models; manage none; 30 rpm$`, 'm'));
    const admin2 = JSON.parse((await cli(['keys', 'create', 'second-admin', '--admin', '--json'], env)).out) as { role: string };
    assert.equal(admin2.role, 'admin');
    assert.equal((await cli(['models', 'list'], { ...env, MODELFAB_API_KEY: key.key })).code, 0);
    assert.equal((await cli(['keys', 'revoke', key.id], env)).code, 0);
    const revoked = await cli(['models', 'list'], { ...env, MODELFAB_API_KEY: key.key });
    assert.notEqual(revoked.code, 0);
    assert.match(revoked.out, /401/);

    // routes on the server
    await srv.app.inject({ method: 'POST', url: '/v1/serve/models', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { name: 'remote-a', kind: 'endpoint', endpoint: { url: 'http://127.0.0.1:9/v1' } } });
    await srv.app.inject({ method: 'POST', url: '/v1/serve/models', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { name: 'remote-b', kind: 'endpoint', endpoint: { url: 'http://127.0.0.1:9/v1' } } });
    const set = await cli(['routes', 'set', 'assistant', 'remote-a=3', 'remote-b=1', '--policy', 'weighted'], env);
    assert.equal(set.code, 0, set.out);
    assert.match((await cli(['routes', 'list'], env)).out, /^assistant\s+weighted\s+remote-a=3, remote-b=1$/m);
    assert.equal((await srv.store.routes.list()).length, 1);
    assert.equal((await cli(['routes', 'delete', 'assistant'], env)).code, 0);
    assert.equal((await srv.store.routes.list()).length, 0);

    // knowledge: a built-in lexicon by name, search and ask
    const created = await cli(['knowledge', 'create', '消费者权益保护', '--id', 'cpl', '--lexicon', 'consumer-zh', '--max-chars', '300'], env);
    assert.equal(created.code, 0, created.out);
    assert.match((await srv.knowledge.repo.getLexicon('cpl')) ?? '', /\S/);
    const law = join(dir, 'cpl.md');
    writeFileSync(law, '# 中华人民共和国消费者权益保护法\n\n第二十五条 经营者采用网络、电视、电话、邮购等方式销售商品，消费者有权自收到商品之日起七日内退货，且无需说明理由。\n\n第五十五条 经营者提供商品或者服务有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失，增加赔偿的金额为消费者购买商品的价款或者接受服务的费用的三倍。\n');
    assert.equal((await cli(['knowledge', 'ingest', 'cpl', law], env)).code, 0);
    const search = await cli(['knowledge', 'search', 'cpl', '网购七天无理由退货', '-k', '1', '--json'], env);
    assert.equal(search.code, 0, search.out);
    assert.match(JSON.parse(search.out).results[0].text, /七日内退货/);
    const ask = await cli(['knowledge', 'ask', 'cpl', '商家欺诈要赔多少？'], env);
    assert.equal(ask.code, 0, ask.out);
    assert.match(ask.out, /三倍/);
    assert.match(ask.out, /^\[1\] 中华人民共和国消费者权益保护法/m);
    const dup = await cli(['knowledge', 'create', 'again', '--id', 'cpl'], env);
    assert.notEqual(dup.code, 0);
    assert.match(dup.out, /409: knowledge base cpl already exists/);
  } finally {
    await stop();
  }
});
