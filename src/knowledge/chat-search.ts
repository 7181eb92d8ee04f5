/**
 * Chat search: a question -> a grounded answer with inline [n] citations that link to the exact passages, and the
 * attribution check of that answer. Steps: 1. retrieve (the caller's search), 2. gate (nothing relevant -> say so,
 * never guess), 3. prompt (grounded template, zh/en), 4. generate (a model, or the extractive fallback),
 * 5. link citations ([n] -> chunk, item, document, span), 6. attribute (flag unsupported sentences).
 * Guarantees: when the best result's query coverage is below `minCoverage` the answer is the fixed "not found"
 * text and no model is called; citations name only passages that were given to the model.
 */
import type { SearchResponse, SearchResult } from './search.ts';
import { attribute, type AttributionReport, type AttributionOptions, type Passage } from './attribution.ts';
import { detectLang, groundedPrompt, NO_ANSWER, type Generator } from './answer-generator.ts';

export interface AskOptions {
  /** Passages given to the generator (default 5). */
  k?: number;
  /** Minimum coverage of the query by the best passage to answer at all (default 0.1). */
  minCoverage?: number;
  attribution?: AttributionOptions;
}

/** A numbered source of an answer: where the passage is, and (`text`, its span) the passage as given to the model. */
export interface Citation extends Pick<SearchResult, 'chunkId' | 'itemId' | 'docId' | 'docTitle' | 'label' | 'path' | 'text' | 'start' | 'end'> {
  ref: number;
  /** True when the answer cites [ref]. */
  cited: boolean;
}

export interface AskResult {
  question: string;
  answer: string;
  found: boolean;
  generator: string;
  mode: SearchResponse['mode'];
  notice?: string;
  citations: Citation[];
  attribution: AttributionReport | null;
}

export async function ask(question: string, search: (q: string, k: number) => Promise<SearchResponse>, generator: Generator, o: AskOptions = {}): Promise<AskResult> {
  const k = o.k ?? 5;
  // 1. retrieve
  const res = await search(question, k);
  const lang = detectLang(question);
  const minCoverage = o.minCoverage ?? 0.1;
  // 2. gate
  const relevant = res.results.filter((r) => r.coverage >= minCoverage * 0.5);
  if (!res.results.length || res.results[0]!.coverage < minCoverage || !relevant.length) {
    return { question, answer: NO_ANSWER[lang], found: false, generator: generator.name, mode: res.mode, notice: res.notice, citations: [], attribution: null };
  }
  // 3. prompt
  const passages: Passage[] = relevant.map((r, i) => ({ id: r.chunkId, ref: i + 1, label: r.label, text: passageText(r) }));
  const messages = groundedPrompt(question, passages, lang);
  // 4. generate
  const answer = (await generator.generate(messages)).trim();
  // 5. link citations
  const citedRefs = new Set([...answer.matchAll(/\[(\d{1,3})\]/g)].map((m) => Number(m[1])));
  const citations: Citation[] = relevant.map((r, i) => ({
    ref: i + 1, chunkId: r.chunkId, itemId: r.itemId, docId: r.docId, docTitle: r.docTitle, label: r.label, path: r.path,
    text: passageText(r), start: r.start, end: r.end, cited: citedRefs.has(i + 1),
  }));
  // 6. attribute (a "not found" reply has nothing to attribute)
  const found = !/资料中没有找到|do not contain an answer|does not contain anything relevant/.test(answer);
  const attribution = found ? await attribute(answer, passages, o.attribution) : null;
  return { question, answer, found, generator: generator.name, mode: res.mode, notice: res.notice, citations, attribution };
}

/** The passage handed to the model: the parent (context) when it is short enough, else the matched child. */
function passageText(r: SearchResult): string {
  return r.context.length <= 1200 ? r.context : r.text;
}
