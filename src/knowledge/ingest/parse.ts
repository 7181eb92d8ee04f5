/**
 * One document from bytes to units: read (./readers.ts, within ./limits.ts), optionally Traditional-to-Simplified,
 * then structure (./structure.ts). The whole step the ingest workflow runs off the event loop (./worker.ts); this
 * module is the same step in the calling thread. Guarantees: the result is plain data (structured-clonable).
 */
import type { DocFormat, DocumentMeta, Unit } from '../knowledge-types.ts';
import { readDocument } from './readers.ts';
import { traditionalToSimplified } from './normalize.ts';
import { structureDocument } from './structure.ts';
import type { IngestLimits } from './ingest-limits.ts';

export interface ParseOptions { t2s?: boolean; limits?: IngestLimits }

export interface ParsedUnits { title: string; format: DocFormat; units: Unit[]; statute: boolean; meta: DocumentMeta }

export async function parseDocument(filename: string, data: Uint8Array, o: ParseOptions = {}): Promise<ParsedUnits> {
  const parsed = await readDocument(filename, data, undefined, o.limits);
  if (o.t2s) {
    parsed.title = await traditionalToSimplified(parsed.title);
    for (const b of parsed.blocks) b.text = await traditionalToSimplified(b.text);
  }
  const { units, statute, meta } = structureDocument(parsed);
  return { title: parsed.title, format: parsed.format, units, statute, meta };
}
