/**
 * The deploy dialog shared by the leaderboard, runs and models pages: a deployment name, the sampling preset,
 * concurrency and a guard policy (GET /v1/guard/policies; sent as settings.guard); POST /v1/deployments waits until
 * the model is loaded and warm, so the dialog shows progress until then.
 */
import { useState, type FormEvent } from 'react';
import { get, post, type CreatedDeploymentObject, type Deployment, type GuardPolicyInfo, type ListOf } from '../api';
import type { DeployInput, DeploymentSettings, PresetName } from '../../../src/serve/deployments.ts';
import { useI18n } from '../i18n';
import { href } from '../router';
import { Busy, Dialog, ErrorBox, Field, useLoad } from './ui';

export function suggestName(model: string): string {
  // ft:spruce-s:lora-r8:ftjob-abc -> spruce-s-lora-r8
  const parts = model.split(':');
  const n = parts[0] === 'ft' ? `${parts[1]}-${parts[2] ?? 'ft'}` : model;
  return n.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 60);
}

export function DeployDialog({ model, open, onClose, onDone }: { model: string; open: boolean; onClose: () => void; onDone?: (d: Deployment) => void }) {
  const { t } = useI18n();
  const [name, setName] = useState(() => suggestName(model));
  const [preset, setPreset] = useState<PresetName>('balanced');
  const [concurrency, setConcurrency] = useState('2');
  const [guard, setGuard] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<Deployment | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const d = await post<CreatedDeploymentObject>('/v1/deployments', { name: name.trim(), model, settings: { preset, concurrency: Number(concurrency), ...(guard ? { guard } : {}) } satisfies Partial<DeploymentSettings> } satisfies DeployInput);
      setDone(d);
      onDone?.(d);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open={open} title={t('deploy.title')} onClose={onClose}>
      {done ? (
        <div className="stack" data-testid="deployed">
          <p>{t('deploy.done', { name: done.name })}</p>
          <div className="row end">
            <a className="button" href={href('models', { docs: done.name })} onClick={onClose}>{t('deploy.docs')}</a>
            <a className="button primary" href={href('playground', { model: done.name })} onClick={onClose} data-testid="deployed-chat">{t('deploy.chat')}</a>
          </div>
        </div>
      ) : (
        <form onSubmit={submit} className="stack">
          <p>{t('deploy.model')} <span className="mono">{model}</span></p>
          <Field label={t('deploy.name')} hint={t('deploy.nameHint')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required pattern="[A-Za-z0-9_.:/@\-]{1,128}" autoFocus data-testid="deploy-name" />}</Field>
          <Field label={t('deploy.preset')}>{(id) => (
            <select id={id} value={preset} onChange={(e) => setPreset(e.target.value as PresetName)}>
              <option value="conservative">{t('preset.conservative')}</option>
              <option value="balanced">{t('preset.balanced')}</option>
              <option value="creative">{t('preset.creative')}</option>
            </select>
          )}</Field>
          <Field label={t('deploy.concurrency')} hint={t('deploy.concurrencyHint')}>{(id) => <input id={id} type="number" min={1} max={64} value={concurrency} onChange={(e) => setConcurrency(e.target.value)} />}</Field>
          <GuardSelect value={guard} onChange={setGuard} />
          {busy && <Busy label={t('deploy.loading')} />}
          <ErrorBox error={error} />
          <div className="row end">
            <button type="button" onClick={onClose}>{t('action.cancel')}</button>
            <button type="submit" className="primary" disabled={busy} data-testid="deploy-submit">{t('deploy.submit')}</button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

/** The guard policies to pick from (admin keys list them; otherwise only "none"). */
export function GuardSelect({ value, onChange, testId = 'deploy-guard' }: { value: string; onChange: (v: string) => void; testId?: string }) {
  const { t } = useI18n();
  const policies = useLoad((s) => get<ListOf<GuardPolicyInfo>>('/v1/guard/policies', s).catch(() => ({ data: [] as GuardPolicyInfo[] })), []);
  const names = (policies.data?.data ?? []).map((p) => p.name);
  return (
    <Field label={t('deploy.guard')} hint={t('deploy.guardHint')}>{(id) => (
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
        <option value="">{t('deploy.guardNone')}</option>
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
    )}</Field>
  );
}
