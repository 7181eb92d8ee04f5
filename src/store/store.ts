/**
 * The `Store` seam: typed async repositories over the product's database. One implementation, written once over
 * Kysely (`kysely-store.ts`), on SQLite (`sqlite.ts`, the default) or PostgreSQL (`postgres.ts`; `open-database.ts`
 * picks), so rows use portable types only: text ids, integer unix-second timestamps (like OpenAI's `created_at`),
 * JSON as text.
 *
 * Repositories: files (uploads, OpenAI's file objects), datasets (a named dataset and its latest version),
 * dataset_versions (one per distinct content, keyed by content hash), api_keys (hashed). Later issues add models,
 * experiments, jobs, events, metrics, results... as further repositories on the same interface.
 *
 * `transaction(fn)` runs fn with a Store whose repositories all write in one transaction: all or nothing.
 */

export interface FileRow {
  id: string;
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed' | 'error';
  status_details: string | null;
  sha256: string;
  /** What validation found: stage, format and record count (JSON), null when not a dataset file. */
  meta: string | null;
}

export interface DatasetRow {
  id: string;
  name: string;
  stage: string;
  format: string;
  created_at: number;
  updated_at: number;
  latest_version_id: string | null;
}

export interface DatasetVersionRow {
  id: string;
  dataset_id: string;
  content_hash: string;
  created_at: number;
  stage: string;
  format: string;
  train_rows: number;
  validation_rows: number;
  /** JSON: source files, split, dedup, placeholders. */
  source: string;
  /** JSON: statistics (dataset/stats.ts). */
  stats: string;
  /** Artifact keys of the normalised records (JSONL). */
  train_key: string;
  validation_key: string | null;
}

export interface ApiKeyRow {
  id: string;
  name: string;
  /** SHA-256 of the key, hex. */
  hash: string;
  /** The first characters of the key, to recognise it in listings. */
  prefix: string;
  role: 'admin' | 'user';
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** Serving policy (migration 0002, src/serve/api-keys.ts): JSON {models?: string[], endpoints?: string[]}; null = all. */
  scopes?: string | null;
  expires_at?: number | null;
  /** Requests per minute; null = unlimited. */
  rate_limit_rpm?: number | null;
  /** Total tokens (prompt + completion) the key may use; null = unlimited. */
  token_quota?: number | null;
  /** The deployment or application the key was issued for. */
  owner?: string | null;
}

export interface ListOptions {
  limit?: number;
  /** Return rows after this id in the chosen order (cursor pagination, OpenAI's `after`). */
  after?: string;
  order?: 'asc' | 'desc';
}

export interface FilesRepo {
  insert(row: FileRow): Promise<void>;
  get(id: string): Promise<FileRow | undefined>;
  list(opts?: ListOptions & { purpose?: string }): Promise<FileRow[]>;
  delete(id: string): Promise<boolean>;
}

export interface DatasetsRepo {
  insert(row: DatasetRow): Promise<void>;
  get(id: string): Promise<DatasetRow | undefined>;
  getByName(name: string): Promise<DatasetRow | undefined>;
  list(opts?: ListOptions): Promise<DatasetRow[]>;
  update(id: string, patch: Partial<Omit<DatasetRow, 'id'>>): Promise<void>;
  delete(id: string): Promise<boolean>;
}

export interface DatasetVersionsRepo {
  insert(row: DatasetVersionRow): Promise<void>;
  get(id: string): Promise<DatasetVersionRow | undefined>;
  getByHash(datasetId: string, contentHash: string): Promise<DatasetVersionRow | undefined>;
  listForDataset(datasetId: string): Promise<DatasetVersionRow[]>;
  /** Every version that reads `key` (train or validation), across datasets. */
  countUsingKey(key: string): Promise<number>;
}

export interface ApiKeysRepo {
  insert(row: ApiKeyRow): Promise<void>;
  getByHash(hash: string): Promise<ApiKeyRow | undefined>;
  list(): Promise<ApiKeyRow[]>;
  touch(id: string, at: number): Promise<void>;
  revoke(id: string, at: number): Promise<void>;
  get(id: string): Promise<ApiKeyRow | undefined>;
}

export type { ModelRow, DeploymentRow, RouteRow, UsageRow, ModelKind, ServeRepositories } from './serve-repos.ts';
import type { ServeRepositories } from './serve-repos.ts';

export interface Repositories extends ServeRepositories {
  files: FilesRepo;
  datasets: DatasetsRepo;
  datasetVersions: DatasetVersionsRepo;
  apiKeys: ApiKeysRepo;
}

export interface Store extends Repositories {
  transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Unix seconds now. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** True when an error is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || err?.code === '23505' ||
    /UNIQUE constraint failed/.test(err?.message ?? '');
}

/**
 * Runs `fn` (a transaction that numbers a row max + 1) again when a concurrent writer took the same number first:
 * SQLite serialises writers, but two PostgreSQL transactions may read one max. Other errors pass through.
 */
export async function retryOnUniqueViolation<T>(fn: () => Promise<T>, attempts = 30): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || !isUniqueViolation(e)) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * Math.min(i, 10)));
    }
  }
}
