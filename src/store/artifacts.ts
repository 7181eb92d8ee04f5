/**
 * The `ArtifactStore` seam: named blobs (uploaded files, normalised dataset records, later models and job outputs)
 * with atomic put, get, stream, list and delete. Keys are relative paths of safe segments (`files/file-abc`,
 * `datasets/ds-x/<hash>/train.jsonl`). `LocalArtifactStore` keeps them under a folder on local disk; object
 * storage later implements the same interface.
 *
 * Guarantees: a key is either absent or holds a complete blob (temp file + fsync + rename); readers never see a
 * partial write; a failed put leaves nothing behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { fsyncDir, isAtomicTemp, moveFileAtomic, writeFileAtomic } from '../util/atomic-write.ts';

export interface ArtifactStore {
  /** Writes `data` under `key` atomically (replacing what was there). */
  put(key: string, data: Uint8Array | string): Promise<void>;
  /** Moves a finished local file under `key` atomically (the file is consumed). */
  putFile(key: string, file: string): Promise<void>;
  get(key: string): Promise<Buffer>;
  stream(key: string): Readable;
  /** Size in bytes, or null when absent. */
  stat(key: string): Promise<{ bytes: number } | null>;
  /** Keys under a prefix ("" for all), sorted. */
  list(prefix?: string): Promise<string[]>;
  /** Removes a key (no error when absent). */
  delete(key: string): Promise<void>;
  /** A fresh temporary file path on the same volume, for streaming an upload before `putFile`. */
  tempFile(hint?: string): string;
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export function checkKey(key: string): string[] {
  const parts = key.split('/');
  if (parts.length === 0 || parts.some((p) => !SEGMENT.test(p) || p === '..' || p === '.')) throw new Error(`invalid artifact key ${JSON.stringify(key)}`);
  return parts;
}

export class LocalArtifactStore implements ArtifactStore {
  private readonly tmpDir: string;
  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
    this.tmpDir = path.join(root, 'tmp');
    fs.mkdirSync(this.tmpDir, { recursive: true });
  }

  /** The file behind a key (local disk only). */
  pathOf(key: string): string {
    return path.join(this.root, ...checkKey(key));
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const p = this.pathOf(key);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    writeFileAtomic(p, data);
  }

  async putFile(key: string, file: string): Promise<void> {
    const p = this.pathOf(key);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    moveFileAtomic(file, p);
  }

  async get(key: string): Promise<Buffer> {
    return fs.promises.readFile(this.pathOf(key));
  }

  stream(key: string): Readable {
    return fs.createReadStream(this.pathOf(key));
  }

  async stat(key: string): Promise<{ bytes: number } | null> {
    try {
      const s = await fs.promises.stat(this.pathOf(key));
      return s.isFile() ? { bytes: s.size } : null;
    } catch {
      return null;
    }
  }

  async list(prefix = ''): Promise<string[]> {
    const out: string[] = [];
    const walk = (dir: string, rel: string) => {
      let entries: fs.Dirent[];
      try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) { if (r !== 'tmp') walk(path.join(dir, e.name), r); } else if (e.isFile() && !isAtomicTemp(e.name)) out.push(r);
      }
    };
    walk(this.root, '');
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    const p = this.pathOf(key);
    await fs.promises.rm(p, { force: true });
    // remove emptied parent folders up to the root
    let dir = path.dirname(p);
    while (dir.startsWith(this.root) && dir !== this.root) {
      try { fs.rmdirSync(dir); } catch { break; }
      dir = path.dirname(dir);
    }
    fsyncDir(path.dirname(p));
  }

  tempFile(hint = 'upload'): string {
    return path.join(this.tmpDir, `${hint.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}-${process.pid}-${randomBytes(8).toString('hex')}`);
  }
}
