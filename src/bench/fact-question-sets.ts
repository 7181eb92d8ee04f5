/**
 * Fact questions: held-out questions whose answer must state a known fact, scored with the `fact` metric
 * (fact-match.ts) instead of by overlap with a reference sentence. A fine-tune that learned "the T100 carries 50 kg"
 * scores on "T100 最多能扛多重的货？" whatever words it answers in; a model that answers fluently with the wrong
 * number does not.
 *
 * Owns: the question-set shape and its validation (every problem at once, each naming its field), the task built
 * from a set (chat prompt with the set's system prompt; `fact` primary), the JSON Lines form a job reads, and the
 * generator for task files:
 *   dataset: {kind: generator, name: fact_questions, params: {path: facts.jsonl}}
 * where each line is {"question": "...", "answers": ["1,500 kg"]} (any of the answers counts).
 * Guarantees: a set that validates builds a valid task; problems never quote the questions or answers.
 */
import { readTextFileSync } from './record-files.ts';
import { registerGenerator, validateTask, type TaskConfig } from './task.ts';
import { stableHash } from './template.ts';
import type { Doc } from './bench-types.ts';

export interface FactQuestion {
  question: string;
  /** Accepted values; the answer must state one of them ("1,500 kg"; "松鼠" or "Squirrel"). */
  answers: string[];
  /** Optional, for reading results: what the question asks (e.g. "product.T100.payload"). */
  id?: string;
}

export interface FactQuestionSet {
  /** Task name ([A-Za-z0-9_.-]). */
  name: string;
  /** The system prompt every question is asked under (e.g. the assistant's own). */
  system?: string;
  questions: FactQuestion[];
}

export const FACT_LIMITS = { sets: 16, questions: 2000, chars: 2000, answers: 16 } as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;

/** Problems of one question (field paths under `at`); empty when it is valid. */
export function factQuestionProblems(q: unknown, at: string): string[] {
  const out: string[] = [];
  if (!isObj(q)) return [`${at}: must be an object {question, answers}`];
  for (const k of Object.keys(q)) if (!['question', 'answers', 'id'].includes(k)) out.push(`${at}.${k}: unknown field (known: question, answers, id)`);
  if (!nonEmpty(q.question)) out.push(`${at}.question: must be a non-empty string`);
  else if (q.question.length > FACT_LIMITS.chars) out.push(`${at}.question: longer than ${FACT_LIMITS.chars} characters`);
  if (!Array.isArray(q.answers) || q.answers.length === 0) out.push(`${at}.answers: must be a non-empty list of accepted values`);
  else {
    if (q.answers.length > FACT_LIMITS.answers) out.push(`${at}.answers: more than ${FACT_LIMITS.answers} values`);
    q.answers.forEach((a, i) => {
      if (!nonEmpty(a)) out.push(`${at}.answers[${i}]: must be a non-empty string`);
      else if (a.length > FACT_LIMITS.chars) out.push(`${at}.answers[${i}]: longer than ${FACT_LIMITS.chars} characters`);
    });
  }
  if (q.id !== undefined && typeof q.id !== 'string') out.push(`${at}.id: must be a string`);
  return out;
}

/** Validates a list of question sets (e.g. an experiment's `fact_questions`): the sets, or every problem found. */
export function validateFactQuestionSets(v: unknown, field = 'fact_questions'): { sets: FactQuestionSet[]; problems: string[] } {
  const problems: string[] = [];
  if (!Array.isArray(v)) return { sets: [], problems: [`${field}: must be a list of {name, system?, questions}`] };
  if (v.length > FACT_LIMITS.sets) problems.push(`${field}: more than ${FACT_LIMITS.sets} sets`);
  const names = new Set<string>();
  v.forEach((s, i) => {
    const at = `${field}[${i}]`;
    if (!isObj(s)) { problems.push(`${at}: must be an object {name, system?, questions}`); return; }
    for (const k of Object.keys(s)) if (!['name', 'system', 'questions'].includes(k)) problems.push(`${at}.${k}: unknown field (known: name, system, questions)`);
    if (typeof s.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(s.name)) problems.push(`${at}.name: must be 1-64 characters of A-Z, a-z, 0-9, _ . -`);
    else if (names.has(s.name)) problems.push(`${at}.name: ${s.name} appears twice`);
    else names.add(s.name);
    if (s.system !== undefined && typeof s.system !== 'string') problems.push(`${at}.system: must be a string`);
    if (!Array.isArray(s.questions) || s.questions.length === 0) problems.push(`${at}.questions: must be a non-empty list`);
    else if (s.questions.length > FACT_LIMITS.questions) problems.push(`${at}.questions: more than ${FACT_LIMITS.questions} questions`);
    else s.questions.forEach((q, j) => problems.push(...factQuestionProblems(q, `${at}.questions[${j}]`)));
  });
  return { sets: problems.length ? [] : v as FactQuestionSet[], problems };
}

/** A set's questions as JSON Lines (the file a job reads). */
export function factQuestionsJsonl(questions: readonly FactQuestion[]): string {
  return questions.map((q) => JSON.stringify({ ...(q.id ? { id: q.id } : {}), question: q.question, answers: q.answers })).join('\n') + '\n';
}

/** Reads a JSON Lines file of questions; errors name the file and line, never its content. */
export function readFactQuestions(path: string): FactQuestion[] {
  const text = readTextFileSync(path);
  const out: FactQuestion[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try { v = JSON.parse(line); } catch { problems.push(`line ${i + 1}: not valid JSON`); return; }
    const p = factQuestionProblems(v, `line ${i + 1}`);
    if (p.length) problems.push(...p);
    else out.push(v as FactQuestion);
  });
  if (problems.length) throw new Error(`${path}: ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? `; and ${problems.length - 20} more` : ''}`);
  if (out.length === 0) throw new Error(`${path}: no questions`);
  return out;
}

function docsOf(questions: readonly FactQuestion[]): Doc[] {
  return questions.map((q, i) => ({ id: q.id ?? String(i), question: q.question, answers: [...q.answers] }));
}

/**
 * The task of a set: each question asked in a chat (under the set's system prompt), scored by `fact`. Its version
 * carries a hash of the questions, so a cached result never outlives a change to them.
 */
export function factQuestionsTask(set: FactQuestionSet, opts: { maxTokens?: number; limit?: number } = {}): TaskConfig {
  return validateTask({
    task: set.name, version: `1-${stableHash(set.questions.map((q) => [q.question, q.answers]))}`, dataset: { kind: 'inline', splits: { test: docsOf(set.questions) } }, output_type: 'generate_until',
    chat: true, system_prompt: set.system || undefined, doc_to_text: '{{question}}', doc_to_target: '{{answers}}',
    generation_kwargs: { until: ['\n\n'], max_gen_toks: opts.maxTokens ?? 32 },
    metric_list: [{ metric: 'fact' }], primary_metric: 'fact', limit: opts.limit, metadata: { source: 'fact questions' },
  }, set.name);
}

registerGenerator('fact_questions', (params) => {
  if (typeof params.path !== 'string') throw new Error('generator fact_questions: params.path (a JSON Lines file of {question, answers}) is required');
  return docsOf(readFactQuestions(params.path));
});
