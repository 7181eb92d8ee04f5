/**
 * `modelfab keys create|list|revoke`: API keys of a data folder (scopes, expiry, rate limit, token quota). The plain
 * key is printed once at creation; only its hash is stored.
 */
import type { Command } from 'commander';
import { createKey, describeKey } from '../serve/keys.ts';
import { nowSeconds } from '../store/store.ts';
import { withStore } from './deploy.ts';

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));
const num = (v: string | undefined, name: string) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, got ${v}`);
  return n;
};

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('API keys: scopes, expiry, rate limits, token quotas');
  keys
    .command('create')
    .description('create a key (printed once)')
    .requiredOption('--name <name>', 'what the key is for')
    .option('--owner <deployment-or-app>', 'the deployment or application it is issued to')
    .option('--models <list>', 'comma-separated models it may use (a trailing * matches a prefix, e.g. ft:*); default all')
    .option('--endpoints <list>', 'comma-separated: chat.completions, completions, embeddings, models; default all')
    .option('--knowledge <list>', 'comma-separated knowledge base ids it may read (search, ask, the Copilot); "" for none; default all')
    .option('--expires-days <n>', 'expire after this many days')
    .option('--rpm <n>', 'requests per minute')
    .option('--quota <tokens>', 'total tokens (prompt + completion)')
    .option('--admin', 'an admin key (may administer deployments and keys)')
    .option('--data <dir>', 'data folder', './modelfab-data')
    .option('--json', 'print JSON')
    .action(async (o: { name: string; owner?: string; models?: string; endpoints?: string; knowledge?: string; expiresDays?: string; rpm?: string; quota?: string; admin?: boolean; data: string; json?: boolean }) => {
      await withStore(o.data, async (store) => {
        const days = num(o.expiresDays, 'expires-days');
        const { key, row } = await createKey(store, {
          name: o.name, owner: o.owner, models: list(o.models), endpoints: list(o.endpoints), role: o.admin ? 'admin' : 'user',
          knowledge: o.knowledge === undefined ? undefined : o.knowledge.split(',').map((x) => x.trim()).filter(Boolean),
          expiresAt: days ? nowSeconds() + Math.round(days * 86400) : undefined, rateLimitRpm: num(o.rpm, 'rpm'), tokenQuota: num(o.quota, 'quota'),
        });
        if (o.json) process.stdout.write(`${JSON.stringify({ ...describeKey(row), key })}\n`);
        else process.stdout.write(`created ${row.id} (${row.name})\n\n    ${key}\n\nshown once; only its hash is stored.\n`);
      });
    });
  keys
    .command('list')
    .option('--data <dir>', 'data folder', './modelfab-data')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => {
      await withStore(o.data, async (store) => {
        const rows = (await store.apiKeys.list()).map(describeKey);
        if (o.json) { process.stdout.write(`${JSON.stringify(rows)}\n`); return; }
        for (const r of rows) {
          const s = r.scopes as { models: string[] | null; endpoints: string[] | null };
          const state = r.revoked_at ? 'revoked' : r.expires_at && (r.expires_at as number) <= nowSeconds() ? 'expired' : 'active';
          process.stdout.write(`${r.id}  ${String(r.prefix)}…  ${String(r.name).padEnd(24)} ${String(r.role).padEnd(5)} ${state.padEnd(7)} models ${s.models?.join(',') ?? 'all'}; endpoints ${s.endpoints?.join(',') ?? 'all'}` +
            `${r.rate_limit_rpm ? `; ${r.rate_limit_rpm} rpm` : ''}${r.token_quota ? `; quota ${r.token_quota} tokens` : ''}\n`);
        }
      });
    });
  keys
    .command('revoke <id>')
    .option('--data <dir>', 'data folder', './modelfab-data')
    .action(async (id: string, o: { data: string }) => {
      await withStore(o.data, async (store) => {
        const k = await store.apiKeys.get(id);
        if (!k) throw new Error(`no API key ${id}`);
        if (k.revoked_at === null) await store.apiKeys.revoke(id, nowSeconds());
        process.stdout.write(`revoked ${id}\n`);
      });
    });
}
