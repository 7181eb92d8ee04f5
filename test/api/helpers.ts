import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import type { Limits } from '../../src/data/limits.ts';

export const ADMIN_KEY = 'sk-mf-test-admin-key-0123456789abcdef';
export const SHARED = new URL('../../../shared/data/', import.meta.url).pathname;

export async function startServer(limits?: Partial<Limits>): Promise<{ srv: ModelfabServer; url: string; dir: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'mf-api-'));
  const srv = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, limits });
  const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  return { srv, url, dir, stop: async () => { await srv.close(); rmSync(dir, { recursive: true, force: true }); } };
}
