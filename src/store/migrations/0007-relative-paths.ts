/**
 * Paths inside the data folder become relative to it (src/store/paths.ts), so a folder that was copied or moved
 * finds its models, jobs and datasets where it is now instead of where it was made.
 *
 * Where the folder was (its old location, maybe several: a copy used in two places before this migration) is read
 * from the stored absolute paths themselves: every job's output folder is `<folder>/jobs/<job id>`, and the model
 * it made `<folder>/jobs/<job id>/model` (in rows and in the job folders' job.json files). The folder the
 * database is in now counts as well, for paths written where it still is. Every stored absolute path under one of
 * those locations is rewritten relative to it; any other path (a user's GGUF file registered from elsewhere) is
 * kept as it is. Database rows: models' path, base_path and adapter_path; jobs' specs; dataset versions' source
 * files; deployment settings. Files in job folders that the factory and the gateway read back: job.json,
 * manifest.json (model_dir), and the model folders' modelfab.json, whose `base` becomes relative to the model
 * folder itself (src/engine/io.ts); plus demo-summary.json. Files are replaced atomically, rows in one transaction;
 * running it again changes nothing (relative paths stay as they are), so a crash part-way loses nothing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Kysely, Migration } from 'kysely';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { isInside, mapJsonStrings, relocate } from '../paths.ts';
import type { MigrationContext } from './all-migrations.ts';

/** The folder a job's output folder `<folder>/jobs/<id>` is in, or null when it is not laid out that way. */
export function folderOfJob(outputDir: unknown, jobId: string): string | null {
  if (typeof outputDir !== 'string' || !isAbsolute(outputDir)) return null;
  const d = outputDir.replace(/[\\/]+$/, '');
  return basename(d) === jobId && basename(dirname(d)) === 'jobs' ? dirname(dirname(d)) : null;
}

/** The folder a model made by a job (`<folder>/jobs/<id>/model` or `merged-base`) is in, or null. */
export function folderOfModel(path: unknown): string | null {
  if (typeof path !== 'string' || !isAbsolute(path)) return null;
  const d = path.replace(/[\\/]+$/, '');
  return ['model', 'merged-base'].includes(basename(d)) ? folderOfJob(dirname(d), basename(dirname(d))) : null;
}

function parse(text: string | null): unknown {
  if (text === null) return null;
  try { return JSON.parse(text); } catch { return undefined; }
}

/** A JSON text with every path under `roots` relative; null when nothing changes (or it is not JSON). */
function relocateJson(text: string | null, roots: readonly string[]): string | null {
  const v = parse(text);
  if (v === undefined || v === null) return null;
  const out = JSON.stringify(mapJsonStrings(v, (s) => relocate(roots, s)));
  return out === JSON.stringify(v) ? null : out;
}

/** Rewrites a JSON file in place (atomically) when `f` changes it; a file that is not JSON is left alone. */
function rewriteJsonFile(file: string, f: (v: unknown) => unknown): void {
  if (!existsSync(file)) return;
  const text = readFileSync(file, 'utf8');
  const v = parse(text);
  if (v === undefined || v === null) return;
  const out = f(v);
  if (JSON.stringify(out) !== JSON.stringify(v)) writeFileAtomic(file, JSON.stringify(out, null, 2) + (text.endsWith('\n') ? '\n' : ''));
}

/** A model folder's modelfab.json: `base` relative to the folder when the base is in the data folder. */
function rewriteModelInfo(modelDir: string, dataDir: string, roots: readonly string[]): void {
  rewriteJsonFile(join(modelDir, 'modelfab.json'), (v) => {
    const info = v as Record<string, unknown>;
    const out = mapJsonStrings({ ...info, base: undefined }, (s) => relocate(roots, s)) as Record<string, unknown>;
    if (typeof info.base === 'string') {
      const moved = relocate(roots, info.base);
      // a base under an old location is where the folder is now; an absolute base elsewhere stays absolute
      const now = moved === info.base ? info.base : resolve(dataDir, moved);
      out.base = isInside(dataDir, now) ? relative(modelDir, now).split(sep).join('/') : now;
    }
    return Object.fromEntries(Object.entries(out).filter(([, x]) => x !== undefined));
  });
}

function rewriteFiles(dataDir: string, roots: readonly string[]): void {
  const jobs = join(dataDir, 'jobs');
  const jsonOnly = (v: unknown) => mapJsonStrings(v, (s) => relocate(roots, s));
  if (existsSync(jobs)) {
    for (const id of readdirSync(jobs)) {
      const dir = join(jobs, id);
      rewriteJsonFile(join(dir, 'job.json'), jsonOnly);
      rewriteJsonFile(join(dir, 'manifest.json'), jsonOnly);
      for (const m of ['model', 'merged-base']) rewriteModelInfo(join(dir, m), dataDir, roots);
    }
  }
  rewriteJsonFile(join(dataDir, 'demo-summary.json'), jsonOnly);
}

export function relativePaths(ctx: MigrationContext): Migration {
  return {
    async up(db: Kysely<any>) { // eslint-disable-line @typescript-eslint/no-explicit-any -- a migration reads the tables as they were at its version, which no current table type describes
      const jobs = await db.selectFrom('jobs').select(['id', 'spec']).execute() as Array<{ id: string; spec: string }>;
      const roots = new Set<string>();
      if (ctx.dataDir) roots.add(resolve(ctx.dataDir));
      for (const j of jobs) {
        const r = folderOfJob((parse(j.spec) as { outputDir?: unknown } | undefined)?.outputDir, j.id);
        if (r) roots.add(r);
      }
      // a model made by a job whose row is gone still says where its folder was
      const models = await db.selectFrom('models').select(['path', 'base_path']).execute() as Array<{ path: string | null; base_path: string | null }>;
      for (const m of models) for (const p of [m.path, m.base_path]) { const r = folderOfModel(p); if (r) roots.add(r); }
      if (ctx.dataDir && existsSync(join(ctx.dataDir, 'jobs'))) {
        // a job folder whose row is gone still names where it was made
        for (const id of readdirSync(join(ctx.dataDir, 'jobs'))) {
          const r = folderOfJob((parse(existsSync(join(ctx.dataDir, 'jobs', id, 'job.json')) ? readFileSync(join(ctx.dataDir, 'jobs', id, 'job.json'), 'utf8') : null) as { outputDir?: unknown } | null)?.outputDir, id);
          if (r) roots.add(r);
        }
      }
      const old = [...roots];
      if (old.length === 0) return;
      if (ctx.dataDir) rewriteFiles(resolve(ctx.dataDir), old);
      // PostgreSQL runs every migration inside one transaction already (transactional DDL); SQLite gets its own
      const inTransaction = (fn: (tx: Kysely<any>) => Promise<void>) => (db.isTransaction ? fn(db) : db.transaction().execute(fn)); // eslint-disable-line @typescript-eslint/no-explicit-any -- as above
      await inTransaction(async (tx) => {
        const models = await tx.selectFrom('models').select(['id', 'path', 'base_path', 'adapter_path']).execute() as Array<Record<string, string | null>>;
        for (const m of models) {
          const patch: Record<string, string> = {};
          for (const k of ['path', 'base_path', 'adapter_path']) {
            const p = m[k];
            if (typeof p === 'string' && relocate(old, p) !== p) patch[k] = relocate(old, p);
          }
          if (Object.keys(patch).length) await tx.updateTable('models').set(patch).where('id', '=', m.id).execute();
        }
        const json: Array<[table: string, key: string, column: string]> = [
          ['jobs', 'id', 'spec'], ['dataset_versions', 'id', 'source'], ['deployments', 'id', 'settings'],
        ];
        for (const [table, key, column] of json) {
          const rows = await tx.selectFrom(table).select([key, column]).execute() as Array<Record<string, string | null>>;
          for (const r of rows) {
            const out = relocateJson(r[column], old);
            if (out !== null) await tx.updateTable(table).set({ [column]: out }).where(key, '=', r[key]).execute();
          }
        }
      });
    },
    async down() { /* relative paths are read the same way by every later version: nothing to undo */ },
  };
}
