/**
 * The engine's own model folder: what the trainer writes and reads back without any conversion.
 *
 *   <dir>/modelfab.json      {format: "modelfab-engine", version: 1, config: LlamaConfig, method?: MethodSpec,
 *                             chatTemplate?: string, base?: string (folder of the base model, for method-only folders;
 *                             relative to this folder when written so, so the two can move together)}
 *   <dir>/model.safetensors  F32 tensors under GGUF names: every base tensor (full models), or only the method's
 *                            tensors (LoRA pairs, prefixes, soft prompt: adapter folders)
 *   <dir>/tokenizer.json     the engine tokenizer (TokenizerJSON), in full-model folders
 *
 * Every file is written atomically; a folder is complete once modelfab.json exists (it is written last).
 * Conversions to GGUF, Hugging Face and PEFT live in src/model-files/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeSafetensors, encodeSafetensors, tensorToF32 } from '../formats/safetensors.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { validateConfig, type LlamaConfig } from './config.ts';
import { LlamaModel } from './llama-model.ts';
import type { MethodSpec } from './methods.ts';
import { Tokenizer, type TokenizerJSON } from './tokenizer/tokenizer-exports.ts';

export interface EngineModelInfo {
  format: 'modelfab-engine';
  version: 1;
  config: LlamaConfig;
  method?: MethodSpec;
  chatTemplate?: string;
  base?: string;
  /** Free-form facts about how it was made (steps, eval loss, ...). */
  meta?: Record<string, unknown>;
}

function writeTensors(file: string, tensors: Array<{ name: string; shape: readonly number[]; data: Float32Array }>): void {
  writeFileAtomic(file, encodeSafetensors(tensors.map((t) => ({ name: t.name, dtype: 'F32', shape: [...t.shape], data: t.data }))));
}

/** A safetensors file as float32 arrays by name (any stored float dtype converted). */
export function readTensors(file: string): Map<string, Float32Array> {
  if (!existsSync(file)) throw new Error(`${file}: not found`);
  const dec = decodeSafetensors(new Uint8Array(readFileSync(file)));
  const out = new Map<string, Float32Array>();
  for (const [name, t] of dec.tensors) out.set(name, tensorToF32(t, `${file}: ${name}`));
  return out;
}

/** Saves a full model (base weights, no method) with its tokenizer. */
export function saveModel(dir: string, model: LlamaModel, tokenizer: Tokenizer, extra: Partial<EngineModelInfo> = {}): void {
  mkdirSync(dir, { recursive: true });
  // Matrices held in bf16 are written widened (their values, as the model computes with them).
  writeTensors(join(dir, 'model.safetensors'), [...model.params.values()].map((t) => ({ name: t.name, shape: t.shape, data: model.half.get(t.name)?.toFloat() ?? t.data })));
  writeFileAtomic(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()));
  const info: EngineModelInfo = { ...extra, format: 'modelfab-engine', version: 1, config: model.config };
  writeFileAtomic(join(dir, 'modelfab.json'), JSON.stringify(info, null, 2));
}

/** Saves only what a method trained (LoRA pairs, prefixes, soft prompt), pointing at its base folder. */
export function saveAdapter(dir: string, model: LlamaModel, base: string, extra: Partial<EngineModelInfo> = {}): void {
  if (model.method.type === 'full' || model.method.type === 'freeze') throw new Error(`saveAdapter: a ${model.method.type} model has no adapter; use saveModel`);
  mkdirSync(dir, { recursive: true });
  writeTensors(join(dir, 'model.safetensors'), model.methodTensors().map((t) => ({ name: t.name, shape: t.shape, data: t.data })));
  const info: EngineModelInfo = { ...extra, format: 'modelfab-engine', version: 1, config: model.config, method: model.method, base };
  writeFileAtomic(join(dir, 'modelfab.json'), JSON.stringify(info, null, 2));
}

/** A model folder's modelfab.json, validated; `base` comes back absolute (a relative one resolved against `dir`). */
export function readModelInfo(dir: string): EngineModelInfo {
  const file = join(dir, 'modelfab.json');
  if (!existsSync(file)) throw new Error(`${dir}: not a modelfab model folder (no modelfab.json)`);
  let info: EngineModelInfo;
  try { info = JSON.parse(readFileSync(file, 'utf8')) as EngineModelInfo; } catch (e) { throw new Error(`${file}: invalid JSON (${(e as Error).message})`); }
  if (info.format !== 'modelfab-engine') throw new Error(`${file}: format must be "modelfab-engine", got ${JSON.stringify(info.format)}`);
  validateConfig(info.config);
  if (info.base !== undefined && (typeof info.base !== 'string' || !info.base)) throw new Error(`${file}: "base" must be the base model's folder`);
  return info.base ? { ...info, base: resolve(dir, info.base) } : info;
}

/** Loads a full model folder, or an adapter folder over its base (the method is re-applied, then its tensors loaded). */
export function loadModel(dir: string): { model: LlamaModel; tokenizer: Tokenizer; info: EngineModelInfo } {
  const info = readModelInfo(dir);
  if (info.base) {
    const base = loadModel(info.base);
    if (!info.method) throw new Error(`${dir}/modelfab.json: an adapter folder needs "method"`);
    base.model.applyMethod(info.method, 0);
    const tensors = readTensors(join(dir, 'model.safetensors'));
    for (const t of base.model.methodTensors()) {
      const src = tensors.get(t.name);
      if (!src) throw new Error(`${dir}/model.safetensors: tensor "${t.name}" is missing`);
      if (src.length !== t.size) throw new Error(`${dir}/model.safetensors: tensor "${t.name}" has ${src.length} values, expected ${t.size}`);
      t.data.set(src);
    }
    return { model: base.model, tokenizer: base.tokenizer, info };
  }
  const model = LlamaModel.fromTensors(info.config, readTensors(join(dir, 'model.safetensors')));
  const tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as TokenizerJSON);
  return { model, tokenizer, info };
}
