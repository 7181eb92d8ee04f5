/**
 * The three targets on real models: the engine (batched log-likelihoods equal one-at-a-time ones and a direct
 * decode; prompt-tuned adapters), llama.cpp over the same model exported to GGUF (log-likelihoods match the engine;
 * 1 and 4 parallel sequences give the same numbers; generation), and an OpenAI-compatible endpoint (a local mock:
 * echo logprobs, generation, a clear NotSupported without logprobs).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineTarget } from '../../src/bench/targets/engine.ts';
import { LlamaTarget } from '../../src/bench/targets/llama.ts';
import { OpenAITarget } from '../../src/bench/targets/openai-target.ts';
import { NotSupportedError } from '../../src/bench/bench-types.ts';
import { runTask, validateTask, examTask } from '../../src/bench/bench-exports.ts';
import { exportGgufModel } from '../../src/model-files/gguf-model.ts';
import { saveModel } from '../../src/engine/io.ts';
import { Rng } from '../../src/engine/rng.ts';
import { randomModel, shapeConfig, testGemm, testTokenizer } from '../model-files/model-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'mf-bench-targets-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tok = testTokenizer();
const config = shapeConfig(tok.vocabSize, { contextLength: 128 });
const model = randomModel(config, 3);
const REQS = [
  { context: 'The quick brown fox', continuation: ' jumps over' },
  { context: 'function add(a, b)', continuation: ' { return a + b; }' },
  { context: '今天天气很好，', continuation: '我们去公园散步吧。' },
  { context: 'Once upon a time', continuation: ' there' },
  { context: 'x', continuation: ' y z' },
];

test('engine: batched log-likelihoods equal single ones and a direct KV-cache decode', async () => {
  const gemm = await testGemm();
  const t = new EngineTarget(model, tok, gemm, 'engine:test', 'test', { batchTokens: 4096 });
  const batched = await t.loglikelihood(REQS);
  const single = new EngineTarget(model, tok, gemm, 'engine:test', 'test', { batchTokens: 1 });
  const one = await single.loglikelihood(REQS);
  for (let i = 0; i < REQS.length; i++) assert.ok(Math.abs(batched[i].logProb - one[i].logProb) < 1e-4, `${i}: ${batched[i].logProb} vs ${one[i].logProb}`);
  // direct: decode the context, then each continuation token
  const ctx = { gemm, tape: null, rng: new Rng(0), training: false };
  const r = REQS[0];
  const ci = tok.encode(r.context), ki = tok.encode(r.continuation);
  const cache = model.newCache(ci.length + ki.length);
  let logits = model.decode(ctx, Int32Array.from(ci), cache), lp = 0;
  for (const k of ki) {
    const max = Math.max(...logits);
    const z = logits.reduce((a, v) => a + Math.exp(v - max), 0);
    lp += logits[k] - max - Math.log(z);
    logits = model.decode(ctx, Int32Array.from([k]), cache);
  }
  assert.ok(Math.abs(lp - batched[0].logProb) < 1e-3, `${lp} vs ${batched[0].logProb}`);
  assert.equal(batched[0].tokens, ki.length);
  const roll = await t.loglikelihoodRolling(['The quick brown fox jumps over the lazy dog. '.repeat(8)]);
  assert.ok(roll[0].logProb < 0 && roll[0].tokens > 128, 'rolling windows beyond the context length');
  const g = await t.generate([{ prompt: 'The quick', maxTokens: 5 }, { prompt: { messages: [{ role: 'user', content: 'hi' }] }, maxTokens: 4 }]);
  assert.equal(g.length, 2);
});

test('engine target from a saved folder: the id is a content hash; a task runs', async () => {
  const mdir = join(dir, 'engine-model');
  saveModel(mdir, model, tok);
  const t1 = await EngineTarget.load(mdir, { gemm: await testGemm() });
  const t2 = await EngineTarget.load(mdir, { gemm: await testGemm() });
  assert.equal(t1.id, t2.id);
  assert.match(t1.id, /^engine:[0-9a-f]{16}$/);
  const task = validateTask({ task: 'inl', dataset: { kind: 'inline', splits: { test: [{ q: 'The quick brown', c: [' fox', ' dog'], a: 0 }, { q: 'Once upon a', c: [' time', ' fox'], a: 0 }] } }, output_type: 'multiple_choice', doc_to_text: '{{q}}', doc_to_choice: '{{c}}', doc_to_target: '{{a}}', target_delimiter: '' });
  const r = await runTask(task, t1);
  assert.equal(r.status, 'ok', r.error);
  assert.equal(r.items.length, 2);
});

test('llama.cpp: log-likelihoods match the engine; 1 and 4 parallel sequences agree; generation', async () => {
  const path = join(dir, 'm.gguf');
  writeFileSync(path, exportGgufModel(model, tok, { weightType: 'F32' }));
  const eng = await new EngineTarget(model, tok, await testGemm(), 'e', 'e').loglikelihood(REQS);
  const results: number[][] = [];
  for (const parallel of [1, 4]) {
    const t = await LlamaTarget.load(path, { parallel, contextSize: 128 });
    try {
      assert.match(t.id, /^gguf:[0-9a-f]{16}$/);
      const ll = await t.loglikelihood(REQS);
      results.push(ll.map((x) => x.logProb));
      for (let i = 0; i < REQS.length; i++) assert.ok(Math.abs(ll[i].logProb - eng[i].logProb) < 2e-2, `parallel ${parallel} req ${i}: llama ${ll[i].logProb} engine ${eng[i].logProb}`);
      const roll = await t.loglikelihoodRolling(['The quick brown fox jumps over the lazy dog. '.repeat(6)]);
      assert.ok(roll[0].tokens > 64 && roll[0].logProb < 0);
      const g = await t.generate([{ prompt: 'The quick', maxTokens: 6 }, { prompt: 'Once', maxTokens: 6 }]);
      assert.equal(g.length, 2);
    } finally {
      await t.close();
    }
  }
  for (let i = 0; i < REQS.length; i++) assert.ok(Math.abs(results[0][i] - results[1][i]) < 1e-3, `parallel 1 vs 4 at ${i}`);
});

test('OpenAI-compatible endpoint: echo logprobs, generation, NotSupported without logprobs', async () => {
  const bodies: Array<Record<string, unknown>> = [];
  const server = createServer((req, res) => {
    let b = '';
    req.on('data', (c) => { b += c; });
    req.on('end', () => {
      const body = JSON.parse(b) as Record<string, unknown>;
      bodies.push(body);
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v1/completions' && body.echo) {
        // tokens: the prompt split into characters; logprob -1 per char, the first null (as OpenAI)
        const p = String(body.prompt);
        const tokens = [...p];
        res.end(JSON.stringify({ choices: [{ text: p, logprobs: { tokens, token_logprobs: tokens.map((_, i) => (i === 0 ? null : -1)), text_offset: tokens.map((_, i) => i), top_logprobs: tokens.map((t) => ({ [t]: -1 })) } }] }));
      } else if (req.url === '/v1/chat/completions') {
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'B' } }], usage: { completion_tokens: 1 } }));
      } else if (req.url === '/v1/completions') {
        res.end(JSON.stringify({ choices: [{ text: ' Paris' }], usage: { completion_tokens: 1 } }));
      } else { res.statusCode = 404; res.end(JSON.stringify({ error: { message: 'no route' } })); }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const t = new OpenAITarget({ baseURL: `http://127.0.0.1:${port}/v1`, model: 'm', logprobs: true });
    const [ll] = await t.loglikelihood([{ context: 'Hello', continuation: ' you' }]);
    assert.deepEqual(ll, { logProb: -4, isGreedy: true, tokens: 4 });
    const g = await t.generate([{ prompt: 'Capital of France?', maxTokens: 4, stop: ['\n'] }, { prompt: { messages: [{ role: 'user', content: 'x' }] }, maxTokens: 2 }]);
    assert.deepEqual(g.map((x) => x.text), [' Paris', 'B']);
    assert.deepEqual(bodies.find((b) => b.prompt === 'Capital of France?')?.stop, ['\n']);
    const no = new OpenAITarget({ baseURL: `http://127.0.0.1:${port}/v1`, model: 'm' });
    await assert.rejects(no.loglikelihood([{ context: 'a', continuation: 'b' }]), (e: unknown) => e instanceof NotSupportedError && /not supported.*logprobs/.test((e as Error).message));
    // a log-likelihood task on it ends 'not_supported', with the reason
    const r = await runTask(validateTask({ task: 'mc', dataset: { kind: 'inline', splits: { test: [{ q: 'q', a: 0 }] } }, output_type: 'multiple_choice', doc_to_text: '{{q}}', doc_to_choice: ['x', 'y'], doc_to_target: '{{a}}' }), no);
    assert.equal(r.status, 'not_supported');
    assert.equal(r.score, null);
    assert.match(r.error!, /not supported/);
    void examTask;
  } finally {
    server.close();
  }
});
