/**
 * Progress across practice sessions: each finished session's overall score and criterion scores in time order, and
 * per criterion the first, last, best and mean score, so a trainee (or their coach) sees what improves. Pure.
 */
import type { CoachSession } from './coach-repository.ts';

export interface ReportSession { id: string; scenario_id: string; title: string; created_at: number; score: number; criteria: Record<string, number>; turns: number; goals_met: number; goals: number }
export interface ReportCriterion { id: string; name: string; sessions: number; first: number; last: number; best: number; mean: number }
export interface CoachReport { object: 'coach.report'; sessions: ReportSession[]; criteria: ReportCriterion[]; first_score: number | null; last_score: number | null; change: number | null }

export function progressReport(sessions: CoachSession[]): CoachReport {
  const done = sessions.filter((s) => s.status === 'finished' && s.judgement && s.score !== null).sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
  const rows: ReportSession[] = done.map((s) => ({
    id: s.id, scenario_id: s.scenario.id, title: s.scenario.title, created_at: s.created_at, score: s.score!,
    criteria: Object.fromEntries(s.judgement!.scores.map((c) => [c.criterion, c.score])), turns: s.turns.filter((t) => t.role === 'trainee').length,
    goals_met: s.judgement!.goals.filter((g) => g.met).length, goals: s.judgement!.goals.length,
  }));
  const names = new Map<string, string>();
  for (const s of done) for (const c of s.scenario.rubric) if (!names.has(c.id)) names.set(c.id, c.name);
  const criteria: ReportCriterion[] = [...names].map(([id, name]) => {
    const xs = rows.map((r) => r.criteria[id]).filter((x): x is number => x !== undefined);
    return { id, name, sessions: xs.length, first: xs[0]!, last: xs.at(-1)!, best: Math.max(...xs), mean: Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 100) / 100 };
  });
  const first = rows[0]?.score ?? null, last = rows.at(-1)?.score ?? null;
  return { object: 'coach.report', sessions: rows, criteria, first_score: first, last_score: last, change: first !== null && last !== null ? Math.round((last - first) * 10) / 10 : null };
}
