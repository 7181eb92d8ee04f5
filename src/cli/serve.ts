/** `modelfab serve`: the HTTP API server over a data folder (SQLite database and artifacts). */
import { ensureBaseModels } from '../factory/bases.ts';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { createServer } from '../api/server.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the API server (OpenAI-compatible files, fine-tuning jobs, chat; experiments, datasets); every route needs an API key')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '8080')
    .option('--no-base-models', "do not pretrain the project's base models on a fresh data folder")
    .option('--data <dir>', 'data folder: SQLite database and artifacts', './modelfab-data')
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
    });
}
