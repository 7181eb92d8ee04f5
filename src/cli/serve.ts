/**
 * `modelfab serve` (local): the HTTP API server over a data folder (SQLite database and artifacts). Prints the
 * console's and the API's addresses once it listens, and the admin key on first start.
 */
import { ensureBaseModels } from '../factory/bases.ts';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { createServer } from '../api/server.ts';
import { withData } from './local.ts';

/** The addresses a user opens: the console at `/`, the API under `/v1`. A wildcard host is shown as loopback. */
export function serveAddresses(host: string, port: number): { console: string; api: string } {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const base = `http://${shown}:${port}`;
  return { console: `${base}/`, api: `${base}/v1` };
}

export function registerServe(program: Command): void {
  withData(program
    .command('serve')
    .description('local: start the API server over a data folder (OpenAI-compatible files, fine-tuning jobs, chat; experiments, datasets, the web console); every API route needs an API key'), 'SQLite database and artifacts')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '8080')
    .option('--no-base-models', "do not pretrain the project's base models on a fresh data folder")
    .option('--max-file-mb <n>', 'largest upload, in MiB', '512')
    .option('--no-request-log', 'do not keep answers in the request log (feedback must then carry prompt and answer)')
    .option('--request-log-days <n>', 'days an answer stays in the request log (0: forever)', '90')
    .addHelpText('after', '\nThe admin key is read from MODELFAB_ADMIN_KEY; without it, one is generated on first start, stored hashed and printed once.')
    .action(async (o: { host: string; port: string; data: string; maxFileMb: string; baseModels?: boolean; requestLog?: boolean; requestLogDays: string }) => {
      const days = Number(o.requestLogDays);
      if (!Number.isFinite(days) || days < 0) throw new Error(`invalid --request-log-days ${o.requestLogDays}`);
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${o.port}`);
      const srv = await createServer({ dataDir: resolve(o.data), logger: true, requestLog: o.requestLog !== false, requestLogDays: days, limits: { maxFileBytes: Math.round(Number(o.maxFileMb) * 1024 * 1024) } });
      if (srv.generatedAdminKey) {
        process.stdout.write(`\nAdmin API key (shown once, stored only as a hash; keep it safe):\n\n    ${srv.generatedAdminKey}\n\n`);
      }
      if (o.baseModels !== false) {
        // A fresh data folder gets the project's own base models: the factory pretrains them as ordinary jobs.
        const jobs = await ensureBaseModels({ factory: srv.factory.factory, data: srv.service, dataDir: resolve(o.data) });
        const making = jobs.filter((j) => j.status !== 'succeeded');
        if (making.length) process.stdout.write(`Making the base models (${making.map((j) => j.spec.name).join(', ')}): modelfab jobs list\n`);
      }
      const stop = async () => { await srv.close(); process.exit(0); };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
      await srv.app.listen({ host: o.host, port });
      const addr = srv.app.server.address();
      const at = serveAddresses(o.host, typeof addr === 'object' && addr ? addr.port : port);
      process.stdout.write(`\nmodelfab is serving ${resolve(o.data)}\n  console  ${at.console}\n  API      ${at.api}   (OpenAI clients: base URL ${at.api}; the CLI: MODELFAB_URL=${at.api.slice(0, -3)})\n\n`);
    });
}
