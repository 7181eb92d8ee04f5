/**
 * Scoring a prompt through /v1/completions, as lm-evaluation-harness's `local-completions` model does it: prompts as
 * token ids (one or a batch), `echo` with `logprobs` and `max_tokens` 0 or 1. On an engine model the echoed
 * log-probabilities are the Benchmark System's own (EngineTarget) for the same tokens; the first token has none;
 * backends that cannot score a prompt, `max_tokens: 0` without echo and ids outside the vocabulary are 400s naming
 * the parameter. Through the official `openai` client.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { registerModel } from '../../src/serve/deployments.ts';
import { EngineTarget } from '../../src/bench/targets/engine.ts';
import { makeModels, type GatewayFixture } from '../serve/gateway-fixtures.ts';
import { testTokenizer } from '../model-files/model-fixtures.ts';

const ADMIN = 'sk-mf-test-admin-key-0123456789abcdef';
const ENGINE = 'ft:tiny:prefix:1';
let dir: string, srv: ModelfabServer, fx: GatewayFixture, admin: OpenAI;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mf-score-'));
  fx = makeModels(dir);
  srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false }, modelDirs: [dir] });
  const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  admin = new OpenAI({ baseURL: `${url}/v1`, apiKey: ADMIN, maxRetries: 0, timeout: 60_000 });
  // a prefix-tuned adapter runs on the engine backend; the plain base on llama.cpp
  await registerModel(srv.store, { name: ENGINE, kind: 'engine', path: fx.prefix, ownedBy: 'user' });
  await registerModel(srv.store, { name: 'ft:tiny:base:1', kind: 'engine', path: fx.base, ownedBy: 'user' });
});

after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

const tok = testTokenizer();
const sum = (xs: Array<number | null>) => xs.reduce<number>((s, x) => s + (x ?? 0), 0);

test('token prompts with echo and logprobs give the benchmark target\'s log-likelihoods', async () => {
  const target = await EngineTarget.load(fx.prefix);
  const pairs = [['The quick brown fox', ' jumps over the dog'], ['保险合同', '是投保人与保险人约定保险权利义务关系的协议']]
    .map(([c, x]) => ({ ctx: tok.encode(c!), cont: tok.encode(x!) }));
  const want = target.scoreIds(pairs);
  const prompts = pairs.map((p) => [...p.ctx, ...p.cont]);

  const r = await admin.completions.create({ model: ENGINE, prompt: prompts, max_tokens: 0, echo: true, logprobs: 1, temperature: 0 });
  assert.equal(r.choices.length, 2);
  for (const [i, c] of r.choices.entries()) {
    const lp = c.logprobs!;
    assert.equal(lp.tokens!.length, prompts[i]!.length, 'one entry per prompt token, nothing generated');
    assert.equal(lp.token_logprobs![0], null, 'the first token has no log probability');
    assert.equal(lp.top_logprobs![0], null);
    assert.equal(c.text, tok.decode(prompts[i]!), 'echo shows the prompt the ids spell');
    const k = pairs[i]!.ctx.length;
    const got = sum(lp.token_logprobs!.slice(k));
    assert.ok(Math.abs(got - want[i]!.logProb) < 1e-3, `prompt ${i}: ${got} vs the benchmark's ${want[i]!.logProb}`);
    // lm-evaluation-harness's greedy test: each continuation token is the likeliest one
    const greedy = lp.token_logprobs!.slice(k).every((x, j) => x === Math.max(...Object.values(lp.top_logprobs![k + j]!)));
    assert.equal(greedy, want[i]!.isGreedy);
    assert.deepEqual(lp.text_offset!.slice(0, 2), [0, lp.tokens![0]!.length]);
  }
  assert.equal(r.usage!.prompt_tokens, prompts[0]!.length + prompts[1]!.length);
  assert.equal(r.usage!.completion_tokens, 0);

  // max_tokens 1 (what the harness sends): the prompt's entries, then the generated token's
  const one = await admin.completions.create({ model: ENGINE, prompt: prompts[0]!, max_tokens: 1, echo: true, logprobs: 1, temperature: 0 });
  const lp1 = one.choices[0]!.logprobs!;
  assert.equal(lp1.tokens!.length, prompts[0]!.length + 1);
  assert.ok(Math.abs(sum(lp1.token_logprobs!.slice(pairs[0]!.ctx.length, -1)) - want[0]!.logProb) < 1e-3);
  assert.ok(one.choices[0]!.text.startsWith(tok.decode(prompts[0]!)));

  // a text prompt scores the same way
  const text = await admin.completions.create({ model: ENGINE, prompt: 'The quick brown fox jumps over the dog', max_tokens: 0, echo: true, logprobs: 0 });
  assert.equal(text.choices[0]!.text, 'The quick brown fox jumps over the dog');
  assert.equal(text.choices[0]!.logprobs!.tokens!.length, tok.encode('The quick brown fox jumps over the dog').length);
});

test('what cannot be scored is refused with the parameter named', async () => {
  const ids = tok.encode('Hello there');
  const refused = async (body: Record<string, unknown>, param: string, re: RegExp) => {
    await assert.rejects(admin.completions.create({ model: ENGINE, prompt: ids, ...body } as never), (e: any) => {
      assert.equal(e.status, 400, e.message);
      assert.equal(e.param, param);
      assert.match(e.message, re);
      return true;
    });
  };
  await refused({ max_tokens: 0 }, 'max_tokens', /only with 'echo' and 'logprobs'/);
  await refused({ prompt: [1, 2, tok.vocabSize + 5], max_tokens: 1 }, 'prompt', /outside this model's vocabulary/);
  await refused({ prompt: [[1, 2], [3, -1]], max_tokens: 1 }, 'prompt[1]', /token 1 is not a token id/);
  await refused({ prompt: [[1, 2], 'mixed'], max_tokens: 1 }, 'prompt', /token id arrays/);
  // llama.cpp serves the plain base: it reads token prompts and echoes them as text, but does not score them
  await assert.rejects(admin.completions.create({ model: 'ft:tiny:base:1', prompt: ids, max_tokens: 1, echo: true, logprobs: 1 }),
    (e: any) => e.status === 400 && e.param === 'echo' && /not supported by this backend \(llama\.cpp\)/.test(e.message));
  const echoed = await admin.completions.create({ model: 'ft:tiny:base:1', prompt: ids, max_tokens: 2, echo: true, temperature: 0 });
  assert.ok(echoed.choices[0]!.text.startsWith('Hello there'), echoed.choices[0]!.text);
});
