/**
 * `npm run bench:abuse`: whether hostile requests can stall the server. A server on a temporary data folder runs in a
 * child process on loopback; one client sends hostile inputs (a pathological regular expression in a guard policy
 * check, documents with huge paragraph counts as Markdown and as DOCX, chat requests naming 100 KB models, eval
 * runs naming a FIFO, /dev/zero, a path and an endpoint URL) while a second client sends GET /healthz every 20 ms
 * (without waiting for the previous answer, so a stall shows in every probe it holds up). Bounded: a fixed number of
 * requests, each with a timeout, and a deadline for the whole run; it stops by itself and removes its folder.
 * Prints a table per attack, the /healthz latencies and the server's peak memory, and ends with one JSON line:
 *   {"bench":"abuse","healthz_p99_ms":…,"max_rss_mb":…,"refused":…,"errors_5xx":0}
 * (the bar: /healthz p99 under 100 ms and no 5xx). `refused` counts the hostile requests answered 4xx.
 *
 * Flags: --rounds N (each attack N times, default 2), --regex-chars N (length of the regex victim text, default 30).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';

const ADMIN_KEY = 'sk-mf-bench-abuse-admin-0123456789abcdef';
const REQUEST_TIMEOUT_MS = 30_000;
const DEADLINE_MS = 240_000;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

// ---------------------------------------------------------------- the server side (a child process)
if (process.argv[2] === '--serve') {
  const { createServer } = await import('../src/api/server.ts');
  const srv = await createServer({ dataDir: process.argv[3]!, adminKey: ADMIN_KEY, serve: { warm: false }, requestLog: false });
  const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${JSON.stringify({ url })}\n`);
  process.on('SIGTERM', () => { void srv.close().finally(() => process.exit(0)); });
} else {
  await main();
}

// ---------------------------------------------------------------- the clients
/** A ZIP (stored, or deflated when `deflate`) holding `files`; enough of one for a DOCX. */
function zip(files: Record<string, string>, deflate = true): Buffer {
  const locals: Buffer[] = [], centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const raw = Buffer.from(text, 'utf8');
    const data = deflate ? deflateRawSync(raw, { level: 9 }) : raw;
    const nameB = Buffer.from(name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(raw.length, 22); local.writeUInt16LE(nameB.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt16LE(deflate ? 8 : 0, 10);
    central.writeUInt32LE(data.length, 20); central.writeUInt32LE(raw.length, 24); central.writeUInt16LE(nameB.length, 28); central.writeUInt32LE(offset, 42);
    locals.push(local, nameB, data);
    centrals.push(central, nameB);
    offset += 30 + nameB.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(centrals.length / 2, 8); end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

function docxWithParagraphs(n: number): Buffer {
  return zip({
    '[Content_Types].xml': '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    '_rels/.rels': '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
    'word/document.xml': `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${'<w:p/>'.repeat(n)}</w:body></w:document>`,
  });
}

interface Outcome { status: number; ms: number }

function pct(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Peak resident memory of a process (MiB), from /proc; null where there is none. */
function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

async function startServer(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('the server did not start within 60 s')), 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) { clearTimeout(timer); resolve((JSON.parse(line) as { url: string }).url); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code})`)); });
  });
  return { child, url };
}

async function main(): Promise<void> {
  const rounds = flag('rounds', 2);
  const regexChars = flag('regex-chars', 30);
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'mf-bench-abuse-'));
  const fifo = join(dir, 'records.fifo');
  const haveFifo = process.platform !== 'win32' && spawnSync('mkfifo', [fifo]).status === 0;
  const { child, url } = await startServer(join(dir, 'data'));
  // whatever happens, the server does not outlive the bench
  process.on('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const request = async (method: string, path: string, body?: unknown): Promise<Outcome> => {
    const t0 = performance.now();
    try {
      const r = await fetch(url + path, {
        method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      await r.arrayBuffer();
      return { status: r.status, ms: performance.now() - t0 };
    } catch {
      return { status: 0, ms: performance.now() - t0 }; // timed out or the connection failed
    }
  };

  // set-up: a knowledge base to ingest into, and a registered endpoint so eval runs reach their datasets check
  await request('POST', '/v1/knowledge/bases', { id: 'abuse', name: 'abuse' });
  await request('POST', '/v1/serve/models', { name: 'abuse-endpoint', kind: 'endpoint', endpoint: { url: 'http://127.0.0.1:9/v1', model: 'x' } });
  const metricsBefore = Buffer.byteLength(await (await fetch(`${url}/metrics`)).text());

  // ---------------------------------------------------------------- the /healthz prober: one probe every 20 ms
  const health: number[] = [];
  const probes: Array<{ at: number; ms: number }> = [];
  let healthErrors = 0, probing = true, inFlight = 0;
  const probe = async () => {
    inFlight++;
    const t0 = performance.now();
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await r.arrayBuffer();
      if (r.status !== 200) healthErrors++;
    } catch { healthErrors++; }
    health.push(performance.now() - t0);
    probes.push({ at: t0, ms: performance.now() - t0 });
    inFlight--;
  };
  const prober = setInterval(() => { if (probing && inFlight < 2000) void probe(); }, 20);
  await new Promise((r) => setTimeout(r, 500)); // a baseline before the first attack

  // ---------------------------------------------------------------- the hostile client
  // each attack `rounds` times in a row; the regular expression last and once (until the linear engine, it holds the
  // server for seconds, which would be counted against every attack after it)
  const attacks: Array<{ name: string; times: number; send: () => Promise<Outcome> }> = [
    { name: 'markdown: 200,000 paragraphs', times: rounds, send: () => request('POST', '/v1/knowledge/bases/abuse/documents', { filename: 'many.md', text: '段落\n\n'.repeat(200_000) }) },
    { name: 'docx: 600,000 paragraphs', times: rounds, send: () => request('POST', '/v1/knowledge/bases/abuse/documents', { filename: 'many.docx', base64: docxWithParagraphs(600_000).toString('base64') }) },
    { name: 'chat: a 100 KB model name', times: rounds, send: () => request('POST', '/v1/chat/completions', { model: `m${'x'.repeat(100_000)}${Math.random()}`, messages: [{ role: 'user', content: 'hi' }] }) },
    { name: 'eval run: datasets[].path a FIFO', times: rounds, send: () => request('POST', '/v1/evals/runs', { model: 'abuse-endpoint', suite: 'factory', datasets: [{ name: 'fifo', path: haveFifo ? fifo : '/dev/stdin' }] }) },
    { name: 'eval run: datasets[].path /dev/zero', times: rounds, send: () => request('POST', '/v1/evals/runs', { model: 'abuse-endpoint', suite: 'factory', datasets: [{ name: 'zero', path: '/dev/zero' }] }) },
    { name: 'eval run: model /dev/zero', times: rounds, send: () => request('POST', '/v1/evals/runs', { model: '/dev/zero' }) },
    { name: 'eval run: model a FIFO', times: rounds, send: () => request('POST', '/v1/evals/runs', { model: haveFifo ? fifo : '/dev/stdin' }) },
    { name: 'eval run: model an endpoint URL', times: rounds, send: () => request('POST', '/v1/evals/runs', { model: 'openai:http://127.0.0.1:9/v1#x' }) },
    { name: `guard check: (a+)+$ on ${regexChars} chars`, times: 1, send: () => request('POST', '/v1/guard/check', { policy: { checks: [{ name: 'evil', kind: 'regex', action: 'refuse', patterns: ['(a+)+$'] }] }, text: `${'a'.repeat(regexChars - 1)}!` }) },
  ];
  const results = new Map<string, Outcome[]>();
  const windows = new Map<string, { from: number; to: number }>();
  for (const a of attacks) {
    const from = performance.now();
    for (let r = 0; r < a.times && Date.now() - started < DEADLINE_MS; r++) results.set(a.name, [...(results.get(a.name) ?? []), await a.send()]);
    windows.set(a.name, { from, to: performance.now() });
  }
  await new Promise((r) => setTimeout(r, 500)); // probes after the last attack
  probing = false;
  clearInterval(prober);
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
  let metricsAfter: number | null = null;
  try { metricsAfter = Buffer.byteLength(await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()); } catch { /* still held */ }
  const rss = peakRssMb(child.pid!);
  child.kill('SIGTERM');
  // a server still held by a request cannot run its SIGTERM handler: it is killed after a grace period
  const grace = setTimeout(() => child.kill('SIGKILL'), 3000);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(grace);
  rmSync(dir, { recursive: true, force: true });

  // ---------------------------------------------------------------- report
  const all = [...results.values()].flat();
  const refused = all.filter((o) => o.status >= 400 && o.status < 500).length;
  const errors5xx = all.filter((o) => o.status >= 500).length;
  const failed = all.filter((o) => o.status === 0).length;
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`${pad('attack', 42)} ${pad('requests', 8)} ${pad('statuses', 12)} ${pad('max ms', 8)} /healthz p99 ms meanwhile`);
  for (const [name, outs] of results) {
    const statuses = [...new Set(outs.map((o) => (o.status === 0 ? 'timeout' : String(o.status))))].join(',');
    const w = windows.get(name)!;
    const during = probes.filter((p) => p.at + p.ms >= w.from && p.at <= w.to).map((p) => p.ms);
    console.log(`${pad(name, 42)} ${pad(String(outs.length), 8)} ${pad(statuses, 12)} ${pad(String(Math.round(Math.max(...outs.map((o) => o.ms)))), 8)} ${during.length ? pct(during, 99).toFixed(1) : '-'}`);
  }
  const p50 = pct(health, 50), p99 = pct(health, 99), max = Math.max(0, ...health);
  console.log(`\n/healthz: ${health.length} probes (every 20 ms), p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms, errors ${healthErrors}`);
  console.log(`/metrics: ${metricsBefore} bytes before, ${metricsAfter ?? '(no answer)'} after; server peak RSS ${rss ?? '?'} MiB; hostile requests ${all.length}, refused (4xx) ${refused}, 5xx ${errors5xx}, timed out ${failed}`);
  console.log(`bar: /healthz p99 under 100 ms and no 5xx: ${p99 < 100 && errors5xx === 0 ? 'met' : 'NOT met'}`);
  console.log(JSON.stringify({ bench: 'abuse', healthz_p99_ms: Math.round(p99 * 10) / 10, max_rss_mb: rss, refused, errors_5xx: errors5xx }));
}
