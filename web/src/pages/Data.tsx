/**
 * Data: datasets. Import a file (upload, then validation: every problem listed by file and line), the list, and for
 * one dataset a preview through a chat template and its statistics (tokens, lengths with a histogram, languages).
 * Endpoints: POST /v1/files, POST /v1/datasets, GET /v1/datasets, GET /v1/datasets/ID, GET .../preview, DELETE.
 */
import { useMemo, useState, type FormEvent } from 'react';
import { del, get, post, upload, type Dataset, type DatasetPreviewObject, type ListOf } from '../api';
import type { ImportBody } from '../../../src/api/routes/datasets-routes.ts';
import type { DedupMode } from '../../../src/data/curate.ts';
import type { FormatName } from '../../../src/data/formats/format-spec.ts';
import type { Stage } from '../../../src/data/records.ts';
import { useI18n } from '../i18n';
import { Chart } from '../components/Chart';
import { Busy, Dialog, Empty, ErrorBox, Field, FileInput, Progress, fmtNum, fmtTime, useLoad } from '../components/ui';

const FORMATS: ('' | FormatName)[] = ['', 'openai-chat', 'openai-preference', 'openai-kto', 'openai-completion', 'alpaca', 'sharegpt', 'text'];
const STAGES: ('' | Stage)[] = ['', 'sft', 'preference', 'kto', 'pretrain'];

export function Data() {
  const { t } = useI18n();
  const list = useLoad((s) => get<ListOf<Dataset>>('/v1/datasets', s), []);
  const [selected, setSelected] = useState<string | null>(null);
  const cur = list.data?.data.find((d) => d.id === selected) ?? null;
  return (
    <div className="stack">
      <ImportForm onDone={(d) => { list.reload(); setSelected(d.id); }} />
      <section className="card" aria-labelledby="ds-title">
        <h2 id="ds-title">{t('data.datasets')}</h2>
        <ErrorBox error={list.error} onRetry={list.reload} />
        {list.loading && !list.data && <Busy label={t('common.loading')} />}
        {list.data && list.data.data.length === 0 && <Empty>{t('data.none')}</Empty>}
        {list.data && list.data.data.length > 0 && (
          <div className="table-wrap"><table data-testid="datasets">
            <thead><tr><th scope="col">{t('col.name')}</th><th scope="col">{t('data.stage')}</th><th scope="col">{t('data.format')}</th><th scope="col">{t('data.train')}</th><th scope="col">{t('data.validation')}</th><th scope="col">{t('col.created')}</th><th scope="col"><span className="sr-only">{t('col.actions')}</span></th></tr></thead>
            <tbody>{list.data.data.map((d) => (
              <tr key={d.id} className={d.id === selected ? 'selected' : undefined}>
                <td>{d.name}</td><td>{t(`stage.${d.stage}`, {}, d.stage)}</td><td className="mono small">{d.format}</td>
                <td>{fmtNum(d.version?.train_rows)}</td><td>{fmtNum(d.version?.validation_rows)}</td><td>{fmtTime(d.created_at)}</td>
                <td><button type="button" className="small" onClick={() => setSelected(d.id)} aria-pressed={d.id === selected} data-testid={`open-${d.name}`}>{t('data.open')}</button></td>
              </tr>
            ))}</tbody>
          </table></div>
        )}
      </section>
      {cur && <Detail ds={cur} onDeleted={() => { setSelected(null); list.reload(); }} />}
    </div>
  );
}

function ImportForm({ onDone }: { onDone: (d: Dataset) => void }) {
  const { t } = useI18n();
  const [file, setFile] = useState<File | null>(null);
  const [valFile, setValFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [format, setFormat] = useState<'' | FormatName>('');
  const [stage, setStage] = useState<'' | Stage>('');
  const [split, setSplit] = useState('0.1');
  const [dedup, setDedup] = useState<DedupMode>('exact');
  const [phase, setPhase] = useState<'' | 'upload' | 'validate'>('');
  const [progress, setProgress] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<Dataset | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setError(null); setDone(null); setPhase('upload'); setProgress(0);
    try {
      const f = await upload(file, 'fine-tune', setProgress);
      const v = valFile ? await upload(valFile, 'fine-tune') : null;
      setPhase('validate');
      const d = await post<Dataset>('/v1/datasets', {
        name: name.trim() || file.name.replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9_.-]/g, '-'), file_id: f.id,
        ...(v ? { validation_file_id: v.id } : Number(split) > 0 ? { validation_split: Number(split) } : {}),
        ...(format ? { format } : {}), ...(stage ? { stage } : {}), dedup,
      } satisfies ImportBody);
      setDone(d);
      onDone(d);
    } catch (err) { setError(err); } finally { setPhase(''); }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="import-title">
      <h2 id="import-title">{t('data.import')}</h2>
      <p className="muted">{t('data.importIntro')}</p>
      <div className="row wrap">
        <FileInput label={t('data.file')} accept=".jsonl,.json,.csv,.txt,.md" required testId="ds-file" onFile={(f) => { setFile(f); if (f && !name) setName(f.name.replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9_.-]/g, '-')); }} />
        <FileInput label={`${t('data.valFile')} · ${t('data.valFileHint')}`} accept=".jsonl,.json,.csv,.txt" onFile={setValFile} />
        <Field label={t('col.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} data-testid="ds-name" />}</Field>
      </div>
      <div className="row wrap">
        <Field label={t('data.format')}>{(id) => <select id={id} value={format} onChange={(e) => setFormat(e.target.value as '' | FormatName)}>{FORMATS.map((f) => <option key={f} value={f}>{f || t('data.auto')}</option>)}</select>}</Field>
        <Field label={t('data.stage')}>{(id) => <select id={id} value={stage} onChange={(e) => setStage(e.target.value as '' | Stage)}>{STAGES.map((s) => <option key={s} value={s}>{s ? t(`stage.${s}`, {}, s) : t('data.auto')}</option>)}</select>}</Field>
        <Field label={t('data.split')} hint={t('data.splitHint')}>{(id) => <input id={id} className="narrow" type="number" min={0} max={0.5} step={0.05} value={split} onChange={(e) => setSplit(e.target.value)} disabled={!!valFile} />}</Field>
        <Field label={t('data.dedup')}>{(id) => <select id={id} value={dedup} onChange={(e) => setDedup(e.target.value as DedupMode)}><option value="none">{t('data.dedup.none')}</option><option value="exact">{t('data.dedup.exact')}</option><option value="near">{t('data.dedup.near')}</option></select>}</Field>
      </div>
      {phase === 'upload' && <Progress value={progress} label={t('data.uploading')} />}
      {phase === 'validate' && <Busy label={t('data.validating')} />}
      <ErrorBox error={error} />
      {done && <p className="ok" role="status" data-testid="import-ok">{t('data.imported', { name: done.name, train: done.version?.train_rows ?? 0, val: done.version?.validation_rows ?? 0 })}{done.warnings?.length ? ` ${done.warnings.join(' ')}` : ''}</p>}
      <button type="submit" className="primary" disabled={!file || phase !== ''} data-testid="ds-import">{t('data.importSubmit')}</button>
    </form>
  );
}

function Detail({ ds, onDeleted }: { ds: Dataset; onDeleted: () => void }) {
  const { t } = useI18n();
  const [template, setTemplate] = useState('chatml');
  const [split, setSplit] = useState<'train' | 'validation'>('train');
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const preview = useLoad((s) => get<DatasetPreviewObject>(`/v1/datasets/${ds.id}/preview?n=5&split=${split}${ds.stage === 'pretrain' ? '' : `&template=${template}`}`, s), [ds.id, template, split]);
  const st = ds.version?.stats;
  const hist = useMemo(() => ({
    animation: false, tooltip: {}, grid: { left: 40, right: 8, top: 16, bottom: 40 },
    xAxis: { type: 'category', data: (st?.lengths.histogram ?? []).map((h) => (h.upTo === null ? '>' : `≤${h.upTo}`)), name: t('data.tokensPerRow'), nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', minInterval: 1 }, series: [{ type: 'bar', data: (st?.lengths.histogram ?? []).map((h) => h.count), itemStyle: { color: '#2563eb' } }],
  }), [st, t]);
  const remove = async () => {
    try { await del(`/v1/datasets/${ds.id}`); onDeleted(); } catch (e) { setError(e); }
    setConfirm(false);
  };
  return (
    <section className="card" aria-labelledby="dsd-title" data-testid="dataset-detail">
      <div className="row spread"><h2 id="dsd-title">{ds.name}</h2><button type="button" className="small danger" onClick={() => setConfirm(true)}>{t('action.delete')}</button></div>
      <ErrorBox error={error} />
      <div className="split even">
        <div>
          <h3>{t('data.stats')}</h3>
          {st ? (
            <>
              <dl className="facts">
                <div><dt>{t('common.rows')}</dt><dd>{fmtNum(st.rows)}</dd></div>
                <div><dt>{t('data.tokens')}</dt><dd>{fmtNum(st.tokens.total)} <small className="muted">({st.tokenizer === 'estimate' ? t('data.estimate') : st.tokenizer})</small></dd></div>
                <div><dt>{t('data.meanLen')}</dt><dd>{fmtNum(st.lengths.mean, 1)}</dd></div>
                <div><dt>p50 / p95</dt><dd>{fmtNum(st.lengths.p50)} / {fmtNum(st.lengths.p95)}</dd></div>
                <div><dt>{t('data.minMax')}</dt><dd>{fmtNum(st.lengths.min)} – {fmtNum(st.lengths.max)}</dd></div>
                <div><dt>{t('data.languages')}</dt><dd>{Object.entries(st.languages).map(([l, n]) => `${t(`lang.${l}`, {}, l)} ${n}`).join(' · ')}</dd></div>
                <div className="wide"><dt>{t('data.byRole')}</dt><dd>{Object.entries(st.tokens.byRole).map(([r, n]) => `${r} ${fmtNum(n)}`).join(' · ')}</dd></div>
              </dl>
              <Chart option={hist} height={200} label={t('data.histLabel')} testId="length-hist" />
            </>
          ) : <Empty>{t('data.noStats')}</Empty>}
        </div>
        <div>
          <h3>{t('data.preview')}</h3>
          <div className="row wrap">
            {ds.stage !== 'pretrain' && <Field label={t('data.template')}>{(id) => <select id={id} value={template} onChange={(e) => setTemplate(e.target.value)}><option value="chatml">ChatML</option><option value="llama3">Llama 3</option><option value="qwen2">Qwen2</option></select>}</Field>}
            <Field label={t('data.split')}>{(id) => <select id={id} value={split} onChange={(e) => setSplit(e.target.value as 'train' | 'validation')}><option value="train">{t('data.train')}</option><option value="validation">{t('data.validation')}</option></select>}</Field>
          </div>
          <ErrorBox error={preview.error} onRetry={preview.reload} />
          {preview.data && preview.data.data.length === 0 && <Empty>{t('data.noRows')}</Empty>}
          <ol className="preview" data-testid="preview">
            {(preview.data?.data ?? []).map((r) => (
              <li key={r.index}><pre>{r.text}</pre>{r.chosen_text && <><h4>{t('data.chosen')}</h4><pre>{r.chosen_text}</pre><h4>{t('data.rejected')}</h4><pre>{r.rejected_text}</pre></>}</li>
            ))}
          </ol>
        </div>
      </div>
      <Dialog open={confirm} title={t('data.deleteTitle')} onClose={() => setConfirm(false)}>
        <form onSubmit={(e) => { e.preventDefault(); void remove(); }}>
          <p>{t('data.deleteBody', { name: ds.name })}</p>
          <div className="row end"><button type="button" onClick={() => setConfirm(false)}>{t('action.keep')}</button><button type="submit" className="danger" autoFocus>{t('action.delete')}</button></div>
        </form>
      </Dialog>
    </section>
  );
}
