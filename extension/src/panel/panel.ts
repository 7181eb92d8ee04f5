/**
 * The side panel: settings (server, key, model, language), the page it reads (the active tab's, or the one named
 * by `?tab=` when the panel is opened in a tab of its own), and four tools over the page or the selection:
 * summarise (in steps, with progress and Stop), ask (the Copilot, citing the page's passages and the key's knowledge
 * bases; a page citation scrolls to and highlights its passage), table & chart (ECharts) and translate (Chinese and
 * English). State lives in `state`; `render()` draws it whole, streamed text updates its own element.
 */
import { t as tr, defaultLang, type Lang } from '../i18n/i18n.ts';
import type { Key } from '../i18n/en.ts';
import { checkKey, needsPermission, normaliseServer, originPattern, type Settings } from '../lib/settings.ts';
import { groupForSummary, numberPassages, selectPassages, type Passage } from '../lib/passages.ts';
import { citedRefs, parseCitations } from '../lib/citations.ts';
import { autoDirection, translatePrompt, type Direction } from '../lib/prompts.ts';
import { summariseInSteps, type SummaryProgress } from '../lib/summarise.ts';
import { chartSpec, echartsOption, numericColumns, toCsv } from '../lib/tables.ts';
import type { PageSnapshot } from '../lib/page-types.ts';
import { ApiError, ModelfabClient, type CopilotSourceOut } from './api-client.ts';
import { disposeChart, drawChart } from './chart.ts';

type Tab = 'summary' | 'ask' | 'data' | 'translate';

const state = {
  settings: { server: 'http://127.0.0.1:8080', key: '', model: '', lang: defaultLang(navigator.language) } as Settings,
  /** What the settings form holds until it is saved (a redraw keeps it). */
  draft: { server: 'http://127.0.0.1:8080', key: '' },
  /** The settings form was typed in: stored settings loaded later must not overwrite it. */
  draftEdited: false,
  models: [] as string[],
  connected: false,
  tab: 'summary' as Tab,
  tabId: null as number | null,
  page: null as PageSnapshot | null,
  scope: 'page' as 'page' | 'selection',
  /** An error, and the host permissions a button under it asks for (the server's, or the page's site; then it reads again). */
  error: null as { key: Key; values?: Record<string, string | number>; allow?: { origins: string[]; label: Key; reread: boolean } } | null,
  busy: false,
  progress: null as SummaryProgress | null,
  stoppedAfter: null as number | null,
  summary: '',
  parts: [] as string[],
  question: '',
  answer: '',
  sources: [] as CopilotSourceOut[],
  activeSource: null as number | null,
  table: 0,
  direction: 'auto' as 'auto' | Direction,
  translateInput: '',
  translation: '',
};
let controller: AbortController | null = null;

const app = document.getElementById('app')!;
const L = (key: Key, values?: Record<string, string | number>) => tr(state.settings.lang, key, values);

/** A small element builder: attributes (`on*` are listeners), then children. */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, unknown> = {}, ...children: Array<Node | string | null | false>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'value') (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== false) el.append(c);
  return el;
}

const client = () => new ModelfabClient(state.settings.server, state.settings.key);

function fail(e: unknown): void {
  if ((e as Error).name === 'AbortError') return;
  if (e instanceof ApiError) state.error = e.status === 0 ? { key: 'errNetwork', values: { why: e.message } } : { key: 'errHttp', values: { status: e.status, message: e.message } };
  else state.error = { key: 'errHttp', values: { status: '-', message: (e as Error).message } };
}

// ------------------------------------------------------------------ settings

async function loadSettings(): Promise<void> {
  const s = await chrome.storage.local.get(['server', 'key', 'model', 'lang']);
  Object.assign(state.settings, Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v === 'string' && v)));
  if (!state.draftEdited) state.draft = { server: state.settings.server, key: state.settings.key };
  if (state.settings.key) await connect();
}

async function connect(): Promise<void> {
  try {
    state.models = await client().models();
    state.connected = true;
    if (!state.models.includes(state.settings.model)) state.settings.model = state.models[0] ?? '';
    state.error = state.models.length ? null : { key: 'noModels' };
  } catch (e) {
    state.connected = false;
    fail(e);
  }
}

/** Saves the settings the form holds; asks for the server's host permission first when it is not a local one. */
async function saveSettings(server: string, key: string): Promise<void> {
  const s = normaliseServer(server);
  if (!s.ok) { state.error = { key: s.problem === 'server' ? 'errServer' : 'errServerCredentials' }; return render(); }
  const k = checkKey(key);
  if (!k.ok) { state.error = { key: 'errKey' }; return render(); }
  if (needsPermission(s.value)) {
    // called in the click's task: Chrome asks only during a user gesture
    const origins = [originPattern(s.value)];
    const granted = (await chrome.permissions.contains({ origins })) || (await chrome.permissions.request({ origins }).catch(() => false));
    if (!granted) { state.error = { key: 'errPermission', values: { origin: s.value }, allow: { origins: [originPattern(s.value)], label: 'allow', reread: false } }; return render(); }
  }
  state.settings.server = state.draft.server = s.value;
  state.settings.key = state.draft.key = k.value;
  await chrome.storage.local.set({ server: s.value, key: k.value });
  state.error = null;
  await connect();
  render();
}

// ------------------------------------------------------------------ the page

async function targetTab(): Promise<number | null> {
  const fixed = new URLSearchParams(location.search).get('tab');
  if (fixed && /^\d+$/.test(fixed)) return Number(fixed);
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab?.id ?? null;
}

async function readPage(): Promise<void> {
  state.tabId = await targetTab();
  if (state.tabId === null) return;
  try {
    await chrome.scripting.executeScript({ target: { tabId: state.tabId }, files: ['page-reader.js'] });
    const [r] = await chrome.scripting.executeScript<PageSnapshot>({ target: { tabId: state.tabId }, func: () => (globalThis as unknown as { __modelfabCopilot: { read(): PageSnapshot } }).__modelfabCopilot.read() });
    state.page = r?.result ?? null;
    state.scope = state.page?.selection.text ? 'selection' : 'page';
    state.table = 0;
    if (state.error?.key === 'errRead') state.error = null;
  } catch (e) {
    state.page = null;
    // without a permission for the page the tab's address is hidden too: then the button asks for pages on any site
    const url = (await chrome.tabs.get(state.tabId).catch(() => null))?.url ?? '';
    const allow = /^https?:/.test(url) ? { origins: [originPattern(new URL(url).origin)], label: 'allowSite' as const, reread: true } : { origins: ['http://*/*', 'https://*/*'], label: 'allowAllSites' as const, reread: true };
    state.error = { key: 'errRead', values: { why: (e as Error).message }, allow };
  }
}

async function highlight(passage: string): Promise<void> {
  if (state.tabId === null) return;
  await chrome.scripting.executeScript({ target: { tabId: state.tabId }, func: (id: string) => (globalThis as unknown as { __modelfabCopilot: { highlight(id: string): boolean } }).__modelfabCopilot.highlight(id), args: [passage] });
}

/** The selected text as passages s1, s2, ... (what summaries and translations read of a selection). */
function selectionPassages(): Passage[] {
  const text = state.page?.selection.text ?? '';
  return numberPassages(text.split(/\n+/).map((x) => ({ tag: 'p', text: x }))).map((x) => ({ ...x, id: `s${x.id.slice(1)}` }));
}

/**
 * The passages a tool reads: the page's, or for a selection its own text (`forCitation`: the page passages it
 * touches, so an answer's citations still point into the page).
 */
function scopePassages(forCitation = false): Passage[] {
  const p = state.page;
  if (!p) return [];
  if (state.scope !== 'selection' || !p.selection.text) return p.passages;
  const ids = new Set(p.selection.passages);
  const touched = forCitation ? p.passages.filter((x) => ids.has(x.id)) : [];
  return touched.length ? touched : selectionPassages();
}

// ------------------------------------------------------------------ the tools

async function run(task: (signal: AbortSignal) => Promise<void>): Promise<void> {
  if (!state.connected || !state.settings.model) { state.error = { key: 'errNoSettings' }; return render(); }
  controller = new AbortController();
  state.busy = true;
  state.error = null;
  render();
  try {
    await task(controller.signal);
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false;
    controller = null;
    render();
  }
}

const streamInto = (testid: string, field: 'summary' | 'answer' | 'translation') => (piece: string) => {
  state[field] += piece;
  const el = document.querySelector(`[data-testid="${testid}"]`);
  if (el) el.textContent = state[field];
};

function summarise(): Promise<void> {
  state.summary = '';
  state.parts = [];
  state.stoppedAfter = null;
  return run(async (signal) => {
    const c = client();
    let done = 0;
    const r = await summariseInSteps(scopePassages(), (m, s, onText) => c.chat(state.settings.model, m, s, onText).then((x) => { done++; return x; }), {
      title: state.page?.title ?? '', signal, zh: state.settings.lang === 'zh' ? true : undefined,
      onProgress: (p) => { state.progress = p; render(); }, onText: streamInto('summary', 'summary'),
    });
    state.parts = r.parts;
    state.summary = r.summary;
    state.progress = null;
    if (r.stopped) state.stoppedAfter = done;
  });
}

function ask(question: string): Promise<void> {
  state.question = question;
  state.answer = '';
  state.sources = [];
  state.activeSource = null;
  return run(async (signal) => {
    const passages = selectPassages(question, scopePassages(true), 8);
    const page = state.page && passages.length ? { title: state.page.title.slice(0, 300), url: state.page.url.slice(0, 2000), passages: passages.map((p) => ({ id: p.id, text: p.text.slice(0, 4000) })) } : undefined;
    const r = await client().copilot(state.settings.model, [{ role: 'user', content: question }], page, signal, streamInto('answer', 'answer'));
    state.answer = r.text;
    state.sources = r.sources;
  });
}

function translate(input: string): Promise<void> {
  state.translateInput = input;
  state.translation = '';
  return run(async (signal) => {
    const text = input.trim() || scopePassages().map((p) => p.text).join('\n');
    if (!text) return;
    const dir = state.direction === 'auto' ? autoDirection(text) : state.direction;
    const groups = groupForSummary(numberPassages(text.split(/\n+/).map((x) => ({ tag: 'p', text: x })), { minChars: 1 }), 2000);
    for (const [i, g] of groups.entries()) {
      if (signal.aborted) break;
      if (groups.length > 1) { state.progress = { step: i + 1, total: groups.length, phase: 'part' }; render(); }
      if (i > 0) streamInto('translation', 'translation')('\n');
      await client().chat(state.settings.model, translatePrompt(g.map((p) => p.text).join('\n'), dir), signal, streamInto('translation', 'translation'));
    }
    state.progress = null;
  });
}

function showSource(ref: number): void {
  const s = state.sources[ref - 1];
  if (!s) return;
  state.activeSource = ref;
  render();
  document.querySelector(`[data-testid="source-${ref}"]`)?.scrollIntoView({ block: 'nearest' });
  if (s.kind === 'page' && s.passage) void highlight(s.passage);
}

// ------------------------------------------------------------------ drawing

function progressView(): HTMLElement | null {
  const p = state.progress;
  if (!p) return null;
  return h('div', { 'data-testid': 'progress', 'data-step': p.step, 'data-total': p.total },
    h('progress', { max: p.total, value: p.step - 1 }),
    h('div', { class: 'muted' }, L(p.phase === 'final' ? 'stepFinal' : 'stepPart', { step: p.step, total: p.total })));
}

function settingsView(): HTMLElement {
  const server = h('input', { 'data-testid': 'server', value: state.draft.server, placeholder: L('serverHint'), autocomplete: 'off', oninput: (e: Event) => { state.draft.server = (e.target as HTMLInputElement).value; state.draftEdited = true; } });
  const key = h('input', { 'data-testid': 'key', type: 'password', value: state.draft.key, placeholder: L('keyHint'), autocomplete: 'off', oninput: (e: Event) => { state.draft.key = (e.target as HTMLInputElement).value; state.draftEdited = true; } });
  const model = h('select', { 'data-testid': 'model', onchange: (e: Event) => { state.settings.model = (e.target as HTMLSelectElement).value; void chrome.storage.local.set({ model: state.settings.model }); } },
    ...state.models.map((m) => h('option', { value: m, selected: m === state.settings.model }, m)));
  return h('details', { open: !state.connected || undefined, 'data-testid': 'settings' },
    h('summary', {}, L('settings'), state.connected ? h('span', { class: 'muted', 'data-testid': 'connected' }, ` · ${L('connected', { n: state.models.length })}`) : null),
    h('label', {}, L('server')), server,
    h('label', {}, L('key')), key, h('div', { class: 'muted' }, L('keyHint')),
    h('button', { 'data-testid': 'save', onclick: () => void saveSettings(server.value, key.value) }, L('save')),
    state.connected ? h('label', {}, L('model')) : null, state.connected ? model : null);
}

function pageView(): HTMLElement {
  const p = state.page;
  const sel = p?.selection.text ?? '';
  return h('section', { 'data-testid': 'page' },
    h('div', {}, h('strong', {}, p?.title || '—')),
    p ? h('div', { class: 'muted', 'data-testid': 'page-info' }, L('pageRead', { n: p.passages.length, t: p.tables.length })) : null,
    sel ? h('label', {}, L('scope')) : null,
    sel ? h('select', { 'data-testid': 'scope', onchange: (e: Event) => { state.scope = (e.target as HTMLSelectElement).value as 'page' | 'selection'; render(); } },
      h('option', { value: 'page', selected: state.scope === 'page' }, L('scopePage')),
      h('option', { value: 'selection', selected: state.scope === 'selection' }, L('scopeSelection', { n: sel.length }))) : null,
    h('button', { class: 'secondary', 'data-testid': 'reload', onclick: async () => { await readPage(); render(); } }, L('reload')));
}

function answerView(): HTMLElement {
  const out = h('div', { class: 'out', 'data-testid': 'answer' });
  if (state.busy) out.textContent = state.answer;
  else for (const seg of parseCitations(state.answer, state.sources.length)) {
    if (seg.kind === 'text') { out.append(seg.text); continue; }
    const s = state.sources[seg.ref - 1]!;
    out.append(h('button', { class: `cite ${s.kind}`, 'data-testid': `cite-${seg.ref}`, 'data-kind': s.kind, 'data-passage': s.passage, title: s.label, onclick: () => showSource(seg.ref) }, String(seg.ref)));
  }
  return out;
}

function sourcesView(): HTMLElement | null {
  if (!state.sources.length || state.busy) return null;
  const kind = (k: CopilotSourceOut['kind']) => L(k === 'page' ? 'sourcePage' : k === 'bot' ? 'sourceBot' : 'sourceKnowledge');
  const item = (s: CopilotSourceOut) => h('li', { value: s.ref, 'data-testid': `source-${s.ref}`, class: state.activeSource === s.ref ? 'active' : undefined },
    h('span', { class: `badge ${s.kind}` }, kind(s.kind)), s.kind === 'page' ? '' : `${s.from} · `, h('strong', {}, s.kind === 'page' && s.passage ? s.passage : s.label), ' ',
    h('span', { class: 'muted' }, s.text.length > 220 ? `${s.text.slice(0, 220)}…` : s.text),
    s.kind === 'page' && s.passage ? h('button', { class: 'secondary', onclick: () => showSource(s.ref) }, L('showInPage')) : null);
  // the sources the answer cites first; the others the model was given, folded
  const cited = new Set(citedRefs(state.answer, state.sources.length));
  const others = state.sources.filter((s) => !cited.has(s.ref));
  return h('div', {}, h('strong', {}, L('sources')),
    h('ol', { class: 'sources', 'data-testid': 'sources' }, ...state.sources.filter((s) => cited.has(s.ref)).map(item)),
    others.length ? h('details', { open: (state.activeSource !== null && !cited.has(state.activeSource)) || undefined }, h('summary', { class: 'muted' }, L('otherSources', { n: others.length })),
      h('ol', { class: 'sources', 'data-testid': 'other-sources' }, ...others.map(item))) : null);
}

function dataView(): HTMLElement {
  const tables = state.page?.tables ?? [];
  if (!tables.length) return h('section', { 'data-testid': 'no-data' }, L('noData'));
  const t = tables[Math.min(state.table, tables.length - 1)]!;
  const numeric = new Set(numericColumns(t));
  const spec = chartSpec(t);
  const chart = spec ? h('div', { class: 'chart', 'data-testid': 'chart', 'data-series': spec.series.length, 'data-categories': spec.categories.length }) : h('div', { class: 'muted' }, L('noChart'));
  const copy = h('button', { class: 'secondary', 'data-testid': 'copy-csv', onclick: async () => { await navigator.clipboard.writeText(toCsv(t)).catch(() => undefined); copy.textContent = L('copied'); } }, L('copyCsv'));
  const view = h('section', {},
    h('label', {}, L('dataPick')),
    h('select', { 'data-testid': 'data-pick', onchange: (e: Event) => { state.table = Number((e.target as HTMLSelectElement).value); render(); } },
      ...tables.map((x, i) => h('option', { value: i, selected: i === state.table }, `${i + 1}. ${x.caption || x.columns.join(' / ')}`.slice(0, 80)))),
    h('table', { class: 'data', 'data-testid': 'data-table' },
      h('thead', {}, h('tr', {}, ...t.columns.map((c) => h('th', {}, c)))),
      h('tbody', {}, ...t.rows.slice(0, 200).map((r) => h('tr', {}, ...r.map((c, i) => h('td', { class: numeric.has(i) ? 'num' : undefined }, c)))))),
    copy, chart);
  if (spec) requestAnimationFrame(() => drawChart(chart, echartsOption(spec, t.caption)));
  return view;
}

function toolView(): HTMLElement {
  const disabled = state.busy || !state.connected || !state.page;
  const stop = h('button', { class: 'secondary', 'data-testid': 'stop', disabled: !state.busy, onclick: () => controller?.abort() }, L('stop'));
  switch (state.tab) {
    case 'summary':
      return h('section', {},
        h('button', { 'data-testid': 'summarise', disabled, onclick: () => void summarise() }, L('summarise')), stop,
        progressView(),
        state.stoppedAfter !== null ? h('div', { class: 'muted', 'data-testid': 'stopped' }, L('stopped', { n: state.stoppedAfter })) : null,
        h('div', { class: 'out', 'data-testid': 'summary' }, state.summary),
        state.parts.length ? h('details', {}, h('summary', {}, L('partsDone')), ...state.parts.map((p, i) => h('div', { class: 'out', 'data-testid': `part-${i + 1}` }, p))) : null);
    case 'ask': {
      const q = h('textarea', { 'data-testid': 'question', placeholder: L('question') }, state.question);
      return h('section', {}, q,
        h('button', { 'data-testid': 'ask', disabled, onclick: () => void ask(q.value.trim()) }, L('ask')), stop,
        answerView(), sourcesView());
    }
    case 'data':
      return dataView();
    case 'translate': {
      const input = h('textarea', { 'data-testid': 'translate-input', placeholder: L('translateInput') }, state.translateInput);
      return h('section', {},
        h('select', { 'data-testid': 'direction', onchange: (e: Event) => { state.direction = (e.target as HTMLSelectElement).value as typeof state.direction; } },
          h('option', { value: 'auto', selected: state.direction === 'auto' }, L('directionAuto')),
          h('option', { value: 'zh-en', selected: state.direction === 'zh-en' }, L('directionZhEn')),
          h('option', { value: 'en-zh', selected: state.direction === 'en-zh' }, L('directionEnZh'))),
        input,
        h('button', { 'data-testid': 'translate', disabled: state.busy || !state.connected, onclick: () => void translate(input.value) }, L('translate')), stop,
        progressView(),
        h('div', { class: 'out', 'data-testid': 'translation' }, state.translation));
    }
  }
}

function errorView(): HTMLElement | null {
  const e = state.error;
  if (!e) return null;
  const box = h('div', { class: 'error', role: 'alert', 'data-testid': 'error' }, L(e.key, e.values));
  const allow = e.allow;
  if (allow) {
    box.append(h('button', { 'data-testid': 'allow', onclick: async () => {
      if (await chrome.permissions.request({ origins: allow.origins }).catch(() => false)) {
        state.error = null;
        if (allow.reread) await readPage();
        render();
      }
    } }, L(allow.label)));
  }
  return box;
}

/** The focused field (by test id) and its caret, so a render while someone types keeps the focus and the keystrokes. */
function focusedField(): { id: string; start: number | null; end: number | null } | null {
  const el = document.activeElement;
  const id = el instanceof HTMLElement ? el.dataset.testid : undefined;
  if (!id || !(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement)) return null;
  let start: number | null = null, end: number | null = null;
  try { start = el.selectionStart; end = el.selectionEnd; } catch { /* inputs without a caret */ }
  return { id, start, end };
}

function restoreFocus(f: ReturnType<typeof focusedField>): void {
  if (!f) return;
  const el = app.querySelector(`[data-testid="${f.id}"]`);
  if (!(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement)) return;
  el.focus();
  try { if (f.start !== null && f.end !== null) el.setSelectionRange(f.start, f.end); } catch { /* inputs without a caret */ }
}

function render(): void {
  const focused = focusedField();
  disposeChart();
  document.documentElement.lang = state.settings.lang === 'zh' ? 'zh-CN' : 'en';
  document.title = L('title');
  const tabs: Array<[Tab, Key]> = [['summary', 'tabSummary'], ['ask', 'tabAsk'], ['data', 'tabData'], ['translate', 'tabTranslate']];
  app.replaceChildren(...[
    h('header', {}, h('h1', {}, L('title')),
      h('select', { 'data-testid': 'lang', 'aria-label': L('language'), style: 'width:auto', onchange: (e: Event) => { state.settings.lang = (e.target as HTMLSelectElement).value as Lang; void chrome.storage.local.set({ lang: state.settings.lang }); render(); } },
        h('option', { value: 'en', selected: state.settings.lang === 'en' }, 'English'),
        h('option', { value: 'zh', selected: state.settings.lang === 'zh' }, '中文'))),
    settingsView(),
    errorView(),
    pageView(),
    h('div', { class: 'tabs', role: 'tablist' }, ...tabs.map(([id, key]) => h('button', { role: 'tab', 'data-testid': `tab-${id}`, 'aria-selected': String(state.tab === id), onclick: () => { state.tab = id; render(); } }, L(key)))),
    toolView(),
  ].filter((x): x is HTMLElement => x !== null));
  restoreFocus(focused);
}

async function main(): Promise<void> {
  render();
  await loadSettings();
  await readPage();
  render();
  if (!new URLSearchParams(location.search).get('tab')) {
    // the side panel follows the active tab
    chrome.tabs.onActivated.addListener(() => { if (!state.busy) void readPage().then(render); });
    chrome.tabs.onUpdated.addListener((id, change) => { if (id === state.tabId && change.status === 'complete' && !state.busy) void readPage().then(render); });
  }
}

void main();
