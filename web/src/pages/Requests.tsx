/**
 * Requests: the request log, newest first (every answer of the gateway, the bots and the playground), filtered by
 * model, source and guard outcome ("guarded": anything the guard did not simply pass), 50 at a time with "load more"
 * (the `before` cursor); a row opens to the whole prompt, the answer and the guard's verdicts. Filters live in the
 * URL (#/requests?model=…&outcome=…), so a view can be linked to.
 * Endpoints: GET /v1/requests, GET /v1/requests/ID.
 */
import { Fragment, useEffect, useState, type FormEvent } from 'react';
import { get, type ListOf, type RequestEntry } from '../api';
import { useI18n } from '../i18n';
import { navigate } from '../router';
import { Busy, Empty, ErrorBox, Field, fmtNum, fmtTime, useLoad } from '../components/ui';
import { OutcomeBadge, Verdicts } from '../components/Guard';

const OUTCOMES = ['', 'guarded', 'passed', 'flagged', 'rewritten', 'refused'] as const;
const SOURCES = ['', 'api', 'playground', 'bot', 'writer', 'coach', 'images'] as const;
const PAGE = 50;

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
const lastUser = (r: RequestEntry) => [...r.prompt].reverse().find((m) => m.role === 'user')?.content ?? '';

export function Requests({ params }: { params: URLSearchParams }) {
  const { t } = useI18n();
  const model = params.get('model') ?? '';
  const outcome = params.get('outcome') ?? '';
  const source = params.get('source') ?? '';
  const query = (before?: string) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (model) q.set('model', model);
    if (outcome) q.set('outcome', outcome);
    if (source) q.set('source', source);
    if (before) q.set('before', before);
    return `/v1/requests?${q}`;
  };
  const first = useLoad((s) => get<ListOf<RequestEntry>>(query(), s), [model, outcome, source]);
  const [more, setMore] = useState<{ rows: RequestEntry[]; hasMore: boolean } | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string | null>(params.get('id'));
  useEffect(() => { setMore(null); setError(null); }, [first.data]);

  const rows = [...(first.data?.data ?? []), ...(more?.rows ?? [])];
  const hasMore = more ? more.hasMore : !!first.data?.has_more;
  const loadMore = async () => {
    setLoadingMore(true); setError(null);
    try {
      const r = await get<ListOf<RequestEntry>>(query(rows.at(-1)?.id));
      setMore((m) => ({ rows: [...(m?.rows ?? []), ...r.data], hasMore: !!r.has_more }));
    } catch (e) { setError(e); } finally { setLoadingMore(false); }
  };
  const filter = (f: Record<string, string>) => navigate('requests', Object.fromEntries(Object.entries({ model, outcome, source, ...f }).map(([k, v]) => [k, v || undefined])));

  return (
    <div className="stack">
      <Filters model={model} outcome={outcome} source={source} onChange={filter} onRefresh={first.reload} />
      {open && !rows.some((r) => r.id === open) && !first.loading && <LinkedDetail id={open} onClose={() => setOpen(null)} />}
      <section className="card" aria-labelledby="req-title">
        <h2 id="req-title">{t('req.title')}</h2>
        <ErrorBox error={first.error} onRetry={first.reload} />
        {first.loading && !first.data && <Busy label={t('common.loading')} />}
        {first.data && rows.length === 0 && <Empty>{model || outcome || source ? t('req.noneFiltered') : t('req.none')}</Empty>}
        {rows.length > 0 && (
          <div className="table-wrap"><table data-testid="requests">
            <thead><tr>
              <th scope="col">{t('col.time')}</th><th scope="col">{t('col.model')}</th><th scope="col">{t('req.source')}</th><th scope="col">{t('req.prompt')}</th>
              <th scope="col">{t('req.answer')}</th><th scope="col">{t('req.outcome')}</th><th scope="col">{t('req.guardMs')}</th><th scope="col"><span className="sr-only">{t('col.actions')}</span></th>
            </tr></thead>
            <tbody>{rows.map((r) => (
              <Fragment key={r.id}>
                <tr className={r.id === open ? 'selected' : undefined} data-testid="request-row" data-id={r.id} data-outcome={r.outcome ?? ''}>
                  <td className="small">{fmtTime(r.created_at)}</td><td className="mono small">{r.model ?? '–'}</td><td>{t(`req.source.${r.source}`, {}, r.source)}</td>
                  <td className="small">{clip(lastUser(r), 60)}</td><td className="small">{clip(r.answer, 80)}</td>
                  <td>{r.outcome ? <OutcomeBadge outcome={r.outcome} /> : <span className="muted">{t('req.noGuard')}</span>}</td>
                  <td>{r.guard_ms === null ? '–' : fmtNum(r.guard_ms, 1)}</td>
                  <td><button type="button" className="small" aria-expanded={r.id === open} onClick={() => setOpen(r.id === open ? null : r.id)} data-testid="request-open">{t('req.open')}</button></td>
                </tr>
                {r.id === open && <tr className="detail-row"><td colSpan={8}><Detail r={r} /></td></tr>}
              </Fragment>
            ))}</tbody>
          </table></div>
        )}
        <ErrorBox error={error} onRetry={loadMore} />
        {hasMore && <button type="button" onClick={() => void loadMore()} disabled={loadingMore} data-testid="requests-more">{loadingMore ? t('common.loading') : t('req.more')}</button>}
      </section>
    </div>
  );
}

function Filters({ model, outcome, source, onChange, onRefresh }: { model: string; outcome: string; source: string; onChange: (f: Record<string, string>) => void; onRefresh: () => void }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(model);
  useEffect(() => setDraft(model), [model]);
  const submit = (e: FormEvent) => { e.preventDefault(); onChange({ model: draft.trim() }); };
  return (
    <form className="card row wrap" onSubmit={submit} aria-label={t('req.filters')}>
      <Field label={t('col.model')}>{(id) => <input id={id} value={draft} onChange={(e) => setDraft(e.target.value)} placeholder={t('req.modelHint')} data-testid="requests-model" />}</Field>
      <Field label={t('req.outcome')}>{(id) => (
        <select id={id} value={outcome} onChange={(e) => onChange({ model: draft.trim(), outcome: e.target.value })} data-testid="requests-outcome">
          {OUTCOMES.map((o) => <option key={o} value={o}>{o ? t(`guard.${o}`) : t('req.all')}</option>)}
        </select>
      )}</Field>
      <Field label={t('req.source')}>{(id) => (
        <select id={id} value={source} onChange={(e) => onChange({ model: draft.trim(), source: e.target.value })} data-testid="requests-source">
          {SOURCES.map((s) => <option key={s} value={s}>{s ? t(`req.source.${s}`) : t('req.all')}</option>)}
        </select>
      )}</Field>
      <button type="submit">{t('req.apply')}</button>
      <button type="button" onClick={onRefresh}>{t('req.refresh')}</button>
    </form>
  );
}

function Detail({ r }: { r: RequestEntry }) {
  const { t } = useI18n();
  return (
    <div className="stack request-detail" data-testid="request-detail">
      <dl className="facts">
        <div><dt>{t('req.id')}</dt><dd className="mono small">{r.id}</dd></div>
        <div><dt>{t('col.time')}</dt><dd>{fmtTime(r.created_at)}</dd></div>
        <div><dt>{t('req.key')}</dt><dd className="mono small">{r.key_id ?? '–'}</dd></div>
        <div><dt>{t('req.policies')}</dt><dd className="mono small">{r.policies.length ? r.policies.join(', ') : '–'}</dd></div>
      </dl>
      <div>
        <h3>{t('req.prompt')}</h3>
        <ol className="messages plain">
          {r.prompt.map((m, i) => <li key={i} className={`msg ${m.role === 'user' ? 'user' : 'assistant'}`}><span className="who">{m.role}</span><div className="bubble">{m.content}</div></li>)}
        </ol>
      </div>
      <div>
        <h3>{t('req.answer')} {r.outcome && <OutcomeBadge outcome={r.outcome} />}</h3>
        <p className="pre" data-testid="request-answer">{r.answer}</p>
      </div>
      <div>
        <h3>{t('req.verdicts')}</h3>
        {r.outcome === null ? <p className="muted">{t('req.noGuard')}</p> : <Verdicts verdicts={r.guard} />}
      </div>
    </div>
  );
}

/** A request linked to by id (#/requests?id=…) that is not among the rows loaded. */
function LinkedDetail({ id, onClose }: { id: string; onClose: () => void }) {
  const { t } = useI18n();
  const r = useLoad((s) => get<RequestEntry>(`/v1/requests/${encodeURIComponent(id)}`, s), [id]);
  return (
    <section className="card" aria-labelledby="req-linked">
      <div className="row spread"><h2 id="req-linked">{t('req.request')}</h2><button type="button" className="small" onClick={onClose}>{t('action.close')}</button></div>
      <ErrorBox error={r.error} onRetry={r.reload} />
      {r.loading && !r.data && <Busy label={t('common.loading')} />}
      {r.data && <Detail r={r.data} />}
    </section>
  );
}
