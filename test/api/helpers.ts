import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ModelfabServer } from '../../src/api/server.ts';
import type { Limits } from '../../src/data/dataset-limits.ts';
import { SHARED_DATA } from '../shared-data.ts';

export const ADMIN_KEY = 'sk-mf-test-admin-key-0123456789abcdef';
/** The shared data folder with a trailing slash; tests that read it take their options from `needsShared`. */
export const SHARED = SHARED_DATA + '/';

export async function startServer(limits?: Partial<Limits>): Promise<{ srv: ModelfabServer; url: string; dir: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'mf-api-'));
  const srv = await createServer({ dataDir: dir, adminKey: ADMIN_KEY, limits });
  const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  return { srv, url, dir, stop: async () => { await srv.close(); rmSync(dir, { recursive: true, force: true }); } };
}
