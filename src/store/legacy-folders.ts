/**
 * Data folders from before the database held knowledge bases and bots kept them as JSON files (`knowledge/`,
 * `bots/`). Once a server has committed their import, the folder is renamed `<name>.imported-json/` (a dated name if
 * that exists): kept as a backup, and never imported twice.
 */
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export function retireImportedFolder(dataDir: string, name: string): void {
  let backup = join(dataDir, `${name}.imported-json`);
  if (existsSync(backup)) backup = `${backup}-${Date.now()}`;
  try {
    renameSync(join(dataDir, name), backup);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // another server moved it a moment ago
  }
}
