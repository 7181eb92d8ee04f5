/**
 * Helpers of the factory's end-to-end tests: a tiny base model and a small SFT dataset registered in a server made
 * in the test, and calls to a `modelfab serve` child process (with waiting for what it should come to).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelfabServer } from '../../src/api/server.ts';
import { saveModel } from '../../src/engine/io.ts';
import { supportQA } from '../../src/demo/demo-datasets.ts';
import { randomModel, shapeConfig, testTokenizer } from '../model-files/model-fixtures.ts';

/** Registers a random model as base `tiny` and `rows` support chats as dataset `qa` (files in `dir`). */
export async function tinyBaseAndData(srv: ModelfabServer, dir: string, rows = 24): Promise<void> {
  const tok = testTokenizer();
  const C = shapeConfig(tok.vocabSize, { contextLength: 128 });
  saveModel(join(dir, 'tiny'), randomModel(C, 7), tok, { chatTemplate: 'chatml' });
  await srv.factory.factory.catalogRegister({ name: 'tiny', kind: 'engine', path: join(dir, 'tiny'), role: 'base', config: C, createdAt: Date.now() });
  writeFileSync(join(dir, 'qa.jsonl'), supportQA(0).train.slice(0, rows).map((r) => JSON.stringify(r)).join('\n'));
  await srv.service.importDataset({ name: 'qa', source: { path: join(dir, 'qa.jsonl') } });
}

/** A JSON call to a server on 127.0.0.1:`port` with `key`; throws with the status and body unless 2xx. */
export async function apiCall<T>(port: number, key: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Polls `f` until it gives a value (errors count as not yet), or fails after `ms` naming `what`. */
export async function until<T>(f: () => Promise<T | null>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await f(); if (v) return v; } catch { /* not up yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
