/**
 * `modelfab keys create|list|revoke`: API keys on the running server (admin key needed): scopes (models,
 * endpoints, knowledge bases, management areas), expiry, rate limit, token quota. The plain key is printed once at
 * creation; the server stores only its hash.
 */
import type { Command } from 'commander';
import { MANAGE_AREAS } from '../serve/api-keys.ts';
import { ApiClient, clientOptions, seg, withClient } from './client.ts';
import { commaList, positive, positiveInt } from './option-values.ts';

interface CreateOpts {
  url?: string; apiKey?: string; owner?: string; models?: string; endpoints?: string; knowledge?: string; manage?: string;
  expiresDays?: string; rpm?: string; quota?: string; admin?: boolean; json?: boolean;
}

/** The body of POST /v1/keys for `keys create NAME [options]` (pure: tested without a server). */
export function keyRequest(name: string, o: CreateOpts, now = Math.floor(Date.now() / 1000)): Record<string, unknown> {
  const days = positive(o.expiresDays, 'expires-days');
  const body: Record<string, unknown> = {
    name, owner: o.owner, models: commaList(o.models), endpoints: commaList(o.endpoints), knowledge: commaList(o.knowledge), manage: commaList(o.manage),
    expires_at: days ? now + Math.round(days * 86400) : undefined, rate_limit_rpm: positiveInt(o.rpm, 'rpm'), token_quota: positiveInt(o.quota, 'quota'),
    role: o.admin ? 'admin' : undefined,
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

type KeyObject = {
  id: string; name: string; prefix: string; role: string; revoked_at: number | null; expires_at: number | null; rate_limit_rpm: number | null; token_quota: number | null;
  scopes: { models: string[] | null; endpoints: string[] | null; knowledge?: string[] | null; manage?: string[] | null };
};

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('API keys on the server: scopes, expiry, rate limits, token quotas (admin key needed)');
  withClient(keys
    .command('create <name>')
    .description('create a key on the server and print it once (name: what the key is for)')
    .option('--owner <deployment-or-app>', 'the deployment or application it is issued to')
    .option('--models <list>', 'comma-separated models it may use (a trailing * matches a prefix, e.g. ft:*); default all')
    .option('--endpoints <list>', 'comma-separated: chat.completions, completions, embeddings, models; default all')
    .option('--knowledge <list>', 'comma-separated knowledge base ids it may read (search, ask, the Copilot); "" for none; default all')
    .option('--manage <areas>', `comma-separated areas it may manage: ${MANAGE_AREAS.join(', ')}`)
    .option('--expires-days <n>', 'expire after this many days')
    .option('--rpm <n>', 'requests per minute')
    .option('--quota <tokens>', 'total tokens (prompt + completion)')
    .option('--admin', 'an admin key (may administer everything, keys included)')
    .option('--json', 'print JSON'))
    .action(async (name: string, o: CreateOpts) => {
      const k = await new ApiClient(clientOptions(o)).post<KeyObject & { key: string }>('/v1/keys', keyRequest(name, o));
      if (o.json) process.stdout.write(`${JSON.stringify(k)}\n`);
      else process.stdout.write(`created ${k.id} (${k.name})\n\n    ${k.key}\n\nshown once; the server stores only its hash.\n`);
    });
  withClient(keys.command('list').description("the server's keys (never the keys themselves)").option('--json', 'print JSON'))
    .action(async (o: { url?: string; apiKey?: string; json?: boolean }) => {
      const { data } = await new ApiClient(clientOptions(o)).get<{ data: KeyObject[] }>('/v1/keys');
      if (o.json) { process.stdout.write(`${JSON.stringify(data)}\n`); return; }
      if (!data.length) { process.stdout.write('no API keys\n'); return; }
      const now = Math.floor(Date.now() / 1000);
      for (const r of data) {
        const s = r.scopes;
        const state = r.revoked_at ? 'revoked' : r.expires_at && r.expires_at <= now ? 'expired' : 'active';
        process.stdout.write(`${r.id}  ${r.prefix}…  ${r.name.padEnd(24)} ${r.role.padEnd(5)} ${state.padEnd(7)} models ${s.models?.join(',') ?? 'all'}; endpoints ${s.endpoints?.join(',') ?? 'all'}` +
          `${s.knowledge ? `; knowledge ${s.knowledge.join(',') || 'none'}` : ''}${s.manage ? `; manage ${s.manage.join(',') || 'none'}` : ''}` +
          `${r.rate_limit_rpm ? `; ${r.rate_limit_rpm} rpm` : ''}${r.token_quota ? `; quota ${r.token_quota} tokens` : ''}\n`);
      }
    });
  withClient(keys.command('revoke <id>').description('revoke a key at once (by its id, e.g. key-…)'))
    .action(async (id: string, o: { url?: string; apiKey?: string }) => {
      await new ApiClient(clientOptions(o)).delete(`/v1/keys/${seg(id)}`);
      process.stdout.write(`revoked ${id}\n`);
    });
}
