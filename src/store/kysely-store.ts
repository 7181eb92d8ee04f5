/**
 * The Store over Kysely: written once against Kysely's query builder, so SQLite and PostgreSQL run the same code.
 * Migrations come from `migrations/` through Kysely's Migrator (on PostgreSQL all of them in one transaction, and
 * under the migrator's lock, so several servers starting at once migrate once).
 */
import { Kysely, Migrator, type Transaction } from 'kysely';
import { migrationProvider, type MigrationContext } from './migrations/all-migrations.ts';
import { dataPaths, type DataPaths } from './paths.ts';
import { serveRepositories, type DeploymentRow, type ModelRow, type RateWindowRow, type RouteRow, type UsageRow } from './serve-repos.ts';
import type {
  ApiKeyRow, ApiKeysRepo, DatasetRow, DatasetsRepo, DatasetVersionRow, DatasetVersionsRepo, FileRow, FilesRepo,
  ListOptions, Repositories, Store,
} from './store.ts';

export interface Database {
  files: FileRow;
  datasets: DatasetRow;
  dataset_versions: DatasetVersionRow;
  api_keys: ApiKeyRow;
  models: ModelRow;
  deployments: DeploymentRow;
  routes: RouteRow;
  usage: UsageRow;
  rate_windows: RateWindowRow;
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Runs every pending migration; throws with the failing migration's name. `schema` (PostgreSQL) is where the
 * migrator keeps its own tables: the schema the connections' search_path puts the Store's tables in.
 */
export async function migrate(db: Kysely<Database>, ctx: MigrationContext = { dataDir: null }, schema?: string | null): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider(ctx), ...(schema ? { migrationTableSchema: schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Integer columns as numbers (PostgreSQL drivers return bigint as string). */
function num<T extends object>(row: T, keys: (keyof T)[]): T {
  const r = row as Record<string, unknown>;
  for (const k of keys as string[]) if (typeof r[k] === 'bigint' || (typeof r[k] === 'string' && /^\d+$/.test(r[k] as string))) r[k] = Number(r[k]);
  return row;
}

function files(db: Db): FilesRepo {
  const fix = (r: FileRow) => num(r, ['bytes', 'created_at']);
  return {
    async insert(row) { await db.insertInto('files').values(row).execute(); },
    async get(id) { const r = await db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst(); return r && fix(r); },
    async list(opts: ListOptions & { purpose?: string } = {}) {
      const desc = (opts.order ?? 'desc') === 'desc';
      let q = db.selectFrom('files').selectAll();
      if (opts.purpose) q = q.where('purpose', '=', opts.purpose);
      if (opts.after) {
        const a = await db.selectFrom('files').select(['created_at', 'id']).where('id', '=', opts.after).executeTakeFirst();
        if (a) {
          q = q.where((eb) => eb.or([
            eb('created_at', desc ? '<' : '>', a.created_at),
            eb.and([eb('created_at', '=', a.created_at), eb('id', desc ? '<' : '>', a.id)]),
          ]));
        }
      }
      q = q.orderBy('created_at', desc ? 'desc' : 'asc').orderBy('id', desc ? 'desc' : 'asc');
      if (opts.limit !== undefined) q = q.limit(opts.limit);
      return (await q.execute()).map(fix);
    },
    async delete(id) { const r = await db.deleteFrom('files').where('id', '=', id).executeTakeFirst(); return Number(r.numDeletedRows) > 0; },
  };
}

function datasets(db: Db): DatasetsRepo {
  const fix = (r: DatasetRow) => num(r, ['created_at', 'updated_at']);
  return {
    async insert(row) { await db.insertInto('datasets').values(row).execute(); },
    async get(id) { const r = await db.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirst(); return r && fix(r); },
    async getByName(name) { const r = await db.selectFrom('datasets').selectAll().where('name', '=', name).executeTakeFirst(); return r && fix(r); },
    async list(opts: ListOptions = {}) {
      const desc = (opts.order ?? 'asc') === 'desc';
      let q = db.selectFrom('datasets').selectAll().orderBy('created_at', desc ? 'desc' : 'asc').orderBy('name', desc ? 'desc' : 'asc');
      if (opts.limit !== undefined) q = q.limit(opts.limit);
      return (await q.execute()).map(fix);
    },
    async update(id, patch) { await db.updateTable('datasets').set(patch).where('id', '=', id).execute(); },
    async delete(id) { const r = await db.deleteFrom('datasets').where('id', '=', id).executeTakeFirst(); return Number(r.numDeletedRows) > 0; },
  };
}

/** The source files a version was imported from (`source.train.path`, `source.validation.path`) through `f`. */
function sourcePaths(source: string, f: (p: string) => string): string {
  let s: Record<string, unknown>;
  try { s = JSON.parse(source) as Record<string, unknown>; } catch { return source; }
  if (!s || typeof s !== 'object') return source;
  let changed = false;
  for (const k of ['train', 'validation']) {
    const ref = s[k] as { path?: unknown } | undefined;
    if (ref && typeof ref === 'object' && typeof ref.path === 'string') {
      const p = f(ref.path);
      if (p !== ref.path) { s[k] = { ...ref, path: p }; changed = true; }
    }
  }
  return changed ? JSON.stringify(s) : source;
}

function datasetVersions(db: Db, paths: DataPaths): DatasetVersionsRepo {
  const fix = (r: DatasetVersionRow) => { num(r, ['created_at', 'train_rows', 'validation_rows']); r.source = sourcePaths(r.source, paths.fromStored); return r; };
  return {
    async insert(row) { await db.insertInto('dataset_versions').values({ ...row, source: sourcePaths(row.source, paths.toStored) }).execute(); },
    async get(id) { const r = await db.selectFrom('dataset_versions').selectAll().where('id', '=', id).executeTakeFirst(); return r && fix(r); },
    async getByHash(datasetId, hash) {
      const r = await db.selectFrom('dataset_versions').selectAll().where('dataset_id', '=', datasetId).where('content_hash', '=', hash).executeTakeFirst();
      return r && fix(r);
    },
    async listForDataset(datasetId) {
      return (await db.selectFrom('dataset_versions').selectAll().where('dataset_id', '=', datasetId).orderBy('created_at', 'asc').orderBy('id', 'asc').execute()).map(fix);
    },
    async countUsingKey(key) {
      const r = await db.selectFrom('dataset_versions').select((eb) => eb.fn.countAll<number>().as('n'))
        .where((eb) => eb.or([eb('train_key', '=', key), eb('validation_key', '=', key)])).executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}

function apiKeys(db: Db): ApiKeysRepo {
  const fix = (r: ApiKeyRow) => num(r, ['created_at', 'last_used_at', 'revoked_at', 'expires_at', 'rate_limit_rpm', 'token_quota']);
  return {
    async insert(row) { await db.insertInto('api_keys').values(row).execute(); },
    async getByHash(hash) { const r = await db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst(); return r && fix(r); },
    async list() { return (await db.selectFrom('api_keys').selectAll().orderBy('created_at', 'asc').execute()).map(fix); },
    async touch(id, at) { await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute(); },
    async revoke(id, at) { await db.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).execute(); },
    async get(id) { const r = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst(); return r && num(r, ['created_at', 'last_used_at', 'revoked_at', 'expires_at', 'rate_limit_rpm', 'token_quota']); },
  };
}

function repositories(db: Db, paths: DataPaths): Repositories {
  return { files: files(db), datasets: datasets(db), datasetVersions: datasetVersions(db, paths), apiKeys: apiKeys(db), ...serveRepositories(db, paths) };
}

/**
 * The database typed by the tables one stage owns (the factory's jobs, control's request log, ...). Every stage's
 * tables are in this one database, created by the migrations here, but store/ cannot name their row types (those
 * stages are to its right), and Kysely's types are invariant in the table map: this narrowing is the one cast.
 */
export function stageTables<T>(db: Kysely<Database>): Kysely<T> {
  return db as unknown as Kysely<T>;
}

/**
 * A Store over a migrated Kysely instance. `root` is the data folder: paths inside it are stored relative to it and
 * read back resolved against it (src/store/paths.ts); null stores paths as given.
 */
export function kyselyStore(db: Kysely<Database>, root: string | null = null): Store {
  const paths = dataPaths(root);
  return {
    ...repositories(db, paths),
    transaction: (fn) => db.transaction().execute((tx) => fn(repositories(tx, paths))),
    close: () => db.destroy(),
  };
}
