/**
 * The shared read-only data beside the repository (../shared/data, or $MODELFAB_SHARED_DATA). A test that reads a
 * file from it takes its options from `needsShared(...)`: when a file is missing the test is skipped with a reason
 * that names the file, never run on a substitute and never failed for want of data.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const SHARED_DATA = process.env.MODELFAB_SHARED_DATA || join(import.meta.dirname, '..', '..', 'shared', 'data');

/** The absolute path of a file or folder of the shared data, e.g. `shared('laws/insurance-law-zh.md')`. */
export function shared(rel: string): string {
  return join(SHARED_DATA, rel);
}

/** The relative paths, of those given, that are not present. */
export function missingShared(...rels: string[]): string[] {
  return rels.filter((r) => !existsSync(shared(r)));
}

/** Test options: `{ skip: 'missing shared data: …' }` when any file is missing, else `{}`. */
export function needsShared(...rels: string[]): { skip?: string } {
  const missing = missingShared(...rels);
  return missing.length ? { skip: `missing shared data: ${missing.map(shared).join(', ')}` } : {};
}
