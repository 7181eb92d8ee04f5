/**
 * Magic Writer: business texts from a template (a form with its fields and the style controls: tone, length,
 * audience, language), and long documents written from an outline section by section, grounded in a knowledge base
 * with citations when one is chosen; the sections appear as they are written; export as Markdown or DOCX; pictures
 * through the server's images endpoint (the page says so when none is configured).
 * Endpoints: GET /v1/models, GET /v1/knowledge/bases, GET /v1/writer/templates, POST /v1/writer/compose,
 * POST /v1/writer/documents (stream), GET /v1/writer/documents, GET .../export, POST .../images.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, get, post, sse, storedKey, type ComposeResult, type KnowledgeBase, type ListOf, type ModelObject, type WriterDocument, type WriterEvent, type WriterSource, type WriterTemplate } from '../api';
import { useI18n, type Key } from '../i18n';
import { Empty, ErrorBox, Field, fmtTime, useLoad } from '../components/ui';

type Style = { tone: string; length: string; audience: string; language: 'en' | 'zh' };
/** The style controls' choices and their labels (src/writer/writer-style.ts). */
const TONES: Array<[string, Key]> = [['neutral', 'writer.tone.neutral'], ['formal', 'writer.tone.formal'], ['friendly', 'writer.tone.friendly'], ['persuasive', 'writer.tone.persuasive'], ['concise', 'writer.tone.concise']];
const LENGTHS: Array<[string, Key]> = [['short', 'writer.length.short'], ['medium', 'writer.length.medium'], ['long', 'writer.length.long']];
const STATUS: Record<WriterDocument['status'], Key> = { writing: 'writer.status.writing', completed: 'writer.status.completed', failed: 'writer.status.failed' };

/** Downloads an export with the key (a plain link cannot send the Authorization header). */
async function download(doc: WriterDocument, format: 'markdown' | 'docx'): Promise<void> {
  const res = await fetch(`/v1/writer/documents/${encodeURIComponent(doc.id)}/export?format=${format}`, { headers: { authorization: `Bearer ${storedKey() ?? ''}` } });
  if (!res.ok) throw new ApiError(res.status, `${res.status}`);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(await res.blob());
  a.download = `${doc.title || doc.id}.${format === 'docx' ? 'docx' : 'md'}`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function StyleControls({ style, onChange }: { style: Style; onChange: (s: Style) => void }) {
  const { t } = useI18n();
  return (
    <div className="row wrap">
      <Field label={t('writer.tone')}>{(id) => <select id={id} value={style.tone} onChange={(e) => onChange({ ...style, tone: e.target.value })}>{TONES.map(([x, k]) => <option key={x} value={x}>{t(k)}</option>)}</select>}</Field>
      <Field label={t('writer.length')}>{(id) => <select id={id} value={style.length} onChange={(e) => onChange({ ...style, length: e.target.value })}>{LENGTHS.map(([x, k]) => <option key={x} value={x}>{t(k)}</option>)}</select>}</Field>
      <Field label={t('writer.audience')}>{(id) => <input id={id} value={style.audience} onChange={(e) => onChange({ ...style, audience: e.target.value })} />}</Field>
      <Field label={t('writer.language')}>{(id) => <select id={id} value={style.language} onChange={(e) => onChange({ ...style, language: e.target.value as Style['language'] })} data-testid="writer-language"><option value="zh">中文</option><option value="en">English</option></select>}</Field>
    </div>
  );
}

function Sources({ sources }: { sources: WriterSource[] }) {
  const { t } = useI18n();
  if (!sources.length) return null;
  return (
    <details open>
      <summary>{t('writer.sources', { n: sources.length })}</summary>
      <ol data-testid="writer-sources">{sources.map((s) => <li key={s.ref} value={s.ref}><strong>{s.label}</strong> <small className="muted">{s.kb}</small><br /><small>{s.text.slice(0, 240)}{s.text.length > 240 ? '…' : ''}</small></li>)}</ol>
    </details>
  );
}

export function Writer() {
  const { t, lang } = useI18n();
  const models = useLoad((s) => get<ListOf<ModelObject>>('/v1/models', s), []);
  const kbs = useLoad((s) => get<ListOf<KnowledgeBase>>('/v1/knowledge/bases', s).catch(() => ({ data: [] as KnowledgeBase[] })), []);
  const templates = useLoad((s) => get<ListOf<WriterTemplate> & { image_models: string[] }>('/v1/writer/templates', s), []);
  const docs = useLoad((s) => get<ListOf<WriterDocument>>('/v1/writer/documents', s), []);
  const ids = (models.data?.data ?? []).map((m) => m.id);
  const [model, setModel] = useState('');
  const [kb, setKb] = useState('');
  useEffect(() => { if (!model && ids.length) setModel(ids[0]!); }, [models.data]); // eslint-disable-line react-hooks/exhaustive-deps -- a default model once the list arrives

  // ---------------------------------------------------------------- a template
  const [tid, setTid] = useState('');
  const tpl = templates.data?.data.find((x) => x.id === tid) ?? templates.data?.data[0];
  const [fields, setFields] = useState<Record<string, string>>({});
  const [tStyle, setTStyle] = useState<Style>({ tone: 'neutral', length: 'short', audience: '', language: lang });
  useEffect(() => { if (tpl) setTStyle((s) => ({ ...s, tone: tpl.defaults.tone ?? 'neutral', length: tpl.defaults.length ?? 'medium' })); }, [tpl?.id]); // eslint-disable-line react-hooks/exhaustive-deps -- the template's defaults when it changes
  const [composed, setComposed] = useState<ComposeResult | null>(null);
  const [cBusy, setCBusy] = useState(false);
  const [cError, setCError] = useState<unknown>(null);
  const compose = async (e: FormEvent) => {
    e.preventDefault();
    if (!tpl || !model) return;
    setCBusy(true); setCError(null); setComposed(null);
    try { setComposed(await post<ComposeResult>('/v1/writer/compose', { template: tpl.id, model, fields, style: tStyle, ...(kb ? { knowledge: kb } : {}) })); } catch (err) { setCError(err); } finally { setCBusy(false); }
  };

  // ---------------------------------------------------------------- a long document
  const [title, setTitle] = useState('');
  const [brief, setBrief] = useState('');
  const [outline, setOutline] = useState('');
  const [dStyle, setDStyle] = useState<Style>({ tone: 'neutral', length: 'medium', audience: '', language: lang });
  const [doc, setDoc] = useState<WriterDocument | null>(null);
  const [live, setLive] = useState<Record<number, string>>({});
  const [dBusy, setDBusy] = useState(false);
  const [dError, setDError] = useState<unknown>(null);
  const [stop, setStop] = useState<AbortController | null>(null);
  const write = async (e: FormEvent) => {
    e.preventDefault();
    if (!model || !title.trim() || !outline.trim()) return;
    const ac = new AbortController();
    setStop(ac); setDBusy(true); setDError(null); setDoc(null); setLive({});
    try {
      for await (const ev of sse('/v1/writer/documents', { signal: ac.signal, body: { title, brief, outline, model, style: dStyle, stream: true, ...(kb ? { knowledge: kb } : {}) } })) {
        if (ev.event === 'error') { const b = JSON.parse(ev.data) as { error: { message: string; code?: string; param?: string } }; throw new ApiError(502, b.error.message, '', b.error.code ?? null, b.error.param ?? null); }
        const x = JSON.parse(ev.data) as WriterEvent;
        if (x.type === 'document.created' || x.type === 'document.done') setDoc(x.document);
        else if (x.type === 'section.started') setDoc((d) => d && { ...d, sections: d.sections.map((s, i) => (i === x.index ? { ...s, status: 'writing', given: x.sources } : s)) });
        else if (x.type === 'section.delta') setLive((l) => ({ ...l, [x.index]: (l[x.index] ?? '') + x.text }));
        else if (x.type === 'section.done') setDoc((d) => d && { ...d, sections: d.sections.map((s, i) => (i === x.index ? { ...s, status: 'done', text: x.text, cited: x.cited } : s)) });
      }
      docs.reload();
    } catch (err) {
      if ((err as Error).name !== 'AbortError') setDError(err);
    } finally { setDBusy(false); setStop(null); }
  };
  const open = async (id: string) => { setDError(null); try { setDoc(await get<WriterDocument>(`/v1/writer/documents/${encodeURIComponent(id)}`)); setLive({}); } catch (err) { setDError(err); } };

  // ---------------------------------------------------------------- pictures
  const imageModels = templates.data?.image_models ?? [];
  const [imgModel, setImgModel] = useState('');
  const [imgPrompt, setImgPrompt] = useState('');
  const [imgBusy, setImgBusy] = useState(false);
  const [imgError, setImgError] = useState<unknown>(null);
  const addImage = async (e: FormEvent) => {
    e.preventDefault();
    if (!doc || !imgPrompt.trim()) return;
    setImgBusy(true); setImgError(null);
    try { setDoc(await post<WriterDocument>(`/v1/writer/documents/${encodeURIComponent(doc.id)}/images`, { model: imgModel || imageModels[0], prompt: imgPrompt })); setImgPrompt(''); } catch (err) { setImgError(err); } finally { setImgBusy(false); }
  };

  const modelSelect = (
    <div className="row wrap">
      <Field label={t('writer.model')}>{(id) => <select id={id} value={model} onChange={(e) => setModel(e.target.value)} data-testid="writer-model">{ids.map((m) => <option key={m} value={m}>{m}</option>)}</select>}</Field>
      <Field label={t('writer.knowledge')} hint={t('writer.knowledgeHint')}>{(id) => (
        <select id={id} value={kb} onChange={(e) => setKb(e.target.value)} data-testid="writer-kb">
          <option value="">{t('writer.noKnowledge')}</option>
          {(kbs.data?.data ?? []).map((k) => <option key={k.id} value={k.id}>{k.name}</option>)}
        </select>
      )}</Field>
    </div>
  );

  return (
    <div className="stack">
      <section className="card" aria-labelledby="writer-title">
        <h2 id="writer-title">{t('writer.title')}</h2>
        <p className="muted">{t('writer.intro')}</p>
        <ErrorBox error={models.error ?? templates.error} onRetry={() => { models.reload(); templates.reload(); }} />
        {models.data && ids.length === 0 && <Empty>{t('copilot.noModels')}</Empty>}
        {modelSelect}
      </section>

      <section className="card" aria-labelledby="writer-template">
        <h3 id="writer-template">{t('writer.fromTemplate')}</h3>
        <form onSubmit={compose} className="stack">
          <Field label={t('writer.template')}>{(id) => (
            <select id={id} value={tpl?.id ?? ''} onChange={(e) => { setTid(e.target.value); setFields({}); }} data-testid="writer-template">
              {(templates.data?.data ?? []).map((x) => <option key={x.id} value={x.id}>{x.name[lang]}</option>)}
            </select>
          )}</Field>
          {tpl && <p className="muted">{tpl.description[lang]}</p>}
          {tpl?.fields.map((f) => (
            <Field key={`${tpl.id}.${f.name}`} label={`${f.label[lang]}${f.required ? ' *' : ''}`}>{(id) => (f.kind === 'textarea'
              ? <textarea id={id} rows={4} value={fields[f.name] ?? ''} onChange={(e) => setFields({ ...fields, [f.name]: e.target.value })} data-testid={`writer-field-${f.name}`} />
              : <input id={id} value={fields[f.name] ?? ''} onChange={(e) => setFields({ ...fields, [f.name]: e.target.value })} data-testid={`writer-field-${f.name}`} />)}</Field>
          ))}
          <StyleControls style={tStyle} onChange={setTStyle} />
          <div><button type="submit" className="primary" disabled={cBusy || !model || !tpl} data-testid="writer-compose">{cBusy ? t('common.working') : t('writer.compose')}</button></div>
        </form>
        <ErrorBox error={cError} />
        {composed && <div className="stack"><pre className="wrap" data-testid="writer-composed">{composed.text}</pre><Sources sources={composed.sources} /></div>}
      </section>

      <section className="card" aria-labelledby="writer-long">
        <h3 id="writer-long">{t('writer.longDocument')}</h3>
        <form onSubmit={write} className="stack">
          <Field label={t('writer.docTitle')}>{(id) => <input id={id} value={title} onChange={(e) => setTitle(e.target.value)} required data-testid="writer-doc-title" />}</Field>
          <Field label={t('writer.brief')}>{(id) => <textarea id={id} rows={2} value={brief} onChange={(e) => setBrief(e.target.value)} />}</Field>
          <Field label={t('writer.outline')} hint={t('writer.outlineHint')}>{(id) => <textarea id={id} rows={5} value={outline} onChange={(e) => setOutline(e.target.value)} required data-testid="writer-outline" />}</Field>
          <StyleControls style={dStyle} onChange={setDStyle} />
          <div className="row">
            <button type="submit" className="primary" disabled={dBusy || !model} data-testid="writer-write">{dBusy ? t('writer.writing') : t('writer.write')}</button>
            {stop && <button type="button" onClick={() => stop.abort()}>{t('writer.stop')}</button>}
          </div>
        </form>
        <ErrorBox error={dError} />
        {doc && (
          <article className="stack" data-testid="writer-document" data-status={doc.status}>
            <h3>{doc.title}</h3>
            <p className="muted">{t('writer.progress', { done: doc.sections.filter((s) => s.status === 'done').length, n: doc.sections.length })}</p>
            {doc.sections.map((s, i) => (
              <section key={i} data-testid="writer-section" data-status={s.status}>
                <h4>{i + 1}. {s.heading} {s.status === 'writing' && <small className="muted">{t('writer.writing')}</small>}</h4>
                <p className="wrap">{s.status === 'done' ? s.text : live[i] ?? ''}</p>
              </section>
            ))}
            {doc.images.map((im, i) => im.b64_json ? <figure key={i}><img src={`data:image/png;base64,${im.b64_json}`} alt={im.prompt} style={{ maxWidth: 320 }} /><figcaption>{im.prompt}</figcaption></figure> : im.url ? <figure key={i}><img src={im.url} alt={im.prompt} style={{ maxWidth: 320 }} /></figure> : null)}
            <Sources sources={doc.sources.filter((x) => doc.sections.some((s) => s.cited.includes(x.ref)))} />
            {doc.status === 'completed' && (
              <div className="row">
                <button type="button" onClick={() => download(doc, 'markdown').catch(setDError)} data-testid="writer-export-md">{t('writer.exportMd')}</button>
                <button type="button" onClick={() => download(doc, 'docx').catch(setDError)} data-testid="writer-export-docx">{t('writer.exportDocx')}</button>
              </div>
            )}
            {doc.status === 'completed' && (imageModels.length === 0
              ? <p className="muted" data-testid="writer-no-images">{t('writer.noImages')}</p>
              : (
                <form className="row wrap" onSubmit={addImage}>
                  <Field label={t('writer.imageModel')}>{(id) => <select id={id} value={imgModel || imageModels[0]} onChange={(e) => setImgModel(e.target.value)}>{imageModels.map((m) => <option key={m} value={m}>{m}</option>)}</select>}</Field>
                  <Field label={t('writer.imagePrompt')}>{(id) => <input id={id} value={imgPrompt} onChange={(e) => setImgPrompt(e.target.value)} data-testid="writer-image-prompt" />}</Field>
                  <button type="submit" disabled={imgBusy || !imgPrompt.trim()}>{imgBusy ? t('common.working') : t('writer.addImage')}</button>
                </form>
              ))}
            <ErrorBox error={imgError} />
          </article>
        )}
      </section>

      <section className="card" aria-labelledby="writer-docs">
        <h3 id="writer-docs">{t('writer.documents')}</h3>
        <ErrorBox error={docs.error} onRetry={docs.reload} />
        {docs.data && docs.data.data.length === 0 && <Empty>{t('writer.noDocuments')}</Empty>}
        <ul data-testid="writer-doc-list">
          {(docs.data?.data ?? []).map((d) => <li key={d.id}><button type="button" className="link" onClick={() => open(d.id)}>{d.title}</button> <small className="muted">{fmtTime(Math.floor(d.created_at / 1000))} · {t(STATUS[d.status])}</small></li>)}
        </ul>
      </section>
    </div>
  );
}
