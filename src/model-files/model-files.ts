/**
 * Model files by path: one entry point over the GGUF (gguf-model.ts), Hugging Face (hf.ts) and PEFT (peft.ts)
 * converters, for the CLI and the server.
 *
 *   importModel(path)            a .gguf file or an HF folder (config.json) -> ImportedModel (validated)
 *   exportModel(model, tok, o)   o.format 'gguf' (o.path a file) or 'hf' (o.path a folder)
 *   exportMethod(model, o)       what the model's fine-tuning method adds, in the formats that can carry it:
 *                                  LoRA           'gguf' (llama.cpp adapter file) or 'peft' (folder)
 *                                  prefix/prompt  'peft' only (GGUF cannot express them for llama.cpp)
 *                                  full/freeze    nothing to add: export the model itself
 * Errors are ModelFileError.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LlamaModel } from '../engine/llama-model.ts';
import type { Tokenizer } from '../engine/tokenizer/tokenizer.ts';
import { exportGgufLora, exportGgufModel, importGgufModel, readGgufFile, type GgufExportOptions } from './gguf-model.ts';
import { exportHfModel, importHfModel, readModelFolder, writeModelFolder, type HfExportOptions } from './hf-folder.ts';
import { exportPeftLora, exportPeftPromptLearning } from './peft.ts';
import { ModelFileError, type ImportedModel } from './llama-layout.ts';

export function importModel(path: string): ImportedModel {
  if (!existsSync(path)) throw new ModelFileError('MISSING_FILE', `${path} does not exist`);
  if (statSync(path).isDirectory()) {
    if (!existsSync(join(path, 'config.json'))) throw new ModelFileError('MISSING_FILE', `${path} is a folder without config.json (not a Hugging Face model folder)`);
    return importHfModel(readModelFolder(path));
  }
  readGgufFile(path); // structural check with a clear error before the full import
  return importGgufModel(readFileSync(path));
}

export type ExportModelOptions =
  | ({ format: 'gguf'; path: string } & GgufExportOptions)
  | ({ format: 'hf'; path: string } & HfExportOptions);

export function exportModel(model: LlamaModel, tokenizer: Tokenizer, o: ExportModelOptions): void {
  if (o.format === 'gguf') {
    const bytes = exportGgufModel(model, tokenizer, o);
    mkdirSync(dirname(o.path), { recursive: true });
    writeFileSync(o.path, bytes);
  } else {
    writeModelFolder(o.path, exportHfModel(model, tokenizer, o));
  }
}

export function exportMethod(model: LlamaModel, o: { format: 'gguf' | 'peft'; path: string; baseModelName?: string }): void {
  if (model.lora.size > 0) {
    if (o.format === 'gguf') {
      mkdirSync(dirname(o.path), { recursive: true });
      writeFileSync(o.path, exportGgufLora(model, { name: o.baseModelName }));
    } else {
      writeModelFolder(o.path, exportPeftLora(model, o));
    }
    return;
  }
  if (model.prefix || model.prompt) {
    if (o.format === 'gguf') throw new ModelFileError('UNSUPPORTED', `${model.prefix ? 'prefix' : 'prompt'} tuning cannot be expressed in GGUF for llama.cpp; use format 'peft'`);
    writeModelFolder(o.path, exportPeftPromptLearning(model, o));
    return;
  }
  throw new ModelFileError('UNSUPPORTED', `a ${model.method.type} fine-tuned model has no separate method tensors: export the model itself (exportModel)`);
}
