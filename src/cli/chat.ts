/**
 * `modelfab chat MODEL`: a terminal chat with any model the gateway serves (a deployment, route or fine-tune
 * name), over its OpenAI-compatible API with streaming. Keeps the conversation; /reset starts over, /exit or
 * Ctrl-D leaves. Reads the key from --key or MODELFAB_API_KEY. `--copilot`: the Copilot driven by that model
 * (/v1/copilot/chat/completions), with the sources it cites and the steps it took after each answer.
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';

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
  program
    .command('chat <model>')
    .description('chat with a served model in the terminal (streaming)')
    .option('--url <url>', 'the server', 'http://127.0.0.1:8080')
    .option('--key <key>', 'API key (default MODELFAB_API_KEY)')
    .option('--system <text>', 'a system prompt')
    .option('--preset <name>', 'conservative, balanced or creative')
    .option('--max-tokens <n>', 'per answer', '512')
    .option('--copilot', 'talk to the Copilot driven by this model: knowledge bases, bots and other models, cited sources')
    .action(async (model: string, o: { url: string; key?: string; system?: string; preset?: string; maxTokens: string; copilot?: boolean }) => {
      const key = o.key ?? process.env.MODELFAB_API_KEY;
      if (!key) throw new Error('no API key: pass --key or set MODELFAB_API_KEY');
      const base = o.url.replace(/\/+$/, '').replace(/\/v1$/, '');
      const messages: Array<{ role: string; content: string }> = o.system ? [{ role: 'system', content: o.system }] : [];
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
      process.stdout.write(`chatting with ${o.copilot ? `the Copilot driven by ${model}` : model} at ${base} (/reset, /exit)\n`);
      try {
        for (;;) {
          let line: string;
          try { line = await rl.question('> '); } catch { break; }
          if (line.trim() === '/exit') break;
          if (line.trim() === '/reset') { messages.splice(o.system ? 1 : 0); continue; }
          if (!line.trim()) continue;
          messages.push({ role: 'user', content: line });
          const res = await fetch(`${base}/v1/${o.copilot ? 'copilot/' : ''}chat/completions`, {
            method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model, messages, stream: true, max_tokens: Number(o.maxTokens), preset: o.preset }),
          });
          if (!res.ok) {
            const j = await res.json().catch(() => null) as { error?: { message?: string } } | null;
            process.stdout.write(`error ${res.status}: ${j?.error?.message ?? res.statusText}\n`);
            messages.pop();
            continue;
          }
          let answer = '';
          let info: { steps: Array<{ tool: string; arguments: unknown; ok: boolean; result: string }>; sources: Array<{ ref: number; label: string; from: string }> } | null = null;
          for await (const c of sse(res)) {
            if (c.error) { process.stdout.write(`\nerror: ${c.error.message}`); break; }
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
