/**
 * Emoti Coach: practise a conversation with a persona a model plays (an upset customer, a sales objection, a refused
 * claim, or the organisation's own scenarios); a judge model scores each message against the rubric with quotes;
 * finishing gives the session's judgement (criteria, goals met, a summary, a score); the report shows progress
 * across sessions. The organisation's scenarios are uploaded as JSON (errors are shown by field).
 * Endpoints: GET /v1/models, GET /v1/coach/scenarios, PUT /v1/coach/scenarios/{id}, POST /v1/coach/sessions,
 * POST /v1/coach/sessions/{id}/messages, POST /v1/coach/sessions/{id}/finish, GET /v1/coach/report.
 */
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { api, get, post, type CoachReport, type CoachSession, type CoachTurn, type ListOf, type ModelObject, type Scenario, type TurnJudgement } from '../api';
import { useI18n } from '../i18n';
import { Chart } from '../components/Chart';
import { Empty, ErrorBox, Field, fmtTime, useLoad } from '../components/ui';

type Session = Omit<CoachSession, 'key_id'>;
type ScenarioEntry = Scenario & { source: 'builtin' | 'organisation' };

/** Criterion scores with the rubric's names (`names`: criterion id -> name). */
function Scores({ j, names, testId }: { j: Pick<TurnJudgement, 'scores'>; names: Record<string, string>; testId?: string }) {
  return (
    <ul className="scores" data-testid={testId}>
      {j.scores.map((s) => <li key={s.criterion}><strong>{names[s.criterion] ?? s.criterion}</strong> {s.score}/5 <small>{s.comment}</small>{s.quote && <q className="muted"> {s.quote}</q>}</li>)}
    </ul>
  );
}

export function Coach() {
  const { t } = useI18n();
  const models = useLoad((s) => get<ListOf<ModelObject>>('/v1/models', s), []);
  const scenarios = useLoad((s) => get<ListOf<ScenarioEntry>>('/v1/coach/scenarios', s), []);
  const report = useLoad((s) => get<CoachReport>('/v1/coach/report', s), []);
  const ids = (models.data?.data ?? []).map((m) => m.id);
  const [scenario, setScenario] = useState('');
  const [model, setModel] = useState('');
  const [judge, setJudge] = useState('');
  useEffect(() => { if (!model && ids.length) { setModel(ids[0]!); setJudge(ids[0]!); } }, [models.data]); // eslint-disable-line react-hooks/exhaustive-deps -- defaults once the list arrives
  const chosen = scenarios.data?.data.find((s) => s.id === scenario) ?? scenarios.data?.data[0];

  const [session, setSession] = useState<Session | null>(null);
  const [input, setInput] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (f: () => Promise<void>) => { setBusy(true); setError(null); try { await f(); } catch (err) { setError(err); } finally { setBusy(false); } };
  const start = () => run(async () => { setSession(await post<Session>('/v1/coach/sessions', { scenario: chosen!.id, model, judge_model: judge || model })); });
  const say = (e: FormEvent) => {
    e.preventDefault();
    const text = input.trim();
    if (!session || !text) return;
    void run(async () => {
      const r = await post<{ reply: string; judgement: TurnJudgement; session: Session }>(`/v1/coach/sessions/${encodeURIComponent(session.id)}/messages`, { content: text });
      setSession(r.session);
      setInput('');
    });
  };
  const finish = () => run(async () => { setSession(await post<Session>(`/v1/coach/sessions/${encodeURIComponent(session!.id)}/finish`, {})); report.reload(); });

  // the organisation's own scenario, as JSON
  const [json, setJson] = useState('');
  const [upError, setUpError] = useState<unknown>(null);
  const [saved, setSaved] = useState('');
  const upload = async (e: FormEvent) => {
    e.preventDefault();
    setUpError(null); setSaved('');
    let body: { id?: unknown };
    try { body = JSON.parse(json) as { id?: unknown }; } catch (err) { setUpError(new Error(`JSON: ${(err as Error).message}`)); return; }
    try {
      const r = await api<Scenario>('PUT', `/v1/coach/scenarios/${encodeURIComponent(String(body.id ?? ''))}`, body);
      setSaved(r.id);
      scenarios.reload();
    } catch (err) { setUpError(err); }
  };

  const chart = useMemo(() => {
    const r = report.data;
    if (!r?.sessions.length) return null;
    const x = r.sessions.map((s) => fmtTime(Math.floor(s.created_at / 1000)));
    return {
      animation: false, tooltip: { trigger: 'axis' }, legend: { top: 0 }, grid: { left: 40, right: 20, top: 40, bottom: 30 },
      xAxis: { type: 'category', data: x }, yAxis: [{ type: 'value', min: 0, max: 100 }, { type: 'value', min: 1, max: 5, show: false }],
      series: [{ name: t('coach.score'), type: 'line', data: r.sessions.map((s) => s.score) }, ...r.criteria.map((c) => ({ name: c.name, type: 'line', yAxisIndex: 1, data: r.sessions.map((s) => s.criteria[c.id] ?? null) }))],
    };
  }, [report.data, t]);

  const turns: CoachTurn[] = session?.turns ?? [];
  const names = Object.fromEntries((session?.scenario.rubric ?? []).map((c) => [c.id, c.name]));
  return (
    <div className="stack">
      <section className="card" aria-labelledby="coach-title">
        <h2 id="coach-title">{t('coach.title')}</h2>
        <p className="muted">{t('coach.intro')}</p>
        <ErrorBox error={models.error ?? scenarios.error} onRetry={() => { models.reload(); scenarios.reload(); }} />
        {models.data && ids.length === 0 && <Empty>{t('copilot.noModels')}</Empty>}
        <div className="row wrap">
          <Field label={t('coach.scenario')}>{(id) => (
            <select id={id} value={chosen?.id ?? ''} onChange={(e) => setScenario(e.target.value)} data-testid="coach-scenario">
              {(scenarios.data?.data ?? []).map((s) => <option key={s.id} value={s.id}>{s.title}{s.source === 'organisation' ? ` (${t('coach.own')})` : ''}</option>)}
            </select>
          )}</Field>
          <Field label={t('coach.persona')}>{(id) => <select id={id} value={model} onChange={(e) => setModel(e.target.value)} data-testid="coach-model">{ids.map((m) => <option key={m} value={m}>{m}</option>)}</select>}</Field>
          <Field label={t('coach.judge')}>{(id) => <select id={id} value={judge} onChange={(e) => setJudge(e.target.value)} data-testid="coach-judge">{ids.map((m) => <option key={m} value={m}>{m}</option>)}</select>}</Field>
        </div>
        {chosen && (
          <div className="stack">
            <p>{chosen.description}</p>
            <p><strong>{t('coach.goals')}</strong></p>
            <ol>{chosen.goals.map((g, i) => <li key={i}>{g}</li>)}</ol>
            {chosen.policies.length > 0 && <><p><strong>{t('coach.policies')}</strong></p><ul>{chosen.policies.map((p, i) => <li key={i}>{p}</li>)}</ul></>}
          </div>
        )}
        <div><button type="button" className="primary" disabled={busy || !chosen || !model} onClick={start} data-testid="coach-start">{t('coach.start')}</button></div>
      </section>

      {session && (
        <section className="card" aria-labelledby="coach-session">
          <h3 id="coach-session">{session.scenario.title} <small className="muted">{session.scenario.persona.name}</small></h3>
          <ol className="messages" aria-live="polite" data-testid="coach-log">
            {turns.map((x, i) => (
              <li key={i} className={`msg ${x.role === 'trainee' ? 'user' : 'assistant'}`}>
                <span className="bubble">{x.content}</span>
                {x.judgement && <><Scores j={x.judgement} names={names} testId="coach-turn-scores" /><small className="muted">{t('coach.tip')}: {x.judgement.tip}</small></>}
              </li>
            ))}
          </ol>
          {session.status === 'active' ? (
            <form className="row" onSubmit={say}>
              <input style={{ flex: 1 }} value={input} onChange={(e) => setInput(e.target.value)} placeholder={t('coach.placeholder')} aria-label={t('coach.placeholder')} data-testid="coach-input" />
              <button type="submit" className="primary" disabled={busy || !input.trim()} data-testid="coach-send">{busy ? t('common.working') : t('coach.send')}</button>
              <button type="button" disabled={busy || !turns.some((x) => x.role === 'trainee')} onClick={finish} data-testid="coach-finish">{t('coach.finish')}</button>
            </form>
          ) : session.judgement && (
            <div className="stack" data-testid="coach-judgement">
              <p><strong>{t('coach.score')}: {session.score}/100</strong></p>
              <Scores j={session.judgement} names={names} />
              <ul>{session.judgement.goals.map((g) => <li key={g.goal}>{g.met ? '✓' : '✗'} {session.scenario.goals[g.goal - 1]}{g.quote && <q className="muted"> {g.quote}</q>}</li>)}</ul>
              <p>{session.judgement.summary}</p>
            </div>
          )}
          <ErrorBox error={error} />
        </section>
      )}
      {!session && <ErrorBox error={error} />}

      <section className="card" aria-labelledby="coach-report">
        <h3 id="coach-report">{t('coach.report')}</h3>
        <ErrorBox error={report.error} onRetry={report.reload} />
        {report.data && report.data.sessions.length === 0 && <Empty>{t('coach.noSessions')}</Empty>}
        {chart && <Chart option={chart} height={260} label={t('coach.report')} testId="coach-chart" data={{ points: report.data!.sessions.length }} />}
        {report.data && report.data.criteria.length > 0 && (
          <div className="table-wrap">
            <table data-testid="coach-criteria">
              <thead><tr><th scope="col">{t('coach.criterion')}</th><th scope="col">{t('coach.first')}</th><th scope="col">{t('coach.last')}</th><th scope="col">{t('coach.best')}</th><th scope="col">{t('coach.mean')}</th></tr></thead>
              <tbody>{report.data.criteria.map((c) => <tr key={c.id}><td>{c.name}</td><td>{c.first}</td><td>{c.last}</td><td>{c.best}</td><td>{c.mean}</td></tr>)}</tbody>
            </table>
          </div>
        )}
      </section>

      <section className="card" aria-labelledby="coach-own">
        <h3 id="coach-own">{t('coach.ownScenario')}</h3>
        <p className="muted">{t('coach.ownIntro')}</p>
        <form onSubmit={upload} className="stack">
          <Field label={t('coach.json')}>{(id) => <textarea id={id} rows={8} className="mono" value={json} onChange={(e) => setJson(e.target.value)} data-testid="coach-json" />}</Field>
          <div className="row">
            <button type="button" onClick={() => chosen && setJson(JSON.stringify({ ...chosen, id: `${chosen.id}-copy`, source: undefined, object: undefined }, null, 2))}>{t('coach.copyChosen')}</button>
            <button type="submit" className="primary" disabled={!json.trim()}>{t('coach.upload')}</button>
          </div>
        </form>
        <ErrorBox error={upError} />
        {saved && <p role="status">{t('coach.saved', { id: saved })}</p>}
      </section>
    </div>
  );
}
