/**
 * What a bot's test report measures, in words: one sentence per figure (English and Chinese) saying what it counts,
 * over which questions, and what it cannot tell — so that "grounded 40.0%" or "top-1 76%" is never a bare number.
 * Pure: figures in, text out.
 */
import type { TestReport } from './bot-types.ts';

export type ReportFigure = 'questions' | 'top1' | 'top3' | 'groundedness' | 'fallbackRate' | 'latency';
export type Explanation = Record<ReportFigure, { en: string; zh: string }>;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function explainReport(r: Pick<TestReport, 'source' | 'questions' | 'answered' | 'grounded' | 'top1' | 'top3' | 'groundedness' | 'fallbackRate' | 'p50_ms' | 'p95_ms' | 'generator'>): Explanation {
  const n = r.questions;
  const answered = r.answered;
  const gold = r.source === 'held-out' ? 'the unit its pair was made from' : 'the gold article or item the question set gives';
  const goldZh = r.source === 'held-out' ? '该问答对所出自的条文' : '题集标注的条文或条目';
  const extractive = r.generator === 'extractive';
  return {
    questions: r.source === 'held-out'
      ? {
        en: `${n} held-out template paraphrases: one phrasing per approved pair, made by the same rule templates and lexicon as the indexed phrasings but never indexed. They show whether the bot finds a pair's unit from an unindexed rewording of its own question, not how it does on users' questions: give a hand-written set (--questions) for that.`,
        zh: `${n} 条留出的模板改写：每个已批准问答对一条，由生成索引问法的同一套规则模板和词典改写而成，但从未进入索引。它衡量的是机器人能否从自己问题的另一种说法找到对应条文，而不是真实用户提问的表现；要衡量后者请提供人工编写的题集（--questions）。`,
      }
      : {
        en: `${n} questions of the given question set, each with its gold article or item.`,
        zh: `给定题集中的 ${n} 个问题，每题标注了正确的条文或条目。`,
      },
    top1: {
      en: `${pct(r.top1)} of the ${n} questions: the best match is ${gold}.`,
      zh: `${n} 个问题中 ${pct(r.top1)} 的最佳匹配是${goldZh}。`,
    },
    top3: {
      en: `${pct(r.top3)} of the ${n} questions: ${gold} is among the first three matches.`,
      zh: `${n} 个问题中 ${pct(r.top3)} 的前三个匹配里有${goldZh}。`,
    },
    groundedness: {
      en: `${pct(r.groundedness)} of the ${answered} answered questions (${r.grounded} answers): every sentence of the answer is supported by some passage of the whole knowledge base (searched for the answer and each of its sentences), not only by the passage it cites. ${extractive ? 'These answers are extractive (quotes of the best unit), so a figure near 100% is expected and says little; it tests a model\'s answers.' : `Answers by ${r.generator}.`} It does not say whether the answer is the right one (that is top-1).`,
      zh: `已作答的 ${answered} 个问题中 ${pct(r.groundedness)}（${r.grounded} 个回答）的每一句都能在整个知识库中找到支持的段落（按回答及其每一句检索），而不只是它引用的那一段。${extractive ? '这些回答是抽取式的（直接引用最佳条文），接近 100% 是预期结果，说明不了太多；它用于检验模型生成的回答。' : `回答由 ${r.generator} 生成。`}它不说明回答是否答对了问题（那是 top-1）。`,
    },
    fallbackRate: {
      en: `${pct(r.fallbackRate)} of the ${n} questions got the fallback answer (match confidence below the bot's threshold).`,
      zh: `${n} 个问题中 ${pct(r.fallbackRate)} 得到的是兜底回答（匹配置信度低于机器人的阈值）。`,
    },
    latency: {
      en: `p50 ${r.p50_ms} ms, p95 ${r.p95_ms} ms: the whole answer path per question (match, answer${extractive ? '' : ', generation'}), on this server.`,
      zh: `每个问题完整回答路径（匹配、作答${extractive ? '' : '、生成'}）在本服务器上的耗时：p50 ${r.p50_ms} ms，p95 ${r.p95_ms} ms。`,
    },
  };
}
