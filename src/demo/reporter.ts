/** How long-running demo and factory work reports progress: plain lines, one bar per run of steps, a status line. */
import type { MetricsRecord } from '../engine/metrics-log.ts';

export interface Reporter {
  line(text: string): void;
  /** A run of `total` steps; `update` is called after each step with its metrics. */
  run(label: string, total: number): { update(m: MetricsRecord): void; done(): void };
  /** The overall state (jobs done, running, queued), refreshed often; shown in place on a terminal. */
  status?(text: string): void;
}
