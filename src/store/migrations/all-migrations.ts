/** Every migration, in order, as TypeScript objects (no files read at run time). Append; never edit a shipped one. */
import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './0001-initial.ts';
import { serve } from './0002-serve.ts';
import { factory } from './0003-factory.ts';
import { control } from './0004-control.ts';
import { requestLog } from './0005-request-log.ts';
import { jobDependencies } from './0006-job-dependencies.ts';
import { relativePaths } from './0007-relative-paths.ts';
import { shortKeyPrefixes } from './0008-short-key-prefixes.ts';
import { floatLatency } from './0009-float-latency.ts';
import { knowledgeBots } from './0010-knowledge-bots.ts';
import { apps } from './0011-apps.ts';
import { rateWindows } from './0012-rate-windows.ts';

/** What a migration may need beyond the database: the data folder it lives in (null: none, e.g. in memory). */
export interface MigrationContext {
  dataDir: string | null;
  /** The database the migrations run on (default sqlite): a migration branches on it only where types differ. */
  dialect?: 'sqlite' | 'postgres';
}

export function migrations(ctx: MigrationContext): Readonly<Record<string, Migration>> {
  return {
    '0001-initial': initial,
    '0002-serve': serve,
    '0003-factory': factory,
    '0004-control': control,
    '0005-request-log': requestLog,
    '0006-job-dependencies': jobDependencies,
    '0007-relative-paths': relativePaths(ctx),
    '0008-short-key-prefixes': shortKeyPrefixes,
    '0009-float-latency': floatLatency(ctx),
    '0010-knowledge-bots': knowledgeBots,
    '0011-apps': apps,
    '0012-rate-windows': rateWindows,
  };
}

export function migrationProvider(ctx: MigrationContext): MigrationProvider {
  return { async getMigrations() { return { ...migrations(ctx) }; } };
}
