/** Every migration, in order, as TypeScript objects (no files read at run time). Append; never edit a shipped one. */
import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './0001-initial.ts';
import { serve } from './0002-serve.ts';
import { factory } from './0003-factory.ts';
import { control } from './0004-control.ts';
import { requestLog } from './0005-request-log.ts';
import { jobDependencies } from './0006-job-dependencies.ts';

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-initial': initial,
  '0002-serve': serve,
  '0003-factory': factory,
  '0004-control': control,
  '0005-request-log': requestLog,
  '0006-job-dependencies': jobDependencies,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() { return { ...MIGRATIONS }; },
};
