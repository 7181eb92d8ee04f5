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
import { OpenAIClient, UpstreamError, redactUrl } from '../openai/openai-client.ts';
import type { ChatCompletionChunk, Received } from '../openai/wire-types.ts';
import type { CopilotSource, CopilotStep } from '../copilot/copilot.ts';

/** A streamed chunk; the Copilot's last one adds what it did and cited (absent on a model's own chat). */
type CopilotChunk = Received<ChatCompletionChunk> & { copilot?: { model: string; steps: CopilotStep[]; sources: CopilotSource[] } };

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
      // the server's OpenAI API is under /v1 of its URL; a chat turn is never retried (the user asks again)
      const api = new OpenAIClient({ baseURL: `${base}/v1`, apiKey: client.key, maxRetries: 0, name: redactUrl(base) });
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
          let answer = '';
          let info: CopilotChunk['copilot'] | null = null;
          try {
            for await (const c of api.stream<CopilotChunk>(o.copilot ? '/copilot/chat/completions' : '/chat/completions', { model, messages, stream: true, max_tokens: maxTokens, preset: o.preset })) {
              const t = c.choices?.[0]?.delta?.content ?? '';
              answer += t;
              process.stdout.write(t);
              if (c.copilot) info = c.copilot;
            }
          } catch (e) {
            if (!(e instanceof UpstreamError)) throw e;
            if (e.failure === 'network') throw new ApiClientError(0, `cannot reach ${base} (${e.errno ?? e.message})`);
            if (e.failure === 'http') {
              const msg = `${e.upstreamStatus}: ${e.message}`;
              messages.pop();
              // nothing to retry after a bad key, a forbidden or unknown model; without a terminal, no one to retry
              if (!interactive || [401, 403, 404].includes(e.status)) throw new ApiClientError(e.status, msg);
              process.stderr.write(`error ${msg}\n`);
              process.exitCode = 1;
              continue;
            }
            // an error after the answer began (an error event, a broken stream): what came so far is kept
            process.stdout.write('\n');
            if (!interactive) throw new Error(`error: ${e.message}`);
            process.stderr.write(`error: ${e.message}`);
            process.exitCode = 1;
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
