/**
 * Progress output for long work: on a terminal, one cli-progress bar per running job (several at once) and a
 * status line; when output is a file or a CI log, a plain line per job every few seconds and at its end.
 */
import cliProgress from 'cli-progress';
import type { Reporter } from '../demo/reporter.ts';
import type { MetricsRecord } from '../engine/metrics-log.ts';

export function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${Math.round(s % 60).toString().padStart(2, '0')}s` : `${Math.round(s)}s`;
}

function plainReporter(stream: NodeJS.WriteStream): Reporter {
  let lastStatus = '', lastStatusAt = 0;
  return {
    line: (text) => stream.write(text + '\n'),
    run(label, total) {
      let last = 0, lastM: MetricsRecord | null = null;
      const print = (m: MetricsRecord) => {
        const ev = m.eval_loss !== undefined ? ` eval ${Number(m.eval_loss).toFixed(3)}` : '';
        stream.write(`      ${label}: step ${m.step}/${total} loss ${m.loss.toFixed(3)}${ev} ${Math.round(m.tokens_per_s)} tok/s eta ${fmtEta(m.eta_s)}\n`);
      };
      return {
        update(m) {
          lastM = m;
          const now = Date.now();
          if (now - last < 10_000) return;
          last = now;
          print(m);
        },
        done() { if (lastM) print(lastM); },
      };
    },
    status(text) {
      const now = Date.now();
      if (text === lastStatus || now - lastStatusAt < 15_000) return;
      lastStatus = text; lastStatusAt = now;
      stream.write(`      [${text}]\n`);
    },
  };
}

export function terminalReporter(stream: NodeJS.WriteStream = process.stdout): Reporter {
  if (!stream.isTTY) return plainReporter(stream);
  const multi = new cliProgress.MultiBar({
    format: '      {label} {bar} {value}/{total} | loss {loss}{ev} | {tps} tok/s | ETA {etaText}',
    barCompleteChar: '█', barIncompleteChar: '░', hideCursor: true, clearOnComplete: false, stopOnComplete: false, stream, barsize: 24,
  });
  let statusBar: cliProgress.SingleBar | null = null;
  return {
    line: (text) => multi.log(text + '\n'),
    run(label, total) {
      const bar = multi.create(total, 0, { label: label.slice(0, 36).padEnd(36), loss: '-', ev: '', tps: '-', etaText: '?' });
      return {
        update(m) {
          bar.update(Math.min(m.step, total), {
            loss: m.loss.toFixed(3), tps: Math.round(m.tokens_per_s), etaText: fmtEta(m.eta_s),
            ...(m.eval_loss !== undefined ? { ev: ` (eval ${Number(m.eval_loss).toFixed(3)})` } : {}),
          });
        },
        done: () => { bar.update(total); bar.stop(); multi.remove(bar); },
      };
    },
    status(text) {
      if (!statusBar) statusBar = multi.create(1, 0, {}, { format: '      {text}' });
      statusBar.update(0, { text });
    },
  };
}

/** A reporter that prints nothing (tests). */
export const silentReporter: Reporter = { line() {}, run: () => ({ update() {}, done() {} }) };
