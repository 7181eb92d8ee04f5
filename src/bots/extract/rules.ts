/**
 * Question–answer extraction without any LLM, for statute-like documents and FAQs. Owns the rules that derive
 * questions from a unit's structure and content — its topic (salient terms against the whole document), defined
 * terms (“X是指…”, “…为X”), obligations and permissions (应当/不得/必须/有权/可以), conditions (“…的，…”, “有下列情形之一”),
 * time limits (日/个月/年 + 内/起/以上), penalties (罚款/吊销/处分) — and the paraphraser that rewrites each question
 * in users' words through the domain synonym dictionary read backwards (formal -> colloquial) and question templates.
 * FAQ sections (a heading that is a question) give their heading as the question.
 * Guarantees: deterministic (same units, lexicon and options -> same pairs); every pair names its source unit and
 * its answer is text of that unit; at most `perUnit` pairs per unit, each with up to `paraphrases` indexed phrasings
 * and `heldOut` more that are never indexed (the auto-test asks those).
 */
import type { KnowledgeItem } from '../../knowledge/knowledge-types.ts';
import { segmentWords } from '../../knowledge/text/analyzer.ts';
import { parseChineseNumber } from '../../knowledge/ingest/structure.ts';
import { termKind } from '../../knowledge/text/vocabulary.ts';
import { Lexicon } from '../../knowledge/text/lexicon.ts';
import type { PairKind, PairSource } from '../bot-types.ts';

export interface RuleOptions {
  /** Pairs per unit (default 6). */
  perUnit?: number;
  /** Indexed paraphrases per pair (default 3). */
  paraphrases?: number;
  /** Held-out paraphrases per pair, for the auto-test (default 1). */
  heldOut?: number;
}

export interface DraftPair {
  question: string;
  paraphrases: string[];
  heldOut: string[];
  answer: string;
  kind: PairKind;
  source: PairSource;
  /** Topic pairs: the words the question is about (screened against general vocabulary). */
  terms?: string[];
}

/** Formal -> colloquial rewrites, read from a lexicon's one-way rules ("colloquial => formal") backwards. */
export class Paraphraser {
  /** formal phrase -> colloquial alternatives, longest formal phrases first. */
  readonly rules: [string, string[]][];

  constructor(lexiconText: string) {
    const m = new Map<string, string[]>();
    for (const raw of lexiconText.split('\n')) {
      const line = raw.replace(/#.*$/, '').trim();
      if (!line || line.startsWith('@') || !line.includes('=>')) continue;
      const [l, r] = line.split('=>');
      const lefts = l!.split(/[,，]/).map((s) => s.trim()).filter(Boolean);
      // Generic one-word targets (保险, 诉讼) and question-like colloquial phrases (不想要了) make poor rewrites.
      for (const f of r!.split(/[,，]/).map((s) => s.trim()).filter((s) => s.length >= 3)) {
        const cur = m.get(f) ?? [];
        for (const a of lefts) if (!cur.includes(a) && a !== f && !/[了吗呢么]$/.test(a) && !f.includes(a)) cur.push(a);
        m.set(f, cur);
      }
    }
    this.rules = [...m].filter(([, v]) => v.length).sort((a, b) => b[0].length - a[0].length);
  }

  /** The `variant`-th colloquial rewrite of text (0 = first alternative of each phrase); text itself if none applies. */
  rewrite(text: string, variant: number): string {
    let out = text;
    const used: string[] = [];
    for (const [formal, alts] of this.rules) {
      if (!out.includes(formal) || used.some((u) => u.includes(formal))) continue;
      used.push(formal);
      out = out.split(formal).join(alts[(variant + used.length) % alts.length]!);
    }
    return out;
  }
}

const MODAL = /(应当|不得|必须|有权|可以|不承担|承担)/;
const TIME = /((?:[一二三四五六七八九十百两\d]+)(?:个工作日|日|天|个月|年))(内|以内|以上|以下)?/;
const PENALTY = /罚款|吊销|没收违法所得|处分|责令|取缔|追究刑事责任|行政处罚/;
const CLAUSE_SPLIT = /[。；;]/;

function clean(s: string): string {
  return s.replace(/^第[零〇一二三四五六七八九十百千两\d]+条\s*/, '').replace(/^[（(][一二三四五六七八九十]+[）)]/, '').replace(/[：:]$/, '').trim();
}

/** Cross-references ("依照本法第二十三条的规定") removed: they say nothing a user would ask. */
function noRefs(s: string): string {
  return s.replace(/(依照|按照|适用)?(本法)?第[零〇一二三四五六七八九十百千两\d]+条(第[一二三四五六七八九十]+款)?(、第[零〇一二三四五六七八九十百千两\d]+条(第[一二三四五六七八九十]+款)?)*(的)?(规定)?/g, '').replace(/，，/g, '，');
}

function sentences(text: string): string[] {
  return text.split('\n').flatMap((p) => clean(p).split(CLAUSE_SPLIT)).map((s) => s.trim()).filter((s) => s.length >= 6);
}

function short(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, max);
  const i = Math.max(cut.lastIndexOf('，'), cut.lastIndexOf('、'));
  return i > max / 2 ? cut.slice(0, i) : cut;
}

/** Salient terms of each unit: words of 2+ characters by tf-idf against all units. */
export function salientTerms(units: KnowledgeItem[], k = 5): Map<string, string[]> {
  const docs = units.map((u) => segmentWords(noRefs(clean(u.text))).filter((w) => w.length >= 2 && !/^[\d零〇一二三四五六七八九十百千万两]+[条款项元日年]?$/.test(w) && !/^[\d零〇一二三四五六七八九十百千万两]+万元$/.test(w)));
  const df = new Map<string, number>();
  for (const d of docs) for (const w of new Set(d)) df.set(w, (df.get(w) ?? 0) + 1);
  const n = units.length;
  const out = new Map<string, string[]>();
  units.forEach((u, i) => {
    const tf = new Map<string, number>();
    for (const w of docs[i]!) tf.set(w, (tf.get(w) ?? 0) + 1);
    const scored = [...tf].map(([w, c]) => [w, (1 + Math.log(c)) * Math.log(1 + n / (df.get(w)! + 0.5)) * Math.min(1.5, w.length / 2)] as const);
    out.set(u.id, scored.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, k).map(([w]) => w));
  });
  return out;
}

interface Seed { kind: PairKind; question: string; answer: string; variants: string[]; terms?: string[] }

/** The question seeds of one unit, most specific kinds first. */
function seeds(u: KnowledgeItem, salient: string[], byNumber: Map<number, KnowledgeItem>, domainWords: ReadonlySet<string>): Seed[] {
  const out: Seed[] = [];
  const body = clean(u.text);
  const ss = sentences(u.text);
  // FAQ: a section whose heading is a question
  if (u.kind === 'section' && /[?？吗么呢]$/.test(u.label)) {
    out.push({ kind: 'faq', question: u.label, answer: body, variants: [u.label.replace(/[?？]$/, ''), `请问${u.label}`] });
  }
  // definitions
  for (const s of ss) {
    const m = /([\u4e00-\u9fa5]{2,12})是指/.exec(s) ?? /(?:的|，)为([\u4e00-\u9fa5]{2,8})$/.exec(s)
      ?? (s === ss[0] ? /^([\u4e00-\u9fa5]{2,10}?)是(?=[^指])/.exec(s) : null);
    if (m) {
      const t = m[1]!.replace(/^(本法所称|所称)/, '');
      out.push({ kind: 'definition', question: `什么是${t}？`, answer: s, variants: [`${t}是什么意思`, `${t}的定义`, `${t}指的是什么`, `${t}是指谁`] });
    }
  }
  // time limits
  for (const s of ss) {
    const m = TIME.exec(s);
    if (!m || /本法自/.test(s)) continue;
    const subject = short(noRefs(s.slice(0, m.index)).replace(/[，,]$/, ''), 30);
    const rest = short(noRefs(s.slice(m.index + m[0].length)).replace(/^[，,]/, ''), 24);
    out.push({ kind: 'time', question: `${subject}多长时间${m[2] ? '内' : ''}${rest}？`, answer: s, variants: [`${subject}期限是多久`, `${rest}要多久`, `${subject}几天${rest}`] });
  }
  // penalties
  if (PENALTY.test(body)) {
    const s = ss.find((x) => PENALTY.test(x)) ?? ss[0]!;
    const act = short(noRefs(s.split(/，由|，依法|的，/)[0]!), 34);
    out.push({ kind: 'penalty', question: `${act}，会受到什么处罚？`, answer: s, variants: [`${act}怎么处罚`, `${act}罚款多少`, `${act}要承担什么法律责任`] });
    // cross-references: "有本法第N条规定行为之一的" -> ask about the acts listed in article N
    for (const ref of u.text.matchAll(/本法第([零〇一二三四五六七八九十百千两\d]+)条/g)) {
      const target = byNumber.get(parseChineseNumber(ref[1]!));
      if (!target || target.id === u.id) continue;
      const acts = target.text.split('\n').filter((l) => /^[（(][一二三四五六七八九十]+[）)]/.test(l)).map((l) => short(clean(l).replace(/[；。]$/, ''), 16)).slice(0, 4);
      if (acts.length) out.push({ kind: 'penalty', question: `${acts[0]}，会受到什么处罚？`, answer: s, variants: acts.slice(1).map((a) => `${a}怎么处罚`).concat([`${acts.join('、')}罚款多少`]) });
    }
  }
  // conditions
  for (const s of ss) {
    const i = s.indexOf('的，');
    if (i < 6 || i > 60) continue;
    const cond = short(noRefs(s.slice(0, i + 1)), 40);
    const then = short(noRefs(s.slice(i + 2)), 26);
    out.push({ kind: 'condition', question: `${cond}，怎么办？`, answer: s, variants: [`${cond}，${then}吗`, `如果${cond}会怎样`, `${cond}怎么处理`] });
    if (out.filter((x) => x.kind === 'condition').length >= 3) break;
  }
  // obligations and permissions
  for (const s of ss) {
    const m = MODAL.exec(s);
    if (!m || m.index < 2) continue;
    const subject = short(noRefs(s.slice(0, m.index)).replace(/[，,]$/, ''), 24);
    const pred = short(noRefs(s.slice(m.index + m[0].length)), 26);
    const yesNo = m[1] === '不得' ? `${subject}能不能${pred}？` : m[1] === '可以' || m[1] === '有权' ? `${subject}可不可以${pred}？` : `${subject}要不要${pred}？`;
    out.push({ kind: 'obligation', question: yesNo, answer: s, variants: [`${subject}${m[1]}${pred}吗`, `${pred}的规定`, `${subject}有什么义务`] });
    if (out.filter((x) => x.kind === 'obligation').length >= 3) break;
  }
  // topic (always; on the unit's terms, not its everyday words — with none, the screen rejects it and says why)
  const named = salient.filter((w) => !termKind(w, domainWords));
  const t = (named.length ? named : salient).slice(0, 4);
  if (t.length) {
    const path = u.path[u.path.length - 1]?.replace(/^第[^\s]+\s*/, '') ?? '';
    const about = t.slice(0, 2);
    out.push({
      kind: 'topic', question: `关于${about.join('和')}，法律是怎么规定的？`, answer: body, terms: about,
      variants: [t.join(' '), `${t[0]}${t[1] ? `、${t[1]}` : ''}怎么规定`, `${path}中${t[0]}的规定`, `${t.slice(1).join(' ') || t[0]}`],
    });
  }
  return out;
}

/** The words a lexicon text names (user words and both sides of its rules): the domain's terms. */
export function userWordsOf(lexiconText: string): Set<string> {
  return Lexicon.parse(lexiconText).userWords;
}

/** Pairs for every unit, `perUnit` at most each. */
export function extractRulePairs(units: KnowledgeItem[], docTitle: (u: KnowledgeItem) => string, lexiconText: string, o: RuleOptions = {}): DraftPair[] {
  const perUnit = o.perUnit ?? 6;
  const nPara = o.paraphrases ?? 3;
  const nHeld = o.heldOut ?? 1;
  const para = new Paraphraser(lexiconText);
  const terms = salientTerms(units, 8);
  const domainWords = userWordsOf(lexiconText);
  const byNumber = new Map(units.filter((u) => u.number !== undefined).map((u) => [u.number!, u]));
  const out: DraftPair[] = [];
  for (const u of units) {
    const all = seeds(u, terms.get(u.id) ?? [], byNumber, domainWords);
    // keep the kinds diverse: round-robin over kinds, in the order seeds() gives them
    const byKind = new Map<PairKind, Seed[]>();
    for (const s of all) byKind.set(s.kind, [...(byKind.get(s.kind) ?? []), s]);
    const picked: Seed[] = [];
    const topic = byKind.get('topic');
    if (topic) { picked.push(topic[0]!); byKind.delete('topic'); }
    for (let r = 0; picked.length < perUnit && [...byKind.values()].some((v) => v.length > r); r++) {
      for (const v of byKind.values()) if (v[r] && picked.length < perUnit) picked.push(v[r]!);
    }
    const source: PairSource = { kbId: u.kbId, docId: u.docId, itemId: u.id, number: u.number, label: u.label, docTitle: docTitle(u) };
    for (const s of picked) {
      const phrasings = new Set<string>();
      for (let v = 0; v < 6 && phrasings.size < nPara + nHeld; v++) {
        const base = v === 0 ? s.question : s.variants[(v - 1) % Math.max(1, s.variants.length)] ?? s.question;
        for (const p of [para.rewrite(base, v), base]) if (p !== s.question && p.length >= 2) { phrasings.add(p); break; }
      }
      const list = [...phrasings];
      out.push({ question: s.question, paraphrases: list.slice(0, nPara), heldOut: list.slice(nPara, nPara + nHeld), answer: s.answer, kind: s.kind, source, ...(s.terms ? { terms: s.terms } : {}) });
    }
  }
  return out;
}
