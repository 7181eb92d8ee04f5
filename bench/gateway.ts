/**
 * npm run bench:gateway — the serving gateway under load: 64 concurrent streaming chats (OpenAI's SSE) against one
 * small model for 60 s on loopback, and the same load against node-llama-cpp called directly in the same run.
 *
 * Model: a random-init Llama-family model (vocab 1024 BPE trained on the demo corpus, hidden 384, 6 layers, 6/2
 * heads, FFN 1024, ~9M parameters), F16 GGUF, context 256 per sequence, llama.cpp 1 thread, 64 sequences in one
 * context (both runs). Each request: a distinct short chat prompt, temperature 0.7, a seed, and max_tokens from 32 to
 * 96 (64 on average; the same sequence for both loads), so that the 64 streams do not finish and restart in lockstep
 * (with one length for all, they move in waves, and where a 10 s window cuts a wave decides more than the server).
 *   direct   64 async loops on one LlamaContext: per request, keep the sequence's common prefix, evaluate the rest
 *            (the gateway's own policy), sample until 64 tokens or end of generation; node-llama-cpp only.
 *   gateway  the modelfab server (createServer) in this process; the 64 clients run in a worker thread (plain
 *            node:http, keep-alive, SSE parsed minimally), each stream checked to end with a finish_reason and
 *            [DONE]; tokens counted from the usage chunk.
 * The two loads run in alternating phases (--rounds, default 6, each SECONDS/rounds long), so background load that
 * drifts on a shared machine hits both alike; totals are summed over the phases.
 * Throughput is steady-state: each request's tokens are prorated to the part of its generation (first token to last)
 * inside the phase window (new requests stop at the window's end; those in flight finish and must still end
 * cleanly). Prorating over the whole request instead would credit a load's queueing time with tokens made later.
 * TTFT: gateway = request sent to the first SSE chunk with text (client side); direct = to the first token.
 * Flags: --seconds N per load (default 60), --streams N (64), --max-tokens N (64), --rounds N (6), --trace (per phase:
 * llama.cpp's busy share of the window, steps, generated and prompt tokens per step, ms per token and the gap between
 * steps, read from node-llama-cpp 3.21.1's native context; where an overhead comes from).
 * Prints a table, then one JSON line:
 *   {"bench":"gateway","streams":64,"errors":…,"ttft_p50_ms":…,"ttft_p95_ms":…,"tok_s":…,"direct_tok_s":…,"overhead":…}
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LlamaModel as LlamaCppModel, type Token } from 'node-llama-cpp';
import { LlamaModel } from '../src/engine/llama-model.ts';
import { parameterCount, type LlamaConfig } from '../src/engine/config.ts';
import { trainBpe, CHATML_SPECIAL_TOKENS, CHAT_TEMPLATES } from '../src/engine/tokenizer/tokenizer-exports.ts';
import { loadDemoCorpus } from '../src/demo/corpus.ts';
import { exportGgufModel } from '../src/model-files/gguf-model.ts';
import { getCpuLlama } from '../src/serve/llama/llama-cpp.ts';
import { chatSegments } from '../src/serve/prompt.ts';
import { createServer } from '../src/api/server.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const SECONDS = arg('seconds', 60), STREAMS = arg('streams', 64), MAX_TOKENS = arg('max-tokens', 64), ROUNDS = arg('rounds', 6);
const TRACE = args.includes('--trace');
const CONTEXT = 256;

const tok = trainBpe(loadDemoCorpus().map((d) => d.text).slice(0, 8), { vocabSize: 1024, specialTokens: CHATML_SPECIAL_TOKENS, eos: '<|im_end|>', minFrequency: 2 });
const config: LlamaConfig = {
  vocabSize: tok.vocabSize, hiddenSize: 384, numLayers: 6, numHeads: 6, numKvHeads: 2, ffnSize: 1024,
  ropeBase: 10000, rmsEps: 1e-5, tieEmbeddings: false, qkvBias: false, contextLength: CONTEXT,
};
const dir = mkdtempSync(join(tmpdir(), 'mf-bench-gateway-'));
const gguf = join(dir, 'model.gguf');
writeFileSync(gguf, exportGgufModel(LlamaModel.init(config, 1), tok, { weightType: 'F16', chatTemplate: CHAT_TEMPLATES.chatml.jinja }));
/** max_tokens of request i of stream s: MAX/2 .. 3*MAX/2, a fixed pseudo-random sequence (the client has a copy). */
const maxTokensOf = (s: number, i: number) => Math.floor(MAX_TOKENS / 2) + (((s * 7919 + i * 104729) >>> 0) % (MAX_TOKENS + 1));
const question = (s: number, i: number) => `Question ${s}-${i}: what does Spruce Robotics make, and where?`;

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/**
 * Steady-state accounting: the share of a request's tokens generated inside the phase window [w0, w1] (tokens
 * spread evenly over the request's life), so the ramp-down after the window (requests finishing) counts for
 * neither load.
 */
function prorate(tokens: number, s: number, e: number, w0: number, w1: number): number {
  const d = e - s;
  if (!(d > 0)) return s >= w0 && s <= w1 ? tokens : 0;
  return tokens * Math.max(0, Math.min(e, w1) - Math.max(s, w0)) / d;
}

// ------------------------------------------------------------------ --trace
interface Decode { s: number; e: number; gen: number; prompt: number }
let decodes: Decode[] = [];
if (TRACE) {
  // every context either load creates records its batches: a 1-token item is a generated token, a longer one prompt
  type Native = { addToBatch(id: number, first: number, tokens: Uint32Array, logits: Uint32Array): Uint32Array; decodeBatch(): Promise<void> };
  const create = LlamaCppModel.prototype.createContext;
  LlamaCppModel.prototype.createContext = async function (this: LlamaCppModel, o) {
    const c = await create.call(this, o);
    const n = (c as unknown as { _ctx: Native })._ctx;
    const add = n.addToBatch.bind(n), decode = n.decodeBatch.bind(n);
    let cur = { gen: 0, prompt: 0 };
    Object.defineProperty(n, 'addToBatch', { value: (id: number, first: number, t: Uint32Array, l: Uint32Array) => { if (t.length === 1) cur.gen++; else cur.prompt += t.length; return add(id, first, t, l); } });
    Object.defineProperty(n, 'decodeBatch', { value: async () => {
      const b = cur, s = performance.timeOrigin + performance.now();
      cur = { gen: 0, prompt: 0 };
      try { await decode(); } finally { decodes.push({ s, e: performance.timeOrigin + performance.now(), ...b }); }
    } });
    return c;
  };
}

/** The decodes of one phase inside its window [w0, w1] (epoch ms). */
function traceLine(label: string, w0: number, w1: number): string {
  let busy = 0, gen = 0, prompt = 0, steps = 0;
  for (const d of decodes) {
    const inside = Math.max(0, Math.min(d.e, w1) - Math.max(d.s, w0));
    if (inside <= 0) continue;
    const f = inside / (d.e - d.s);
    busy += inside; gen += d.gen * f; prompt += d.prompt * f; steps += f;
  }
  decodes = [];
  const w = w1 - w0;
  return `  ${label}: llama.cpp busy ${(100 * busy / w).toFixed(1)}%, ${steps.toFixed(0)} steps, ${(gen / steps).toFixed(1)} generated + ${(prompt / steps).toFixed(1)} prompt tokens/step, ${(busy / (gen + prompt)).toFixed(3)} ms/token, gap ${((w - busy) / steps).toFixed(1)} ms/step`;
}

// ------------------------------------------------------------------ direct
interface Phase { w0: number; w1: number; secs: number; tokens: number; evaluated: number; ttft: number[]; requests: number; errors: number; errs: string[] }

async function directRunner(): Promise<{ phase: (seconds: number) => Promise<Phase>; close: () => Promise<void> }> {
  const llama = await getCpuLlama();
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: CONTEXT, sequences: STREAMS, threads: 1, batchSize: Math.max(STREAMS, Math.min(512, CONTEXT)) });
  const encode = (s: number, i: number) => {
    const ids: Token[] = [];
    for (const seg of chatSegments([{ role: 'user', content: question(s, i) }], 'chatml')) ids.push(...model.tokenize(seg.text, seg.special));
    return ids;
  };
  const seqs = Array.from({ length: STREAMS }, () => ctx.getSequence());
  // warm-up
  for await (const _ of seqs[0].evaluate(encode(0, 0), { temperature: 0 })) break;
  let round = 0;
  const phase = async (seconds: number): Promise<Phase> => {
  let tokens = 0, requests = 0, evaluated = 0;
  const ttft: number[] = [];
  const t0 = performance.now(), end = t0 + seconds * 1000;
  round++;
  await Promise.all(seqs.map(async (seq, s) => {
    for (let i = round * 100000; performance.now() < end; i++) {
      const r0 = performance.now();
      const ids = encode(s, i);
      const keep = Math.min(seq.compareContextTokens(ids).firstDifferentIndex, ids.length - 1);
      evaluated += ids.length - keep;
      if (seq.nextTokenIndex > keep) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
      let n = 0, first = 0;
      const limit = maxTokensOf(s, i);
      for await (const t of seq.evaluate(ids.slice(keep), { temperature: 0.7, topK: 0, topP: 1, minP: 0, seed: s * 100003 + i, yieldEogToken: true })) {
        if (model.isEogToken(t)) break;
        model.detokenize([t]);
        if (n === 0) { first = performance.now(); ttft.push(first - r0); }
        if (++n >= limit) break;
      }
      tokens += prorate(n, first || r0, performance.now(), t0, end);
      requests++;
    }
  }));
  return { w0: performance.timeOrigin + t0, w1: performance.timeOrigin + end, secs: seconds, tokens, evaluated, ttft, requests, errors: 0, errs: [] };
  };
  return { phase, close: async () => { await ctx.dispose(); await model.dispose(); } };
}

// ------------------------------------------------------------------ gateway (clients in a worker thread)
const PRORATE = prorate.toString();
const CLIENT = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { url, key, streams, seconds, maxTokens, round } = workerData;
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: streams });
${PRORATE}
const maxTokensOf = ${maxTokensOf.toString()};
const MAX_TOKENS = maxTokens;
const question = (s, i) => 'Question ' + s + '-' + i + ': what does Spruce Robotics make, and where?';
function one(s, i) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const body = JSON.stringify({ model: 'bench', stream: true, stream_options: { include_usage: true }, max_tokens: maxTokensOf(s, i), temperature: 0.7, seed: s * 100003 + i, messages: [{ role: 'user', content: question(s, i) }] });
    const req = http.request({ host: u.hostname, port: u.port, path: '/v1/chat/completions', method: 'POST', agent, headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      if (res.statusCode !== 200) { res.resume(); return resolve({ error: 'status ' + res.statusCode }); }
      res.setEncoding('utf8');
      let buf = '', ttft = 0, finished = false, done = false, tokens = -1, evaluated = 0, err = null;
      res.on('data', (d) => {
        if (ttft === 0 && d.includes('"content":"') && !d.includes('"role"')) ttft = performance.now() - t0;
        buf += d;
        let k;
        while ((k = buf.indexOf('\\n\\n')) >= 0) {
          const ev = buf.slice(0, k); buf = buf.slice(k + 2);
          if (ev === 'data: [DONE]') done = true;
          else if (ev.includes('"finish_reason":"')) finished = true;
          else if (ev.includes('"usage":')) { const u = JSON.parse(ev.slice(6)).usage; tokens = u.completion_tokens; evaluated = u.prompt_tokens - (u.prompt_tokens_details?.cached_tokens ?? 0); }
          else if (ev.includes('"error":')) err = ev;
          if (ttft === 0 && ev.includes('"content":"') && !ev.includes('"role"')) ttft = performance.now() - t0;
        }
      });
      res.on('end', () => resolve(err ? { error: err } : (!done || !finished || tokens < 0) ? { error: 'incomplete stream' } : { ttft, tokens, evaluated, t0, t1: performance.now() }));
      res.on('error', (e) => resolve({ error: String(e) }));
    });
    req.on('error', (e) => resolve({ error: String(e) }));
    req.end(body);
  });
}
(async () => {
  const t0 = performance.now(), end = t0 + seconds * 1000;
  let tokens = 0, requests = 0, errors = 0, evaluated = 0; const ttft = []; const errs = [];
  await Promise.all(Array.from({ length: streams }, async (_, s) => {
    for (let i = round * 100000; performance.now() < end; i++) {
      const r = await one(s, i);
      requests++;
      if (r.error) { errors++; if (errs.length < 5) errs.push(r.error); continue; }
      tokens += prorate(r.tokens, r.ttft ? r.t0 + r.ttft : r.t0, r.t1, t0, end); if (r.ttft) ttft.push(r.ttft);
      evaluated += r.evaluated;
    }
  }));
  parentPort.postMessage({ w0: performance.timeOrigin + t0, w1: performance.timeOrigin + end, secs: seconds, tokens, evaluated, requests, errors, ttft, errs });
  agent.destroy();
})();
`;

async function gatewayRunner(): Promise<{ phase: (seconds: number) => Promise<Phase>; close: () => Promise<void> }> {
  const key = 'sk-mf-bench-admin-key-0123456789abcdef';
  const srv = await createServer({ dataDir: join(dir, 'data'), adminKey: key, logger: false, serve: { warm: false } });
  const { deploy } = await import('../src/serve/deployments.ts');
  await deploy(srv.store, { name: 'bench', path: gguf, settings: { concurrency: STREAMS, queue: STREAMS, contextSize: CONTEXT, threads: 1, idleUnloadS: 0 } });
  await srv.gateway.warmUp('bench');
  const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  let round = 0;
  const phase = (seconds: number) => new Promise<Phase>((resolve, reject) => {
    const w = new Worker(CLIENT, { eval: true, workerData: { url, key, streams: STREAMS, seconds, maxTokens: MAX_TOKENS, round: ++round } });
    w.once('message', resolve);
    w.once('error', reject);
  });
  return { phase, close: () => srv.close() };
}

try {
  console.log(`model: ${(parameterCount(config) / 1e6).toFixed(1)}M parameters (vocab ${config.vocabSize}, hidden ${config.hiddenSize}, ${config.numLayers} layers), F16, context ${CONTEXT}, ${STREAMS} streams x ${SECONDS}s, max_tokens ${Math.floor(MAX_TOKENS / 2)}..${Math.floor(MAX_TOKENS / 2) + MAX_TOKENS}, llama.cpp 1 thread`);
  // the two loads alternate in ROUNDS phases each, so drifting background load on a shared machine hits both alike
  const dr = await directRunner();
  const gr = await gatewayRunner();
  const sum = (a: Phase, b: Phase): Phase => ({ w0: 0, w1: 0, secs: a.secs + b.secs, tokens: a.tokens + b.tokens, evaluated: a.evaluated + b.evaluated, ttft: a.ttft.concat(b.ttft), requests: a.requests + b.requests, errors: a.errors + b.errors, errs: a.errs.concat(b.errs) });
  let D: Phase = { w0: 0, w1: 0, secs: 0, tokens: 0, evaluated: 0, ttft: [], requests: 0, errors: 0, errs: [] }, G: Phase = { ...D, ttft: [], errs: [] };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      // alternate which load goes first, so neither always follows the other
      let dp: Phase, gp: Phase, dt = '', gt = '';
      const direct = async () => { decodes = []; dp = await dr.phase(SECONDS / ROUNDS); if (TRACE) dt = traceLine('direct ', dp.w0, dp.w1); };
      const gateway = async () => { decodes = []; gp = await gr.phase(SECONDS / ROUNDS); if (TRACE) gt = traceLine('gateway', gp.w0, gp.w1); };
      if (r % 2 === 0) { await direct(); await gateway(); } else { await gateway(); await direct(); }
      console.log(`round ${r + 1}/${ROUNDS}: direct ${(dp!.tokens / dp!.secs).toFixed(1)} tok/s, gateway ${(gp!.tokens / gp!.secs).toFixed(1)} tok/s, errors ${gp!.errors}`);
      if (TRACE) console.log(`${dt}\n${gt}`);
      D = sum(D, dp!); G = sum(G, gp!);
    }
  } finally {
    await gr.close();
    await dr.close();
  }
  const d = { ...D, tokS: D.tokens / D.secs }, g = { ...G, tokS: G.tokens / G.secs };
  console.log(`direct node-llama-cpp  ${d.tokS.toFixed(1).padStart(8)} tok/s  ${d.requests} requests (${(d.evaluated / d.requests).toFixed(1)} prompt tokens evaluated each)  ttft (first token) p50 ${pct(d.ttft, 50).toFixed(0)} ms p95 ${pct(d.ttft, 95).toFixed(0)} ms`);
  console.log(`gateway (HTTP + SSE)   ${g.tokS.toFixed(1).padStart(8)} tok/s  ${g.requests} requests (${(g.evaluated / g.requests).toFixed(1)} prompt tokens evaluated each)  ttft (first text) p50 ${pct(g.ttft, 50).toFixed(0)} ms p95 ${pct(g.ttft, 95).toFixed(0)} ms  errors ${g.errors}`);
  if (g.errs.length) console.log(`first errors: ${g.errs.join(' | ')}`);
  const overhead = 1 - g.tokS / d.tokS;
  console.log(JSON.stringify({
    bench: 'gateway', streams: STREAMS, errors: g.errors, ttft_p50_ms: +pct(g.ttft, 50).toFixed(1), ttft_p95_ms: +pct(g.ttft, 95).toFixed(1),
    tok_s: +g.tokS.toFixed(2), direct_tok_s: +d.tokS.toFixed(2), overhead: +overhead.toFixed(4),
    seconds: SECONDS, requests: g.requests, direct_requests: d.requests, direct_ttft_p50_ms: +pct(d.ttft, 50).toFixed(1),
  }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
