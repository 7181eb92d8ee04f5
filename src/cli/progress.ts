/**
 * Progress output for long work: a bar per training run (cli-progress) on a terminal, and a plain line every few
 * seconds when output is a file or a CI log.
 */
import cliProgress from 'cli-progress';
import type { Reporter } from '../demo/run.ts';
import type { MetricsRecord } from '../engine/metrics.ts';

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${Math.round(s % 60).toString().padStart(2, '0')}s` : `${Math.round(s)}s`;
}

export function terminalReporter(stream: NodeJS.WriteStream = process.stdout): Reporter {
  return {
    line: (text) => stream.write(text + '\n'),
    run(label, total) {
      if (!stream.isTTY) {
        let last = 0;
        return {
          update(m) {
            const now = Date.now();
            if (now - last < 5000 && m.step < total) return;
            last = now;
            const ev = m.eval_loss !== undefined ? ` eval ${Number(m.eval_loss).toFixed(3)}` : '';
            stream.write(`      ${label} step ${m.step}/${total} loss ${m.loss.toFixed(3)}${ev} ${Math.round(m.tokens_per_s)} tok/s eta ${fmtEta(m.eta_s)}\n`);
          },
          done() {},
        };
      }
      const bar = new cliProgress.SingleBar({
        format: `      ${label.padEnd(12)} {bar} {value}/{total} | loss {loss}{ev} | {tps} tok/s | ETA {etaText}`,
        barCompleteChar: '█', barIncompleteChar: '░', hideCursor: true, clearOnComplete: false, stream,
      });
      bar.start(total, 0, { loss: '-', ev: '', tps: '-', etaText: '?' });
      return {
        update(m: MetricsRecord) {
          bar.update(Math.min(m.step, total), {
            loss: m.loss.toFixed(3), tps: Math.round(m.tokens_per_s), etaText: fmtEta(m.eta_s),
            ...(m.eval_loss !== undefined ? { ev: ` (eval ${Number(m.eval_loss).toFixed(3)})` } : {}),
          });
        },
        done: () => bar.stop(),
      };
    },
  };
}

/** A reporter that prints nothing (tests). */
export const silentReporter: Reporter = { line() {}, run: () => ({ update() {}, done() {} }) };
