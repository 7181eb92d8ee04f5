/**
 * Magic Writer through the API, with a scripted OpenAI-compatible model: templates and a filled form; a long
 * document written section by section from an outline, grounded in a knowledge base, streamed as progress events,
 * its citations pointing at the passages given (a citation of a passage not given is dropped), stored, logged in
 * the request log, exported as Markdown and DOCX (document.xml checked); pictures through /v1/images/generations
 * (the same keys and scopes as chat; a clear 404 without an images model), added to the document and embedded in
 * the DOCX; a key sees only its own documents and uses only its own models.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { startScripted, type Scripted, type ScriptedRequest } from '../api/scripted-upstream.ts';
import { zipEntries } from './zip-entries.ts';

const ADMIN = 'sk-mf-test-admin-key-writer-0123456789';
let dir: string, srv: ModelfabServer, url: string, up: Scripted;
let user: string, chatOnly: string;
// a 1x1 PNG
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/** The scripted writer: a section cites the first source it was given, and once a source it was not given ([99]). */
function chat(b: ScriptedRequest): string {
  const u = b.messages.filter((m) => m.role === 'user').at(-1)!.content;
  const section = /Now write section (\d+), "([^"]+)"/.exec(u);
  if (section) {
    const ref = /^\[(\d+)\] /m.exec(u.slice(u.indexOf('Sources:')))?.[1];
    return `The ${section[2]} part: goods come back within thirty days${ref ? ` [${ref}]` : ''}, as the handbook says [99].`;
  }
  if (u.includes('press release')) return 'Spruce opens a plant\n\nSuzhou, 1 May: Spruce Ltd announces a new plant.';
  return 'ok';
}

before(async () => {
  up = await startScripted({
    chat,
    images: (b) => (String(b.prompt).includes('forbidden') ? { status: 400, body: { error: { message: 'Your prompt was rejected by the safety system.', type: 'invalid_request_error', code: 'content_policy_violation', param: 'prompt' } } } : { status: 200, body: { created: 1700000000, data: [{ b64_json: PNG, revised_prompt: `a picture of ${String(b.prompt)}` }] } }),
  });
  dir = mkdtempSync(join(tmpdir(), 'mf-writer-'));
  srv = await createServer({ dataDir: dir, adminKey: ADMIN, serve: { warm: false } });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  for (const name of ['writer-model', 'painter', 'other']) assert.equal((await api('POST', '/v1/serve/models', { name, kind: 'endpoint', endpoint: { url: up.url, model: name } })).status, 200);
  assert.equal((await api('POST', '/v1/knowledge/bases', { id: 'handbook', name: 'Store handbook' })).status, 200);
  const text = '# Store handbook\n\n## Returns\n\nCustomers may return unused goods within thirty days of purchase with the receipt. Refunds go back to the original payment method within five working days.\n\n## Warranty\n\nEvery chair carries a two-year warranty against defects in materials and workmanship.\n';
  assert.equal((await api('POST', '/v1/knowledge/bases/handbook/documents', { filename: 'handbook.md', text })).status, 200);
  user = (await api('POST', '/v1/keys', { name: 'writer user', models: ['writer-model', 'painter'] })).json.key;
  chatOnly = (await api('POST', '/v1/keys', { name: 'chat only', endpoints: ['chat.completions'] })).json.key;
});

after(async () => {
  await srv.close();
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

async function api(method: string, path: string, body?: unknown, key = ADMIN): Promise<{ status: number; json: any; res: Response }> {
  const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const type = res.headers.get('content-type') ?? '';
  const json = type.includes('json') ? await res.json() : null;
  return { status: res.status, json, res };
}

test('templates and a filled form: required fields named, the text from the model, the request log has it', async () => {
  const t = await api('GET', '/v1/writer/templates', undefined, user);
  assert.equal(t.status, 200);
  assert.equal(t.json.data.length, 5);
  assert.deepEqual(t.json.image_models.sort(), ['painter', 'writer-model'], 'endpoint models the key may use');
  const bad = await api('POST', '/v1/writer/compose', { template: 'press-release', model: 'writer-model', fields: { organisation: 'Spruce' } }, user);
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.error.problems.map((p: { path: string }) => p.path), ['fields.news', 'fields.date_place']);
  const ok = await api('POST', '/v1/writer/compose', { template: 'press-release', model: 'writer-model', fields: { organisation: 'Spruce Ltd', news: 'a new plant', date_place: 'Suzhou, 1 May' }, style: { audience: 'trade press' } }, user);
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.match(ok.json.text, /^Spruce opens a plant/);
  assert.equal(ok.json.style.tone, 'formal');
  const sent = up.seen.at(-1)!.body.messages;
  assert.match(sent[0]!.content, /Audience: trade press/);
  assert.equal((await api('POST', '/v1/writer/compose', { template: 'press-release', model: 'other', fields: {} }, user)).status, 403, 'a model outside the key');
  const log = await api('GET', '/v1/requests?source=writer', undefined, user);
  assert.ok(log.json.data.some((r: { answer: string }) => r.answer.startsWith('Spruce opens a plant')));
});

test('a long document: streamed section by section, grounded with citations, stored, exported as Markdown and DOCX', async () => {
  const res = await fetch(`${url}/v1/writer/documents`, {
    method: 'POST', headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Returns and warranty', outline: '1. Returns\n2. Warranty', model: 'writer-model', knowledge: 'handbook', stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /text\/event-stream/);
  const events: Array<{ event: string; data: any }> = [];
  for (const block of (await res.text()).split('\n\n')) {
    const ev = /^event: (.+)$/m.exec(block)?.[1], data = /^data: (.+)$/m.exec(block)?.[1];
    if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
  }
  const kinds = events.map((e) => e.event).filter((e, i, a) => e !== 'section.delta' || a[i - 1] !== 'section.delta');
  assert.deepEqual(kinds, ['document.created', 'section.started', 'section.delta', 'section.done', 'section.started', 'section.delta', 'section.done', 'document.done']);
  const started = events.find((e) => e.event === 'section.started')!.data;
  assert.ok(started.sources.length >= 1, 'passages retrieved for the section');
  const doc = events.at(-1)!.data.document;
  assert.equal(doc.status, 'completed');
  assert.equal(doc.sections[0].text, `The Returns part: goods come back within thirty days [${started.sources[0]}], as the handbook says.`, 'the [99] it was not given is dropped');
  assert.deepEqual(doc.sections[0].cited, [started.sources[0]]);
  const cited = doc.sources.find((s: { ref: number }) => s.ref === started.sources[0]);
  assert.equal(cited.kb, 'handbook');
  assert.match(cited.text, /thirty days|warranty/);
  assert.ok(doc.usage.completion_tokens >= 20);

  const stored = await api('GET', `/v1/writer/documents/${doc.id}`, undefined, user);
  assert.deepEqual(stored.json.sections, doc.sections);
  assert.deepEqual((await api('GET', '/v1/writer/documents', undefined, user)).json.data.map((d: { id: string }) => d.id), [doc.id]);

  const md = await fetch(`${url}/v1/writer/documents/${doc.id}/export?format=markdown`, { headers: { authorization: `Bearer ${user}` } });
  assert.match(md.headers.get('content-disposition')!, /filename\*=UTF-8''Returns-and-warranty\.md/);
  const text = await md.text();
  assert.match(text, /^# Returns and warranty\n\n## Returns\n\nThe Returns part/);
  assert.match(text, new RegExp(`## Sources\\n\\n\\[${started.sources[0]}\\] Store handbook`));

  // a picture through the images endpoint, kept with the document and embedded in the DOCX
  const pic = await api('POST', `/v1/writer/documents/${doc.id}/images`, { model: 'painter', prompt: 'a chair in a bright office' }, user);
  assert.equal(pic.status, 200, JSON.stringify(pic.json));
  assert.equal(pic.json.images[0].b64_json, PNG);
  const docx = await fetch(`${url}/v1/writer/documents/${doc.id}/export?format=docx`, { headers: { authorization: `Bearer ${user}` } });
  assert.equal(docx.headers.get('content-type'), 'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
  const entries = zipEntries(Buffer.from(await docx.arrayBuffer()));
  const xml = entries.get('word/document.xml')!.toString('utf8');
  assert.ok(xml.includes('Returns and warranty') && xml.includes('The Warranty part') && xml.includes(`[${started.sources[0]}]`), xml.slice(0, 400));
  assert.ok(xml.includes('a chair in a bright office'));
  assert.ok([...entries.keys()].some((k) => /^word\/media\/.+\.png$/.test(k)), 'the picture is in the archive');
  assert.equal((await api('GET', `/v1/writer/documents/${doc.id}/export?format=pdf`, undefined, user)).json.error.param, 'format');

  // another key sees none of it; a knowledge base the key cannot read is refused before any model runs
  const other = (await api('POST', '/v1/keys', { name: 'no kb', knowledge: [] })).json.key;
  assert.equal((await api('GET', `/v1/writer/documents/${doc.id}`, undefined, other)).status, 404);
  const calls = up.seen.length;
  const kb = await api('POST', '/v1/writer/documents', { title: 'T', outline: ['A'], model: 'writer-model', knowledge: 'handbook' }, other);
  assert.equal(kb.status, 404);
  assert.equal(kb.json.error.param, 'knowledge');
  assert.equal(up.seen.length, calls);
});

test('/v1/images/generations passes through the gateway: scopes, upstream errors, a clear 404 without an images model', async () => {
  const ok = await api('POST', '/v1/images/generations', { model: 'painter', prompt: 'a spruce tree', size: '256x256', extra: 'dropped' }, user);
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json.data, [{ b64_json: PNG, revised_prompt: 'a picture of a spruce tree' }]);
  const sent = up.seen.filter((s) => s.path.endsWith('/images/generations')).at(-1)!.body;
  assert.deepEqual(Object.keys(sent).sort(), ['model', 'prompt', 'size'], 'only documented fields travel');
  assert.equal((await api('POST', '/v1/images/generations', { model: 'painter', prompt: 'x' }, chatOnly)).json.error.code, 'endpoint_not_allowed');
  assert.equal((await api('POST', '/v1/images/generations', { model: 'other', prompt: 'x' }, user)).status, 403);
  const missing = await api('POST', '/v1/images/generations', { model: 'dall-e-3', prompt: 'x' });
  assert.equal(missing.status, 404);
  assert.match(missing.json.error.message, /dall-e-3/);
  const refused = await api('POST', '/v1/images/generations', { model: 'painter', prompt: 'something forbidden' }, user);
  assert.equal(refused.status, 400);
  assert.match(refused.json.error.message, /rejected by the safety system/);
  assert.equal((await api('POST', '/v1/images/generations', { model: 'painter' }, user)).json.error.param, 'prompt');
  const log = await api('GET', '/v1/requests?source=images', undefined, user);
  assert.equal(log.json.data.length, 3, 'each call that reached the images model is logged');
});
