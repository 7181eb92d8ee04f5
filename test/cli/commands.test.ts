/**
 * The CLI's pure parts: the models table (a header; fine-tunes of one base and method told apart by dataset and
 * sweep), the request bodies of `keys create` and `deploy`, the errors for files a user names, the addresses
 * `modelfab serve` prints, and the options every server command and every local command share.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { displayWidth, modelsTable, table, type JobEntry } from '../../src/cli/tables.ts';
import { keyRequest } from '../../src/cli/keys-commands.ts';
import { deployRequest } from '../../src/cli/deploy-commands.ts';
import { readUserFile, readUserJson, requireFile } from '../../src/cli/user-files.ts';
import { serveAddresses } from '../../src/cli/serve-commands.ts';
import { buildProgram } from '../../src/cli/program.ts';

const job = (id: string, dataset: string, name: string, method: Record<string, unknown> = { type: 'full' }): JobEntry => ({
  id, model: 'spruce-l', status: 'succeeded', fine_tuned_model: `ft:spruce-l:full:${id}`,
  hyperparameters: { fine_tuning_method: String(method.type), method_options: method },
  modelfab: { name, stage: 'sft', dataset, experiment_id: 'exp-1', eval_loss: 1.23456 },
});

test('models list: a header, and base / dataset / method for each fine-tune', () => {
  const jobs = [
    job('job-a', 'support', 'spruce-l x support x full'), job('job-b', 'hr_policy', 'spruce-l x hr_policy x full'),
    job('job-c', 'identity', 'spruce-l x identity x full x lr=0.003'),
    { ...job('job-d', 'identity', 'my-own-job', { type: 'lora', rank: 16, alpha: 32 }), modelfab: { name: 'my-own-job', stage: 'sft', dataset: 'identity', experiment_id: null, eval_loss: null } },
  ];
  const models = [...jobs.map((j) => ({ id: j.fine_tuned_model!, owned_by: 'user', created: 1 })), { id: 'spruce-l', owned_by: 'modelfab', created: 1 }];
  const lines = modelsTable(models, jobs);
  assert.match(lines[0]!, /^MODEL\s+BASE\s+DATASET\s+METHOD\s+STAGE\s+EVAL LOSS\s+OWNED BY$/);
  assert.match(lines[1]!, /^ft:spruce-l:full:job-a\s+spruce-l\s+support\s+full\s+sft\s+1\.235\s+user$/);
  assert.match(lines[2]!, /^ft:spruce-l:full:job-b\s+spruce-l\s+hr_policy\s+full\s/);
  assert.match(lines[3]!, /^ft:spruce-l:full:job-c\s+spruce-l\s+identity\s+full x lr=0\.003\s/);
  assert.match(lines[4]!, /^ft:spruce-l:full:job-d\s+spruce-l\s+identity\s+lora r16\s+sft\s+-\s+user$/);
  assert.match(lines[5]!, /^spruce-l\s+-\s+-\s+-\s+-\s+-\s+modelfab$/);
  // the columns line up: every row's second column starts where the header's does
  const at = lines[0]!.indexOf('BASE');
  for (const l of lines.slice(1, 5)) assert.equal(l.indexOf('spruce-l', 5), at);
  assert.deepEqual(modelsTable([], []), ['no models']);
});

test('tables count a Chinese character as two columns', () => {
  assert.equal(displayWidth('客服'), 4);
  assert.equal(displayWidth('ab'), 2);
  assert.deepEqual(table(['名称', 'n'], [['客服问答', '1'], ['hr', '2']]), ['名称      n', '客服问答  1', 'hr        2']);
});

test('keys create NAME sends the scopes, --manage areas and the role', () => {
  assert.deepEqual(keyRequest('ci', { models: 'spruce-assistant, ft:*', endpoints: 'chat.completions,models', manage: 'datasets,fine_tuning', rpm: '60', admin: true }), {
    name: 'ci', models: ['spruce-assistant', 'ft:*'], endpoints: ['chat.completions', 'models'], manage: ['datasets', 'fine_tuning'], rate_limit_rpm: 60, role: 'admin',
  });
  assert.deepEqual(keyRequest('none', { knowledge: '' }), { name: 'none', knowledge: [] });
  assert.deepEqual(keyRequest('t', { expiresDays: '2' }, 1000), { name: 't', expires_at: 1000 + 2 * 86400 });
  assert.throws(() => keyRequest('t', { rpm: '-1' }), /--rpm must be a positive number, got -1/);
  assert.throws(() => keyRequest('t', { quota: '1.5' }), /--quota must be a whole number/);
});

test('deploy NAME: exactly one model source; server-side paths are absolute', () => {
  const b = deployRequest('bot', { path: 'models/x.gguf', warm: false, guard: 'none', concurrency: '2' });
  assert.equal(b.path, join(process.cwd(), 'models/x.gguf'));
  assert.deepEqual(b.settings, { concurrency: 2, warm: false, guard: null });
  assert.throws(() => deployRequest('bot', { warm: true }), /exactly one of --model, --path or --endpoint/);
  assert.throws(() => deployRequest('bot', { model: 'a', endpoint: 'http://x/v1', warm: true }), /exactly one/);
  assert.throws(() => deployRequest('bot', { model: 'a', queue: 'many', warm: true }), /--queue must be an integer, got many/);
});

test('files users name: "file not found: PATH", never the raw errno or the contents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-files-'));
  try {
    assert.throws(() => readUserFile(join(dir, 'nope.md')), { message: `file not found: ${join(dir, 'nope.md')}` });
    assert.throws(() => requireFile(join(dir, 'nope', 'deeper.md')), { message: `file not found: ${join(dir, 'nope', 'deeper.md')}` });
    assert.throws(() => readUserFile(dir), { message: `${dir} is a folder, not a file` });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"secret": "hunter2", oops}');
    assert.throws(() => readUserJson(bad), (e: Error) => e.message.startsWith(`${bad}`) && /not valid JSON/.test(e.message) && !e.message.includes('hunter2'));
    writeFileSync(bad, '{"ok": 1}');
    assert.deepEqual(readUserJson(bad), { ok: 1 });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('serve prints addresses a browser and a client can open', () => {
  assert.deepEqual(serveAddresses('127.0.0.1', 8080), { console: 'http://127.0.0.1:8080/', api: 'http://127.0.0.1:8080/v1' });
  assert.deepEqual(serveAddresses('0.0.0.0', 9000), { console: 'http://127.0.0.1:9000/', api: 'http://127.0.0.1:9000/v1' });
  assert.equal(serveAddresses('::1', 1).api, 'http://[::1]:1/v1');
});

/** Every command that runs something (leaves of the tree), with its full name. */
function leaves(c: Command, prefix = ''): Array<{ name: string; cmd: Command }> {
  const name = `${prefix}${prefix ? ' ' : ''}${c.name()}`;
  if (!c.commands.length) return [{ name, cmd: c }];
  return c.commands.flatMap((s) => leaves(s, name));
}

test('one set of options: server commands take --url and --api-key; local ones say "local" and take --data', () => {
  const LOCAL = new Set(['modelfab serve', 'modelfab demo', 'modelfab info', 'modelfab bench run', 'modelfab bench show', 'modelfab bench compare', 'modelfab bench export-lmeval', 'modelfab guard check', 'modelfab db copy']);
  const DATA = new Set(['modelfab serve', 'modelfab demo', 'modelfab bench run', 'modelfab bench show', 'modelfab bench compare']);
  const all = leaves(buildProgram());
  assert.ok(all.length > 60, `${all.length} commands`);
  for (const { name, cmd } of all) {
    const flags = cmd.options.map((o) => o.long);
    assert.ok(!flags.includes('--data-dir') && !flags.includes('--key'), `${name}: --data-dir / --key are gone`);
    if (LOCAL.has(name)) {
      assert.match(cmd.description(), /^local: /, `${name} says it is local`);
      assert.ok(!flags.includes('--url'), `${name} takes no --url`);
      assert.equal(flags.includes('--data'), DATA.has(name), `${name}: --data`);
    } else {
      assert.ok(flags.includes('--url') && flags.includes('--api-key'), `${name} is a client of the server: --url and --api-key`);
      assert.ok(!flags.includes('--data'), `${name} takes no --data`);
    }
  }
});

test('the data folder defaults to MODELFAB_DATA on every local command', () => {
  const before = process.env.MODELFAB_DATA;
  process.env.MODELFAB_DATA = '/srv/modelfab';
  try {
    for (const { name, cmd } of leaves(buildProgram())) {
      const data = cmd.options.find((o) => o.long === '--data');
      if (data) assert.equal(data.defaultValue, '/srv/modelfab', name);
    }
  } finally {
    if (before === undefined) delete process.env.MODELFAB_DATA; else process.env.MODELFAB_DATA = before;
  }
});

test('serve: the knowledge bases\' models come from its options, endpoint keys from the environment', async () => {
  const { knowledgeModels } = await import('../../src/cli/serve-commands.ts');
  assert.deepEqual(await knowledgeModels({}), { embedder: null, generator: null, judge: null });
  const before = process.env.MODELFAB_CHAT_API_KEY;
  process.env.MODELFAB_CHAT_API_KEY = 'sk-endpoint';
  try {
    const m = await knowledgeModels({ chatUrl: 'http://127.0.0.1:9/v1', chatModel: 'qwen', embedUrl: 'http://127.0.0.1:9/v1', embedModel: 'bge', judge: true });
    assert.equal(m.generator?.name, 'openai:qwen');
    assert.ok(m.embedder && m.judge);
  } finally {
    if (before === undefined) delete process.env.MODELFAB_CHAT_API_KEY; else process.env.MODELFAB_CHAT_API_KEY = before;
  }
  await assert.rejects(knowledgeModels({ chatUrl: 'http://x/v1' }), /--chat-url and --chat-model go together/);
  await assert.rejects(knowledgeModels({ embedGguf: '/nonexistent/embed.gguf' }), { message: 'file not found: /nonexistent/embed.gguf' });
});

test('files a user names on local commands and before any request: one line, non-zero exit', async () => {
  const { cli } = await import('./helpers.ts');
  const env = { MODELFAB_URL: 'http://127.0.0.1:9', MODELFAB_API_KEY: '' };
  const runs = await Promise.all([
    cli(['bench', 'run', '-m', 'no-such-model.gguf'], env),
    cli(['bench', 'run', '-m', 'openai:http://127.0.0.1:9/v1#m', '--task', 'no-such-task.yaml'], env),
    cli(['guard', 'check', 'hello', '--policy', 'no-such-policy.json'], env),
    cli(['experiment', 'plan', 'no-such-experiment.yaml'], env),
  ]);
  const expected = ['no-such-model.gguf', 'no-such-task.yaml', 'no-such-policy.json', 'no-such-experiment.yaml'];
  runs.forEach((r, i) => {
    assert.notEqual(r.code, 0, r.out);
    assert.equal(r.out, `modelfab: file not found: ${expected[i]}\n`);
  });
});
