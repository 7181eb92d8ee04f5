/**
 * The authorization table (src/api/authz.ts) against the server: every registered route is in the table and every
 * table entry is a route; then every route is called with keys of each kind (none, unknown, revoked, admin, a plain
 * user key, a chat-only key scoped to one model, a key with one management area, a user key with every area) and
 * each answer is exactly what the
 * table says: 401 without a valid key, 403 outside the key's scopes, anything else (2xx or a 4xx that is neither 401
 * nor 403, never a 5xx) inside them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { startServer, ADMIN_KEY } from './helpers.ts';
import type { ModelfabServer } from '../../src/api/server.ts';
import { ROUTE_ACCESS, installAuthz, routeAccess, type Access } from '../../src/api/authz.ts';
import { installErrorHandlers } from '../../src/api/errors.ts';
import { KeyPolicy, MANAGE_AREAS, parseManage } from '../../src/serve/api-keys.ts';

let srv: ModelfabServer, url: string, stop: () => Promise<void>;

interface KeyKind { name: string; key: string | null; valid: boolean; admin?: boolean; endpoints?: string[]; manage?: string[]; knowledge?: boolean }
const kinds: KeyKind[] = [];

async function call(method: string, path: string, key: string | null, body?: unknown): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json: any = text;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json };
}

before(async () => {
  ({ srv, url, stop } = await startServer());
  const mk = async (body: Record<string, unknown>) => {
    const r = await call('POST', '/v1/keys', ADMIN_KEY, body);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as { key: string; id: string; scopes: Record<string, unknown> };
  };
  const plain = await mk({ name: 'plain' });
  const chat = await mk({ name: 'chat-only', models: ['spruce-assistant'], endpoints: ['chat.completions', 'models'] });
  const datasets = await mk({ name: 'datasets', manage: ['datasets'] });
  const every = await mk({ name: 'every-area', manage: [...MANAGE_AREAS] });
  const revoked = await mk({ name: 'revoked', manage: ['datasets'] });
  assert.equal((await call('DELETE', `/v1/keys/${revoked.id}`, ADMIN_KEY)).status, 200);
  kinds.push(
    { name: 'no key', key: null, valid: false },
    { name: 'unknown key', key: 'sk-mf-this-key-was-never-issued-0000000000', valid: false },
    { name: 'revoked key', key: revoked.key, valid: false },
    { name: 'admin', key: ADMIN_KEY, valid: true, admin: true },
    { name: 'plain user key', key: plain.key, valid: true },
    { name: 'chat-only key', key: chat.key, valid: true, endpoints: ['chat.completions', 'models'] },
    { name: 'datasets key', key: datasets.key, valid: true, manage: ['datasets'] },
    { name: 'every-area user key', key: every.key, valid: true, manage: [...MANAGE_AREAS] },
  );
});

after(async () => { await stop(); });

/** What the table says a key gets: 401, 403 or through (anything else). */
function expected(k: KeyKind, rules: readonly Access[]): 401 | 403 | 'through' {
  if (rules.includes('public')) return 'through';
  if (!k.valid) return 401;
  if (k.admin) return 'through';
  for (const r of rules) {
    if (r === 'admin') return 403;
    if (r.startsWith('inference:') && k.endpoints && !k.endpoints.includes(r.slice('inference:'.length))) return 403;
    if (r.startsWith('manage:') && !(k.manage ?? []).includes(r.slice('manage:'.length))) return 403;
  }
  return 'through';
}

/** A concrete URL for a route pattern (ids that do not exist; the model name the chat-only key may use). */
function concrete(pattern: string): string {
  return pattern.replace(/:name\b/g, 'spruce-assistant').replace(/:(id|item)\b/g, 'none').replace(/\*$/, 'spruce-assistant');
}

test('every registered route is in the authorization table, and every table entry is a route or a public path', () => {
  const registered = new Set((srv.app.authzRoutes ?? []).filter((r) => !r.startsWith('HEAD ')));
  assert.ok(registered.size > 100, `routes recorded: ${registered.size}`);
  const missing = [...registered].filter((r) => ROUTE_ACCESS[r] === undefined);
  assert.deepEqual(missing, [], 'routes without a rule');
  const stale = Object.entries(ROUTE_ACCESS).filter(([r, a]) => a !== 'public' && !registered.has(r)).map(([r]) => r);
  assert.deepEqual(stale, [], 'rules for routes that do not exist');
  // public paths are answered before authentication: none of them is a registered route needing a key
  for (const [r, a] of Object.entries(ROUTE_ACCESS)) if (a === 'public') assert.ok(!registered.has(r), `${r} is public but registered as a route`);
});

/**
 * The policy, stated by URL area independently of the table (so an entry edited by mistake fails here): what each
 * route needs, first match wins.
 */
const POLICY: Array<[RegExp, Access[]]> = [
  [/^(GET \/healthz|GET \/metrics|GET \/|GET \/console|GET \/console\/\*|GET \/v1\/bots\/:name\/widget\.js|OPTIONS \/v1\/.*)$/, ['public']],
  [/^POST \/v1\/(chat\/completions|copilot\/chat\/completions|bots\/:name\/chat\/completions|bots\/:name\/feedback)$/, ['inference:chat.completions']],
  [/^POST \/v1\/completions$/, ['inference:completions']],
  [/^POST \/v1\/images\/generations$/, ['inference:images.generations']],
  [/^POST \/v1\/writer\/documents\/:id\/images$/, ['inference:chat.completions', 'inference:images.generations']],
  [/^(PUT|DELETE) \/v1\/coach\/scenarios\/:id$/, ['manage:coach']],
  [/^\w+ \/v1\/(writer|coach)\//, ['inference:chat.completions']],
  [/^POST \/v1\/embeddings$/, ['inference:embeddings']],
  [/^GET \/v1\/models(\/\*)?$/, ['inference:models']],
  [/^(GET \/v1\/requests(\/:id)?|POST \/v1\/feedback|GET \/v1\/deployments\/:name\/(docs|openapi\.json))$/, ['key']],
  [/^(GET \/v1\/knowledge\/.*|POST \/v1\/knowledge\/(search|ask|attribute))$/, ['knowledge']],
  [/^\w+ \/v1\/knowledge\//, ['knowledge', 'manage:knowledge']],
  [/^\w+ \/v1\/files(\/|$)/, ['manage:files']],
  [/^\w+ \/v1\/datasets(\/|$)/, ['manage:datasets']],
  [/^\w+ \/v1\/fine_tuning\//, ['manage:fine_tuning']],
  [/^\w+ \/v1\/experiments(\/|$)/, ['manage:experiments']],
  [/^\w+ \/v1\/evals\//, ['manage:evals']],
  [/^POST \/v1\/bots\/:name\/experiments$/, ['manage:bots', 'manage:datasets', 'manage:experiments']],
  [/^\w+ \/v1\/bots(\/|$)/, ['manage:bots']],
  [/^POST \/v1\/feedback\/train$/, ['manage:feedback', 'manage:datasets', 'manage:fine_tuning']],
  [/^\w+ \/v1\/feedback(\/|$)/, ['manage:feedback']],
  [/^(POST \/v1\/models|\w+ \/v1\/(keys|usage|deployments|serve|routes|guard)(\/.*)?)$/, ['admin']],
];

test('the table holds the policy: each area behind its own scope, admin only for serving, keys and guard policies', () => {
  const off: string[] = [];
  for (const route of Object.keys(ROUTE_ACCESS)) {
    const want = POLICY.find(([re]) => re.test(route))?.[1];
    const have = routeAccess(route.split(' ')[0]!, route.split(' ')[1]!);
    if (JSON.stringify(have) !== JSON.stringify(want)) off.push(`${route}: table ${JSON.stringify(have)}, policy ${JSON.stringify(want)}`);
  }
  assert.deepEqual(off, []);
});

test('every route with every kind of key answers exactly as the table says', async () => {
  const routes = Object.keys(ROUTE_ACCESS);
  const wrong: string[] = [];
  for (const route of routes) {
    const [method, pattern] = route.split(' ') as [string, string];
    const rules = routeAccess(method, pattern)!;
    const path = concrete(pattern);
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? {} : undefined;
    for (const k of kinds) {
      const want = expected(k, rules);
      const r = await call(method, path, k.key, body);
      const ok = want === 'through' ? r.status !== 401 && r.status !== 403 && r.status < 500 : r.status === want;
      if (!ok) wrong.push(`${route} with ${k.name}: expected ${want}, got ${r.status} ${JSON.stringify(r.json).slice(0, 160)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('a chat-only key cannot see or start training, datasets or experiments (each a 403 naming the area)', async () => {
  const chat = kinds.find((k) => k.name === 'chat-only key')!.key;
  for (const [method, path, area] of [
    ['GET', '/v1/experiments', 'experiments'], ['GET', '/v1/datasets', 'datasets'], ['GET', '/v1/fine_tuning/jobs', 'fine_tuning'],
    ['POST', '/v1/fine_tuning/jobs', 'fine_tuning'], ['POST', '/v1/fine_tuning/jobs/ftjob-x/cancel', 'fine_tuning'], ['GET', '/v1/evals/runs', 'evals'],
    ['POST', '/v1/knowledge/bases', 'knowledge'], ['GET', '/v1/bots', 'bots'], ['GET', '/v1/feedback', 'feedback'], ['GET', '/v1/files', 'files'],
  ] as const) {
    const r = await call(method, path, chat, method === 'POST' ? { model: 'spruce-s', training_file: 'file-x', name: 'x' } : undefined);
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, 'manage_not_allowed');
    assert.match(r.json.error.message, new RegExp(`manage ${area}`));
  }
  // what it was given still works: the model list (filtered to its model)
  const models = await call('GET', '/v1/models', chat);
  assert.equal(models.status, 200);
  // the management area it holds works, one it does not hold is refused
  const ds = kinds.find((k) => k.name === 'datasets key')!.key;
  assert.equal((await call('GET', '/v1/datasets', ds)).status, 200);
  assert.equal((await call('GET', '/v1/experiments', ds)).status, 403);
  assert.equal((await call('POST', '/v1/models', ds, { path: '/etc/passwd' })).json.error.code, 'admin_required');
});

test('keys: manage is validated against the areas and shown by the listing', async () => {
  const bad = await call('POST', '/v1/keys', ADMIN_KEY, { name: 'typo', manage: ['datasets', 'finetuning'] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, 'manage');
  assert.match(bad.json.error.message, /unknown area "finetuning" \(known: files, datasets, fine_tuning, experiments, evals, knowledge, bots, feedback, coach\)/);
  assert.equal((await call('POST', '/v1/keys', ADMIN_KEY, { name: 'typo', manage: 'datasets' })).status, 400, 'a list, not a string, over HTTP');
  const ok = await call('POST', '/v1/keys', ADMIN_KEY, { name: 'trainer', manage: ['files', 'fine_tuning', 'files'] });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json.scopes.manage, ['files', 'fine_tuning']);
  const list = (await call('GET', '/v1/keys', ADMIN_KEY)).json.data as Array<{ name: string; role: string; scopes: { manage: string[] } }>;
  assert.deepEqual(list.find((k) => k.name === 'trainer')!.scopes.manage, ['files', 'fine_tuning']);
  assert.deepEqual(list.find((k) => k.name === 'plain')!.scopes.manage, []);
  assert.equal(list.find((k) => k.role === 'admin')!.scopes.manage.length, MANAGE_AREAS.length);
  assert.deepEqual(parseManage(['files', 'evals']), ['files', 'evals']);
  // an admin may issue another admin key (the CLI's keys create --admin); a user key may not issue any
  const second = await call('POST', '/v1/keys', ADMIN_KEY, { name: 'second admin', role: 'admin' });
  assert.equal(second.json.role, 'admin');
  assert.equal((await call('GET', '/v1/keys', second.json.key)).status, 200);
  assert.equal((await call('POST', '/v1/keys', ADMIN_KEY, { name: 'x', role: 'root' })).json.error.param, 'role');
  assert.equal((await call('POST', '/v1/keys', ok.json.key, { name: 'y', role: 'admin' })).status, 403);
  assert.throws(() => parseManage(['admin']), /unknown area "admin"/);
});

test('knowledge: an empty knowledge scope reads nothing; writes need the knowledge area', async () => {
  const none = (await call('POST', '/v1/keys', ADMIN_KEY, { name: 'no-kb', knowledge: [] })).json.key as string;
  assert.equal((await call('GET', '/v1/knowledge/bases', none)).json.error.code, 'knowledge_base_not_allowed');
  const writer = (await call('POST', '/v1/keys', ADMIN_KEY, { name: 'kb-writer', manage: ['knowledge'] })).json.key as string;
  const created = await call('POST', '/v1/knowledge/bases', writer, { name: 'handbook' });
  assert.equal(created.status, 200, JSON.stringify(created.json));
  const plain = kinds.find((k) => k.name === 'plain user key')!.key;
  assert.equal((await call('GET', `/v1/knowledge/bases/${created.json.id}`, plain)).status, 200, 'reads need no area');
  assert.equal((await call('POST', `/v1/knowledge/bases/${created.json.id}/documents`, plain, { filename: 'a.md', text: '# A\n\nplanted' })).status, 403);
  assert.equal((await call('POST', `/v1/knowledge/bases/${created.json.id}/items/review`, plain, { ids: ['x'], action: 'approve' })).status, 403);
  // a guard policy on a knowledge base is the admin's; a bot's knowledge base is the bots area's
  assert.equal((await call('PATCH', `/v1/knowledge/bases/${created.json.id}`, writer, { guard: null })).json.error.code, 'admin_required');
  assert.equal((await call('PATCH', `/v1/knowledge/bases/${created.json.id}`, writer, { description: 'the staff handbook' })).status, 200);
  const squat = await call('POST', '/v1/knowledge/bases', writer, { name: 'bot-insurance' });
  assert.equal(squat.status, 403);
  assert.equal(squat.json.error.code, 'manage_not_allowed');
});

test('feedback: a key without the feedback area rates only answers it was given, as itself', async () => {
  const plain = kinds.find((k) => k.name === 'plain user key')!;
  const forged = await call('POST', '/v1/feedback', plain.key, { prompt: 'q', answer: 'planted answer', rating: 5, annotator: 'admin' });
  assert.equal(forged.status, 400);
  assert.equal(forged.json.error.param, 'response_id');
  await srv.requestLog.recordResponse({ id: 'chatcmpl-other', keyId: 'key-someone-else', source: 'api', model: 'm', prompt: [{ role: 'user', content: 'q' }], answer: 'a', guard: [] });
  assert.equal((await call('POST', '/v1/feedback', plain.key, { response_id: 'chatcmpl-other', label: 'wrong' })).status, 404);
  const own = (await call('GET', '/v1/keys', ADMIN_KEY)).json.data.find((k: { name: string }) => k.name === 'plain').id as string;
  await srv.requestLog.recordResponse({ id: 'chatcmpl-mine', keyId: own, source: 'api', model: 'm', prompt: [{ role: 'user', content: 'q' }], answer: 'the logged answer', guard: [] });
  const fb = await call('POST', '/v1/feedback', plain.key, { response_id: 'chatcmpl-mine', label: 'wrong', annotator: 'admin', answer: 'planted answer' });
  assert.equal(fb.status, 200, JSON.stringify(fb.json));
  assert.equal(fb.json.annotator, 'key:plain');
  assert.equal(fb.json.answer, 'the logged answer');
});

test('a route missing from the table is refused to every key, admin included; unknown URLs need a key', async () => {
  const app = Fastify();
  installErrorHandlers(app);
  const policy = new KeyPolicy(srv.store);
  installAuthz(app, srv.store, policy);
  app.get('/v1/unlisted', async () => ({ reached: true }));
  await app.ready();
  const r = await app.inject({ method: 'GET', url: '/v1/unlisted', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(r.statusCode, 403);
  assert.equal(r.json().error.code, 'route_not_authorized');
  assert.equal((await app.inject({ method: 'GET', url: '/v1/unlisted' })).statusCode, 401);
  await app.close();
  await policy.close();
  assert.equal((await call('GET', '/v1/no-such-thing', null)).status, 401);
  assert.equal((await call('GET', '/v1/no-such-thing', ADMIN_KEY)).status, 404);
});
