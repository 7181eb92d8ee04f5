/**
 * A retriever trained for one set of documents: the engine's dual encoder (engine/dual-encoder.ts) over the project's
 * own analyzer tokens. Owns:
 *   - tokens: a text's jieba words and character bigrams (`analyze`), each hashed (FNV-1a, "w:" / "b:" prefixes) into
 *     a fixed vocabulary and weighed by its idf over the training passages (bigrams at the lexical index's bigram
 *     weight), so the untrained encoder already ranks like a weighted bag-of-words;
 *   - training data from the documents only: each unit (article) is a passage; its questions are its own sentences,
 *     its title, and whatever questions the caller adds for it (a bot's extracted pairs); hard negatives are BM25's
 *     best wrong units for each question (the same lexical index the knowledge base searches);
 *   - `TrainedRetriever`, an `Embedder` (knowledge/embed.ts), so a knowledge base can attach it as its dense list and a
 *     bot's matcher can score its units with it; saved as `retriever.safetensors` + `retriever.json`.
 * Guarantees: deterministic for a seed and the same units; no I/O except `save` / `loadRetriever` / `isRetrieverDir`;
 * a text with no indexable token embeds to zeros.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DualEncoder, trainContrastive, DEFAULT_CONTRASTIVE, type Bag, type ContrastiveData, type ContrastiveOptions } from '../engine/dual-encoder.ts';
import { decodeSafetensors, encodeSafetensors, tensorToF32 } from '../formats/safetensors.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { addUserWords, analyze } from './text/analyzer.ts';
import { LexicalIndex, DEFAULT_LEXICAL_WEIGHTS } from './index/lexical.ts';
import type { Lexicon } from './text/lexicon.ts';
import type { Embedder } from './embed.ts';
import { titleOf, type KbIndex } from './search.ts';
import type { Chunk } from './knowledge-types.ts';

/** One passage to retrieve: a unit's id, its text and title (label, heading path). */
export interface RetrieverUnit { id: string; text: string; title: string }
/** A question known to be answered by a unit (a bot's pair question or paraphrase). */
export interface RetrieverQuestion { unit: string; text: string }

export interface RetrieverOptions extends ContrastiveOptions {
  vocab: number;
  dims: number;
  /** Hard negatives kept per question from BM25's top hits. */
  hardNegatives: number;
  /** Shortest sentence (characters) used as a question. */
  minSentence: number;
}

/** Chosen on the tune half of the independent insurance question set (the bot's matcher, bench:bots). */
export const DEFAULT_RETRIEVER: RetrieverOptions = { ...DEFAULT_CONTRASTIVE, epochs: 3, lr: 3e-4, tau: 0.2, hardPerQuestion: 2, vocab: 1 << 15, dims: 256, hardNegatives: 3, minSentence: 6 };

/**
 * The dense list's weight in reciprocal-rank fusion with BM25 (lexical 1) in bench:search. On the tune half of the
 * consumer-law set every weight tried (0.03 to 1) lowered top-1, so this is the smallest tried, to report the effect;
 * a knowledge base does not fuse a trained retriever by default.
 */
export const RETRIEVER_DENSE_WEIGHT = 0.03;

const BIGRAM_WEIGHT = DEFAULT_LEXICAL_WEIGHTS.bigrams;

function fnv(s: string, vocab: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
  return (h >>> 0) % vocab;
}

/** The hashed tokens of a text, with their field weight (1 for words, the bigram weight for bigrams). */
export function hashedTokens(text: string, vocab: number): { ids: number[]; field: number[] } {
  const a = analyze(text);
  const ids: number[] = [], field: number[] = [];
  for (const w of a.words) { ids.push(fnv(`w:${w}`, vocab)); field.push(1); }
  for (const b of a.bigrams) { ids.push(fnv(`b:${b}`, vocab)); field.push(BIGRAM_WEIGHT); }
  return { ids, field };
}

/** idf per hashed id over `texts` (ids never seen get the highest idf). */
export function hashedIdf(texts: readonly string[], vocab: number): Float32Array {
  const df = new Uint32Array(vocab);
  for (const t of texts) for (const id of new Set(hashedTokens(t, vocab).ids)) df[id]++;
  const n = texts.length, idf = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) idf[i] = Math.log(1 + (n - df[i]! + 0.5) / (df[i]! + 0.5));
  return idf;
}

/** The sentences of a unit worth asking with (split at 。！？； and line ends). */
export function unitSentences(text: string, minChars: number): string[] {
  return text.split(/(?<=[。！？；!?;])|\n+/).map((s) => s.trim()).filter((s) => s.length >= minChars);
}

export function passageText(u: Pick<RetrieverUnit, 'title' | 'text'>): string { return `${u.title}\n${u.text}`; }

export interface RetrieverMeta {
  format: 'modelfab-retriever'; vocab: number; dims: number; units: number; questions: number; seed: number; finalLoss: number | null;
  /**
   * The domain lexicon's words the segmenter knew while training (jieba's dictionary is the process's): added again
   * on load, so a text is cut into the same words wherever the retriever runs.
   */
  userWords?: string[];
}

export class TrainedRetriever implements Embedder {
  readonly semantic = true;
  readonly name: string;
  readonly dims: number;

  constructor(readonly encoder: DualEncoder, readonly idf: Float32Array, readonly meta: RetrieverMeta, name = 'retriever') {
    if (idf.length !== encoder.config.vocab) throw new Error(`retriever: idf has ${idf.length} entries, vocabulary ${encoder.config.vocab}`);
    this.dims = encoder.config.dims;
    this.name = name;
  }

  bag(text: string): Bag {
    const { ids, field } = hashedTokens(text, this.encoder.config.vocab);
    return { ids: Int32Array.from(ids), weights: Float32Array.from(ids, (id, i) => this.idf[id]! * field[i]!) };
  }

  embedOne(text: string): Float32Array { return this.encoder.encode(this.bag(text)); }

  async embed(texts: string[]): Promise<Float32Array[]> { return texts.map((t) => this.embedOne(t)); }

  /** The tokens a text is read as: its words and bigrams (what `usage.prompt_tokens` counts when it is served). */
  countTokens(text: string): number { return hashedTokens(text, this.encoder.config.vocab).ids.length; }

  /** Resident bytes: the parameters and the idf. */
  get bytes(): number { return (this.encoder.params.length + this.idf.length) * 4; }

  /** Writes `retriever.safetensors` (embedding, projection, idf) and `retriever.json` into `dir`. */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const { vocab, dims } = this.encoder.config;
    const st = encodeSafetensors([
      { name: 'retriever.embedding', dtype: 'F32', shape: [vocab, dims], data: this.encoder.embedding.data },
      { name: 'retriever.projection', dtype: 'F32', shape: [dims, dims], data: this.encoder.projection.data },
      { name: 'retriever.idf', dtype: 'F32', shape: [vocab], data: this.idf },
    ]);
    writeFileAtomic(join(dir, 'retriever.safetensors'), st);
    writeFileAtomic(join(dir, 'retriever.json'), JSON.stringify(this.meta, null, 2) + '\n');
  }
}

/** Whether `dir` holds a saved retriever (its `retriever.json`). */
export function isRetrieverDir(dir: string): boolean { return existsSync(join(dir, 'retriever.json')); }

/** The bytes a saved retriever takes once loaded (its safetensors file's size; 0 when missing). */
export function retrieverFileBytes(dir: string): number {
  try { return statSync(join(dir, 'retriever.safetensors')).size; } catch { return 0; }
}

/** Reads a retriever saved by `save`; every problem names the file and the field. */
export async function loadRetriever(dir: string, name = 'retriever'): Promise<TrainedRetriever> {
  const metaPath = join(dir, 'retriever.json'), stPath = join(dir, 'retriever.safetensors');
  let meta: RetrieverMeta;
  try { meta = JSON.parse(await readFile(metaPath, 'utf8')) as RetrieverMeta; } catch (e) { throw new Error(`${metaPath}: ${(e as Error).name === 'SyntaxError' ? 'not valid JSON' : 'cannot be read'}`); }
  if (meta.format !== 'modelfab-retriever') throw new Error(`${metaPath}: field "format" must be "modelfab-retriever"`);
  for (const f of ['vocab', 'dims'] as const) if (!Number.isInteger(meta[f]) || meta[f] <= 0) throw new Error(`${metaPath}: field "${f}" must be a positive integer`);
  const st = decodeSafetensors(new Uint8Array(await readFile(stPath)));
  const get = (n: string, size: number) => {
    const t = st.tensors.get(n);
    if (!t) throw new Error(`${stPath}: tensor ${n} is missing`);
    const v = tensorToF32(t, n);
    if (v.length !== size) throw new Error(`${stPath}: tensor ${n} has ${v.length} values, expected ${size}`);
    return v;
  };
  if (meta.userWords !== undefined && !(Array.isArray(meta.userWords) && meta.userWords.every((w) => typeof w === 'string'))) throw new Error(`${metaPath}: field "userWords" must be a list of strings`);
  if (meta.userWords?.length) addUserWords(meta.userWords);
  const { vocab, dims } = meta;
  const params = new Float32Array(vocab * dims + dims * dims);
  params.set(get('retriever.embedding', vocab * dims));
  params.set(get('retriever.projection', dims * dims), vocab * dims);
  return new TrainedRetriever(new DualEncoder({ vocab, dims }, params), get('retriever.idf', vocab), meta, name);
}

/**
 * The training set: every unit a passage; its sentences, its title and the caller's questions for it as questions;
 * BM25's best wrong units as each question's hard negatives. Questions naming an unknown unit are an error.
 */
export function retrieverData(units: readonly RetrieverUnit[], extra: readonly RetrieverQuestion[], embedBag: (text: string) => Bag, lexicon: Lexicon | null, o: Pick<RetrieverOptions, 'hardNegatives' | 'minSentence'>): ContrastiveData & { texts: string[] } {
  const at = new Map(units.map((u, i) => [u.id, i]));
  const lexical = new LexicalIndex(lexicon);
  for (const u of units) lexical.add({ text: u.text, title: u.title });
  lexical.finalize();
  const qs: { text: string; unit: number }[] = [];
  units.forEach((u, i) => {
    for (const s of unitSentences(u.text, o.minSentence)) qs.push({ text: s, unit: i });
    if (u.title.trim()) qs.push({ text: u.title, unit: i });
  });
  extra.forEach((q, n) => {
    const i = at.get(q.unit);
    if (i === undefined) throw new Error(`retriever: question ${n} names unit ${JSON.stringify(q.unit)}, which is not among the units`);
    qs.push({ text: q.text, unit: i });
  });
  const data: ContrastiveData & { texts: string[] } = { questions: [], passages: units.map((u) => embedBag(passageText(u))), positive: [], hard: [], texts: [] };
  for (const q of qs) {
    const bag = embedBag(q.text);
    if (!bag.ids.length) continue;
    data.questions.push(bag);
    data.positive.push(q.unit);
    data.hard.push(lexical.search(q.text, o.hardNegatives + 1).map((h) => h.doc).filter((d) => d !== q.unit).slice(0, o.hardNegatives));
    data.texts.push(q.text);
  }
  return data;
}

/** Trains a retriever for `units` (and the caller's questions about them). `onStep` sees every step's loss. */
export function trainRetriever(units: readonly RetrieverUnit[], extra: readonly RetrieverQuestion[], lexicon: Lexicon | null, opts: Partial<RetrieverOptions> = {}): { retriever: TrainedRetriever; curve: number[]; questions: number } {
  const o = { ...DEFAULT_RETRIEVER, ...opts };
  if (!units.length) throw new Error('retriever: no units to train on');
  // the lexicon's words segment every text from the first (the idf included), whatever this process indexed before
  const userWords = lexicon ? [...lexicon.userWords].sort() : [];
  if (userWords.length) addUserWords(userWords);
  const encoder = DualEncoder.init({ vocab: o.vocab, dims: o.dims }, o.seed);
  const idf = hashedIdf(units.map(passageText), o.vocab);
  const meta: RetrieverMeta = { format: 'modelfab-retriever', vocab: o.vocab, dims: o.dims, units: units.length, questions: 0, seed: o.seed, finalLoss: null, ...(userWords.length ? { userWords } : {}) };
  const retriever = new TrainedRetriever(encoder, idf, meta);
  const data = retrieverData(units, extra, (t) => retriever.bag(t), lexicon, o);
  const curve = o.epochs > 0 ? trainContrastive(encoder, data, o) : [];
  meta.questions = data.questions.length;
  meta.finalLoss = curve.length ? curve.at(-1)! : null;
  return { retriever, curve, questions: data.questions.length };
}

/** The units as one passage each (their parent chunks, in order), for a retriever to embed. */
export function unitPassages(kb: KbIndex): { itemId: string; title: string; text: string }[] {
  const by = new Map<string, Chunk[]>();
  for (const c of kb.parents.size ? kb.parents.values() : kb.children) by.set(c.itemId, [...(by.get(c.itemId) ?? []), c]);
  return [...by].map(([itemId, cs]) => ({ itemId, title: titleOf(cs[0]!), text: cs.map((c) => c.text).join('\n') }));
}

/** The units as a retriever trains on them. */
export function retrieverUnits(kb: KbIndex): RetrieverUnit[] {
  return unitPassages(kb).map((u) => ({ id: u.itemId, title: u.title, text: u.text }));
}

/** A retriever job as a bot or a knowledge base sees it (the factory's job, through `RetrieverJobs`). */
export interface RetrieverJobState {
  id: string;
  /** The factory's job status (queued, running, succeeded, failed, cancelled, ...). */
  status: string;
  /** The embedding model it made, once it succeeded (served at /v1/embeddings). */
  model: string | null;
  error: string | null;
}

/**
 * Where a retriever trains when a factory runs: a factory job (per bot version, or per knowledge base and its units),
 * found again by its metadata, and the model it made as an embedder. api/server.ts wires it (the factory and the
 * gateway); without it, a bot trains its retriever in this process and a knowledge base has none.
 */
export interface RetrieverJobs {
  /** The latest job with this metadata, or null. */
  find(metadata: Record<string, string>): Promise<RetrieverJobState | null>;
  submit(req: { name: string; units: RetrieverUnit[]; questions: RetrieverQuestion[]; validation: RetrieverQuestion[]; lexicon: string | null; dataset: string; metadata: Record<string, string> }): Promise<RetrieverJobState>;
  state(id: string): Promise<RetrieverJobState>;
  /** The served model, as the matcher embeds with it. */
  embedder(model: string): Promise<Embedder>;
}

const JOB_ENDED = new Set(['succeeded', 'failed', 'cancelled']);

/** A retriever job as a status: none yet, training, ready (it succeeded), failed (failed or cancelled). */
export function retrieverJobStatus(job: RetrieverJobState | null): 'not-started' | 'training' | 'ready' | 'failed' {
  return !job ? 'not-started' : job.status === 'succeeded' ? 'ready' : JOB_ENDED.has(job.status) ? 'failed' : 'training';
}

/**
 * What was built without its retriever while the retriever's job trained (a bot's matcher, a knowledge base's
 * index), by key. `ready` asks about the job at most once a second and says when it has just succeeded, so the
 * caller builds it again.
 */
export class RetrieverWaits {
  private readonly waiting = new Map<string, { job: string; at: number }>();

  /** `key` was built while `job` was in this state: waited for while it trains, forgotten once it ended. */
  note(key: string, job: RetrieverJobState): void {
    if (JOB_ENDED.has(job.status)) this.waiting.delete(key);
    else this.waiting.set(key, { job: job.id, at: Date.now() });
  }

  forget(key: string): void {
    this.waiting.delete(key);
  }

  /** True when the job `key` waits for has just succeeded (its end, success or not, ends the wait). */
  async ready(key: string, jobs: RetrieverJobs | undefined): Promise<boolean> {
    const w = this.waiting.get(key);
    if (!w || !jobs || Date.now() - w.at < 1000) return false;
    w.at = Date.now();
    const st = await jobs.state(w.job).catch(() => null);
    if (!st || !JOB_ENDED.has(st.status)) return false;
    this.waiting.delete(key);
    return st.status === 'succeeded';
  }
}
