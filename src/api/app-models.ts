/**
 * Model calls of the apps on the factory (Magic Writer, Emoti Coach): one generation by a model the caller's key
 * may use, through the gateway (presets, limits, routes and fallbacks as for /v1/chat/completions), under the
 * model's guard policy (input: the last user message; output: the whole text), counted in the key's usage and
 * written to the request log with the app as its source, so feedback by response id works on app answers too.
 *
 * The route admits the request once (`KeyPolicy.admit`: rate limit, quota); each call here checks the model scope.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { ApiKeyRow } from '../store/store.ts';
import type { Gateway } from '../serve/gateway.ts';
import { keyAllowsModel, type KeyPolicy } from '../serve/api-keys.ts';
import { ServeError } from '../serve/deployments.ts';
import { toGenerateParams } from '../serve/generation-params.ts';
import { parseChatRequest } from '../openai/chat-requests.ts';
import type { GuardRuntime } from '../control/guard-runtime.ts';
import type { ResponseSource } from '../control/request-log.ts';

export interface AppModelDeps {
  gateway: Gateway;
  policy: KeyPolicy;
  guard?: GuardRuntime;
  /** Log every answer (default true). */
  log?: boolean;
}

export interface AppMessage { role: 'system' | 'user' | 'assistant'; content: string }

export interface AppGeneration {
  text: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** The id of the answer in the request log (feedback names it). */
  responseId: string;
  /** The guard refused the input or the output: `text` is its message. */
  refused: boolean;
}

export type AppGenerate = (model: string, messages: AppMessage[], o: { maxTokens?: number; temperature?: number; json?: boolean; signal?: AbortSignal }, onText?: (t: string) => void) => Promise<AppGeneration>;

/** 403 unless the key may use the model. */
export function checkAppModel(key: ApiKeyRow, model: string): void {
  if (!keyAllowsModel(key, model)) throw new ServeError(403, `This API key is not allowed to use the model '${model}'.`, 'model_not_allowed', 'model');
}

/**
 * The generate function of one request of `source`. With a guard on the model, `onText` receives the whole text
 * once checked (the output check needs all of it); without one, the text as it is made.
 */
export function appGenerate(d: AppModelDeps, key: ApiKeyRow, source: ResponseSource, log: FastifyBaseLogger): AppGenerate {
  return async (model, messages, o, onText) => {
    checkAppModel(key, model);
    const id = `${source}-${randomBytes(12).toString('base64url')}`;
    const guard = d.guard ? await d.guard.load(await d.gateway.guardsOf(model)) : null;
    let conv = messages;
    let promptTokens = 0, completionTokens = 0, served = model, error = true;
    try {
      const ui = conv.map((m) => m.role).lastIndexOf('user');
      if (guard && ui >= 0) {
        const g = await guard.input(conv[ui]!.content);
        if (g.refused) {
          const text = g.message ?? '';
          onText?.(text);
          error = false;
          await record(text);
          return { text, model, promptTokens: 0, completionTokens: 0, responseId: id, refused: true };
        }
        conv = conv.map((m, i) => (i === ui ? { ...m, content: g.text } : m));
      }
      const q = parseChatRequest({ model, messages: conv, ...(o.temperature !== undefined ? { temperature: o.temperature } : {}) });
      let text = '';
      const res = await d.gateway.generate(model, (spec) => {
        const p = toGenerateParams(q, { kind: 'chat', messages: conv }, spec.settings);
        return { ...p, maxTokens: Math.min(o.maxTokens ?? p.maxTokens, spec.settings.maxTokensLimit), ...(o.json ? { json: 'json' as const } : {}) };
      }, { onText: (t) => { text += t; if (!guard) onText?.(t); } }, { signal: o.signal });
      promptTokens = res.promptTokens;
      completionTokens = res.completionTokens;
      served = res.model;
      let refused = false;
      if (guard) {
        const g = await guard.output(text, ui >= 0 ? { question: conv[ui]!.content } : {});
        refused = g.refused;
        text = g.refused ? g.message ?? '' : g.text;
        onText?.(text);
      }
      error = false;
      await record(text);
      return { text, model: served, promptTokens, completionTokens, responseId: id, refused };
    } finally {
      d.policy.record(key.id, served, promptTokens, completionTokens, error);
    }

    async function record(answer: string): Promise<void> {
      if (!d.guard || d.log === false) return;
      await d.guard.record({ id, model: served, source, keyId: key.id, prompt: conv, answer, guard }, (e) => log.error({ err: e }, 'request log write failed'));
    }
  };
}
