/**
 * Document parsing off the event loop: one worker thread (started on first use, shared by the process, not keeping
 * it alive when idle) runs ./parse.ts for each ingest, one document at a time, so a large or hostile document
 * cannot stall the server's other requests. Owns `parseOffThread` and `closeIngestWorker`.
 * Guarantees: the result equals `parseDocument` in the calling thread; errors come back as the same classes
 * (IngestLimitError with its limit, IngestError, Error); the worker's heap is capped (a document that exhausts it
 * fails alone, as an IngestError, and the next one gets a fresh worker).
 */
import { Worker } from 'node:worker_threads';
import { IngestLimitError, type IngestLimits } from './ingest-limits.ts';
import { IngestError } from './readers.ts';
import type { ParseOptions, ParsedUnits } from './parse.ts';

interface Pending { resolve: (r: ParsedUnits) => void; reject: (e: Error) => void }
type Reply = { id: number; ok: true; result: ParsedUnits } | { id: number; ok: false; kind: 'limit' | 'ingest' | 'error'; message: string; limit?: keyof IngestLimits; value?: number };

/** The worker's heap cap (MiB). */
const HEAP_MB = 1024;

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, Pending>();

function toError(r: Extract<Reply, { ok: false }>): Error {
  if (r.kind === 'limit' && r.limit) return Object.assign(new IngestLimitError(r.limit, r.value ?? 0, ''), { message: r.message });
  return r.kind === 'ingest' ? new IngestError(r.message) : new Error(r.message);
}

function failAll(e: Error): void {
  for (const p of pending.values()) p.reject(e);
  pending.clear();
}

function start(): Worker {
  const w = new Worker(new URL('./parse-worker-entry.mjs', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: HEAP_MB } });
  w.on('message', (m: Reply | { ready: true }) => {
    if ('ready' in m) return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) w.unref();
    if (m.ok) p.resolve(m.result); else p.reject(toError(m));
  });
  const gone = (why: string) => {
    if (worker === w) worker = null;
    failAll(new IngestError(`the document could not be parsed: the parser stopped (${why})`));
  };
  w.on('error', (e) => gone(e.message));
  w.on('exit', (code) => gone(`exit code ${code}`));
  w.unref();
  return w;
}

/** Parses a document in the ingest worker thread. */
export function parseOffThread(filename: string, data: Uint8Array, options: ParseOptions = {}): Promise<ParsedUnits> {
  worker ??= start();
  const w = worker;
  const id = nextId++;
  // a copy the worker owns (the caller keeps its bytes: they are stored as the document)
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  return new Promise<ParsedUnits>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, filename, data: copy, options }, [copy.buffer]);
  });
}

/** Stops the worker (tests, shutdown); a later parse starts a new one. */
export async function closeIngestWorker(): Promise<void> {
  const w = worker;
  worker = null;
  if (w) await w.terminate();
}
