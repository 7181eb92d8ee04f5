/**
 * Copilot: the one assistant over everything served. Pick the model that drives it (any chat model) and, if you
 * like, the knowledge bases it may read; each answer shows the sources it cites and the steps it took (searches,
 * bots and models it asked). The same assistant answers other apps at /v1/copilot/chat/completions with any
 * OpenAI client (a snippet is on the page).
 * Endpoints: GET /v1/models, GET /v1/knowledge/bases, POST /v1/copilot/chat/completions.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { post, get, type ChatCompletion, type CopilotResult, type ModelObject, type CopilotSource as Source, type CopilotStep as Step, type KnowledgeBase, type ListOf } from '../api';
import { useI18n } from '../i18n';
import { CopyButton, Empty, ErrorBox, Field, useLoad } from '../components/ui';

interface Turn { question: string; answer?: string; sources?: Source[]; steps?: Step[]; model?: string; error?: unknown }

export function Copilot() {
  const { t } = useI18n();
  const models = useLoad((s) => get<ListOf<ModelObject>>('/v1/models', s), []);
  const kbs = useLoad((s) => get<ListOf<KnowledgeBase>>('/v1/knowledge/bases', s).catch(() => ({ data: [] as KnowledgeBase[] })), []);
  const [model, setModel] = useState('');
  const [only, setOnly] = useState<string[]>([]);
  const [input, setInput] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [busy, setBusy] = useState(false);
  const ids = (models.data?.data ?? []).map((m) => m.id);
  useEffect(() => { if (!model && ids.length) setModel(ids[0]!); }, [models.data]); // eslint-disable-line react-hooks/exhaustive-deps -- a default model once the list arrives

  const ask = async (e: FormEvent) => {
    e.preventDefault();
    const q = input.trim();
    if (!q || !model || busy) return;
    setInput('');
    setBusy(true);
    const history = turns.filter((x) => x.answer !== undefined).flatMap((x) => [{ role: 'user', content: x.question }, { role: 'assistant', content: x.answer! }]);
    setTurns((ts) => [...ts, { question: q }]);
    try {
      const r = await post<ChatCompletion & { copilot: Pick<CopilotResult, 'model' | 'steps' | 'sources'> }>('/v1/copilot/chat/completions', {
        model, messages: [...history, { role: 'user', content: q }], max_tokens: 256, ...(only.length ? { copilot: { knowledge: only } } : {}),
      });
      setTurns((ts) => ts.map((x, i) => (i === ts.length - 1 ? { ...x, answer: r.choices[0]!.message.content ?? '', sources: r.copilot.sources, steps: r.copilot.steps, model: r.copilot.model } : x)));
    } catch (err) {
      setTurns((ts) => ts.map((x, i) => (i === ts.length - 1 ? { ...x, error: err } : x)));
    } finally {
      setBusy(false);
    }
  };

  const snippet = `import OpenAI from 'openai';\nconst copilot = new OpenAI({ baseURL: '${location.origin}/v1/copilot', apiKey: process.env.MODELFAB_API_KEY });\nconst r = await copilot.chat.completions.create({ model: '${model || 'MODEL'}', messages: [{ role: 'user', content: '…' }] });\nconsole.log(r.choices[0].message.content, r.copilot.sources);`;

  return (
    <div className="stack">
      <section className="card" aria-labelledby="copilot-title">
        <h2 id="copilot-title">{t('copilot.title')}</h2>
        <p className="muted">{t('copilot.intro')}</p>
        <ErrorBox error={models.error} onRetry={models.reload} />
        <div className="row wrap">
          <Field label={t('copilot.model')}>{(id) => (
            <select id={id} value={model} onChange={(e) => setModel(e.target.value)} data-testid="copilot-model">
              {ids.map((m) => <option key={m} value={m}>{m}</option>)}
            </select>
          )}</Field>
          {(kbs.data?.data.length ?? 0) > 0 && (
            <fieldset>
              <legend>{t('copilot.knowledge')}</legend>
              <div className="checklist">
                {kbs.data!.data.map((k) => (
                  <label key={k.id} className="check"><input type="checkbox" checked={only.includes(k.id)} onChange={() => setOnly(only.includes(k.id) ? only.filter((x) => x !== k.id) : [...only, k.id])} /> {k.name}</label>
                ))}
              </div>
              <small className="muted">{t('copilot.knowledgeHint')}</small>
            </fieldset>
          )}
        </div>
        {models.data && ids.length === 0 && <Empty>{t('copilot.noModels')}</Empty>}
        <div className="chat">
          <ol className="messages" aria-live="polite" data-testid="copilot-log">
            {turns.flatMap((x, i) => [
              <li key={`q${i}`} className="msg user"><span className="bubble">{x.question}</span></li>,
              <li key={`a${i}`} className="msg assistant">
                {x.error ? <ErrorBox error={x.error} /> : x.answer === undefined ? <span className="muted">{t('copilot.thinking')}</span> : (
                  <>
                    <span className="bubble" data-testid="copilot-answer">{x.answer}</span>
                    {x.sources && x.sources.length > 0 && (
                      <details open>
                        <summary>{t('copilot.sources', { n: x.sources.length })}</summary>
                        <ol>{x.sources.map((s) => <li key={s.ref} value={s.ref}><strong>{s.label}</strong> <small className="muted">{s.from}</small><br /><small>{s.text.slice(0, 240)}{s.text.length > 240 ? '…' : ''}</small></li>)}</ol>
                      </details>
                    )}
                    {x.steps && x.steps.length > 0 && (
                      <details>
                        <summary>{t('copilot.steps', { n: x.steps.length })}</summary>
                        <ol>{x.steps.map((s, j) => <li key={j}><code>{s.tool}</code> <small className="mono">{JSON.stringify(s.arguments)}</small> {s.ok ? '' : '⚠'}<br /><small className="muted">{s.result}</small></li>)}</ol>
                      </details>
                    )}
                  </>
                )}
              </li>,
            ])}
          </ol>
        </div>
        <form className="row" onSubmit={ask}>
          <input style={{ flex: 1 }} value={input} onChange={(e) => setInput(e.target.value)} placeholder={t('copilot.placeholder')} aria-label={t('copilot.placeholder')} data-testid="copilot-input" />
          <button type="submit" className="primary" disabled={busy || !model || !input.trim()} data-testid="copilot-send">{busy ? t('common.working') : t('copilot.send')}</button>
        </form>
      </section>
      <section className="card" aria-labelledby="copilot-apps">
        <h3 id="copilot-apps">{t('copilot.apps')}</h3>
        <p className="muted">{t('copilot.appsIntro')}</p>
        <pre className="mono">{snippet}</pre>
        <CopyButton text={snippet} />
      </section>
    </div>
  );
}
