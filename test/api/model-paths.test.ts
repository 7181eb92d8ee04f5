/**
 * Registering a model by a path on the server: admin keys only, and only from the folders the server reads models
 * from (the data folder's models/, MODELFAB_MODEL_DIRS, the modelDirs option), after resolving symlinks and `..`;
 * anything else answers "path is not inside an allowed model folder" whether it exists or not, and no error quotes
 * a file's bytes or size. Serving by path (deployments, serving models) holds to the same folders plus the data
 * folder.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { ModelFolders, modelDirsFromEnv, realLocation } from '../../src/api/model-paths.ts';
import { exportModel } from '../../src/model-files/model-files.ts';
import { randomModel, shapeConfig, testTokenizer } from '../model-files/model-fixtures.ts';
import { ADMIN_KEY } from './helpers.ts';

let root: string, data: string, extra: string, outside: string, srv: ModelfabServer, url: string;
const SECRET = 'root:x:0:0:root:/root:/bin/bash\n';

async function call(method: string, path: string, body: unknown, key: string = ADMIN_KEY): Promise<{ status: number; json: any; text: string }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: JSON.parse(text), text };
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'mf-modelpaths-'));
  data = join(root, 'data');
  extra = join(root, 'extra-models');
  outside = join(root, 'outside');
  mkdirSync(extra, { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'shadow'), SECRET);
  writeFileSync(join(outside, 'model.gguf'), SECRET);
  const prev = process.env.MODELFAB_MODEL_DIRS;
  process.env.MODELFAB_MODEL_DIRS = ['', extra].join(delimiter);
  try {
    srv = await createServer({ dataDir: data, adminKey: ADMIN_KEY, serve: { warm: false } });
  } finally {
    if (prev === undefined) delete process.env.MODELFAB_MODEL_DIRS; else process.env.MODELFAB_MODEL_DIRS = prev;
  }
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await srv.close();
  rmSync(root, { recursive: true, force: true });
});

test('the allowed folders: the data folder\'s models/ and MODELFAB_MODEL_DIRS', () => {
  assert.deepEqual([...srv.modelDirs], [join(data, 'models'), extra]);
  assert.deepEqual(modelDirsFromEnv(['/a', '', ' /b '].join(delimiter)), ['/a', '/b']);
  assert.deepEqual(modelDirsFromEnv(undefined), []);
});

test('a path outside every allowed folder: one answer, nothing read, for files that exist and files that do not', async () => {
  const models = join(data, 'models');
  symlinkSync(join(outside, 'shadow'), join(models, 'link.gguf'));
  symlinkSync(outside, join(models, 'linked-dir'));
  const paths = [
    '/etc/passwd', '/etc/shadow', '/etc/no-such-file-here', join(outside, 'shadow'), join(outside, 'model.gguf'), join(outside, 'missing.gguf'),
    join(models, 'link.gguf'), join(models, 'linked-dir', 'shadow'), join(models, 'linked-dir', 'missing.gguf'), `${models}/../../outside/shadow`,
    `${models}/nothing/../../outside/shadow`, join(data, 'modelfab.db'), data, root,
  ];
  const answers = new Set<string>();
  for (const path of paths) {
    const r = await call('POST', '/v1/models', { path, name: 'probe' });
    assert.equal(r.status, 403, `${path}: ${r.text}`);
    assert.equal(r.json.error.code, 'path_not_allowed');
    assert.doesNotMatch(r.text, /root|magic|0x|bytes|does not exist/);
    answers.add(r.json.error.message);
  }
  assert.deepEqual([...answers], ['path: path is not inside an allowed model folder']);
  assert.equal((await call('POST', '/v1/models', { path: 'relative/model.gguf' })).status, 400);
});

test('registering by path is for admin keys only, whatever the key manages', async () => {
  const k = await call('POST', '/v1/keys', { name: 'all areas', manage: ['files', 'datasets', 'fine_tuning', 'experiments', 'evals', 'knowledge', 'bots', 'feedback'] });
  const r = await call('POST', '/v1/models', { path: join(extra, 'x.gguf') }, k.json.key);
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'admin_required');
});

test('inside an allowed folder: a bad file names the problem without its bytes; a good one registers', async () => {
  writeFileSync(join(extra, 'notes.gguf'), SECRET);
  const bad = await call('POST', '/v1/models', { path: join(extra, 'notes.gguf') });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json.error.code, 'invalid_model_file');
  assert.match(bad.json.error.message, /not a GGUF file \(bad magic\)/);
  assert.doesNotMatch(bad.text, /root|0x[0-9a-f]{8}/);
  const missing = await call('POST', '/v1/models', { path: join(extra, 'missing.gguf') });
  assert.equal(missing.status, 400);
  assert.match(missing.json.error.message, /does not exist/);

  const tok = testTokenizer();
  const model = randomModel(shapeConfig(tok.vocabSize, { contextLength: 64 }), 3);
  exportModel(model, tok, { format: 'gguf', path: join(extra, 'tiny.gguf') });
  const ok = await call('POST', '/v1/models', { path: join(extra, 'tiny.gguf') });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.id, 'tiny');
  // a link inside the folder to a file inside it is fine (the real path is what counts)
  symlinkSync(join(extra, 'tiny.gguf'), join(data, 'models', 'tiny-link.gguf'));
  const linked = await call('POST', '/v1/models', { path: join(data, 'models', 'tiny-link.gguf'), name: 'tiny-linked' });
  assert.equal(linked.status, 200, linked.text);
});

test('serving by path (deployments, serving models) holds to the model folders and the data folder', async () => {
  const dep = await call('POST', '/v1/deployments', { name: 'leak', path: join(outside, 'model.gguf') });
  assert.equal(dep.status, 403, dep.text);
  assert.equal(dep.json.error.message, 'path: path is not inside an allowed model folder');
  const sm = await call('POST', '/v1/serve/models', { name: 'leak', kind: 'gguf', path: join(models(), '..', '..', 'outside', 'model.gguf') });
  assert.equal(sm.status, 403, sm.text);
  const adapter = await call('POST', '/v1/serve/models', { name: 'leak', kind: 'gguf', path: join(extra, 'tiny.gguf'), adapterPath: '/etc/passwd' });
  assert.equal(adapter.status, 403, adapter.text);
  assert.equal(adapter.json.error.param, 'adapterPath');
  const inside = await call('POST', '/v1/serve/models', { name: 'tiny-served', kind: 'gguf', path: join(extra, 'tiny.gguf') });
  assert.equal(inside.status, 200, inside.text);
});

test('ModelFolders: real paths decide, for paths that exist and paths that do not', () => {
  const f = new ModelFolders([extra]);
  assert.equal(f.resolve(join(extra, 'tiny.gguf')), realLocation(join(extra, 'tiny.gguf')));
  assert.throws(() => f.resolve(join(extra, '..', 'outside', 'shadow')), /not inside an allowed model folder/);
  assert.throws(() => f.resolve(join(extra, 'a', '..', '..', 'outside', 'x')), /not inside an allowed model folder/);
  assert.throws(() => f.resolve(join(extra, 'sub', 'new.gguf')), /does not exist/);
  assert.throws(() => new ModelFolders([join(root, 'not-made-yet')]).resolve(join(root, 'not-made-yet', 'x.gguf')), /not inside an allowed model folder/);
});

function models(): string { return join(data, 'models'); }

test('eval runs: a registered model only, never a path (inside a model folder or not) or an endpoint URL', async () => {
  for (const model of [join(outside, 'model.gguf'), join(extra, 'tiny.gguf')]) {
    const r = await call('POST', '/v1/evals/runs', { model });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'path_not_allowed');
    assert.doesNotMatch(r.text, /root|magic/);
  }
  const evaluator = (await call('POST', '/v1/keys', { name: 'evaluator', manage: ['evals'] })).json.key as string;
  for (const key of [evaluator, ADMIN_KEY]) {
    const url = await call('POST', '/v1/evals/runs', { model: 'openai:http://127.0.0.1:9/v1#x' }, key);
    assert.equal(url.status, 400, url.text);
    assert.equal(url.json.error.code, 'url_not_allowed');
  }
  assert.equal((await call('POST', '/v1/evals/runs', { model: 'no-such-model' }, evaluator)).status, 404);
});
