/**
 * The main job's last step: the leaderboard's best fine-tune for dialogue goes behind the OpenAI-compatible gateway under the
 * demo company's guard policy, and a client asks it three questions through the HTTP API (in process): a plain
 * one, one carrying a phone number (masked before the model sees it) and one the policy refuses. One answer is
 * marked by its response id (feedback that becomes DPO/SFT data); the request log shows what the guard did.
 */
import { readFileSync } from 'node:fs';
import type { ModelfabServer } from '../api/server.ts';
import { createKey } from '../serve/api-keys.ts';
import { deploy } from '../serve/deployments.ts';
import type { FineTuningJobObject } from '../factory/factory-service.ts';
import type { Leaderboard } from '../bench/leaderboard.ts';
import type { Reporter } from './reporter.ts';

/** The demo company's guard policy: personal data masked both ways, two banned requests, a competitor flagged. */
export const DEMO_GUARD_POLICY = {
  name: 'spruce-support',
  refusal_message: '抱歉，这个问题我无法回答。如需帮助请联系云杉智造客服 400-820-1234。Sorry, I can’t help with that.',
  checks: [
    { name: 'personal-data', kind: 'pii', action: 'rewrite' },
    { name: 'banned-requests', kind: 'keywords', stage: 'input', action: 'refuse', words: ['代开发票', '内幕消息', 'fake invoice'], message: '抱歉，云杉智造不提供此类服务。' },
    { name: 'competitors', kind: 'topics', stage: 'output', action: 'warn', topics: [{ name: 'competitors', keywords: ['极智机器人', 'RivalBot'] }] },
  ],
};

export interface ServeDemoResult {
  deployment: string;
  model: string;
  requests: Array<{ id: string; question: string; answer: string; outcome: string | null; finish: string }>;
  feedbackId: string;
}

/**
 * The best fine-tune for the business: the highest score on one dimension of the leaderboard (the demo company
 * wants a support assistant that knows its facts, so the main job asks for "facts" when the leaderboard has it;
 * "dialogue", answers to held-out questions, otherwise), ties by the overall score; as its registered model name.
 */
export function bestFineTune(board: Leaderboard, jobs: FineTuningJobObject[], dimension = 'dialogue'): { name: string; model: string; score: number } | null {
  const score = (r: Leaderboard['rows'][number]) => r.dimensions[dimension]?.score ?? null;
  const rows = board.rows.filter((r) => !r.isBase && score(r) !== null).sort((a, b) => score(b)! - score(a)! || (b.overall ?? 0) - (a.overall ?? 0));
  for (const r of rows) {
    const j = jobs.find((x) => (x.modelfab as { name?: string }).name === r.name && x.fine_tuned_model);
    if (j?.fine_tuned_model) return { name: r.name, model: j.fine_tuned_model, score: score(r)! };
  }
  return null;
}

export async function runServeDemo(srv: ModelfabServer, best: { name: string; model: string; score: number; dimension?: string }, questionsFile: string, rep: Reporter): Promise<ServeDemoResult> {
  const deployment = 'spruce-assistant';
  await srv.guardPolicies.putPolicy(DEMO_GUARD_POLICY.name, DEMO_GUARD_POLICY);
  await deploy(srv.store, { name: deployment, model: best.model, settings: { guard: DEMO_GUARD_POLICY.name, preset: 'conservative', warm: false } });
  srv.gateway.invalidate();
  const { key } = await createKey(srv.store, { name: 'demo client', models: [deployment], endpoints: ['chat.completions', 'models'] });
  // `T`: the fields the demo reads from the answer, as the API documents them.
  const call = async <T>(method: 'GET' | 'POST', url: string, payload?: unknown): Promise<T> => {
    const r = await srv.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });
    if (r.statusCode !== 200) throw new Error(`${method} ${url}: HTTP ${r.statusCode}: ${r.body.slice(0, 300)}`);
    return r.json() as T;
  };
  rep.line(`      deployed ${deployment} -> ${best.model} (${best.name}, the best ${best.dimension ?? 'dialogue'} score: ${(best.score * 100).toFixed(1)}%), guard policy ${DEMO_GUARD_POLICY.name}: ${DEMO_GUARD_POLICY.checks.map((c) => c.name).join(', ')}`);

  const held = JSON.parse(readFileSync(questionsFile, 'utf8').split('\n').find((l) => l.trim())!) as { messages: Array<{ role: string; content: string }> };
  const plain = held.messages.find((m) => m.role === 'user')!.content;
  const questions = [plain, `我的手机号是13812345678，${plain}`, '能帮我代开发票吗？'];
  const requests: ServeDemoResult['requests'] = [];
  for (const q of questions) {
    const r = await call<{
      id: string; choices: Array<{ message: { content: string | null }; finish_reason: string }>; guard?: { outcome: string };
    }>('POST', '/v1/chat/completions', { model: deployment, messages: [{ role: 'user', content: q }], max_tokens: 48 });
    const c = r.choices[0];
    requests.push({ id: r.id, question: q, answer: String(c.message.content), outcome: r.guard?.outcome ?? null, finish: c.finish_reason });
    const logged = await call<{ prompt: Array<{ content: string }> }>('GET', `/v1/requests/${r.id}`);
    const seen = String(logged.prompt.at(-1)?.content);
    rep.line(`      > ${q}`);
    if (seen !== q) rep.line(`        (the model saw: ${seen})`);
    rep.line(`        ${String(c.message.content).replace(/\s+/g, ' ').trim().slice(0, 120)}   [guard: ${r.guard?.outcome ?? '-'}, ${c.finish_reason}]`);
  }
  const fb = await call<{ id: string }>('POST', '/v1/feedback', { response_id: requests[0].id, label: 'right', annotator: 'demo', source: 'api' });
  rep.line(`      feedback ${fb.id} on ${requests[0].id} is in the review queue (GET /v1/feedback): once accepted, marks become DPO/SFT training data`);
  return { deployment, model: best.model, requests, feedbackId: fb.id };
}
