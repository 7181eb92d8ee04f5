/**
 * Bots: build a bot from a document, review its question-answer pairs (approve, reject, approve all), make a version,
 * run its test (top-1 / top-3, groundedness, fallback rate, latency, misses), approve the report, publish, and get
 * the one-script-tag widget snippet with a bot-scoped key; pick the bot's guard policy (live: PATCH /v1/bots/NAME).
 * Endpoints: GET /v1/bots, POST /v1/bots/build, GET /v1/bots/NAME, GET .../pairs, POST .../pairs/review,
 * POST .../versions, POST .../tests, POST .../tests/ID/approve, POST .../publish, POST .../keys.
 */
import { useState, type FormEvent } from 'react';
import { api, get, post, type Bot as BotObject, type BotRetrieverStatus, type BotVersion, type CreatedApiKeyObject, type ListOf, type QaPair as Pair, type TestReport as Report } from '../api';
import { GuardSelect } from '../components/Deploy';
import { useI18n } from '../i18n';
import { toBase64 } from './Knowledge';
import { FileInput, Busy, CopyButton, Empty, ErrorBox, Field, StatusBadge, Tabs, fmtPct, fmtTime, useLoad } from '../components/ui';

/** GET /v1/bots/:name adds each version's summary (its pairs counted) and the answering version's retriever. */
type Bot = BotObject & { versions?: (Pick<BotVersion, 'version' | 'status' | 'createdAt' | 'approvedReport'> & { pairs: number })[]; retriever?: BotRetrieverStatus | null };

export function Bots() {
  const { t } = useI18n();
  const bots = useLoad((s) => get<ListOf<Bot>>('/v1/bots', s), []);
  const [sel, setSel] = useState('');
  const cur = sel || bots.data?.data[0]?.name || '';
  return (
    <div className="split">
      <section className="card" aria-labelledby="bots-title">
        <h2 id="bots-title">{t('bots.list')}</h2>
        <ErrorBox error={bots.error} onRetry={bots.reload} />
        {bots.data && bots.data.data.length === 0 && <Empty>{t('bots.none')}</Empty>}
        <ul className="joblist">
          {(bots.data?.data ?? []).map((b) => (
            <li key={b.name} className={cur === b.name ? 'focused' : undefined}><button type="button" className="linkish" aria-pressed={cur === b.name} onClick={() => setSel(b.name)}><span className="mono">{b.name}</span>{b.published ? <span className="badge s-succeeded">{t('bots.published', { v: b.published.version })}</span> : <span className="badge">{t('bots.draft')}</span>}</button></li>
          ))}
        </ul>
        <BuildForm onDone={(n) => { bots.reload(); setSel(n); }} />
      </section>
      {cur ? <BotView key={cur} name={cur} onChange={bots.reload} /> : <section className="card"><Empty>{t('bots.pick')}</Empty></section>}
    </div>
  );
}

function BuildForm({ onDone }: { onDone: (name: string) => void }) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setBusy(true); setError(null);
    try { await post('/v1/bots/build', { name: name.trim(), filename: file.name, base64: toBase64(await file.arrayBuffer()) }); onDone(name.trim()); setName(''); } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <form onSubmit={submit} className="subform">
      <h3>{t('bots.build')}</h3>
      <p className="muted">{t('bots.buildIntro')}</p>
      <Field label={t('col.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}" />}</Field>
      <FileInput label={t('bots.document')} accept=".txt,.md,.html,.pdf,.docx" onFile={setFile} required />
      {busy && <Busy label={t('bots.building')} />}
      <ErrorBox error={error} />
      <button type="submit" disabled={busy || !file}>{t('bots.buildSubmit')}</button>
    </form>
  );
}

/** The bot's guard policy: a live setting (applies to the published version at once). */
function BotGuard({ name, current, onSaved }: { name: string; current: string | null; onSaved: () => void }) {
  const { t } = useI18n();
  const [value, setValue] = useState(current ?? '');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null); setSaved(false);
    try { await api('PATCH', `/v1/bots/${encodeURIComponent(name)}`, { config: { guard: value || null } }); setSaved(true); onSaved(); } catch (err) { setError(err); }
  };
  return (
    <form className="row wrap" onSubmit={save} aria-label={t('deploy.guard')}>
      <GuardSelect value={value} onChange={(v) => { setValue(v); setSaved(false); }} testId="bot-guard" />
      <button type="submit" className="small" disabled={value === (current ?? '')} data-testid="bot-guard-save">{t('bots.guardSave')}</button>
      {saved && <span className="muted" role="status">{t('bots.guardSaved')}</span>}
      <ErrorBox error={error} />
    </form>
  );
}

/**
 * The bot's retriever: whether new versions train one (a factory job per version, served as an embedding model and
 * fused with lexical matching), and the state of the answering version's.
 */
function BotRetriever({ name, enabled, status, onSaved }: { name: string; enabled: boolean; status: BotRetrieverStatus | null; onSaved: () => void }) {
  const { t } = useI18n();
  const [error, setError] = useState<unknown>(null);
  const toggle = async (on: boolean) => {
    setError(null);
    try { await api('PATCH', `/v1/bots/${encodeURIComponent(name)}`, { config: { retriever: on } }); onSaved(); } catch (err) { setError(err); }
  };
  return (
    <div className="stack" data-testid="bot-retriever">
      <label className="row"><input type="checkbox" checked={enabled} onChange={(e) => void toggle(e.target.checked)} data-testid="bot-retriever-toggle" />{t('bots.retrieverToggle')}</label>
      {status ? (
        <p className="small" data-testid="bot-retriever-status">
          {t('bots.retrieverOf', { v: status.version })} <StatusBadge status={status.status} />{' '}
          {status.status === 'training' && t('bots.retrieverTraining')}
          {status.status === 'ready' && t('bots.retrieverReady')}
          {status.job_id && <> · {t('bots.retrieverJob')} <span className="mono">{status.job_id}</span></>}
          {status.model && <> · {t('bots.retrieverModel')} <span className="mono">{status.model}</span></>}
          {status.error && <> · <span className="error">{status.error}</span></>}
        </p>
      ) : <p className="small muted" data-testid="bot-retriever-status">{t('bots.retrieverNone')}</p>}
      <ErrorBox error={error} />
    </div>
  );
}

function BotView({ name, onChange }: { name: string; onChange: () => void }) {
  const { t } = useI18n();
  const bot = useLoad((s) => get<Bot>(`/v1/bots/${encodeURIComponent(name)}`, s), [name]);
  const [tab, setTab] = useState<'pairs' | 'test' | 'widget'>('pairs');
  return (
    <section className="card" aria-labelledby="bot-title">
      <div className="row spread"><h2 id="bot-title" className="mono">{name}</h2>{bot.data?.published && <span className="badge s-succeeded">{t('bots.published', { v: bot.data.published.version })}</span>}</div>
      {bot.data?.description && <p className="muted">{bot.data.description}</p>}
      <ErrorBox error={bot.error} onRetry={bot.reload} />
      {bot.data && <BotGuard name={name} current={bot.data.config?.guard ?? null} onSaved={bot.reload} />}
      {bot.data && <BotRetriever name={name} enabled={!!bot.data.config?.retriever} status={bot.data.retriever ?? null} onSaved={bot.reload} />}
      <Tabs label={t('bots.tabs')} value={tab} onChange={setTab} tabs={[{ id: 'pairs', label: t('bots.pairs') }, { id: 'test', label: t('bots.testPublish') }, { id: 'widget', label: t('bots.widget') }]} />
      <div role="tabpanel">
        {tab === 'pairs' && <Pairs name={name} />}
        {tab === 'test' && <TestPublish name={name} bot={bot.data} onChange={() => { bot.reload(); onChange(); }} />}
        {tab === 'widget' && <Widget name={name} published={!!bot.data?.published} />}
      </div>
    </section>
  );
}

function Pairs({ name }: { name: string }) {
  const { t } = useI18n();
  const [state, setState] = useState('pending');
  const pairs = useLoad((s) => get<ListOf<Pair>>(`/v1/bots/${encodeURIComponent(name)}/pairs?state=${state}`, s), [name, state]);
  const [error, setError] = useState<unknown>(null);
  const review = async (ids: string[] | 'all-pending', action: 'approve' | 'reject') => {
    try { await post(`/v1/bots/${encodeURIComponent(name)}/pairs/review`, { ids, action }); pairs.reload(); } catch (e) { setError(e); }
  };
  const list = pairs.data?.data ?? [];
  return (
    <div className="stack">
      <div className="row spread">
        <Field label={t('kb.state')} inline>{(id) => <select id={id} value={state} onChange={(e) => setState(e.target.value)}><option value="pending">{t('status.pending')}</option><option value="approved">{t('status.approved')}</option><option value="rejected">{t('status.rejected')}</option></select>}</Field>
        {state === 'pending' && list.length > 0 && <button type="button" onClick={() => review('all-pending', 'approve')}>{t('kb.approveAll', { n: list.length })}</button>}
      </div>
      <ErrorBox error={error ?? pairs.error} onRetry={pairs.reload} />
      {pairs.loading && !pairs.data && <Busy label={t('common.loading')} />}
      {pairs.data && list.length === 0 && <Empty>{t('bots.noPairs')}</Empty>}
      <ol className="items">
        {list.slice(0, 100).map((p) => (
          <li key={p.id} className="card inner">
            <div className="row spread"><strong>{p.question}</strong><small className="muted">{p.source.docTitle} · {p.source.label}</small></div>
            {p.paraphrases.length > 0 && <p className="small muted">{t('bots.paraphrases')}: {p.paraphrases.slice(0, 3).join(' / ')}</p>}
            <p className="pre">{p.answer}</p>
            <div className="row">
              <button type="button" className="small" onClick={() => review([p.id], 'approve')} disabled={p.state === 'approved'}>{t('kb.approve')}</button>
              <button type="button" className="small danger" onClick={() => review([p.id], 'reject')} disabled={p.state === 'rejected'}>{t('kb.reject')}</button>
            </div>
          </li>
        ))}
      </ol>
      {list.length > 100 && <p className="muted">{t('bots.more', { n: list.length - 100 })}</p>}
    </div>
  );
}

function TestPublish({ name, bot, onChange }: { name: string; bot: Bot | null; onChange: () => void }) {
  const { t, lang } = useI18n();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [report, setReport] = useState<Report | null>(null);
  const base = `/v1/bots/${encodeURIComponent(name)}`;
  const run = async (what: string, fn: () => Promise<void>) => {
    setBusy(what); setError(null);
    try { await fn(); onChange(); } catch (e) { setError(e); } finally { setBusy(null); }
  };
  const versions = bot?.versions ?? [];
  return (
    <div className="stack">
      <div className="row">
        <button type="button" onClick={() => run('version', async () => { await post(`${base}/versions`); })} disabled={!!busy}>{t('bots.newVersion')}</button>
      </div>
      {busy && <Busy label={t(busy === 'test' ? 'bots.testing' : 'common.working')} />}
      <ErrorBox error={error} />
      {versions.length === 0 && <Empty>{t('bots.noVersions')}</Empty>}
      {versions.length > 0 && (
        <div className="table-wrap"><table>
          <thead><tr><th scope="col">{t('col.version')}</th><th scope="col">{t('col.status')}</th><th scope="col">{t('bots.pairs')}</th><th scope="col">{t('col.created')}</th><th scope="col"><span className="sr-only">{t('col.actions')}</span></th></tr></thead>
          <tbody>{[...versions].reverse().map((v) => (
            <tr key={v.version}>
              <td>v{v.version}</td><td><StatusBadge status={v.status} /></td><td>{v.pairs}</td><td>{fmtTime(Math.floor(v.createdAt / 1000))}</td>
              <td className="actions">
                <button type="button" className="small" disabled={!!busy} onClick={() => run('test', async () => { setReport(await post<Report>(`${base}/tests`, { version: v.version })); })}>{t('bots.runTest')}</button>
                <button type="button" className="small primary" disabled={!!busy || (v.status !== 'approved' && v.status !== 'retired')} onClick={() => run('publish', async () => { await post(`${base}/publish`, { version: v.version }); })}>{t('bots.publish')}</button>
              </td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      {report && (
        <div className="card inner" data-testid="bot-report">
          <h3>{t('bots.report', { v: report.version })}</h3>
          <dl className="facts">
            <div><dt>{t('bots.questions')}</dt><dd>{report.questions}</dd></div>
            <div><dt>Top-1</dt><dd>{fmtPct(report.top1)}%</dd></div>
            <div><dt>Top-3</dt><dd>{fmtPct(report.top3)}%</dd></div>
            <div><dt>{t('bots.grounded')}</dt><dd>{fmtPct(report.groundedness)}%</dd></div>
            <div><dt>{t('bots.fallback')}</dt><dd>{fmtPct(report.fallbackRate)}%</dd></div>
            <div><dt>p50 / p95</dt><dd>{report.p50_ms.toFixed(0)} / {report.p95_ms.toFixed(0)} ms</dd></div>
          </dl>
          {report.explain && <details data-testid="bot-report-explain"><summary>{t('bots.explain')}</summary><ul>{Object.entries(report.explain).map(([k, e]) => <li key={k}>{e[lang]}</li>)}</ul></details>}
          {report.misses.length > 0 && <details><summary>{t('bots.misses', { n: report.misses.length })}</summary><ul>{report.misses.slice(0, 30).map((m, i) => <li key={i}>{m.q} <small className="muted">({t('bots.expected')} {m.gold}, {t('bots.got')} {m.got.join(', ') || '–'})</small></li>)}</ul></details>}
          <div className="row">
            <button type="button" className="primary" disabled={!!busy || report.approval?.decision === 'approved'} onClick={() => run('approve', async () => { setReport({ ...report, ...(await post<Report>(`${base}/tests/${report.id}/approve`, { decision: 'approved' })) }); })}>{t('bots.approveReport')}</button>
            <button type="button" className="danger" disabled={!!busy} onClick={() => run('reject', async () => { setReport({ ...report, ...(await post<Report>(`${base}/tests/${report.id}/approve`, { decision: 'rejected' })) }); })}>{t('bots.rejectReport')}</button>
          </div>
        </div>
      )}
    </div>
  );
}

function Widget({ name, published }: { name: string; published: boolean }) {
  const { t } = useI18n();
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const snippet = `<script src="${location.origin}/v1/bots/${name}/widget.js" data-key="${key || 'sk-mf-…'}" data-title="${name}" async></script>`;
  const make = async () => {
    try { setKey((await post<CreatedApiKeyObject>(`/v1/bots/${encodeURIComponent(name)}/keys`, {})).key); } catch (e) { setError(e); }
  };
  return (
    <div className="stack">
      {!published && <p className="warn">{t('bots.notPublished')}</p>}
      <p>{t('bots.widgetIntro')}</p>
      <pre className="code"><code>{snippet}</code></pre>
      <div className="row"><CopyButton text={snippet} /><button type="button" onClick={make}>{t('bots.makeKey')}</button></div>
      {key && <p className="muted">{t('keys.createdOnce')}</p>}
      <ErrorBox error={error} />
    </div>
  );
}
