/**
 * The judge of Emoti Coach: what it is asked (the scenario, the rubric, the policies, knowledge passages, the
 * transcript, the trainee's words to score) and how its answer is read. Pure.
 *
 * The judge answers JSON only. `parseJudgement` is strict: the text must be one JSON object (a single ```json
 * fence around it is allowed, nothing else); `scores` names every rubric criterion exactly once with an integer
 * score 1-5, a `quote` that is the trainee's own words (empty when nothing they said bears on it) and a `comment`;
 * a session's judgement adds `goals` (every goal, met or not) and a `summary`. Any deviation is a
 * `JudgementError` naming the field, which the service sends back to the judge once before it gives up.
 */
import { StatusError } from '../util/status-error.ts';
import type { Scenario } from './coach-scenario.ts';

export interface CriterionScore { criterion: string; score: number; quote: string; comment: string }
export interface TurnJudgement { scores: CriterionScore[]; tip: string }
export interface GoalResult { goal: number; met: boolean; quote: string }
export interface SessionJudgement { scores: CriterionScore[]; goals: GoalResult[]; summary: string }

export interface Turn { role: 'persona' | 'trainee'; content: string; judgement?: TurnJudgement }

/** A judgement that does not follow the format; `field` is where (e.g. `scores[2].score`). */
export class JudgementError extends StatusError {
  constructor(readonly field: string, readonly detail: string) {
    super(502, `the judge's judgement is malformed: ${field}: ${detail}`, { code: 'judgement_malformed', param: field });
  }
}

/** The persona's system prompt: who to play, and to stay in character. */
export function personaPrompt(s: Scenario): string {
  const p = s.persona;
  if (s.language === 'zh') {
    return [`你在一次客服培训对练中扮演${p.name}，${p.role}。`, `背景：${p.background}`, `情绪：${p.mood}`,
      '始终以这个角色的身份说话，每次只说一两句话，像真实的人一样回应对方说的话；不要替对方说话，不要跳出角色，不要提到培训或评分。'].join('\n');
  }
  return [`You are playing ${p.name}, ${p.role}, in a practice conversation for customer-facing staff.`, `Background: ${p.background}`, `Mood: ${p.mood}`,
    'Stay in character. Answer in one to three sentences as this person would, reacting to what the other person just said; never speak for them, never step out of the role, never mention training or scores.'].join('\n');
}

const SCALE_EN = '1 = poor, 2 = weak, 3 = adequate, 4 = good, 5 = excellent';
const SCALE_ZH = '1 = 差，2 = 较弱，3 = 合格，4 = 良好，5 = 优秀';

function transcript(s: Scenario, turns: Turn[]): string {
  const zh = s.language === 'zh';
  return turns.map((t) => `${t.role === 'persona' ? (zh ? `客户（${s.persona.name}）` : `Customer (${s.persona.name})`) : (zh ? '学员' : 'Trainee')}: ${t.content}`).join('\n');
}

function context(s: Scenario, passages: Array<{ ref: number; label: string; text: string }>): string[] {
  const zh = s.language === 'zh';
  return [
    zh ? `场景：${s.title}。${s.description}` : `Scenario: ${s.title}. ${s.description}`,
    (zh ? '学员的目标：\n' : "The trainee's goals:\n") + s.goals.map((g, i) => `${i + 1}. ${g}`).join('\n'),
    s.policies.length ? (zh ? '必须遵守的规定：\n' : 'Policies the trainee must keep:\n') + s.policies.map((p) => `- ${p}`).join('\n') : '',
    (zh ? '评分标准（每项 1–5 分，' + SCALE_ZH + '）：\n' : `Rubric (each criterion 1-5, ${SCALE_EN}):\n`) + s.rubric.map((c) => `- ${c.id}: ${c.name}: ${c.description}`).join('\n'),
    passages.length ? (zh ? '知识库资料（判断准确性的依据）：\n' : 'Knowledge base passages (what accuracy is judged against):\n') + passages.map((p) => `[${p.ref}] ${p.label}\n${p.text}`).join('\n\n') : '',
  ].filter(Boolean);
}

const ids = (s: Scenario) => s.rubric.map((c) => `{"criterion": "${c.id}", "score": 1-5, "quote": "...", "comment": "..."}`).join(', ');

/** The judge's messages for the trainee's last message. */
export function turnJudgePrompt(s: Scenario, turns: Turn[], passages: Array<{ ref: number; label: string; text: string }>): Array<{ role: 'system' | 'user'; content: string }> {
  const zh = s.language === 'zh';
  const last = turns.filter((t) => t.role === 'trainee').at(-1)?.content ?? '';
  const system = zh
    ? '你是客户服务培训的评分老师。只按评分标准评价学员的最后一句话，只输出 JSON，不要其他文字。quote 必须逐字摘自学员的这句话（无相关内容时为空字符串）。'
    : "You are the judge of a customer-service practice session. Score only the trainee's last message against the rubric. Output JSON only, no other text. Each quote must be copied word for word from that message (an empty string when nothing in it bears on the criterion).";
  const user = [...context(s, passages), (zh ? '对话：\n' : 'Conversation:\n') + transcript(s, turns), (zh ? `要评分的学员发言：${last}` : `The trainee's message to score: ${last}`),
    (zh ? '输出格式：' : 'Answer format: ') + `{"scores": [${ids(s)}], "tip": "${zh ? '一句改进建议' : 'one sentence of advice'}"}`].join('\n\n');
  return [{ role: 'system', content: system }, { role: 'user', content: user }];
}

/** The judge's messages for the whole session. */
export function sessionJudgePrompt(s: Scenario, turns: Turn[], passages: Array<{ ref: number; label: string; text: string }>): Array<{ role: 'system' | 'user'; content: string }> {
  const zh = s.language === 'zh';
  const system = zh
    ? '你是客户服务培训的评分老师。按评分标准评价学员在整场对话中的表现，并判断每个目标是否达成。只输出 JSON，不要其他文字。quote 必须逐字摘自学员的发言（无相关内容时为空字符串）。'
    : "You are the judge of a customer-service practice session. Score the trainee's whole conversation against the rubric and say whether each goal was met. Output JSON only, no other text. Each quote must be copied word for word from something the trainee said (an empty string when nothing bears on it).";
  const goals = s.goals.map((_, i) => `{"goal": ${i + 1}, "met": true|false, "quote": "..."}`).join(', ');
  const user = [...context(s, passages), (zh ? '对话：\n' : 'Conversation:\n') + transcript(s, turns),
    (zh ? '输出格式：' : 'Answer format: ') + `{"scores": [${ids(s)}], "goals": [${goals}], "summary": "${zh ? '两三句总评' : 'two or three sentences'}"}`].join('\n\n');
  return [{ role: 'system', content: system }, { role: 'user', content: user }];
}

/** Whitespace- and case-insensitive containment, for quotes. */
const norm = (t: string) => t.replace(/\s+/g, ' ').trim().toLowerCase();

/** The judge's text as one JSON object (one ```json fence allowed). */
function objectOf(text: string): Record<string, unknown> {
  let t = text.trim();
  const fence = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/.exec(t);
  if (fence) t = fence[1]!.trim();
  let v: unknown;
  try { v = JSON.parse(t); } catch (e) { throw new JudgementError('$', `not a JSON object (${(e as Error).message.slice(0, 120)})`); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JudgementError('$', 'must be a JSON object');
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, k: string, at: string, max: number): string {
  const v = o[k];
  if (typeof v !== 'string') throw new JudgementError(`${at}${k}`, 'must be text');
  if (v.length > max) throw new JudgementError(`${at}${k}`, `is longer than ${max} characters`);
  return v.trim();
}

function quoteOf(o: Record<string, unknown>, at: string, said: string[]): string {
  const q = str(o, 'quote', at, 2000).replace(/^["“”'「」]+|["“”'「」]+$/g, '');
  if (q && !said.some((s) => norm(s).includes(norm(q)))) throw new JudgementError(`${at}quote`, `"${q.slice(0, 80)}" is not the trainee's words`);
  return q;
}

function scoresOf(o: Record<string, unknown>, s: Scenario, said: string[]): CriterionScore[] {
  if (!Array.isArray(o.scores)) throw new JudgementError('scores', 'must be a list with one entry per criterion');
  const out: CriterionScore[] = [];
  o.scores.forEach((x: unknown, i) => {
    const at = `scores[${i}].`;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new JudgementError(`scores[${i}]`, 'must be an object {criterion, score, quote, comment}');
    const e = x as Record<string, unknown>;
    const criterion = str(e, 'criterion', at, 64);
    if (!s.rubric.some((c) => c.id === criterion)) throw new JudgementError(`${at}criterion`, `"${criterion}" is no criterion of the rubric (${s.rubric.map((c) => c.id).join(', ')})`);
    if (out.some((c) => c.criterion === criterion)) throw new JudgementError(`${at}criterion`, `"${criterion}" is scored twice`);
    if (!Number.isInteger(e.score) || (e.score as number) < 1 || (e.score as number) > 5) throw new JudgementError(`${at}score`, 'must be an integer from 1 to 5');
    out.push({ criterion, score: e.score as number, quote: quoteOf(e, at, said), comment: str(e, 'comment', at, 2000) });
  });
  const missing = s.rubric.filter((c) => !out.some((x) => x.criterion === c.id));
  if (missing.length) throw new JudgementError(`scores[${missing[0]!.id}]`, 'is missing: every criterion must be scored');
  return s.rubric.map((c) => out.find((x) => x.criterion === c.id)!);
}

/** Reads the judgement of one trainee message (`said`: that message). */
export function parseTurnJudgement(text: string, s: Scenario, said: string): TurnJudgement {
  const o = objectOf(text);
  return { scores: scoresOf(o, s, [said]), tip: str(o, 'tip', '', 1000) };
}

/** Reads the judgement of a whole session (`said`: every trainee message). */
export function parseSessionJudgement(text: string, s: Scenario, said: string[]): SessionJudgement {
  const o = objectOf(text);
  const scores = scoresOf(o, s, said);
  if (!Array.isArray(o.goals)) throw new JudgementError('goals', 'must be a list with one entry per goal');
  const goals: GoalResult[] = [];
  o.goals.forEach((x: unknown, i) => {
    const at = `goals[${i}].`;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new JudgementError(`goals[${i}]`, 'must be an object {goal, met, quote}');
    const g = x as Record<string, unknown>;
    if (!Number.isInteger(g.goal) || (g.goal as number) < 1 || (g.goal as number) > s.goals.length) throw new JudgementError(`${at}goal`, `must be a goal number from 1 to ${s.goals.length}`);
    if (goals.some((y) => y.goal === g.goal)) throw new JudgementError(`${at}goal`, `goal ${String(g.goal)} is judged twice`);
    if (typeof g.met !== 'boolean') throw new JudgementError(`${at}met`, 'must be true or false');
    goals.push({ goal: g.goal as number, met: g.met, quote: quoteOf(g, at, said) });
  });
  if (goals.length !== s.goals.length) throw new JudgementError('goals', `must judge every goal (${s.goals.length}), got ${goals.length}`);
  return { scores, goals: goals.sort((a, b) => a.goal - b.goal), summary: str(o, 'summary', '', 3000) };
}

/** The overall score 0..100 of a set of criterion scores: the weighted mean of (score - 1) / 4. */
export function overallScore(s: Scenario, scores: CriterionScore[]): number {
  let sum = 0, w = 0;
  for (const c of s.rubric) {
    const x = scores.find((y) => y.criterion === c.id);
    if (!x) continue;
    sum += c.weight * (x.score - 1) / 4;
    w += c.weight;
  }
  return w ? Math.round((sum / w) * 1000) / 10 : 0;
}
