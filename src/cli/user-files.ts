/**
 * Files a user names on the command line: read with one readable error ("file not found: PATH", "PATH is a folder,
 * not a file", "cannot read PATH: permission denied") instead of a raw ENOENT, and never with the file's contents.
 */
import { readFileSync, statSync } from 'node:fs';

/** The error for a file that cannot be read, as one line naming the path. */
export function fileError(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new Error(`file not found: ${path}`);
  if (code === 'EISDIR') return new Error(`${path} is a folder, not a file`);
  if (code === 'EACCES' || code === 'EPERM') return new Error(`cannot read ${path}: permission denied`);
  return new Error(`cannot read ${path}: ${code ?? (e as Error)?.message ?? String(e)}`);
}

/** The bytes of a file the user named. */
export function readUserFile(path: string): Buffer {
  try {
    if (statSync(path).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return readFileSync(path);
  } catch (e) { throw fileError(path, e); }
}

/** The text (UTF-8) of a file the user named. */
export function readUserText(path: string): string {
  return readUserFile(path).toString('utf8');
}

/** A JSON file the user named, parsed; a syntax error names the file. */
export function readUserJson<T = unknown>(path: string): T {
  const text = readUserText(path);
  try { return JSON.parse(text) as T; } catch (e) {
    // the parser's message may quote the text: say where, never what
    const m = /position (\d+)/.exec((e as Error).message);
    if (!m) throw new Error(`${path}: not valid JSON`);
    const before = text.slice(0, Number(m[1])).split('\n');
    throw new Error(`${path}:${before.length}:${before[before.length - 1]!.length + 1}: not valid JSON`);
  }
}

/** Fails with "file not found: PATH" unless `path` is an existing file (for paths a library opens itself). */
export function requireFile(path: string): string {
  let isFile: boolean;
  try { isFile = statSync(path).isFile(); } catch (e) { throw fileError(path, e); }
  if (!isFile) throw new Error(`${path} is a folder, not a file`);
  return path;
}

/** A lexicon option: the name of one of `builtins`, else a file the user named (read here, sent as text). */
export function lexiconField(v: string | undefined, builtins: Record<string, unknown>): { lexicon_name: string } | { lexicon: string } | Record<string, never> {
  if (v === undefined) return {};
  return Object.hasOwn(builtins, v) ? { lexicon_name: v } : { lexicon: readUserText(v) };
}
