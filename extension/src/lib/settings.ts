/**
 * The extension's settings: the modelfab server's address and the key. An address is accepted as people type it
 * ("localhost:8080", "https://ai.example.com/v1/") and kept as its origin; the key is only ever sent there (the API
 * client builds every URL from that origin). Pure functions.
 */

export interface Settings {
  /** The server's origin, e.g. `http://127.0.0.1:8080`. */
  server: string;
  key: string;
  /** The chat model that answers (any the key may use). */
  model: string;
  /** The panel's language. */
  lang: 'en' | 'zh';
}

export type Checked<T> = { ok: true; value: T } | { ok: false; field: keyof Settings; problem: 'server' | 'server-credentials' | 'key' };

/** The origin of a server address, or why it is not one. */
export function normaliseServer(input: string): Checked<string> {
  const raw = input.trim();
  if (!raw) return { ok: false, field: 'server', problem: 'server' };
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    return { ok: false, field: 'server', problem: 'server' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, field: 'server', problem: 'server' };
  if (u.username || u.password) return { ok: false, field: 'server', problem: 'server-credentials' };
  return { ok: true, value: u.origin };
}

/** A key looks like a bearer token: printable, no spaces, 8 to 512 characters. */
export function checkKey(key: string): Checked<string> {
  const k = key.trim();
  return /^[\x21-\x7e]{8,512}$/.test(k) ? { ok: true, value: k } : { ok: false, field: 'key', problem: 'key' };
}

/** The host permission pattern for an origin (match patterns have no port: the permission covers the host). */
export function originPattern(origin: string): string {
  const u = new URL(origin);
  return `${u.protocol}//${u.hostname}/*`;
}

/** Hosts the manifest grants at install (a server on this machine); any other needs the user's permission at run time. */
export const PREGRANTED_HOSTS = ['localhost', '127.0.0.1'] as const;

export function needsPermission(origin: string): boolean {
  return !(PREGRANTED_HOSTS as readonly string[]).includes(new URL(origin).hostname);
}

/** Whether `url` is on the configured server (the only place the key may go). */
export function onServer(url: string, origin: string): boolean {
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}
