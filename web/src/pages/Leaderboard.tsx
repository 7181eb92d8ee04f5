/**
 * Leaderboard: an experiment's models ranked, sortable by the overall score and by each dimension, fine-tune vs base
 * deltas (grouped view), a radar chart of the dimensions per model, deploy from a row, and two models' answers side
 * by side on the same held-out items (the experiment's dataset, validation split, through the gateway).
 * Endpoints: GET /v1/experiments, GET /v1/experiments/ID/leaderboard, GET /v1/datasets/NAME/preview,
 * POST /v1/chat/completions.
 */
import { Fragment, useEffect, useMemo, useState } from 'react';
import { get, post, type ChatCompletion, type DatasetPreviewObject, type Experiment, type LeaderboardObject, type LeaderRow, type ListOf } from '../api';
import { useI18n } from '../i18n';
import { href, navigate } from '../router';
import { Chart, PALETTE } from '../components/Chart';
import { DeployDialog } from '../components/Deploy';
import { Busy, Empty, ErrorBox, Field, Progress, fmtDelta, fmtPct, useLoad } from '../components/ui';

type SortKey = 'overall' | string;

export function LeaderboardPage({ params }: { params: URLSearchParams }) {
  const { t } = useI18n();
  const exps = useLoad((s) => get<ListOf<Experiment>>('/v1/experiments', s), [], { every: 10000 });
  const expId = params.get('exp') ?? exps.data?.data[0]?.id ?? '';
  const exp = exps.data?.data.find((x) => x.id === expId);
  const lb = useLoad((s) => (expId ? get<LeaderboardObject>(`/v1/experiments/${encodeURIComponent(expId)}/leaderboard`, s) : Promise.resolve(null)), [expId], { every: 5000 });
  const pending = lb.data?.pending ?? 0;
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'overall', desc: true });
  const [grouped, setGrouped] = useState(false);
  const [radar, setRadar] = useState<string[]>([]);
  const [deploy, setDeploy] = useState<string | null>(null);
  const board = lb.data?.leaderboard;
  const rows = useMemo(() => board?.rows ?? [], [board]);
  // A fine-tune's row is named after its job ("base x dataset x method"); the gateway serves it as the job's model.
  const served = (r: LeaderRow) => exp?.jobs.find((j) => j.modelfab?.name === r.modelId)?.fine_tuned_model ?? r.modelId;

  useEffect(() => {
    if (!board || radar.length) return;
    setRadar(board.rows.filter((r) => r.overall !== null).slice(0, 4).map((r) => r.modelId));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the default radar once a board arrives, not after the user's picks
  }, [board]);

  const score = (r: LeaderRow, k: SortKey) => (k === 'overall' ? r.overall : r.dimensions[k]?.score ?? null);
  const sorted = useMemo(() => [...rows].sort((a, b) => {
    const x = score(a, sort.key), y = score(b, sort.key);
    if (x === null && y === null) return a.name.localeCompare(b.name);
    if (x === null) return 1;
    if (y === null) return -1;
    return sort.desc ? y - x : x - y;
  }), [rows, sort]);

  const head = (k: SortKey, label: string) => {
    const active = sort.key === k;
    return (
      <th scope="col" aria-sort={active ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
        <button type="button" className="sort" onClick={() => setSort({ key: k, desc: active ? !sort.desc : true })} data-testid={`sort-${k}`}>
          {label} <span aria-hidden="true">{active ? (sort.desc ? '▼' : '▲') : '↕'}</span>
        </button>
      </th>
    );
  };

  const dims = useMemo(() => board?.dimensions ?? [], [board]);
  const radarOption = useMemo(() => ({
    animation: false, tooltip: {}, legend: { type: 'scroll', bottom: 0 },
    radar: { indicator: dims.map((d) => ({ name: t(`dim.${d}`, {}, d), max: 1 })), radius: '62%', center: ['50%', '46%'] },
    series: [{
      type: 'radar', areaStyle: { opacity: 0.08 },
      data: radar.map((id, i) => {
        const r = rows.find((x) => x.modelId === id);
        return { name: r?.name ?? id, value: dims.map((d) => r?.dimensions[d]?.score ?? 0), itemStyle: { color: PALETTE[i % PALETTE.length] } };
      }),
    }],
  }), [radar, rows, dims, t]);

  const row = (r: LeaderRow, indent = false) => (
    <tr key={r.modelId + (indent ? '-g' : '')} className={r.isBase ? 'base-row' : undefined}>
      <td>{r.rank ?? '–'}</td>
      <td className="mono">{indent && '└ '}{r.name}{r.isBase && <small className="tag">{t('lb.base')}</small>}</td>
      <td className="num strong">{fmtPct(r.overall)}</td>
      {dims.map((d) => (
        <td key={d} className="num">{fmtPct(r.dimensions[d]?.score)}{grouped && r.delta?.dimensions[d] != null && <small className={r.delta.dimensions[d]! >= 0 ? 'up' : 'down'}> {fmtDelta(r.delta.dimensions[d])}</small>}</td>
      ))}
      <td className={`num ${(r.delta?.overall ?? 0) >= 0 ? 'up' : 'down'}`}>{r.delta ? fmtDelta(r.delta.overall) : ''}</td>
      <td className="actions">
        <label className="check"><input type="checkbox" checked={radar.includes(r.modelId)} onChange={() => setRadar((s) => (s.includes(r.modelId) ? s.filter((x) => x !== r.modelId) : [...s, r.modelId].slice(-6)))} aria-label={t('lb.inRadar', { name: r.name })} /> <span aria-hidden="true">{t('lb.radarShort')}</span></label>
        <button type="button" className="small" onClick={() => setDeploy(served(r))} data-testid={`deploy-${r.rank ?? 'x'}`}>{t('lb.deploy')}</button>
      </td>
    </tr>
  );

  return (
    <div className="stack">
      <div className="row wrap">
        <label className="field inline">
          <span>{t('runs.experiment')}</span>
          <select value={expId} onChange={(e) => navigate('leaderboard', { exp: e.target.value })} data-testid="lb-exp">
            {(exps.data?.data ?? []).map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
          </select>
        </label>
        {expId && <a href={href('runs', { exp: expId })}>{t('lb.toRuns')}</a>}
      </div>
      <ErrorBox error={exps.error ?? lb.error} onRetry={() => { exps.reload(); lb.reload(); }} />
      {exps.data && exps.data.data.length === 0 && <Empty>{t('lb.noExperiments')} <a href={href('factory')}>{t('runs.startOne')}</a></Empty>}
      {lb.loading && !lb.data && expId && <Busy label={t('common.loading')} />}
      {pending > 0 && (
        <div className="notice" role="status"><Progress value={exp ? 1 - pending / Math.max(1, exp.jobs.length) : null} label={t('lb.pending', { n: pending })} /><span>{t('lb.pending', { n: pending })}</span></div>
      )}
      {board && rows.length === 0 && <Empty>{t('lb.noScores')}</Empty>}
      {board && rows.length > 0 && (
        <>
          <section className="card" aria-labelledby="lb-title">
            <div className="row spread">
              <h2 id="lb-title">{t('lb.ranking')} <small className="muted">{board.suite}</small></h2>
              <label className="check"><input type="checkbox" checked={grouped} onChange={(e) => setGrouped(e.target.checked)} data-testid="lb-grouped" /> {t('lb.grouped')}</label>
            </div>
            <p className="muted">{t('lb.explain')}</p>
            <div className="table-wrap">
              <table data-testid="leaderboard">
                <thead><tr>
                  <th scope="col">{t('lb.rank')}</th><th scope="col">{t('lb.model')}</th>
                  {head('overall', t('lb.overall'))}
                  {dims.map((d) => <Fragment key={d}>{head(d, t(`dim.${d}`, {}, d))}</Fragment>)}
                  <th scope="col">{t('lb.vsBase')}</th><th scope="col"><span className="sr-only">{t('col.actions')}</span></th>
                </tr></thead>
                <tbody>
                  {grouped ? board.groups.flatMap((g) => [...(g.base ? [row(g.base)] : []), ...g.finetunes.map((f) => row(f, true))]) : sorted.map((r) => row(r))}
                </tbody>
              </table>
            </div>
          </section>
          <div className="split even">
            <section className="card" aria-labelledby="radar-title">
              <h2 id="radar-title">{t('lb.radar')}</h2>
              {radar.length === 0 ? <Empty>{t('lb.pickRadar')}</Empty> : <Chart option={radarOption} height={340} label={t('lb.radarLabel', { names: radar.join(', ') })} testId="radar" />}
            </section>
            <Compare rows={rows} served={served} datasets={exp?.spec.datasets ?? []} />
          </div>
        </>
      )}
      {deploy && <DeployDialog model={deploy} open onClose={() => setDeploy(null)} />}
    </div>
  );
}


interface Item { prompt: { role: string; content: string }[]; reference: string }

function Compare({ rows, served, datasets }: { rows: LeaderRow[]; served: (r: LeaderRow) => string; datasets: string[] }) {
  const { t } = useI18n();
  const [a, setA] = useState(rows[0]?.modelId ?? '');
  const [b, setB] = useState(rows.find((r) => r.isBase)?.modelId ?? rows[1]?.modelId ?? '');
  const [ds, setDs] = useState(datasets[0] ?? '');
  const [n, setN] = useState('4');
  const [items, setItems] = useState<{ item: Item; a?: string; b?: string }[]>([]);
  const [done, setDone] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const ask = async (model: string, messages: Item['prompt']) => {
    const r = await post<ChatCompletion>('/v1/chat/completions', { model, messages, max_tokens: 96, temperature: 0 });
    return r.choices[0]?.message.content ?? '';
  };
  const run = async () => {
    setBusy(true);
    setError(null);
    setDone(0);
    try {
      let p = await get<DatasetPreviewObject>(`/v1/datasets/${encodeURIComponent(ds)}/preview?split=validation&n=${Number(n) || 4}`).catch(() => null);
      if (!p || p.data.length === 0) p = await get(`/v1/datasets/${encodeURIComponent(ds)}/preview?n=${Number(n) || 4}`);
      const list: Item[] = p!.data.map((d) => {
        const msgs = 'messages' in d.record ? d.record.messages : [];
        const last = msgs.map((m) => m.role).lastIndexOf('assistant');
        return { prompt: msgs.slice(0, last < 0 ? msgs.length : last), reference: last < 0 ? '' : msgs[last]!.content };
      }).filter((x) => x.prompt.length > 0);
      const out = list.map((item) => ({ item } as { item: Item; a?: string; b?: string }));
      setItems([...out]);
      for (let i = 0; i < out.length; i++) {
        const model = (id: string) => { const r = rows.find((x) => x.modelId === id); return r ? served(r) : id; };
        const [x, y] = await Promise.all([ask(model(a), out[i]!.item.prompt), ask(model(b), out[i]!.item.prompt)]);
        out[i] = { ...out[i]!, a: x, b: y };
        setItems([...out]);
        setDone(i + 1);
      }
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const opts = rows.map((r) => <option key={r.modelId} value={r.modelId}>{r.name}</option>);
  return (
    <section className="card" aria-labelledby="cmp-title">
      <h2 id="cmp-title">{t('lb.compare')}</h2>
      <p className="muted">{t('lb.compareIntro')}</p>
      <div className="row wrap">
        <Field label={t('lb.modelA')}>{(id) => <select id={id} value={a} onChange={(e) => setA(e.target.value)}>{opts}</select>}</Field>
        <Field label={t('lb.modelB')}>{(id) => <select id={id} value={b} onChange={(e) => setB(e.target.value)}>{opts}</select>}</Field>
        <Field label={t('lb.items')}>{(id) => <select id={id} value={ds} onChange={(e) => setDs(e.target.value)}>{datasets.map((d) => <option key={d}>{d}</option>)}</select>}</Field>
        <Field label={t('lb.count')}>{(id) => <input id={id} className="narrow" type="number" min={1} max={20} value={n} onChange={(e) => setN(e.target.value)} />}</Field>
      </div>
      <button type="button" onClick={run} disabled={busy || !a || !b || !ds}>{t('lb.runCompare')}</button>
      {busy && <Progress value={items.length ? done / items.length : null} label={t('lb.comparing', { k: done, n: items.length })} />}
      <ErrorBox error={error} />
      {items.length > 0 && (
        <div className="compare">
          {items.map((x, i) => (
            <article key={i} className="cmp-item">
              <p className="prompt"><strong>{i + 1}.</strong> {x.item.prompt.filter((m) => m.role === 'user').at(-1)?.content}</p>
              <div className="cmp-cols">
                <div><h4>{rows.find((r) => r.modelId === a)?.name ?? a}</h4><p>{x.a ?? '…'}</p></div>
                <div><h4>{rows.find((r) => r.modelId === b)?.name ?? b}</h4><p>{x.b ?? '…'}</p></div>
              </div>
              {x.item.reference && <p className="reference"><small>{t('lb.reference')}</small> {x.item.reference}</p>}
            </article>
          ))}
        </div>
      )}
    </section>
  );
}
