/**
 * The Knowledge Factory's shared types: the parsed document (blocks with structure), knowledge bases, documents,
 * knowledge items (with review state and versions) and chunks (parent-child). Pure types and a few constructors;
 * every other module in src/knowledge/ speaks these.
 */

/** One block of a parsed document, in reading order. */
export type Block =
  | { kind: 'heading'; level: number; text: string }
  | { kind: 'paragraph'; text: string };

/** What a reader (txt, md, html, pdf, docx) produces before structuring. */
export interface ParsedDocument {
  title: string;
  format: DocFormat;
  blocks: Block[];
}

export type DocFormat = 'txt' | 'md' | 'html' | 'pdf' | 'docx';

/**
 * A structural unit of a document: a statute article (第X条) with its number and chapter path, or a section under a
 * heading path. Units are what review works on (one knowledge item per unit).
 */
export interface Unit {
  /** 'article' for statutes, 'section' for heading-structured text. */
  kind: 'article' | 'section';
  /** Article number (1-based) for articles; undefined for sections. */
  number?: number;
  /** Display label, e.g. "第二十五条" or the section's heading. */
  label: string;
  /** Heading path from the document root, e.g. ["第三章 经营者的义务"] or ["Setup", "Linux"]. */
  path: string[];
  /** The unit's body text (paragraphs joined by "\n"), article label included for articles. */
  text: string;
}

/** One event of a statute's history as its preamble records it. */
export interface HistoryEntry {
  /** ISO date (YYYY-MM-DD) when the entry gives one. */
  date: string | null;
  /** What happened: passed, amended, revised, promulgated, in force; null when the entry does not say. */
  event: '通过' | '修正' | '修订' | '公布' | '施行' | null;
  /** The session that acted, e.g. "第八届全国人民代表大会常务委员会第四次会议". */
  session?: string;
  /** The entry as written. */
  text: string;
}

/**
 * What a document says about itself rather than its subject: for statutes the preamble (title, promulgation and
 * amendment history, the session that passed it, the table of contents). Kept on the document record, never a unit.
 */
export interface DocumentMeta {
  title?: string;
  history?: HistoryEntry[];
  /** The session that passed the law (the history entry whose event is 通过). */
  passedBy?: string;
  passedOn?: string | null;
  /** Table-of-contents lines (目录), when the document has one. */
  contents?: string[];
}

export type ReviewState = 'pending' | 'approved' | 'rejected';

export interface KnowledgeBase {
  id: string;
  name: string;
  description: string;
  /** When true, only approved items are indexed and served. */
  requireApproval: boolean;
  /** Chunking parameters used when the KB's index is built. */
  chunking: ChunkOptions;
  /** Optional Traditional-to-Simplified conversion at ingest. */
  t2s: boolean;
  /** A guard policy run on chat-search questions and answers over this KB; absent or null: none. */
  guard?: string | null;
  /**
   * Train a retriever on this KB's units (a factory job per set of units, where the server runs a factory) and use
   * it, once trained, as the dense list fused with BM25 (knowledge/retriever.ts). Absent or false: none.
   */
  retriever?: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface DocumentRecord {
  id: string;
  kbId: string;
  filename: string;
  format: DocFormat;
  title: string;
  sha256: string;
  bytes: number;
  createdAt: number;
  /** Unit and item counts at ingest. */
  units: number;
  /** True when the statute structure (第X条) was recognised. */
  statute: boolean;
  /** The document's metadata (a statute's preamble); absent on records written before it was kept. */
  meta?: DocumentMeta;
}

/** A reviewable unit of knowledge; its current content is the latest version. */
export interface KnowledgeItem {
  id: string;
  kbId: string;
  docId: string;
  /** Position in the document (for stable ordering). */
  ordinal: number;
  kind: Unit['kind'];
  number?: number;
  label: string;
  path: string[];
  text: string;
  state: ReviewState;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  version: number;
  updatedAt: number;
}

/** One entry of an item's history (appended on every change). */
export interface ItemVersion {
  itemId: string;
  version: number;
  at: number;
  actor: string;
  action: 'create' | 'edit' | 'approve' | 'reject' | 'tag' | 'meta' | 'reset';
  /** The item as it was after this change. */
  item: KnowledgeItem;
  note?: string;
}

export interface ChunkOptions {
  /** Target maximum characters of a child (matching) chunk. */
  maxChars: number;
  /** Overlap in characters between consecutive size-split children. */
  overlap: number;
  /** Maximum characters of a parent (context) chunk; longer units are split into several parents. */
  parentMaxChars: number;
}

export const DEFAULT_CHUNKING: ChunkOptions = { maxChars: 400, overlap: 60, parentMaxChars: 1600 };

/** A chunk: children are matched, parents are handed to the reader/generator. */
export interface Chunk {
  id: string;
  kbId: string;
  docId: string;
  itemId: string;
  /** The parent chunk's id (children only); parents have none. */
  parentId?: string;
  role: 'parent' | 'child';
  /** Label of the unit (e.g. 第二十五条) and heading path, for display, citations and the title field. */
  label: string;
  path: string[];
  number?: number;
  text: string;
  /** Character offsets of `text` inside the item's text (for linking to the exact passage). */
  start: number;
  end: number;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  /** Document title, for display. */
  docTitle: string;
}
