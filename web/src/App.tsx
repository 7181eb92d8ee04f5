/**
 * The console's shell: nothing but the login form without an API key; with one, the navigation (grouped as the
 * issue's areas), the language switch (remembered), log out, and the current page from the hash route.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, api, forgetKey, saveKey, storedKey, UNAUTHORIZED } from './api';
import { useI18n, type Lang } from './i18n';
import { href, useRoute, type Page } from './router';
import { ErrorBox, Field } from './components/ui';
import { Factory } from './pages/Factory';
import { Runs } from './pages/Runs';
import { LeaderboardPage } from './pages/Leaderboard';
import { Playground } from './pages/Playground';
import { Models } from './pages/Models';
import { Requests } from './pages/Requests';
import { Data } from './pages/Data';
import { Knowledge } from './pages/Knowledge';
import { Bots } from './pages/Bots';
import { Copilot } from './pages/Copilot';
import { Writer } from './pages/Writer';
import { Coach } from './pages/Coach';

const NAV: { group: 'nav.groupFactory' | 'nav.groupServe' | 'nav.groupData' | 'nav.groupApps'; pages: Page[] }[] = [
  { group: 'nav.groupFactory', pages: ['factory', 'runs', 'leaderboard'] },
  { group: 'nav.groupServe', pages: ['playground', 'copilot', 'models', 'requests'] },
  { group: 'nav.groupData', pages: ['data', 'knowledge', 'bots'] },
  { group: 'nav.groupApps', pages: ['writer', 'coach'] },
];

export function App() {
  const { t, lang } = useI18n();
  const [key, setKey] = useState<string | null>(storedKey);
  const route = useRoute();
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    const on = () => { forgetKey(); setKey(null); };
    window.addEventListener(UNAUTHORIZED, on);
    return () => window.removeEventListener(UNAUTHORIZED, on);
  }, []);
  useEffect(() => { document.title = `${t(`page.${route.page}`)} · modelfab`; }, [route.page, lang, t]);
  useEffect(() => { main.current?.focus({ preventScroll: true }); }, [route.page]);

  if (!key) return <Login onLogin={setKey} />;
  return (
    <div className="shell">
      <a className="skip" href="#main">{t('nav.skip')}</a>
      <header className="top">
        <span className="brand">modelfab <small>{t('app.subtitle')}</small></span>
        <div className="top-actions">
          <LangSwitch />
          <button type="button" className="ghost" onClick={() => { forgetKey(); setKey(null); }}>{t('action.logout')}</button>
        </div>
      </header>
      <nav className="side" aria-label={t('nav.label')}>
        {NAV.map((g) => (
          <div key={g.group} className="nav-group">
            <h2>{t(g.group)}</h2>
            <ul>
              {g.pages.map((p) => (
                <li key={p}><a href={href(p)} aria-current={route.page === p ? 'page' : undefined} data-testid={`nav-${p}`}>{t(`page.${p}`)}</a></li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <main id="main" ref={main} tabIndex={-1} data-page={route.page}>
        <h1>{t(`page.${route.page}`)}</h1>
        <PageView page={route.page} params={route.params} />
      </main>
    </div>
  );
}

function PageView({ page, params }: { page: Page; params: URLSearchParams }) {
  switch (page) {
    case 'factory': return <Factory />;
    case 'runs': return <Runs params={params} />;
    case 'leaderboard': return <LeaderboardPage params={params} />;
    case 'playground': return <Playground params={params} />;
    case 'copilot': return <Copilot />;
    case 'models': return <Models params={params} />;
    case 'requests': return <Requests params={params} />;
    case 'data': return <Data />;
    case 'knowledge': return <Knowledge />;
    case 'bots': return <Bots />;
    case 'writer': return <Writer />;
    case 'coach': return <Coach />;
  }
}

export function LangSwitch() {
  const { t, lang, setLang } = useI18n();
  return (
    <label className="lang">
      <span className="sr-only">{t('app.language')}</span>
      <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} data-testid="lang">
        <option value="zh">中文</option>
        <option value="en">English</option>
      </select>
    </label>
  );
}

function Login({ onLogin }: { onLogin: (key: string) => void }) {
  const { t } = useI18n();
  const [value, setValue] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const k = value.trim();
    if (!k) { setError(new ApiError(400, t('login.empty'), '', null, 'key')); return; }
    setBusy(true);
    setError(null);
    try {
      await api('GET', '/v1/models', undefined, { key: k });
      saveKey(k, remember);
      onLogin(k);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new ApiError(401, t('login.refused')) : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="login">
      <form onSubmit={submit} className="card" aria-labelledby="login-title">
        <div className="login-head"><h1 id="login-title">modelfab</h1><LangSwitch /></div>
        <p>{t('login.intro')}</p>
        <Field label={t('login.key')} hint={t('login.hint')}>
          {(id) => <input id={id} type="password" autoComplete="current-password" value={value} onChange={(e) => setValue(e.target.value)} placeholder="sk-mf-…" autoFocus data-testid="login-key" />}
        </Field>
        <label className="check"><input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} /> {t('login.remember')}</label>
        <ErrorBox error={error} />
        <button type="submit" className="primary" disabled={busy} data-testid="login-submit">{busy ? t('login.checking') : t('login.submit')}</button>
      </form>
    </div>
  );
}
