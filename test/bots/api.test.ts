// The Bot Factory over HTTP: build from the Insurance Law, test, approve, publish, a bot key; the published bot's
// OpenAI-compatible chat endpoint with the official `openai` client (citations in the documented `citations`
// field), 401/403/404; the public widget script and CORS preflight; and the widget in headless Chromium (type a
// question, see the answer with its citation, mark it helpful) — skipped with a reason when /usr/bin/chromium is not installed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import http from 'node:http';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { INSURANCE, INSURANCE_PATH } from './fixtures.ts';
import { needsShared } from '../shared-data.ts';

const ADMIN = 'sk-mf-test-admin-key-bots-0123456789';
// every test here works on the bot built from the Insurance Law by the first
const law = needsShared(INSURANCE);
let dir: string, srv: ModelfabServer, url: string, botKey: string;

async function api(method: string, path: string, body?: unknown, key: string | null = ADMIN): Promise<{ status: number; json: any; headers: Headers; text: string }> {
  const r = await fetch(url + path, { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: r.status, json, headers: r.headers, text };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mf-bots-api-'));
  srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false } });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

test('build, test, approve, publish and chat through the API', law, async () => {
  const b = await api('POST', '/v1/bots/build', { name: 'insurance', filename: 'insurance-law-zh.md', text: readFileSync(INSURANCE_PATH, 'utf8'), lexicon_name: 'insurance-zh', approve_all: true });
  assert.equal(b.status, 200, b.text);
  assert.equal(b.json.version.version, 1);
  assert.equal((await api('GET', '/v1/bots/insurance/pairs?state=approved')).json.data.length, b.json.pairs);
  // not published yet: the chat endpoint does not know it, and publishing is refused
  assert.equal((await api('POST', '/v1/bots/insurance/chat/completions', { messages: [{ role: 'user', content: '退保' }] })).status, 404);
  const refused = await api('POST', '/v1/bots/insurance/publish', { version: 1 });
  assert.equal(refused.status, 409);
  assert.equal(refused.json.error.code, 'not_approved');
  const rep = await api('POST', '/v1/bots/insurance/tests', { limit: 40 });
  assert.equal(rep.status, 200, rep.text);
  assert.equal(rep.json.questions, 40);
  assert.equal((await api('POST', `/v1/bots/insurance/tests/${rep.json.id}/approve`, { by: 'reviewer-1' })).json.approval.by, 'reviewer-1');
  assert.equal((await api('POST', '/v1/bots/insurance/publish', { version: 1 })).json.published.version, 1);
  const k = await api('POST', '/v1/bots/insurance/keys', {});
  assert.equal(k.status, 200, k.text);
  botKey = k.json.key;
  assert.deepEqual(k.json.scopes.models, ['insurance']);

  const client = new OpenAI({ baseURL: `${url}/v1/bots/insurance`, apiKey: botKey, maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'insurance', messages: [{ role: 'user', content: '买寿险一年后被保险人自杀了，保险公司赔不赔' }] });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'insurance');
  const cites = (r as unknown as { citations: { article: number; document: string; passage: string; chunkId: string }[] }).citations;
  assert.equal(cites[0]!.article, 44);
  assert.equal(cites[0]!.document, '中华人民共和国保险法');
  assert.match(cites[0]!.passage, /二年内/);
  assert.ok(cites[0]!.chunkId);
  assert.match(r.choices[0]!.message.content!, /第四十四条/);
  // streaming: the citations come with the last chunk
  const s = await client.chat.completions.create({ model: 'insurance', stream: true, messages: [{ role: 'user', content: '车险出险两年多了才去索赔还来得及吗' }] });
  let text = '';
  let last: any = null;
  for await (const c of s) { text += c.choices[0]?.delta?.content ?? ''; last = c; }
  assert.match(text, /第二十六条/);
  assert.equal(last.citations[0].article, 26);
  // keys: none 401, a key for another model 403
  assert.equal((await api('POST', '/v1/bots/insurance/chat/completions', { messages: [{ role: 'user', content: '退保' }] }, null)).status, 401);
  const other = await api('POST', '/v1/keys', { name: 'other', models: ['some-other-model'] });
  assert.equal(other.status, 200, other.text);
  const otherChat = await api('POST', '/v1/bots/insurance/chat/completions', { messages: [{ role: 'user', content: '退保' }] }, other.json.key);
  assert.equal(otherChat.status, 403, otherChat.text);
  assert.equal(otherChat.json.error.code, 'model_not_allowed');
  // the bot key (public: it sits in the page) may chat but not administer, read knowledge bases or other models
  assert.deepEqual(k.json.scopes.endpoints, ['chat.completions']);
  assert.deepEqual(k.json.scopes.knowledge, []);
  assert.deepEqual(k.json.scopes.manage, []);
  assert.equal((await api('GET', '/v1/bots', undefined, botKey)).status, 403);
  assert.equal((await api('GET', '/v1/bots/insurance/pairs', undefined, botKey)).status, 403);
  assert.equal((await api('POST', '/v1/knowledge/search', { kbs: ['bot-insurance'], query: '退保' }, botKey)).status, 403);
  assert.equal((await api('GET', '/v1/knowledge/bases', undefined, botKey)).status, 403);
  assert.equal((await api('GET', '/v1/models', undefined, botKey)).status, 403);
  // a key that manages bots runs the Bot Factory (not its guard policies or model extraction, which are the admin's)
  const builder = await api('POST', '/v1/keys', { name: 'bot builder', manage: ['bots'] });
  assert.equal((await api('GET', '/v1/bots', undefined, builder.json.key)).status, 200);
  const rev = await api('GET', '/v1/bots/insurance/pairs?state=approved', undefined, builder.json.key);
  assert.equal(rev.status, 200);
  const edited = await api('POST', '/v1/bots/insurance/pairs/review', { ids: [rev.json.data[0].id], action: 'reject', note: 'check' }, builder.json.key);
  assert.equal(edited.status, 200, edited.text);
  const hist = await api('GET', `/v1/bots/insurance/pairs/${rev.json.data[0].id}/history`, undefined, builder.json.key);
  assert.match(JSON.stringify(hist.json.data.at(-1)), /key:bot builder/, 'the history names the key, not a name from the body');
  await api('POST', '/v1/bots/insurance/pairs/review', { ids: [rev.json.data[0].id], action: 'approve' }, builder.json.key);
  assert.equal((await api('PATCH', '/v1/bots/insurance', { config: { guard: null } }, builder.json.key)).json?.error.code, 'admin_required');
  assert.equal((await api('POST', '/v1/bots/insurance/extract', { method: 'model', model: { base_url: 'http://127.0.0.1:9/v1', model: 'x', api_key_env: 'MODELFAB_ADMIN_KEY' } }, builder.json.key)).json?.error.code, 'admin_required');
  assert.equal((await api('POST', '/v1/bots/insurance/experiments', { base_models: ['x'] }, builder.json.key)).status, 403, 'experiments need the datasets and experiments areas too');
  assert.equal((await api('POST', '/v1/bots/insurance/chat/completions', { messages: [] }, botKey)).status, 400);
});

test('widget script is public, CORS preflight answered, unknown bots 404', law, async () => {
  const w = await api('GET', '/v1/bots/insurance/widget.js', undefined, null);
  assert.equal(w.status, 200);
  assert.match(w.headers.get('content-type')!, /javascript/);
  assert.match(w.text, /data-key/);
  assert.equal((await api('GET', '/v1/bots/nobody/widget.js', undefined, null)).status, 404);
  const pre = await fetch(`${url}/v1/bots/insurance/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
});

const CHROMIUM = '/usr/bin/chromium';
test('widget in headless Chromium: type a question, see the answer with its citation', { skip: law.skip ?? (existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`), timeout: 120_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'mf-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await ctx.newPage();
    // a third-party page (another origin) embedding the widget with one script tag
    const html = `<!doctype html><html><head><meta charset="utf-8"></head><body><h1>保险咨询</h1><script src="${url}/v1/bots/insurance/widget.js" data-key="${botKey}" data-title="保险法助手"></script></body></html>`;
    // served from another origin (another port) so the widget's calls are cross-origin, as on a customer's site
    const host = http.createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(html); });
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    const hostUrl = `http://127.0.0.1:${(host.address() as { port: number }).port}/`;
    ctx.on('close', () => host.close());
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    page.on('requestfailed', (r) => logs.push(`failed ${r.url()} ${r.failure()?.errorText}`));
    await page.goto(hostUrl);
    await page.locator('.mf-launch').waitFor({ timeout: 15_000 }).catch(() => { throw new Error(`the widget did not render: ${logs.join(' / ')}`); });
    await page.locator('.mf-launch').click();
    await page.locator('.mf-input').fill('受益人有好几个，没写份额怎么分');
    await page.locator('.mf-input').press('Enter');
    const cites = page.locator('[data-role=citations]');
    await cites.first().waitFor({ timeout: 30_000 }).catch(async () => { throw new Error(`no citations shown: ${await page.evaluate(() => (globalThis as any).document.querySelector('[data-modelfab-bot]')?.shadowRoot?.querySelector('.mf-log')?.innerHTML)} / ${logs.join(' / ')}`); });
    const answer = await page.locator('.mf-bot').first().innerText();
    assert.match(answer, /第四十条/);
    assert.equal(await page.locator('.mf-cite').first().getAttribute('data-article'), '40');
    assert.match(await cites.first().innerText(), /中华人民共和国保险法 第四十条/);
    // 有帮助: the mark goes to the feedback queue by the answer's response id (a cross-origin call, like the chat)
    await page.locator('[data-role=feedback] button[data-label=right]').click();
    await page.getByText('谢谢您的反馈').waitFor({ timeout: 10_000 });
    const queue = await api('GET', '/v1/feedback?status=pending&order=desc');
    const fb = queue.json.data.find((f: any) => f.model === 'insurance' && f.source === 'bot');
    assert.ok(fb, JSON.stringify(queue.json));
    assert.equal(fb.label, 'right');
    assert.match(fb.answer, /第四十条/);
    assert.deepEqual(fb.prompt.at(-1), { role: 'user', content: '受益人有好几个，没写份额怎么分' });
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
