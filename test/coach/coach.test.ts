/**
 * Emoti Coach's pure parts: the shipped scenarios are valid data; an organisation's scenario names every problem by
 * field; the judge's answer is read strictly (every deviation names its field: not JSON, a missing criterion, a
 * score out of range, a quote the trainee never said, a goal left out); the overall score; progress across sessions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinScenarios, parseScenario } from '../../src/coach/coach-scenario.ts';
import { JudgementError, overallScore, parseSessionJudgement, parseTurnJudgement, personaPrompt, turnJudgePrompt } from '../../src/coach/coach-judge.ts';
import { progressReport } from '../../src/coach/coach-report.ts';
import type { CoachSession } from '../../src/coach/coach-repository.ts';
import { ValidationError } from '../../src/util/status-error.ts';

const scenario = () => builtinScenarios().find((s) => s.id === 'upset-customer')!;
const SAID = "I'm so sorry about the chairs. I will call logistics and ring you back by 3 pm today.";
const judgement = (over: Record<string, unknown> = {}) => JSON.stringify({
  scores: scenario().rubric.map((c) => ({ criterion: c.id, score: 4, quote: c.id === 'empathy' ? "I'm so sorry" : '', comment: 'fine' })), tip: 'Ask what they need by Monday.', ...over,
});
const fieldOf = (f: () => unknown): string => {
  try { f(); } catch (e) { assert.ok(e instanceof JudgementError, String(e)); return e.field; }
  assert.fail('no error');
};

test('the shipped scenarios: an upset customer, a sales objection, a refused claim (in Chinese), each with a four-part rubric', () => {
  const ss = builtinScenarios();
  assert.deepEqual(ss.map((s) => [s.id, s.language]), [['refused-claim', 'zh'], ['sales-objection', 'en'], ['upset-customer', 'en']]);
  for (const s of ss) assert.deepEqual(s.rubric.map((c) => c.id), ['empathy', 'accuracy', 'policy', 'resolution']);
  assert.match(personaPrompt(ss[0]!), /你在一次客服培训对练中扮演王女士/);
});

test("an organisation's scenario: every problem named by field", () => {
  try {
    parseScenario({ id: 'Late', title: '', language: 'fr', persona: { name: 'A' }, goals: [], rubric: [{ id: 'empathy', name: 'E', description: 'd', weight: 0 }, { id: 'empathy', name: 'E', description: 'd' }], max_turns: 99, colour: 1 }, 'request');
    assert.fail('accepted');
  } catch (e) {
    assert.ok(e instanceof ValidationError);
    assert.deepEqual(e.problems.map((p) => p.path), ['colour', 'id', 'title', 'language', 'description', 'persona.role', 'persona.background', 'persona.mood', 'persona.opening', 'goals', 'rubric[0].weight', 'rubric[1].id', 'max_turns']);
  }
  const ok = parseScenario({ ...scenario(), id: 'late-delivery', knowledge: 'policies' }, 'request');
  assert.equal(ok.knowledge, 'policies');
});

test('the judge is read strictly, each deviation naming its field', () => {
  const s = scenario();
  const j = parseTurnJudgement(`\`\`\`json\n${judgement()}\n\`\`\``, s, SAID);
  assert.deepEqual(j.scores.map((x) => [x.criterion, x.score]), [['empathy', 4], ['accuracy', 4], ['policy', 4], ['resolution', 4]]);
  assert.equal(fieldOf(() => parseTurnJudgement(`Sure! ${judgement()}`, s, SAID)), '$');
  assert.equal(fieldOf(() => parseTurnJudgement(judgement({ scores: JSON.parse(judgement()).scores.slice(1) }), s, SAID)), 'scores[empathy]');
  const scores = JSON.parse(judgement()).scores;
  assert.equal(fieldOf(() => parseTurnJudgement(judgement({ scores: scores.map((x: object, i: number) => (i === 2 ? { ...x, score: 4.5 } : x)) }), s, SAID)), 'scores[2].score');
  assert.equal(fieldOf(() => parseTurnJudgement(judgement({ scores: scores.map((x: object, i: number) => (i === 1 ? { ...x, criterion: 'tone' } : x)) }), s, SAID)), 'scores[1].criterion');
  assert.equal(fieldOf(() => parseTurnJudgement(judgement({ scores: scores.map((x: object, i: number) => (i === 0 ? { ...x, quote: 'we never said this' } : x)) }), s, SAID)), 'scores[0].quote');
  assert.equal(fieldOf(() => parseTurnJudgement(judgement({ tip: 3 }), s, SAID)), 'tip');
  const session = { scores, goals: [{ goal: 1, met: true, quote: "I'm so sorry" }, { goal: 2, met: false, quote: '' }], summary: 'Good start.' };
  assert.equal(fieldOf(() => parseSessionJudgement(JSON.stringify(session), s, [SAID])), 'goals');
  assert.equal(fieldOf(() => parseSessionJudgement(JSON.stringify({ ...session, goals: [...session.goals, { goal: 3, met: 'yes', quote: '' }] }), s, [SAID])), 'goals[2].met');
  const whole = parseSessionJudgement(JSON.stringify({ ...session, goals: [...session.goals, { goal: 3, met: true, quote: 'ring you back by 3 pm' }] }), s, [SAID]);
  assert.deepEqual(whole.goals.map((g) => g.met), [true, false, true]);
  assert.equal(overallScore(s, whole.scores), 75);
  assert.equal(overallScore({ ...s, rubric: s.rubric.map((c, i) => ({ ...c, weight: i === 0 ? 3 : 1 })) }, whole.scores.map((x, i) => ({ ...x, score: i === 0 ? 5 : 1 }))), 50);
});

test("the judge's prompt holds the rubric, the policies, the passages and the message to score", () => {
  const [sys, user] = turnJudgePrompt(scenario(), [{ role: 'persona', content: 'Where are my chairs?' }, { role: 'trainee', content: SAID }], [{ ref: 1, label: 'Policy §2', text: 'At most a 15% refund.' }]);
  assert.match(sys!.content, /Output JSON only/);
  assert.match(user!.content, /- empathy: Empathy: /);
  assert.match(user!.content, /Compensation is at most a 15% refund/);
  assert.match(user!.content, /\[1\] Policy §2\nAt most a 15% refund\./);
  assert.match(user!.content, /The trainee's message to score: I'm so sorry/);
});

test('progress across sessions: in time order, per criterion first, last, best and mean', () => {
  const s = scenario();
  const session = (id: string, at: number, scores: number[]): CoachSession => ({
    id, object: 'coach.session', created_at: at, updated_at: at, key_id: 'k', scenario: s, persona_model: 'p', judge_model: 'j', status: 'finished',
    turns: [{ role: 'persona', content: 'x' }, { role: 'trainee', content: 'y' }],
    judgement: { scores: s.rubric.map((c, i) => ({ criterion: c.id, score: scores[i]!, quote: '', comment: '' })), goals: [{ goal: 1, met: true, quote: '' }], summary: '' },
    score: overallScore(s, s.rubric.map((c, i) => ({ criterion: c.id, score: scores[i]!, quote: '', comment: '' }))),
  });
  const r = progressReport([session('b', 2, [4, 4, 5, 3]), session('a', 1, [2, 3, 5, 1]), { ...session('c', 3, [5, 5, 5, 5]), status: 'active', judgement: null, score: null }]);
  assert.deepEqual(r.sessions.map((x) => [x.id, x.score]), [['a', 43.8], ['b', 75]]);
  assert.deepEqual(r.criteria.find((c) => c.id === 'empathy'), { id: 'empathy', name: 'Empathy', sessions: 2, first: 2, last: 4, best: 4, mean: 3 });
  assert.equal(r.change, 31.2);
});
