/**
 * The page reader, injected into the page the panel reads (chrome.scripting, as an IIFE): it lists the page's
 * visible text blocks, numbers them as passages (lib/passages.ts) and marks each block's element with its passage
 * ids (`data-mf-p`), reads tables and lists of figures (lib/tables.ts), and notes the selection. `highlight(id)`
 * scrolls to a passage's elements and marks them. It reads only what is on the page; it sends nothing anywhere.
 */
import { numberPassages, type Block } from './lib/passages.ts';
import { figuresFromList, tableFromCells, type DataTable } from './lib/tables.ts';
import type { PageSnapshot } from './lib/page-types.ts';

const BLOCKS = 'h1,h2,h3,h4,h5,h6,p,li,blockquote,pre,dt,dd,figcaption,summary';
const SKIP = 'script,style,noscript,template,nav,footer,aside,form,button,select,textarea,table,[aria-hidden="true"],[hidden]';
const STYLE_ID = 'modelfab-copilot-style';

function visible(el: Element): boolean {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return s.display !== 'none' && s.visibility !== 'hidden' && (r.width > 0 || r.height > 0);
}

function captionOf(table: Element): string {
  const cap = table.querySelector('caption')?.textContent?.trim();
  if (cap) return cap;
  let prev = table.previousElementSibling;
  for (let i = 0; prev && i < 3; i++, prev = prev.previousElementSibling) {
    if (/^H[1-6]$/.test(prev.tagName) || prev.tagName === 'P') return (prev.textContent ?? '').trim().slice(0, 120);
  }
  return '';
}

function read(): PageSnapshot {
  const root = document.body;
  for (const el of Array.from(root.querySelectorAll('[data-mf-p]'))) el.removeAttribute('data-mf-p');
  const els = Array.from(root.querySelectorAll(BLOCKS)).filter((el) => !el.closest(SKIP) && !el.querySelector(BLOCKS) && visible(el));
  const blocks: Block[] = els.map((el) => ({ tag: el.tagName.toLowerCase(), text: (el as HTMLElement).innerText ?? el.textContent ?? '' }));
  const passages = numberPassages(blocks);
  for (const p of passages) for (const b of p.blocks) {
    const el = els[b]!;
    el.setAttribute('data-mf-p', [el.getAttribute('data-mf-p'), p.id].filter(Boolean).join(' '));
  }
  const sel = window.getSelection();
  const selText = sel && !sel.isCollapsed ? sel.toString().trim() : '';
  const selPassages = selText && sel!.rangeCount ? passages.filter((p) => p.blocks.some((b) => sel!.getRangeAt(0).intersectsNode(els[b]!))).map((p) => p.id) : [];
  const tables: DataTable[] = [];
  for (const table of Array.from(root.querySelectorAll('table'))) {
    if (!visible(table) || table.querySelector('table')) continue;
    const rows = Array.from(table.querySelectorAll('tr'));
    const cells = rows.map((tr) => Array.from(tr.querySelectorAll('th,td')).map((c) => (c as HTMLElement).innerText ?? c.textContent ?? ''));
    const headed = !!rows[0] && rows[0].querySelectorAll('th').length > 0 && rows[0].querySelectorAll('td').length === 0;
    const t = tableFromCells(cells, captionOf(table), headed || undefined);
    if (t) tables.push(t);
  }
  for (const list of Array.from(root.querySelectorAll('ul,ol'))) {
    if (list.closest(SKIP) || !visible(list)) continue;
    const items = Array.from(list.children).filter((c) => c.tagName === 'LI').map((li) => (li as HTMLElement).innerText ?? '');
    const t = items.length >= 3 ? figuresFromList(items, captionOf(list), document.documentElement.lang.startsWith('zh') ? '数值' : 'Value') : null;
    if (t) tables.push(t);
  }
  return { url: location.href, title: document.title, lang: document.documentElement.lang, passages, selection: { text: selText.slice(0, 20000), passages: selPassages }, tables };
}

function highlight(id: string): boolean {
  if (!document.getElementById(STYLE_ID)) {
    const style = document.createElement('style');
    style.id = STYLE_ID;
    style.textContent = '[data-mf-hl]{background:#fff3a3 !important;outline:2px solid #f0b400 !important;border-radius:2px;transition:background .3s}';
    document.head.appendChild(style);
  }
  for (const el of Array.from(document.querySelectorAll('[data-mf-hl]'))) el.removeAttribute('data-mf-hl');
  const els = Array.from(document.querySelectorAll(`[data-mf-p~="${CSS.escape(id)}"]`));
  els.forEach((el) => el.setAttribute('data-mf-hl', id));
  els[0]?.scrollIntoView({ block: 'center', behavior: 'instant' });
  return els.length > 0;
}

(globalThis as unknown as { __modelfabCopilot: unknown }).__modelfabCopilot = { read, highlight };
