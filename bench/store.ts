/**
 * npm run bench:store — the same mixed API load against modelfab on SQLite (one server), on PostgreSQL (one
 * server) and on PostgreSQL with two servers behind a round-robin client (one data folder), in one run.
 *
 * Each configuration starts real `modelfab serve` processes on a fresh data folder (and a fresh PostgreSQL
 * schema), registers a tiny engine model (pretrained here, 10 steps), a knowledge base of the demo support answers
 * and a training file, then `--clients` loops (default 16) send requests for `--seconds` (default 15), the server
 * of each request taken in turn. Every 10 requests of a loop are:
 *   4 chats            POST /v1/chat/completions, max_tokens 4 (usage accounted per key, model and day)
 *   3 knowledge        POST /v1/knowledge/search
 *   2 uploads          POST /v1/files (a small JSONL, validated)
 *   1 job submission   POST /v1/fine_tuning/jobs, then cancel (the job row, its events, its cancel)
 * Afterwards it checks that nothing was lost: every uploaded file and every submitted job is there (the jobs
 * cancelled), and the usage rows count every chat that succeeded (once the servers have flushed them).
 * PostgreSQL is MODELFAB_TEST_DATABASE_URL (default the one scripts/postgres-one-node.sh starts) or --database.
 * Prints a table, then one JSON line:
 *   {"bench":"store","sqlite_rps":…,"pg_rps":…,"pg_2servers_rps":…,"errors":…,"lost":…}
 * On a 2-core machine the servers, the clients and PostgreSQL share the cores: the figures compare the stores
 * under one load; they are not a capacity figure for a real deployment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runJob, validateJobSpec } from '../src/factory/engine-worker.ts';
import { supportQA } from '../src/demo/demo-datasets.ts';

const { values: args } = parseArgs({ options: {
  seconds: { type: 'string', default: '15' }, clients: { type: 'string', default: '16' },
  database: { type: 'string', default: process.env.MODELFAB_TEST_DATABASE_URL ?? 'postgres://modelfab:modelfab@127.0.0.1:5432/modelfab_test' },
  help: { type: 'boolean', default: false },
} });
if (args.help) {
  process.stdout.write('npm run bench:store -- [--seconds 15] [--clients 16] [--database postgres://...]\n');
  process.exit(0);
}
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const KEY = `sk-mf-bench-store-${randomBytes(8).toString('hex')}`;
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server { proc: ChildProcess; url: string; exited: Promise<unknown> }

async function serve(dir: string, database: string | null): Promise<Server> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--data', dir, '--port', '0', '--no-base-models', '--no-request-log', ...(database ? ['--database', database] : [])], {
    env: { ...process.env, MODELFAB_ADMIN_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  proc.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const exited = new Promise((r) => proc.once('exit', r));
  for (let i = 0; i < 1200; i++) {
    const m = /API\s+(http:\/\/[^\s]+)\/v1/.exec(out);
    if (m) return { proc, url: m[1], exited };
    if (proc.exitCode !== null) break;
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`a server did not start:\n${out.slice(-2000)}`);
}

/** The fields of the API's answers the bench reads. */
interface Answer { id: string; status?: string; data?: unknown; results?: unknown }

async function call(s: Server, method: string, path: string, body?: unknown): Promise<{ status: number; body: Answer }> {
  const form = body instanceof FormData;
  const res = await fetch(s.url + path, {
    method, headers: { authorization: `Bearer ${KEY}`, ...(body && !form ? { 'content-type': 'application/json' } : {}) },
    body: body ? (form ? body : JSON.stringify(body)) : undefined, signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: (await res.json().catch(() => ({ id: '' }))) as Answer };
}

const trainingLines = supportQA(0).train.slice(0, 12).map((r) => JSON.stringify(r)).join('\n');
const upload = (s: Server) => {
  const form = new FormData();
  form.set('purpose', 'fine-tune');
  form.set('file', new Blob([trainingLines]), 'bench.jsonl');
  return call(s, 'POST', '/v1/files', form);
};
const questions = supportQA(0).val.map((r) => r.messages[0].content);

interface Outcome { name: string; rps: number; requests: number; errors: number; lost: number; byKind: Record<string, { n: number; ms: number }> }

async function runConfig(name: string, base: string, database: string | null, servers: number): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), `mf-bench-store-${name}-`));
  const procs: Server[] = [];
  try {
    mkdirSync(join(dir, 'models'), { recursive: true });
    for (let i = 0; i < servers; i++) procs.push(await serve(dir, database));
    const [first] = procs;
    const reg = await call(first, 'POST', '/v1/models', { path: base, name: 'tiny' });
    if (reg.status !== 200) throw new Error(`register: ${JSON.stringify(reg.body)}`);
    const kb = await call(first, 'POST', '/v1/knowledge/bases', { name: 'support' });
    if (kb.status !== 200) throw new Error(`knowledge base: ${JSON.stringify(kb.body)}`);
    const doc = supportQA(0).train.map((r) => `## ${r.messages[0].content}\n\n${r.messages.at(-1)!.content}`).join('\n\n');
    const put = await call(first, 'POST', `/v1/knowledge/bases/${kb.body.id}/documents`, { filename: 'support.md', text: doc });
    if (put.status !== 200) throw new Error(`document: ${JSON.stringify(put.body)}`);
    const file = await upload(first);
    if (file.status !== 200) throw new Error(`upload: ${JSON.stringify(file.body)}`);
    // warm: the model loaded on every server
    for (const s of procs) await call(s, 'POST', '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
    let usageBefore = 0;
    for (let i = 0; i < 100 && usageBefore < procs.length; i++) { await sleep(100); usageBefore = await chatsCounted(first); } // flushed each second

    const files: string[] = [], jobs: string[] = [];
    const byKind: Outcome['byKind'] = {};
    const failures: Record<string, Map<string, number>> = {};
    let requests = 0, errors = 0, chats = 0, turn = 0;
    const end = performance.now() + SECONDS * 1000;
    const loop = async (c: number) => {
      for (let i = 0; performance.now() < end; i++) {
        const s = procs[turn++ % procs.length];
        const op = (i + c) % 10;
        const kind = op < 4 ? 'chat' : op < 7 ? 'search' : op < 9 ? 'upload' : 'job';
        const t0 = performance.now();
        let ok = false;
        let why = '';
        try {
          if (kind === 'chat') {
            const r = await call(s, 'POST', '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: questions[(i + c) % questions.length] }], max_tokens: 4, temperature: 0 });
            ok = r.status === 200;
            if (ok) chats++; else why = JSON.stringify(r.body);
          } else if (kind === 'search') {
            const r = await call(s, 'POST', '/v1/knowledge/search', { kbs: [kb.body.id], query: questions[(i * 7 + c) % questions.length], k: 5 });
            ok = r.status === 200 && Array.isArray(r.body?.results);
            if (!ok) why = JSON.stringify(r.body);
          } else if (kind === 'upload') {
            const r = await upload(s);
            ok = r.status === 200;
            if (ok) files.push(r.body.id); else why = JSON.stringify(r.body);
          } else {
            const r = await call(s, 'POST', '/v1/fine_tuning/jobs', { model: 'tiny', training_file: file.body.id, hyperparameters: { n_epochs: 1 } });
            ok = r.status === 200;
            if (ok) {
              jobs.push(r.body.id);
              const x = await call(s, 'POST', `/v1/fine_tuning/jobs/${r.body.id}/cancel`);
              ok = x.status === 200;
              if (!ok) why = JSON.stringify(x.body);
            } else why = JSON.stringify(r.body);
          }
        } catch (e) {
          ok = false;
          why = (e as Error).message;
        }
        if (!ok) (failures[kind] ??= new Map()).set(why.slice(0, 200), (failures[kind]?.get(why.slice(0, 200)) ?? 0) + 1);
        const k = (byKind[kind] ??= { n: 0, ms: 0 });
        k.n++;
        k.ms += performance.now() - t0;
        requests++;
        if (!ok) errors++;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => loop(c)));
    const wall = (performance.now() - t0) / 1000;

    // nothing lost: every file and job is there, the jobs end cancelled, the usage rows count every chat
    let lost = 0;
    const lostWhy: string[] = [];
    for (const id of files) if ((await call(procs[0], 'GET', `/v1/files/${id}`)).status !== 200) { lost++; lostWhy.push(`file ${id}`); }
    for (const id of jobs) {
      let st = '';
      for (let i = 0; i < 300; i++) {
        st = (await call(procs[procs.length - 1], 'GET', `/v1/fine_tuning/jobs/${id}`)).body?.status ?? 'missing';
        if (st === 'cancelled' || st === 'missing') break;
        await sleep(100);
      }
      if (st !== 'cancelled') { lost++; lostWhy.push(`job ${id} ${st}`); }
    }
    let counted = 0;
    for (let i = 0; i < 50; i++) {
      counted = (await chatsCounted(first)) - usageBefore;
      if (counted === chats) break;
      await sleep(100);
    }
    lost += Math.abs(counted - chats);
    if (counted !== chats) lostWhy.push(`usage counts ${counted} chats of ${chats}`);
    for (const w of lostWhy) process.stderr.write(`${name}: lost ${w}\n`);
    for (const [kind, m] of Object.entries(failures)) for (const [why, n] of m) process.stderr.write(`${name}: ${n} ${kind} failed: ${why}\n`);
    return { name, rps: (requests - errors) / wall, requests, errors, lost, byKind };
  } finally {
    for (const s of procs) s.proc.kill('SIGTERM');
    await Promise.all(procs.map((s) => Promise.race([s.exited, sleep(15_000)])));
    for (const s of procs) s.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function chatsCounted(s: Server): Promise<number> {
  const rows = ((await call(s, 'GET', '/v1/usage')).body.data ?? []) as Array<{ model: string; requests: number; errors: number }>;
  return rows.filter((r) => r.model === 'tiny').reduce((a, r) => a + r.requests - r.errors, 0);
}

async function freshSchema(): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `mf_bench_${randomBytes(4).toString('hex')}`;
  const u = new URL(args.database!);
  u.searchParams.set('schema', schema);
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: args.database! });
      await c.connect();
      try { await c.query(`drop schema if exists ${schema} cascade`); } finally { await c.end(); }
    },
  };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mf-bench-store-'));
  try {
    // the tiny model every configuration serves (copied by path into each data folder's models/)
    const text = join(work, 'text.jsonl');
    writeFileSync(text, supportQA(0).train.map((r) => JSON.stringify({ text: r.messages.map((m) => m.content).join('\n') })).join('\n'));
    await runJob(validateJobSpec({
      version: 1, id: 'tiny', name: 'tiny', stage: 'pretrain',
      base: { kind: 'scratch', config: { vocabSize: 0, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, ffnSize: 64, ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: true, qkvBias: false, contextLength: 128 }, tokenizer: { vocabSize: 400 } },
      method: { type: 'full' }, data: { train: { path: text, kind: 'pretrain' } },
      hyperparameters: { batchSize: 4, seqLen: 64, lr: 1e-2, maxSteps: 10 }, seed: 1, outputDir: join(work, 'tiny'), threads: 1,
    }));
    const base = join(work, 'tiny', 'model');
    const results: Outcome[] = [];
    // the model must be inside each data folder's models/ (the registry's allow-list): MODELFAB_MODEL_DIRS names it
    process.env.MODELFAB_MODEL_DIRS = join(work, 'tiny');
    results.push(await runConfig('sqlite', base, null, 1));
    for (const [name, n] of [['pg', 1], ['pg_2servers', 2]] as const) {
      const schema = await freshSchema();
      try { results.push(await runConfig(name, base, schema.url, n)); } finally { await schema.drop(); }
    }
    process.stdout.write(`\n${'store'.padEnd(14)}${'req/s'.padStart(9)}${'requests'.padStart(10)}${'errors'.padStart(8)}${'lost'.padStart(6)}   mean ms: chat / search / upload / job\n`);
    for (const r of results) {
      const ms = (k: string) => (r.byKind[k] ? (r.byKind[k].ms / r.byKind[k].n).toFixed(1) : '-');
      process.stdout.write(`${r.name.padEnd(14)}${r.rps.toFixed(1).padStart(9)}${String(r.requests).padStart(10)}${String(r.errors).padStart(8)}${String(r.lost).padStart(6)}   ${ms('chat')} / ${ms('search')} / ${ms('upload')} / ${ms('job')}\n`);
    }
    const by = (n: string) => results.find((r) => r.name === n)!;
    process.stdout.write(JSON.stringify({
      bench: 'store', sqlite_rps: +by('sqlite').rps.toFixed(1), pg_rps: +by('pg').rps.toFixed(1), pg_2servers_rps: +by('pg_2servers').rps.toFixed(1),
      errors: results.reduce((a, r) => a + r.errors, 0), lost: results.reduce((a, r) => a + r.lost, 0), clients: CLIENTS, seconds: SECONDS,
    }) + '\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
