/**
 * The browser extension end to end: Debian's Chromium loads the unpacked build (`--load-extension`, new headless
 * mode) next to a page served on localhost and a running modelfab server whose chat model is a scripted
 * OpenAI-compatible upstream (every answer known in advance). In the panel (opened in a tab for the page's tab):
 * configure the server and a key scoped to one model and one knowledge base; summarise the long page in steps (once
 * stopped, once to the end); ask a question whose answer cites a page passage (the citation scrolls to and
 * highlights it in the page) and the knowledge base; turn the page's table and its list of figures into a table and
 * a chart; translate. Screenshots of the panel in both languages go to a temp folder (printed). Skips, saying why,
 * when Chromium is not installed. [slow: builds the extension when its sources changed]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { chromium, type Page } from 'playwright-core';
import { createServer } from '../../src/api/server.ts';

/** The page's globals, as callbacks run inside the browser use them (the project's tsconfig has no DOM types). */
declare const document: { querySelector(s: string): { textContent: string | null; getBoundingClientRect(): { top: number; bottom: number } } | null; querySelectorAll(s: string): { length: number } };
declare const window: { innerHeight: number; scrollY: number };

const CHROMIUM = process.env.MODELFAB_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILT = join(ROOT, 'dist/extension');
const ADMIN = 'sk-mf-test-extension-admin-0123456789';
const skip = !existsSync(CHROMIUM) ? `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)` : false;

const FILLER = ['The company reviewed every market it serves during the year and kept its plans for the next one unchanged.', 'Teams in each region reported on customers, hiring and the work still open at the end of the period.', 'Most of the projects started last year were finished on time and within the budget set for them.'];
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Annual report 2026</title></head><body>
<h1>Annual report 2026</h1>
${Array.from({ length: 12 }, (_, i) => `<h2>Section ${i + 1}</h2><p>${FILLER.join(' ')} ${FILLER[i % 3]}</p>`).join('\n')}
<h2>Results</h2>
<p id="revenue">Revenue grew 12% in the third quarter, led by the northern region and by new customers of the service plans.</p>
${Array.from({ length: 10 }, () => `<p>${FILLER.join(' ')}</p>`).join('\n')}
<h2>Sales by region</h2>
<table><tr><th>Region</th><th>Q1</th><th>Q2</th></tr><tr><td>North</td><td>1,200</td><td>1,350</td></tr><tr><td>South</td><td>900</td><td>980</td></tr><tr><td>West</td><td>1,100</td><td>1,000</td></tr><tr><td>East</td><td>760</td><td>820</td></tr></table>
<h2>Visitors</h2>
<ul><li>Beijing: 3.2万</li><li>Shanghai: 2.8万</li><li>Shenzhen: 1.9万</li></ul>
</body></html>`;

/** The scripted model: a summary step, a final summary, a Copilot answer citing the sources it was given, a translation. */
function script(messages: Array<{ role: string; content: string }>): string {
  const sys = messages.find((m) => m.role === 'system')?.content ?? '';
  const user = messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
  const part = /part (\d+) of (\d+)/.exec(user);
  if (part) return `- Part ${part[1]}: the company reviewed its markets.`;
  if (/^The text of the page/.test(user)) return `Summary of the selection: ${/:\n\n([\s\S]{0,40})/.exec(user)?.[1] ?? ''}`;
  if (/Summaries of the parts/.test(user)) return `Summary: the report covers ${(user.match(/^Part \d+:/gm) ?? []).length} parts; revenue grew.`;
  if (/translator|专业翻译/.test(sys)) return '收入在第三季度增长了百分之十二。';
  if (/Copilot/.test(sys)) {
    const refs = sys.split('\n\n').flatMap((c) => { const m = /^\[(\d+)\] (.*)\n([\s\S]*)$/.exec(c); return m ? [{ ref: m[1], label: m[2]!, text: m[3]! }] : []; });
    const page = refs.find((r) => r.label.startsWith('page ') && r.text.includes('12%'));
    const kb = refs.find((r) => !r.label.startsWith('page '));
    return page ? `Revenue grew 12% in the third quarter [${page.ref}].${kb ? ` Refunds take 30 days [${kb.ref}].` : ''}` : 'The sources do not say.';
  }
  return 'I do not know.';
}

/** Builds the extension when a source is newer than the build (as `npm run build:extension`). */
function ensureBuilt(): void {
  const newest = (dir: string): number => Math.max(0, ...readdirSync(dir).map((n) => { const p = join(dir, n); return statSync(p).isDirectory() ? newest(p) : statSync(p).mtimeMs; }));
  const manifest = join(BUILT, 'manifest.json');
  if (existsSync(manifest) && statSync(manifest).mtimeMs >= newest(join(ROOT, 'extension'))) return;
  const b = spawnSync(process.execPath, ['extension/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(b.status, 0, `npm run build:extension failed:\n${b.stdout}${b.stderr}`);
}

const listen = async (s: http.Server) => { await new Promise<void>((r) => s.listen(0, '127.0.0.1', r)); return `http://127.0.0.1:${(s.address() as AddressInfo).port}`; };

test('[slow] browser extension: load, configure, summarise, cite into the page, table and chart, translate; screenshots in both languages', { skip, timeout: 120_000 }, async () => {
  const t0 = Date.now();
  const log = (m: string) => console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)}s ${m}`);
  ensureBuilt();
  assert.ok(existsSync(join(ROOT, 'dist/modelfab-extension.zip')), 'the build packs the zip');
  log('extension built');
  const calls: string[] = [];
  // the first summary's part 2 is held until the test has pressed Stop, so Stop lands in step 2 on any machine
  let releasePart2: (() => void) | null = null;
  const part2Held = new Promise<void>((r) => { releasePart2 = r; });
  let holdPart2 = true;
  const upstream = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const b = JSON.parse(raw) as { model: string; messages: Array<{ role: string; content: string }> };
      const text = script(b.messages);
      calls.push(text);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: unknown, finish: string | null) => res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: b.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
      const held = holdPart2 && /part 2 of/.test(b.messages.at(-1)?.content ?? '');
      void (held ? part2Held : Promise.resolve()).then(() => {
        if (res.destroyed) return;
        for (const piece of text.match(/[\s\S]{1,6}/g)!) chunk({ content: piece }, null);
        chunk({}, 'stop');
        res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: b.model, choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })}\n\n`);
        res.end('data: [DONE]\n\n');
      });
    });
  });
  const pages = http.createServer((req, res) => {
    if (req.url === '/report.html') { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(PAGE); return; }
    res.writeHead(404).end();
  });
  const pagesOther = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(PAGE); });
  const dir = mkdtempSync(join(tmpdir(), 'mf-ext-'));
  const shots = mkdtempSync(join(tmpdir(), 'mf-ext-shots-'));
  const srv = await createServer({ dataDir: join(dir, 'data'), adminKey: ADMIN, serve: { warm: false } });
  let ctx: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
  try {
    const upstreamUrl = await listen(upstream);
    const pagesUrl = await listen(pages);
    await new Promise<void>((r) => pagesOther.listen(Number(new URL(pagesUrl).port), '127.0.0.2', r));
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = (await r.json()) as any;
      assert.ok(r.ok, `${method} ${path}: ${JSON.stringify(json)}`);
      return json;
    };
    for (const name of ['scripted', 'other']) await api('POST', '/v1/serve/models', { name, kind: 'endpoint', endpoint: { url: `${upstreamUrl}/v1`, model: name } });
    const kb = await api('POST', '/v1/knowledge/bases', { name: 'Handbook' });
    await api('POST', `/v1/knowledge/bases/${kb.id}/documents`, { filename: 'refunds.md', text: '# Refunds\n\nRevenue questions aside, refunds for the service plans take 30 days after the request reaches support.\n' });
    const key = (await api('POST', '/v1/keys', { name: 'extension', models: ['scripted'], knowledge: [kb.id], endpoints: ['chat.completions', 'models'] })).key as string;
    log('server ready');

    const profile = join(dir, 'profile');
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: false, ignoreDefaultArgs: ['--disable-extensions'], locale: 'en-US', viewport: { width: 1200, height: 800 },
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', `--disable-extensions-except=${BUILT}`, `--load-extension=${BUILT}`],
    });
    const sw = ctx.serviceWorkers()[0] ?? await ctx.waitForEvent('serviceworker', { timeout: 15_000 });
    const extId = new URL(sw.url()).host;
    const errors: string[] = [];
    const report = ctx.pages()[0] ?? await ctx.newPage();
    await report.goto(`${pagesUrl}/report.html`);
    const tabId = await sw.evaluate(async (u) => (await (globalThis as any).chrome.tabs.query({ url: u }))[0].id as number, `${pagesUrl}/report.html`);
    const panel: Page = await ctx.newPage();
    panel.on('pageerror', (e) => errors.push(String(e)));
    panel.setDefaultTimeout(15_000);
    await panel.setViewportSize({ width: 420, height: 900 });
    await panel.goto(`chrome-extension://${extId}/panel.html?tab=${tabId}`);
    log(`extension ${extId} loaded`);

    // ------------------------------------------------------------ configure: a bad address first, then the server
    await panel.getByTestId('server').fill('ftp://nowhere');
    await panel.getByTestId('key').fill(key);
    await panel.getByTestId('save').click();
    assert.match(await panel.getByTestId('error').innerText(), /server address/);
    await panel.getByTestId('server').fill(url.replace('http://', ''));
    await panel.getByTestId('save').click();
    await panel.getByTestId('connected').waitFor().catch(async (e) => { throw new Error(`${(e as Error).message}\npanel: ${await panel.locator('#app').innerText()}`); });
    assert.match(await panel.getByTestId('connected').innerText(), /1 models/);
    assert.deepEqual(await panel.getByTestId('model').locator('option').allTextContents(), ['scripted'], 'only the models the key may use');
    assert.match(await panel.getByTestId('page-info').innerText(), /^\d+ passages, 2 tables or lists of figures$/);
    const stored = await sw.evaluate(() => (globalThis as any).chrome.storage.local.get(['server', 'key']));
    assert.deepEqual(stored, { server: url, key });
    log('configured');

    // ------------------------------------------------------------ summarise: stopped in step 2, then to the end
    await panel.getByTestId('summarise').click();
    await panel.locator('[data-testid="progress"][data-step="2"]').waitFor();
    const total = Number(await panel.getByTestId('progress').getAttribute('data-total'));
    assert.ok(total >= 3, `a long page takes several steps (${total})`);
    await panel.screenshot({ path: join(shots, 'summary-progress-en.png'), fullPage: true });
    await panel.getByTestId('stop').click();
    await panel.getByTestId('stopped').waitFor();
    holdPart2 = false;
    releasePart2!();
    assert.equal(await panel.getByTestId('summary').innerText(), '');
    await panel.getByTestId('summarise').click();
    await panel.getByTestId('summary').filter({ hasText: /^Summary: the report covers \d+ parts; revenue grew\.$/ }).waitFor();
    assert.match(await panel.getByTestId('summary').innerText(), new RegExp(`covers ${total - 1} parts`));
    assert.equal(await panel.locator('[data-testid^="part-"]').count(), total - 1);
    await panel.screenshot({ path: join(shots, 'summary-en.png'), fullPage: true });
    log(`summarised in ${total} steps`);

    // ------------------------------------------------------------ ask: a citation into the page, one into the knowledge base
    await panel.getByTestId('tab-ask').click();
    await panel.getByTestId('question').fill('How much did revenue grow in the third quarter?');
    await panel.getByTestId('ask').click();
    const pageCite = panel.locator('[data-testid^="cite-"][data-kind="page"]');
    await pageCite.first().waitFor();
    assert.match(await panel.getByTestId('answer').innerText(), /^Revenue grew 12% in the third quarter \d+\. Refunds take 30 days \d+\.$/);
    assert.equal(await panel.locator('[data-testid^="cite-"][data-kind="knowledge"]').count(), 1, 'the knowledge base the key reads is cited too');
    assert.match(await panel.getByTestId('sources').innerText(), /Knowledge base/);
    const passage = await pageCite.first().getAttribute('data-passage');
    assert.match(passage ?? '', /^p\d+$/);
    assert.equal(await report.evaluate(() => window.scrollY), 0);
    await pageCite.first().click();
    await report.waitForFunction(() => document.querySelectorAll('[data-mf-hl]').length > 0);
    const hl = await report.evaluate(() => {
      const el = document.querySelector('#revenue[data-mf-hl]');
      const r = el?.getBoundingClientRect();
      return { text: el?.textContent ?? null, inView: !!r && r.top >= 0 && r.bottom <= window.innerHeight, scrolled: window.scrollY };
    });
    assert.match(hl.text ?? '', /Revenue grew 12% in the third quarter/);
    assert.ok(hl.inView && hl.scrolled > 0, `the cited passage is scrolled into view: ${JSON.stringify(hl)}`);
    await report.screenshot({ path: join(shots, 'page-highlight.png') });
    await panel.screenshot({ path: join(shots, 'ask-en.png'), fullPage: true });
    log(`answered citing ${passage}, highlighted in the page`);

    // ------------------------------------------------------------ data: the table and the list of figures, each with a chart
    await panel.getByTestId('tab-data').click();
    await panel.locator('[data-testid="chart"] svg path').first().waitFor({ state: 'attached' });
    assert.equal(await panel.locator('[data-testid="data-table"] tbody tr').count(), 4);
    assert.deepEqual(await panel.locator('[data-testid="data-table"] th').allInnerTexts(), ['Region', 'Q1', 'Q2']);
    assert.equal(await panel.getByTestId('chart').getAttribute('data-series'), '2');
    assert.ok(await panel.locator('[data-testid="chart"] svg text', { hasText: 'North' }).count() >= 1, 'the categories are on the axis');
    await panel.screenshot({ path: join(shots, 'data-en.png'), fullPage: true });
    await panel.getByTestId('data-pick').selectOption('1');
    await panel.locator('[data-testid="chart"][data-series="1"][data-categories="3"] svg path').first().waitFor({ state: 'attached' });
    assert.deepEqual(await panel.locator('[data-testid="data-table"] tbody tr').first().locator('td').allInnerTexts(), ['Beijing', '3.2万']);
    log('table and chart');

    // ------------------------------------------------------------ the selected text: summarised, then translated
    await report.evaluate(() => (globalThis as any).getSelection().selectAllChildren((globalThis as any).document.getElementById('revenue')));
    await panel.getByTestId('reload').click();
    assert.equal(await panel.getByTestId('scope').inputValue(), 'selection');
    await panel.getByTestId('tab-summary').click();
    const before = calls.length;
    await panel.getByTestId('summarise').click();
    await panel.getByTestId('summary').filter({ hasText: /^Summary of the selection: Revenue grew 12% in the third quarter/ }).waitFor();
    assert.equal(calls.length - before, 1, 'a short selection is summarised in one call');
    await panel.getByTestId('tab-translate').click();
    await panel.getByTestId('translate').click();
    await panel.getByTestId('translation').filter({ hasText: '收入在第三季度增长了百分之十二。' }).waitFor();
    log('selection summarised and translated');

    // ------------------------------------------------------------ the panel in Chinese
    await panel.getByTestId('lang').selectOption('zh');
    await panel.waitForFunction(() => document.querySelector('html[lang="zh-CN"]') !== null);
    assert.match(await panel.getByTestId('tab-translate').innerText(), /翻译/);
    await panel.screenshot({ path: join(shots, 'translate-zh.png'), fullPage: true });
    await panel.getByTestId('tab-ask').click();
    assert.match(await panel.getByTestId('sources').innerText(), /网页/);
    await panel.screenshot({ path: join(shots, 'ask-zh.png'), fullPage: true });
    await panel.getByTestId('tab-data').click();
    await panel.locator('[data-testid="chart"] svg path').first().waitFor({ state: 'attached' });
    await panel.screenshot({ path: join(shots, 'data-zh.png'), fullPage: true });

    // ------------------------------------------------------------ a site the extension may not read: it says so and offers to ask
    const otherSite = `http://127.0.0.2:${new URL(pagesUrl).port}`;
    const foreign = await ctx.newPage();
    await foreign.goto(`${otherSite}/report.html`);
    const foreignTab = await sw.evaluate(async (u) => (await (globalThis as any).chrome.tabs.query({}))
      .find((x: { url?: string }) => x.url === u || x.url === undefined)?.id as number, `${otherSite}/report.html`);
    const panel2 = await ctx.newPage();
    await panel2.goto(`chrome-extension://${extId}/panel.html?tab=${foreignTab}`);
    await panel2.getByTestId('error').waitFor();
    // (the panel is in Chinese now: the language chosen above is kept; the page's address is hidden without the permission)
    assert.match(await panel2.getByTestId('error').innerText(), /^无法读取这个网页/);
    assert.equal(await panel2.getByTestId('allow').innerText(), '允许读取任何网站的网页');
    assert.deepEqual(errors, []);
    console.log(`# screenshots: ${shots}`);
    log('done');
  } finally {
    await ctx?.close();
    await srv.close();
    await new Promise((r) => upstream.close(r));
    await new Promise((r) => pages.close(r));
    await new Promise((r) => pagesOther.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
