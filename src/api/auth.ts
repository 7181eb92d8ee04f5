/**
 * API keys: `sk-mf-` + 40 random base62 characters, stored only as SHA-256 hashes. The admin key comes from
 * MODELFAB_ADMIN_KEY (registered on start) or, when no admin key exists yet, is generated on first start and
 * returned once for printing. Every route but the public ones needs a valid, unrevoked key as
 * `Authorization: Bearer <key>`; what each key may reach is the table in authz.ts.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { nowSeconds, type ApiKeyRow, type Store } from '../store/store.ts';
import { ApiError } from './errors.ts';
import { generateApiKey, hashApiKey, keyPrefix } from '../util/api-key.ts';

export async function addApiKey(store: Store, key: string, role: ApiKeyRow['role'], name: string): Promise<ApiKeyRow> {
  const row: ApiKeyRow = {
    id: `key-${randomBytes(8).toString('hex')}`, name, hash: hashApiKey(key), prefix: keyPrefix(key), role,
    created_at: nowSeconds(), last_used_at: null, revoked_at: null,
  };
  await store.apiKeys.insert(row);
  return row;
}

/**
 * Makes sure an admin key exists. With `envKey`, registers it (once). Without, generates one when there is no admin
 * key yet and returns it: the only time the plain key is ever available.
 */
export async function ensureAdminKey(store: Store, envKey: string | undefined): Promise<string | null> {
  if (envKey) {
    if (!envKey.trim() || envKey.length < 16) throw new Error('MODELFAB_ADMIN_KEY must be at least 16 characters');
    if (!(await store.apiKeys.getByHash(hashApiKey(envKey)))) await addApiKey(store, envKey, 'admin', 'admin (MODELFAB_ADMIN_KEY)');
    return null;
  }
  const keys = await store.apiKeys.list();
  if (keys.some((k) => k.role === 'admin' && k.revoked_at === null)) return null;
  const key = generateApiKey();
  await addApiKey(store, key, 'admin', 'admin (generated)');
  return key;
}

declare module 'fastify' {
  interface FastifyRequest { apiKey?: ApiKeyRow }
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : null;
}

/**
 * The request's key: 401 without a Bearer key, or with one that is unknown or revoked. Sets `req.apiKey`.
 * (Which key may do what is src/api/authz.ts.)
 */
export async function authenticate(req: FastifyRequest, store: Store): Promise<ApiKeyRow> {
  if (req.apiKey) return req.apiKey;
  const key = bearer(req);
  if (!key) {
    throw new ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null, 'missing_api_key');
  }
  const row = await store.apiKeys.getByHash(hashApiKey(key));
  if (!row || row.revoked_at !== null) {
    throw new ApiError(401, `Incorrect API key provided: ${key.slice(0, 6)}****${key.slice(-4)}.`, 'invalid_request_error', null, 'invalid_api_key');
  }
  req.apiKey = row;
  return row;
}
