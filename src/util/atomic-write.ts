/**
 * Crash-safe file replacement.
 *
 * Owns: `writeFileAtomic` and the fsync helpers the checkpoint code builds on. Guarantees: after
 * `writeFileAtomic(path, data)` returns, `path` holds exactly `data` and survives a power cut (file data fsync'd
 * before the rename, the directory fsync'd after it where the platform allows); if the process dies at any
 * point, `path` holds either its old content or the new one, never a mix. An interrupted write can leave a
 * temporary `.<name>.tmp-<pid>-<hex>` beside it (`isAtomicTemp` recognizes those), never a partial `path`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** The temporary name used for `target` (same directory, so the rename never crosses file systems). */
export function atomicTempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** True for names `atomicTempName` produces. */
export function isAtomicTemp(name: string): boolean {
  return /^\..+\.tmp-\d+-[0-9a-f]{8}$/.test(path.basename(name));
}

/** Writes all of `data` to an open descriptor (writeSync may write less than asked). */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}

/**
 * fsyncs a directory so that renames/creations in it are durable. Best effort: some platforms (Windows) and
 * file systems refuse to open or sync directories, which is not an error here.
 */
export function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // not supported here
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Writes a file and fsyncs it (no rename: for files inside a temporary folder that is renamed as a whole). */
export function writeFileDurable(file: string, data: Uint8Array | string, mode = 0o644): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = fs.openSync(file, 'w', mode);
  try {
    writeAll(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` with `data` atomically and durably (temp file + fsync + rename + directory fsync). */
export function writeFileAtomic(file: string, data: Uint8Array | string, opts: { mode?: number } = {}): void {
  const tmp = atomicTempName(file);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx', opts.mode ?? 0o644);
    writeAll(fd, bytes);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.rmSync(tmp, { force: true }); } catch { /* already failing */ }
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/**
 * Moves a finished file into place atomically and durably: fsyncs `src`, renames it onto `target` (same file system:
 * put `src` beside the target or in a temp folder on the same volume), fsyncs the target's directory. If the rename
 * fails, `src` is left where it was.
 */
export function moveFileAtomic(src: string, target: string): void {
  const fd = fs.openSync(src, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(src, target);
  fsyncDir(path.dirname(target));
}
