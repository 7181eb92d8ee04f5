/**
 * Models and deployments: registered models (register or import one by its path on the server), deploy and
 * undeploy (each deployment's guard policy shown), each deployment's generated API docs and snippets, and API keys (create with scopes and limits, shown
 * once; revoke). Endpoints: GET /v1/serve/models (admin; else GET /v1/models), POST /v1/models, GET/POST/DELETE
 * /v1/deployments, GET /v1/deployments/NAME/docs, GET/POST/DELETE /v1/keys.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { del, get, post, type ApiKeyInfo, type CreatedApiKeyObject, type Deployment, type DeploymentDocsObject, type ListOf, type RegisteredModelObject, type ServeModelObject } from '../api';
import type { ENDPOINTS as SERVER_ENDPOINTS, MANAGE_AREAS as SERVER_AREAS } from '../../../src/serve/api-keys.ts';
import { useI18n } from '../i18n';
import { href, navigate } from '../router';
import { DeployDialog } from '../components/Deploy';
import { Busy, CopyButton, Dialog, Empty, ErrorBox, Field, StatusBadge, Tabs, fmtTime, useLoad } from '../components/ui';

/** A registry model (admin), or the plain OpenAI model object of GET /v1/models, which has no kind or paths. */
type ServeModel = Pick<ServeModelObject, 'id' | 'created' | 'owned_by'> & Partial<ServeModelObject>;
type Endpoint = (typeof SERVER_ENDPOINTS)[number];
type ManageArea = (typeof SERVER_AREAS)[number];
/** Every value of a union, each once: the server's lists are copied (not bundled), and a value added there fails here. */
const every = <U extends string>() => <const L extends readonly U[]>(l: L & ([Exclude<U, L[number]>] extends [never] ? unknown : { missing: Exclude<U, L[number]> })) => l;
const ENDPOINTS = every<Endpoint>()(['chat.completions', 'completions', 'embeddings', 'models', 'images.generations']);
/** The management areas a key may be given (src/serve/api-keys.ts MANAGE_AREAS). */
const MANAGE_AREAS = every<ManageArea>()(['files', 'datasets', 'fine_tuning', 'experiments', 'evals', 'knowledge', 'bots', 'feedback', 'coach']);

export function Models({ params }: { params: URLSearchParams }) {
  const { t } = useI18n();
  const models = useLoad<ServeModel[]>(async (s) => {
    try { return (await get<ListOf<ServeModel>>('/v1/serve/models', s)).data; } catch { return (await get<ListOf<ServeModel>>('/v1/models', s)).data; }
  }, []);
  const deps = useLoad((s) => get<ListOf<Deployment>>('/v1/deployments', s), []);
  const [deploy, setDeploy] = useState<string | null>(params.get('deploy'));
  const [docs, setDocs] = useState<string | null>(params.get('docs'));
  const [undeploy, setUndeploy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => { setDeploy(params.get('deploy')); setDocs(params.get('docs')); }, [params]);
  const close = () => { setDeploy(null); setDocs(null); if (params.get('deploy') || params.get('docs')) navigate('models'); };

  const doUndeploy = async () => {
    try { await del(`/v1/deployments/${encodeURIComponent(undeploy!)}`); deps.reload(); } catch (e) { setError(e); }
    setUndeploy(null);
  };

  return (
    <div className="stack">
      <section className="card" aria-labelledby="deps-title">
        <h2 id="deps-title">{t('models.deployments')}</h2>
        <ErrorBox error={deps.error ?? error} onRetry={deps.reload} />
        {deps.loading && !deps.data && <Busy label={t('common.loading')} />}
        {deps.data && deps.data.data.length === 0 && <Empty>{t('models.noDeployments')}</Empty>}
        {deps.data && deps.data.data.length > 0 && (
          <div className="table-wrap"><table data-testid="deployments">
            <thead><tr><th scope="col">{t('col.name')}</th><th scope="col">{t('col.model')}</th><th scope="col">{t('col.version')}</th><th scope="col">{t('col.status')}</th><th scope="col">{t('deploy.preset')}</th><th scope="col">{t('deploy.guard')}</th><th scope="col">{t('col.updated')}</th><th scope="col"><span className="sr-only">{t('col.actions')}</span></th></tr></thead>
            <tbody>{deps.data.data.map((d) => (
              <tr key={d.name}>
                <td className="mono">{d.name}</td><td className="mono small">{d.model?.name ?? '–'}</td><td>v{d.version}</td><td><StatusBadge status={d.status} /></td>
                <td>{t(`preset.${String(d.settings.preset)}`, {}, String(d.settings.preset ?? ''))}</td>
                <td data-testid="deployment-guard">{d.settings.guard ? <span className="mono small">{String(d.settings.guard)}</span> : <span className="muted">{t('deploy.guardNone')}</span>}</td><td>{fmtTime(d.created_at)}</td>
                <td className="actions">
                  <button type="button" className="small" onClick={() => setDocs(d.name)}>{t('models.docs')}</button>
                  <a className="button small" href={href('playground', { model: d.name })}>{t('models.chat')}</a>
                  <a className="button small" href={href('requests', { model: d.name })}>{t('models.requests')}</a>
                  <button type="button" className="small danger" onClick={() => setUndeploy(d.name)}>{t('models.undeploy')}</button>
                </td>
              </tr>
            ))}</tbody>
          </table></div>
        )}
      </section>

      <section className="card" aria-labelledby="models-title">
        <h2 id="models-title">{t('models.models')}</h2>
        <ErrorBox error={models.error} onRetry={models.reload} />
        {models.data && models.data.length === 0 && <Empty>{t('models.noModels')}</Empty>}
        {models.data && models.data.length > 0 && (
          <div className="table-wrap"><table data-testid="models">
            <thead><tr><th scope="col">{t('col.name')}</th><th scope="col">{t('col.kind')}</th><th scope="col">{t('col.path')}</th><th scope="col">{t('col.created')}</th><th scope="col"><span className="sr-only">{t('col.actions')}</span></th></tr></thead>
            <tbody>{models.data.map((m) => (
              <tr key={m.id}>
                <td className="mono">{m.id}</td><td>{m.kind ?? m.owned_by ?? ''}</td><td className="mono small path">{m.adapter_path ?? m.path ?? ''}</td><td>{fmtTime(m.created)}</td>
                <td className="actions"><button type="button" className="small" onClick={() => setDeploy(m.id)}>{t('models.deploy')}</button> <a className="button small" href={href('playground', { model: m.id })}>{t('models.chat')}</a></td>
              </tr>
            ))}</tbody>
          </table></div>
        )}
        <RegisterForm onDone={models.reload} />
      </section>

      <Keys />

      {deploy && <DeployDialog model={deploy} open onClose={close} onDone={() => deps.reload()} />}
      {docs && <DocsDialog name={docs} onClose={close} />}
      <Dialog open={!!undeploy} title={t('models.undeployTitle')} onClose={() => setUndeploy(null)}>
        <form onSubmit={(e) => { e.preventDefault(); void doUndeploy(); }}>
          <p>{t('models.undeployBody', { name: undeploy ?? '' })}</p>
          <div className="row end"><button type="button" onClick={() => setUndeploy(null)}>{t('action.keep')}</button><button type="submit" className="danger" autoFocus>{t('models.undeploy')}</button></div>
        </form>
      </Dialog>
    </div>
  );
}

function RegisterForm({ onDone }: { onDone: () => void }) {
  const { t } = useI18n();
  const [path, setPath] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true); setError(null); setDone(null);
    try {
      const r = await post<RegisteredModelObject>('/v1/models', { path: path.trim(), ...(name.trim() ? { name: name.trim() } : {}) });
      setDone(r.id); setPath(''); setName(''); onDone();
    } catch (err) { setError(err); } finally { setBusy(false); }
  };
  return (
    <form onSubmit={submit} className="subform" aria-labelledby="reg-title">
      <h3 id="reg-title">{t('models.register')}</h3>
      <p className="muted">{t('models.registerIntro')}</p>
      <div className="row wrap">
        <Field label={t('models.path')}>{(id) => <input id={id} className="wide" value={path} onChange={(e) => setPath(e.target.value)} placeholder="/srv/models/qwen2.5-0.5b-instruct-q8_0.gguf" required />}</Field>
        <Field label={t('models.nameOptional')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,127}" />}</Field>
      </div>
      {busy && <Busy label={t('models.validating')} />}
      <ErrorBox error={error} />
      {done && <p role="status" className="ok">{t('models.registered', { name: done })}</p>}
      <button type="submit" disabled={busy}>{t('models.registerSubmit')}</button>
    </form>
  );
}

function DocsDialog({ name, onClose }: { name: string; onClose: () => void }) {
  const { t } = useI18n();
  const docs = useLoad((s) => get<DeploymentDocsObject>(`/v1/deployments/${encodeURIComponent(name)}/docs`, s), [name]);
  const langs = Object.keys(docs.data?.snippets ?? {});
  const [tab, setTab] = useState('');
  const cur = tab && langs.includes(tab) ? tab : langs[0] ?? '';
  return (
    <Dialog open title={t('models.docsTitle', { name })} onClose={onClose}>
      <div className="stack docs" data-testid="docs">
        <ErrorBox error={docs.error} onRetry={docs.reload} />
        {docs.loading && !docs.data && <Busy label={t('common.loading')} />}
        {docs.data && (
          <>
            <dl className="facts">
              <div className="wide"><dt>{t('models.baseUrl')}</dt><dd className="mono">{docs.data.base_url} <CopyButton text={docs.data.base_url} /></dd></div>
              <div className="wide"><dt>{t('models.model')}</dt><dd className="mono">{name}</dd></div>
              <div className="wide"><dt>OpenAPI</dt><dd className="mono small">{docs.data.openapi_url}</dd></div>
            </dl>
            <Tabs label={t('models.snippets')} value={cur} onChange={setTab} tabs={langs.map((l) => ({ id: l, label: l }))} />
            <div role="tabpanel">
              <pre className="code"><code>{docs.data.snippets[cur]}</code></pre>
              <CopyButton text={docs.data.snippets[cur] ?? ''} />
            </div>
          </>
        )}
      </div>
    </Dialog>
  );
}

function Keys() {
  const { t } = useI18n();
  const keys = useLoad((s) => get<ListOf<ApiKeyInfo>>('/v1/keys', s), []);
  const [name, setName] = useState('');
  const [models, setModels] = useState('');
  const [endpoints, setEndpoints] = useState<string[]>(['chat.completions', 'models']);
  const [manage, setManage] = useState<string[]>([]);
  const [rpm, setRpm] = useState('');
  const [quota, setQuota] = useState('');
  const [days, setDays] = useState('');
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [revoke, setRevoke] = useState<ApiKeyInfo | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const list = models.split(/[,，\s]+/).filter(Boolean);
      const r = await post<CreatedApiKeyObject>('/v1/keys', {
        name: name.trim(), ...(list.length ? { models: list } : {}), endpoints, ...(manage.length ? { manage } : {}),
        ...(rpm ? { rate_limit_rpm: Number(rpm) } : {}), ...(quota ? { token_quota: Number(quota) } : {}),
        ...(days ? { expires_at: Math.floor(Date.now() / 1000) + Number(days) * 86400 } : {}),
      });
      setCreated(r.key); setName(''); keys.reload();
    } catch (err) { setError(err); }
  };
  const doRevoke = async () => {
    try { await del(`/v1/keys/${encodeURIComponent(revoke!.id)}`); keys.reload(); } catch (e) { setError(e); }
    setRevoke(null);
  };
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">{t('keys.title')}</h2>
      <ErrorBox error={keys.error} onRetry={keys.reload} />
      {keys.data && (
        <div className="table-wrap"><table data-testid="keys">
          <thead><tr><th scope="col">{t('col.name')}</th><th scope="col">{t('keys.prefix')}</th><th scope="col">{t('keys.role')}</th><th scope="col">{t('keys.scopes')}</th><th scope="col">{t('keys.limits')}</th><th scope="col">{t('keys.lastUsed')}</th><th scope="col">{t('col.status')}</th><th scope="col"><span className="sr-only">{t('col.actions')}</span></th></tr></thead>
          <tbody>{keys.data.data.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td><td className="mono">{k.prefix}…</td><td>{t(`keys.role.${k.role}`, {}, k.role)}</td>
              <td className="small">{k.scopes?.models?.join(', ') ?? t('keys.allModels')}<br />{k.scopes?.endpoints?.join(', ') ?? t('keys.allEndpoints')}<br />{k.role === 'admin' ? t('keys.manageAll') : k.scopes?.manage?.length ? k.scopes.manage.join(', ') : t('keys.manageNone')}</td>
              <td className="small">{k.rate_limit_rpm ? `${k.rate_limit_rpm}/min` : ''} {k.token_quota ? `${k.token_quota} tok` : ''} {k.expires_at ? `${t('keys.expires')} ${fmtTime(k.expires_at)}` : ''}</td>
              <td>{fmtTime(k.last_used_at)}</td>
              <td>{k.revoked_at ? <span className="badge s-cancelled">{t('keys.revoked')}</span> : <span className="badge s-succeeded">{t('keys.active')}</span>}</td>
              <td>{!k.revoked_at && <button type="button" className="small danger" onClick={() => setRevoke(k)}>{t('keys.revoke')}</button>}</td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      <form onSubmit={create} className="subform" aria-labelledby="newkey-title">
        <h3 id="newkey-title">{t('keys.create')}</h3>
        <div className="row wrap">
          <Field label={t('col.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required />}</Field>
          <Field label={t('keys.models')} hint={t('keys.modelsHint')}>{(id) => <input id={id} value={models} onChange={(e) => setModels(e.target.value)} />}</Field>
          <Field label={t('keys.rpm')}>{(id) => <input id={id} className="narrow" type="number" min={1} value={rpm} onChange={(e) => setRpm(e.target.value)} />}</Field>
          <Field label={t('keys.quota')}>{(id) => <input id={id} className="narrow" type="number" min={1} value={quota} onChange={(e) => setQuota(e.target.value)} />}</Field>
          <Field label={t('keys.days')}>{(id) => <input id={id} className="narrow" type="number" min={1} value={days} onChange={(e) => setDays(e.target.value)} />}</Field>
        </div>
        <fieldset className="row wrap"><legend>{t('keys.endpoints')}</legend>
          {ENDPOINTS.map((ep) => <label key={ep} className="check"><input type="checkbox" checked={endpoints.includes(ep)} onChange={() => setEndpoints((s) => (s.includes(ep) ? s.filter((x) => x !== ep) : [...s, ep]))} /> <span className="mono">{ep}</span></label>)}
        </fieldset>
        <fieldset className="row wrap"><legend>{t('keys.manage')}</legend>
          {MANAGE_AREAS.map((a) => <label key={a} className="check"><input type="checkbox" checked={manage.includes(a)} onChange={() => setManage((s) => (s.includes(a) ? s.filter((x) => x !== a) : [...s, a]))} /> <span className="mono">{a}</span></label>)}
        </fieldset>
        <ErrorBox error={error} />
        {created && <div className="notice" role="status"><p>{t('keys.createdOnce')}</p><p className="mono">{created} <CopyButton text={created} /></p></div>}
        <button type="submit">{t('keys.createSubmit')}</button>
      </form>
      <Dialog open={!!revoke} title={t('keys.revokeTitle')} onClose={() => setRevoke(null)}>
        <form onSubmit={(e) => { e.preventDefault(); void doRevoke(); }}>
          <p>{t('keys.revokeBody', { name: revoke?.name ?? '' })}</p>
          <div className="row end"><button type="button" onClick={() => setRevoke(null)}>{t('action.keep')}</button><button type="submit" className="danger" autoFocus>{t('keys.revoke')}</button></div>
        </form>
      </Dialog>
    </section>
  );
}
