/**
 * The data stage's domain service: the Files store (OpenAI's file objects) and the dataset registry (named datasets,
 * versions keyed by content hash). Routes and CLI commands are thin over it.
 *
 * An import, in order:
 *   1. load and validate every source (all problems of all sources at once; DatasetValidationError, nothing stored)
 *   2. curate: placeholders, dedup (none | exact | near), seeded split or the given validation file
 *   3. version: normalised records as JSONL, content hash over stage + train + validation, statistics
 *   4. commit: artifacts first (atomic, content-addressed), then every row in one transaction; if the transaction
 *      fails, artifacts no version uses are removed. Importing identical content again returns the existing version.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Tokenizer } from '../engine/tokenizer/tokenizer-exports.ts';
import type { ArtifactStore } from '../store/artifacts.ts';
import { isUniqueViolation, nowSeconds, type DatasetRow, type DatasetVersionRow, type FileRow, type Repositories, type Store } from '../store/store.ts';
import { contentHash, dedupRecords, splitRecords, toJsonl, type DedupMode } from './curate.ts';
import type { FormatName } from './formats/format-spec.ts';
import type { DatasetInfo, DatasetInfoEntry } from './formats/llamafactory.ts';
import { resolveLimits, type Limits } from './dataset-limits.ts';
import { loadDatasetBytes, placeholdersIn, type LoadedDataset } from './load.ts';
import { DatasetValidationError, type Problem } from './problems.ts';
import { engineMessages, recordChat, recordTexts, type AnyRecord, type Stage } from './records.ts';
import { computeStats, tokenCounter, type DatasetStats } from './stats.ts';
import { renderWithTemplate, type ChatTemplateSpec } from './templates.ts';
import { StatusError } from '../util/status-error.ts';

/** An error the API maps to 404 / 400 / 409. */
export class DataError extends StatusError {
  declare readonly status: 400 | 404 | 409;
  constructor(status: 400 | 404 | 409, message: string, param: string | null = null, code: string | null = null) {
    super(status, message, { param, code });
  }
}

/**
 * Upload purposes: `fine-tune` (validated as a dataset at upload), `assistants` and `user_data` (documents for the
 * Knowledge Factory or anything else: stored as they are; POST /v1/knowledge/bases/{id}/documents takes a file_id).
 */
export const FILE_PURPOSES = ['fine-tune', 'assistants', 'user_data'] as const;

/** OpenAI's file object: the stored row without modelfab's own columns. */
export type FileObject = Omit<FileRow, 'sha256' | 'meta'> & { object: 'file' };

export type SourceRef = { path: string; name?: string } | { fileId: string };

export interface ImportOptions {
  format?: FormatName | DatasetInfoEntry;
  stage?: Stage;
  /** Fraction of records held out for validation (ignored when a validation source is given). Default 0. */
  validationSplit?: number;
  seed?: number;
  dedup?: DedupMode;
  placeholders?: Record<string, string>;
}

export interface ImportRequest extends ImportOptions {
  name: string;
  source: SourceRef;
  validation?: SourceRef;
}

export interface DatasetVersionObject {
  id: string;
  object: 'dataset.version';
  hash: string;
  created_at: number;
  train_rows: number;
  validation_rows: number;
  stats: DatasetStats;
  source: Record<string, unknown>;
}

export interface DatasetObject {
  id: string;
  object: 'dataset';
  name: string;
  stage: string;
  format: string;
  created_at: number;
  updated_at: number;
  rows: number;
  version: DatasetVersionObject | null;
  versions?: DatasetVersionObject[];
  warnings?: string[];
}

export interface DatasetInfoImport extends Omit<ImportOptions, 'format' | 'stage'> {
  info: DatasetInfo;
  /** Where an entry's `file_name` is: a path or an uploaded file; null when absent. */
  resolve: (fileName: string) => SourceRef | null;
  /** Import only these entries (each must be importable). Default: every entry whose file is present. */
  only?: string[];
  /** Prefix for dataset names (default none). */
  prefix?: string;
}

/** GET /v1/datasets/:id/preview: the first records and each as the chat template renders it (both sides of a pair). */
export interface DatasetPreviewObject {
  object: 'list'; template: string;
  data: { index: number; record: AnyRecord; text: string; chosen_text?: string; rejected_text?: string }[];
}

export interface PreviewOptions {
  n?: number;
  template?: string | ChatTemplateSpec;
  split?: 'train' | 'validation';
  version?: string;
}

interface Prepared {
  name: string;
  stage: Stage;
  format: string;
  hash: string;
  train: string;
  validation: string;
  trainRows: number;
  validationRows: number;
  stats: DatasetStats;
  source: Record<string, unknown>;
  warnings: string[];
}

const newId = (prefix: string) => `${prefix}-${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;

export class DataService {
  readonly limits: Limits;
  constructor(readonly store: Store, readonly artifacts: ArtifactStore, limits: Partial<Limits> = {}) {
    this.limits = resolveLimits(limits);
  }

  // ---------------------------------------------------------------------------------------------- files

  /**
   * Stores an uploaded file already streamed to `tempPath` (consumed: moved into the artifact store, or removed when
   * validation fails). `fine-tune` files are validated as datasets first; documents are stored as they are.
   */
  async createFile(tempPath: string, filename: string, purpose: string): Promise<FileObject> {
    try {
      if (!(FILE_PURPOSES as readonly string[]).includes(purpose)) {
        throw new DataError(400, `purpose must be one of ${FILE_PURPOSES.join(', ')}; got ${JSON.stringify(purpose)}`, 'purpose', 'invalid_purpose');
      }
      const safeName = basename(filename || 'upload.jsonl').slice(0, 255);
      const bytes = readFileSync(tempPath);
      let meta: Record<string, unknown> = { kind: 'document' };
      if (purpose === 'fine-tune') {
        const loaded = loadDatasetBytes(bytes, { name: safeName, limits: this.limits });
        meta = { stage: loaded.stage, format: loaded.format, records: loaded.records.length, warnings: loaded.warnings };
      } else if (bytes.length === 0) {
        throw new DataError(400, `${safeName}: the file is empty`, 'file', 'empty_file');
      }
      const row: FileRow = {
        id: newId('file'), bytes: bytes.length, created_at: nowSeconds(), filename: safeName, purpose,
        status: 'processed', status_details: null, sha256: createHash('sha256').update(bytes).digest('hex'),
        meta: JSON.stringify(meta),
      };
      const key = `files/${row.id}`;
      await this.artifacts.putFile(key, tempPath);
      try {
        await this.store.files.insert(row);
      } catch (e) {
        await this.artifacts.delete(key);
        throw e;
      }
      return fileObject(row);
    } finally {
      rmSync(tempPath, { force: true });
    }
  }

  async listFiles(opts: { purpose?: string; limit?: number; after?: string; order?: 'asc' | 'desc' } = {}): Promise<{ data: FileObject[]; has_more: boolean }> {
    const limit = Math.min(Math.max(opts.limit ?? 10000, 1), 10000);
    const rows = await this.store.files.list({ ...opts, limit: limit + 1 });
    return { data: rows.slice(0, limit).map(fileObject), has_more: rows.length > limit };
  }

  async getFile(id: string): Promise<FileObject> {
    return fileObject(await this.fileRow(id));
  }

  private async fileRow(id: string): Promise<FileRow> {
    const row = await this.store.files.get(id);
    if (!row) throw new DataError(404, `No such File object: ${id}`, 'file_id', 'file_not_found');
    return row;
  }

  /** A stored file's bytes (documents for the Knowledge Factory). */
  async fileBytes(id: string): Promise<{ file: FileObject; bytes: Uint8Array }> {
    const row = await this.fileRow(id);
    return { file: fileObject(row), bytes: await this.artifacts.get(`files/${row.id}`) };
  }

  async fileContent(id: string): Promise<{ file: FileObject; stream: Readable }> {
    const row = await this.fileRow(id);
    return { file: fileObject(row), stream: this.artifacts.stream(`files/${row.id}`) };
  }

  async deleteFile(id: string): Promise<{ id: string; object: 'file'; deleted: boolean }> {
    await this.fileRow(id);
    const deleted = await this.store.files.delete(id);
    await this.artifacts.delete(`files/${id}`);
    return { id, object: 'file', deleted };
  }

  // ---------------------------------------------------------------------------------------------- datasets

  private async readSource(ref: SourceRef): Promise<{ name: string; bytes: Buffer; ref: Record<string, string> }> {
    if ('fileId' in ref) {
      const row = await this.fileRow(ref.fileId);
      if (row.purpose !== 'fine-tune') throw new DataError(400, `file ${row.id} (${row.filename}) was uploaded with purpose "${row.purpose}"; training data needs purpose "fine-tune"`, 'training_file', 'invalid_file_purpose');
      return { name: row.filename, bytes: await this.artifacts.get(`files/${row.id}`), ref: { file_id: row.id, filename: row.filename } };
    }
    const name = ref.name ?? basename(ref.path);
    if (!existsSync(ref.path)) throw new DatasetValidationError([{ file: name, message: `file not found: ${ref.path}` }]);
    // absolute, so the store can keep it relative to the data folder when it is inside (src/store/paths.ts)
    return { name, bytes: readFileSync(ref.path), ref: { path: resolve(ref.path) } };
  }

  /** Loads sources, collecting the problems of all of them before throwing. */
  private async loadAll(items: { ref: SourceRef; opts: ImportOptions }[]): Promise<{ loaded: LoadedDataset; ref: Record<string, string> }[]> {
    const problems: Problem[] = [];
    let omitted = 0;
    const out: { loaded: LoadedDataset; ref: Record<string, string> }[] = [];
    for (const it of items) {
      try {
        const src = await this.readSource(it.ref);
        const loaded = loadDatasetBytes(src.bytes, { name: src.name, format: it.opts.format, stage: it.opts.stage, limits: this.limits, placeholders: it.opts.placeholders });
        out.push({ loaded, ref: src.ref });
      } catch (e) {
        if (!(e instanceof DatasetValidationError)) throw e;
        problems.push(...e.problems);
        omitted += e.omitted;
      }
    }
    if (problems.length > 0 || omitted > 0) throw new DatasetValidationError(problems, omitted);
    return out;
  }

  private prepare(name: string, train: { loaded: LoadedDataset; ref: Record<string, string> }, val: { loaded: LoadedDataset; ref: Record<string, string> } | null, opts: ImportOptions): Prepared {
    checkName(name);
    const stage = train.loaded.stage;
    if (val && val.loaded.stage !== stage) {
      throw new DatasetValidationError([{ file: val.loaded.file, message: `validation file is ${val.loaded.stage} data but the training file is ${stage} data` }]);
    }
    const dedup = opts.dedup ?? 'none';
    const d = dedupRecords(stage, train.loaded.records, dedup);
    let trainRecs: AnyRecord[], valRecs: AnyRecord[];
    if (val) {
      trainRecs = d.kept;
      valRecs = dedupRecords(stage, val.loaded.records, dedup).kept;
    } else {
      const s = splitRecords(d.kept, opts.validationSplit ?? 0, opts.seed ?? 0);
      trainRecs = s.train;
      valRecs = s.validation;
    }
    const trainJsonl = toJsonl(trainRecs), valJsonl = toJsonl(valRecs);
    const warnings = [...train.loaded.warnings, ...(val?.loaded.warnings ?? [])];
    const left = placeholdersIn(trainRecs.slice(0, 2000).flatMap((r) => recordTexts(stage, r)));
    if (left.length > 0) warnings.push(`records contain unfilled placeholders: ${left.map((p) => `{{${p}}}`).join(', ')} (fill them with placeholders on import)`);
    return {
      name, stage, format: train.loaded.format, hash: contentHash(stage, trainJsonl, valJsonl),
      train: trainJsonl, validation: valJsonl, trainRows: trainRecs.length, validationRows: valRecs.length,
      stats: computeStats(stage, [...trainRecs, ...valRecs]),
      source: {
        train: train.ref, ...(val ? { validation: val.ref } : {}), format: train.loaded.format, dedup,
        duplicates_removed: { exact: d.exactRemoved, near: d.nearRemoved }, records_read: train.loaded.records.length,
        ...(val ? {} : { validation_split: opts.validationSplit ?? 0, seed: opts.seed ?? 0 }),
        ...(opts.placeholders ? { placeholders: opts.placeholders } : {}),
      },
      warnings,
    };
  }

  /** Imports one dataset (a new version when the name exists and the content differs). */
  async importDataset(req: ImportRequest): Promise<DatasetObject> {
    checkName(req.name);
    const items = [{ ref: req.source, opts: req }, ...(req.validation ? [{ ref: req.validation, opts: req }] : [])];
    const [train, val] = await this.loadAll(items);
    const prepared = this.prepare(req.name, train, val ?? null, req);
    const [obj] = await this.commit([prepared]);
    return obj;
  }

  /**
   * Imports a LLaMA-Factory dataset_info.json registry as a whole: every entry whose file is present (or the `only`
   * ones), all validated before anything is stored, all stored in one transaction.
   */
  async importDatasetInfo(req: DatasetInfoImport): Promise<{ data: DatasetObject[]; skipped: { name: string; reason: string }[] }> {
    const skipped: { name: string; reason: string }[] = [];
    const wanted: { name: string; entry: DatasetInfoEntry; ref: SourceRef }[] = [];
    const problems: Problem[] = [];
    const only = req.only ? new Set(req.only) : null;
    if (only) for (const n of only) if (!(n in req.info)) problems.push({ file: 'dataset_info.json', path: n, message: `no entry named ${JSON.stringify(n)}` });
    for (const [name, entry] of Object.entries(req.info)) {
      if (only && !only.has(name)) continue;
      const skip = (reason: string) => {
        if (only) problems.push({ file: 'dataset_info.json', path: name, message: reason });
        else skipped.push({ name, reason });
      };
      if (typeof entry !== 'object' || entry === null) { problems.push({ file: 'dataset_info.json', path: name, message: 'entry must be an object' }); continue; }
      if (!entry.file_name) {
        const hub = entry.hf_hub_url ?? entry.ms_hub_url ?? entry.om_hub_url ?? entry.script_url ?? entry.cloud_file_name;
        skip(hub ? `hub dataset ${hub}: modelfab imports local files only` : 'entry has no file_name');
        continue;
      }
      const cols = entry.columns ?? {};
      if (cols.images || cols.videos || cols.audios) { skip('multimodal dataset (images, videos or audios): text datasets only'); continue; }
      const ref = req.resolve(entry.file_name);
      if (!ref) { skip(`file ${entry.file_name} is not present`); continue; }
      wanted.push({ name: (req.prefix ?? '') + name, entry, ref });
    }
    if (problems.length > 0) throw new DatasetValidationError(problems);
    const loaded = await this.loadAll(wanted.map((w) => ({ ref: w.ref, opts: { ...req, format: w.entry, stage: w.entry.stage } })));
    const prepared = wanted.map((w, i) => this.prepare(w.name, loaded[i], null, { ...req, format: w.entry }));
    return { data: await this.commit(prepared), skipped };
  }

  /** Artifacts first (content-addressed), then all rows in one transaction; unused artifacts removed on failure. */
  private async commit(prepared: Prepared[]): Promise<DatasetObject[]> {
    const written: string[] = [];
    for (const p of prepared) {
      for (const [key, text] of [[trainKey(p.hash), p.train], [valKey(p.hash), p.validation]] as const) {
        if (key === valKey(p.hash) && p.validationRows === 0) continue;
        if (await this.artifacts.stat(key)) continue;
        await this.artifacts.put(key, text);
        written.push(key);
      }
    }
    const run = () => this.store.transaction(async (tx) => {
      const out: { id: string; warnings: string[] }[] = [];
      for (const p of prepared) out.push({ id: await this.commitOne(tx, p), warnings: p.warnings });
      return out;
    });
    let ids: { id: string; warnings: string[] }[];
    try {
      try {
        ids = await run();
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        ids = await run(); // a concurrent import created the same name or version first: now we find it
      }
    } catch (e) {
      for (const key of written) if ((await this.store.datasetVersions.countUsingKey(key)) === 0) await this.artifacts.delete(key);
      throw e;
    }
    const objs: DatasetObject[] = [];
    for (const { id, warnings } of ids) {
      const o = await this.getDataset(id);
      objs.push(warnings.length > 0 ? { ...o, warnings } : o);
    }
    return objs;
  }

  private async commitOne(tx: Repositories, p: Prepared): Promise<string> {
    const now = nowSeconds();
    let ds = await tx.datasets.getByName(p.name);
    if (ds && ds.stage !== p.stage) throw new DataError(409, `dataset '${p.name}' holds ${ds.stage} data; this import is ${p.stage} data (use another name)`, 'name', 'stage_mismatch');
    if (!ds) {
      ds = { id: newId('ds'), name: p.name, stage: p.stage, format: p.format, created_at: now, updated_at: now, latest_version_id: null };
      await tx.datasets.insert(ds);
    }
    const existing = await tx.datasetVersions.getByHash(ds.id, p.hash);
    if (existing) {
      if (ds.latest_version_id !== existing.id) await tx.datasets.update(ds.id, { latest_version_id: existing.id, updated_at: now });
      return ds.id;
    }
    const v: DatasetVersionRow = {
      id: newId('dsv'), dataset_id: ds.id, content_hash: p.hash, created_at: now, stage: p.stage, format: p.format,
      train_rows: p.trainRows, validation_rows: p.validationRows, source: JSON.stringify(p.source), stats: JSON.stringify(p.stats),
      train_key: trainKey(p.hash), validation_key: p.validationRows > 0 ? valKey(p.hash) : null,
    };
    await tx.datasetVersions.insert(v);
    await tx.datasets.update(ds.id, { latest_version_id: v.id, updated_at: now, format: p.format });
    return ds.id;
  }

  private async datasetRow(idOrName: string): Promise<DatasetRow> {
    const ds = (await this.store.datasets.get(idOrName)) ?? (await this.store.datasets.getByName(idOrName));
    if (!ds) throw new DataError(404, `No such dataset: ${idOrName}`, 'dataset_id', 'dataset_not_found');
    return ds;
  }

  async listDatasets(): Promise<DatasetObject[]> {
    const rows = await this.store.datasets.list();
    const out: DatasetObject[] = [];
    for (const r of rows) {
      const v = r.latest_version_id ? await this.store.datasetVersions.get(r.latest_version_id) : undefined;
      out.push(datasetObject(r, v ?? null));
    }
    return out;
  }

  async getDataset(idOrName: string, opts: { versions?: boolean } = {}): Promise<DatasetObject> {
    const ds = await this.datasetRow(idOrName);
    const v = ds.latest_version_id ? await this.store.datasetVersions.get(ds.latest_version_id) : undefined;
    const o = datasetObject(ds, v ?? null);
    if (opts.versions) o.versions = (await this.store.datasetVersions.listForDataset(ds.id)).map(versionObject);
    return o;
  }

  private async versionRow(ds: DatasetRow, version?: string): Promise<DatasetVersionRow> {
    if (version) {
      const all = await this.store.datasetVersions.listForDataset(ds.id);
      const v = all.find((x) => x.id === version || x.content_hash.startsWith(version));
      if (!v) throw new DataError(404, `dataset ${ds.name} has no version ${version}`, 'version', 'version_not_found');
      return v;
    }
    const v = ds.latest_version_id ? await this.store.datasetVersions.get(ds.latest_version_id) : undefined;
    if (!v) throw new DataError(404, `dataset ${ds.name} has no version`, 'version', 'version_not_found');
    return v;
  }

  /** The normalised records of a version (the factory trains from these). */
  async records(idOrName: string, split: 'train' | 'validation' = 'train', version?: string): Promise<{ stage: Stage; records: AnyRecord[] }> {
    const ds = await this.datasetRow(idOrName);
    const v = await this.versionRow(ds, version);
    const key = split === 'train' ? v.train_key : v.validation_key;
    if (!key) return { stage: v.stage as Stage, records: [] };
    const text = (await this.artifacts.get(key)).toString('utf8');
    return { stage: v.stage as Stage, records: text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AnyRecord) };
  }

  /** The first N records, rendered through a chat template (pretraining text as is). */
  async preview(idOrName: string, opts: PreviewOptions = {}): Promise<DatasetPreviewObject> {
    const n = Math.min(Math.max(opts.n ?? 5, 1), 100);
    const template = opts.template ?? 'chatml';
    const { stage, records } = await this.records(idOrName, opts.split ?? 'train', opts.version);
    const render = (r: AnyRecord, extra?: AnyRecord extends never ? never : import('./records.ts').ChatMessage) =>
      renderWithTemplate(engineMessages([...recordChat(stage === 'preference' ? 'sft' : stage, r), ...(extra ? [extra] : [])], (r as { tools?: unknown[] }).tools), template);
    const data = records.slice(0, n).map((record, index) => {
      if (stage === 'pretrain') return { index, record, text: (record as { text: string }).text };
      if (stage === 'preference') {
        const p = record as import('./records.ts').PreferenceRecord;
        return { index, record, text: render(p), chosen_text: render(p, p.chosen), rejected_text: render(p, p.rejected) };
      }
      return { index, record, text: render(record) };
    });
    return { object: 'list', template: typeof template === 'string' ? template : template.name, data };
  }

  /** Statistics of a version recomputed under a tokenizer (stored statistics use the rough estimate). */
  async statsWith(idOrName: string, tok: Tokenizer, tokenizerName: string, version?: string): Promise<DatasetStats> {
    const tr = await this.records(idOrName, 'train', version);
    const va = await this.records(idOrName, 'validation', version);
    return computeStats(tr.stage, [...tr.records, ...va.records], tokenCounter(tok), tokenizerName);
  }

  async deleteDataset(idOrName: string): Promise<{ id: string; object: 'dataset'; deleted: boolean }> {
    const ds = await this.datasetRow(idOrName);
    const versions = await this.store.datasetVersions.listForDataset(ds.id);
    const deleted = await this.store.datasets.delete(ds.id);
    const keys = new Set(versions.flatMap((v) => [v.train_key, v.validation_key].filter((k): k is string => !!k)));
    for (const key of keys) if ((await this.store.datasetVersions.countUsingKey(key)) === 0) await this.artifacts.delete(key);
    return { id: ds.id, object: 'dataset', deleted };
  }
}

const trainKey = (hash: string) => `datasets/${hash}/train.jsonl`;
const valKey = (hash: string) => `datasets/${hash}/validation.jsonl`;

function checkName(name: string): void {
  if (typeof name !== 'string' || !/^[\p{L}\p{N}_.-][\p{L}\p{N}_. -]{0,127}$/u.test(name)) {
    throw new DataError(400, `invalid dataset name ${JSON.stringify(name)}: 1-128 letters, digits, spaces, '_', '-', '.'`, 'name', 'invalid_name');
  }
}

export function fileObject(r: FileRow): FileObject {
  return { id: r.id, object: 'file', bytes: r.bytes, created_at: r.created_at, filename: r.filename, purpose: r.purpose, status: r.status, status_details: r.status_details };
}

function versionObject(v: DatasetVersionRow): DatasetVersionObject {
  return {
    id: v.id, object: 'dataset.version', hash: v.content_hash, created_at: v.created_at, train_rows: v.train_rows,
    validation_rows: v.validation_rows, stats: JSON.parse(v.stats) as DatasetStats, source: JSON.parse(v.source) as Record<string, unknown>,
  };
}

function datasetObject(d: DatasetRow, v: DatasetVersionRow | null): DatasetObject {
  return {
    id: d.id, object: 'dataset', name: d.name, stage: d.stage, format: d.format, created_at: d.created_at, updated_at: d.updated_at,
    rows: v ? v.train_rows + v.validation_rows : 0, version: v ? versionObject(v) : null,
  };
}

/** Resolves dataset_info.json file names inside a folder (absent files give null). */
export function folderResolver(infoPath: string): (fileName: string) => SourceRef | null {
  const dir = dirname(infoPath);
  return (f) => {
    const p = join(dir, f);
    return existsSync(p) ? { path: p, name: f } : null;
  };
}
