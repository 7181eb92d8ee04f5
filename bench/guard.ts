/**
 * `npm run bench:guard`: the latency the guard's rule checks (keywords, regex, topics, PII) add per request, on a
 * realistic policy (200 keywords in Chinese and English, 6 regexes, 4 topics, all four PII detectors) over mixed
 * Chinese/English requests and answers of 40-600 characters; then the same policy on a served deployment: chat
 * requests through the whole server (HTTP, keys, gateway, request log) to an instant upstream model, guarded vs the
 * same deployment unguarded (the reference, interleaved in the same run). Prints tables and ends with one JSON line.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parsePolicy, runGuard } from '../src/control/guard.ts';
import { createServer } from '../src/api/server.ts';

const zhWords = ['赌博', '博彩', '代开发票', '洗钱', '枪支', '毒品', '翻墙', '刷单', '套现', '传销'];
const enWords = ['casino', 'gambling', 'money laundering', 'counterfeit', 'ak47', 'cocaine', 'phishing', 'ponzi', 'carding', 'skimmer'];
const words = [...zhWords, ...enWords];
for (let i = 0; words.length < 200; i++) words.push(`违禁词${i}`, `banned-term-${i}`);
const policyJson = {
  checks: [
    { name: 'banned', kind: 'keywords', words, action: 'refuse' },
    { name: 'secrets', kind: 'regex', action: 'rewrite', patterns: ['sk-[A-Za-z0-9]{16,}', 'AKIA[0-9A-Z]{16}', '内部(编号|代号)[:：]\\s*\\w+', 'password\\s*[:=]\\s*\\S+', '\\b\\d{3}-\\d{2}-\\d{4}\\b', '机密|绝密'] },
    { name: 'topics', kind: 'topics', action: 'warn', topics: [
      { name: 'competitors', keywords: ['极智机器人', 'RivalBot', 'OtherCo'] }, { name: 'salary', keywords: ['工资', '薪水', 'salary', 'bonus'], min_hits: 2 },
      { name: 'politics', keywords: ['选举', 'election', '政党'] }, { name: 'medical', keywords: ['诊断', '处方', 'diagnosis', 'prescription'] },
    ] },
    { name: 'pii', kind: 'pii', action: 'rewrite' },
  ],
};
const policy = parsePolicy(policyJson);

const pieces = ['您好，我想咨询一下退货政策。', '我的手机号是13812345678，请回电。', 'How long is the warranty on the R2 arm?', '签收后七日内，产品未经使用且包装完好，可申请无理由退货。',
  'Please send the invoice to li.ming@example.com.', '机器人的最大负载是五公斤，重复定位精度为0.02毫米。', 'The firmware update fixes the calibration drift reported last month.', '我的银行卡号 6222021234567890128 能退款吗？'];
const texts: string[] = [];
for (let i = 0; i < 400; i++) {
  let t = '';
  const target = 40 + ((i * 97) % 560);
  for (let j = i; t.length < target; j++) t += pieces[j % pieces.length];
  texts.push(t);
}

const lat: number[] = [];
const perCheck = new Map<string, number>();
for (let round = 0; round < 5; round++) {
  for (const t of texts) {
    const t0 = performance.now();
    const a = await runGuard(policy, { stage: 'input', text: t });
    const b = await runGuard(policy, { stage: 'output', text: t });
    lat.push(performance.now() - t0);
    if (round > 0) for (const v of [...a.verdicts, ...b.verdicts]) perCheck.set(v.check, (perCheck.get(v.check) ?? 0) + v.latency_ms);
  }
}
const warm = lat.slice(texts.length).sort((a, b) => a - b);
const q = (p: number) => warm[Math.min(warm.length - 1, Math.floor(p * warm.length))];
const p50 = Math.round(q(0.5) * 1000) / 1000, p95 = Math.round(q(0.95) * 1000) / 1000, p99 = Math.round(q(0.99) * 1000) / 1000;
process.stdout.write(`guard rule checks per request (input + output, ${policy.checks.length} checks, ${words.length} keywords, ${warm.length} requests after warm-up)\n`);
for (const [k, v] of perCheck) process.stdout.write(`  ${k.padEnd(10)} mean ${(v / (texts.length * 4)).toFixed(3)} ms\n`);
process.stdout.write(`  p50 ${p50} ms   p95 ${p95} ms   p99 ${p99} ms\n`);

// ---------------------------------------------------------------- through the server
const upstream = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    const q = (JSON.parse(raw) as { messages: { content: string }[] }).messages.at(-1)!.content;
    const answer = texts[q.length % texts.length];
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'u', choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
  });
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const dir = mkdtempSync(join(tmpdir(), 'mf-bench-guard-'));
const KEY = 'sk-mf-bench-guard-admin-0123456789';
const srv = await createServer({ dataDir: dir, adminKey: KEY, serve: { warm: false } });
const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
const call = async (method: string, path: string, body: unknown) => {
  const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json() as Record<string, unknown>;
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
};
await call('POST', '/v1/serve/models', { name: 'instant', kind: 'endpoint', endpoint: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, model: 'u' } });
await call('PUT', '/v1/guard/policies/bench', policyJson);
await call('POST', '/v1/deployments', { name: 'plain', model: 'instant' });
await call('POST', '/v1/deployments', { name: 'guarded', model: 'instant', settings: { guard: 'bench' } });
const served: Record<'plain' | 'guarded', number[]> = { plain: [], guarded: [] };
const N = 600;
for (let i = 0; i < N + 60; i++) {
  const q = texts[(i * 7) % texts.length].slice(0, 200);
  for (const name of (i % 2 ? ['plain', 'guarded'] : ['guarded', 'plain']) as Array<'plain' | 'guarded'>) {
    const t0 = performance.now();
    const j = await call('POST', '/v1/chat/completions', { model: name, messages: [{ role: 'user', content: q }] });
    if (i >= 60) served[name].push(performance.now() - t0);
    if (name === 'guarded' && !j.guard) throw new Error('the guarded deployment answered without a guard');
  }
}
await srv.close();
await new Promise((r) => upstream.close(r));
rmSync(dir, { recursive: true, force: true });
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] * 1000) / 1000; };
const sp50 = pct(served.plain, 0.5), sg50 = pct(served.guarded, 0.5), sp95 = pct(served.plain, 0.95), sg95 = pct(served.guarded, 0.95);
const over50 = Math.round((sg50 - sp50) * 1000) / 1000;
process.stdout.write(`served chat requests (${N} each, interleaved; HTTP + keys + gateway + request log + instant upstream)\n`);
process.stdout.write(`  unguarded p50 ${sp50} ms  p95 ${sp95} ms\n  guarded   p50 ${sg50} ms  p95 ${sg95} ms   (guard adds ${over50} ms at p50, ${(sg50 / sp50).toFixed(2)}x)\n`);
process.stdout.write(JSON.stringify({
  bench: 'guard', rules_p50_ms: p50, rules_p95_ms: p95, rules_p99_ms: p99, checks: policy.checks.length, keywords: words.length, requests: warm.length,
  served_unguarded_p50_ms: sp50, served_guarded_p50_ms: sg50, served_unguarded_p95_ms: sp95, served_guarded_p95_ms: sg95, served_guard_overhead_p50_ms: over50,
}) + '\n');
