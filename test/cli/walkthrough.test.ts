/**
 * The README's walkthrough as a new user meets it, with the real processes: `modelfab serve` on a fresh data folder
 * and a free loopback port (it prints the console's and the API's addresses and the admin key), then the spawned CLI
 * against it: `keys create` makes a key on the server, that key imports a dataset and lists it; models, deployments,
 * knowledge and bots go to the same server; a wrong key (401), a key without admin rights (403), a missing file and
 * an unknown id each end in one readable line and a non-zero exit; no command writes a data folder where it runs.
 * [slow: a server process and about twenty CLI processes]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, cli } from './helpers.ts';

/** The environment without any MODELFAB_* variable of the machine running the tests. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MODELFAB_') && v !== undefined) env[k] = v;
  return env;
}

/** Starts `modelfab serve` and waits for the addresses it prints; the admin key comes with them on a fresh folder. */
async function serve(data: string): Promise<{ proc: ChildProcess; url: string; console: string; adminKey: string; output: () => string }> {
  const proc = spawn(process.execPath, [bin, 'serve', '--data', data, '--port', '0', '--no-base-models'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const started = await new Promise<boolean>((resolve) => {
    const check = () => { if (/API\s+http:\/\/127\.0\.0\.1:\d+\/v1/.test(out)) { proc.stdout!.off('data', check); resolve(true); } };
    proc.stdout!.on('data', check);
    proc.once('exit', () => resolve(false));
  });
  assert.ok(started, `modelfab serve did not start:\n${out}`);
  const api = /API\s+(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(out)![1]!;
  const consoleUrl = /console\s+(http:\/\/\S+)/.exec(out)?.[1] ?? '';
  const key = /^\s+(sk-mf-[A-Za-z0-9]{40})\s*$/m.exec(out)?.[1] ?? '';
  return { proc, url: api, console: consoleUrl, adminKey: key, output: () => out };
}

const oneLine = (out: string) => {
  assert.doesNotMatch(out, /ENOENT|\n\s+at \S+ \(/, 'no raw errno and no stack');
  return out;
};

test('[slow] the README walkthrough: serve, keys create, datasets with that key, errors exit non-zero', { timeout: 480_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'mf-walk-'));
  const data = join(root, 'modelfab-data');
  const work = join(root, 'work'); // where the user runs the CLI: no data folder may appear here
  mkdirSync(work);
  const srv = await serve(data);
  try {
    assert.equal(srv.console, `${srv.url}/`, 'the console address is printed at start');
    assert.match(srv.adminKey, /^sk-mf-/, 'a fresh data folder prints its admin key once');
    const admin = { ...cleanEnv(), MODELFAB_URL: srv.url, MODELFAB_API_KEY: srv.adminKey };
    const run = (args: string[], env: Record<string, string> = admin, input?: string) => cli(args, env, { cwd: work, input });

    // a key made with the CLI exists on the server and works there
    const made = await run(['keys', 'create', 'walkthrough', '--manage', 'files,datasets']);
    assert.equal(made.code, 0, made.out);
    const key = /^\s+(sk-mf-[A-Za-z0-9]{40})$/m.exec(made.out)?.[1];
    assert.ok(key, made.out);
    const listed = await run(['keys', 'list']);
    assert.match(listed.out, /walkthrough\s+user\s+active/);
    const user = { ...cleanEnv(), MODELFAB_URL: srv.url, MODELFAB_API_KEY: key! };

    const file = join(work, 'support.jsonl');
    writeFileSync(file, Array.from({ length: 12 }, (_, i) => JSON.stringify({ messages: [
      { role: 'user', content: `T100 的额定载重是多少？(${i})` }, { role: 'assistant', content: 'T100 的额定载重是 1,500 kg。' },
    ] })).join('\n') + '\n');
    const imported = await run(['datasets', 'import', 'support.jsonl', '--name', 'support', '--val-split', '0.25'], user);
    assert.equal(imported.code, 0, imported.out);
    assert.match(imported.out, /^ds-\S+\s+support\s+sft\s+openai-chat\s+12 rows\s+\(train 9, validation 3/m);
    const datasets = await run(['datasets', 'list', '--json'], user);
    assert.equal(datasets.code, 0, datasets.out);
    assert.deepEqual(JSON.parse(datasets.out).data.map((d: { name: string }) => d.name), ['support']);
    // the same dataset through the admin's eyes: one server, one registry
    assert.match((await run(['datasets', 'show', 'support'])).out, /support\s+sft/);

    const models = await run(['models', 'list', '--url', srv.url], user);
    assert.equal(models.code, 0, models.out);
    assert.match(models.out, /^no models$/m);
    const deployments = await run(['deployments']);
    assert.equal(deployments.code, 0, deployments.out);
    assert.match(deployments.out, /^no deployments$/m);

    // knowledge and bots live on the same server
    assert.equal((await run(['knowledge', 'create', '示例条例', '--id', 'rules'])).code, 0);
    const law = join(work, 'rules.md');
    writeFileSync(law, '# 示例条例\n\n第一条 投保人可以在合同成立后十五日内解除合同。\n\n第二条 保险人应当在三十日内作出核定。\n');
    const ingested = await run(['knowledge', 'ingest', 'rules', 'rules.md']);
    assert.equal(ingested.code, 0, ingested.out);
    assert.match(ingested.out, /^rules\.md: md, \d+ items?.*\nindex: \d+ servable items/m);
    assert.match((await run(['knowledge', 'list'])).out, /^rules\t示例条例$/m);

    // errors: one readable line, a non-zero exit
    const wrongKey = await run(['datasets', 'list'], { ...user, MODELFAB_API_KEY: 'sk-mf-not-a-key-000000000000' });
    assert.notEqual(wrongKey.code, 0);
    assert.match(oneLine(wrongKey.out), /401: Incorrect API key/);
    const notAdmin = await run(['keys', 'create', 'sneaky', '--admin'], user);
    assert.notEqual(notAdmin.code, 0);
    assert.match(oneLine(notAdmin.out), /403/);
    for (const args of [['datasets', 'import', 'missing.jsonl'], ['knowledge', 'ingest', 'rules', 'missing.md'], ['bots', 'build', 'rules-bot', 'missing.md']]) {
      const r = await run(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(oneLine(r.out), /^modelfab: file not found: missing\.(jsonl|md)$/m, args.join(' '));
    }
    const unknown = await run(['datasets', 'show', 'ds-nope']);
    assert.notEqual(unknown.code, 0);
    assert.match(oneLine(unknown.out), /404/);
    const noExperiment = await run(['experiment', 'leaderboard', 'exp-nope']);
    assert.notEqual(noExperiment.code, 0);
    assert.match(oneLine(noExperiment.out), /404/);
    const chat = await run(['chat', 'no-such-model'], admin, '你好\n');
    assert.notEqual(chat.code, 0, chat.out);
    assert.match(oneLine(chat.out), /404/);
    const badChatKey = await run(['chat', 'no-such-model', '--api-key', 'sk-mf-not-a-key-000000000000'], admin, '你好\n');
    assert.notEqual(badChatKey.code, 0, badChatKey.out);
    assert.match(badChatKey.out, /401/);
    const unreachable = await run(['jobs', 'list', '--url', 'http://127.0.0.1:9']);
    assert.notEqual(unreachable.code, 0);
    assert.match(oneLine(unreachable.out), /cannot reach http:\/\/127\.0\.0\.1:9/);

    // nothing wrote a data folder where the user ran the commands
    assert.deepEqual(readdirSync(work).sort(), ['rules.md', 'support.jsonl']);
    assert.ok(existsSync(join(data, 'modelfab.db')));
  } finally {
    srv.proc.kill('SIGTERM');
    await new Promise((r) => { if (srv.proc.exitCode !== null) r(null); else srv.proc.once('exit', r); });
    rmSync(root, { recursive: true, force: true });
  }
});
