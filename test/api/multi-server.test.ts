/**
 * Two `modelfab serve` processes on one PostgreSQL and one data folder, an experiment of several real training jobs
 * submitted to the server that does not lead, and the leader killed with kill -9 mid-run: the survivor takes the
 * leadership over, adopts the dead server's running trainers, starts what was queued, and every job succeeds once;
 * its API answers throughout. (slow: about half a minute)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJob, validateJobSpec } from '../../src/factory/engine-worker.ts';
import { freshPostgres, noPostgres } from '../store/test-databases.ts';
import { needsShared, shared } from '../shared-data.ts';
import { ADMIN_KEY } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const NEED = needsShared('laws/consumer-protection-law-zh.md');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server { proc: ChildProcess; url: string; log: () => string; exited: Promise<unknown> }

async function serve(dir: string, database: string): Promise<Server> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--data', dir, '--database', database, '--port', '0', '--no-base-models'], {
    env: { ...process.env, MODELFAB_ADMIN_KEY: ADMIN_KEY }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  proc.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const exited = new Promise((r) => proc.once('exit', r));
  for (let i = 0; i < 600; i++) {
    const m = /API\s+(http:\/\/[^\s]+)\/v1/.exec(out);
    if (m) return { proc, url: m[1], log: () => out, exited };
    if (proc.exitCode !== null) break;
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`the server did not start:\n${out.slice(-3000)}`);
}

async function api(s: Server, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(s.url + path, {
    method, headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json() };
}

test('slow: two servers on one PostgreSQL: the leader is killed mid-experiment, the other adopts its jobs and every job succeeds once', { ...NEED, ...(noPostgres ? { skip: noPostgres } : {}), timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-2servers-'));
  const pg = await freshPostgres();
  const servers: Server[] = [];
  try {
    // a tiny base model of the data folder and an SFT dataset, made before any server starts
    const text = join(dir, 'text.jsonl');
    const law = readFileSync(shared('laws/consumer-protection-law-zh.md'), 'utf8');
    writeFileSync(text, law.split(/\n\s*\n/).filter((p) => p.trim()).map((p) => JSON.stringify({ text: p })).join('\n'));
    mkdirSync(join(dir, 'models'), { recursive: true });
    const base = join(dir, 'models', 'tiny-pre');
    assert.equal(await runJob(validateJobSpec({
      version: 1, id: 'base', name: 'base', stage: 'pretrain',
      base: { kind: 'scratch', config: { vocabSize: 0, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 64 }, tokenizer: { vocabSize: 300 } },
      method: { type: 'full' }, data: { train: { path: text, kind: 'pretrain' } },
      hyperparameters: { batchSize: 4, seqLen: 32, lr: 1e-2, maxSteps: 10 }, seed: 1, outputDir: base, threads: 1,
    })), 'succeeded');
    const chats = Array.from({ length: 40 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `第${i + 1}条？` }, { role: 'assistant', content: `经营者应当依法提供商品。` }] }));

    const a = await serve(dir, pg.url);
    servers.push(a);
    const b = await serve(dir, pg.url);
    servers.push(b);
    const reg = await api(a, 'POST', '/v1/models', { path: join(base, 'model'), name: 'tiny' });
    assert.equal(reg.status, 200, JSON.stringify(reg.body));
    const form = new FormData();
    form.set('purpose', 'fine-tune');
    form.set('file', new Blob([chats.join('\n')]), 'chats.jsonl');
    const file = await (await fetch(b.url + '/v1/files', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: form })).json() as { id: string };
    const ds = await api(b, 'POST', '/v1/datasets', { name: 'chats', file_id: file.id, validation_split: 0.2, seed: 1 });
    assert.equal(ds.status, 200, JSON.stringify(ds.body));

    // the experiment goes to the server that does not lead; the leader (the first one) places its jobs
    const exp = await api(b, 'POST', '/v1/experiments', {
      name: 'two-servers', stage: 'sft', base_models: ['tiny'], datasets: ['chats'],
      methods: [{ name: 'full', spec: { type: 'full' } }, { name: 'lora', spec: { type: 'lora', rank: 4, alpha: 8, targets: ['all'] } }, { name: 'freeze', spec: { type: 'freeze', trainableLayers: 1 } }],
      hyperparameters: { batchSize: 4, seqLen: 64, maxSteps: 600, checkpointEvery: 50 },
    });
    assert.equal(exp.status, 200, JSON.stringify(exp.body));
    const ids: string[] = exp.body.jobs.map((j: { id: string }) => j.id);
    assert.equal(ids.length, 3);

    // wait until a trainer of the leader is past its first checkpoint
    let running: any[] = [];
    let jobs: any[] = [];
    for (let i = 0; i < 600 && running.length === 0; i++) {
      await sleep(100);
      jobs = await Promise.all(ids.map(async (id) => (await api(b, 'GET', `/v1/fine_tuning/jobs/${id}`)).body));
      running = jobs.filter((j) => j.status === 'running' && j.modelfab.step >= 60);
    }
    assert.ok(running.length > 0, `a job runs on the leader: ${JSON.stringify(jobs.map((j) => [j.status, j.modelfab?.step, j.error]))}`);

    // a client of the follower follows a job the leader runs: live metrics over SSE
    const live = await fetch(`${b.url}/v1/fine_tuning/jobs/${running[0].id}/metrics?stream=true`, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, signal: AbortSignal.timeout(20_000) });
    const reader = live.body!.getReader();
    let sseText = '';
    const firstStep = running[0].modelfab.step as number;
    const stepsSeen = () => [...sseText.matchAll(/"step":(\d+)/g)].map((m) => Number(m[1]));
    for (let done = false; !done && !stepsSeen().some((s) => s > firstStep + 5);) {
      const r = await reader.read();
      done = r.done;
      if (r.value) sseText += new TextDecoder().decode(r.value);
    }
    await reader.cancel();
    assert.ok(stepsSeen().some((s) => s > firstStep + 5), `the follower streams the leader's job's steps: ${sseText.slice(0, 500)}`);

    // the survivor's API is polled throughout; the leader dies with kill -9 (its trainers live on)
    let polls = 0;
    const failures: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        polls++;
        await api(b, 'GET', '/v1/models').then((r) => { if (r.status !== 200) failures.push(`status ${r.status}`); }, (e: Error) => failures.push(e.message));
        await sleep(100);
      }
    })();
    const killedAt = Date.now();
    a.proc.kill('SIGKILL');
    await a.exited;

    const done: any[] = [];
    for (const id of ids) {
      for (let i = 0; i < 1800; i++) {
        const j = (await api(b, 'GET', `/v1/fine_tuning/jobs/${id}`)).body;
        if (['succeeded', 'failed', 'cancelled'].includes(j.status)) { done.push(j); break; }
        await sleep(100);
      }
    }
    polling = false;
    await poller;
    assert.equal(done.length, 3, 'every job ended');
    for (const j of done) assert.equal(j.status, 'succeeded', `${j.modelfab.name}: ${JSON.stringify(j.error)}\n${b.log().slice(-2000)}`);
    for (const j of done) assert.ok(j.fine_tuned_model, `${j.modelfab.name} is registered as a model`);

    // once: each job started one run (adopted, not restarted) and succeeded once
    let adopted = 0;
    let adoptedAt = Infinity;
    for (const id of ids) {
      const events: Array<{ id: string; message: string; created_at: number }> = [];
      for (let page: any = { has_more: true }; page.has_more;) {
        page = (await api(b, 'GET', `/v1/fine_tuning/jobs/${id}/events?limit=100${events.length ? `&after=${events.at(-1)!.id}` : ''}`)).body;
        events.push(...page.data);
      }
      const starts = events.filter((e) => /queued -> running/.test(e.message)).length;
      const successes = events.filter((e) => /-> succeeded/.test(e.message)).length;
      assert.equal(starts, 1, `${id} started once: ${events.filter((e) => !/^Step /.test(e.message)).map((e) => e.message).join(' | ')}`);
      assert.equal(successes, 1, `${id} succeeded once`);
      const adoption = events.find((e) => /adopted the running worker/.test(e.message));
      if (adoption) { adopted++; adoptedAt = Math.min(adoptedAt, adoption.created_at * 1000); }
    }
    assert.ok(adopted >= running.length, `the dead leader's running jobs were adopted (${adopted} of ${running.length})`);
    assert.deepEqual(failures, [], `the surviving server answered all ${polls} requests`);
    // the time to take over, for the README (seconds, events are stored to the second)
    process.stdout.write(`# take-over: jobs adopted within ${Math.max(1, Math.ceil((adoptedAt - killedAt) / 1000))} s of kill -9 (events are stamped to the second); ${polls} API requests to the survivor, none failed\n`);
  } finally {
    for (const s of servers) { s.proc.kill('SIGTERM'); await Promise.race([s.exited, sleep(10_000)]); s.proc.kill('SIGKILL'); }
    await pg.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});
