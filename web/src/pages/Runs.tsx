/**
 * Runs: fine-tuning jobs with live loss and eval-loss curves (one server-sent-event stream per selected job, several
 * jobs overlaid), progress and ETA, logs (events), checkpoints, and cancel / pause / resume.
 * Endpoints: GET /v1/experiments[/ID], GET /v1/fine_tuning/jobs, GET .../ID/metrics?stream=true (SSE: `metrics`,
 * `status`), GET .../ID/events, GET .../ID/checkpoints, POST .../ID/cancel|pause|resume.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { get, post, sse, type CheckpointObject, type Experiment, type Job, type JobEventObject, type ListOf, type Metric } from '../api';
import { useI18n } from '../i18n';
import { href, navigate } from '../router';
import { Chart, PALETTE } from '../components/Chart';
import { Busy, Dialog, Empty, ErrorBox, Progress, StatusBadge, Tabs, fmtClock, fmtDuration, fmtLoss, fmtNum, fmtTime, useLoad } from '../components/ui';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const MAX_OVERLAY = 8;

/** One SSE stream per job id; returns the metrics seen so far and the latest job objects from `status` events. */
function useMetricStreams(ids: string[]) {
  const [metrics, setMetrics] = useState<Record<string, Metric[]>>({});
  const [status, setStatus] = useState<Record<string, Job>>({});
  const streams = useRef(new Map<string, AbortController>());
  const key = ids.join(',');
  useEffect(() => {
    const want = new Set(ids);
    for (const [id, ac] of streams.current) if (!want.has(id)) { ac.abort(); streams.current.delete(id); }
    for (const id of ids) {
      if (streams.current.has(id)) continue;
      const ac = new AbortController();
      streams.current.set(id, ac);
      setMetrics((m) => ({ ...m, [id]: [] }));
      void (async () => {
        let buffer: Metric[] = [];
        let timer: ReturnType<typeof setTimeout> | null = null;
        const flush = () => { timer = null; const add = buffer; buffer = []; setMetrics((m) => ({ ...m, [id]: [...(m[id] ?? []), ...add] })); };
        try {
          for await (const ev of sse(`/v1/fine_tuning/jobs/${encodeURIComponent(id)}/metrics?stream=true`, { signal: ac.signal })) {
            const data = JSON.parse(ev.data);
            if (ev.event === 'metrics') { buffer.push(data as Metric); if (!timer) timer = setTimeout(flush, 200); }
            else if (ev.event === 'status') setStatus((s) => ({ ...s, [id]: data as Job }));
          }
        } catch { /* aborted or the server went away: the list poll shows the state */ }
        if (timer) { clearTimeout(timer); flush(); }
      })();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps -- one event stream per set of followed jobs (`key`)
  }, [key]);
  useEffect(() => () => { for (const ac of streams.current.values()) ac.abort(); streams.current.clear(); }, []);
  return { metrics, status };
}

export function Runs({ params }: { params: URLSearchParams }) {
  const { t } = useI18n();
  const expId = params.get('exp') ?? '';
  const exps = useLoad((s) => get<ListOf<Experiment>>('/v1/experiments', s), []);
  const jobs = useLoad<Job[]>(async (s) => (expId ? (await get<Experiment>(`/v1/experiments/${encodeURIComponent(expId)}`, s)).jobs : (await get<ListOf<Job>>('/v1/fine_tuning/jobs?limit=100', s)).data), [expId], { every: 4000 });
  const [selected, setSelected] = useState<string[]>([]);
  const [focus, setFocus] = useState<string | null>(params.get('job'));

  // default selection: the experiment's jobs (or the most recent job)
  const list = useMemo(() => jobs.data ?? [], [jobs.data]);
  useEffect(() => {
    if (!jobs.data) return;
    setSelected((cur) => {
      const keep = cur.filter((id) => list.some((j) => j.id === id));
      if (keep.length) return keep;
      const pick = expId ? list.slice(0, MAX_OVERLAY).map((j) => j.id) : list.slice(0, 1).map((j) => j.id);
      return pick;
    });
    setFocus((f) => (f && list.some((j) => j.id === f) ? f : list[0]?.id ?? null));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `list` is derived from jobs.data
  }, [jobs.data, expId]);

  const { metrics, status } = useMetricStreams(selected);
  const job = (id: string) => ({ ...list.find((j) => j.id === id)!, ...(status[id] ?? {}) }) as Job;
  /** A queued job that builds on another still to finish (its base pretraining; the SFT job before a DPO one). */
  const waitsFor = (j: Job): string | null => {
    const inList = (id: string) => list.some((x) => x.id === id);
    const open = (j.modelfab?.depends_on ?? []).filter((id) => !inList(id) || job(id).status !== 'succeeded');
    return open.length ? open.map((id) => (inList(id) ? label(job(id)) : id)).join(', ') : null;
  };
  const label = (j: Job) => j.modelfab?.name || j.id;

  const option = useMemo(() => {
    const series: unknown[] = [];
    selected.forEach((id, i) => {
      const j = list.find((x) => x.id === id);
      if (!j) return;
      const color = PALETTE[i % PALETTE.length];
      const m = metrics[id] ?? [];
      series.push({ name: `${label(j)} · ${t('runs.loss')}`, type: 'line', showSymbol: false, color, data: m.map((r) => [r.step, r.loss]) });
      const ev = m.filter((r) => r.eval_loss !== undefined);
      if (ev.length) series.push({ name: `${label(j)} · ${t('runs.evalLoss')}`, type: 'line', color, lineStyle: { type: 'dashed' }, symbol: 'circle', symbolSize: 6, data: ev.map((r) => [r.step, r.eval_loss]) });
    });
    return {
      animation: false, tooltip: { trigger: 'axis' }, legend: { type: 'scroll', bottom: 0 },
      grid: { left: 48, right: 16, top: 16, bottom: 64 },
      xAxis: { type: 'value', name: t('runs.step'), nameLocation: 'middle', nameGap: 24, minInterval: 1 },
      yAxis: { type: 'value', scale: true, name: t('runs.loss') }, series,
    };
  }, [metrics, selected, list, t]);
  const points = selected.reduce((a, id) => a + (metrics[id]?.length ?? 0), 0);

  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : s.length >= MAX_OVERLAY ? s : [...s, id]));

  return (
    <div className="stack">
      <div className="row wrap">
        <label className="field inline">
          <span>{t('runs.experiment')}</span>
          <select value={expId} onChange={(e) => navigate('runs', { exp: e.target.value || undefined })} data-testid="runs-exp">
            <option value="">{t('runs.allJobs')}</option>
            {(exps.data?.data ?? []).map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
          </select>
        </label>
        {expId && <a href={href('leaderboard', { exp: expId })}>{t('runs.toLeaderboard')}</a>}
      </div>
      <ErrorBox error={jobs.error} onRetry={jobs.reload} />
      {jobs.loading && !jobs.data && <Busy label={t('common.loading')} />}
      {jobs.data && list.length === 0 && <Empty>{t('runs.noJobs')} <a href={href('factory')}>{t('runs.startOne')}</a></Empty>}
      {list.length > 0 && (
        <div className="split">
          <section className="card" aria-labelledby="jobs-title">
            <h2 id="jobs-title">{t('runs.jobs')}</h2>
            <p className="muted">{t('runs.overlayHint', { n: MAX_OVERLAY })}</p>
            <ul className="joblist">
              {list.map((j0) => {
                const j = job(j0.id);
                const est = j.modelfab?.total_steps ?? 0;
                const step = metrics[j.id]?.at(-1)?.step ?? j.modelfab?.step ?? 0;
                return (
                  <li key={j.id} className={focus === j.id ? 'focused' : undefined}>
                    <label className="check"><input type="checkbox" checked={selected.includes(j.id)} onChange={() => toggle(j.id)} aria-label={t('runs.overlay', { name: label(j) })} /></label>
                    <button type="button" className="linkish" onClick={() => setFocus(j.id)} aria-pressed={focus === j.id}>
                      <span className="mono">{label(j)}</span>
                      <span className="row"><StatusBadge status={j.status} />{j.status === 'running' && est > 0 && <small>{fmtNum(step)}/{fmtNum(est)}</small>}{j.status === 'queued' && waitsFor(j) && <small className="muted">{t('runs.after', { name: waitsFor(j)! })}</small>}</span>
                    </button>
                  </li>
                );
              })}
            </ul>
          </section>
          <div className="stack">
            <section className="card" aria-labelledby="curve-title">
              <h2 id="curve-title">{t('runs.curves')}</h2>
              {selected.length === 0 ? <Empty>{t('runs.pickJobs')}</Empty> : (
                <Chart option={option} height={340} label={t('runs.chartLabel', { n: selected.length })} testId="loss-chart" data={{ points }} />
              )}
            </section>
            {focus && list.some((j) => j.id === focus) && <JobDetail job={job(focus)} metrics={metrics[focus] ?? []} onChange={jobs.reload} />}
          </div>
        </div>
      )}
    </div>
  );
}

function JobDetail({ job, metrics, onChange }: { job: Job; metrics: Metric[]; onChange: () => void }) {
  const { t } = useI18n();
  const [tab, setTab] = useState<'logs' | 'checkpoints'>('logs');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirm, setConfirm] = useState(false);
  const live = !TERMINAL.includes(job.status);
  const events = useLoad((s) => get<ListOf<JobEventObject>>(`/v1/fine_tuning/jobs/${job.id}/events?limit=200`, s), [job.id], { every: 3000, poll: live && tab === 'logs' });
  const ckpts = useLoad((s) => get<ListOf<CheckpointObject>>(`/v1/fine_tuning/jobs/${job.id}/checkpoints`, s), [job.id, tab], { every: 5000, poll: live && tab === 'checkpoints' });
  const last = metrics.at(-1);
  const lastEval = [...metrics].reverse().find((m) => m.eval_loss !== undefined);
  const steps = job.modelfab?.total_steps ?? 0;
  const act = async (what: 'cancel' | 'pause' | 'resume') => {
    setBusy(what);
    setError(null);
    try { await post(`/v1/fine_tuning/jobs/${job.id}/${what}`); onChange(); } catch (e) { setError(e); } finally { setBusy(null); setConfirm(false); }
  };
  return (
    <section className="card" aria-labelledby="job-title" data-testid="job-detail">
      <div className="row spread">
        <h2 id="job-title" className="mono">{job.modelfab?.name || job.id}</h2>
        <StatusBadge status={job.status} />
      </div>
      <dl className="facts">
        <div><dt>{t('runs.id')}</dt><dd className="mono">{job.id}</dd></div>
        <div><dt>{t('runs.base')}</dt><dd className="mono">{job.model}</dd></div>
        <div><dt>{t('runs.dataset')}</dt><dd>{job.modelfab?.dataset ?? '–'}</dd></div>
        <div><dt>{t('runs.method')}</dt><dd>{String(job.hyperparameters?.fine_tuning_method ?? '–')}</dd></div>
        <div><dt>{t('runs.trainer')}</dt><dd>{job.modelfab?.trainer ?? 'engine'}{job.modelfab?.device ? <small className="muted"> · {job.modelfab.device}</small> : null}</dd></div>
        {job.modelfab?.runner && <div><dt>{t('runs.runner')}</dt><dd className="mono">{job.modelfab.runner}{job.modelfab.runner_node ? ` · ${job.modelfab.runner_node}` : null}{job.modelfab.runner_ref ? <small className="muted"> · {job.modelfab.runner_ref}</small> : null}</dd></div>}
        {(job.modelfab?.nodes ?? 1) > 1 && <div><dt>{t('runs.nodes')}</dt><dd>{job.modelfab!.nodes} × {job.modelfab!.processes}</dd></div>}
        <div><dt>{t('runs.step')}</dt><dd>{fmtNum(last?.step ?? job.modelfab?.step)}{steps ? ` / ${fmtNum(steps)}` : ''}</dd></div>
        <div><dt>{t('runs.loss')}</dt><dd>{fmtLoss(last?.loss)}</dd></div>
        <div><dt>{t('runs.evalLoss')}</dt><dd>{fmtLoss(lastEval?.eval_loss ?? job.modelfab?.eval_loss)}{job.modelfab?.eval_loss_before != null && <small className="muted"> ({t('runs.before')} {fmtLoss(job.modelfab.eval_loss_before)})</small>}</dd></div>
        <div><dt>{t('runs.speed')}</dt><dd>{last ? `${fmtNum(last.tokens_per_s)} tok/s` : '–'}</dd></div>
        <div><dt>{t('runs.eta')}</dt><dd>{job.status === 'running' && last ? fmtDuration(last.eta_s) : '–'}</dd></div>
        {job.fine_tuned_model && <div className="wide"><dt>{t('runs.model')}</dt><dd className="mono">{job.fine_tuned_model}</dd></div>}
      </dl>
      {job.status === 'running' && <Progress value={steps ? (last?.step ?? 0) / steps : null} label={t('runs.progress')} />}
      {job.error && <div className="error" role="alert"><strong>{job.error.message}</strong><p>{t('runs.failedHint')}</p></div>}
      <ErrorBox error={error} />
      <div className="row">
        {(job.status === 'running' || job.status === 'queued') && <button type="button" onClick={() => act('pause')} disabled={!!busy}>{busy === 'pause' ? t('common.working') : t('runs.pause')}</button>}
        {job.status === 'paused' && <button type="button" onClick={() => act('resume')} disabled={!!busy}>{busy === 'resume' ? t('common.working') : t('runs.resume')}</button>}
        {live && <button type="button" className="danger" onClick={() => setConfirm(true)} disabled={!!busy}>{t('runs.cancel')}</button>}
        {job.status === 'succeeded' && job.fine_tuned_model && <a className="button" href={href('models', { deploy: job.fine_tuned_model })}>{t('runs.deploy')}</a>}
        {job.status === 'succeeded' && job.fine_tuned_model && <a className="button" href={href('playground', { model: job.fine_tuned_model })}>{t('runs.try')}</a>}
      </div>
      <Dialog open={confirm} title={t('runs.cancelTitle')} onClose={() => setConfirm(false)}>
        <form method="dialog" onSubmit={(e) => { e.preventDefault(); void act('cancel'); }}>
          <p>{t('runs.cancelBody', { name: job.modelfab?.name || job.id })}</p>
          <div className="row end"><button type="button" onClick={() => setConfirm(false)}>{t('action.keep')}</button><button type="submit" className="danger" autoFocus>{t('runs.cancel')}</button></div>
        </form>
      </Dialog>
      <Tabs label={t('runs.detailTabs')} value={tab} onChange={setTab} tabs={[{ id: 'logs', label: t('runs.logs') }, { id: 'checkpoints', label: t('runs.checkpoints') }]} />
      <div role="tabpanel">
        {tab === 'logs' && (
          <>
            <ErrorBox error={events.error} onRetry={events.reload} />
            <ol className="log" data-testid="logs" aria-live="polite">
              {[...(events.data?.data ?? [])].reverse().map((e) => (
                <li key={e.id} className={`lvl-${e.level}`}><time>{fmtClock(e.created_at)}</time> {e.message}</li>
              ))}
            </ol>
            {events.data && events.data.data.length === 0 && <Empty>{t('runs.noLogs')}</Empty>}
          </>
        )}
        {tab === 'checkpoints' && (
          <>
            <ErrorBox error={ckpts.error} onRetry={ckpts.reload} />
            {ckpts.data && ckpts.data.data.length === 0 && <Empty>{t('runs.noCheckpoints')}</Empty>}
            {ckpts.data && ckpts.data.data.length > 0 && (
              <div className="table-wrap"><table>
                <thead><tr><th scope="col">{t('runs.step')}</th><th scope="col">{t('col.created')}</th><th scope="col">{t('col.metrics')}</th><th scope="col">{t('col.checkpoint')}</th></tr></thead>
                <tbody>{ckpts.data.data.map((c) => <tr key={c.id}><td>{c.step_number}</td><td>{fmtTime(c.created_at)}</td><td>{Object.entries(c.metrics ?? {}).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : v}`).join(' · ')}</td><td className="mono small">{c.fine_tuned_model_checkpoint}</td></tr>)}</tbody>
              </table></div>
            )}
          </>
        )}
      </div>
    </section>
  );
}
