/**
 * Factory: the grid wizard (tick base models, datasets, methods and hyperparameter values; the plan, "N jobs" with
 * estimates and every rejected combination with its reason, updates as you tick; start), and the experiments list.
 * Endpoints: GET /v1/models, GET /v1/datasets, POST /v1/experiments/plan, POST /v1/experiments, GET /v1/experiments.
 */
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { get, post, type Dataset, type Experiment, type ListOf, type ModelObject, type Plan } from '../api';
import type { ExperimentRequest } from '../../../src/factory/factory-service.ts';
import type { Precision, TrainerName } from '../../../src/factory/torch-trainer.ts';
import type { Hyperparameters } from '../../../src/factory/job-spec.ts';
import type { MethodSpec } from '../../../src/engine/methods.ts';
import { useI18n } from '../i18n';
import { href, navigate } from '../router';
import { Busy, Empty, ErrorBox, Field, StatusBadge, fmtDuration, fmtNum, fmtParams, fmtTime, useLoad } from '../components/ui';

type MethodType = MethodSpec['type'];
/** The hyperparameters the form asks for: the server's numeric ones. */
type NumericHyper = { [K in keyof Hyperparameters]-?: NonNullable<Hyperparameters[K]> extends number ? K : never }[keyof Hyperparameters];
const METHODS: MethodType[] = ['full', 'freeze', 'lora', 'qlora', 'prefix', 'prompt'];
const TRAINER_NAMES: TrainerName[] = ['engine', 'torch'];
const PRECISION_NAMES: Record<TrainerName, Precision[]> = { engine: ['fp32', 'bf16'], torch: ['fp32', 'bf16', 'fp16'] };

/**
 * The trainer's options as the form holds them; only those that differ from the defaults reach the request. Both
 * trainers pack, recompute activations and train in bf16 (the engine where the processor has AMX-BF16 or
 * AVX512-BF16: the plan says so otherwise); processes and strategies are the torch trainer's.
 */
interface TrainerForm { precision: Precision; processes: string; strategy: 'ddp' | 'fsdp' | 'deepspeed-zero2' | 'deepspeed-zero3'; packing: boolean; checkpointing: boolean }
const TRAINER_DEFAULTS: TrainerForm = { precision: 'fp32', processes: '1', strategy: 'ddp', packing: false, checkpointing: false };

/** The precision the form asks of a trainer: its choice where the trainer runs it, else fp32. */
function precisionFor(trainer: TrainerName, o: TrainerForm): Precision {
  return PRECISION_NAMES[trainer].includes(o.precision) ? o.precision : 'fp32';
}

/** The request fields of a trainer choice, or the label of the field that is not valid. */
function trainerFields(trainer: TrainerName, o: TrainerForm): { fields: Partial<ExperimentRequest> } | { invalid: 'factory.processes' } {
  const common: Partial<ExperimentRequest> = {
    ...(precisionFor(trainer, o) !== 'fp32' ? { precision: o.precision } : {}),
    ...(o.packing ? { packing: true } : {}), ...(o.checkpointing ? { gradient_checkpointing: true } : {}),
  };
  if (trainer === 'engine') return { fields: common };
  const n = Number(o.processes);
  if (!Number.isInteger(n) || n < 1) return { invalid: 'factory.processes' };
  return {
    fields: {
      trainer, ...common, ...(n > 1 ? { nproc_per_node: n } : {}),
      ...(n > 1 && o.strategy !== 'ddp' ? { strategy: o.strategy } : {}),
    },
  };
}

interface HyperField { key: NumericHyper; label: 'hp.epochs' | 'hp.maxSteps' | 'hp.batchSize' | 'hp.lr' | 'hp.seqLen'; def: string; int: boolean }
const HYPER: HyperField[] = [
  { key: 'epochs', label: 'hp.epochs', def: '1', int: true },
  { key: 'maxSteps', label: 'hp.maxSteps', def: '', int: true },
  { key: 'batchSize', label: 'hp.batchSize', def: '8', int: true },
  { key: 'lr', label: 'hp.lr', def: '', int: false },
  { key: 'seqLen', label: 'hp.seqLen', def: '128', int: true },
];

/** "1e-3, 5e-4" -> [0.001, 0.0005]; null when a value is not a number. */
function values(s: string, int: boolean): number[] | null {
  const parts = s.split(/[,，\s]+/).filter(Boolean);
  const out = parts.map(Number);
  if (out.some((v) => !Number.isFinite(v) || v <= 0 || (int && !Number.isInteger(v)))) return null;
  return out;
}

export function Factory() {
  const { t } = useI18n();
  const models = useLoad((s) => get<ListOf<ModelObject>>('/v1/models', s), []);
  const datasets = useLoad((s) => get<ListOf<Dataset>>('/v1/datasets', s), []);
  const experiments = useLoad((s) => get<ListOf<Experiment>>('/v1/experiments', s), [], { every: 5000 });

  const [name, setName] = useState(() => `grid-${new Date().toISOString().slice(5, 16).replace(/[-:T]/g, '')}`);
  const [bases, setBases] = useState<string[]>([]);
  const [sets, setSets] = useState<string[]>([]);
  const [dpoSets, setDpoSets] = useState<string[]>([]);
  const [methods, setMethods] = useState<MethodType[]>(['lora']);
  const [rank, setRank] = useState('8');
  const [tokens, setTokens] = useState('16');
  const [hyper, setHyper] = useState<Record<string, string>>(() => Object.fromEntries(HYPER.map((h) => [h.key, h.def])));
  const [seeds, setSeeds] = useState('0');
  const [bench, setBench] = useState(true);
  const [trainer, setTrainer] = useState<TrainerName>('engine');
  const [opts, setOpts] = useState<TrainerForm>(TRAINER_DEFAULTS);
  const [plan, setPlan] = useState<Plan | null>(null);
  const [planError, setPlanError] = useState<unknown>(null);
  const [planning, setPlanning] = useState(false);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<unknown>(null);

  const toggle = <T,>(list: T[], v: T, set: (x: T[]) => void) => set(list.includes(v) ? list.filter((x) => x !== v) : [...list, v]);

  const request = useMemo(() => {
    const hp: Partial<Record<NumericHyper, number>> = {};
    const sweep: Partial<Record<NumericHyper, number[]>> = {};
    for (const h of HYPER) {
      const raw = hyper[h.key]!.trim();
      if (!raw) continue;
      const v = values(raw, h.int);
      if (!v) return { invalid: h.label };
      if (v.length === 1) hp[h.key] = v[0]!;
      else sweep[h.key] = v;
    }
    const seedList = seeds.split(/[,，\s]+/).filter(Boolean).map(Number);
    if (!seedList.length || seedList.some((s) => !Number.isInteger(s) || s < 0)) return { invalid: 'hp.seeds' as const };
    const tf = trainerFields(trainer, opts);
    if ('invalid' in tf) return tf;
    const r = Number(rank), vt = Number(tokens);
    const spec = (m: MethodType) => (m === 'lora' || m === 'qlora' ? { type: m, rank: r, alpha: 2 * r } : m === 'prefix' || m === 'prompt' ? { type: m, numVirtualTokens: vt } : { type: m });
    return {
      body: {
        name: name.trim(), stage: 'sft', base_models: bases, datasets: sets, methods: methods.map(spec), hyperparameters: hp,
        ...(Object.keys(sweep).length ? { sweep } : {}), seeds: seedList, ...(bench ? {} : { suites: [] }),
        ...(dpoSets.length ? { then: [{ stage: 'dpo', datasets: dpoSets }] } : {}), ...tf.fields,
      } satisfies ExperimentRequest,
    };
  }, [name, bases, sets, dpoSets, methods, rank, tokens, hyper, seeds, bench, trainer, opts]);

  const ready = 'body' in request && request.body && bases.length > 0 && sets.length > 0 && methods.length > 0 && !!request.body.name;

  // the plan follows every tick (debounced)
  useEffect(() => {
    if (!ready || !('body' in request)) { setPlan(null); setPlanError(null); return; }
    const h = setTimeout(() => {
      setPlanning(true);
      post<Plan>('/v1/experiments/plan', request.body).then((p) => { setPlan(p); setPlanError(null); }, (e) => { setPlan(null); setPlanError(e); }).finally(() => setPlanning(false));
    }, 350);
    return () => clearTimeout(h);
  }, [request, ready]);

  const start = async (e: FormEvent) => {
    e.preventDefault();
    if (!ready || !('body' in request) || !plan || plan.jobs.length === 0) return;
    setStarting(true);
    setStartError(null);
    try {
      const exp = await post<Experiment>('/v1/experiments', request.body);
      experiments.reload();
      navigate('runs', { exp: exp.id });
    } catch (err) {
      setStartError(err);
    } finally {
      setStarting(false);
    }
  };

  const total = plan ? plan.jobs.reduce((a, j) => a + j.estimate.seconds, 0) : 0;
  const modelList = (models.data?.data ?? []).map((m) => m.id).sort((a, b) => Number(a.startsWith('ft:')) - Number(b.startsWith('ft:')) || a.localeCompare(b));

  return (
    <div className="stack">
      <form className="card wizard" onSubmit={start} aria-labelledby="wizard-title">
        <h2 id="wizard-title">{t('factory.wizard')}</h2>
        <p className="muted">{t('factory.wizardIntro')}</p>
        <Field label={t('factory.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required data-testid="exp-name" />}</Field>
        <div className="grid3">
          <fieldset>
            <legend>{t('factory.bases')}</legend>
            <ErrorBox error={models.error} onRetry={models.reload} />
            {models.loading && !models.data && <Busy label={t('common.loading')} />}
            {models.data && modelList.length === 0 && <Empty>{t('factory.noModels')}</Empty>}
            <div className="checklist">
              {modelList.map((m) => (
                <label key={m} className="check"><input type="checkbox" checked={bases.includes(m)} onChange={() => toggle(bases, m, setBases)} data-testid={`base-${m}`} /> <span className="mono">{m}</span></label>
              ))}
            </div>
          </fieldset>
          <fieldset>
            <legend>{t('factory.datasets')}</legend>
            <ErrorBox error={datasets.error} onRetry={datasets.reload} />
            {datasets.data && datasets.data.data.length === 0 && <Empty>{t('factory.noDatasets')} <a href={href('data')}>{t('factory.importOne')}</a></Empty>}
            <div className="checklist">
              {(datasets.data?.data ?? []).filter((d) => d.stage !== 'preference').map((d) => (
                <label key={d.id} className="check"><input type="checkbox" checked={sets.includes(d.name)} onChange={() => toggle(sets, d.name, setSets)} data-testid={`dataset-${d.name}`} /> {d.name} <small className="muted">{t(`stage.${d.stage}`, {}, d.stage)} · {fmtNum(d.version?.train_rows)} {t('common.rows')}</small></label>
              ))}
            </div>
          </fieldset>
          <fieldset>
            <legend>{t('factory.methods')}</legend>
            <div className="checklist">
              {METHODS.map((m) => (
                <label key={m} className="check"><input type="checkbox" checked={methods.includes(m)} onChange={() => toggle(methods, m, setMethods)} data-testid={`method-${m}`} /> {t(`method.${m}`)}</label>
              ))}
            </div>
            {(methods.includes('lora') || methods.includes('qlora')) && <Field label={t('factory.rank')} inline>{(id) => <input id={id} type="number" min={1} max={256} value={rank} onChange={(e) => setRank(e.target.value)} />}</Field>}
            {(methods.includes('prefix') || methods.includes('prompt')) && <Field label={t('factory.virtualTokens')} inline>{(id) => <input id={id} type="number" min={1} max={512} value={tokens} onChange={(e) => setTokens(e.target.value)} />}</Field>}
          </fieldset>
        </div>
        <fieldset>
          <legend>{t('factory.thenDpo')}</legend>
          <p className="muted">{t('factory.thenDpoIntro')}</p>
          {datasets.data && !datasets.data.data.some((d) => d.stage === 'preference') && <Empty>{t('factory.noPrefs')}</Empty>}
          <div className="checklist">
            {(datasets.data?.data ?? []).filter((d) => d.stage === 'preference').map((d) => (
              <label key={d.id} className="check"><input type="checkbox" checked={dpoSets.includes(d.name)} onChange={() => toggle(dpoSets, d.name, setDpoSets)} data-testid={`dpo-${d.name}`} /> {d.name} <small className="muted">{fmtNum(d.version?.train_rows)} {t('common.rows')}</small></label>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>{t('factory.hyper')}</legend>
          <p className="muted">{t('factory.hyperIntro')}</p>
          <div className="row wrap">
            {HYPER.map((h) => (
              <Field key={h.key} label={t(h.label)}>{(id) => <input id={id} className="narrow" value={hyper[h.key]} placeholder={t('common.auto')} onChange={(e) => setHyper({ ...hyper, [h.key]: e.target.value })} data-testid={`hp-${h.key}`} />}</Field>
            ))}
            <Field label={t('hp.seeds')}>{(id) => <input id={id} className="narrow" value={seeds} onChange={(e) => setSeeds(e.target.value)} />}</Field>
          </div>
          <label className="check"><input type="checkbox" checked={bench} onChange={(e) => setBench(e.target.checked)} /> {t('factory.bench')}</label>
        </fieldset>
        <fieldset>
          <legend>{t('factory.trainer')}</legend>
          <p className="muted">{t('factory.trainerIntro')}</p>
          <div className="row wrap">
            <Field label={t('factory.trainer')}>{(id) => (
              <select id={id} value={trainer} onChange={(e) => setTrainer(e.target.value as TrainerName)} data-testid="trainer">
                {TRAINER_NAMES.map((n) => <option key={n} value={n}>{t(`trainer.${n}`)}</option>)}
              </select>
            )}</Field>
            <Field label={t('factory.precision')}>{(id) => (
              <select id={id} value={precisionFor(trainer, opts)} onChange={(e) => setOpts({ ...opts, precision: e.target.value as Precision })} data-testid="precision">
                {PRECISION_NAMES[trainer].map((p) => <option key={p} value={p}>{p}</option>)}
              </select>
            )}</Field>
            {trainer === 'torch' && <>
              <Field label={t('factory.processes')}>{(id) => <input id={id} className="narrow" type="number" min={1} max={64} value={opts.processes} onChange={(e) => setOpts({ ...opts, processes: e.target.value })} data-testid="processes" />}</Field>
              {Number(opts.processes) > 1 && <Field label={t('factory.strategy')}>{(id) => (
                <select id={id} value={opts.strategy} onChange={(e) => setOpts({ ...opts, strategy: e.target.value as TrainerForm['strategy'] })}>
                  <option value="ddp">DDP</option><option value="fsdp">FSDP</option>
                  <option value="deepspeed-zero2">DeepSpeed ZeRO-2</option><option value="deepspeed-zero3">DeepSpeed ZeRO-3</option>
                </select>
              )}</Field>}
            </>}
          </div>
          <div className="row wrap">
            <label className="check"><input type="checkbox" checked={opts.packing} onChange={(e) => setOpts({ ...opts, packing: e.target.checked })} data-testid="packing" /> {t('factory.packing')}</label>
            <label className="check"><input type="checkbox" checked={opts.checkpointing} onChange={(e) => setOpts({ ...opts, checkpointing: e.target.checked })} data-testid="checkpointing" /> {t('factory.checkpointing')}</label>
          </div>
        </fieldset>

        <section className="plan" aria-live="polite" aria-labelledby="plan-title" data-testid="plan">
          <h3 id="plan-title">{t('factory.plan')}</h3>
          {'invalid' in request && request.invalid && <p className="warn">{t('factory.invalidValue', { field: t(request.invalid) })}</p>}
          {!ready && !('invalid' in request) && <p className="muted">{t('factory.tickToPlan')}</p>}
          {planning && <Busy label={t('factory.planning')} />}
          <ErrorBox error={planError} />
          {plan && (
            <>
              <p className="big" data-testid="plan-count">{t('factory.nJobs', { n: plan.jobs.length })} <span className="muted">· {t('factory.totalTime', { t: fmtDuration(total) })}</span></p>
              {plan.jobs.length > 0 && (
                <div className="table-wrap"><table>
                  <thead><tr><th scope="col">{t('col.job')}</th><th scope="col">{t('col.steps')}</th><th scope="col">{t('col.tokens')}</th><th scope="col">{t('col.trainable')}</th><th scope="col">{t('col.memory')}</th><th scope="col">{t('col.time')}</th></tr></thead>
                  <tbody>{plan.jobs.map((j) => (
                    <tr key={j.name}><td className="mono">{j.name}</td><td>{fmtNum(j.estimate.steps)}</td><td>{fmtNum(j.estimate.tokens)}</td><td>{fmtParams(j.estimate.trainableParams)} / {fmtParams(j.estimate.totalParams)}</td><td>{fmtNum(j.estimate.resources.memoryMB)} MB</td><td>{fmtDuration(j.estimate.seconds)}</td></tr>
                  ))}</tbody>
                </table></div>
              )}
              {plan.rejected.length > 0 && (
                <div className="rejected" data-testid="rejected">
                  <h4>{t('factory.rejected', { n: plan.rejected.length })}</h4>
                  <ul>{plan.rejected.map((r) => <li key={r.name}><span className="mono">{r.name}</span>: {r.reason}</li>)}</ul>
                </div>
              )}
              {plan.duplicates > 0 && <p className="muted">{t('factory.duplicates', { n: plan.duplicates })}</p>}
            </>
          )}
        </section>
        <ErrorBox error={startError} />
        <div className="row">
          <button type="submit" className="primary" disabled={!plan || plan.jobs.length === 0 || starting} data-testid="start-experiment">
            {starting ? t('factory.starting') : plan ? t('factory.startN', { n: plan.jobs.length }) : t('factory.start')}
          </button>
        </div>
      </form>

      <section className="card" aria-labelledby="exps-title">
        <h2 id="exps-title">{t('factory.experiments')}</h2>
        <ErrorBox error={experiments.error} onRetry={experiments.reload} />
        {experiments.data && experiments.data.data.length === 0 && <Empty>{t('factory.noExperiments')}</Empty>}
        {experiments.data && experiments.data.data.length > 0 && (
          <div className="table-wrap"><table data-testid="experiments">
            <thead><tr><th scope="col">{t('col.name')}</th><th scope="col">{t('col.status')}</th><th scope="col">{t('col.jobs')}</th><th scope="col">{t('col.created')}</th><th scope="col"><span className="sr-only">{t('col.actions')}</span></th></tr></thead>
            <tbody>{experiments.data.data.map((x) => (
              <tr key={x.id}>
                <td>{x.name}<br /><small className="muted mono">{x.id}</small></td>
                <td><StatusBadge status={x.status} /></td>
                <td>{Object.entries(x.counts).filter(([, n]) => n > 0).map(([s, n]) => `${t(`status.${s}`, {}, s)} ${n}`).join(' · ')}</td>
                <td>{fmtTime(Math.floor(x.created_at > 1e11 ? x.created_at / 1000 : x.created_at))}</td>
                <td className="actions"><a href={href('runs', { exp: x.id })}>{t('factory.watch')}</a> <a href={href('leaderboard', { exp: x.id })}>{t('page.leaderboard')}</a></td>
              </tr>
            ))}</tbody>
          </table></div>
        )}
      </section>
    </div>
  );
}
