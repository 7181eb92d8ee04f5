/**
 * The gateway runtime: turns a requested model name into a loaded backend and runs requests on it.
 *
 * Owns:
 *   - resolution: a route name (fixed / weighted / fallback over several models), an active deployment, or any
 *     registered model (a fine-tune's `ft:…` name works at once), cached for `cacheTtlMs` so changes made by the
 *     CLI in another process are seen within that time;
 *   - loading on first use (engine folders exported to GGUF once, materialize.ts; adapters over a shared base, one
 *     base load per file and settings), warm-up, unloading when idle, and a memory budget across loaded backends
 *     (least recently used idle backends are unloaded to make room; 503 when nothing can be);
 *   - rollouts: a new deployment version is loaded and warmed while the old one keeps serving; then new requests go
 *     to the new one and the old backend is closed once its requests in flight have finished (none is dropped);
 *   - per-model concurrency: at most `concurrency` requests run, `queue` more wait in FIFO order, the next gets
 *     429 (`model_overloaded`); a waiting request whose client leaves is removed from the queue;
 *   - fallback routes: the next target is tried when one fails (5xx, 429, unavailable) or times out before its
 *     first text; once text has been streamed the request stays on its target.
 */
import { statSync } from 'node:fs';
import { readGgufHeader, validateGgufModel } from '../model-files/gguf-model.ts';
import { join } from 'node:path';
import type { DeploymentRow, ModelRow, Store } from '../store/store.ts';
import { BackendError, type FolderModelLoader, type EchoedPrompt, type EmbedResult, type GenerateCallbacks, type GenerateParams, type GenerateResult, type ModelBackend } from './model-backend.ts';
import { EngineBackend } from './engine-backend.ts';
import { HttpBackend, type EndpointSpec } from './http-backend.ts';
import { LlamaServeBackend } from './llama/llama-serve-backend.ts';
import { materializeEngineModel } from './materialize.ts';
import { Metrics } from './prometheus.ts';
import { generateWithPromptTools } from './tools.ts';
import { DEFAULT_SETTINGS, parseSettings, type DeploymentSettings, type RouteTarget } from './deployments.ts';

export interface GatewayOptions {
  store: Store;
  /** Where exported GGUF files are cached (`<dataDir>/serve-cache`). */
  dataDir: string;
  /** Memory budget across loaded backends, bytes (default: MODELFAB_SERVE_MEMORY_MB, else 8 GiB). */
  memoryBudgetBytes?: number;
  cacheTtlMs?: number;
  sweepMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Model folders served by other stages' loaders (a trained retriever), tried before the engine's. */
  loaders?: FolderModelLoader[];
}

export interface Spec {
  /** The name requests use (deployment or model). */
  name: string;
  /** Changes whenever what serves the name changes. */
  version: string;
  model: ModelRow;
  settings: DeploymentSettings;
  deployment: DeploymentRow | null;
}

interface Plan {
  requested: string;
  policy: 'fixed' | 'weighted' | 'fallback' | 'direct';
  /** null: a route's target that is not deployed; it keeps its place, so a weighted route's weights line up. */
  targets: Array<Spec | null>;
  /** A weighted route's weights, one per target. */
  weights?: number[];
  timeoutMs: number;
}

const isSpec = (s: Spec | null): s is Spec => s !== null;

interface Loaded {
  key: string;
  kind: ModelBackend['kind'];
  backend: ModelBackend;
  inflight: number;
  lastUsed: number;
  memory: number;
  idleUnloadS: number;
}

interface BackendPlan { key: string; adapter?: { name: string; path: string }; estimate: number; load: () => Promise<ModelBackend>; idleUnloadS: number }

class Served {
  ready: Promise<void> | null = null;
  settled = false;
  failed = false;
  plan: BackendPlan | null = null;
  constructor(readonly spec: Spec) {}
}

class Limiter {
  active = 0;
  private waiting: Array<{ go: () => void; fail: (e: unknown) => void }> = [];
  constructor(public concurrency: number, public maxQueue: number, private readonly name: string) {}

  get queued(): number { return this.waiting.length; }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.concurrency && this.waiting.length === 0) {
      this.active++;
      return this.releaser();
    }
    if (this.waiting.length >= this.maxQueue) {
      throw new BackendError(429, `The model '${this.name}' is overloaded: ${this.active} requests running and ${this.waiting.length} waiting. Retry later.`, 'model_overloaded');
    }
    await new Promise<void>((resolve, reject) => {
      const entry = { go: () => { signal?.removeEventListener('abort', onAbort); resolve(); }, fail: reject };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new BackendError(499, 'client closed request', 'aborted'));
      };
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next.go(); // the slot passes to the next request
      else this.active--;
    };
  }
}

export interface Lease { backend: ModelBackend; adapter?: string; spec: Spec; release(): void }

export class Gateway {
  readonly metrics = new Metrics();
  private readonly store: Store;
  private readonly cacheDir: string;
  private readonly budget: number;
  private readonly ttl: number;
  private resolved = new Map<string, { at: number; plan: Promise<Plan | null> }>();
  private served = new Map<string, Served>();
  private nextServed = new Map<string, Served>();
  private loaded = new Map<string, Loaded>();
  private loading = new Map<string, Promise<Loaded>>();
  private limiters = new Map<string, Limiter>();
  private sweeper: NodeJS.Timeout;
  private closed = false;
  private readonly log: NonNullable<GatewayOptions['log']>;
  private readonly loaders: readonly FolderModelLoader[];

  constructor(opts: GatewayOptions) {
    this.store = opts.store;
    this.cacheDir = join(opts.dataDir, 'serve-cache');
    const envMb = Number(process.env.MODELFAB_SERVE_MEMORY_MB);
    this.budget = opts.memoryBudgetBytes ?? (envMb > 0 ? envMb * 1024 * 1024 : 8 * 1024 ** 3);
    this.ttl = opts.cacheTtlMs ?? 2000;
    this.log = opts.log ?? (() => undefined);
    this.loaders = opts.loaders ?? [];
    this.sweeper = setInterval(() => void this.sweep(), opts.sweepMs ?? 30_000);
    this.sweeper.unref();
    this.metrics.source = {
      inflight: () => new Map([...this.limiters].map(([n, l]) => [n, l.active])),
      queued: () => new Map([...this.limiters].map(([n, l]) => [n, l.queued])),
      loaded: () => [...this.loaded.values()].map((l) => ({ key: l.key, kind: l.kind, memoryBytes: l.memory })),
    };
  }

  /** Forget cached resolutions (after an admin change in this process). */
  invalidate(): void {
    this.resolved.clear();
  }

  // ---------------------------------------------------------------- resolution

  private async specFor(name: string): Promise<Spec | null> {
    const d = await this.store.deployments.getByName(name);
    if (d) {
      if (d.status !== 'active') return null;
      const model = await this.store.models.get(d.model_id);
      if (!model) return null;
      return { name, version: `d${d.version}:${model.id}:${model.created_at}`, model, settings: parseSettings(d.settings), deployment: d };
    }
    const model = await this.store.models.getByName(name);
    if (!model) return null;
    return { name, version: `m:${model.id}:${model.created_at}:${model.path}:${model.adapter_path}`, model, settings: { ...DEFAULT_SETTINGS }, deployment: null };
  }

  private async makePlan(name: string): Promise<Plan | null> {
    const r = await this.store.routes.getByName(name);
    if (r) {
      const targets: Array<Spec | null> = [];
      for (const t of JSON.parse(r.targets) as RouteTarget[]) {
        const s = await this.specFor(t.model);
        if (s) targets.push(s);
        else if (r.policy !== 'fallback') targets.push(null);
      }
      const weights = (JSON.parse(r.targets) as RouteTarget[]).map((t) => t.weight ?? 1);
      return { requested: name, policy: r.policy, targets, ...(r.policy === 'weighted' ? { weights } : {}), timeoutMs: r.timeout_ms ?? 0 };
    }
    const s = await this.specFor(name);
    return s ? { requested: name, policy: 'direct', targets: [s], timeoutMs: 0 } : null;
  }

  async plan(name: string): Promise<Plan> {
    const now = Date.now();
    let c = this.resolved.get(name);
    if (!c || now - c.at > this.ttl) {
      c = { at: now, plan: this.makePlan(name) };
      c.plan.catch(() => this.resolved.delete(name));
      this.resolved.set(name, c);
      if (this.resolved.size > 10_000) this.resolved.delete(this.resolved.keys().next().value!);
    }
    const p = await c.plan;
    if (!p) throw new BackendError(404, `The model '${name}' does not exist or you do not have access to it.`, 'model_not_found', 'model');
    return p;
  }

  /** Whether `name` is a route, deployment or model here (unknown names may belong to other services, e.g. bots). */
  async knows(name: string): Promise<boolean> {
    try { await this.plan(name); return true; } catch (e) { if (e instanceof BackendError && e.status === 404) return false; throw e; }
  }

  /**
   * The guard policies a request for `requested` is under: each target's deployment setting `guard` (a route runs
   * the policies of all its targets, so whichever serves, its policy has run).
   */
  async guardsOf(requested: string): Promise<string[]> {
    const p = await this.plan(requested);
    return [...new Set(p.targets.filter(isSpec).map((t) => t.settings.guard).filter((g): g is string => !!g))];
  }

  /** The targets to try, in order, for one request. */
  private order(p: Plan): Spec[] {
    const t = p.targets;
    if (p.policy === 'weighted') {
      const w = p.weights ?? t.map(() => 1);
      const total = w.reduce((a, b, i) => a + (t[i] ? b : 0), 0);
      let r = Math.random() * total;
      for (let i = 0; i < t.length; i++) {
        const s = t[i];
        if (!s) continue;
        r -= w[i];
        if (r < 0) return [s];
      }
      return t.filter(isSpec).slice(-1);
    }
    const live = t.filter(isSpec);
    if (live.length === 0) throw new BackendError(503, `No target of route '${p.requested}' is deployed.`, 'model_unavailable', 'model');
    return p.policy === 'fallback' ? live : [live[0]];
  }

  // ---------------------------------------------------------------- loading

  private backendPlan(spec: Spec): BackendPlan {
    const m = spec.model, s = spec.settings;
    if (m.kind === 'endpoint') {
      const e = JSON.parse(m.endpoint ?? '{}') as EndpointSpec;
      return { key: `endpoint:${e.url}|${e.model ?? ''}|${e.apiKey ? 'k' : ''}`, estimate: 0, idleUnloadS: 0, load: async () => new HttpBackend(e, 1024) };
    }
    const llamaKey = (file: string) => `llama:${file}|c${s.concurrency}|x${s.contextSize ?? 0}|t${s.threads}|${m.chat_template ?? ''}`;
    const llamaLoad = (file: string, tpl: string | null) => () => LlamaServeBackend.load(file, { concurrency: s.concurrency, contextSize: s.contextSize, threads: s.threads, chatTemplate: tpl ?? m.chat_template });
    const size = (f: string) => { try { return statSync(f).size; } catch { return 0; } };
    // what LlamaServeBackend.memoryBytes() will report: weights + K/V (F16) for every sequence of one context
    const estimate = (file: string) => {
      try {
        const { config: c } = validateGgufModel(readGgufHeader(file), { anyKnownType: true });
        const ctx = Math.max(16, s.contextSize ?? Math.min(2048, c.contextLength || 2048));
        return size(file) + s.concurrency * ctx * 4 * c.numLayers * c.numKvHeads * (c.hiddenSize / c.numHeads);
      } catch {
        return size(file) + s.concurrency * (s.contextSize ?? 2048) * 4096;
      }
    };
    if (m.kind === 'gguf') {
      const base = m.base_path ?? m.path!;
      return {
        key: llamaKey(base), adapter: m.adapter_path ? { name: m.id, path: m.adapter_path } : undefined,
        estimate: estimate(base), idleUnloadS: s.idleUnloadS, load: llamaLoad(base, null),
      };
    }
    // a folder another stage's loader serves (a trained retriever)
    const loader = m.path ? this.loaders.find((l) => l.serves(m.path!)) : undefined;
    if (loader) return { key: `${loader.name}:${m.path}`, estimate: loader.estimate(m.path!), idleUnloadS: s.idleUnloadS, load: () => loader.load(m.path!) };
    // engine folder
    if (s.backend === 'engine') {
      return { key: `engine:${m.path}`, estimate: size(join(m.path!, 'model.safetensors')) * 2, idleUnloadS: s.idleUnloadS, load: () => EngineBackend.load(m.path!, { chatTemplate: m.chat_template, contextSize: s.contextSize }) };
    }
    const mat = materializeEngineModel(m.path!, this.cacheDir, s.weightType);
    if (mat.kind === 'engine-only') {
      return { key: `engine:${m.path}`, estimate: size(join(m.path!, 'model.safetensors')) * 4, idleUnloadS: s.idleUnloadS, load: () => EngineBackend.load(m.path!, { chatTemplate: m.chat_template, contextSize: s.contextSize }) };
    }
    const file = mat.kind === 'gguf' ? mat.path : mat.basePath;
    return {
      key: llamaKey(file), adapter: mat.kind === 'adapter' ? { name: m.id, path: mat.adapterPath } : undefined,
      estimate: estimate(file), idleUnloadS: s.idleUnloadS, load: llamaLoad(file, m.chat_template ?? mat.chatTemplate),
    };
  }

  private totalMemory(): number {
    let n = 0;
    for (const l of this.loaded.values()) n += l.memory;
    return n;
  }

  private async loadBackend(plan: BackendPlan): Promise<Loaded> {
    const have = this.loaded.get(plan.key);
    if (have) return have;
    let p = this.loading.get(plan.key);
    if (!p) {
      p = (async () => {
        // make room: unload least recently used idle backends
        if (plan.estimate > 0) {
          const idle = [...this.loaded.values()].filter((l) => l.inflight === 0 && l.memory > 0).sort((a, b) => a.lastUsed - b.lastUsed);
          while (this.totalMemory() + plan.estimate > this.budget && idle.length) await this.unload(idle.shift()!, 'memory budget');
          if (this.totalMemory() + plan.estimate > this.budget) {
            throw new BackendError(503, `Not enough memory to load this model (budget ${(this.budget / 2 ** 20).toFixed(0)} MiB, in use ${(this.totalMemory() / 2 ** 20).toFixed(0)} MiB, needed about ${(plan.estimate / 2 ** 20).toFixed(0)} MiB).`, 'insufficient_memory');
          }
        }
        const t0 = performance.now();
        const backend = await plan.load();
        const l: Loaded = { key: plan.key, kind: backend.kind, backend, inflight: 0, lastUsed: Date.now(), memory: backend.memoryBytes(), idleUnloadS: plan.idleUnloadS };
        if (this.closed) { await backend.close(); throw new BackendError(503, 'the server is shutting down', 'shutting_down'); }
        this.loaded.set(plan.key, l);
        this.log('model loaded', { backend: plan.key, ms: Math.round(performance.now() - t0), memory_bytes: l.memory });
        return l;
      })();
      this.loading.set(plan.key, p);
      p.then(() => this.loading.delete(plan.key), () => this.loading.delete(plan.key));
    }
    return p;
  }

  private async unload(l: Loaded, why: string): Promise<void> {
    if (this.loaded.get(l.key) !== l) return;
    this.loaded.delete(l.key);
    this.log('model unloaded', { backend: l.key, reason: why });
    await l.backend.close().catch(() => undefined);
  }

  private async prepare(s: Served): Promise<Loaded> {
    s.plan ??= this.backendPlan(s.spec);
    const l = await this.loadBackend(s.plan);
    if (s.plan.adapter && l.backend instanceof LlamaServeBackend && !l.backend.hasAdapter(s.plan.adapter.name)) {
      await l.backend.addAdapter(s.plan.adapter.name, s.plan.adapter.path);
    }
    return l;
  }

  private async warm(s: Served): Promise<void> {
    const l = await this.prepare(s);
    if (!s.spec.settings.warm || l.kind === 'endpoint' || l.kind === 'embedding') return;
    l.inflight++;
    try {
      await l.backend.generate({ ...this.baseParams(), prompt: { kind: 'text', text: 'Hello' }, maxTokens: 1, adapter: s.plan?.adapter?.name }, { onText: () => undefined });
    } finally {
      l.inflight--;
      l.lastUsed = Date.now();
    }
  }

  private baseParams(): Omit<GenerateParams, 'prompt'> {
    return { maxTokens: 16, temperature: 0, topP: 1, topK: 0, stop: [], presencePenalty: 0, frequencyPenalty: 0 };
  }

  /** The Served object for a spec: the current version, or the previous one while the new one warms up. */
  private servedFor(spec: Spec): Served {
    const cur = this.served.get(spec.name);
    if (cur && cur.spec.version === spec.version) return cur;
    const pending = this.nextServed.get(spec.name);
    if (pending && pending.spec.version === spec.version) return cur && cur.settled && !cur.failed ? cur : pending;
    const next = new Served(spec);
    next.ready = this.warm(next).then(() => { next.settled = true; }, (e: unknown) => { next.settled = true; next.failed = true; throw e; });
    if (cur && cur.settled && !cur.failed) {
      // roll out: keep serving the old version until the new one is warm
      this.nextServed.set(spec.name, next);
      next.ready.then(() => {
        if (this.nextServed.get(spec.name) === next) { this.nextServed.delete(spec.name); this.served.set(spec.name, next); this.log('rolled out', { model: spec.name, version: spec.version }); void this.sweep(); }
      }, (e: unknown) => {
        if (this.nextServed.get(spec.name) === next) this.nextServed.delete(spec.name);
        this.log('rollout failed; the previous version keeps serving', { model: spec.name, error: (e as Error).message });
      });
      return cur;
    }
    next.ready.catch(() => { if (this.served.get(spec.name) === next) this.served.delete(spec.name); });
    this.served.set(spec.name, next);
    return next;
  }

  private limiter(spec: Spec): Limiter {
    let l = this.limiters.get(spec.name);
    if (!l) { l = new Limiter(spec.settings.concurrency, spec.settings.queue, spec.name); this.limiters.set(spec.name, l); }
    l.concurrency = spec.model.kind === 'endpoint' ? Math.max(spec.settings.concurrency, 1) : spec.settings.concurrency;
    l.maxQueue = spec.settings.queue;
    return l;
  }

  /** A slot on the model: waits in its queue (429 when full), loads the model on first use. */
  async lease(spec: Spec, signal?: AbortSignal): Promise<Lease> {
    if (this.closed) throw new BackendError(503, 'the server is shutting down', 'shutting_down');
    const release = await this.limiter(spec).acquire(signal);
    let l: Loaded;
    let served: Served;
    try {
      served = this.servedFor(spec);
      await served.ready;
      l = await this.prepare(served);
    } catch (e) {
      release();
      throw e;
    }
    l.inflight++;
    let done = false;
    return {
      backend: l.backend, adapter: served.plan?.adapter?.name, spec: served.spec,
      release: () => {
        if (done) return;
        done = true;
        l.inflight--;
        l.lastUsed = Date.now();
        release();
        if (l.inflight === 0 && !this.referenced(l.key)) void this.unload(l, 'replaced');
      },
    };
  }

  private referenced(key: string): boolean {
    for (const s of [...this.served.values(), ...this.nextServed.values()]) if (!s.plan || s.plan.key === key) return true;
    return false;
  }

  /** Unloads idle backends and backends no current version uses (once drained). */
  async sweep(): Promise<void> {
    const now = Date.now();
    for (const l of [...this.loaded.values()]) {
      if (l.inflight > 0) continue;
      if (!this.referenced(l.key)) await this.unload(l, 'replaced');
      else if (l.idleUnloadS > 0 && now - l.lastUsed > l.idleUnloadS * 1000) {
        for (const [n, s] of this.served) if (s.plan?.key === l.key) this.served.delete(n);
        await this.unload(l, 'idle');
      }
    }
  }

  // ---------------------------------------------------------------- requests

  /**
   * Runs one generation on `requested` (route, deployment or model), with fallback per the route's policy.
   * `params` may depend on the target (presets and limits are per deployment); `onTarget` may refuse it by throwing.
   */
  async generate(requested: string, params: GenerateParams | ((spec: Spec) => GenerateParams), cb: GenerateCallbacks, hooks: { signal?: AbortSignal; onTarget?: (spec: Spec) => void } = {}): Promise<GenerateResult & { model: string }> {
    const plan = await this.plan(requested);
    const targets = this.order(plan);
    let lastErr: unknown = null;
    for (let i = 0; i < targets.length; i++) {
      const spec = targets[i];
      const isLast = i === targets.length - 1;
      let emitted = false;
      const ctrl = new AbortController();
      const onAbort = () => ctrl.abort();
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      if (hooks.signal?.aborted) ctrl.abort();
      let timedOut = false;
      const limit = spec.settings.timeoutMs;
      const timers: NodeJS.Timeout[] = [];
      if (plan.timeoutMs > 0 && !isLast) timers.push(setTimeout(() => { if (!emitted) { timedOut = true; ctrl.abort(); } }, plan.timeoutMs));
      if (limit > 0) timers.push(setTimeout(() => { timedOut = true; ctrl.abort(); }, limit));
      try {
        const lease = await this.lease(spec, ctrl.signal);
        try {
          hooks.onTarget?.(lease.spec);
          const base = typeof params === 'function' ? params(lease.spec) : params;
          const p: GenerateParams = { ...base, adapter: lease.adapter, upstreamModel: lease.spec.model.kind === 'endpoint' ? (base.upstreamModel ?? requested) : undefined, signal: ctrl.signal };
          if (p.echo && p.logprobs && !lease.backend.capabilities.promptLogprobs) {
            throw new BackendError(400, `log probabilities of the prompt (echo with logprobs) are not supported by this backend (${lease.backend.kind}); engine models serve them`, 'unsupported_parameter', 'echo');
          }
          const onText: GenerateCallbacks = {
            onText: (t, lp) => { emitted = true; cb.onText(t, lp); },
            ...(cb.onPrompt ? { onPrompt: (pr: EchoedPrompt) => { emitted = true; cb.onPrompt!(pr); } } : {}),
          };
          // Local models call tools through their prompt (src/serve/tools.ts); endpoints take tools natively.
          const r = p.tools && lease.backend.kind !== 'endpoint' ? await generateWithPromptTools(lease.backend, p, onText) : await lease.backend.generate(p, onText);
          if (timedOut && !emitted && !isLast) { lastErr = new BackendError(504, `timed out after ${plan.timeoutMs} ms`, 'timeout'); continue; }
          if (timedOut && r.finishReason === 'abort' && !hooks.signal?.aborted) return { ...r, finishReason: 'length', model: lease.spec.name };
          return { ...r, model: lease.spec.name };
        } finally {
          lease.release();
        }
      } catch (e) {
        lastErr = e;
        const st = e instanceof BackendError ? e.status : 500;
        const retry = plan.policy === 'fallback' && !emitted && !hooks.signal?.aborted && (st >= 500 || st === 429 || st === 404 || timedOut);
        if (retry && !isLast) { this.log('fallback', { route: requested, from: spec.name, error: (e as Error).message }); continue; }
        if (timedOut && !emitted) throw new BackendError(504, `The model '${spec.name}' did not answer within the time limit.`, 'timeout');
        throw e;
      } finally {
        for (const t of timers) clearTimeout(t);
        hooks.signal?.removeEventListener('abort', onAbort);
      }
    }
    throw lastErr ?? new BackendError(503, 'no target available', 'model_unavailable');
  }

  async embed(requested: string, texts: string[], signal?: AbortSignal, onTarget?: (spec: Spec) => void): Promise<EmbedResult & { model: string }> {
    const plan = await this.plan(requested);
    const targets = this.order(plan);
    let lastErr: unknown = null;
    for (let i = 0; i < targets.length; i++) {
      try {
        const lease = await this.lease(targets[i], signal);
        try {
          onTarget?.(lease.spec);
          if (!lease.backend.capabilities.embeddings) throw new BackendError(400, `embeddings are not supported by this backend (${lease.backend.kind})`, 'unsupported_endpoint', 'model');
          return { ...(await lease.backend.embed(texts, signal)), model: lease.spec.name };
        } finally {
          lease.release();
        }
      } catch (e) {
        lastErr = e;
        const st = e instanceof BackendError ? e.status : 500;
        if (plan.policy === 'fallback' && i < targets.length - 1 && (st >= 500 || st === 429 || st === 404)) continue;
        throw e;
      }
    }
    throw lastErr;
  }

  /** Every servable name: active deployments, routes, registered models (not the ones deploy registered for itself). */
  async listModels(): Promise<Array<{ id: string; created: number; owned_by: string; kind: string }>> {
    const out: Array<{ id: string; created: number; owned_by: string; kind: string }> = [];
    const seen = new Set<string>();
    for (const d of await this.store.deployments.list()) {
      if (d.status !== 'active') continue;
      seen.add(d.name);
      out.push({ id: d.name, created: d.created_at, owned_by: 'modelfab', kind: 'deployment' });
    }
    for (const r of await this.store.routes.list()) {
      if (seen.has(r.name)) continue;
      seen.add(r.name);
      out.push({ id: r.name, created: r.created_at, owned_by: 'modelfab', kind: 'route' });
    }
    for (const m of await this.store.models.list()) {
      if (seen.has(m.name) || m.name.endsWith('@model')) continue;
      out.push({ id: m.name, created: m.created_at, owned_by: m.owned_by, kind: 'model' });
    }
    return out;
  }

  /** Loads and warms every active deployment that asks for it (server start). Errors are logged, not thrown. */
  async warmDeployments(): Promise<void> {
    for (const d of await this.store.deployments.list()) {
      if (d.status !== 'active' || !parseSettings(d.settings).warm) continue;
      try {
        const p = await this.plan(d.name);
        for (const s of p.targets) if (s) await this.servedFor(s).ready;
      } catch (e) {
        this.log('warm-up failed', { model: d.name, error: (e as Error).message });
      }
    }
  }

  /** Loads and warms one name now (deploy), waiting until it serves. */
  async warmUp(name: string): Promise<void> {
    this.resolved.delete(name);
    const p = await this.plan(name);
    for (const s of p.targets) {
      if (!s) continue;
      const sv = this.servedFor(s);
      await sv.ready;
      const next = this.nextServed.get(name);
      if (next) await next.ready;
    }
  }

  status(): { loaded: Array<{ backend: string; kind: string; inflight: number; memory_bytes: number; last_used: number }>; memory_budget_bytes: number } {
    return {
      loaded: [...this.loaded.values()].map((l) => ({ backend: l.key, kind: l.kind, inflight: l.inflight, memory_bytes: l.memory, last_used: Math.floor(l.lastUsed / 1000) })),
      memory_budget_bytes: this.budget,
    };
  }

  /** Waits for requests in flight (up to `graceMs`), then unloads everything. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    const until = Date.now() + graceMs;
    while ([...this.loaded.values()].some((l) => l.inflight > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    await Promise.allSettled([...this.loading.values()]);
    for (const l of [...this.loaded.values()]) await this.unload(l, 'shutdown');
  }
}
