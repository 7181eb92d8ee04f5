/**
 * Loading an untrusted GGUF in a child process first: llama.cpp aborts the whole process on some malformed files
 * (the validator in model-files/gguf-model.ts catches the known ones; this catches the rest). `probeGguf` runs
 * probe-child.ts under the same tsx loader, with a timeout, and turns a crash, an error or a hang into a
 * ModelFileError('BAD_FILE') naming the exit code or signal and the tail of llama.cpp's stderr.
 * Costs a process start and a model load (about a second for small models); use it for files from outside.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { ModelFileError } from '../../model-files/llama-layout.ts';

const CHILD = fileURLToPath(new URL('./probe-child.ts', import.meta.url));

export interface ProbeResult { ok: true; trainContextSize?: number }

export async function probeGguf(modelPath: string, adapters: readonly string[] = [], timeoutMs = 60_000): Promise<ProbeResult> {
  const tsx = import.meta.resolve('tsx');
  return new Promise((resolve, reject) => {
    // run in the temp folder, so that a crash dump (where the system writes one) does not land in the project
    const child = spawn(process.execPath, ['--import', tsx, CHILD, resolvePath(modelPath), ...adapters.map((a) => resolvePath(a))], {
      cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
    });
    let out = '', err = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { err = (err + b).slice(-4000); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(new ModelFileError('BAD_FILE', `could not start the probe: ${e.message}`, { cause: e })); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      let msg: { ok?: boolean; error?: string; trainContextSize?: number } = {};
      try { msg = JSON.parse(line); } catch { /* crashed before printing */ }
      if (code === 0 && msg.ok) return resolve({ ok: true, trainContextSize: msg.trainContextSize });
      const how = signal ? `was killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${timeoutMs} ms?)` : ''}` : `exited with code ${code}`;
      const tail = err.trim().split('\n').slice(-3).join(' | ');
      reject(new ModelFileError('BAD_FILE', `llama.cpp could not load ${modelPath}${adapters.length ? ` with ${adapters.join(', ')}` : ''}: the probe process ${how}${msg.error ? `: ${msg.error}` : ''}${tail ? ` [stderr: ${tail}]` : ''}`));
    });
  });
}
