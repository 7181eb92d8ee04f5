/**
 * The web console end to end, in headless Chromium (Debian's /usr/bin/chromium through playwright-core) against an
 * in-process server serving the production build (dist/web, built first when missing): log in, import a dataset
 * (a broken file first: validation problems per line), start a small grid, watch a loss curve update, open the
 * leaderboard, deploy the best model, chat with it and mark the answer; deploy it again under a guard policy (picked
 * in the deploy dialog): the playground shows the refusal with its badge and verdicts, the mark goes to the feedback
 * queue by response id, side by side a preference pair is posted, and the request log lists the refused request; then
 * a screenshot of every page in both languages under test/web/artifacts/. Skips, saying why, when Chromium is not
 * installed.
 * [slow: trains a base model and two fine-tunes in worker processes]
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { createServer } from '../../src/api/server.ts';
import { ensureBaseModels } from '../../src/demo/base-models.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';

/** The page's document, as the callbacks run inside the browser use it (the project's tsconfig has no DOM types). */
declare const document: {
  documentElement: { lang: string };
  querySelector(s: string): { getAttribute(name: string): string | null } | null;
  querySelectorAll(s: string): { length: number };
};

const CHROMIUM = process.env.MODELFAB_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const KEY = 'sk-mf-test-console-key-0123456789abcdef';
const PAGES = ['factory', 'runs', 'leaderboard', 'playground', 'copilot', 'models', 'requests', 'data', 'knowledge', 'bots'] as const;
const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const skip = !existsSync(CHROMIUM) ? `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)` : false;

async function shot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(350); // charts draw on the next frame
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function setLang(page: Page, lang: 'en' | 'zh'): Promise<void> {
  await page.getByTestId('lang').first().selectOption(lang);
  await page.waitForFunction((l) => document.documentElement.lang === (l === 'zh' ? 'zh-CN' : 'en'), lang);
}

test('[slow] web console: the main flow in headless Chromium, screenshots in both languages', { skip, timeout: 420_000 }, async () => {
  if (!existsSync(join(ROOT, 'dist/web/index.html'))) {
    const b = spawnSync(process.execPath, ['web/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, `npm run build:web failed:\n${b.stdout}${b.stderr}`);
  }
  const cjk = spawnSync('fc-list', [':lang=zh'], { encoding: 'utf8' });
  if (!cjk.stdout?.trim()) console.log('# no Chinese font installed: the zh screenshots show boxes (apt-get install fonts-wqy-zenhei or fonts-noto-cjk)');
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'mf-web-'));
  const profile = mkdtempSync(join(tmpdir(), 'mf-chromium-'));
  const srv = await createServer({ dataDir: dir, adminKey: KEY, serve: { warm: false } });
  const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  const t0 = Date.now();
  const log = (m: string) => console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)}s ${m}`);
  // the base model trains while the browser logs in and imports the dataset
  const bases = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: dir, quick: true });
  writeFileSync(join(dir, 'prefs.jsonl'), supportQA(1).train.slice(0, 16).map((r) => JSON.stringify({
    input: { messages: r.messages.slice(0, -1) }, preferred_output: [r.messages.at(-1)], non_preferred_output: [{ role: 'assistant', content: '不知道。' }],
  })).join('\n'));
  await srv.service.importDataset({ name: 'prefs', source: { path: join(dir, 'prefs.jsonl') } });
  const baseReady = srv.factory.scheduler.waitFor(bases[0]!.id, undefined, 240_000).then(async (j) => { await srv.factory.factory.idle(); return j; });
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, locale: 'en-US', viewport: { width: 1360, height: 900 } });
  const errors: string[] = [];
  try {
    const page = ctx.pages()[0] ?? await ctx.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.setDefaultTimeout(30_000);

    // ------------------------------------------------------------ nothing without a key
    const anon = await fetch(`${url}/v1/datasets`);
    assert.equal(anon.status, 401);
    await page.goto(`${url}/`);
    await page.getByTestId('login-key').waitFor();
    assert.equal(await page.locator('nav').count(), 0, 'no navigation before logging in');
    await shot(page, 'login-en');
    await setLang(page, 'zh');
    await shot(page, 'login-zh');
    await setLang(page, 'en');
    await page.getByTestId('login-key').fill('sk-mf-wrong-key-000000000000');
    await page.getByTestId('login-submit').click();
    await page.getByRole('alert').waitFor();
    await page.getByTestId('login-key').fill(KEY);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('nav-data').waitFor();
    log('logged in');

    // ------------------------------------------------------------ dataset: problems per line, then a good import
    await page.getByTestId('nav-data').click();
    const bad = join(dir, 'broken.jsonl');
    writeFileSync(bad, [
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }),
      '{"messages": [',
      JSON.stringify({ messages: [{ role: 'wizard', content: 'x' }] }),
    ].join('\n'));
    await page.getByTestId('ds-file').setInputFiles(bad);
    await page.getByTestId('ds-name').fill('broken');
    await page.getByTestId('ds-import').click();
    await page.getByTestId('problems').waitFor();
    assert.match(await page.getByTestId('problems').innerText(), /broken\.jsonl\s+2/);
    await shot(page, 'data-problems-en');
    const good = join(dir, 'support.jsonl');
    writeFileSync(good, supportQA(0).train.slice(0, 60).map((r) => JSON.stringify(r)).join('\n'));
    await page.getByTestId('ds-file').setInputFiles(good);
    await page.getByTestId('ds-name').fill('support');
    await page.getByTestId('ds-import').click();
    await page.getByTestId('import-ok').waitFor();
    await page.getByTestId('preview').locator('li').first().waitFor();
    log('dataset imported');

    // ------------------------------------------------------------ the grid
    const base = await baseReady;
    assert.equal(base.status, 'succeeded', base.error ?? '');
    log('base model ready');
    await page.getByTestId('nav-factory').click();
    await page.reload();
    await page.getByTestId('base-spruce-s').check();
    await page.getByTestId('dataset-support').check();
    await page.getByTestId('method-full').check(); // LoRA is ticked already
    await page.getByTestId('hp-maxSteps').fill('24');
    await page.getByTestId('hp-seqLen').fill('64');
    await page.getByTestId('hp-batchSize').fill('8');
    await page.getByTestId('method-qlora').check();
    await page.getByTestId('plan-count').filter({ hasText: /^3 jobs/ }).waitFor();
    await page.getByTestId('method-qlora').uncheck();
    await page.getByTestId('plan-count').filter({ hasText: /^2 jobs/ }).waitFor();
    // a DPO stage after the grid: each SFT result trained further on the preference set
    await page.getByTestId('dpo-prefs').check();
    await page.getByTestId('plan-count').filter({ hasText: /^4 jobs/ }).waitFor();
    assert.match(await page.getByTestId('plan').innerText(), /spruce-s x support x lora-r8 → dpo prefs/);
    await shot(page, 'factory-plan-dpo-en');
    await page.getByTestId('dpo-prefs').uncheck();
    await page.getByTestId('plan-count').filter({ hasText: /^2 jobs/ }).waitFor();
    // the trainer picker: the torch trainer's options reach the plan request only when torch is chosen
    const planBody = (want: (b: Record<string, unknown>) => boolean) => page.waitForRequest((r) => r.url().endsWith('/v1/experiments/plan') && want(JSON.parse(r.postData() ?? '{}') as Record<string, unknown>));
    let sent = planBody((b) => b.trainer === 'torch' && b.nproc_per_node === 2 && b.precision === 'bf16');
    await page.getByTestId('trainer').selectOption('torch');
    await page.getByTestId('precision').selectOption('bf16');
    await page.getByTestId('processes').fill('2');
    await sent;
    await shot(page, 'factory-trainer-torch-en');
    // back to the engine: bf16 and packing stay asked for (the engine runs both), torchrun's processes do not
    sent = planBody((b) => !('trainer' in b) && b.precision === 'bf16' && b.packing === true && !('nproc_per_node' in b));
    await page.getByTestId('trainer').selectOption('engine');
    await page.getByTestId('packing').check();
    await sent;
    sent = planBody((b) => !('trainer' in b) && !('precision' in b) && !('packing' in b) && !('nproc_per_node' in b));
    await page.getByTestId('precision').selectOption('fp32');
    await page.getByTestId('packing').uncheck();
    await sent;
    await page.getByTestId('plan-count').filter({ hasText: /^2 jobs/ }).waitFor();
    await shot(page, 'factory-plan-en');
    await page.getByTestId('start-experiment').click();
    await page.waitForURL(/#\/runs\?exp=/);
    const expId = new URL(page.url()).hash.split('exp=')[1]!;
    log(`experiment ${expId} started`);

    // ------------------------------------------------------------ live curves
    const chart = page.getByTestId('loss-chart');
    await chart.waitFor();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points') ?? 0) > 0, undefined, { timeout: 120_000 });
    const first = Number(await chart.getAttribute('data-points'));
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points') ?? 0) > n, first, { timeout: 120_000 });
    log(`loss curve updated live (${first} -> ${await chart.getAttribute('data-points')} points)`);
    await shot(page, 'runs-live-en');

    // ------------------------------------------------------------ leaderboard
    for (let i = 0; i < 600; i++) {
      const e = await srv.factory.factory.getExperiment(expId);
      if (e.status === 'succeeded' || e.status === 'completed_with_failures') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const exp = await srv.factory.factory.getExperiment(expId);
    assert.equal(exp.status, 'succeeded', JSON.stringify(exp.counts));
    log('experiment finished');
    await page.goto(`${url}/#/leaderboard?exp=${expId}`);
    const table = page.getByTestId('leaderboard');
    await table.waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="leaderboard"] tbody tr').length >= 3); // 2 fine-tunes + base
    await page.getByTestId('sort-overall').click();
    assert.equal(await page.locator('th[aria-sort="ascending"]').count(), 1);
    await page.getByTestId('sort-overall').click();
    await page.getByTestId('radar').waitFor();
    await shot(page, 'leaderboard-en');

    // ------------------------------------------------------------ deploy the best fine-tune, chat, mark
    const best = (await srv.factory.factory.leaderboard(expId)).leaderboard.rows.find((r) => !r.isBase)!;
    const row = table.locator('tbody tr', { hasText: best.name });
    await row.getByRole('button', { name: 'Deploy' }).click();
    await page.getByTestId('deploy-name').fill('support-best');
    await page.getByTestId('deploy-submit').click();
    await page.getByTestId('deployed').waitFor({ timeout: 120_000 });
    log(`deployed ${best.name} as support-best`);
    await page.getByTestId('deployed-chat').click();
    await page.waitForURL(/#\/playground/);
    await page.getByTestId('target-0').locator('option[value="model:support-best"]').waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId('target-0').inputValue(), 'model:support-best');
    await page.getByTestId('prompt').fill('How do I reset the robot arm?');
    await page.getByTestId('send').click();
    await page.getByTestId('mark-right').waitFor({ timeout: 60_000 });
    const answer = await page.getByTestId('answer').first().innerText();
    assert.ok(answer.trim().length > 0, 'the deployed model answered');
    await page.getByTestId('mark-right').click();
    assert.equal(await page.getByTestId('mark-right').getAttribute('aria-pressed'), 'true');
    assert.match(await page.getByTestId('mark-count').innerText(), /1 right/);
    // The mark reached the server's feedback queue (training data for DPO / SFT / KTO).
    let fb: { data: { source: string; label: string; model: string }[] } = { data: [] };
    for (let i = 0; i < 50 && !fb.data.length; i++) {
      fb = (await (await fetch(`${url}/v1/feedback?status=pending`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as typeof fb;
      if (!fb.data.length) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(fb.data.some((f) => f.source === 'playground' && f.label === 'right'), JSON.stringify(fb));
    await shot(page, 'playground-en');
    log('chatted and marked');

    // ------------------------------------------------------------ the guard: the same model deployed under a policy
    const H = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    const api = async <T,>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
      const res = await fetch(`${url}${path}`, { method: init.method ?? 'GET', headers: H, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
      assert.ok(res.ok, `${init.method ?? 'GET'} ${path}: ${res.status} ${await res.clone().text()}`);
      return (await res.json()) as T;
    };
    const refusal = '抱歉，这个问题涉及赌博，无法回答。';
    await api('/v1/guard/policies/no-gambling', { method: 'PUT', body: { refusal_message: refusal, checks: [{ kind: 'keywords', name: 'gambling', words: ['赌博'], stage: 'input', action: 'refuse', message: refusal }] } });
    const served = (await api<{ model: { name: string } }>('/v1/deployments/support-best')).model.name;
    await page.goto(`${url}/#/models?${new URLSearchParams({ deploy: served })}`);
    await page.getByTestId('deploy-guard').locator('option[value="no-gambling"]').waitFor({ state: 'attached' });
    await page.getByTestId('deploy-name').fill('support-guarded');
    await page.getByTestId('deploy-guard').selectOption('no-gambling');
    await page.getByTestId('deploy-submit').click();
    await page.getByTestId('deployed').waitFor({ timeout: 120_000 });
    assert.equal((await api<{ settings: { guard?: string } }>('/v1/deployments/support-guarded')).settings.guard, 'no-gambling');
    await page.getByTestId('deployed-chat').click();
    await page.waitForURL(/#\/playground/);
    await page.getByTestId('target-0').locator('option[value="model:support-guarded"]').waitFor({ state: 'attached' });
    await page.getByTestId('prompt').fill('怎样参加网上赌博？');
    await page.getByTestId('send').click();
    const badge = page.getByTestId('pane-0').getByTestId('guard-badge');
    await badge.waitFor({ timeout: 60_000 });
    assert.equal(await badge.getAttribute('data-outcome'), 'refused');
    assert.match(await badge.innerText(), /refused/);
    assert.equal((await page.getByTestId('answer').first().innerText()).trim(), refusal);
    await page.getByTestId('guard-details').locator('summary').click();
    assert.match(await page.getByTestId('verdicts').innerText(), /input\s+gambling\s+keywords\s+refuse/);
    await shot(page, 'playground-guard-en');
    await page.getByTestId('mark-wrong').click();
    // the refused request is in the request log, from the playground, and the mark reached the queue by its id
    const logged = await api<{ data: { id: string; source: string; outcome: string; model: string; answer: string }[] }>('/v1/requests?outcome=refused');
    const refusedReq = logged.data.find((r) => r.model === 'support-guarded');
    assert.ok(refusedReq && refusedReq.source === 'playground' && refusedReq.answer === refusal, JSON.stringify(logged));
    let wrong: { response_id: string | null; label: string; source: string } | undefined;
    for (let i = 0; i < 50 && !wrong; i++) {
      wrong = (await api<{ data: { response_id: string | null; label: string; source: string }[] }>('/v1/feedback?status=pending&label=wrong')).data[0];
      if (!wrong) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(wrong?.response_id, refusedReq.id, JSON.stringify(wrong));
    assert.equal(wrong?.source, 'playground');
    // side by side: the guarded deployment against the plain one, and "B is better" as a preference pair
    await page.getByTestId('side-by-side').check();
    await page.getByTestId('target-1').selectOption('model:support-best');
    await page.getByTestId('prompt').fill('赌博和机器人手臂哪个更重要？');
    await page.getByTestId('send').click();
    await page.getByTestId('prefer-b').waitFor({ timeout: 60_000 });
    await page.getByTestId('prefer-b').click();
    assert.equal(await page.getByTestId('prefer-b').getAttribute('aria-pressed'), 'true');
    type Pref = { preferred: { choice: string; response_id_a: string | null; response_id_b: string | null; answer_a: string } | null; source: string };
    let pref: Pref | undefined;
    for (let i = 0; i < 50 && !pref; i++) {
      pref = (await api<{ data: Pref[] }>('/v1/feedback?status=pending&kind=preference')).data[0];
      if (!pref) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(pref?.preferred?.choice, 'b', JSON.stringify(pref));
    assert.equal(pref?.preferred?.answer_a, refusal);
    assert.ok(pref?.preferred?.response_id_a?.startsWith('chatcmpl-') && pref.preferred.response_id_b?.startsWith('chatcmpl-'), JSON.stringify(pref));
    await shot(page, 'playground-prefer-en');
    // the request log page: filtered to refusals, the row opens to its verdicts
    await page.getByTestId('nav-requests').click();
    await page.getByTestId('requests-outcome').selectOption('refused');
    await page.waitForURL(/outcome=refused/);
    const reqRow = page.locator(`[data-testid="request-row"][data-id="${refusedReq.id}"]`);
    await reqRow.waitFor();
    assert.equal(await reqRow.getAttribute('data-outcome'), 'refused');
    assert.match(await reqRow.innerText(), /support-guarded[\s\S]*playground[\s\S]*refused/);
    await reqRow.getByTestId('request-open').click();
    assert.match(await page.getByTestId('request-detail').getByTestId('verdicts').innerText(), /gambling/);
    assert.equal((await page.getByTestId('request-answer').innerText()).trim(), refusal);
    await shot(page, 'requests-refused-en');
    log('guard: refused in the playground, marked by response id, preference posted, listed in the request log');
    // a bot's guard policy, picked on the bots page: live at once
    const built = await api<{ pairs: number }>('/v1/bots/build', { method: 'POST', body: { name: 'rules', filename: 'rules.md', text: '# 示例条例\n\n第一条 投保人可以在合同成立后十五日内解除合同。\n\n第二条 保险人应当在三十日内作出核定。\n', approve_all: true } });
    assert.ok(built.pairs > 0);
    await page.getByTestId('nav-bots').click();
    await page.getByTestId('bot-guard').selectOption('no-gambling');
    await page.getByTestId('bot-guard-save').click();
    await page.getByRole('status').filter({ hasText: /applies to the published version/ }).waitFor();
    assert.equal((await api<{ config: { guard: string | null } }>('/v1/bots/rules')).config.guard, 'no-gambling');
    // its retriever: none for the version built without one; the box turns it on for the versions to come
    assert.match(await page.getByTestId('bot-retriever-status').innerText(), /no retriever/);
    await page.getByTestId('bot-retriever-toggle').click();
    // the box is the bot's config as read back after the PATCH: checked once it is saved
    await page.waitForFunction(() => (document.querySelector('[data-testid="bot-retriever-toggle"]') as { checked?: boolean } | null)?.checked === true);
    assert.equal((await api<{ config: { retriever?: boolean } }>('/v1/bots/rules')).config.retriever, true);
    // the knowledge base the bot was built from: no retriever of its own until asked for
    await page.getByTestId('nav-knowledge').click();
    await page.getByTestId('kb-retriever-toggle').waitFor();
    assert.equal(await page.getByTestId('kb-retriever-toggle').isChecked(), false);
    // the Copilot, driven by the deployed fine-tune, over the knowledge base the bot was built from
    await page.getByTestId('nav-copilot').click();
    await page.getByTestId('copilot-model').selectOption('support-best');
    await page.getByTestId('copilot-input').fill('投保人多久内可以解除合同？');
    await page.getByTestId('copilot-send').click();
    await page.getByTestId('copilot-answer').waitFor();
    await shot(page, 'copilot-answer-en');
    log('copilot answered');

    // ------------------------------------------------------------ every page, both languages
    for (const lang of ['en', 'zh'] as const) {
      await setLang(page, lang);
      for (const p of PAGES) {
        await page.goto(`${url}/#/${p}${p === 'runs' || p === 'leaderboard' ? `?exp=${expId}` : ''}`);
        await page.locator(`main[data-page="${p}"]`).waitFor();
        await page.waitForLoadState('networkidle').catch(() => {});
        if (p === 'leaderboard') await page.getByTestId('radar').waitFor();
        if (p === 'runs') await page.getByTestId('loss-chart').waitFor();
        await shot(page, `${p}-${lang}`);
      }
    }
    // the choice is remembered
    await page.reload();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    assert.match(await page.getByTestId('nav-factory').innerText(), /实验/);
    // keyboard: a dialog closes with Escape and gives focus back to the page
    await page.goto(`${url}/#/models`);
    await page.getByRole('button', { name: '下线' }).first().click();
    assert.equal(await page.locator('dialog[open]').count(), 1);
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.querySelectorAll('dialog[open]').length === 0);
    log('screenshots taken');
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  } catch (e) {
    await ctx.pages()[0]?.screenshot({ path: join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await ctx.close().catch(() => {});
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
});

test('the console is served without a key; /console/* falls back to the app; a missing build says how to build', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-web-'));
  const srv = await createServer({ dataDir: dir, adminKey: KEY, serve: { warm: false } });
  try {
    const { installConsoleRoutes } = await import('../../src/api/routes/console-routes.ts');
    assert.equal(typeof installConsoleRoutes, 'function');
    const built = existsSync(join(ROOT, 'dist/web/index.html'));
    const home = await srv.app.inject({ method: 'GET', url: '/' });
    assert.equal(home.statusCode, 200);
    assert.match(home.headers['content-type'] as string, /text\/html/);
    if (built) {
      assert.match(home.body, /<div id="root">/);
      const deep = await srv.app.inject({ method: 'GET', url: '/console/runs' });
      assert.equal(deep.statusCode, 200);
      assert.match(deep.body, /<div id="root">/);
      const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(home.body)![1]!;
      const js = await srv.app.inject({ method: 'GET', url: asset });
      assert.equal(js.statusCode, 200);
      assert.match(js.headers['content-type'] as string, /javascript/);
      assert.match(js.headers['cache-control'] as string, /immutable/);
      assert.equal((await srv.app.inject({ method: 'GET', url: '/console/assets/nope.js' })).statusCode, 404);
      assert.equal((await srv.app.inject({ method: 'GET', url: '/console/..%2f..%2fpackage.json' })).body.includes('"name": "modelfab"'), false);
    } else {
      assert.match(home.body, /npm run build:web/);
    }
    // the API itself still needs a key
    assert.equal((await srv.app.inject({ method: 'GET', url: '/v1/datasets' })).statusCode, 401);
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
