/**
 * Serving's pieces without HTTP: stop-string matching across chunk boundaries, request validation and presets,
 * key scopes, the registry and deployment versions over SQLite (migration 0002), GGUF export caching by content
 * hash, the llama.cpp backend's sequences evaluated together, and the Prometheus rendering.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StopMatcher } from '../../src/serve/model-backend.ts';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingRequest } from '../../src/openai/chat-requests.ts';
import { toGenerateParams } from '../../src/serve/generation-params.ts';
import { StatusError } from '../../src/util/status-error.ts';
import { DEFAULT_SETTINGS, deploy, putRoute, registerModel, ServeError, undeploy } from '../../src/serve/deployments.ts';
import { createKey, keyAllowsEndpoint, keyAllowsModel, KeyPolicy } from '../../src/serve/api-keys.ts';
import { materializeEngineModel } from '../../src/serve/materialize.ts';
import { LlamaServeBackend } from '../../src/serve/llama/llama-serve-backend.ts';
import { EngineBackend } from '../../src/serve/engine-backend.ts';
import { saveModel } from '../../src/engine/io.ts';
import { randomModel, shapeConfig, testTokenizer } from '../model-files/model-fixtures.ts';
import { Metrics } from '../../src/serve/prometheus.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { makeModels } from './gateway-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'mf-serve-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fx = makeModels(dir);

test('StopMatcher: stops across chunk boundaries and holds back only possible prefixes', () => {
  const m = new StopMatcher(['END', '\n\n']);
  let out = '';
  for (const piece of ['Hello E', 'N', 'dless story', ' E', 'ND here']) out += m.push(piece);
  assert.equal(out, 'Hello ENdless story ');
  assert.ok(m.stopped);
  const n = new StopMatcher(['xyz']);
  assert.equal(n.push('abcx'), 'abc');
  assert.equal(n.push('y'), '');
  assert.equal(n.flush(), 'xy');
  assert.equal(new StopMatcher([]).push('anything'), 'anything');
});

test('request validation and presets', () => {
  const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
  const r = parseChatRequest({ ...base, messages: [{ role: 'developer', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }], stop: 'x', n: 2 });
  assert.equal(r.messages[0].content, 'ab');
  assert.deepEqual(r.stop, ['x']);
  const bad = (b: unknown, param: string) => assert.throws(() => parseChatRequest(b), (e: unknown) => e instanceof StatusError && e.status === 400 && e.param === param);
  bad({ ...base, top_p: 2 }, 'top_p');
  bad({ ...base, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop');
  bad({ ...base, top_logprobs: 2 }, 'top_logprobs');
  bad({ ...base, stream_options: { include_usage: true } }, 'stream_options');
  bad({ ...base, response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, 'response_format');
  bad({ ...base, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0]');
  assert.deepEqual(parseCompletionRequest({ model: 'm', prompt: [1, 2] }).prompts, [[1, 2]]);
  assert.deepEqual(parseCompletionRequest({ model: 'm', prompt: [[1], [2, 3]] }).prompts, [[1], [2, 3]]);
  assert.throws(() => parseCompletionRequest({ model: 'm', prompt: [1, 'a'] }), StatusError);
  assert.throws(() => parseCompletionRequest({ model: 'm', prompt: [1.5] }), StatusError);
  assert.throws(() => parseCompletionRequest({ model: 'm', prompt: 'x', max_tokens: 0, echo: true }), StatusError);
  assert.equal(parseCompletionRequest({ model: 'm', prompt: 'x', max_tokens: 0, echo: true, logprobs: 0 }).maxTokens, 0);
  assert.throws(() => parseEmbeddingRequest({ model: 'm', input: '' }), StatusError);

  const chat = { kind: 'chat' as const, messages: [] };
  const cons = toGenerateParams(parseChatRequest(base), chat, { ...DEFAULT_SETTINGS, preset: 'conservative' });
  assert.deepEqual([cons.temperature, cons.topP, cons.topK], [0.2, 0.8, 20]);
  const creative = toGenerateParams(parseChatRequest({ ...base, preset: 'creative' }), chat, { ...DEFAULT_SETTINGS, preset: 'conservative' });
  assert.equal(creative.temperature, 1);
  const explicit = toGenerateParams(parseChatRequest({ ...base, temperature: 0.1, preset: 'creative' }), chat, DEFAULT_SETTINGS);
  assert.deepEqual([explicit.temperature, explicit.topP, explicit.topK], [0.1, 1, 0]);
  assert.throws(() => toGenerateParams(parseChatRequest({ ...base, max_tokens: 5000 }), chat, DEFAULT_SETTINGS), (e: unknown) => e instanceof ServeError && e.param === 'max_tokens');
  const seeded = toGenerateParams(parseChatRequest({ ...base, seed: 7 }), chat, DEFAULT_SETTINGS, 1);
  assert.equal(seeded.seed, 8);
});

test('registry, deployments, routes, keys and usage over SQLite', async () => {
  const store = await openSqliteStore(join(dir, 'db.sqlite'));
  try {
    const m = await registerModel(store, { name: 'ft:base:demo:1', kind: 'engine', path: fx.lora, ownedBy: 'user' });
    assert.equal((await store.models.getByName('ft:base:demo:1'))?.id, m.id);
    await assert.rejects(registerModel(store, { name: 'bad name!', kind: 'engine', path: fx.base }), ServeError);
    await assert.rejects(registerModel(store, { name: 'x', kind: 'engine', path: join(dir, 'nope') }), ServeError);
    await assert.rejects(registerModel(store, { name: 'x', kind: 'endpoint', endpoint: { url: 'ftp://x' } }), ServeError);
    const d1 = await deploy(store, { name: 'support', model: 'ft:base:demo:1', settings: { preset: 'conservative', concurrency: 8 } });
    assert.equal(d1.version, 1);
    const d2 = await deploy(store, { name: 'support', path: fx.base });
    assert.equal(d2.version, 2);
    assert.equal(JSON.parse(d2.settings).preset, 'conservative', 'settings carry over to the new version');
    await assert.rejects(deploy(store, { name: 'x', model: 'missing' }), (e: unknown) => e instanceof ServeError && e.status === 404);
    await assert.rejects(deploy(store, { name: 'x', model: 'ft:base:demo:1', settings: { threads: 4 } }), ServeError);
    await assert.rejects(deploy(store, { name: 'x', model: 'ft:base:demo:1', settings: { bogus: 1 } }), ServeError);
    assert.equal((await undeploy(store, 'support')).status, 'undeployed');
    await assert.rejects(undeploy(store, 'support'), ServeError);
    await putRoute(store, { name: 'r', policy: 'fallback', targets: [{ model: 'a' }, { model: 'b' }], timeoutMs: 500 });
    await assert.rejects(putRoute(store, { name: 'r2', policy: 'fixed', targets: [{ model: 'a' }, { model: 'b' }] }), ServeError);

    const { key, row } = await createKey(store, { name: 'k', models: ['ft:*'], endpoints: ['chat.completions'], rateLimitRpm: 1, tokenQuota: 5 });
    assert.match(key, /^sk-mf-[A-Za-z0-9]{40}$/);
    assert.ok(!JSON.stringify(await store.apiKeys.list()).includes(key), 'only the hash is stored');
    assert.ok(keyAllowsModel(row, 'ft:base:demo:1') && !keyAllowsModel(row, 'support'));
    assert.ok(keyAllowsEndpoint(row, 'chat.completions') && !keyAllowsEndpoint(row, 'embeddings'));
    await assert.rejects(createKey(store, { name: 'k', endpoints: ['images'] }), ServeError);
    const policy = new KeyPolicy(store);
    await policy.admit(row);
    await assert.rejects(policy.admit(row), (e: unknown) => e instanceof ServeError && e.code === 'rate_limit_exceeded');
    policy.record(row.id, 'ft:base:demo:1', 3, 4, false);
    policy.record(row.id, 'ft:base:demo:1', 1, 1, true);
    await policy.close();
    const u = await store.usage.list({ keyId: row.id });
    assert.deepEqual([u[0].requests, u[0].errors, u[0].prompt_tokens, u[0].completion_tokens], [2, 1, 4, 5]);
    assert.equal(await store.usage.totalTokens(row.id), 9);
  } finally {
    await store.close();
  }
});

test('engine folders are exported to GGUF once, cached by content hash; adapters share the base file', () => {
  const cache = join(dir, 'cache');
  const a = materializeEngineModel(fx.base, cache, 'F16');
  const b = materializeEngineModel(fx.lora, cache, 'F16');
  assert.equal(a.kind, 'gguf');
  assert.equal(b.kind, 'adapter');
  if (a.kind === 'gguf' && b.kind === 'adapter') assert.equal(b.basePath, a.path);
  const files = readdirSync(cache).sort();
  assert.equal(files.length, 2);
  const again = materializeEngineModel(fx.base, cache, 'F16');
  assert.deepEqual(again, a);
  assert.equal(readdirSync(cache).length, 2, 'nothing exported twice');
  assert.equal(materializeEngineModel(fx.prefix, cache).kind, 'engine-only');
  assert.equal(materializeEngineModel(fx.base, cache, 'F32').kind, 'gguf');
  assert.equal(readdirSync(cache).length, 3);
});

test('llama.cpp backend: concurrent requests share one context, prefix reuse keeps greedy output identical and is reported as cached', async () => {
  const mat = materializeEngineModel(fx.base, join(dir, 'cache'), 'F32');
  assert.equal(mat.kind, 'gguf');
  const b = await LlamaServeBackend.load((mat as { path: string }).path, { concurrency: 4, contextSize: 128 });
  try {
    const params = (content: string) => ({ prompt: { kind: 'chat' as const, messages: [{ role: 'user' as const, content }] }, maxTokens: 10, temperature: 0, topP: 1, topK: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 });
    const run = async (content: string) => { let s = ''; const r = await b.generate(params(content), { onText: (t) => { s += t; } }); return { s, r }; };
    const solo = await Promise.all(['one', 'two', 'three', 'four'].map(async (c) => (await run(c)).s));
    const together = await Promise.all(['one', 'two', 'three', 'four', 'one', 'two'].map(async (c) => (await run(c)).s));
    assert.deepEqual(together.slice(0, 4), solo);
    assert.deepEqual(together.slice(4), solo.slice(0, 2));
    // an identical prompt is served from the sequence that holds it: all but its last token are cached
    const once = await run('five');
    const again = await run('five');
    assert.equal(again.s, once.s);
    assert.equal(again.r.cachedTokens, again.r.promptTokens - 1);
    // a conversation's next turn goes to the sequence holding the conversation: the first turn's prompt is cached
    const turn1 = [{ role: 'user' as const, content: 'Tell me about the robots.' }];
    let said = '';
    const r1 = await b.generate({ ...params(''), prompt: { kind: 'chat', messages: turn1 } }, { onText: (t) => { said += t; } });
    const r2 = await b.generate({ ...params(''), prompt: { kind: 'chat', messages: [...turn1, { role: 'assistant', content: said }, { role: 'user', content: 'And the T100?' }] } }, { onText: () => undefined });
    assert.ok(r2.cachedTokens! >= r1.promptTokens, `turn 2 cached ${r2.cachedTokens} of ${r2.promptTokens}; turn 1 prompt ${r1.promptTokens}`);
    // a caller whose text callback throws fails alone; the request beside it is unaffected
    const [broken, fine] = await Promise.allSettled([
      b.generate(params('one'), { onText: () => { throw new Error('sink broke'); } }),
      run('two'),
    ]);
    assert.equal(broken.status, 'rejected');
    assert.match(String((broken as PromiseRejectedResult).reason), /sink broke/);
    assert.equal(fine.status === 'fulfilled' && fine.value.s, solo[1]);
    const ac = new AbortController();
    let n = 0;
    const r = await b.generate({ ...params('abort me'), maxTokens: 100, signal: ac.signal }, { onText: () => { if (++n === 2) ac.abort(); } });
    assert.equal(r.finishReason, 'abort');
    await assert.rejects(b.generate({ ...params('x'.repeat(2000)) }, { onText: () => undefined }), (e: any) => e.status === 400 && e.code === 'context_length_exceeded');
    assert.ok(b.memoryBytes() > 0);
  } finally {
    await b.close();
  }
});

test('a model folder that records no chat template reads the same prompt on llama.cpp and on the engine; embeddings agree', async () => {
  // a factory fine-tune made before templates were recorded: a ChatML tokenizer, no chatTemplate in modelfab.json
  const tok = testTokenizer();
  const bare = join(dir, 'bare');
  mkdirSync(bare, { recursive: true });
  saveModel(bare, randomModel(shapeConfig(tok.vocabSize, { contextLength: 128 }), 5, 0.08), tok);
  const mat = materializeEngineModel(bare, join(dir, 'cache-bare'), 'F32');
  assert.equal(mat.chatTemplate, 'chatml');
  const llama = await LlamaServeBackend.load((mat as { path: string }).path, { chatTemplate: mat.chatTemplate, contextSize: 128 });
  const engine = await EngineBackend.load(bare, { contextSize: 128 });
  try {
    const params = { prompt: { kind: 'chat' as const, messages: [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'T100 能搬多重？' }] }, maxTokens: 6, temperature: 0, topP: 1, topK: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 };
    let a = '', b = '';
    const ra = await llama.generate(params, { onText: (t) => { a += t; } });
    const rb = await engine.generate(params, { onText: (t) => { b += t; } });
    assert.equal(ra.promptTokens, rb.promptTokens);
    assert.equal(ra.completionTokens, rb.completionTokens);
    // embeddings: the engine returns what llama.cpp does for a causal model (last position, after the final norm)
    const [ea, eb] = [await llama.embed(['hello world', '你好，世界']), await engine.embed(['hello world', '你好，世界'])];
    assert.equal(ea.promptTokens, eb.promptTokens);
    for (let i = 0; i < 2; i++) {
      const x = ea.vectors[i], y = eb.vectors[i];
      assert.equal(x.length, y.length);
      let dot = 0, nx = 0, ny = 0;
      for (let j = 0; j < x.length; j++) { dot += x[j] * y[j]; nx += x[j] * x[j]; ny += y[j] * y[j]; }
      assert.ok(dot / Math.sqrt(nx * ny) > 0.999, `cosine ${dot / Math.sqrt(nx * ny)}`);
    }
    // a random model emits stray bytes; the backends differ only in how they show an unfinished UTF-8 sequence
    assert.equal(a.replace(/\uFFFD/g, ''), b.replace(/\uFFFD/g, ''), 'greedy text agrees (F32 export)');
  } finally {
    await llama.close();
    await engine.close();
  }
});

test('metrics render in Prometheus text format', () => {
  const m = new Metrics();
  m.request('a"b', 'chat.completions', 200, 0.3);
  m.firstToken('a"b', 0.05);
  m.tokens('a"b', 10, 20);
  const t = m.render();
  assert.match(t, /# TYPE modelfab_requests_total counter/);
  assert.match(t, /modelfab_requests_total\{model="a\\"b",endpoint="chat.completions",status="200"\} 1/);
  assert.match(t, /modelfab_request_duration_seconds_bucket\{model="a\\"b",le="0.5"\} 1/);
  assert.match(t, /modelfab_request_duration_seconds_bucket\{model="a\\"b",le="0.25"\} 0/);
  assert.match(t, /modelfab_completion_tokens_total\{model="a\\"b"\} 20/);
  writeFileSync(join(dir, 'metrics.txt'), t);
});

test('gateway: memory budget evicts the least recently used idle model; idle models unload', async () => {
  const { Gateway } = await import('../../src/serve/gateway.ts');
  const store = await openSqliteStore(join(dir, 'gw.sqlite'));
  await deploy(store, { name: 'a', path: fx.base, settings: { contextSize: 256, idleUnloadS: 1 } });
  await deploy(store, { name: 'b', path: fx.base, settings: { contextSize: 128, idleUnloadS: 1 } });
  const params = { prompt: { kind: 'text' as const, text: 'hello' }, maxTokens: 2, temperature: 0, topP: 1, topK: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 };
  // measure both, then allow a little less than both together
  const probe = new Gateway({ store, dataDir: join(dir, 'gwdata') });
  await probe.generate('a', params, { onText: () => undefined });
  await probe.generate('b', params, { onText: () => undefined });
  const both = probe.status().loaded.reduce((n, l) => n + l.memory_bytes, 0);
  await probe.close();
  const gw = new Gateway({ store, dataDir: join(dir, 'gwdata'), memoryBudgetBytes: both - 1, sweepMs: 60_000 });
  try {
    await gw.generate('a', params, { onText: () => undefined });
    assert.equal(gw.status().loaded.length, 1);
    await gw.generate('b', params, { onText: () => undefined });
    assert.deepEqual(gw.status().loaded.map((l) => /\|x128\|/.test(l.backend)), [true], 'a was unloaded to make room for b');
    await gw.generate('a', params, { onText: () => undefined }); // reloaded on use
    assert.equal(gw.status().loaded.length, 1);
    await new Promise((r) => setTimeout(r, 1100));
    await gw.sweep();
    assert.equal(gw.status().loaded.length, 0, 'idle models are unloaded');
    await gw.generate('a', params, { onText: () => undefined });
    assert.equal(gw.status().loaded.length, 1);
    const tiny = new Gateway({ store, dataDir: join(dir, 'gwdata'), memoryBudgetBytes: 1000 });
    await assert.rejects(tiny.generate('a', params, { onText: () => undefined }), (e: any) => e.status === 503 && e.code === 'insufficient_memory');
    await tiny.close();
  } finally {
    await gw.close();
    await store.close();
  }
});
