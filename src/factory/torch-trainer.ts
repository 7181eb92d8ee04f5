/**
 * The factory's side of the PyTorch trainer (trainers/torch/, `python -m modelfab_torch <outputDir>/job.json`).
 *
 * Owns: which python runs it (`MODELFAB_TORCH_PYTHON`, else `<repo>/.venv-torch/bin/python`), whether that python
 * can import the trainer (`--info`, probed once per python and kept), the command the local runner spawns, the
 * Hugging Face folder an engine or GGUF base becomes before launch (converted once, cached under
 * `<data>/hf-cache/<hash>/`), and the result's import back into an engine model folder the gateway serves.
 * The GPUs of this machine come from `nvidia-smi` when it exists.
 *
 * Guarantees: a torch job is refused at submission, with the reason and the command that installs the trainer,
 * when the python is missing or cannot import modelfab_torch, or when the trainer does not run the stage or method
 * (its --info lists them): never queued to fail later. A cached HF folder is keyed by the base's files (names,
 * sizes, modification times), built in a temporary folder and renamed into place, so a half-written cache is never
 * used and a changed base is converted again.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, readModelInfo, saveAdapter, saveModel } from '../engine/io.ts';
import { LlamaModel } from '../engine/llama-model.ts';
import { CHAT_TEMPLATES } from '../engine/tokenizer/chat-template.ts';
import type { Tokenizer } from '../engine/tokenizer/tokenizer.ts';
import { exportModel, importModel } from '../model-files/model-files.ts';
import { readModelFolder } from '../model-files/hf-folder.ts';
import { applyLoraAdapter } from '../model-files/gguf-model.ts';
import { applyPromptLearning, importPeftLora, importPeftPromptLearning } from '../model-files/peft.ts';
import { isInside } from '../store/paths.ts';
import { packingRefusal, type BaseModelRef } from './job-spec.ts';
import { hfCacheRoot, touchHfCacheEntry } from './hf-cache.ts';

export type TrainerName = 'engine' | 'torch';
export const TRAINERS: readonly TrainerName[] = ['engine', 'torch'];
export const PRECISIONS = ['fp32', 'bf16', 'fp16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** How to install the trainer, as every refusal says it. */
export const TORCH_INSTALL_HINT = 'install it with `bash trainers/torch/setup-venv.sh` (creates .venv-torch/), or set MODELFAB_TORCH_PYTHON to a python that can import modelfab_torch';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The python that runs the torch trainer: `MODELFAB_TORCH_PYTHON`, else the repository's `.venv-torch`. */
export function torchPython(env: NodeJS.ProcessEnv = process.env, repoRoot = REPO_ROOT): string {
  const given = env.MODELFAB_TORCH_PYTHON?.trim();
  return given ? resolve(given) : join(repoRoot, '.venv-torch', 'bin', 'python');
}

/**
 * The trainer's command line for a job.json argument (relative to the working directory, the data folder); several
 * processes start through torchrun (`python -m torch.distributed.run`, the same launcher as the `torchrun` script).
 */
export function torchCommand(python: string, jobArg: string, processes = 1): { command: string; args: string[] } {
  if (processes <= 1) return { command: python, args: ['-m', 'modelfab_torch', jobArg] };
  return { command: python, args: ['-m', 'torch.distributed.run', '--standalone', `--nproc_per_node=${processes}`, '-m', 'modelfab_torch', jobArg] };
}

/** What `python -m modelfab_torch --info` prints. */
export interface TorchInfo {
  trainer: 'torch';
  torch: string;
  transformers: string;
  peft: string;
  cuda: string | null;
  devices: Array<{ index: number; name: string; memory_mb: number }>;
  methods: string[];
  stages: string[];
  /** The job spec's options it runs (absent from older trainers: not checked before launch). */
  precisions?: string[];
  packing?: boolean;
  /** How several processes share a job ('ddp', 'fsdp'); absent from older trainers. */
  strategies?: string[];
  gradient_checkpointing?: boolean;
}

export type TorchProbe = { ok: true; python: string; info: TorchInfo } | { ok: false; python: string; reason: string };

/** Parses --info's output: its last non-empty line is one JSON object. */
export function parseTorchInfo(stdout: string): TorchInfo | null {
  const line = stdout.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
  if (!line) return null;
  try {
    const v = JSON.parse(line) as Partial<TorchInfo>;
    if (v.trainer !== 'torch' || typeof v.torch !== 'string' || !Array.isArray(v.methods) || !Array.isArray(v.stages)) return null;
    return { devices: [], cuda: null, ...v } as TorchInfo;
  } catch {
    return null;
  }
}

/** What one `--info` run ended as. */
function probeOutcome(python: string, r: { error?: Error; status: number | null; signal?: string | null; stdout: string; stderr: string }): TorchProbe {
  if (r.error && r.status === null) return { ok: false, python, reason: `${python} could not be run: ${r.error.message}` };
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || '').trim().split('\n').filter(Boolean).at(-1) ?? `exit ${r.status ?? r.signal}`;
    return { ok: false, python, reason: `${python} cannot run modelfab_torch (${why.slice(0, 300)})` };
  }
  const info = parseTorchInfo(r.stdout);
  return info ? { ok: true, python, info } : { ok: false, python, reason: `${python} -m modelfab_torch --info printed no trainer description` };
}

const INFO_ARGS = ['-m', 'modelfab_torch', '--info'];

/** Runs `--info` without blocking the event loop (importing torch takes seconds): the CLI and the server ask alike. */
export function probeTorch(python: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000): Promise<TorchProbe> {
  if (!existsSync(python)) return Promise.resolve({ ok: false, python, reason: `no python at ${python}` });
  return new Promise((done) => {
    execFile(python, INFO_ARGS, { encoding: 'utf8', env: { ...env, HF_HUB_OFFLINE: '1' }, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
      done(probeOutcome(python, { error: error ?? undefined, status: code, signal: error?.signal ?? null, stdout, stderr }));
    });
  });
}

/** The torch trainer of one process: its python and, once asked, what it can run. */
export class TorchTrainer {
  private probed: Promise<TorchProbe> | null = null;
  constructor(readonly python: string, private readonly env: NodeJS.ProcessEnv = process.env) {}

  /**
   * A successful probe is kept; a failed one is asked again next time (the venv may have been installed since).
   * Callers at the same moment share one run.
   */
  async probe(): Promise<TorchProbe> {
    const mine = this.probed ?? probeTorch(this.python, this.env);
    this.probed = mine;
    const p = await mine;
    if (!p.ok && this.probed === mine) this.probed = null;
    return p;
  }

  /** Why this job cannot run on the torch trainer, or null. */
  async refusal(stage: string, method: string, o: TorchOptionsAsked = {}): Promise<string | null> {
    const p = await this.probe();
    if (!p.ok) return `the torch trainer is not installed: ${p.reason}; ${TORCH_INSTALL_HINT}`;
    return torchRefusal(p.info, stage, method, o);
  }
}

/** The trainer options a job asks for, as torchRefusal checks them. */
export interface TorchOptionsAsked { precision?: string; packing?: boolean; gradientCheckpointing?: boolean; strategy?: string }

/** Why a job with this stage, method and options cannot run on a trainer that describes itself as `info`, or null. */
export function torchRefusal(info: TorchInfo, stage: string, method: string, o: TorchOptionsAsked = {}): string | null {
  if (!info.stages.includes(stage)) return `the torch trainer does not run stage ${stage} yet (it runs ${info.stages.join(', ')}); use trainer engine`;
  if (!info.methods.includes(method)) return `the torch trainer does not run method ${method} yet (it runs ${info.methods.join(', ')}); use trainer engine`;
  if (o.precision && info.precisions && !info.precisions.includes(o.precision)) return `the torch trainer does not train in ${o.precision} yet (it trains in ${info.precisions.join(', ')})`;
  if (o.packing && info.packing === false) return 'the torch trainer does not pack sequences yet';
  const packingWhy = o.packing ? packingRefusal(stage, method) : null;
  if (packingWhy) return packingWhy;
  if (o.gradientCheckpointing && info.gradient_checkpointing === false) return 'the torch trainer does not do gradient checkpointing yet';
  if (o.strategy && o.strategy !== 'ddp' && info.strategies && !info.strategies.includes(o.strategy)) return `the torch trainer does not run strategy ${o.strategy} yet (it runs ${info.strategies.join(', ')})`;
  if (o.strategy === 'fsdp' && (method === 'prefix' || method === 'prompt')) return `strategy fsdp does not shard ${method} tuning (PEFT's prompt encoder lives outside the decoder layers); use ddp`;
  if (o.strategy === 'fsdp' && o.precision === 'fp16') return 'strategy fsdp does not train in fp16 (the loss scaler would see one shard\'s overflows); use bf16';
  if (o.gradientCheckpointing && method === 'prefix') return 'gradient checkpointing does not work with prefix tuning (its prefix lives in the attention cache, which a recomputed layer would extend twice); use LoRA or turn it off';
  return null;
}

// ------------------------------------------------------------------------------------------------ GPUs

export interface GpuInfo { index: number; name: string; memoryMB: number }

/** `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits` lines. */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  const out: GpuInfo[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(',').map((s) => s.trim());
    if (parts.length < 3) continue;
    const index = Number(parts[0]), memoryMB = Number(parts.at(-1));
    if (!Number.isInteger(index) || !Number.isFinite(memoryMB)) continue;
    out.push({ index, name: parts.slice(1, -1).join(','), memoryMB });
  }
  return out;
}

/** This machine's NVIDIA GPUs, or null when nvidia-smi is not there (or fails). */
export function nvidiaGpus(): GpuInfo[] | null {
  const r = spawnSync('nvidia-smi', ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) return null;
  return parseNvidiaSmi(r.stdout);
}

// ------------------------------------------------------------------------------------------------ bases

/** Names, sizes and modification times of a file or of a folder's files: what the cache key is made of. */
function fingerprint(path: string): string {
  const h = createHash('sha256').update(resolve(path));
  const st = statSync(path);
  if (!st.isDirectory()) return h.update(`${st.size}:${st.mtimeMs}`).digest('hex').slice(0, 20);
  for (const f of readdirSync(path).sort()) {
    const s = statSync(join(path, f));
    if (s.isFile()) h.update(`\0${f}:${s.size}:${s.mtimeMs}`);
  }
  return h.digest('hex').slice(0, 20);
}

/** A known chat template name, or undefined (an engine folder or HF folder may carry a Jinja text instead). */
export function templateName(t: string | undefined): string | undefined {
  return t && Object.hasOwn(CHAT_TEMPLATES, t) ? t : undefined;
}

export interface HfBase {
  /** The Hugging Face folder the torch trainer is given. */
  path: string;
  /** The base's chat template name, when it has one the engine knows (the trainer's default otherwise). */
  chatTemplate?: string;
}

/**
 * The HF folder of a base: an HF folder as it is; an engine folder (a full model, or an adapter merged into its
 * base) or a GGUF file exported once into `<dataDir>/hf-cache/<hash>/`. Throws with the reason when the base
 * cannot be expressed as one (prefix or prompt tuning adapters).
 */
export function hfBaseFor(dataDir: string, base: BaseModelRef): HfBase {
  if (base.kind === 'hf') return { path: base.path };
  if (base.kind === 'scratch' || base.kind === 'dual-encoder') throw new Error('a base made from scratch is trained by the engine (pretraining, retrievers); the torch trainer needs a model');
  const src = resolve(dataDir, base.path);
  if (!existsSync(src)) throw new Error(`base model ${base.path} does not exist`);
  let chatTemplate: string | undefined;
  if (base.kind === 'engine') chatTemplate = templateName(readModelInfo(src).chatTemplate);
  const dest = join(hfCacheRoot(dataDir), fingerprint(src));
  if (existsSync(join(dest, 'config.json'))) {
    touchHfCacheEntry(dest);
    return { path: dest, ...(chatTemplate ? { chatTemplate } : {}) };
  }
  let model: LlamaModel, tokenizer: Tokenizer;
  if (base.kind === 'engine') {
    const loaded = loadModel(src);
    model = loaded.model;
    tokenizer = loaded.tokenizer;
    if (model.prefix || model.prompt) throw new Error(`${base.path} is a ${model.method.type}-tuned adapter: it cannot be folded into weights for the torch trainer; train it further with the engine`);
  } else {
    const imp = importModel(src);
    model = LlamaModel.fromTensors(imp.config, imp.tensors);
    tokenizer = imp.tokenizer;
    chatTemplate = templateName(imp.chatTemplate);
  }
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(dest), { recursive: true });
  exportModel(model, tokenizer, { format: 'hf', path: tmp, ...(model.lora.size ? { lora: 'merge' as const } : {}) });
  touchHfCacheEntry(tmp);
  rmSync(dest, { recursive: true, force: true });
  renameSync(tmp, dest);
  return { path: dest, ...(chatTemplate ? { chatTemplate } : {}) };
}

// ------------------------------------------------------------------------------------------------ results

/** What the factory needs of a succeeded torch job's manifest. */
export interface TorchResult {
  /** model/ resolved: an HF folder or a PEFT adapter. */
  modelDir: string;
  format: 'hf' | 'peft';
  chatTemplate?: string;
  /** The job's original base (before conversion): an adapter's engine folder is made over it. */
  base: BaseModelRef;
  meta: Record<string, unknown>;
}

/**
 * Imports a torch result into an engine model folder at `dest` (what the gateway serves): an HF folder as a full
 * model; a PEFT LoRA or prompt adapter as an engine adapter over the engine base it was trained from (named
 * relative to `dest` when both are inside the data folder). Over a base no engine folder holds as the trainer saw it
 * (a GGUF or HF file, or a fine-tune merged for training), a LoRA is merged into a full model, and a prefix or prompt
 * adapter (virtual tokens cannot be merged) carries that base in `<dest>/base/`.
 * Returns the folder and, for an adapter, the base folder it applies to.
 */
export function importTorchResult(dataDir: string, r: TorchResult, dest: string): { dir: string; kind: 'model' | 'adapter'; basePath?: string } {
  const extra = { meta: r.meta, ...(templateName(r.chatTemplate) ? { chatTemplate: r.chatTemplate } : {}) };
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const finish = () => { rmSync(dest, { recursive: true, force: true }); renameSync(tmp, dest); };
  if (r.format === 'hf') {
    const imp = importModel(r.modelDir);
    saveModel(tmp, LlamaModel.fromTensors(imp.config, imp.tensors), imp.tokenizer, extra);
    finish();
    return { dir: dest, kind: 'model' };
  }
  const engineBase = r.base.kind === 'engine' ? resolve(dataDir, r.base.path) : null;
  const loaded = engineBase ? loadModel(engineBase) : (() => {
    const imp = importModel(resolve(dataDir, 'path' in r.base ? r.base.path : ''));
    return { model: LlamaModel.fromTensors(imp.config, imp.tensors), tokenizer: imp.tokenizer };
  })();
  const model = loaded.model;
  if (model.method.type !== 'full') {
    // an adapter base (a fine-tune trained further) was merged before export: merge it here too, as the trainer saw it
    model.mergeAdapter();
  }
  const files = readModelFolder(r.modelDir);
  const cfgBytes = files('adapter_config.json');
  const peftType = cfgBytes ? (JSON.parse(new TextDecoder().decode(cfgBytes)) as { peft_type?: string }).peft_type : undefined;
  const engineFullBase = engineBase && readModelInfo(engineBase).base === undefined ? engineBase : null;
  let adapterBase: string | null = null, ref = '';
  if (engineFullBase) {
    adapterBase = engineFullBase;
    ref = isInside(resolve(dataDir), adapterBase) && isInside(resolve(dataDir), resolve(dest)) ? relative(resolve(dest), adapterBase).split(sep).join('/') : adapterBase;
  } else if (peftType !== 'LORA') {
    // virtual tokens cannot be folded into weights: no engine folder holds this base (a GGUF or HF file, or a
    // fine-tune merged for training), so the result carries it, as the trainer saw it, in <dest>/base/
    saveModel(join(tmp, 'base'), model, loaded.tokenizer, templateName(r.chatTemplate) ? { chatTemplate: r.chatTemplate } : {});
    adapterBase = join(resolve(dest), 'base');
    ref = 'base';
  }
  if (peftType === 'LORA') applyLoraAdapter(model, importPeftLora(files, model.config));
  else applyPromptLearning(model, importPeftPromptLearning(files, model.config));
  if (adapterBase) {
    saveAdapter(tmp, model, ref, extra);
    finish();
    return { dir: dest, kind: 'adapter', basePath: adapterBase };
  }
  model.mergeAdapter();
  saveModel(tmp, model, loaded.tokenizer, extra);
  finish();
  return { dir: dest, kind: 'model' };
}
