/**
 * Emoti Coach through the API, with scripted persona and judge models (an OpenAI-compatible test server): an
 * organisation's scenario uploaded and validated with field errors; a session where the persona answers in
 * character and the judge scores each message with quotes, grounded in the scenario's knowledge base; a malformed
 * judgement retried once, twice malformed an error naming the field that leaves the session as it was; the
 * session's judgement and score; progress across sessions; a key sees only its own sessions and models.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { startScripted, type Scripted, type ScriptedRequest } from '../api/scripted-upstream.ts';

const ADMIN = 'sk-mf-test-admin-key-coach-0123456789';
let dir: string, srv: ModelfabServer, url: string, up: Scripted;
let trainee: string, trainer: string;
const CRITERIA = ['empathy', 'accuracy', 'policy', 'resolution'];
/** How often the judge has seen each trainee message (the malformed-once message is fine the second time). */
const judged = new Map<string, number>();

/** The scripted judge scores empathy by whether the trainee apologised, and quotes the message's first words. */
function chat(b: ScriptedRequest): string {
  const sys = b.messages[0]!.content;
  const user = b.messages.find((m) => m.role === 'user' && m.content.includes('Rubric'))?.content ?? '';
  if (b.model === 'persona') return sys.includes('Stay in character') ? `(${/You are playing ([^,]+),/.exec(sys)![1]}) Fine. What now?` : 'out of character';
  const scores = (text: string) => CRITERIA.map((c) => ({ criterion: c, score: c === 'empathy' ? (/sorry/i.test(text) ? 5 : 2) : 3, quote: c === 'empathy' ? text.split(' ').slice(0, 3).join(' ') : '', comment: `${c} noted` }));
  if (sys.includes("Score only the trainee's last message")) {
    const msg = /The trainee's message to score: (.*)$/m.exec(user)![1]!;
    const n = (judged.get(msg) ?? 0) + 1;
    judged.set(msg, n);
    if (msg.includes('always broken') || (msg.includes('broken once') && n === 1)) return JSON.stringify({ scores: scores(msg).map((s, i) => (i === 3 ? { ...s, score: 9 } : s)), tip: 'x' });
    const grounded = user.includes('[1] ') ? ' (checked against the policy)' : '';
    return JSON.stringify({ scores: scores(msg), tip: `Say what happens next${grounded}.` });
  }
  const said = [...user.matchAll(/^Trainee: (.*)$/gm)].map((m) => m[1]!);
  const all = said.join(' ');
  return `\`\`\`json\n${JSON.stringify({ scores: scores(all), goals: [1, 2, 3].map((g) => ({ goal: g, met: g === 1 && /sorry/i.test(all), quote: g === 1 ? said[0]!.split(' ').slice(0, 3).join(' ') : '' })), summary: 'A fair start.' })}\n\`\`\``;
}

before(async () => {
  up = await startScripted({ chat });
  dir = mkdtempSync(join(tmpdir(), 'mf-coach-'));
  srv = await createServer({ dataDir: dir, adminKey: ADMIN, serve: { warm: false } });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  for (const name of ['persona', 'judge', 'other']) assert.equal((await api('POST', '/v1/serve/models', { name, kind: 'endpoint', endpoint: { url: up.url, model: name } })).status, 200);
  assert.equal((await api('POST', '/v1/knowledge/bases', { id: 'claims-policy', name: 'Claims policy' })).status, 200);
  assert.equal((await api('POST', '/v1/knowledge/bases/claims-policy/documents', { filename: 'policy.md', text: '# Claims policy\n\n## Refunds\n\nA refund of at most 15% of the order may be offered for a late delivery, or free express shipping, not both.\n' })).status, 200);
  trainee = (await api('POST', '/v1/keys', { name: 'trainee', models: ['persona', 'judge'] })).json.key;
  trainer = (await api('POST', '/v1/keys', { name: 'trainer', manage: ['coach'] })).json.key;
});

after(async () => {
  await srv.close();
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

async function api(method: string, path: string, body?: unknown, key = ADMIN): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

test("the organisation's scenarios are data: uploaded, validated with field errors, listed beside the shipped ones", async () => {
  const shipped = (await api('GET', '/v1/coach/scenarios/upset-customer', undefined, trainee)).json;
  const { object: _o, source: _s, ...mine } = { ...shipped, id: 'late-delivery', title: 'Late delivery, policy-checked', knowledge: 'claims-policy' };
  assert.equal((await api('PUT', '/v1/coach/scenarios/late-delivery', mine, trainee)).json.error.code, 'manage_not_allowed');
  const bad = await api('PUT', '/v1/coach/scenarios/late-delivery', { ...mine, rubric: [{ id: 'Empathy', name: '', description: 'x' }], goals: 'be nice' }, trainer);
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.error.problems.map((p: { path: string }) => p.path), ['goals', 'rubric[0].id', 'rubric[0].name']);
  assert.equal((await api('PUT', '/v1/coach/scenarios/upset-customer', { ...mine, id: 'upset-customer' }, trainer)).status, 409, 'a shipped id is taken');
  const ok = await api('PUT', '/v1/coach/scenarios/late-delivery', mine, trainer);
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.source, 'organisation');
  const list = (await api('GET', '/v1/coach/scenarios', undefined, trainee)).json.data as Array<{ id: string; source: string }>;
  assert.deepEqual(list.map((s) => `${s.id}:${s.source}`), ['refused-claim:builtin', 'sales-objection:builtin', 'upset-customer:builtin', 'late-delivery:organisation']);
});

test('a session: the persona answers, the judge scores each message with quotes; malformed once is retried; a report of progress', async () => {
  const start = await api('POST', '/v1/coach/sessions', { scenario: 'late-delivery', model: 'persona', judge_model: 'judge' }, trainee);
  assert.equal(start.status, 200, JSON.stringify(start.json));
  const id = start.json.id;
  assert.deepEqual(start.json.turns, [{ role: 'persona', content: start.json.scenario.persona.opening }]);

  const t1 = await api('POST', `/v1/coach/sessions/${id}/messages`, { content: 'Well, a refund for a late delivery is possible.' }, trainee);
  assert.equal(t1.status, 200, JSON.stringify(t1.json));
  assert.equal(t1.json.reply, '(Dana Wright) Fine. What now?');
  assert.deepEqual(t1.json.judgement.scores[0], { criterion: 'empathy', score: 2, quote: 'Well, a refund', comment: 'empathy noted' });
  assert.equal(t1.json.judgement.tip, 'Say what happens next (checked against the policy).', 'the judge saw the knowledge base');
  const persona = up.seen.find((s) => s.body.model === 'persona')!.body;
  assert.match(persona.messages[0]!.content, /You are playing Dana Wright/);
  assert.deepEqual(persona.messages.slice(1).map((m) => m.role), ['assistant', 'user'], 'the persona speaks as the assistant');

  const before = up.seen.filter((s) => s.body.model === 'judge').length;
  const t2 = await api('POST', `/v1/coach/sessions/${id}/messages`, { content: "I'm so sorry, broken once by us." }, trainee);
  assert.equal(t2.status, 200, JSON.stringify(t2.json));
  assert.equal(t2.json.judgement.scores[0].score, 5);
  const calls = up.seen.filter((s) => s.body.model === 'judge').slice(before);
  assert.equal(calls.length, 2, 'the malformed judgement was sent back once');
  assert.match(calls[1]!.body.messages.at(-1)!.content, /Your answer is invalid: scores\[3\]\.score: must be an integer from 1 to 5/);

  const broken = await api('POST', `/v1/coach/sessions/${id}/messages`, { content: 'This is always broken.' }, trainee);
  assert.equal(broken.status, 502);
  assert.equal(broken.json.error.code, 'judgement_malformed');
  assert.equal(broken.json.error.param, 'scores[3].score');
  assert.equal((await api('GET', `/v1/coach/sessions/${id}`, undefined, trainee)).json.turns.length, 5, 'the failed message left no turn');

  const done = await api('POST', `/v1/coach/sessions/${id}/finish`, {}, trainee);
  assert.equal(done.status, 200, JSON.stringify(done.json));
  assert.equal(done.json.status, 'finished');
  assert.deepEqual(done.json.judgement.goals.map((g: { met: boolean }) => g.met), [true, false, false]);
  assert.equal(done.json.score, 62.5);
  assert.equal((await api('POST', `/v1/coach/sessions/${id}/messages`, { content: 'more' }, trainee)).status, 409);

  // a second session, better from the start: the report shows the progress
  const s2 = (await api('POST', '/v1/coach/sessions', { scenario: 'upset-customer', model: 'persona', judge_model: 'judge' }, trainee)).json.id;
  assert.equal((await api('POST', `/v1/coach/sessions/${s2}/messages`, { content: 'I am sorry, let me fix this today.' }, trainee)).status, 200);
  assert.equal((await api('POST', `/v1/coach/sessions/${s2}/finish`, {}, trainee)).status, 200);
  const report = (await api('GET', '/v1/coach/report', undefined, trainee)).json;
  assert.deepEqual(report.sessions.map((x: { id: string }) => x.id), [id, s2]);
  assert.deepEqual(report.criteria.find((c: { id: string }) => c.id === 'empathy'), { id: 'empathy', name: 'Empathy', sessions: 2, first: 5, last: 5, best: 5, mean: 5 });
  assert.ok(report.sessions.every((x: { score: number }) => x.score > 0));
  assert.equal((await api('GET', '/v1/requests?source=coach', undefined, trainee)).json.data.length >= 6, true, 'persona and judge answers are in the request log');

  // another key sees none of it and cannot use models outside its scope
  const other = (await api('POST', '/v1/keys', { name: 'other trainee', models: ['other'] })).json.key;
  assert.equal((await api('GET', `/v1/coach/sessions/${id}`, undefined, other)).status, 404);
  assert.deepEqual((await api('GET', '/v1/coach/report', undefined, other)).json.sessions, []);
  assert.equal((await api('POST', '/v1/coach/sessions', { scenario: 'upset-customer', model: 'persona' }, other)).status, 403);
  const noKb = (await api('POST', '/v1/keys', { name: 'no kb', knowledge: [] })).json.key;
  assert.equal((await api('POST', '/v1/coach/sessions', { scenario: 'late-delivery', model: 'persona' }, noKb)).json.error.param, 'scenario.knowledge');
});
