/** Runs the `modelfab` command in a child process (asynchronously: a test may host the server in-process). */
import { spawn } from 'node:child_process';

export const bin = new URL('../../bin/modelfab.js', import.meta.url).pathname;

/** The CLI's output (stdout and stderr together) and exit code; `input` is written to its stdin, `cwd` is where it runs. */
export function cli(args: string[], env: Record<string, string>, o: { input?: string; cwd?: string } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, cwd: o.cwd, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => { out += d; });
    p.stderr!.on('data', (d) => { out += d; });
    if (o.input !== undefined) p.stdin!.end(o.input);
    p.on('close', (code) => resolve({ code, out }));
  });
}
