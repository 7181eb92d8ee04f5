/**
 * Engine model folders -> files llama.cpp serves, once: a full model becomes a GGUF file, a LoRA adapter folder
 * becomes its base's GGUF (shared by every adapter of that base) plus a GGUF adapter file. Files are cached under
 * `<cacheDir>/<sha256 of the folder's files and the weight type>.gguf` (adapters `.lora.gguf`), written
 * atomically, so a second deployment of the same folder (or a restart) reuses them, and a changed folder gets a new
 * file name (node-llama-cpp caches adapters by path).
 *
 * Prefix- and prompt-tuned folders cannot be expressed in GGUF: `materializeEngineModel` answers `{engineOnly}` and
 * the gateway serves them with the engine backend.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CHAT_TEMPLATES } from '../engine/tokenizer/chat-template.ts';
import { Tokenizer, type TokenizerJSON } from '../engine/tokenizer/tokenizer-exports.ts';
import { fallbackTemplate } from './prompt.ts';
import { loadModel, readModelInfo } from '../engine/io.ts';
import { exportGgufLora, exportGgufModel } from '../model-files/gguf-model.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';

export type GgufExportType = 'F32' | 'F16';

export type Materialized =
  | { kind: 'gguf'; path: string; chatTemplate: string | null }
  | { kind: 'adapter'; basePath: string; adapterPath: string; chatTemplate: string | null }
  | { kind: 'engine-only'; reason: string; chatTemplate: string | null };

/** sha256 over a folder's model files (modelfab.json, model.safetensors, tokenizer.json when present). */
export function folderHash(dir: string, salt: string): string {
  const h = createHash('sha256').update(salt);
  for (const f of ['modelfab.json', 'model.safetensors', 'tokenizer.json']) {
    const p = join(dir, f);
    if (existsSync(p)) h.update(f).update(readFileSync(p));
  }
  return h.digest('hex').slice(0, 32);
}

function baseChatTemplate(dir: string): string | null {
  const info = readModelInfo(dir);
  if (info.chatTemplate) return info.chatTemplate;
  return info.base ? baseChatTemplate(resolve(dir, info.base)) : null;
}

/** The folder's chat template: recorded (here or in its base), else the rule every backend shares. */
function chatTemplateOf(dir: string): string {
  const recorded = baseChatTemplate(dir);
  if (recorded) return recorded;
  let d = dir;
  for (let info = readModelInfo(d); info.base; info = readModelInfo(d)) d = resolve(d, info.base);
  return fallbackTemplate(Tokenizer.fromJSON(JSON.parse(readFileSync(join(d, 'tokenizer.json'), 'utf8')) as TokenizerJSON));
}

/** Exports (or finds cached) GGUF files for an engine model folder. */
export function materializeEngineModel(dir: string, cacheDir: string, weightType: GgufExportType = 'F16'): Materialized {
  const info = readModelInfo(dir);
  const chatTemplate = chatTemplateOf(dir);
  mkdirSync(cacheDir, { recursive: true });
  if (info.base) {
    const type = info.method?.type;
    if (type !== 'lora' && type !== 'qlora') return { kind: 'engine-only', reason: `a ${type ?? 'unknown'}-tuned adapter cannot be expressed in GGUF for llama.cpp`, chatTemplate };
    const baseDir = resolve(dir, info.base);
    const base = materializeEngineModel(baseDir, cacheDir, weightType);
    if (base.kind !== 'gguf') return { kind: 'engine-only', reason: `its base ${baseDir} cannot be exported to GGUF`, chatTemplate };
    // salted with the base's file name (itself a hash of the base), not its path, so a moved data folder reuses it
    const adapterPath = join(cacheDir, `${folderHash(dir, `lora:${basename(base.path)}`)}.lora.gguf`);
    if (!existsSync(adapterPath)) {
      const { model } = loadModel(dir);
      writeFileAtomic(adapterPath, exportGgufLora(model, {}));
    }
    return { kind: 'adapter', basePath: base.path, adapterPath, chatTemplate };
  }
  const path = join(cacheDir, `${folderHash(dir, `model:${weightType}`)}.gguf`);
  if (!existsSync(path)) {
    const { model, tokenizer } = loadModel(dir);
    if (model.prefix || model.prompt) return { kind: 'engine-only', reason: 'prefix/prompt tuning cannot be expressed in GGUF', chatTemplate };
    const jinja = chatTemplate && chatTemplate in CHAT_TEMPLATES ? CHAT_TEMPLATES[chatTemplate as keyof typeof CHAT_TEMPLATES].jinja : undefined;
    writeFileAtomic(path, exportGgufModel(model, tokenizer, { weightType, chatTemplate: jinja, lora: model.lora.size ? 'merge' : undefined }));
  }
  return { kind: 'gguf', path, chatTemplate };
}
