/**
 * The console's two apps in headless Chromium (Debian's /usr/bin/chromium through playwright-core) against an
 * in-process server and a scripted OpenAI-compatible model: Magic Writer writes a document from an outline grounded
 * in a knowledge base (sections and citations appear, the DOCX download opens with the text in document.xml, a
 * picture without an images model shows the server's error); Emoti Coach runs a session scored by a scripted judge
 * and shows the judgement and the progress report. Screenshots of both pages in both languages go to
 * test/web/artifacts-apps/. Builds the console first when dist/web lacks these pages; skips, saying why, without Chromium.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import { startScripted, type Scripted, type ScriptedRequest } from '../api/scripted-upstream.ts';
import { zipEntries } from '../writer/zip-entries.ts';

declare const document: { documentElement: { lang: string } };

const CHROMIUM = process.env.MODELFAB_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('./artifacts-apps/', import.meta.url));
const KEY = 'sk-mf-test-apps-console-key-0123456789';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const skip = !existsSync(CHROMIUM) ? `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)` : false;

/** Whether dist/web holds a build with these pages (an older build is rebuilt, as console.test.ts builds a missing one). */
function builtWithApps(): boolean {
  const assets = join(ROOT, 'dist/web/assets');
  return existsSync(assets) && readdirSync(assets).some((f) => f.endsWith('.js') && readFileSync(join(assets, f), 'utf8').includes('writer-doc-title'));
}

/** The scripted models: a writer that cites the first source it is given, a persona, and a judge that answers JSON. */
function chat(b: ScriptedRequest): string {
  const sys = b.messages[0]!.content;
  const u = b.messages.filter((m) => m.role === 'user').at(-1)!.content;
  const section = /Now write section (\d+), "([^"]+)"/.exec(u);
  if (section) return `${section[2]}: unused goods come back within thirty days${/^\[(\d+)\] /m.exec(u) ? ` [${/^\[(\d+)\] /m.exec(u)![1]}]` : ''}.`;
  if (sys.includes('Stay in character')) return 'Fine. When exactly will the chairs come?';
  const criteria = ['empathy', 'accuracy', 'policy', 'resolution'];
  if (sys.includes("Score only the trainee's last message")) {
    const msg = /The trainee's message to score: (.*)$/m.exec(u)![1]!;
    return JSON.stringify({ scores: criteria.map((c) => ({ criterion: c, score: c === 'empathy' ? 5 : 3, quote: c === 'empathy' ? msg.split(' ').slice(0, 3).join(' ') : '', comment: `${c} ok` })), tip: 'Give a time.' });
  }
  return JSON.stringify({ scores: criteria.map((c) => ({ criterion: c, score: 4, quote: '', comment: `${c} good` })), goals: [1, 2, 3].map((g) => ({ goal: g, met: g === 1, quote: '' })), summary: 'A calm, kind start.' });
}

let srv: ModelfabServer, url: string, up: Scripted, dir: string, profile: string, ctx: BrowserContext, page: Page;
const errors: string[] = [];

async function shot(name: string): Promise<void> {
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
async function setLang(lang: 'en' | 'zh'): Promise<void> {
  await page.getByTestId('lang').first().selectOption(lang);
  await page.waitForFunction((l) => document.documentElement.lang === (l === 'zh' ? 'zh-CN' : 'en'), lang);
}

before(async () => {
  if (skip) return;
  if (!builtWithApps()) {
    const b = spawnSync(process.execPath, ['web/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, `npm run build:web failed:\n${b.stdout}${b.stderr}`);
  }
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  up = await startScripted({ chat });
  dir = mkdtempSync(join(tmpdir(), 'mf-web-apps-'));
  profile = mkdtempSync(join(tmpdir(), 'mf-chromium-apps-'));
  srv = await createServer({ dataDir: dir, adminKey: KEY, serve: { warm: false } });
  url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  const call = async (path: string, body: unknown) => {
    const r = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200, await r.text());
  };
  for (const name of ['writer-model', 'judge']) await call('/v1/serve/models', { name, kind: 'endpoint', endpoint: { url: up.url, model: name } });
  await call('/v1/knowledge/bases', { id: 'handbook', name: 'Store handbook' });
  await call('/v1/knowledge/bases/handbook/documents', { filename: 'handbook.md', text: '# Store handbook\n\n## Returns\n\nCustomers may return unused goods within thirty days of purchase with the receipt.\n\n## Warranty\n\nEvery chair carries a two-year warranty.\n' });
  ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, locale: 'en-US', viewport: { width: 1360, height: 900 }, acceptDownloads: true });
  page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.setDefaultTimeout(20_000);
  await page.goto(`${url}/`);
  await page.getByTestId('login-key').fill(KEY);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('nav-writer').waitFor();
});

after(async () => {
  if (skip) return;
  await ctx?.close();
  await srv?.close();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
  assert.deepEqual(errors, [], 'no errors in the page');
});

test('console: Magic Writer writes a cited document from an outline and downloads it as DOCX', { skip, timeout: 120_000 }, async () => {
  await page.getByTestId('nav-writer').click();
  await page.getByTestId('writer-model').selectOption('writer-model');
  await page.getByTestId('writer-kb').selectOption('handbook');
  await page.getByTestId('writer-doc-title').fill('Returns and warranty');
  await page.getByTestId('writer-outline').fill('Returns\nWarranty');
  await page.getByTestId('writer-write').click();
  await page.locator('[data-testid="writer-document"][data-status="completed"]').waitFor();
  const sections = await page.getByTestId('writer-section').allInnerTexts();
  assert.equal(sections.length, 2);
  assert.match(sections[0]!, /Returns: unused goods come back within thirty days \[\d\]\./);
  assert.match(await page.getByTestId('writer-sources').innerText(), /Store handbook/);
  const dl = page.waitForEvent('download');
  await page.getByTestId('writer-export-docx').click();
  const file = await (await dl).path();
  const xml = zipEntries(readFileSync(file)).get('word/document.xml')!.toString('utf8');
  assert.ok(xml.includes('Returns and warranty') && xml.includes('Warranty: unused goods'), 'the DOCX holds the document');
  // the server has no images model that works: the page shows its error
  await page.getByTestId('writer-image-prompt').fill('a chair');
  await page.getByRole('button', { name: 'Add a picture' }).click();
  await page.getByRole('alert').filter({ hasText: /no images here|images/ }).waitFor();
  await shot('writer-en');
  await setLang('zh');
  await page.getByText('按大纲撰写长文').waitFor();
  await shot('writer-zh');
  await setLang('en');
});

test('console: Emoti Coach runs a session scored by the judge and shows the progress', { skip, timeout: 120_000 }, async () => {
  await page.getByTestId('nav-coach').click();
  await page.getByTestId('coach-scenario').selectOption('upset-customer');
  await page.getByTestId('coach-model').selectOption('writer-model');
  await page.getByTestId('coach-judge').selectOption('judge');
  await page.getByTestId('coach-start').click();
  await page.getByTestId('coach-input').fill("I'm so sorry, I will call logistics now.");
  await page.getByTestId('coach-send').click();
  await page.getByTestId('coach-turn-scores').waitFor();
  assert.match(await page.getByTestId('coach-turn-scores').innerText(), /Empathy 5\/5 empathy ok\s*I'm so sorry,/);
  assert.match(await page.getByTestId('coach-log').innerText(), /When exactly will the chairs come\?/);
  await page.getByTestId('coach-finish').click();
  await page.getByTestId('coach-judgement').waitFor();
  assert.match(await page.getByTestId('coach-judgement').innerText(), /Score: 75\/100[\s\S]*A calm, kind start\./);
  await page.locator('[data-testid="coach-chart"][data-points="1"]').waitFor();
  await shot('coach-en');
  await setLang('zh');
  await page.getByText('我的进步').waitFor();
  await shot('coach-zh');
});
