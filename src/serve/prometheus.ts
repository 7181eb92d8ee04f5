/**
 * Gateway metrics in Prometheus text format (0.0.4): requests by model, endpoint and status; request latency and
 * time-to-first-token histograms per model; prompt and completion token counters; completion tokens per second per
 * model (over the last 10 s); in-flight and queued requests per model; loaded backends and their memory.
 * Updates are O(1) per request (and per token only a counter increment); rendering walks the maps.
 *
 * Labels stay bounded: callers pass only names the gateway resolved (a request for a model it does not know counts
 * under `model="unknown"`); every label value is cut to `MAX_LABEL_CHARS` and escaped; past `MAX_MODELS` distinct
 * model labels, further names count under `model="other"`. The page cannot grow with what clients send.
 */

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

class Histogram {
  counts = new Array<number>(BUCKETS.length + 1).fill(0);
  sum = 0;
  n = 0;
  observe(v: number): void {
    let i = 0;
    while (i < BUCKETS.length && v > BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.n++;
  }
}

/** The label of requests whose model the gateway does not know. */
export const UNKNOWN_MODEL = 'unknown';
/** The label of models past `MAX_MODELS`. */
export const OTHER_MODEL = 'other';
/** The longest label value shown (longer ones are cut, with "…"). */
export const MAX_LABEL_CHARS = 128;
/** The most distinct model labels kept. */
export const MAX_MODELS = 1000;

/** At most `MAX_LABEL_CHARS` code points. */
function cut(s: string): string {
  if (s.length <= MAX_LABEL_CHARS) return s;
  const cps = [...s.slice(0, MAX_LABEL_CHARS * 2)];
  return cps.length > MAX_LABEL_CHARS ? cps.slice(0, MAX_LABEL_CHARS - 1).join('') + '…' : cps.join('');
}

/** A label value: at most `MAX_LABEL_CHARS` code points, escaped for the text format (backslash, quote, newline). */
export function labelValue(s: string): string {
  return cut(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
const esc = labelValue;

export interface GaugeSource {
  inflight(): Map<string, number>;
  queued(): Map<string, number>;
  loaded(): Array<{ key: string; kind: string; memoryBytes: number }>;
}

export class Metrics {
  private requests = new Map<string, number>();
  private latency = new Map<string, Histogram>();
  private ttft = new Map<string, Histogram>();
  private promptTokens = new Map<string, number>();
  private completionTokens = new Map<string, number>();
  /** per model: ring of [second, tokens] */
  private rate = new Map<string, { sec: number[]; n: number[] }>();
  source: GaugeSource | null = null;

  private models = new Set<string>();

  /** The label a model counts under: itself while fewer than `MAX_MODELS` names are known, else `other`. */
  private model(raw: string): string {
    const name = cut(raw);
    if (this.models.has(name)) return name;
    if (this.models.size >= MAX_MODELS) return OTHER_MODEL;
    this.models.add(name);
    return name;
  }

  request(name: string, endpoint: string, status: number, seconds: number): void {
    const model = this.model(name);
    const k = `model="${esc(model)}",endpoint="${esc(endpoint)}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
    let h = this.latency.get(model);
    if (!h) { h = new Histogram(); this.latency.set(model, h); }
    h.observe(seconds);
  }

  firstToken(name: string, seconds: number): void {
    const model = this.model(name);
    let h = this.ttft.get(model);
    if (!h) { h = new Histogram(); this.ttft.set(model, h); }
    h.observe(seconds);
  }

  tokens(name: string, prompt: number, completion: number): void {
    const model = this.model(name);
    this.promptTokens.set(model, (this.promptTokens.get(model) ?? 0) + prompt);
    this.completionTokens.set(model, (this.completionTokens.get(model) ?? 0) + completion);
    const s = Math.floor(Date.now() / 1000);
    let r = this.rate.get(model);
    if (!r) { r = { sec: new Array(10).fill(0), n: new Array(10).fill(0) }; this.rate.set(model, r); }
    const i = s % 10;
    if (r.sec[i] !== s) { r.sec[i] = s; r.n[i] = 0; }
    r.n[i] += completion;
  }

  private tokensPerSecond(model: string): number {
    const r = this.rate.get(model);
    if (!r) return 0;
    const now = Math.floor(Date.now() / 1000);
    let n = 0;
    for (let i = 0; i < 10; i++) if (r.sec[i] > now - 10) n += r.n[i];
    return n / 10;
  }

  render(): string {
    const out: string[] = [];
    const counter = (name: string, help: string, m: Map<string, number>, label = (k: string) => k) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [k, v] of m) out.push(`${name}{${label(k)}} ${v}`);
    };
    const hist = (name: string, help: string, m: Map<string, Histogram>) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const [model, h] of m) {
        let acc = 0;
        BUCKETS.forEach((b, i) => { acc += h.counts[i]; out.push(`${name}_bucket{model="${esc(model)}",le="${b}"} ${acc}`); });
        out.push(`${name}_bucket{model="${esc(model)}",le="+Inf"} ${h.n}`, `${name}_sum{model="${esc(model)}"} ${h.sum}`, `${name}_count{model="${esc(model)}"} ${h.n}`);
      }
    };
    counter('modelfab_requests_total', 'Inference requests by model, endpoint and HTTP status.', this.requests);
    hist('modelfab_request_duration_seconds', 'Inference request latency (to the last byte).', this.latency);
    hist('modelfab_time_to_first_token_seconds', 'Time from request to the first generated text.', this.ttft);
    counter('modelfab_prompt_tokens_total', 'Prompt tokens processed.', this.promptTokens, (k) => `model="${esc(k)}"`);
    counter('modelfab_completion_tokens_total', 'Completion tokens generated.', this.completionTokens, (k) => `model="${esc(k)}"`);
    out.push('# HELP modelfab_tokens_per_second Completion tokens per second over the last 10 s.', '# TYPE modelfab_tokens_per_second gauge');
    for (const m of this.rate.keys()) out.push(`modelfab_tokens_per_second{model="${esc(m)}"} ${this.tokensPerSecond(m)}`);
    if (this.source) {
      out.push('# HELP modelfab_inflight_requests Requests being generated.', '# TYPE modelfab_inflight_requests gauge');
      for (const [m, v] of this.source.inflight()) out.push(`modelfab_inflight_requests{model="${esc(m)}"} ${v}`);
      out.push('# HELP modelfab_queue_depth Requests waiting for a slot.', '# TYPE modelfab_queue_depth gauge');
      for (const [m, v] of this.source.queued()) out.push(`modelfab_queue_depth{model="${esc(m)}"} ${v}`);
      out.push('# HELP modelfab_loaded_backend_memory_bytes Estimated memory of each loaded backend.', '# TYPE modelfab_loaded_backend_memory_bytes gauge');
      for (const b of this.source.loaded()) out.push(`modelfab_loaded_backend_memory_bytes{backend="${esc(b.key)}",kind="${esc(b.kind)}"} ${b.memoryBytes}`);
    }
    return out.join('\n') + '\n';
  }
}
