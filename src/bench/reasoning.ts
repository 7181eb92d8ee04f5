/**
 * Offline reasoning items, generated: multi-step arithmetic word problems and number comparisons, in Chinese and
 * English, as four-option multiple choice (distractors are the results of plausible slips: a wrong operation or an
 * off-by-one). Generator `arithmetic` for task definitions:
 *   dataset: {kind: generator, name: arithmetic, params: {lang: zh|en, n: 50, seed: 0}}
 * Each document: {id, lang, question, choices (4 numbers as text), gold, answer}.
 * Guarantees: deterministic per params; exactly one choice is correct; the gold position is uniform.
 */
import { Rng } from '../engine/rng.ts';
import { registerGenerator } from './task.ts';
import type { Doc } from './bench-types.ts';

const NAMES_EN = ['Anna', 'Ben', 'Chen', 'Dana', 'Eli'];
const NAMES_ZH = ['小明', '小红', '王芳', '李雷', '张伟'];
const ITEMS_EN = ['apples', 'books', 'screws', 'tickets', 'boxes'];
const ITEMS_ZH = ['苹果', '本书', '颗螺丝', '张票', '个箱子'];

export function arithmeticDocs(p: { lang?: 'zh' | 'en'; n?: number; seed?: number } = {}): Doc[] {
  const lang = p.lang ?? 'en', n = p.n ?? 50;
  const rng = new Rng(((p.seed ?? 0) * 7919 + (lang === 'zh' ? 1 : 2)) >>> 0);
  const docs: Doc[] = [];
  for (let i = 0; i < n; i++) {
    let question: string, answer: number;
    const wrong = new Set<number>();
    if (i % 3 === 2) {
      const a = 10 + rng.int(90), b = 10 + rng.int(90), c = 2 + rng.int(8);
      answer = Math.max(a, b) * c;
      question = lang === 'zh' ? `先取 ${a} 和 ${b} 中较大的数，再乘以 ${c}，结果是多少？` : `Take the larger of ${a} and ${b}, then multiply it by ${c}. What is the result?`;
      wrong.add(Math.min(a, b) * c).add(Math.max(a, b) + c).add(answer + c);
    } else {
      const name = (lang === 'zh' ? NAMES_ZH : NAMES_EN)[rng.int(5)], k = rng.int(5);
      const item = (lang === 'zh' ? ITEMS_ZH : ITEMS_EN)[k];
      const a = 5 + rng.int(30), b = 2 + rng.int(20), c = 1 + rng.int(Math.min(a + b - 1, 15));
      answer = a + b - c;
      question = lang === 'zh'
        ? `${name}有 ${a} ${item}，又得到 ${b} ${item}，然后送出 ${c} ${item}。${name}现在有多少？`
        : `${name} has ${a} ${ITEMS_EN[k]}, gets ${b} more, then gives away ${c}. How many ${ITEMS_EN[k]} does ${name} have now?`;
      wrong.add(a + b + c).add(a - b + c).add(answer + 1).add(answer - 1);
    }
    wrong.delete(answer);
    const distract = [...wrong].filter((x) => x >= 0).slice(0, 3);
    while (distract.length < 3) { const x = answer + 2 + rng.int(20); if (!distract.includes(x) && x !== answer) distract.push(x); }
    const gold = rng.int(4);
    const choices = distract.map(String);
    choices.splice(gold, 0, String(answer));
    docs.push({ id: `arith-${lang}-${i}`, lang, question, choices, gold, answer: String(answer) });
  }
  return docs;
}

registerGenerator('arithmetic', (params) => arithmeticDocs(params as { lang?: 'zh' | 'en'; n?: number; seed?: number }));
