/**
 * Optional extensions of the Runner seam (types.ts) that the scheduler uses when a runner offers them. A runner
 * that implements only `Runner` still works: it gets no device ids and its orphans are judged by heartbeat alone.
 *
 * Owns: `RunRef` (how a started trainer is found again after a server restart), `PlacingRunner` (a runner that
 * wants the placement, e.g. GPU ids), `AdoptingRunner` (re-attach to a trainer started by an earlier server), and
 * `runOutcome`, the one place where an exit and the files a trainer left are turned into what happened.
 * Guarantees: every value here is plain JSON; `runOutcome` trusts files over exit codes only where the code is
 * unknown (an adopted trainer, whose exit status nobody can wait for) and never calls a run succeeded without
 * its manifest.json.
 *
 * Suggested for types.ts (not changed here): `RunHandle.ref?: string`, `Runner.start(spec, placement?)` and
 * `Runner.adopt?(spec, ref)`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Placement } from './resources.ts';
import type { JobSpec, Resources, RunHandle, Runner } from './job-spec.ts';

/** A RunHandle that can say how to find its trainer again ("local:<pid>", later "slurm:<jobid>", "k8s:<pod>"). */
export interface RefRunHandle extends RunHandle {
  readonly ref?: string;
  /** The machine(s) it runs on once known (a host name, a Slurm NodeList); read by `nodeOf`. */
  readonly node?: string | null;
}

export interface PlacingRunner extends Runner {
  /** `resources`: what the scheduler placed the job with (a cluster runner asks its scheduler for as much). */
  start(spec: JobSpec, placement?: Placement, resources?: Resources): RefRunHandle;
}

export interface AdoptingRunner extends Runner {
  /**
   * Re-attaches to the trainer of `spec` started earlier (by this or an earlier server) if it is verifiably still
   * running; null when it is gone. `ref` is the handle's ref recorded at start (null if the server died before
   * recording it; the runner may then look at the heartbeat file).
   */
  adopt(spec: JobSpec, ref: string | null): RefRunHandle | null;
}

/**
 * A handle on a run the runner can only ask about (a cluster's job): `check` every `pollMs` until it says how the
 * run ended; a check that throws (the cluster busy or restarting) is asked again. Following a run keeps the
 * process alive, as a child would; `dispose()` lets go without touching the run.
 */
export abstract class PolledRunHandle implements RefRunHandle {
  readonly exited: Promise<RunExit>;
  protected done = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly jobId: string, readonly ref: string, pollMs: number) {
    this.exited = new Promise<RunExit>((resolveExit) => {
      let busy = false;
      const tick = async () => {
        if (busy || this.done) return;
        busy = true;
        try {
          const e = await this.check();
          if (e && !this.done) { this.done = true; this.dispose(); resolveExit(e); }
        } catch { /* asked again at the next tick */ } finally {
          busy = false;
        }
      };
      this.timer = setInterval(() => void tick(), pollMs);
      setImmediate(() => void tick()); // once the subclass's fields exist
    });
  }

  /** How the run ended, or undefined while it has not. */
  protected abstract check(): Promise<RunExit | undefined>;
  abstract stop(force?: boolean): void;

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * A runner whose jobs may span several machines (a cluster: Slurm, Kubernetes): at most `machines()` of them per
 * job. A runner without it (this machine, a Ray cluster's one driver) runs every job on one machine.
 */
export interface SpanningRunner extends Runner {
  machines(): number;
}

/** How many machines one job may span on `r` (1 for a runner that is one machine). */
export function machinesOf(r: Runner): number {
  const m = typeof (r as Partial<SpanningRunner>).machines === 'function' ? (r as SpanningRunner).machines() : 1;
  return Number.isFinite(m) && m >= 1 ? Math.floor(m) : 1;
}

/** A handle that can say on which machine(s) the run is, once the runner knows (a Slurm NodeList, a host name). */
export function nodeOf(h: RunHandle): string | null {
  const n = (h as { node?: unknown }).node;
  return typeof n === 'string' && n ? n : null;
}

export function canAdopt(r: Runner): r is AdoptingRunner {
  return typeof (r as Partial<AdoptingRunner>).adopt === 'function';
}

export type RunExit = { code: number | null; signal: string | null };

/**
 * What one run of a trainer ended as:
 *   succeeded  exit 0 (or unknown) with manifest.json present
 *   stopped    exit 3, or a last event "stopped at step N" (checkpoint written, resumable) with any exit but 0
 *              and 2 (torchrun turns a worker's 3 into 1; an adopted trainer's exit is unknown)
 *   invalid    exit 2 (bad spec or data: retrying cannot help)
 *   failed     exit 1 or 0 without a manifest (the trainer reported an error)
 *   lost       killed by a signal, or any other code, or unknown with no word from the trainer: the run died
 */
export type RunOutcome = { kind: 'succeeded' | 'stopped' | 'invalid' | 'failed' | 'lost'; reason: string };

/** The last line of events.jsonl, if any (a partial last line is skipped). */
export function lastEvent(outputDir: string): { level?: string; message?: string } | null {
  let text: string;
  try { text = readFileSync(join(outputDir, 'events.jsonl'), 'utf8'); } catch { return null; }
  const lines = text.split('\n').filter((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    try { return JSON.parse(lines[i]) as { level?: string; message?: string }; } catch { /* partial line */ }
  }
  return null;
}

export function runOutcome(exit: RunExit, outputDir: string): RunOutcome {
  const manifest = existsSync(join(outputDir, 'manifest.json'));
  const last = lastEvent(outputDir);
  const said = last?.message ? `: ${last.message}` : '';
  // The trainer's last event says it stopped cleanly, checkpoint written, however its launcher ended: torchrun
  // reports a worker's exit 3 as its own failure (1), or dies of the SIGTERM it passed on (and adopted trainers
  // leave no exit code at all).
  const stopped = !manifest && last?.level === 'info' && /^stopped at step/.test(last.message ?? '');
  if (stopped && exit.code !== 0 && exit.code !== 2 && exit.code !== 3) return { kind: 'stopped', reason: last!.message! };
  if (exit.signal) return manifest ? { kind: 'succeeded', reason: 'manifest written before the signal' } : { kind: 'lost', reason: `worker killed by ${exit.signal}` };
  switch (exit.code) {
    case 0: return manifest ? { kind: 'succeeded', reason: 'exit 0' } : { kind: 'failed', reason: 'worker exited 0 without writing manifest.json' };
    case 3: return { kind: 'stopped', reason: `stopped with a checkpoint${said}` };
    case 2: return { kind: 'invalid', reason: `invalid job${said || ' spec or data'}` };
    case 1: return { kind: 'failed', reason: `worker failed${said}` };
    case null: {
      // Unknown exit (an adopted trainer): the files say what happened.
      if (manifest) return { kind: 'succeeded', reason: 'manifest.json written' };
      if (last?.level === 'error') return { kind: 'failed', reason: `worker failed${said}` };
      return { kind: 'lost', reason: 'worker gone without a word' };
    }
    default: return manifest ? { kind: 'succeeded', reason: `exit ${exit.code} after manifest` } : { kind: 'lost', reason: `worker exited with code ${exit.code}` };
  }
}
