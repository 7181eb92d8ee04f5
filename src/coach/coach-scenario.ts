/**
 * Emoti Coach's scenarios: a persona a model plays, the trainee's goals, the organisation's policies, an optional
 * knowledge base that answers are checked against, and a rubric (criteria with weights) the judge scores by.
 * Scenarios are data: the shipped ones are JSON files in `scenarios/`, an organisation's own are uploaded through
 * the API; both pass `parseScenario`, which names every problem by file and field.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ValidationError, type ProblemDetail } from '../util/status-error.ts';

export interface Criterion {
  id: string;
  name: string;
  description: string;
  /** Weight in the overall score (default 1). */
  weight: number;
}

export interface Persona { name: string; role: string; background: string; mood: string; opening: string }

export interface Scenario {
  id: string;
  title: string;
  language: 'en' | 'zh';
  description: string;
  persona: Persona;
  goals: string[];
  policies: string[];
  /** A knowledge base accuracy is judged against. */
  knowledge: string | null;
  rubric: Criterion[];
  /** Trainee messages a session allows (default 12). */
  max_turns: number;
}

export const SCENARIO_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

function fail(file: string, problems: ProblemDetail[]): never {
  const head = problems.slice(0, 5).map((p) => `${p.path}: ${p.message}`).join('; ');
  throw new ValidationError(400, `${file}: invalid scenario: ${head}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`, { code: 'invalid_scenario', param: problems[0]?.path ?? null }, problems);
}

/** Validates a scenario; `file` names where it came from (a file, or "request"). */
export function parseScenario(v: unknown, file: string): Scenario {
  const problems: ProblemDetail[] = [];
  const bad = (path: string, message: string) => problems.push({ file, path, message });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(file, [{ file, path: '$', message: 'must be a JSON object' }]);
  const o = v as Record<string, unknown>;
  const text = (x: unknown, path: string, max: number, required = true): string => {
    if (x === undefined || x === null || x === '') { if (required) bad(path, 'is required'); return ''; }
    if (typeof x !== 'string') { bad(path, 'must be text'); return ''; }
    if (x.length > max) bad(path, `is longer than ${max} characters`);
    return x.trim();
  };
  const list = (x: unknown, path: string, min: number, max: number): string[] => {
    if (x === undefined) { if (min > 0) bad(path, 'is required'); return []; }
    if (!Array.isArray(x)) { bad(path, 'must be a list of texts'); return []; }
    if (x.length < min || x.length > max) bad(path, `must have ${min} to ${max} entries`);
    return x.map((y, i) => text(y, `${path}[${i}]`, 500));
  };
  for (const k of Object.keys(o)) if (!['id', 'title', 'language', 'description', 'persona', 'goals', 'policies', 'knowledge', 'rubric', 'max_turns'].includes(k)) bad(k, 'unknown field');
  if (typeof o.id !== 'string' || !SCENARIO_ID.test(o.id)) bad('id', 'must be lowercase letters, digits and dashes (at most 64)');
  const title = text(o.title, 'title', 200);
  if (o.language !== 'en' && o.language !== 'zh') bad('language', 'must be "en" or "zh"');
  const description = text(o.description, 'description', 2000);
  const p = o.persona as Record<string, unknown> | undefined;
  let persona: Persona = { name: '', role: '', background: '', mood: '', opening: '' };
  if (typeof p !== 'object' || p === null || Array.isArray(p)) bad('persona', 'must be an object {name, role, background, mood, opening}');
  else persona = { name: text(p.name, 'persona.name', 100), role: text(p.role, 'persona.role', 300), background: text(p.background, 'persona.background', 3000), mood: text(p.mood, 'persona.mood', 500), opening: text(p.opening, 'persona.opening', 2000) };
  const goals = list(o.goals, 'goals', 1, 10);
  const policies = list(o.policies, 'policies', 0, 20);
  const knowledge = o.knowledge === undefined || o.knowledge === null ? null : text(o.knowledge, 'knowledge', 64);
  const rubric: Criterion[] = [];
  if (!Array.isArray(o.rubric) || o.rubric.length < 1 || o.rubric.length > 10) bad('rubric', 'must be a list of 1 to 10 criteria');
  else {
    o.rubric.forEach((c: unknown, i) => {
      const at = `rubric[${i}]`;
      if (typeof c !== 'object' || c === null || Array.isArray(c)) { bad(at, 'must be an object {id, name, description, weight?}'); return; }
      const x = c as Record<string, unknown>;
      if (typeof x.id !== 'string' || !/^[a-z][a-z0-9_]{0,31}$/.test(x.id)) bad(`${at}.id`, 'must be lowercase letters, digits and underscores');
      else if (rubric.some((r) => r.id === x.id)) bad(`${at}.id`, `"${x.id}" is named twice`);
      const weight = x.weight === undefined ? 1 : x.weight;
      if (typeof weight !== 'number' || !(weight > 0) || weight > 100) bad(`${at}.weight`, 'must be a number above 0 and at most 100');
      rubric.push({ id: String(x.id), name: text(x.name, `${at}.name`, 100), description: text(x.description, `${at}.description`, 1000), weight: Number(weight) });
    });
  }
  const maxTurns = o.max_turns === undefined ? 12 : o.max_turns;
  if (!Number.isInteger(maxTurns) || (maxTurns as number) < 1 || (maxTurns as number) > 50) bad('max_turns', 'must be an integer from 1 to 50');
  if (problems.length) fail(file, problems);
  return { id: o.id as string, title, language: o.language as Scenario['language'], description, persona, goals, policies, knowledge, rubric, max_turns: maxTurns as number };
}

let builtin: Scenario[] | null = null;

/** The scenarios shipped in `scenarios/` (read once). */
export function builtinScenarios(): Scenario[] {
  if (builtin) return builtin;
  const dir = new URL('./scenarios/', import.meta.url);
  builtin = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    let json: unknown;
    try { json = JSON.parse(readFileSync(new URL(f, dir), 'utf8')); } catch (e) { throw new Error(`coach scenario ${f}: not JSON (${(e as Error).message})`); }
    return parseScenario(json, `scenarios/${f}`);
  });
  return builtin;
}
