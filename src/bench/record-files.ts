/**
 * Reading a records file a user named (held-out splits, `heldout` task generators): bounded and never blocking.
 *
 * Owns: `readTextFile` (fs.promises) and `readTextFileSync` (for the synchronous task loader of local task files).
 * Guarantees: only a regular file is read: the file is opened without blocking (O_NONBLOCK, so a FIFO cannot hold
 * the open) and checked on the open descriptor, so a FIFO, a device such as /dev/zero, a socket or a folder is
 * refused before any byte is read; at most `maxBytes` bytes are read (a larger file, or one that grows past the
 * limit while it is read, is refused with the limit named); errors name the path, never its contents.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';

/** The default limit of a records file: 64 MiB. */
export const MAX_RECORDS_BYTES = 64 * 1024 * 1024;

export class FileReadError extends Error {
  constructor(message: string, readonly code: 'not_found' | 'not_a_file' | 'too_large' | 'unreadable') { super(message); }
}

const FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

function mib(n: number): string { return `${(n / 1024 / 1024).toFixed(n < 1024 * 1024 ? 2 : 0)} MiB`; }

function openError(path: string, e: unknown): FileReadError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FileReadError(`${path}: no such file`, 'not_found');
  if (code === 'EISDIR') return new FileReadError(`${path}: not a regular file`, 'not_a_file');
  return new FileReadError(`${path}: cannot be read (${code ?? 'error'})`, 'unreadable');
}

function checkStats(path: string, st: Stats, maxBytes: number): void {
  if (!st.isFile()) throw new FileReadError(`${path}: not a regular file`, 'not_a_file');
  if (st.size > maxBytes) throw new FileReadError(`${path}: ${mib(st.size)} is over the limit of ${mib(maxBytes)}`, 'too_large');
}

function tooLarge(path: string, maxBytes: number): FileReadError {
  return new FileReadError(`${path}: more than the limit of ${mib(maxBytes)}`, 'too_large');
}

/** The UTF-8 text of a regular file of at most `maxBytes` bytes, read asynchronously. */
export async function readTextFile(path: string, maxBytes = MAX_RECORDS_BYTES): Promise<string> {
  let fh;
  try { fh = await open(path, FLAGS); } catch (e) { throw openError(path, e); }
  try {
    checkStats(path, await fh.stat(), maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, maxBytes + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(path, maxBytes);
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** The same, synchronously (local task files: the task loader is synchronous). */
export function readTextFileSync(path: string, maxBytes = MAX_RECORDS_BYTES): string {
  let fd: number;
  try { fd = openSync(path, FLAGS); } catch (e) { throw openError(path, e); }
  try {
    checkStats(path, fstatSync(fd), maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, maxBytes + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw tooLarge(path, maxBytes);
      chunks.push(buf.subarray(0, n));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
