/** Runs the `modelfab` command in a child process (asynchronously: a test may host the server in-process). */
import { spawn } from 'node:child_process';

const bin = new URL('../../bin/modelfab.js', import.meta.url).pathname;

export function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('close', (code) => resolve({ code, out }));
  });
}
