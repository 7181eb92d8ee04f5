/**
 * One entry point from a model reference to a Target, for the CLI and the factory:
 *   <folder with modelfab.json>          the engine (full model or adapter folder)
 *   <file>.gguf                          llama.cpp (adapters: `adapters` option)
 *   openai:<baseURL>#<model>             an OpenAI-compatible endpoint (also http(s)://...#<model>);
 *                                        append `?logprobs=1` to the base URL's fragment side: openai:URL#model?logprobs=1
 * Guarantees: an unknown reference is an error naming the accepted forms; an endpoint gets a key only when the
 * caller passes one (`apiKey`): no secret of the process (environment) is sent to a URL by default.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Target } from '../bench-types.ts';
import type { AdapterSpec } from '../../serve/llama/llama-cpp.ts';

export interface OpenTargetOptions {
  /** Parallel sequences (llama.cpp) or requests in flight (endpoints). */
  parallel?: number;
  threads?: 1 | 2;
  contextSize?: number;
  adapters?: AdapterSpec[];
  chatTemplate?: string;
  /** Sent to the endpoint as a bearer token; only the caller decides (nothing from the environment). */
  apiKey?: string;
  name?: string;
}

export async function openTarget(ref: string, o: OpenTargetOptions = {}): Promise<Target> {
  const m = /^(?:openai:)?(https?:\/\/[^#]+)#([^?]+)(?:\?(.*))?$/.exec(ref);
  if (m) {
    const { OpenAITarget } = await import('./openai-target.ts');
    const q = new URLSearchParams(m[3] ?? '');
    return new OpenAITarget({ baseURL: m[1], model: m[2], logprobs: q.get('logprobs') === '1' || q.get('logprobs') === 'true', mode: q.get('mode') === 'chat' ? 'chat' : 'auto', parallel: o.parallel, apiKey: o.apiKey, name: o.name });
  }
  if (existsSync(ref) && statSync(ref).isDirectory() && existsSync(join(ref, 'modelfab.json'))) {
    const { EngineTarget } = await import('./engine.ts');
    return EngineTarget.load(ref, { chatTemplate: o.chatTemplate, name: o.name });
  }
  if (existsSync(ref) && ref.toLowerCase().endsWith('.gguf')) {
    const { LlamaTarget } = await import('./llama.ts');
    return LlamaTarget.load(ref, { parallel: o.parallel, threads: o.threads, contextSize: o.contextSize, adapters: o.adapters, chatTemplate: o.chatTemplate, name: o.name });
  }
  throw new Error(`model ${ref}: expected an engine model folder (with modelfab.json), a .gguf file, or openai:<http(s)://base/v1>#<model>`);
}
