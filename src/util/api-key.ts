/**
 * The API key primitives shared by the HTTP server (api/auth.ts: the admin key, authentication) and the gateway's
 * scoped keys (serve/api-keys.ts): `sk-mf-` + 40 random base62 characters, stored only as SHA-256 hashes, shown by a
 * short prefix. Here, left of both, so that neither stage reaches into the other for them.
 */
import { createHash, randomInt } from 'node:crypto';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function generateApiKey(): string {
  let s = 'sk-mf-';
  for (let i = 0; i < 40; i++) s += BASE62[randomInt(62)];
  return s;
}

/** The marker every generated key starts with. */
export const KEY_MARKER = 'sk-mf-';
/** How many characters of a key's secret part its shown prefix keeps: enough to tell keys apart, not to guess them. */
export const PREFIX_SECRET_CHARS = 4;

/**
 * The prefix stored and shown for a key: `sk-mf-` + 4 characters; a key of another form (an admin key given by
 * MODELFAB_ADMIN_KEY) shows its first 4 characters only.
 */
export function keyPrefix(key: string): string {
  return key.startsWith(KEY_MARKER) ? key.slice(0, KEY_MARKER.length + PREFIX_SECRET_CHARS) : key.slice(0, PREFIX_SECRET_CHARS);
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
