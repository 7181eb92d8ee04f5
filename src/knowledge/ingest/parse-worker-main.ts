/**
 * The ingest worker thread's side (started by ./worker.ts): parses each document it is sent and posts the units
 * back, or the error as plain data (its kind, message and, for a limit, which one).
 */
import { parentPort } from 'node:worker_threads';
import { parseDocument, type ParseOptions } from './parse.ts';
import { IngestError } from './readers.ts';
import { IngestLimitError } from './ingest-limits.ts';

export interface ParseRequest { id: number; filename: string; data: Uint8Array; options: ParseOptions }

parentPort!.on('message', (m: ParseRequest) => {
  parseDocument(m.filename, m.data, m.options).then(
    (result) => parentPort!.postMessage({ id: m.id, ok: true, result }),
    (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      parentPort!.postMessage({
        id: m.id, ok: false, kind: e instanceof IngestLimitError ? 'limit' : e instanceof IngestError ? 'ingest' : 'error', message: err.message,
        ...(e instanceof IngestLimitError ? { limit: e.limit, value: e.value } : {}),
      });
    },
  );
});
parentPort!.postMessage({ ready: true });
