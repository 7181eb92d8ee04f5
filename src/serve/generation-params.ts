/**
 * From a validated OpenAI request (src/openai/chat-requests.ts) to the generation parameters of one backend call:
 * what the request leaves out comes from its preset (the request's, else the deployment's), and max_tokens is
 * checked against what the deployment allows. Serving-specific, so it lives here rather than in the protocol layer.
 */
import type { ChatRequest, SamplingIn } from '../openai/wire-types.ts';
import type { GenerateParams, PromptInput } from './model-backend.ts';
import { PRESETS, ServeError, type DeploymentSettings } from './deployments.ts';

/** Fills what the request left out from the preset (request's, else the deployment's) and checks max_tokens. */
export function toGenerateParams(r: SamplingIn, prompt: PromptInput, settings: DeploymentSettings, seedOffset = 0): GenerateParams {
  const preset = PRESETS[r.preset ?? settings.preset];
  if (r.maxTokens !== undefined && r.maxTokens > settings.maxTokensLimit) {
    throw new ServeError(400, `Invalid 'max_tokens': ${r.maxTokens} is more than this deployment allows (${settings.maxTokensLimit}).`, 'invalid_value', 'max_tokens');
  }
  return {
    prompt, maxTokens: r.maxTokens ?? settings.maxTokensLimit,
    temperature: r.temperature ?? preset.temperature,
    topP: r.topP ?? (r.temperature !== undefined ? 1 : preset.top_p),
    topK: r.topK ?? (r.temperature !== undefined ? 0 : preset.top_k),
    seed: r.seed !== undefined ? r.seed + seedOffset : undefined,
    stop: r.stop, presencePenalty: r.presencePenalty, frequencyPenalty: r.frequencyPenalty, json: r.json, logprobs: r.logprobs,
    ...('tools' in r && (r as ChatRequest).tools ? { tools: (r as ChatRequest).tools, toolChoice: (r as ChatRequest).toolChoice, parallelToolCalls: (r as ChatRequest).parallelToolCalls } : {}),
  };
}
