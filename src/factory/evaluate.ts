/**
 * Benchmarks inside a fine-tuning job: when a job spec names an evaluation, the trainer scores its base model and
 * the model it made on the experiment's suite (src/bench) and writes `bench.json` beside the manifest. Results go
 * through a cache shared by every job of the data folder, so a base model is scored once per suite, not once per
 * fine-tune. The suite is the same for every model of an experiment: reasoning (arithmetic, zh and en), context
 * (needle in a haystack at lengths that fit the models), dialogue (answers to each dataset's held-out questions)
 * and generation (perplexity of the held-out answers), so a leaderboard compares like with like. When the
 * experiment brings fact questions (held-out questions whose answer must state a known value), they are one more
 * dimension, `facts`, scored on whether each answer states the right value (src/bench/fact-match.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  EngineTarget, JsonFileResultCache, factQuestionsTask, heldoutDocs, readFactQuestions, heldoutGenerationTask, heldoutPerplexityTask, makeSuite, needleTask,
  reasoningTask, runBenchmark, type BenchmarkRun, type Suite, type SuiteTask, type TaskConfig,
} from '../bench/bench-exports.ts';
import type { Gemm } from '../engine/gemm/gemm-seam.ts';

export interface EvaluationSpec {
  /** Result cache shared by the jobs of a data folder. */
  cacheDir: string;
  /** The experiment's datasets: held-out records (normalised JSON Lines the server wrote) per dataset. */
  datasets: Array<{ name: string; path: string }>;
  /** Items per task at most. */
  limit: number;
  needleLengths?: number[];
  seed?: number;
  /** Fact questions (JSON Lines of {question, answers}) per set, each asked under its system prompt: the `facts` dimension. */
  factQuestions?: Array<{ name: string; path: string; system?: string }>;
}

export interface JobBench { base: BenchmarkRun | null; model: BenchmarkRun }

function readRecords(path: string): unknown[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/**
 * A dataset of a suite: the held-out file the server wrote (a job spec), or the records themselves (an eval run
 * over a registered dataset, read from the data folder; never a path a client named).
 */
export type SuiteDataset = EvaluationSpec['datasets'][number] | { name: string; records: readonly unknown[] };

/** The experiment's suite (a pure function of the spec, so every job builds the same one). */
export function experimentSuite(e: Omit<EvaluationSpec, 'datasets'> & { datasets: readonly SuiteDataset[] }): Suite {
  const lim = (t: TaskConfig): SuiteTask => ({ task: { ...t, limit: Math.min(t.limit ?? e.limit, e.limit) }, weight: 1 });
  const dialogue: SuiteTask[] = [], generation: SuiteTask[] = [];
  for (const d of e.datasets) {
    const { docs } = heldoutDocs('records' in d ? d.records : readRecords(d.path));
    if (!docs.length) continue;
    dialogue.push(lim(heldoutGenerationTask(`${d.name}_answers`, docs, { maxTokens: 40 })));
    generation.push(lim(heldoutPerplexityTask(`${d.name}_perplexity`, docs)));
  }
  const lengths = e.needleLengths ?? [120, 300];
  const facts = (e.factQuestions ?? []).map((f) => ({ task: factQuestionsTask({ name: f.name, system: f.system, questions: readFactQuestions(f.path) }, { maxTokens: 24 }), weight: 1 }));
  const dims: Record<string, { weight?: number; tasks: SuiteTask[] }> = {
    // What the fine-tune was made to know comes first: it is the column a reader looks at.
    ...(facts.length ? { facts: { tasks: facts } } : {}),
    reasoning: { tasks: [lim(reasoningTask('zh', { seed: e.seed })), lim(reasoningTask('en', { seed: e.seed }))] },
    context: { tasks: [lim(needleTask('zh', { lengths, depths: [0, 0.5, 1] })), lim(needleTask('en', { lengths, depths: [0, 0.5, 1] }))] },
  };
  if (dialogue.length) dims.dialogue = { tasks: dialogue };
  if (generation.length) dims.generation = { tasks: generation };
  return makeSuite('factory', 1, dims);
}

/** Scores the base (when it is an engine folder) and the trained model. */
export async function evaluateJob(e: EvaluationSpec, o: {
  gemm: Gemm; baseDir: string | null; baseName: string; modelDir: string; modelName: string;
}): Promise<JobBench> {
  const suite = experimentSuite(e);
  const cache = new JsonFileResultCache(e.cacheDir);
  const seed = e.seed ?? 0;
  let base: BenchmarkRun | null = null;
  if (o.baseDir) {
    const t = await EngineTarget.load(o.baseDir, { gemm: o.gemm, name: o.baseName });
    base = await runBenchmark(suite, t, { cache, seed, model: { id: o.baseName, name: o.baseName, baseId: null } });
  }
  const t = await EngineTarget.load(o.modelDir, { gemm: o.gemm, name: o.modelName });
  const model = await runBenchmark(suite, t, { cache, seed, model: { id: o.modelName, name: o.modelName, baseId: o.baseDir ? o.baseName : null } });
  return { base, model };
}
