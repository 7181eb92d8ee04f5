/** What the page reader sends to the panel (structured-cloned out of the page). */
import type { Passage } from './passages.ts';
import type { DataTable } from './tables.ts';

export interface PageSnapshot {
  url: string;
  title: string;
  lang: string;
  passages: Passage[];
  /** The selection's text and the passages it touches (empty when nothing is selected). */
  selection: { text: string; passages: string[] };
  tables: DataTable[];
}
