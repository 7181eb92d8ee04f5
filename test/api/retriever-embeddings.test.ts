/**
 * A bot's retriever through the server, end to end: building a bot with `config.retriever` submits a retriever job to
 * the factory (a real trainer process), the bot answers by lexical matching alone and says its retriever is training
 * until the job succeeds, then its matcher uses the model the job made; that model is an embedding model the gateway
 * serves at /v1/embeddings (the official `openai` client: data[].embedding, usage; `dimensions` refused; a chat with
 * it refused), listed in /v1/models, and the job shows its stage, curve and benchmark like any other.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, ADMIN_KEY } from './helpers.ts';
import { SHOP_STATUTE as STATUTE } from '../bots/temp-service.ts';
import type { ModelfabServer } from '../../src/api/server.ts';


let srv: ModelfabServer, url: string, stop: () => Promise<void>;
before(async () => { ({ srv, url, stop } = await startServer()); });
after(async () => { await stop(); });

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

/** The fine-tuning job once it ended (within a minute). */
async function finished(id: string): Promise<any> {
  for (const end = Date.now() + 60_000; ;) {
    const job = (await api('GET', `/v1/fine_tuning/jobs/${id}`)).json;
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    assert.ok(Date.now() < end, `job still ${job.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('[slow] a bot\'s retriever is a factory job, served at /v1/embeddings and used by the bot once trained', async () => {
  const built = await api('POST', '/v1/bots/build', { name: 'shop', filename: 'shop-law.md', text: STATUTE, approve_all: true, config: { retriever: true } });
  assert.equal(built.status, 200, JSON.stringify(built.json));
  const r0 = built.json.retriever;
  assert.equal(r0.trained_by, 'factory');
  assert.match(r0.job_id, /^ftjob-/);
  assert.ok(['training', 'ready'].includes(r0.status), r0.status);
  // until the job succeeds the bot answers by lexical matching alone
  if (r0.status === 'training') assert.equal((await srv.bots.matcher('shop', 1)).retriever, null);
  const lexical = await srv.bots.answer('shop', '经营者欺诈要赔多少');
  assert.equal(lexical.citations[0]?.article, 4);

  // the job: an ordinary fine-tuning job of stage retriever, with its curve
  const job = await finished(r0.job_id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.equal(job.modelfab.stage, 'retriever');
  assert.equal(job.method.type, 'retriever');
  assert.match(job.fine_tuned_model, /^ft:dual-encoder:shop-v1:ftjob-/);
  assert.equal(job.metadata.bot, 'shop');
  const events = (await api('GET', `/v1/fine_tuning/jobs/${r0.job_id}/events?limit=1000`)).json.data as { type: string; data: { step: number; loss: number } }[];
  const steps = events.filter((e) => e.type === 'metrics').map((e) => e.data.step).sort((a, b) => a - b);
  assert.equal(steps.length, job.modelfab.total_steps);
  await srv.factory.factory.idle();

  // the bot says its retriever is ready, and its matcher embeds with the served model
  const status = (await api('GET', '/v1/bots/shop')).json.retriever;
  assert.deepEqual({ status: status.status, job_id: status.job_id, model: status.model }, { status: 'ready', job_id: r0.job_id, model: job.fine_tuned_model });
  await new Promise((r) => setTimeout(r, 1000)); // the matcher asks about a training job at most once a second
  await srv.bots.answer('shop', '网上买的东西能退吗');
  const m = await srv.bots.matcher('shop', 1);
  assert.ok(m.retriever, 'the matcher uses the trained retriever');
  assert.equal(m.retriever.name, job.fine_tuned_model);
  assert.equal((await srv.bots.answer('shop', '经营者欺诈要赔多少')).citations[0]?.article, 4);

  // the model at /v1/embeddings, with the official client
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: ADMIN_KEY, maxRetries: 0, timeout: 30_000 });
  const e = await client.embeddings.create({ model: job.fine_tuned_model, input: ['商家欺诈赔多少', '经营者提供商品或者服务有欺诈行为的，应当增加赔偿'], encoding_format: 'float' });
  assert.equal(e.object, 'list');
  assert.equal(e.model, job.fine_tuned_model);
  assert.equal(e.data.length, 2);
  assert.equal(e.data[0]!.embedding.length, m.retriever.dims);
  const norm = Math.hypot(...e.data[0]!.embedding);
  assert.ok(Math.abs(norm - 1) < 1e-4, `unit length, got ${norm}`);
  assert.ok(e.usage.prompt_tokens > 4 && e.usage.total_tokens === e.usage.prompt_tokens);
  // the same vectors the bot's matcher embeds with
  const [mine] = await m.retriever.embed(['商家欺诈赔多少']);
  assert.ok(e.data[0]!.embedding.every((x, i) => Math.abs(x - mine![i]!) < 1e-6));
  const b64 = await client.embeddings.create({ model: job.fine_tuned_model, input: '退货' });
  assert.equal(b64.data[0]!.embedding.length, m.retriever.dims);
  await assert.rejects(client.embeddings.create({ model: job.fine_tuned_model, input: '退货', dimensions: 8 }), (err: any) => err.status === 400 && /dimensions/.test(err.message));
  await assert.rejects(client.chat.completions.create({ model: job.fine_tuned_model, messages: [{ role: 'user', content: '你好' }] }), (err: any) => err.status === 400 && /only makes embeddings/.test(err.message));
  assert.ok((await client.models.list()).data.some((x) => x.id === job.fine_tuned_model));
  // an embedding model is no base to fine-tune
  const ft = await api('POST', '/v1/fine_tuning/jobs', { model: job.fine_tuned_model, training_file: 'file-x' });
  assert.equal(ft.status, 400);
  assert.match(ft.json.error.message, /is a retriever/);
});

test('[slow] a knowledge base trains its own retriever as a factory job and fuses it with BM25 once trained', async () => {
  const kb = await api('POST', '/v1/knowledge/bases', { id: 'shop-law', name: 'Shop law' });
  assert.equal(kb.status, 200, JSON.stringify(kb.json));
  assert.equal((await api('POST', '/v1/knowledge/bases/shop-law/documents', { filename: 'shop-law.md', text: STATUTE })).status, 200);
  // none asked for: no retriever, no status
  assert.equal((await api('GET', '/v1/knowledge/bases/shop-law')).json.retriever_status, undefined);
  const bad = await api('PATCH', '/v1/knowledge/bases/shop-law', { retriever: 'yes' });
  assert.equal(bad.status, 400);

  const on = await api('PATCH', '/v1/knowledge/bases/shop-law', { retriever: true });
  assert.equal(on.status, 200, JSON.stringify(on.json));
  assert.equal(on.json.retriever, true);
  const s0 = (await api('GET', '/v1/knowledge/bases/shop-law')).json.retriever_status;
  assert.match(s0.job_id, /^ftjob-/);
  assert.ok(['training', 'ready'].includes(s0.status), s0.status);
  // search answers lexically while it trains
  const lexical = await api('POST', '/v1/knowledge/search', { kbs: ['shop-law'], query: '经营者欺诈要赔多少', k: 3 });
  assert.equal(lexical.status, 200, JSON.stringify(lexical.json));

  const job = await finished(s0.job_id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.equal(job.metadata.kb, 'shop-law');
  assert.equal(job.metadata.purpose, 'kb-retriever');
  await srv.factory.factory.idle();
  const s1 = (await api('GET', '/v1/knowledge/bases/shop-law')).json.retriever_status;
  assert.deepEqual({ status: s1.status, job_id: s1.job_id, model: s1.model }, { status: 'ready', job_id: s0.job_id, model: job.fine_tuned_model });

  // the index asks about a training job at most once a second, then is built again with the retriever's vectors
  await new Promise((r) => setTimeout(r, 1000));
  const fused = await api('POST', '/v1/knowledge/search', { kbs: ['shop-law'], query: '经营者欺诈要赔多少', k: 3 });
  assert.equal(fused.status, 200);
  const index = await srv.knowledge.index('shop-law');
  assert.equal(index.vectors?.embedder.name, job.fine_tuned_model);
  assert.ok(fused.json.results.some((r: any) => typeof r.denseScore === 'number'), 'the dense list takes part');
  assert.match(fused.json.results[0].text, /欺诈/);
  // the same units do not train again; turning it off goes back to lexical search
  assert.equal((await api('PATCH', '/v1/knowledge/bases/shop-law', { description: 'edited' })).status, 200);
  assert.equal((await api('GET', '/v1/knowledge/bases/shop-law')).json.retriever_status.job_id, s0.job_id);
  assert.equal((await api('PATCH', '/v1/knowledge/bases/shop-law', { retriever: false })).status, 200);
  assert.equal((await srv.knowledge.index('shop-law')).vectors, null);
});
