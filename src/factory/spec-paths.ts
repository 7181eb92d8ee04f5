/**
 * The file paths of a job spec, for storing it relative to its data folder and resolving it again (src/store/paths.ts).
 * Every path field of `JobSpec` is listed here, so a new one cannot be missed by one side only: the output folder,
 * the base model (folder, file or tokenizer), the data files and the benchmark's cache and held-out files.
 */
import type { JobSpec } from './job-spec.ts';

/**
 * A copy of `spec` with every path passed through `f`; other fields (`meta` included) as they are. Tolerates a
 * spec missing parts (the trainer, not this, says what is wrong with it).
 */
export function mapSpecPaths<S extends JobSpec>(spec: S, f: (p: string) => string): S {
  const g = (p: unknown) => (typeof p === 'string' ? f(p) : p) as string;
  const out: S = { ...spec, outputDir: g(spec.outputDir) };
  const b = spec.base as JobSpec['base'] | undefined;
  if (b && b.kind === 'scratch') {
    if (b.tokenizer && 'path' in b.tokenizer) out.base = { ...b, tokenizer: { ...b.tokenizer, path: g(b.tokenizer.path) } };
  } else if (b && 'path' in b) {
    out.base = { ...b, path: g(b.path) };
  }
  if (spec.data) {
    out.data = { ...spec.data };
    if (spec.data.train) out.data.train = { ...spec.data.train, path: g(spec.data.train.path) };
    if (spec.data.validation) out.data.validation = { ...spec.data.validation, path: g(spec.data.validation.path) };
  }
  const e = spec.evaluation;
  if (e) {
    out.evaluation = {
      ...e, cacheDir: g(e.cacheDir), datasets: Array.isArray(e.datasets) ? e.datasets.map((d) => ({ ...d, path: g(d.path) })) : e.datasets,
      ...(Array.isArray(e.factQuestions) ? { factQuestions: e.factQuestions.map((f) => ({ ...f, path: g(f.path) })) } : {}),
    };
  }
  return out;
}
