/**
 * Small accessible building blocks shared by the pages: labelled fields, buttons, an error box that says what to do,
 * progress bars, a modal dialog (native <dialog>: Escape closes, focus stays inside), tabs with arrow keys, a
 * data-loading hook, copy-to-clipboard, and number/time formatting.
 */
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api';
import { useI18n, type Key } from '../i18n';

export function Field({ label, hint, children, inline }: { label: string; hint?: string; inline?: boolean; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className={inline ? 'field inline' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {children(id)}
      {hint && <small className="hint">{hint}</small>}
    </div>
  );
}

/** What to do about an error, by status and code. */
export function adviceKey(e: ApiError): Key {
  if (e.status === 0) return 'err.network';
  if (e.status === 401) return 'err.401';
  if (e.status === 403) return e.code === 'admin_required' ? 'err.admin' : 'err.403';
  if (e.status === 404 && e.code === 'unknown_url') return 'err.notAvailable';
  if (e.status === 404) return 'err.404';
  if (e.status === 409) return 'err.409';
  if (e.status === 413) return 'err.413';
  if (e.status === 429) return 'err.429';
  if (e.status === 503) return 'err.503';
  if (e.status >= 500) return 'err.500';
  if (e.problems.length) return 'err.problems';
  return 'err.400';
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  if (!error) return null;
  const e = error instanceof ApiError ? error : new ApiError(-1, (error as Error)?.message ?? String(error));
  const message = e.status === 0 ? t('err.networkMsg') : e.message;
  return (
    <div className="error" role="alert">
      <strong>{message}</strong>
      {e.status >= 0 && <p>{t(adviceKey(e), { param: e.param ?? '' })}</p>}
      {e.problems.length > 0 && (
        <div className="table-wrap">
          <table className="problems" data-testid="problems">
            <caption>{t('err.problemsCaption', { n: e.problems.length + e.problemsOmitted })}</caption>
            <thead><tr><th scope="col">{t('col.file')}</th><th scope="col">{t('col.line')}</th><th scope="col">{t('col.where')}</th><th scope="col">{t('col.problem')}</th></tr></thead>
            <tbody>{e.problems.map((p, i) => <tr key={i}><td>{p.file}</td><td>{p.line ?? ''}</td><td><code>{p.path ?? ''}</code></td><td>{p.message}</td></tr>)}</tbody>
          </table>
          {e.problemsOmitted > 0 && <p>{t('err.problemsOmitted', { n: e.problemsOmitted })}</p>}
        </div>
      )}
      {onRetry && <button type="button" onClick={onRetry}>{t('action.retry')}</button>}
    </div>
  );
}

export function Progress({ value, label }: { value?: number | null; label: string }) {
  const pct = value === undefined || value === null ? null : Math.max(0, Math.min(1, value));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct === null ? undefined : Math.round(pct * 100)}>
      <div className={pct === null ? 'bar indeterminate' : 'bar'} style={pct === null ? undefined : { width: `${pct * 100}%` }} />
    </div>
  );
}

export function Busy({ label }: { label: string }) {
  return <div className="busy" role="status"><Progress label={label} /><span>{label}</span></div>;
}

export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={id} onClose={onClose} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <header className="dialog-head">
        <h2 id={id}>{title}</h2>
        <CloseButton onClick={onClose} />
      </header>
      {open && children}
    </dialog>
  );
}

function CloseButton({ onClick }: { onClick: () => void }) {
  const { t } = useI18n();
  return <button type="button" className="ghost" aria-label={t('action.close')} onClick={onClick}>×</button>;
}

export function Tabs<T extends string>({ tabs, value, onChange, label }: { tabs: { id: T; label: string }[]; value: T; onChange: (v: T) => void; label: string }) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const key = (e: React.KeyboardEvent, i: number) => {
    const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!d) return;
    const j = (i + d + tabs.length) % tabs.length;
    onChange(tabs[j]!.id);
    refs.current[j]?.focus();
  };
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map((tb, i) => (
        <button key={tb.id} ref={(el) => { refs.current[i] = el; }} type="button" role="tab" aria-selected={tb.id === value} tabIndex={tb.id === value ? 0 : -1}
          onClick={() => onChange(tb.id)} onKeyDown={(e) => key(e, i)}>{tb.label}</button>
      ))}
    </div>
  );
}

/** Loads data on mount and on `deps` change; `reload()` refetches; `every` ms polls while `poll` is true. */
export function useLoad<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[], o: { every?: number; poll?: boolean } = {}) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((x) => x + 1), []);
  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    fn(ac.signal).then((d) => { if (!ac.signal.aborted) { setData(d); setError(null); } }, (e) => { if (!ac.signal.aborted && (e as Error).name !== 'AbortError') setError(e); })
      .finally(() => { if (!ac.signal.aborted) setLoading(false); });
    return () => ac.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller's deps list is what `fn` reads
  }, [...deps, tick]);
  useEffect(() => {
    if (!o.every || o.poll === false) return;
    const h = setInterval(reload, o.every);
    return () => clearInterval(h);
  }, [o.every, o.poll, reload]);
  return { data, error, loading, reload, setData };
}

export function CopyButton({ text, label }: { text: string; label?: string }) {
  const { t } = useI18n();
  const [done, setDone] = useState(false);
  return (
    <button type="button" className="small" onClick={() => { void navigator.clipboard?.writeText(text).then(() => { setDone(true); setTimeout(() => setDone(false), 1500); }); }}>
      {done ? t('action.copied') : label ?? t('action.copy')}
    </button>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const k = `status.${status}` as Key;
  return <span className={`badge s-${status}`}>{t(k, {}, status)}</span>;
}

/** A file picker whose button and "no file" text follow the console's language (the native one follows the browser's). */
export function FileInput({ label, accept, onFile, testId, required }: { label: string; accept?: string; onFile: (f: File | null) => void; testId?: string; required?: boolean }) {
  const { t } = useI18n();
  const id = useId();
  const [name, setName] = useState('');
  return (
    <div className="field">
      <span id={`${id}-l`}>{label}</span>
      <div className="file-pick">
        <label className="button" htmlFor={id}>{t('file.choose')}</label>
        <input id={id} type="file" className="file-hidden" accept={accept} required={required} aria-labelledby={`${id}-l`} data-testid={testId}
          onChange={(e) => { const f = e.target.files?.[0] ?? null; setName(f?.name ?? ''); onFile(f); }} />
        <span className={name ? 'mono' : 'muted'}>{name || t('file.none')}</span>
      </div>
    </div>
  );
}

// ---------------------------------------------------------------- formatting

let locale = 'en';
/** The language dates and numbers are formatted in (set by the language provider). */
export function setFormatLocale(l: string): void { locale = l; }

export const fmtNum = (v: number | null | undefined, digits = 0) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString(locale, { maximumFractionDigits: digits, minimumFractionDigits: digits }));
export const fmtPct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(100 * v).toFixed(1)}`);
export const fmtDelta = (v: number | null | undefined) => (v === null || v === undefined ? '' : `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`);
export const fmtLoss = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(4));
export function fmtParams(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}
export function fmtDuration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s > 0 && s < 1) return '<1s';
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
export const fmtTime = (unix: number | null | undefined) => (unix ? new Date(unix * 1000).toLocaleString(locale) : '–');
export const fmtClock = (unix: number) => new Date(unix * 1000).toLocaleTimeString(locale);
export const fmtBytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
