/**
 * `modelfab chat MODEL`: a terminal chat with any model the gateway serves (a deployment, route or fine-tune
 * name), over its OpenAI-compatible API with streaming. Keeps the conversation; /reset starts over, /exit or
 * Ctrl-D leaves. The server and key as on every server command (--url / MODELFAB_URL, --api-key / MODELFAB_API_KEY).
 * `--copilot`: the Copilot driven by that model (/v1/copilot/chat/completions), with the sources it cites and the
 * steps it took after each answer. An error answer ends the chat with a non-zero exit status (a 401, 403 or 404 at
 * once; another error after the conversation so far is kept, when the terminal is interactive).
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { ApiClient, ApiClientError, clientOptions, withClient } from './client.ts';

async function* sse(res: Response): AsyncGenerator<Record<string, any>> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let k: number;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k).trim();
      buf = buf.slice(k + 2);
      if (!ev.startsWith('data:')) continue;
      const data = ev.slice(5).trim();
      if (data === '[DONE]') return;
      yield JSON.parse(data);
    }
  }
}

export function registerChat(program: Command): void {
  withClient(program
    .command('chat <model>')
    .description('chat with a model the server serves, in the terminal (streaming); lines from a pipe are asked one by one'))
    .option('--system <text>', 'a system prompt')
    .option('--preset <name>', 'conservative, balanced or creative')
    .option('--max-tokens <n>', 'per answer', '512')
    .option('--copilot', 'talk to the Copilot driven by this model: knowledge bases, bots and other models, cited sources')
    .action(async (model: string, o: { url?: string; apiKey?: string; system?: string; preset?: string; maxTokens: string; copilot?: boolean }) => {
      const maxTokens = Number(o.maxTokens);
      if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Error(`--max-tokens must be a positive whole number, got ${o.maxTokens}`);
      const client = new ApiClient(clientOptions(o));
      const base = client.url;
      const interactive = !!process.stdin.isTTY;
      const messages: Array<{ role: string; content: string }> = o.system ? [{ role: 'system', content: o.system }] : [];
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
      process.stdout.write(`chatting with ${o.copilot ? `the Copilot driven by ${model}` : model} at ${base} (/reset, /exit)\n`);
      // from a pipe, every line is a question (the iterator buffers them; rl.question would drop lines read ahead)
      const piped = interactive ? null : rl[Symbol.asyncIterator]();
      const ask = async (): Promise<string | null> => {
        if (!piped) return rl.question('> ').catch(() => null);
        const r = await piped.next();
        return r.done ? null : r.value;
      };
      try {
        for (;;) {
          const line = await ask();
          if (line === null) break;
          if (line.trim() === '/exit') break;
          if (line.trim() === '/reset') { messages.splice(o.system ? 1 : 0); continue; }
          if (!line.trim()) continue;
          messages.push({ role: 'user', content: line });
          let res: Response;
          try {
            res = await fetch(`${base}/v1/${o.copilot ? 'copilot/' : ''}chat/completions`, {
              method: 'POST', headers: { authorization: `Bearer ${client.key}`, 'content-type': 'application/json' },
              body: JSON.stringify({ model, messages, stream: true, max_tokens: maxTokens, preset: o.preset }),
            });
          } catch (e) {
            throw new ApiClientError(0, `cannot reach ${base} (${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message})`);
          }
          if (!res.ok) {
            const j = await res.json().catch(() => null) as { error?: { message?: string } } | null;
            const msg = `${res.status}: ${j?.error?.message ?? res.statusText}`;
            messages.pop();
            // nothing to retry after a bad key, a forbidden or unknown model; without a terminal, no one to retry
            if (!interactive || [401, 403, 404].includes(res.status)) throw new ApiClientError(res.status, msg);
            process.stderr.write(`error ${msg}\n`);
            process.exitCode = 1;
            continue;
          }
          let answer = '';
          let info: { steps: Array<{ tool: string; arguments: unknown; ok: boolean; result: string }>; sources: Array<{ ref: number; label: string; from: string }> } | null = null;
          for await (const c of sse(res)) {
            if (c.error) {
              process.stdout.write('\n');
              if (!interactive) throw new Error(`error: ${c.error.message}`);
              process.stderr.write(`error: ${c.error.message}`);
              process.exitCode = 1;
              break;
            }
            const t = c.choices?.[0]?.delta?.content ?? '';
            answer += t;
            process.stdout.write(t);
            if (c.copilot) info = c.copilot;
          }
          process.stdout.write('\n');
          for (const s of info?.steps ?? []) process.stdout.write(`  · ${s.tool} ${JSON.stringify(s.arguments)}${s.ok ? '' : ` (${s.result})`}\n`);
          for (const s of info?.sources ?? []) process.stdout.write(`  [${s.ref}] ${s.label} (${s.from})\n`);
          info = null;
          messages.push({ role: 'assistant', content: answer });
        }
      } finally {
        rl.close();
      }
    });
}
