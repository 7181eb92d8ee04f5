/**
 * The folders the server reads models from, and the check that a path a client names is inside one of them.
 *
 * `modelfab serve --models-dir DIR` (repeatable) or MODELFAB_MODEL_DIRS (a path list, `:`-separated; `;` on Windows)
 * adds folders; the data folder's `models/` is always one. A path is resolved to its real location first (symlinks,
 * `..`), so a link inside an allowed folder cannot point out of it. A path outside every allowed folder gets one
 * answer whether or not it exists: "path is not inside an allowed model folder", with nothing read from it (no
 * bytes, no size, no existence).
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve, sep } from 'node:path';
import { isInside } from '../store/paths.ts';
import { ApiError } from './errors.ts';

/** The model folders of MODELFAB_MODEL_DIRS (empty entries ignored), resolved against the current folder. */
export function modelDirsFromEnv(value: string | undefined = process.env.MODELFAB_MODEL_DIRS): string[] {
  return (value ?? '').split(delimiter).map((d) => d.trim()).filter(Boolean).map((d) => resolve(d));
}

/** The data folder's own model folder. */
export function dataModelsDir(dataDir: string): string {
  return join(dataDir, 'models');
}

/**
 * The real location of `path` (absolute), also when it does not exist yet: the real location of its deepest existing
 * ancestor plus the rest. Null when that cannot be told safely (a `..` after a missing component, an unreadable
 * ancestor).
 */
export function realLocation(path: string): string | null {
  try { return realpathSync.native(path); } catch { /* missing or unreadable: walk up */ }
  const parts = path.split(sep);
  for (let i = parts.length - 1; i > 0; i--) {
    const head = parts.slice(0, i).join(sep) || sep;
    let real: string;
    try { real = realpathSync.native(head); } catch { continue; }
    const rest = parts.slice(i).filter((p) => p !== '' && p !== '.');
    if (rest.includes('..')) return null;
    return join(real, ...rest);
  }
  return null;
}

export const NOT_ALLOWED = 'path is not inside an allowed model folder';

export class ModelFolders {
  readonly dirs: readonly string[];

  constructor(dirs: string[]) {
    this.dirs = [...new Set(dirs.map((d) => resolve(d)))];
  }

  /**
   * The real path of a model file or folder a client named (`param` for the error), after checking it is inside an
   * allowed folder and exists as a file or folder. Errors: 400 for a relative path; 403 "path is not inside an
   * allowed model folder" for anything outside (existing or not); 400 "does not exist" / "is not a file or folder"
   * only inside.
   */
  resolve(path: unknown, param = 'path'): string {
    if (typeof path !== 'string' || !path) throw new ApiError(400, `${param} must be a path on the server`, 'invalid_request_error', param, 'invalid_value');
    if (!isAbsolute(path)) throw new ApiError(400, `${param} must be absolute (a path on the server machine)`, 'invalid_request_error', param, 'invalid_value');
    const real = realLocation(path);
    const inside = real !== null && this.dirs.some((d) => {
      const rd = realLocation(d);
      return rd !== null && existsSync(rd) && isInside(rd, real);
    });
    if (!inside) throw new ApiError(403, `${param}: ${NOT_ALLOWED}`, 'invalid_request_error', param, 'path_not_allowed');
    let st;
    try { st = statSync(real); } catch { throw new ApiError(400, `${param} ${path} does not exist`, 'invalid_request_error', param, 'not_found'); }
    if (!st.isFile() && !st.isDirectory()) throw new ApiError(400, `${param} ${path} is not a file or folder`, 'invalid_request_error', param, 'invalid_value');
    return real;
  }
}
