/**
 * A target whose answers are functions: for tests, baselines and sanity checks of tasks (a model that always
 * answers "A", an oracle that knows the gold, random log-likelihoods). No model behind it.
 * Guarantees: deterministic for a seed; `calls` counts requests (to test caching).
 */
import { Rng } from '../../engine/rng.ts';
import type { GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult, RollingResult, Target } from '../bench-types.ts';
import { NotSupportedError } from '../bench-types.ts';

export interface ScriptedTargetOptions {
  id: string;
  name?: string;
  loglikelihood?: (r: LoglikelihoodRequest, index: number) => number;
  rolling?: (text: string) => RollingResult;
  generate?: (r: GenerateRequest, index: number) => string;
}

export class ScriptedTarget implements Target {
  readonly kind = 'scripted' as const;
  readonly id: string;
  readonly name: string;
  readonly supports: { loglikelihood: boolean; generate: boolean };
  calls = 0;

  constructor(private readonly o: ScriptedTargetOptions) {
    this.id = o.id;
    this.name = o.name ?? o.id;
    this.supports = { loglikelihood: !!o.loglikelihood, generate: !!o.generate };
  }

  async loglikelihood(requests: readonly LoglikelihoodRequest[]): Promise<LoglikelihoodResult[]> {
    const f = this.o.loglikelihood;
    if (!f) throw new NotSupportedError(`${this.name}: no log-likelihoods`);
    this.calls += requests.length;
    return requests.map((r, i) => ({ logProb: f(r, i), isGreedy: false, tokens: 1 }));
  }

  async loglikelihoodRolling(texts: readonly string[]): Promise<RollingResult[]> {
    const f = this.o.rolling;
    if (!f) throw new NotSupportedError(`${this.name}: no rolling log-likelihoods`);
    this.calls += texts.length;
    return texts.map(f);
  }

  async generate(requests: readonly GenerateRequest[]): Promise<GenerateResult[]> {
    const f = this.o.generate;
    if (!f) throw new NotSupportedError(`${this.name}: no generation`);
    this.calls += requests.length;
    return requests.map((r, i) => ({ text: f(r, i), tokens: 0 }));
  }

  async close(): Promise<void> {}
}

/** Always prefers the continuation that is `letter` (after trimming): the "always A" baseline. */
export function alwaysLetterTarget(letter = 'A'): ScriptedTarget {
  return new ScriptedTarget({ id: `scripted:always-${letter}`, loglikelihood: (r) => (r.continuation.trim() === letter ? 0 : -10), generate: () => letter });
}

/** Random log-likelihoods, seeded: picks uniformly among the choices. */
export function randomTarget(seed = 0): ScriptedTarget {
  const rng = new Rng(seed);
  return new ScriptedTarget({ id: `scripted:random-${seed}`, loglikelihood: () => -rng.uniform() * 10, rolling: (t) => ({ logProb: -t.length, tokens: t.length }) });
}
