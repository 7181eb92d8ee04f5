/**
 * The guard chain: an ordered list of checks run on a request's input and on the draft answer before it leaves.
 *
 * Owns:
 *   - `parsePolicy`: a GuardPolicy from JSON, validated at load (every regex compiled, every field typed); errors
 *     name the check (`checks[2] "no-secrets"`) and the field;
 *   - the checks: `keywords` (Chinese and English lists; CJK words match as substrings, Latin words at word edges;
 *     NFKC + case folding so full-width and upper-case variants match), `regex` (compiled by the linear-time engine
 *     of ./linear-regex.ts: a client's pattern cannot stall the server), `topics` (block lists of topics,
 *     each a keyword set with a hit threshold), `pii` (src/control/pii.ts; rewrite masks), `classifier` (a
 *     Llama-Guard-style prompt over an editable category list, run by any ChatModel), `reflection` (a second model
 *     pass that approves, revises or refuses the draft against the question, the policy and the sources) and
 *     `grounding` (the Knowledge Factory's attribution check; unsupported sentences flagged, removed or refused);
 *   - `runGuard`: runs the checks of one stage in order; a rewrite feeds the next check; the first refusal stops the
 *     chain and yields the check's message (else the policy's, else a default);
 *   - `GuardStream`: sentence-boundary filtering of a streamed answer: deltas go in, text comes out only once its
 *     sentence has passed the sentence-level output checks; checks that need the whole answer (reflection,
 *     grounding) make the stream hold everything until `end()`.
 * Guarantees: every check that runs yields exactly one verdict with its reason and latency (milliseconds); a check
 * whose model fails yields an `error` verdict and fails open (warn) unless the check says `on_error: 'refuse'`.
 */
import { attribute, DEFAULT_SUPPORT_THRESHOLD, type Passage } from '../knowledge/attribution.ts';
import type { ChatMessage, ChatModel } from './chat-model.ts';
import { compileLinear, type LinearRegex } from './linear-regex.ts';
import { findPii, maskPii, PII_KINDS, type PiiKind } from './pii.ts';
import { StatusError } from '../util/status-error.ts';

export type GuardStage = 'input' | 'output';
export type GuardAction = 'allow' | 'warn' | 'rewrite' | 'refuse';
export type CheckKind = 'keywords' | 'regex' | 'topics' | 'pii' | 'classifier' | 'reflection' | 'grounding';

interface CheckBase {
  kind: CheckKind;
  /** Shown in verdicts (default `<kind>#<index>`). */
  name: string;
  stage: GuardStage | 'both';
  action: GuardAction;
  /** Refusal message of this check (else the policy's). */
  message?: string;
  /** What a model failure does: 'warn' (fail open, default) or 'refuse' (fail closed). */
  on_error?: 'warn' | 'refuse';
}
export interface KeywordsCheck extends CheckBase { kind: 'keywords'; words: string[]; case_sensitive?: boolean; replacement?: string }
export interface RegexCheck extends CheckBase { kind: 'regex'; patterns: Array<{ pattern: string; flags?: string; label?: string }>; replacement?: string }
export interface TopicsCheck extends CheckBase { kind: 'topics'; topics: Array<{ name: string; keywords: string[]; min_hits?: number }> }
export interface PiiCheck extends CheckBase { kind: 'pii'; types: PiiKind[] }
export interface ClassifierCheck extends CheckBase { kind: 'classifier'; model: string; categories: Category[] }
export interface ReflectionCheck extends CheckBase { kind: 'reflection'; model: string; policy?: string }
export interface GroundingCheck extends CheckBase { kind: 'grounding'; threshold?: number; max_unsupported?: number }
export type GuardCheck = KeywordsCheck | RegexCheck | TopicsCheck | PiiCheck | ClassifierCheck | ReflectionCheck | GroundingCheck;

export interface Category { code: string; name: string; description?: string }

export interface GuardPolicy {
  name?: string;
  /** Default refusal message. */
  refusal_message: string;
  checks: GuardCheck[];
}

export interface GuardVerdict {
  check: string;
  kind: CheckKind;
  stage: GuardStage;
  /** What the check did: allow (nothing found), warn, rewrite, refuse; `error` when its model failed. */
  action: GuardAction;
  triggered: boolean;
  reason: string;
  latency_ms: number;
  matches?: string[];
  error?: boolean;
}

export interface GuardResult {
  verdicts: GuardVerdict[];
  /** The text after rewrites (the original when nothing rewrote it). */
  text: string;
  refused: boolean;
  /** The refusal message when refused, else null. */
  message: string | null;
  /** True when any check warned. */
  flagged: boolean;
}

export interface GuardInput {
  stage: GuardStage;
  text: string;
  /** The user's question (output checks: reflection, classifier context). */
  question?: string;
  /** Cited passages for grounded answers. */
  sources?: Passage[];
}

export interface GuardDeps {
  /** Resolves a model name of a classifier or reflection check. */
  model?: (name: string) => ChatModel | undefined;
}

export const DEFAULT_REFUSAL = '抱歉，这个问题我无法回答。Sorry, I can’t help with that.';

export const DEFAULT_CATEGORIES: Category[] = [
  { code: 'S1', name: 'Violence / 暴力', description: 'threats, incitement or instructions for violence; 威胁、煽动或指导暴力' },
  { code: 'S2', name: 'Crime / 违法犯罪', description: 'help with fraud, theft, drugs, weapons, hacking; 协助诈骗、盗窃、毒品、武器、黑客' },
  { code: 'S3', name: 'Privacy / 隐私', description: 'revealing personal data of private persons; 泄露个人信息' },
  { code: 'S4', name: 'Defamation / 诽谤', description: 'false statements harming a real person or company; 损害真实个人或企业名誉的不实陈述' },
  { code: 'S5', name: 'Politics / 政治敏感', description: 'political propaganda or sensitive political topics; 政治宣传或敏感政治话题' },
  { code: 'S6', name: 'Personal attacks / 人身攻击', description: 'insults, harassment, hate; 侮辱、骚扰、仇恨言论' },
  { code: 'S7', name: 'Business conduct / 商业行为准则', description: 'promises of refunds, prices or legal advice the company has not authorised; 未经授权的退款、价格承诺或法律意见' },
];

/** A guard policy that does not parse or validate: a 400 naming the policy. */
export class GuardPolicyError extends StatusError {
  constructor(message: string) { super(400, message, { param: 'policy', code: 'invalid_policy' }); }
}

// ------------------------------------------------------------------------------------------------ policy loading

const STAGES = ['input', 'output', 'both'] as const;
const ACTIONS = ['allow', 'warn', 'rewrite', 'refuse'] as const;
/** The longest regex pattern a policy may hold. */
export const MAX_PATTERN_CHARS = 2000;
const KINDS = ['keywords', 'regex', 'topics', 'pii', 'classifier', 'reflection', 'grounding'] as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates a policy (a JSON string or an object). Throws GuardPolicyError naming the check and field. */
export function parsePolicy(input: unknown): GuardPolicy {
  let raw = input;
  if (typeof raw === 'string') {
    try { raw = JSON.parse(raw); } catch (e) { throw new GuardPolicyError(`guard policy: not valid JSON (${(e as Error).message})`); }
  }
  if (!isObj(raw)) throw new GuardPolicyError('guard policy: must be an object with "checks"');
  if (!Array.isArray(raw.checks)) throw new GuardPolicyError('guard policy: "checks" must be an array');
  if (raw.refusal_message !== undefined && typeof raw.refusal_message !== 'string') throw new GuardPolicyError('guard policy: "refusal_message" must be a string');
  const names = new Set<string>();
  const checks = raw.checks.map((c, i): GuardCheck => {
    const where = `checks[${i}]${isObj(c) && typeof c.name === 'string' ? ` "${c.name}"` : ''}`;
    const fail = (msg: string): never => { throw new GuardPolicyError(`guard policy ${where}: ${msg}`); };
    if (!isObj(c)) return fail('must be an object');
    const kind = c.kind as CheckKind;
    if (!KINDS.includes(kind)) fail(`"kind" must be one of ${KINDS.join(', ')}, got ${JSON.stringify(c.kind)}`);
    const stage = (c.stage ?? (kind === 'reflection' || kind === 'grounding' ? 'output' : 'both')) as CheckBase['stage'];
    if (!STAGES.includes(stage)) fail(`"stage" must be input, output or both, got ${JSON.stringify(c.stage)}`);
    const action = (c.action ?? 'refuse') as GuardAction;
    if (!ACTIONS.includes(action)) fail(`"action" must be one of ${ACTIONS.join(', ')}, got ${JSON.stringify(c.action)}`);
    if (c.message !== undefined && typeof c.message !== 'string') fail('"message" must be a string');
    if (c.on_error !== undefined && c.on_error !== 'warn' && c.on_error !== 'refuse') fail('"on_error" must be warn or refuse');
    const name = typeof c.name === 'string' && c.name ? c.name : `${kind}#${i}`;
    if (names.has(name)) fail(`duplicate check name "${name}"`);
    names.add(name);
    const strings = (v: unknown, field: string, nonEmpty = true): string[] => {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || (nonEmpty && x.trim() === ''))) return fail(`"${field}" must be an array of non-empty strings`);
      if (nonEmpty && v.length === 0) fail(`"${field}" must not be empty`);
      return v as string[];
    };
    const base = { name, stage, action, ...(c.message !== undefined ? { message: c.message as string } : {}), ...(c.on_error ? { on_error: c.on_error as 'warn' | 'refuse' } : {}) };
    if ((stage === 'input' || stage === 'both') && (kind === 'reflection' || kind === 'grounding')) fail(`a ${kind} check reviews answers: "stage" must be output`);
    switch (kind) {
      case 'keywords': {
        if (c.replacement !== undefined && typeof c.replacement !== 'string') fail('"replacement" must be a string');
        return { ...base, kind, words: strings(c.words, 'words'), case_sensitive: c.case_sensitive === true, ...(c.replacement !== undefined ? { replacement: c.replacement as string } : {}) };
      }
      case 'regex': {
        if (!Array.isArray(c.patterns) || c.patterns.length === 0) fail('"patterns" must be a non-empty array of strings or {pattern, flags?, label?}');
        const patterns = (c.patterns as unknown[]).map((p, j) => {
          const o = typeof p === 'string' ? { pattern: p } : isObj(p) ? p : fail(`patterns[${j}] must be a string or {pattern, flags?}`);
          if (typeof o.pattern !== 'string' || !o.pattern) fail(`patterns[${j}].pattern must be a non-empty string`);
          if (o.flags !== undefined && (typeof o.flags !== 'string' || !/^[imsu]*$/.test(o.flags))) fail(`patterns[${j}].flags may only contain i, m, s, u`);
          if ((o.pattern as string).length > MAX_PATTERN_CHARS) fail(`patterns[${j}].pattern is longer than ${MAX_PATTERN_CHARS} characters`);
          try { compileLinear(o.pattern as string, (o.flags as string | undefined) ?? ''); } catch (e) { fail(`patterns[${j}].pattern is not a valid regular expression for the linear-time engine: ${(e as Error).message}`); }
          return { pattern: o.pattern as string, ...(o.flags ? { flags: o.flags as string } : {}), ...(typeof o.label === 'string' ? { label: o.label } : {}) };
        });
        if (c.replacement !== undefined && typeof c.replacement !== 'string') fail('"replacement" must be a string');
        return { ...base, kind, patterns, ...(c.replacement !== undefined ? { replacement: c.replacement as string } : {}) };
      }
      case 'topics': {
        if (!Array.isArray(c.topics) || c.topics.length === 0) fail('"topics" must be a non-empty array of {name, keywords, min_hits?}');
        const topics = (c.topics as unknown[]).map((t, j) => {
          if (!isObj(t) || typeof t.name !== 'string') return fail(`topics[${j}] must be {name, keywords, min_hits?}`);
          const mh = t.min_hits ?? 1;
          if (!Number.isInteger(mh) || (mh as number) < 1) fail(`topics[${j}].min_hits must be a positive integer`);
          return { name: t.name, keywords: strings(t.keywords, `topics[${j}].keywords`), min_hits: mh as number };
        });
        return { ...base, kind, topics };
      }
      case 'pii': {
        const types = c.types === undefined ? [...PII_KINDS] : strings(c.types, 'types');
        for (const t of types) if (!PII_KINDS.includes(t as PiiKind)) fail(`"types" entries must be one of ${PII_KINDS.join(', ')}, got ${JSON.stringify(t)}`);
        return { ...base, kind, types: types as PiiKind[] };
      }
      case 'classifier': {
        if (typeof c.model !== 'string' || !c.model) fail('"model" (the model that classifies) is required');
        let categories = DEFAULT_CATEGORIES;
        if (c.categories !== undefined) {
          if (!Array.isArray(c.categories) || c.categories.length === 0) fail('"categories" must be a non-empty array of {name, description?, code?}');
          categories = (c.categories as unknown[]).map((x, j) => {
            const o = typeof x === 'string' ? { name: x } : isObj(x) ? x : fail(`categories[${j}] must be a string or {name, description?}`);
            if (typeof o.name !== 'string' || !o.name) fail(`categories[${j}].name is required`);
            return { code: typeof o.code === 'string' ? o.code : `S${j + 1}`, name: o.name as string, ...(typeof o.description === 'string' ? { description: o.description } : {}) };
          });
        }
        return { ...base, kind, model: c.model as string, categories };
      }
      case 'reflection': {
        if (typeof c.model !== 'string' || !c.model) fail('"model" (the reviewing model) is required');
        if (c.policy !== undefined && typeof c.policy !== 'string') fail('"policy" must be a string');
        return { ...base, kind, model: c.model as string, ...(c.policy !== undefined ? { policy: c.policy as string } : {}) };
      }
      case 'grounding': {
        if (c.threshold !== undefined && (typeof c.threshold !== 'number' || c.threshold < 0 || c.threshold > 1)) fail('"threshold" must be a number in [0, 1]');
        if (c.max_unsupported !== undefined && (!Number.isInteger(c.max_unsupported) || (c.max_unsupported as number) < 0)) fail('"max_unsupported" must be a non-negative integer');
        return { ...base, kind, ...(c.threshold !== undefined ? { threshold: c.threshold as number } : {}), ...(c.max_unsupported !== undefined ? { max_unsupported: c.max_unsupported as number } : {}) };
      }
    }
  });
  return { ...(typeof raw.name === 'string' ? { name: raw.name } : {}), refusal_message: (raw.refusal_message as string | undefined) ?? DEFAULT_REFUSAL, checks };
}

/**
 * One chain from several policies (a request under a route whose targets have different policies runs them all):
 * checks in policy order, names prefixed `<policy>/`, each refusing with its own policy's message.
 */
export function mergePolicies(list: ReadonlyArray<{ name: string; policy: GuardPolicy }>): GuardPolicy {
  if (list.length === 1) return list[0].policy;
  return {
    name: list.map((p) => p.name).join('+'),
    refusal_message: list[0]?.policy.refusal_message ?? DEFAULT_REFUSAL,
    checks: list.flatMap(({ name, policy }) => policy.checks.map((c) => ({ ...c, name: `${name}/${c.name}`, message: c.message ?? policy.refusal_message }))),
  };
}

// ------------------------------------------------------------------------------------------------ matching

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const WORDCH = /[\p{L}\p{N}_]/u;
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Normalises for matching: NFKC (full-width to half-width), optionally lower case; keeps the length per code unit where it can. */
const norm = (s: string, cs: boolean) => { const n = s.normalize('NFKC'); return cs ? n : n.toLowerCase(); };

/** One compiled regex over a word list (plain alternation, longest first); word edges are checked by `wordSpans`. */
export function compileWords(words: readonly string[], caseSensitive = false): RegExp {
  const alts = [...new Set(words.map((w) => norm(w.trim(), caseSensitive)).filter(Boolean))].sort((a, b) => b.length - a.length).map(escapeRe);
  return new RegExp(alts.length ? alts.join('|') : '(?!)', 'gu');
}

/** A Latin letter or digit (not a CJK character): what a Latin word edge must not touch. */
const latinWord = (ch: string | undefined) => ch !== undefined && WORDCH.test(ch) && !CJK.test(ch);

interface Span { start: number; end: number; text: string }

/**
 * Matches of a compiled word regex in text. CJK edges match anywhere; a Latin/digit edge needs a neighbour that is
 * not a Latin letter or digit (a Chinese character is fine). Positions are in the original text when normalisation
 * kept its length, else -1.
 */
function wordSpans(re: RegExp, text: string, caseSensitive: boolean): Span[] {
  const n = norm(text, caseSensitive);
  const aligned = n.length === text.length;
  const out: Span[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(n); m; m = re.exec(n)) {
    const s = m.index, e = s + m[0].length;
    if (m[0] === '') { re.lastIndex++; continue; }
    const first = String.fromCodePoint(m[0].codePointAt(0)!), last = [...m[0].slice(-2)].at(-1)!;
    const before = s > 0 ? [...n.slice(Math.max(0, s - 2), s)].at(-1) : undefined, after = e < n.length ? String.fromCodePoint(n.codePointAt(e)!) : undefined;
    if ((latinWord(first) && latinWord(before)) || (latinWord(last) && latinWord(after))) { re.lastIndex = s + 1; continue; }
    out.push({ start: s, end: e, text: aligned ? text.slice(s, e) : m[0] });
  }
  return aligned ? out : out.map((x) => ({ ...x, start: -1, end: -1 }));
}

function replaceSpans(text: string, spans: Span[], repl: (s: Span) => string): string {
  if (spans.some((s) => s.start < 0)) {
    // normalisation changed the length: replace by value on the normalised text
    let t = text.normalize('NFKC');
    for (const s of spans) t = t.split(s.text).join(repl(s));
    return t;
  }
  let out = '', at = 0;
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    if (s.start < at) continue;
    out += text.slice(at, s.start) + repl(s);
    at = s.end;
  }
  return out + text.slice(at);
}

const compiled = new WeakMap<GuardCheck, RegExp | RegExp[]>();
function wordsRe(c: KeywordsCheck): RegExp {
  let r = compiled.get(c) as RegExp | undefined;
  if (!r) { r = compileWords(c.words, c.case_sensitive); compiled.set(c, r); }
  return r;
}
function topicRes(c: TopicsCheck): RegExp[] {
  let r = compiled.get(c) as RegExp[] | undefined;
  if (!r) { r = c.topics.map((t) => compileWords(t.keywords)); compiled.set(c, r); }
  return r;
}
const compiledPatterns = new WeakMap<RegexCheck, LinearRegex[]>();
/** A regex check's patterns, compiled once by the linear-time engine (a client's pattern never runs on RegExp). */
export function patternRes(c: RegexCheck): LinearRegex[] {
  let r = compiledPatterns.get(c);
  if (!r) { r = c.patterns.map((p) => compileLinear(p.pattern, p.flags ?? '')); compiledPatterns.set(c, r); }
  return r;
}

// ------------------------------------------------------------------------------------------------ model checks

/** The Llama-Guard-style prompt: the category list, the conversation, and the answer format. */
export function classifierPrompt(c: Pick<ClassifierCheck, 'categories'>, stage: GuardStage, text: string, question?: string): ChatMessage[] {
  const who = stage === 'input' ? 'User' : 'Agent';
  const cats = c.categories.map((x) => `${x.code}: ${x.name}.${x.description ? ` ${x.description}` : ''}`).join('\n');
  const conv = stage === 'output' && question ? `User: ${question}\n\nAgent: ${text}` : `${who}: ${text}`;
  return [{
    role: 'user',
    content: `Task: Check if there is unsafe content in '${who}' messages in conversations according to our safety policy with the below categories.\n\n` +
      `<BEGIN UNSAFE CONTENT CATEGORIES>\n${cats}\n<END UNSAFE CONTENT CATEGORIES>\n\n` +
      `<BEGIN CONVERSATION>\n\n${conv}\n\n<END CONVERSATION>\n\n` +
      `Provide your safety assessment for ONLY THE LAST ${who} message in the above conversation:\n` +
      `- First line must read 'safe' or 'unsafe'.\n- If unsafe, a second line must include a comma-separated list of violated categories.`,
  }];
}

/** Parses a Llama-Guard answer: "safe", "unsafe\nS1,S3", "unsafe S2", Chinese 安全/不安全; unknown text is null. */
export function parseClassifierOutput(out: string, categories: readonly Category[]): { safe: boolean; categories: string[] } | null {
  const t = out.trim().replace(/^```\w*\s*|```$/g, '').trim();
  const first = t.split(/\r?\n/)[0]?.trim().toLowerCase() ?? '';
  const isUnsafe = /^(unsafe|不安全)/.test(first) || /\bunsafe\b/.test(first);
  const isSafe = !isUnsafe && (/^(safe|安全)/.test(first) || /^["']?safe/.test(first));
  if (!isUnsafe && !isSafe) return null;
  if (isSafe) return { safe: true, categories: [] };
  const rest = t.slice(t.toLowerCase().indexOf('unsafe') >= 0 ? t.toLowerCase().indexOf('unsafe') + 6 : 3);
  const found = new Set<string>();
  for (const m of rest.matchAll(/\bS(\d{1,2})\b/gi)) {
    const code = `S${Number(m[1])}`;
    if (categories.some((c) => c.code === code)) found.add(code);
  }
  for (const c of categories) if (rest.includes(c.name) || rest.toLowerCase().includes(c.name.split(' / ')[0].toLowerCase())) found.add(c.code);
  return { safe: false, categories: [...found] };
}

export function reflectionPrompt(c: Pick<ReflectionCheck, 'policy'>, question: string, draft: string, sources?: Passage[]): ChatMessage[] {
  const src = sources?.length ? `\n\nSources the answer may rely on:\n${sources.map((s, i) => `[${s.ref ?? i + 1}] ${s.text}`).join('\n')}` : '';
  return [
    { role: 'system', content: 'You review a draft answer before it is sent. Reply with one JSON object only: {"verdict": "approve" | "revise" | "refuse", "reason": "...", "revision": "the corrected answer (only for revise)"}.' },
    { role: 'user', content: `Policy:\n${c.policy ?? 'Answers must be correct, polite, on topic, and supported by the sources when sources are given.'}\n\nQuestion:\n${question}${src}\n\nDraft answer:\n${draft}` },
  ];
}

/** Parses the reviewer's JSON (first {...} block; also tolerates a bare verdict word). */
export function parseReflection(out: string): { verdict: 'approve' | 'revise' | 'refuse'; reason: string; revision?: string } | null {
  const m = /\{[\s\S]*\}/.exec(out);
  if (m) {
    try {
      const j = JSON.parse(m[0]) as { verdict?: string; reason?: string; revision?: string };
      const v = String(j.verdict ?? '').toLowerCase();
      if (v === 'approve' || v === 'revise' || v === 'refuse') {
        return { verdict: v, reason: typeof j.reason === 'string' ? j.reason : '', ...(typeof j.revision === 'string' && j.revision.trim() ? { revision: j.revision } : {}) };
      }
    } catch { /* fall through */ }
  }
  const w = /\b(approve|revise|refuse)\b/i.exec(out)?.[1]?.toLowerCase();
  return w ? { verdict: w as 'approve' | 'revise' | 'refuse', reason: out.trim().slice(0, 200) } : null;
}

// ------------------------------------------------------------------------------------------------ running

export function appliesTo(c: GuardCheck, stage: GuardStage): boolean {
  return c.stage === 'both' || c.stage === stage;
}

/** Checks that need the whole answer (they cannot run sentence by sentence). */
export function needsWholeAnswer(c: GuardCheck): boolean {
  return c.kind === 'reflection' || c.kind === 'grounding';
}

interface Outcome { triggered: boolean; reason: string; matches?: string[]; rewritten?: string; forceAction?: GuardAction; error?: boolean }

async function evaluate(c: GuardCheck, input: GuardInput, text: string, deps: GuardDeps): Promise<Outcome> {
  switch (c.kind) {
    case 'keywords': {
      const spans = wordSpans(wordsRe(c), text, !!c.case_sensitive);
      if (!spans.length) return { triggered: false, reason: 'no keyword found' };
      const uniq = [...new Set(spans.map((s) => s.text))];
      return { triggered: true, reason: `keyword${uniq.length > 1 ? 's' : ''} ${uniq.map((u) => JSON.stringify(u)).join(', ')}`, matches: uniq, rewritten: replaceSpans(text, spans, (s) => c.replacement ?? '*'.repeat([...s.text].length)) };
    }
    case 'regex': {
      const res = patternRes(c);
      const spans: Span[] = [];
      const labels: string[] = [];
      res.forEach((re, j) => {
        let hit = false;
        for (const m of re.matchAll(text)) {
          if (m.text === '') continue;
          spans.push({ start: m.index, end: m.index + m.text.length, text: m.text });
          hit = true;
        }
        if (hit) labels.push(c.patterns[j].label ?? c.patterns[j].pattern);
      });
      if (!spans.length) return { triggered: false, reason: 'no pattern matched' };
      return { triggered: true, reason: `pattern${labels.length > 1 ? 's' : ''} ${labels.map((l) => JSON.stringify(l)).join(', ')} matched`, matches: [...new Set(spans.map((s) => s.text))], rewritten: replaceSpans(text, spans, () => c.replacement ?? '***') };
    }
    case 'topics': {
      const res = topicRes(c);
      const hit: string[] = [], words: string[] = [];
      c.topics.forEach((t, j) => {
        const found = [...new Set(wordSpans(res[j], text, false).map((s) => s.text))];
        if (found.length >= (t.min_hits ?? 1)) { hit.push(t.name); words.push(...found); }
      });
      if (!hit.length) return { triggered: false, reason: 'no blocked topic' };
      return { triggered: true, reason: `blocked topic${hit.length > 1 ? 's' : ''} ${hit.map((h) => JSON.stringify(h)).join(', ')}`, matches: words };
    }
    case 'pii': {
      const found = findPii(text, c.types);
      if (!found.length) return { triggered: false, reason: 'no personal data' };
      const kinds = [...new Set(found.map((f) => f.kind))];
      return { triggered: true, reason: `personal data: ${kinds.join(', ')}`, matches: found.map((f) => `${f.kind}:${maskPii(f.text, [{ ...f, start: 0, end: f.text.length }])}`), rewritten: maskPii(text, found) };
    }
    case 'classifier': {
      const model = deps.model?.(c.model);
      if (!model) return { triggered: true, error: true, reason: `classifier model "${c.model}" is not available` };
      const out = await model.complete(classifierPrompt(c, input.stage, text, input.question), { maxTokens: 32, temperature: 0 });
      const r = parseClassifierOutput(out, c.categories);
      if (!r) return { triggered: true, error: true, reason: `classifier answer not understood: ${JSON.stringify(out.slice(0, 80))}` };
      if (r.safe) return { triggered: false, reason: 'classified safe' };
      const names = r.categories.map((code) => `${code} ${c.categories.find((x) => x.code === code)?.name ?? ''}`.trim());
      return { triggered: true, reason: `classified unsafe${names.length ? `: ${names.join(', ')}` : ''}`, matches: r.categories };
    }
    case 'reflection': {
      const model = deps.model?.(c.model);
      if (!model) return { triggered: true, error: true, reason: `reflection model "${c.model}" is not available` };
      const out = await model.complete(reflectionPrompt(c, input.question ?? '', text, input.sources), { maxTokens: 512, temperature: 0 });
      const r = parseReflection(out);
      if (!r) return { triggered: true, error: true, reason: `reviewer answer not understood: ${JSON.stringify(out.slice(0, 80))}` };
      if (r.verdict === 'approve') return { triggered: false, reason: `approved${r.reason ? `: ${r.reason}` : ''}` };
      if (r.verdict === 'refuse') return { triggered: true, reason: `reviewer refused${r.reason ? `: ${r.reason}` : ''}`, forceAction: c.action === 'allow' || c.action === 'warn' ? c.action : 'refuse' };
      return { triggered: true, reason: `reviewer asked for a revision${r.reason ? `: ${r.reason}` : ''}`, ...(r.revision ? { rewritten: r.revision } : {}) };
    }
    case 'grounding': {
      if (!input.sources?.length) return { triggered: false, reason: 'no sources given: not a grounded answer' };
      const rep = await attribute(text, input.sources, { threshold: c.threshold ?? DEFAULT_SUPPORT_THRESHOLD });
      const bad = rep.sentences.filter((s) => !s.supported && !s.skipped);
      if (bad.length <= (c.max_unsupported ?? 0)) return { triggered: false, reason: `every sentence supported (${rep.sentences.length} checked)` };
      let kept = text;
      for (const s of [...bad].sort((a, b) => b.start - a.start)) kept = kept.slice(0, s.start) + kept.slice(s.end);
      return {
        triggered: true, reason: `${bad.length} unsupported sentence${bad.length > 1 ? 's' : ''} (support < ${rep.threshold})`,
        matches: bad.map((s) => `${s.text} (${s.support.toFixed(2)})`), rewritten: kept.trim(),
      };
    }
  }
}

/** Runs one check and returns its verdict plus the text after it. */
export async function runCheck(c: GuardCheck, input: GuardInput, text: string, deps: GuardDeps): Promise<{ verdict: GuardVerdict; text: string }> {
  const t0 = performance.now();
  let o: Outcome;
  try {
    o = await evaluate(c, input, text, deps);
  } catch (e) {
    o = { triggered: true, error: true, reason: `check failed: ${(e as Error).message}` };
  }
  let action: GuardAction = 'allow';
  let out = text;
  if (o.error) action = c.on_error === 'refuse' ? 'refuse' : 'warn';
  else if (o.triggered) {
    action = o.forceAction ?? c.action;
    if (action === 'rewrite') {
      if (o.rewritten !== undefined && o.rewritten !== '') out = o.rewritten;
      else if (c.message) out = c.message;
      else action = 'refuse'; // nothing to rewrite it with
    }
  }
  const verdict: GuardVerdict = {
    check: c.name, kind: c.kind, stage: input.stage, action, triggered: o.triggered, reason: o.reason,
    latency_ms: Math.round((performance.now() - t0) * 1000) / 1000, ...(o.matches ? { matches: o.matches } : {}), ...(o.error ? { error: true } : {}),
  };
  return { verdict, text: out };
}

/** Runs the checks of `input.stage` in order. */
export async function runGuard(policy: GuardPolicy, input: GuardInput, deps: GuardDeps = {}, filter?: (c: GuardCheck) => boolean): Promise<GuardResult> {
  const verdicts: GuardVerdict[] = [];
  let text = input.text;
  for (const c of policy.checks) {
    if (!appliesTo(c, input.stage) || (filter && !filter(c))) continue;
    const r = await runCheck(c, input, text, deps);
    verdicts.push(r.verdict);
    text = r.text;
    if (r.verdict.action === 'refuse') return { verdicts, text, refused: true, message: c.message ?? policy.refusal_message, flagged: verdicts.some((v) => v.action === 'warn') };
  }
  return { verdicts, text, refused: false, message: null, flagged: verdicts.some((v) => v.action === 'warn') };
}

// ------------------------------------------------------------------------------------------------ streaming

/** Index just past the last complete sentence in `s` (0 when none is complete yet). */
export function lastBoundary(s: string): number {
  let end = 0;
  const re = /[。！？；!?;\n]+["'”’」』）)]*|\.(?=\s)["'”’)]*/g;
  for (let m = re.exec(s); m; m = re.exec(s)) end = m.index + m[0].length;
  return end;
}

/**
 * Sentence-boundary filter for a streamed answer. `push(delta)` resolves to the text that may be sent now (already
 * checked, possibly rewritten); the unfinished sentence is held back. `end()` checks the rest and, when the policy
 * has whole-answer checks (reflection, grounding), those too. After a refusal, nothing more is released: the caller
 * sends `message` in place of the rest (text already sent cannot be withdrawn).
 */
export class GuardStream {
  readonly verdicts: GuardVerdict[] = [];
  refused = false;
  message: string | null = null;
  /** Everything released so far. */
  released = '';
  private pending = '';
  private full = '';
  private readonly hold: boolean;
  private readonly sentenceChecks: boolean;

  constructor(private readonly policy: GuardPolicy, private readonly deps: GuardDeps = {}, private readonly ctx: { question?: string; sources?: Passage[] } = {}) {
    const out = policy.checks.filter((c) => appliesTo(c, 'output'));
    this.hold = out.some(needsWholeAnswer);
    this.sentenceChecks = out.some((c) => !needsWholeAnswer(c));
  }

  /** True when text can flow before the answer is complete. */
  get streaming(): boolean { return !this.hold; }

  private async check(text: string, whole: boolean): Promise<string> {
    const r = await runGuard(this.policy, { stage: 'output', text, ...this.ctx }, this.deps, (c) => (whole ? true : !needsWholeAnswer(c)));
    this.verdicts.push(...r.verdicts);
    if (r.refused) { this.refused = true; this.message = r.message; return ''; }
    return r.text;
  }

  async push(delta: string): Promise<string> {
    if (this.refused) return '';
    this.full += delta;
    if (this.hold) return '';
    this.pending += delta;
    const cut = lastBoundary(this.pending);
    if (cut === 0) return '';
    const done = this.pending.slice(0, cut);
    this.pending = this.pending.slice(cut);
    const ok = this.sentenceChecks ? await this.check(done, false) : done;
    this.released += ok;
    return ok;
  }

  /** Checks the rest; resolves to the last text to send (empty after a refusal). */
  async end(): Promise<string> {
    if (this.refused) return '';
    const rest = this.hold ? this.full : this.pending;
    this.pending = '';
    if (!rest) return '';
    const ok = this.hold ? await this.check(rest, true) : this.sentenceChecks ? await this.check(rest, false) : rest;
    this.released += ok;
    return ok;
  }
}
