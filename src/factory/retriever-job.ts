/**
 * The retriever stage as an ordinary factory job: a dual encoder for retrieval (engine/dual-encoder.ts) trained on a
 * knowledge base's units and questions about them (knowledge/retriever.ts), with the files every trainer writes.
 *
 * Owns:
 *   - the data file, JSON Lines: `{"id", "title", "text"}` is a unit (a passage to retrieve), `{"unit", "question"}`
 *     a question that unit answers, and at most one `{"lexicon"}` line: the domain lexicon's text, which the hard
 *     negatives are searched with (`retrieverDataJsonl` writes it, `readRetrieverData` reads it: every problem names
 *     the file, the line and the field); a validation file holds question lines only, about the training file's units;
 *   - the planned steps and the memory a job needs (`retrieverPlan`), for the scheduler's reservation;
 *   - the trainer's side (`runRetrieverJob`, run by engine-worker.ts for `stage: 'retriever'`): one metrics.jsonl line
 *     a step (the loss curve), the model folder (`model/retriever.safetensors` + `retriever.json`), its benchmark
 *     (top-1 and top-3 of the retriever alone on the validation questions, before and after training: bench.json and
 *     the manifest's `bench`), manifest.json last. A stop before the end writes nothing to resume from: the run is
 *     deterministic for its seed and takes minutes, so a restarted job trains again from the start.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetricsLog } from '../engine/metrics-log.ts';
import { dot } from '../knowledge/embed.ts';
import { DEFAULT_RETRIEVER, passageText, trainRetriever, unitSentences, type RetrieverOptions, type RetrieverQuestion, type RetrieverUnit, type TrainedRetriever } from '../knowledge/retriever.ts';
import { Lexicon } from '../knowledge/text/lexicon.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import type { JobSpec } from './job-spec.ts';
import type { Manifest, WorkerOutcome } from './engine-worker.ts';

/** A problem in a retriever data file (the worker exits 2: invalid data). */
export class RetrieverDataError extends Error {}

/** The data file's lines: the units first, then the questions. */
export function retrieverDataJsonl(units: readonly RetrieverUnit[], questions: readonly RetrieverQuestion[], lexicon: string | null = null): string {
  const lines = [...(lexicon?.trim() ? [JSON.stringify({ lexicon })] : []), ...units.map((u) => JSON.stringify({ id: u.id, title: u.title, text: u.text })), ...questions.map((q) => JSON.stringify({ unit: q.unit, question: q.text }))];
  return lines.join('\n') + '\n';
}

/**
 * Reads a retriever data file: units and questions. `knownUnits` (a validation file) names the units its questions
 * may point at; otherwise they are the file's own. A unit id twice, a question about an unknown unit, a line that is
 * neither shape, a field of the wrong type: an error naming the file, the line and the field.
 */
export function readRetrieverData(path: string, knownUnits?: ReadonlySet<string>): { units: RetrieverUnit[]; questions: RetrieverQuestion[]; lexicon: string | null } {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { throw new RetrieverDataError(`${path}: cannot be read`); }
  const units: RetrieverUnit[] = [], questions: RetrieverQuestion[] = [], qLines: number[] = [];
  const ids = new Set<string>();
  let lexicon: string | null = null;
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const at = `${path}:${i + 1}`;
    let row: unknown;
    try { row = JSON.parse(line); } catch { throw new RetrieverDataError(`${at}: invalid JSON`); }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new RetrieverDataError(`${at}: a line must be a JSON object`);
    const r = row as Record<string, unknown>;
    const str = (k: string, nonEmpty: boolean) => {
      const v = r[k];
      if (typeof v !== 'string' || (nonEmpty && !v.trim())) throw new RetrieverDataError(`${at}: field "${k}" must be a${nonEmpty ? ' non-empty' : ''} string`);
      return v;
    };
    if ('lexicon' in r) {
      if (lexicon !== null || knownUnits !== undefined) throw new RetrieverDataError(`${at}: field "lexicon": ${lexicon !== null ? 'a second lexicon line' : 'a validation file holds questions only'}`);
      lexicon = str('lexicon', false);
    } else if ('question' in r) {
      if (knownUnits === undefined && units.length === 0) throw new RetrieverDataError(`${at}: a question before any unit (units come first)`);
      questions.push({ unit: str('unit', true), text: str('question', true) });
      qLines.push(i + 1);
    } else if ('text' in r || 'id' in r) {
      if (knownUnits !== undefined) throw new RetrieverDataError(`${at}: a validation file holds questions only ({"unit", "question"})`);
      const id = str('id', true);
      if (ids.has(id)) throw new RetrieverDataError(`${at}: field "id": unit ${JSON.stringify(id)} appears twice`);
      ids.add(id);
      units.push({ id, title: r.title === undefined ? '' : str('title', false), text: str('text', true) });
    } else {
      throw new RetrieverDataError(`${at}: a line is a unit {"id", "title", "text"} or a question {"unit", "question"}`);
    }
  });
  const known = knownUnits ?? ids;
  questions.forEach((q, n) => {
    if (!known.has(q.unit)) throw new RetrieverDataError(`${path}:${qLines[n]}: field "unit": ${JSON.stringify(q.unit)} names no unit of the training file`);
  });
  if (knownUnits === undefined && !units.length) throw new RetrieverDataError(`${path}: no units`);
  return { units, questions, lexicon };
}

/** The retriever options a spec asks for, over the defaults. */
export function retrieverOptions(spec: Pick<JobSpec, 'base' | 'hyperparameters' | 'seed'>): RetrieverOptions {
  const h = spec.hyperparameters, r = h.retriever ?? {};
  const size = spec.base.kind === 'dual-encoder' ? { vocab: spec.base.vocab, dims: spec.base.dims } : {};
  return {
    ...DEFAULT_RETRIEVER, ...size, seed: spec.seed, lr: h.lr, batch: h.batchSize,
    ...(h.epochs !== undefined ? { epochs: h.epochs } : {}), ...(h.warmupSteps !== undefined ? { warmupSteps: h.warmupSteps } : {}),
    ...(h.weightDecay !== undefined ? { weightDecay: h.weightDecay } : {}),
    ...(r.tau !== undefined ? { tau: r.tau } : {}), ...(r.hardNegatives !== undefined ? { hardNegatives: r.hardNegatives } : {}),
    ...(r.hardPerQuestion !== undefined ? { hardPerQuestion: r.hardPerQuestion } : {}), ...(r.minSentence !== undefined ? { minSentence: r.minSentence } : {}),
  };
}

/**
 * The training questions a job will have (each unit's sentences and title, and the given questions; a question with
 * no indexable word is dropped by the trainer, so this is an upper bound), its steps, and the memory it holds:
 * the parameters, their gradients and AdamW's two moments, plus the data.
 */
export function retrieverPlan(units: readonly RetrieverUnit[], questions: readonly RetrieverQuestion[], o: Pick<RetrieverOptions, 'vocab' | 'dims' | 'batch' | 'epochs' | 'minSentence'>): { questions: number; steps: number; memoryMB: number; params: number } {
  let n = questions.length;
  for (const u of units) n += unitSentences(u.text, o.minSentence).length + (u.title.trim() ? 1 : 0);
  const params = o.vocab * o.dims + o.dims * o.dims;
  const bytes = units.reduce((s, u) => s + u.text.length + u.title.length, 0) * 16;
  return { questions: n, steps: Math.ceil(n / o.batch) * o.epochs, params, memoryMB: Math.ceil((params * 4 * 4 + bytes) / 2 ** 20) + 200 };
}

/** Top-1 and top-3 of the retriever alone: each question's unit among every unit, by cosine. */
export function retrieverRecall(r: TrainedRetriever, units: readonly RetrieverUnit[], questions: readonly RetrieverQuestion[]): { top1: number; top3: number } {
  if (!questions.length) return { top1: 0, top3: 0 };
  const d = r.dims, vs = new Float32Array(units.length * d);
  units.forEach((u, i) => vs.set(r.embedOne(passageText(u)), i * d));
  let t1 = 0, t3 = 0;
  for (const q of questions) {
    const v = r.embedOne(q.text);
    const ranked = units.map((u, i) => ({ id: u.id, s: dot(v, vs, i * d) })).sort((a, b) => b.s - a.s);
    const at = ranked.findIndex((x) => x.id === q.unit);
    if (at === 0) t1++;
    if (at >= 0 && at < 3) t3++;
  }
  return { top1: +(t1 / questions.length).toFixed(4), top3: +(t3 / questions.length).toFixed(4) };
}

/** A job's trainer for the retriever stage (engine-worker.ts runJob calls it). */
export async function runRetrieverJob(spec: JobSpec, opts: { signal?: AbortSignal; event: (level: 'info' | 'warn' | 'error', message: string, data?: unknown) => void; onStep: (step: number) => void }): Promise<WorkerOutcome> {
  const out = spec.outputDir;
  mkdirSync(out, { recursive: true });
  const { units, questions, lexicon: lexText } = readRetrieverData(spec.data.train.path);
  let lexicon: Lexicon | null;
  try { lexicon = lexText ? Lexicon.parse(lexText) : null; } catch (e) { throw new RetrieverDataError(`${spec.data.train.path}: field "lexicon": ${(e as Error).message}`); }
  const validation = spec.data.validation ? readRetrieverData(spec.data.validation.path, new Set(units.map((u) => u.id))).questions : [];
  const o = retrieverOptions(spec);
  // nothing to resume from: a run that was stopped starts again, so its curve is written afresh
  rmSync(join(out, 'metrics.jsonl'), { force: true });
  const log = new MetricsLog(join(out, 'metrics.jsonl'));
  const t0 = performance.now();
  const perEpoch = (total: number) => Math.max(1, Math.ceil(total / Math.max(1, o.epochs)));
  class Stopped extends Error {}
  let result: ReturnType<typeof trainRetriever>;
  try {
    result = trainRetriever(units, questions, lexicon, {
      ...o,
      onStep: (step, total, loss, lr) => {
        const elapsed = (performance.now() - t0) / 1000;
        log.log({
          step, epoch: Math.ceil(step / perEpoch(total)), loss, lr, grad_norm: NaN, tokens_per_s: 0, elapsed_s: +elapsed.toFixed(3),
          eta_s: +((elapsed / step) * (total - step)).toFixed(1), total_steps: total, questions_per_s: +((step * o.batch) / Math.max(elapsed, 1e-6)).toFixed(1),
        });
        opts.onStep(step);
        if (opts.signal?.aborted) throw new Stopped();
      },
    });
  } catch (e) {
    if (e instanceof Stopped) { opts.event('info', 'stopped; the retriever trains again from the start when resumed'); return 'stopped'; }
    if (e instanceof Error && /^retriever: |^dual encoder: /.test(e.message)) throw new RetrieverDataError(`${spec.data.train.path}: ${e.message.replace(/^retriever: |^dual encoder: /, '')}`);
    throw e;
  } finally {
    log.close();
  }
  const elapsed = (performance.now() - t0) / 1000;
  const modelDir = join(out, 'model');
  rmSync(modelDir, { recursive: true, force: true });
  await result.retriever.save(modelDir);
  // the benchmark: the retriever alone on the validation questions, untrained (the seed's encoder) and trained
  let bench: Manifest['bench'] | undefined;
  let evalMetrics: Record<string, number> | undefined;
  if (validation.length) {
    const before = trainRetriever(units, [], lexicon, { ...o, epochs: 0 }).retriever;
    const b = retrieverRecall(before, units, validation), a = retrieverRecall(result.retriever, units, validation);
    evalMetrics = { top1: a.top1, top3: a.top3, top1_before: b.top1, top3_before: b.top3, questions: validation.length };
    bench = { overall: a.top1, base_overall: b.top1, dimensions: { top1: a.top1, top3: a.top3 } };
    writeFileAtomic(join(out, 'bench.json'), JSON.stringify({ kind: 'retriever', questions: validation.length, before: b, after: a }));
  }
  const manifest: Manifest = {
    status: 'succeeded', job_id: spec.id, model_dir: modelDir, model_kind: 'retriever', steps: result.curve.length,
    train_loss: result.curve.at(-1) ?? NaN, eval_loss_before: null, eval_loss: null, tokens_per_s: 0, elapsed_s: +elapsed.toFixed(3),
    trainable_params: result.retriever.encoder.params.length, total_params: result.retriever.encoder.params.length,
    ...(evalMetrics ? { eval_metrics: evalMetrics } : {}), ...(bench ? { bench } : {}),
  };
  writeFileAtomic(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2));
  opts.event('info', 'succeeded', { steps: manifest.steps, train_loss: manifest.train_loss, questions: result.questions, ...(evalMetrics ?? {}) });
  return 'succeeded';
}

/** Writes a job's data files (units and questions; validation questions when given) into `dir`. */
export function writeRetrieverData(dir: string, units: readonly RetrieverUnit[], questions: readonly RetrieverQuestion[], validation: readonly RetrieverQuestion[], lexicon: string | null): { train: string; validation: string | null } {
  mkdirSync(dir, { recursive: true });
  const train = join(dir, 'train.jsonl');
  writeFileSync(train, retrieverDataJsonl(units, questions, lexicon));
  if (!validation.length) return { train, validation: null };
  const val = join(dir, 'validation.jsonl');
  writeFileSync(val, retrieverDataJsonl([], validation));
  return { train, validation: val };
}
