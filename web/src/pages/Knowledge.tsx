/**
 * Knowledge bases: documents (upload), chunk review (approve / reject items), search with highlighted hits, and chat
 * search with citations and the answer's unsupported sentences flagged. Built against KnowledgeService's shapes
 * (src/knowledge/knowledge-service.ts) over the routes of src/api/routes/knowledge-routes.ts (an older server without them answers
 * 404 unknown_url, and the page says so):
 *   GET/POST /v1/knowledge/bases, GET/POST /v1/knowledge/bases/ID/documents ({filename, base64}),
 *   GET /v1/knowledge/bases/ID/items?state=, POST /v1/knowledge/bases/ID/items/review ({ids, action}),
 *   POST /v1/knowledge/search ({kbs, query, k}), POST /v1/knowledge/ask ({kbs, question}).
 */
import { useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api, get, post, type DocumentRecord as Doc, type KbRetrieverStatus, type KnowledgeAskObject as Ask, type KnowledgeBase as Kb, type KnowledgeItem as Item, type ListOf, type SearchResponse } from '../api';
import { useI18n } from '../i18n';
import { FileInput, Busy, Empty, ErrorBox, Field, StatusBadge, Tabs, fmtBytes, fmtTime, useLoad } from '../components/ui';


export function toBase64(buf: ArrayBuffer): string {
  let s = '';
  const b = new Uint8Array(buf);
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Query terms to highlight: words, and for Chinese runs their two-character pieces. */
function terms(q: string): string[] {
  const out = new Set<string>();
  for (const w of q.toLowerCase().split(/[\s,.;:!?，。；：！？、（）()"'“”]+/).filter(Boolean)) {
    if (/[\u4e00-\u9fff]/.test(w) && w.length > 2) for (let i = 0; i + 1 < w.length; i++) out.add(w.slice(i, i + 2));
    else if (w.length > 1 || /[\u4e00-\u9fff]/.test(w)) out.add(w);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

export function Highlight({ text, query }: { text: string; query: string }) {
  const ts = terms(query).map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!ts.length) return <>{text}</>;
  const re = new RegExp(`(${ts.join('|')})`, 'gi');
  return <>{text.split(re).map((p, i) => (i % 2 ? <mark key={i}>{p}</mark> : p))}</>;
}

export function Knowledge() {
  const { t } = useI18n();
  const kbs = useLoad((s) => get<ListOf<Kb>>('/v1/knowledge/bases', s), []);
  const [kb, setKb] = useState<string>('');
  const [tab, setTab] = useState<'docs' | 'review' | 'search' | 'ask'>('docs');
  const missing = kbs.error instanceof ApiError && kbs.error.status === 404;
  const cur = kb || kbs.data?.data[0]?.id || '';
  return (
    <div className="stack">
      {missing && <div className="notice" role="status" data-testid="kb-missing"><strong>{t('kb.notYet')}</strong><p>{t('kb.notYetBody')}</p></div>}
      {!missing && <ErrorBox error={kbs.error} onRetry={kbs.reload} />}
      <div className="split">
        <section className="card" aria-labelledby="kbs-title">
          <h2 id="kbs-title">{t('kb.bases')}</h2>
          {kbs.data && kbs.data.data.length === 0 && <Empty>{t('kb.none')}</Empty>}
          <ul className="joblist">
            {(kbs.data?.data ?? []).map((k) => (
              <li key={k.id} className={cur === k.id ? 'focused' : undefined}><button type="button" className="linkish" aria-pressed={cur === k.id} onClick={() => setKb(k.id)}><span>{k.name}</span><small className="muted">{k.description}</small></button></li>
            ))}
          </ul>
          <CreateKb disabled={missing} onDone={(id) => { kbs.reload(); setKb(id); }} />
        </section>
        <section className="card" aria-label={t('kb.workspace')}>
          <Tabs label={t('kb.workspace')} value={tab} onChange={setTab} tabs={[{ id: 'docs', label: t('kb.documents') }, { id: 'review', label: t('kb.review') }, { id: 'search', label: t('kb.search') }, { id: 'ask', label: t('kb.ask') }]} />
          <div role="tabpanel">
            {!cur ? <Empty>{missing ? t('kb.unavailable') : t('kb.pick')}</Empty> : tab === 'docs' ? <Docs kb={cur} /> : tab === 'review' ? <Review kb={cur} /> : tab === 'search' ? <Search kb={cur} /> : <AskPanel kb={cur} />}
          </div>
        </section>
      </div>
    </div>
  );
}

function CreateKb({ onDone, disabled }: { onDone: (id: string) => void; disabled: boolean }) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [approval, setApproval] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try { const k = await post<Kb>('/v1/knowledge/bases', { name: name.trim(), require_approval: approval }); setName(''); onDone(k.id); } catch (err) { setError(err); }
  };
  return (
    <form onSubmit={submit} className="subform">
      <h3>{t('kb.create')}</h3>
      <Field label={t('col.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required disabled={disabled} />}</Field>
      <label className="check"><input type="checkbox" checked={approval} onChange={(e) => setApproval(e.target.checked)} disabled={disabled} /> {t('kb.requireApproval')}</label>
      <ErrorBox error={error} />
      <button type="submit" disabled={disabled}>{t('kb.createSubmit')}</button>
    </form>
  );
}

function Docs({ kb }: { kb: string }) {
  const { t } = useI18n();
  const docs = useLoad((s) => get<ListOf<Doc>>(`/v1/knowledge/bases/${kb}/documents`, s), [kb]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const add = async (f: File) => {
    setBusy(true); setError(null);
    try { await post(`/v1/knowledge/bases/${kb}/documents`, { filename: f.name, base64: toBase64(await f.arrayBuffer()) }); docs.reload(); } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return (
    <div className="stack">
      <FileInput label={`${t('kb.upload')} (${t('kb.uploadHint')})`} accept=".txt,.md,.html,.htm,.pdf,.docx" onFile={(f) => { if (f) void add(f); }} />
      {busy && <Busy label={t('kb.ingesting')} />}
      <ErrorBox error={error ?? docs.error} onRetry={docs.reload} />
      {docs.data && docs.data.data.length === 0 && <Empty>{t('kb.noDocs')}</Empty>}
      {docs.data && docs.data.data.length > 0 && (
        <div className="table-wrap"><table>
          <thead><tr><th scope="col">{t('kb.title')}</th><th scope="col">{t('data.format')}</th><th scope="col">{t('kb.units')}</th><th scope="col">{t('kb.size')}</th><th scope="col">{t('col.created')}</th></tr></thead>
          <tbody>{docs.data.data.map((d) => <tr key={d.id}><td>{d.title || d.filename}{d.statute && <small className="tag">{t('kb.statute')}</small>}</td><td>{d.format}</td><td>{d.units}</td><td>{fmtBytes(d.bytes)}</td><td>{fmtTime(Math.floor(d.createdAt / 1000))}</td></tr>)}</tbody>
        </table></div>
      )}
      <KbRetriever kb={kb} />
    </div>
  );
}

/** The knowledge base's own retriever: a factory job over its units, fused with BM25 once trained. */
function KbRetriever({ kb }: { kb: string }) {
  const { t } = useI18n();
  const base = useLoad((s) => get<Kb & { retriever_status?: KbRetrieverStatus | null }>(`/v1/knowledge/bases/${kb}`, s), [kb]);
  const [error, setError] = useState<unknown>(null);
  const toggle = async (on: boolean) => {
    setError(null);
    try { await api('PATCH', `/v1/knowledge/bases/${kb}`, { retriever: on }); base.reload(); } catch (err) { setError(err); }
  };
  const st = base.data?.retriever_status ?? null;
  if (!base.data) return null;
  return (
    <div className="stack" data-testid="kb-retriever">
      <label className="check"><input type="checkbox" checked={!!base.data.retriever} onChange={(e) => void toggle(e.target.checked)} data-testid="kb-retriever-toggle" /> {t('kb.retrieverToggle')}</label>
      {st && (
        <p className="small" data-testid="kb-retriever-status">
          <StatusBadge status={st.status} /> {st.status === 'training' && t('kb.retrieverTraining')}{st.status === 'ready' && t('kb.retrieverReady')}
          {st.job_id && <> · {t('bots.retrieverJob')} <span className="mono">{st.job_id}</span></>}
          {st.model && <> · {t('bots.retrieverModel')} <span className="mono">{st.model}</span></>}
          {st.error && <> · <span className="error">{st.error}</span></>}
        </p>
      )}
      <ErrorBox error={error ?? base.error} onRetry={base.reload} />
    </div>
  );
}

function Review({ kb }: { kb: string }) {
  const { t } = useI18n();
  const [state, setState] = useState('pending');
  const items = useLoad((s) => get<ListOf<Item>>(`/v1/knowledge/bases/${kb}/items?state=${state}`, s), [kb, state]);
  const [error, setError] = useState<unknown>(null);
  const act = async (ids: string[], action: 'approve' | 'reject') => {
    try { await post(`/v1/knowledge/bases/${kb}/items/review`, { ids, action }); items.reload(); } catch (e) { setError(e); }
  };
  const list = items.data?.data ?? [];
  return (
    <div className="stack">
      <div className="row spread">
        <Field label={t('kb.state')} inline>{(id) => <select id={id} value={state} onChange={(e) => setState(e.target.value)}><option value="pending">{t('status.pending')}</option><option value="approved">{t('status.approved')}</option><option value="rejected">{t('status.rejected')}</option></select>}</Field>
        {state === 'pending' && list.length > 0 && <button type="button" onClick={() => act(list.map((i) => i.id), 'approve')}>{t('kb.approveAll', { n: list.length })}</button>}
      </div>
      <ErrorBox error={error ?? items.error} onRetry={items.reload} />
      {items.data && list.length === 0 && <Empty>{t('kb.noItems')}</Empty>}
      <ol className="items">
        {list.map((i) => (
          <li key={i.id} className="card inner">
            <div className="row spread"><strong>{[...i.path, i.label].filter(Boolean).join(' › ')}</strong><StatusBadge status={i.state} /></div>
            <p className="pre">{i.text}</p>
            <div className="row">
              <button type="button" className="small" onClick={() => act([i.id], 'approve')} disabled={i.state === 'approved'}>{t('kb.approve')}</button>
              <button type="button" className="small danger" onClick={() => act([i.id], 'reject')} disabled={i.state === 'rejected'}>{t('kb.reject')}</button>
            </div>
          </li>
        ))}
      </ol>
    </div>
  );
}

function Search({ kb }: { kb: string }) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const [res, setRes] = useState<SearchResponse | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try { setRes(await post<SearchResponse>('/v1/knowledge/search', { kbs: [kb], query: q, k: 8 })); } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <div className="stack">
      <form onSubmit={run} className="row"><Field label={t('kb.query')} inline>{(id) => <input id={id} className="wide" value={q} onChange={(e) => setQ(e.target.value)} required />}</Field><button type="submit" disabled={busy}>{t('kb.searchSubmit')}</button></form>
      {busy && <Busy label={t('kb.searching')} />}
      <ErrorBox error={error} />
      {res?.notice && <p className="muted">{res.notice}</p>}
      {res && res.results.length === 0 && <Empty>{t('kb.noHits')}</Empty>}
      <ol className="hits">
        {(res?.results ?? []).map((h) => (
          <li key={h.chunkId}><div className="row spread"><strong>{h.docTitle} · {h.label}</strong><small className="muted">{t('kb.score')} {h.score.toFixed(3)} · {t('kb.coverage')} {(100 * h.coverage).toFixed(0)}%</small></div><p><Highlight text={h.text} query={res!.query} /></p></li>
        ))}
      </ol>
    </div>
  );
}

function AskPanel({ kb }: { kb: string }) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const [res, setRes] = useState<Ask | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try { setRes(await post<Ask>('/v1/knowledge/ask', { kbs: [kb], question: q })); } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <div className="stack">
      <form onSubmit={run} className="row"><Field label={t('kb.question')} inline>{(id) => <input id={id} className="wide" value={q} onChange={(e) => setQ(e.target.value)} required />}</Field><button type="submit" disabled={busy}>{t('kb.askSubmit')}</button></form>
      {busy && <Busy label={t('kb.answering')} />}
      <ErrorBox error={error} />
      {res && <Answer res={res} />}
    </div>
  );
}

/** The answer with unsupported sentences flagged, then its citations. */
export function Answer({ res }: { res: Ask }) {
  const { t } = useI18n();
  const parts: ReactNode[] = [];
  let at = 0;
  for (const s of res.attribution?.sentences ?? []) {
    if (s.start > at) parts.push(res.answer.slice(at, s.start));
    const text = res.answer.slice(s.start, s.end);
    parts.push(!s.supported && !s.skipped ? <mark key={s.start} className="flagged" title={t('kb.flagged', { s: (100 * s.support).toFixed(0) })}>{text}<span className="sr-only"> ({t('kb.flaggedShort')})</span></mark> : text);
    at = s.end;
  }
  parts.push(res.answer.slice(at));
  return (
    <div className="stack">
      {res.notice && <p className="muted">{res.notice}</p>}
      <p className="answer">{parts}</p>
      {res.attribution && res.attribution.unsupported > 0 && <p className="warn">{t('kb.unsupported', { n: res.attribution.unsupported })}</p>}
      <ol className="citations">{res.citations.map((c) => <li key={c.ref} className={c.cited ? 'cited' : undefined}><strong>[{c.ref}] {c.docTitle} · {c.label}</strong><p className="small">{c.text}</p></li>)}</ol>
    </div>
  );
}
