/**
 * Playground: chat with any served model or published bot (streamed), a sampling preset plus temperature / top-p /
 * max-tokens sliders, two targets side by side on one prompt, and marking each answer right or wrong (each mark is
 * also sent to POST /v1/feedback, the review queue that feeds DPO/SFT/KTO training: by response id when the answer
 * has one, so the server takes prompt and answer from its request log). Side by side, each turn can be judged
 * "A is better / B is better / tie" (a preference pair). Under a guarded answer: the guard's outcome and verdicts.
 * Marks are also kept in this browser and downloadable as JSON Lines.
 * Endpoints: GET /v1/models, GET /v1/bots, POST /v1/chat/completions (stream, `x-modelfab-source: playground`),
 * POST /v1/bots/NAME/chat/completions, POST /v1/feedback.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, get, post, sse, type Bot, type BotCitation, type ChatCompletion, type ChatCompletionChunk, type GuardSummary, type ListOf, type ModelObject } from '../api';
import type { FeedbackRequest } from '../../../src/control/feedback.ts';
import { useI18n } from '../i18n';
import { Empty, ErrorBox, Field, useLoad } from '../components/ui';
import { GuardNote } from '../components/Guard';

type Mark = 'right' | 'wrong';
type Choice = 'a' | 'b' | 'tie';
interface Msg {
  role: 'user' | 'assistant'; content: string; mark?: Mark; citations?: BotCitation[]; error?: unknown; pending?: boolean;
  /** The turn this message belongs to (the same in both panes), the server's response id, and what the guard did. */
  turn?: number; id?: string; guard?: GuardSummary;
}
interface StoredMark { at: string; target: string; prompt: string; answer: string; mark: Mark }

const PRESETS = { conservative: { temperature: 0.2, top_p: 0.8 }, balanced: { temperature: 0.7, top_p: 0.95 }, creative: { temperature: 1.0, top_p: 1.0 } } as const;
type PresetName = keyof typeof PRESETS;
const MARKS = 'modelfab.marks';
/** Chat requests from here are logged with source "playground" in the request log. */
const SOURCE = { 'x-modelfab-source': 'playground' };

function loadMarks(): StoredMark[] {
  try { return JSON.parse(localStorage.getItem(MARKS) ?? '[]') as StoredMark[]; } catch { return []; }
}

export function Playground({ params }: { params: URLSearchParams }) {
  const { t } = useI18n();
  const models = useLoad((s) => get<ListOf<ModelObject>>('/v1/models', s), []);
  const bots = useLoad((s) => get<ListOf<Bot>>('/v1/bots', s).catch(() => ({ data: [] })), []);
  const initial = params.get('model') ? `model:${params.get('model')}` : '';
  const [targets, setTargets] = useState<[string, string]>([initial, '']);
  const [sideBySide, setSideBySide] = useState(false);
  const [preset, setPreset] = useState<PresetName | 'custom'>('balanced');
  const [temperature, setTemperature] = useState(0.7);
  const [topP, setTopP] = useState(0.95);
  const [maxTokens, setMaxTokens] = useState(128);
  const [system, setSystem] = useState('');
  const [input, setInput] = useState('');
  const [chats, setChats] = useState<[Msg[], Msg[]]>([[], []]);
  const [marks, setMarks] = useState<StoredMark[]>(loadMarks);
  const [prefs, setPrefs] = useState<Record<number, Choice>>({});
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const modelIds = (models.data?.data ?? []).map((m) => m.id);
  const botNames = (bots.data?.data ?? []).filter((b) => b.published).map((b) => b.name);
  useEffect(() => {
    if (!targets[0] && modelIds.length) setTargets(([, b]) => [`model:${modelIds[0]}`, b]);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- a default target once the models arrive, not on every pick
  }, [models.data]);
  useEffect(() => { localStorage.setItem(MARKS, JSON.stringify(marks)); }, [marks]);

  const choosePreset = (p: PresetName | 'custom') => {
    setPreset(p);
    if (p !== 'custom') { setTemperature(PRESETS[p].temperature); setTopP(PRESETS[p].top_p); }
  };

  const panes = sideBySide ? [0, 1] as const : [0] as const;

  const update = (pane: number, fn: (m: Msg[]) => Msg[]) => setChats((c) => (pane === 0 ? [fn(c[0]), c[1]] : [c[0], fn(c[1])]));

  const runPane = async (pane: number, history: Msg[], turn: number, signal: AbortSignal) => {
    const target = targets[pane]!;
    const [kind, name] = [target.slice(0, target.indexOf(':')), target.slice(target.indexOf(':') + 1)];
    const messages = [...(system.trim() ? [{ role: 'system', content: system.trim() }] : []), ...history.filter((m) => !m.error).map((m) => ({ role: m.role, content: m.content }))];
    update(pane, (m) => [...m, { role: 'assistant', content: '', pending: true, turn }]);
    const patch = (p: Partial<Msg>) => update(pane, (m) => [...m.slice(0, -1), { ...m.at(-1)!, ...p }]);
    try {
      if (kind === 'bot') {
        const r = await post<ChatCompletion & { citations?: BotCitation[]; guard?: GuardSummary }>(`/v1/bots/${encodeURIComponent(name)}/chat/completions`, { messages });
        patch({ content: r.choices[0]?.message.content ?? '', citations: r.citations, id: r.id, guard: r.guard, pending: false });
        return;
      }
      let text = '';
      let id: string | undefined;
      for await (const ev of sse('/v1/chat/completions', { signal, headers: SOURCE, body: { model: name, messages, stream: true, temperature, top_p: topP, max_tokens: maxTokens } })) {
        if (ev.data === '[DONE]') break;
        // a chunk, the guard's verdicts on their own, or an error the server met after the stream began
        const d = JSON.parse(ev.data) as Partial<ChatCompletionChunk> & { guard?: GuardSummary; error?: { message: string; code?: string } };
        if (d.error) throw new ApiError(500, d.error.message, '', d.error.code ?? null);
        if (d.id && !id) { id = d.id; patch({ id }); }
        if (d.guard) patch({ guard: d.guard });
        const piece = d.choices?.[0]?.delta?.content;
        if (piece) { text += piece; patch({ content: text }); }
      }
      patch({ pending: false });
    } catch (e) {
      patch({ pending: false, error: (e as Error).name === 'AbortError' ? undefined : e });
    }
  };

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const text = input.trim();
    if (!text || busy) return;
    const ac = new AbortController();
    abort.current = ac;
    setBusy(true);
    setInput('');
    const turn = Date.now();
    const histories = chats.map((c) => [...c, { role: 'user', content: text, turn } as Msg]);
    setChats([histories[0]!, sideBySide ? histories[1]! : chats[1]]);
    await Promise.all(panes.map((p) => runPane(p, histories[p]!, turn, ac.signal)));
    setBusy(false);
    abort.current = null;
  };

  const mark = (pane: number, i: number, m: Mark) => {
    const msgs = chats[pane]!;
    const msg = msgs[i]!;
    const next = msg.mark === m ? undefined : m;
    update(pane, (list) => list.map((x, j) => (j === i ? { ...x, mark: next } : x)));
    const prompt = [...msgs.slice(0, i)].reverse().find((x) => x.role === 'user')?.content ?? '';
    setMarks((all) => {
      const rest = all.filter((x) => !(x.target === targets[pane] && x.prompt === prompt && x.answer === msg.content));
      return next ? [...rest, { at: new Date().toISOString(), target: targets[pane]!, prompt, answer: msg.content, mark: next }] : rest;
    });
    // The mark also goes to the server's feedback queue, where it becomes training data (DPO, SFT, KTO): by response
    // id when the answer has one (the server takes prompt and answer from its log), else (or when the log misses it)
    // with this prompt and answer.
    if (!next) return;
    const body = { model: targets[pane], source: 'playground', prompt, answer: msg.content, label: next } satisfies FeedbackRequest;
    const sent = msg.id ? post('/v1/feedback', { response_id: msg.id, label: next, source: 'playground' } satisfies FeedbackRequest).catch((e) => (e instanceof ApiError && e.status > 0 ? post('/v1/feedback', { ...body, response_id: msg.id }) : Promise.reject(e))) : post('/v1/feedback', body);
    void sent.catch(() => undefined);
  };

  /** The turns both panes answered (side by side), with each pane's answer. */
  const turns = chats[0].filter((m) => m.role === 'assistant' && m.turn !== undefined && !m.pending && !m.error).flatMap((a) => {
    const b = chats[1].find((m) => m.role === 'assistant' && m.turn === a.turn && !m.pending && !m.error);
    const prompt = chats[0].find((m) => m.role === 'user' && m.turn === a.turn)?.content ?? '';
    return b ? [{ turn: a.turn!, prompt, a, b }] : [];
  });

  const prefer = (turn: number, choice: Choice) => {
    const x = turns.find((tn) => tn.turn === turn);
    if (!x) return;
    const next = prefs[turn] === choice ? undefined : choice;
    setPrefs((p) => { const rest = { ...p }; delete rest[turn]; return next ? { ...rest, [turn]: next } : rest; });
    // A preference pair for DPO / ranking data; the answers go along, so it works even without a log entry.
    if (next) {
      void post('/v1/feedback', {
        preferred: { ...(x.a.id ? { response_id_a: x.a.id } : {}), ...(x.b.id ? { response_id_b: x.b.id } : {}), answer_a: x.a.content, answer_b: x.b.content, choice: next },
        prompt: x.prompt, source: 'playground',
      } satisfies FeedbackRequest).catch(() => undefined);
    }
  };

  const download = () => {
    const blob = new Blob([marks.map((m) => JSON.stringify(m)).join('\n') + '\n'], { type: 'application/jsonl' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'modelfab-marks.jsonl';
    a.click();
    URL.revokeObjectURL(a.href);
  };

  const targetSelect = (pane: 0 | 1) => (
    <Field label={pane === 0 ? t('play.target') : t('play.targetB')}>{(id) => (
      <select id={id} value={targets[pane]} onChange={(e) => setTargets((tg) => (pane === 0 ? [e.target.value, tg[1]] : [tg[0], e.target.value]))} data-testid={`target-${pane}`}>
        <option value="">{t('play.choose')}</option>
        {modelIds.length > 0 && <optgroup label={t('play.models')}>{modelIds.map((m) => <option key={m} value={`model:${m}`}>{m}</option>)}</optgroup>}
        {botNames.length > 0 && <optgroup label={t('play.bots')}>{botNames.map((b) => <option key={b} value={`bot:${b}`}>{b}</option>)}</optgroup>}
      </select>
    )}</Field>
  );

  return (
    <div className="stack">
      <section className="card settings" aria-label={t('play.settings')}>
        <div className="row wrap">
          {targetSelect(0)}
          {sideBySide && targetSelect(1)}
          <label className="check"><input type="checkbox" checked={sideBySide} onChange={(e) => setSideBySide(e.target.checked)} data-testid="side-by-side" /> {t('play.sideBySide')}</label>
        </div>
        <ErrorBox error={models.error} onRetry={models.reload} />
        {models.data && modelIds.length === 0 && <Empty>{t('play.noModels')}</Empty>}
        <div className="row wrap">
          <Field label={t('play.preset')}>{(id) => (
            <select id={id} value={preset} onChange={(e) => choosePreset(e.target.value as PresetName | 'custom')}>
              {(['conservative', 'balanced', 'creative'] as const).map((p) => <option key={p} value={p}>{t(`preset.${p}`)}</option>)}
              <option value="custom">{t('preset.custom')}</option>
            </select>
          )}</Field>
          <Field label={`${t('play.temperature')}: ${temperature.toFixed(2)}`}>{(id) => <input id={id} type="range" min={0} max={2} step={0.05} value={temperature} onChange={(e) => { setTemperature(Number(e.target.value)); setPreset('custom'); }} />}</Field>
          <Field label={`${t('play.topP')}: ${topP.toFixed(2)}`}>{(id) => <input id={id} type="range" min={0.05} max={1} step={0.05} value={topP} onChange={(e) => { setTopP(Number(e.target.value)); setPreset('custom'); }} />}</Field>
          <Field label={`${t('play.maxTokens')}: ${maxTokens}`}>{(id) => <input id={id} type="range" min={8} max={1024} step={8} value={maxTokens} onChange={(e) => setMaxTokens(Number(e.target.value))} />}</Field>
        </div>
        <Field label={t('play.system')}>{(id) => <textarea id={id} rows={2} value={system} onChange={(e) => setSystem(e.target.value)} placeholder={t('play.systemHint')} />}</Field>
      </section>

      <div className={sideBySide ? 'panes two' : 'panes'}>
        {panes.map((p) => (
          <section key={p} className="card chat" aria-label={targets[p] ? targets[p]!.slice(targets[p]!.indexOf(':') + 1) : t('play.choose')} data-testid={`pane-${p}`}>
            <h2 className="mono small">{targets[p] ? targets[p]!.slice(targets[p]!.indexOf(':') + 1) : t('play.choose')}</h2>
            <ol className="messages" aria-live="polite">
              {chats[p]!.length === 0 && <li className="muted">{t('play.empty')}</li>}
              {chats[p]!.map((m, i) => (
                <li key={i} className={`msg ${m.role}`}>
                  <span className="who">{m.role === 'user' ? t('play.you') : t('play.assistant')}</span>
                  <div className="bubble" data-testid={m.role === 'assistant' ? 'answer' : undefined}>{m.content || (m.pending ? '…' : '')}</div>
                  {m.error ? <ErrorBox error={m.error} /> : null}
                  {m.citations && m.citations.length > 0 && m.citations.some((c) => c.sure === false) && <p className="small warn" data-testid="not-sure">{t('play.notSure')}</p>}
                  {m.citations && m.citations.length > 0 && <ul className="citations">{m.citations.map((c, k) => <li key={k}>[{c.ref ?? k + 1}] {c.document ?? ''} {c.label ?? ''}</li>)}</ul>}
                  {m.role === 'assistant' && !m.pending && <GuardNote guard={m.guard} />}
                  {m.role === 'assistant' && !m.pending && !m.error && (
                    <div className="marks" role="group" aria-label={t('play.markLabel')}>
                      <button type="button" className={m.mark === 'right' ? 'small on right' : 'small'} aria-pressed={m.mark === 'right'} onClick={() => mark(p, i, 'right')} data-testid="mark-right">✓ {t('play.right')}</button>
                      <button type="button" className={m.mark === 'wrong' ? 'small on wrong' : 'small'} aria-pressed={m.mark === 'wrong'} onClick={() => mark(p, i, 'wrong')} data-testid="mark-wrong">✗ {t('play.wrong')}</button>
                    </div>
                  )}
                </li>
              ))}
            </ol>
          </section>
        ))}
      </div>

      {sideBySide && turns.length > 0 && (
        <section className="card" aria-labelledby="prefer-title" data-testid="prefer">
          <h2 id="prefer-title">{t('play.preferTitle')}</h2>
          <ol className="prefer-list">
            {turns.map((x, k) => (
              <li key={x.turn} data-testid="prefer-turn">
                <span className="prompt">{t('play.turn', { n: k + 1 })} <span className="muted">{x.prompt.length > 80 ? `${x.prompt.slice(0, 80)}…` : x.prompt}</span></span>
                <div className="marks" role="group" aria-label={t('play.preferLabel', { n: k + 1 })}>
                  {(['a', 'b', 'tie'] as const).map((c) => (
                    <button key={c} type="button" className={prefs[x.turn] === c ? 'small on right' : 'small'} aria-pressed={prefs[x.turn] === c} onClick={() => prefer(x.turn, c)} data-testid={`prefer-${c}`}>{t(`play.prefer.${c}`)}</button>
                  ))}
                </div>
              </li>
            ))}
          </ol>
        </section>
      )}

      <form className="card composer" onSubmit={send}>
        <Field label={t('play.prompt')} hint={t('play.promptHint')}>{(id) => (
          <textarea id={id} rows={3} value={input} onChange={(e) => setInput(e.target.value)} data-testid="prompt"
            onKeyDown={(e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); e.currentTarget.form?.requestSubmit(); } }} />
        )}</Field>
        <div className="row spread">
          <div className="row">
            <button type="submit" className="primary" disabled={busy || !targets[0] || (sideBySide && !targets[1])} data-testid="send">{busy ? t('play.answering') : t('play.send')}</button>
            {busy && <button type="button" onClick={() => abort.current?.abort()}>{t('play.stop')}</button>}
            <button type="button" onClick={() => { setChats([[], []]); setPrefs({}); }} disabled={busy}>{t('play.clear')}</button>
          </div>
          <div className="row">
            <span className="muted" data-testid="mark-count">{t('play.marks', { right: marks.filter((m) => m.mark === 'right').length, wrong: marks.filter((m) => m.mark === 'wrong').length })}</span>
            <button type="button" className="small" onClick={download} disabled={!marks.length}>{t('play.downloadMarks')}</button>
          </div>
        </div>
      </form>
    </div>
  );
}
