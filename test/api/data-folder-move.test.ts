/**
 * A data folder can move: a server builds one (a registered engine model and a user's GGUF file from outside the
 * folder, a dataset, a fine-tuning job trained by the engine, deployments of both, a knowledge base and a
 * published bot), closes with a job still to run, and the folder is renamed so the old path no longer exists. A
 * server on the new location finds and serves everything, finishes the job left over, and trains a new one; no
 * file or row in the folder names either location, and nothing recreates the old one. [slow: real trainers and
 * llama.cpp, ~1 min]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { registerModel } from '../../src/serve/deployments.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';
import { saveModel } from '../../src/engine/io.ts';
import { exportGgufModel } from '../../src/model-files/gguf-model.ts';
import { CHAT_TEMPLATES } from '../../src/engine/tokenizer/chat-template.ts';
import { randomModel, shapeConfig, testTokenizer } from '../model-files/model-fixtures.ts';

const ADMIN = 'sk-mf-test-admin-key-move-0123456789';

const STATUTE = `# 机器人租赁服务条例

第一条 为了规范机器人租赁服务，保护承租人的合法权益，制定本条例。

第二条 承租人租赁机器人的，应当在租赁开始前支付押金。押金的数额不得超过机器人价值的百分之二十。

第三条 机器人在租赁期间发生故障的，出租人应当在二十四小时内免费维修或者更换。

第四条 承租人提前退租的，出租人应当在七日内退还剩余租金和押金。
`;

async function start(dataDir: string): Promise<{ srv: ModelfabServer; api: (method: string, path: string, body?: unknown) => Promise<{ status: number; json: any }> }> {
  const srv = await createServer({ dataDir, adminKey: ADMIN, serve: { warm: false } });
  const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json: any = text;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json };
  };
  return { srv, api };
}

/** Every file under `dir` (relative names) whose bytes contain `needle`. */
function filesNaming(dir: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (readFileSync(p).includes(needle)) out.push(p.slice(dir.length + 1));
    }
  };
  walk(dir);
  return out;
}

const chat = (model: string) => ({ model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, temperature: 0 });

test('[slow] a data folder moved to another path works there: models, jobs, deployments, knowledge, bots', { timeout: 600_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mf-move-'));
  const first = join(tmp, 'first-place'), moved = join(tmp, 'elsewhere', 'moved-data');
  try {
    // a small engine model inside the folder, and a user's GGUF file outside it
    const tok = testTokenizer();
    const model = randomModel(shapeConfig(tok.vocabSize, { contextLength: 256 }), 21, 0.08);
    mkdirSync(join(first, 'models', 'tiny'), { recursive: true });
    saveModel(join(first, 'models', 'tiny'), model, tok, { chatTemplate: 'chatml' });
    const userGguf = join(tmp, 'user-models', 'user.gguf');
    mkdirSync(join(tmp, 'user-models'));
    writeFileSync(userGguf, exportGgufModel(model, tok, { weightType: 'F16', chatTemplate: CHAT_TEMPLATES.chatml.jinja }));
    mkdirSync(join(first, 'imports'));
    writeFileSync(join(first, 'imports', 'sup.jsonl'), supportQA(0).train.slice(0, 16).map((r) => JSON.stringify(r)).join('\n'));

    let { srv, api } = await start(first);
    let leftOver: string;
    let kbId: string, botQuestion: string, botAnswer: string;
    try {
      await registerModel(srv.store, { name: 'tiny', kind: 'engine', path: join(first, 'models', 'tiny'), ownedBy: 'user' });
      await registerModel(srv.store, { name: 'user-gguf', kind: 'gguf', path: userGguf, ownedBy: 'user' });
      await srv.service.importDataset({ name: 'sup', source: { path: join(first, 'imports', 'sup.jsonl') }, validationSplit: 0.25, seed: 1 });
      const hyper = { fine_tuning_method: 'lora', lora_rank: 4, n_epochs: 1, batch_size: 4, seq_len: 256 };
      const a = await api('POST', '/v1/fine_tuning/jobs', { model: 'tiny', dataset: 'sup', suffix: 'a', seed: 1, hyperparameters: hyper });
      assert.equal(a.status, 200, JSON.stringify(a.json));
      const done = await srv.factory.scheduler.waitFor(a.json.id, undefined, 240_000);
      assert.equal(done.status, 'succeeded', done.error ?? '');
      await srv.factory.factory.idle();
      const ft = `ft:tiny:a:${a.json.id}`;
      for (const [name, model] of [['assistant', ft], ['user', 'user-gguf']]) {
        const d = await api('POST', '/v1/deployments', { name, model, settings: { contextSize: 256, threads: 1 } });
        assert.equal(d.status, 200, JSON.stringify(d.json));
        const c = await api('POST', '/v1/chat/completions', chat(name));
        assert.equal(c.status, 200, JSON.stringify(c.json));
      }
      const kb = await api('POST', '/v1/knowledge/bases', { name: '租赁条例' });
      kbId = kb.json.id;
      assert.equal((await api('POST', `/v1/knowledge/bases/${kbId}/documents`, { filename: 'rental.md', text: STATUTE })).status, 200);
      const b = await api('POST', '/v1/bots/build', { name: 'rental', filename: 'rental.md', text: STATUTE, approve_all: true });
      assert.equal(b.status, 200, JSON.stringify(b.json));
      const rep = await api('POST', '/v1/bots/rental/tests', { limit: 4 });
      assert.equal(rep.status, 200, JSON.stringify(rep.json));
      await api('POST', `/v1/bots/rental/tests/${rep.json.id}/approve`, { by: 'reviewer' });
      assert.equal((await api('POST', '/v1/bots/rental/publish', { version: 1 })).status, 200);
      const pairs = (await api('GET', '/v1/bots/rental/pairs?state=approved')).json.data as Array<{ question: string }>;
      assert.ok(pairs.length > 0);
      botQuestion = pairs[0].question;
      const asked = await api('POST', '/v1/bots/rental/chat/completions', { messages: [{ role: 'user', content: botQuestion }] });
      assert.equal(asked.status, 200, JSON.stringify(asked.json));
      botAnswer = asked.json.choices[0].message.content;
      // a job that builds on the fine-tune, still to run (or running) when the server closes
      const left = await api('POST', '/v1/fine_tuning/jobs', { model: ft, dataset: 'sup', suffix: 'left', seed: 2, hyperparameters: hyper });
      assert.equal(left.status, 200, JSON.stringify(left.json));
      leftOver = left.json.id;
    } finally {
      await srv.close();
    }

    mkdirSync(join(tmp, 'elsewhere'));
    renameSync(first, moved);
    assert.ok(!existsSync(first));

    ({ srv, api } = await start(moved));
    try {
      // models are found where the folder is now; the user's file where it always was
      const models = (await api('GET', '/v1/serve/models')).json.data as Array<{ id: string; path: string | null; base_path: string | null }>;
      const byName = new Map(models.map((m) => [m.id, m]));
      assert.equal(byName.get('tiny')!.path, join(moved, 'models', 'tiny'));
      assert.equal(byName.get('user-gguf')!.path, userGguf);
      const ftRow = models.find((m) => m.id.startsWith('ft:tiny:a:'))!;
      assert.ok(ftRow.path!.startsWith(join(moved, 'jobs')), ftRow.path!);
      assert.equal(ftRow.base_path, join(moved, 'models', 'tiny'));
      // and served: both deployments answer, the knowledge base searches, the bot answers with its citation
      for (const name of ['assistant', 'user']) {
        const c = await api('POST', '/v1/chat/completions', chat(name));
        assert.equal(c.status, 200, `${name}: ${JSON.stringify(c.json)}`);
        assert.equal(typeof c.json.choices[0].message.content, 'string');
      }
      const hits = await api('POST', '/v1/knowledge/search', { kbs: [kbId], query: '押金', k: 2 });
      assert.equal(hits.status, 200, JSON.stringify(hits.json));
      assert.ok(hits.json.results.some((h: { label: string }) => h.label === '第二条'), JSON.stringify(hits.json.results));
      const bot = await api('POST', '/v1/bots/rental/chat/completions', { messages: [{ role: 'user', content: botQuestion }] });
      assert.equal(bot.status, 200, JSON.stringify(bot.json));
      assert.equal(bot.json.choices[0].message.content, botAnswer);
      assert.match(botAnswer, /第.条|押金|租/, 'the bot answered from the statute');

      // the job left over finishes here, and a new one trains here
      const left = await srv.factory.scheduler.waitFor(leftOver, undefined, 240_000);
      assert.equal(left.status, 'succeeded', left.error ?? '');
      assert.equal(left.spec.outputDir, join(moved, 'jobs', leftOver));
      const ft = models.find((m) => m.id.startsWith('ft:tiny:a:'))!.id;
      const c = await api('POST', '/v1/fine_tuning/jobs', { model: ft, dataset: 'sup', suffix: 'c', seed: 3, hyperparameters: { fine_tuning_method: 'full', n_epochs: 1, batch_size: 4, seq_len: 256 } });
      assert.equal(c.status, 200, JSON.stringify(c.json));
      const newJob = await srv.factory.scheduler.waitFor(c.json.id, undefined, 240_000);
      assert.equal(newJob.status, 'succeeded', newJob.error ?? '');
      await srv.factory.factory.idle();
      const served = await api('POST', '/v1/chat/completions', chat(`ft:${ft}:c:${c.json.id}`));
      assert.equal(served.status, 200, JSON.stringify(served.json));
      const lefts = await api('POST', '/v1/chat/completions', chat(`ft:${ft}:left:${leftOver}`));
      assert.equal(lefts.status, 200, JSON.stringify(lefts.json));
    } finally {
      await srv.close();
    }
    assert.ok(!existsSync(first), 'nothing recreated the old location');
    // nothing in the folder names where it was, nor where it is (every path inside it is relative)
    assert.deepEqual(filesNaming(moved, first), []);
    assert.deepEqual(filesNaming(moved, moved), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
