/**
 * Needle-in-a-haystack documents (Kamradt 2023), Chinese and English: a fact (the needle: "the access code of X is
 * NNNN") hidden at a relative depth in filler text of a given length, and a question about it.
 *
 * Owns: the deterministic filler (neutral sentences combined from word lists, never containing a code), the needle
 * placement (at the sentence boundary nearest depth * length), and the generator `needle` for task definitions:
 *   dataset: {kind: generator, name: needle, params: {lang: zh|en, lengths: [500, 2000], depths: [0, 0.5, 1], seed: 0}}
 * Each document: {id, lang, length, depth, context, question, answer, choices (4 codes), gold}. Lengths are in
 * characters of context. Guarantees: the same params give the same documents; the answer occurs exactly once.
 */
import { Rng } from '../engine/rng.ts';
import { registerGenerator } from './task.ts';
import type { Doc } from './bench-types.ts';

const EN = {
  subjects: ['The river', 'A quiet village', 'The old library', 'Every spring the valley', 'The mountain road', 'A small bakery', 'The harbour', 'The museum garden', 'An afternoon train', 'The city park'],
  verbs: ['welcomes', 'remembers', 'collects', 'shelters', 'watches', 'follows', 'greets', 'keeps'],
  objects: ['travellers from distant towns', 'the sound of the morning bells', 'stories told by fishermen', 'the colours of the season', 'children on their way to school', 'a long line of pine trees', 'the smell of fresh bread', 'letters that were never sent'],
  tails: ['and nobody seems to mind.', 'while the clouds move slowly east.', 'as it has for many years.', 'until the lamps are lit at dusk.', 'without any hurry at all.', 'under a pale blue sky.'],
};
const ZH = {
  subjects: ['小河', '安静的村庄', '老图书馆', '每年春天山谷里', '山间小路', '街角的面包店', '港口', '博物馆的花园', '午后的火车', '城市公园'],
  verbs: ['迎接着', '记录着', '收藏着', '守护着', '望着', '陪伴着', '问候着', '留住了'],
  objects: ['远方来的旅人', '清晨的钟声', '渔夫讲的故事', '季节变换的颜色', '上学路上的孩子', '一排排松树', '新鲜面包的香味', '从未寄出的信'],
  tails: ['谁也不觉得奇怪。', '云慢慢向东飘去。', '多年来一直如此。', '直到黄昏点起灯火。', '一点也不着急。', '天空是淡淡的蓝色。'],
};
const PLACES_EN = ['Hangzhou warehouse', 'north gate', 'robot lab', 'archive room', 'east workshop', 'server room'];
const PLACES_ZH = ['杭州仓库', '北门', '机器人实验室', '档案室', '东区车间', '机房'];

function filler(lang: 'zh' | 'en', chars: number, rng: Rng): string[] {
  const w = lang === 'zh' ? ZH : EN;
  const out: string[] = [];
  let n = 0;
  while (n < chars) {
    const pick = (xs: string[]) => xs[rng.int(xs.length)];
    const s = lang === 'zh' ? `${pick(w.subjects)}${pick(w.verbs)}${pick(w.objects)}，${pick(w.tails)}` : `${pick(w.subjects)} ${pick(w.verbs)} ${pick(w.objects)} ${pick(w.tails)}`;
    out.push(s);
    n += s.length + (lang === 'zh' ? 0 : 1);
  }
  return out;
}

export interface NeedleParams { lang?: 'zh' | 'en'; lengths?: number[]; depths?: number[]; seed?: number; repeats?: number }

/** The documents for every length x depth (x repeats). */
export function needleDocs(p: NeedleParams = {}): Doc[] {
  const lang = p.lang ?? 'en';
  const lengths = p.lengths ?? [500, 2000];
  const depths = p.depths ?? [0, 0.25, 0.5, 0.75, 1];
  const repeats = p.repeats ?? 1;
  const docs: Doc[] = [];
  for (const length of lengths) {
    for (const depth of depths) {
      for (let r = 0; r < repeats; r++) {
        const rng = new Rng(((p.seed ?? 0) * 100_003 + length * 131 + Math.round(depth * 1000) * 7 + r) >>> 0);
        const code = String(1000 + rng.int(9000));
        const places = lang === 'zh' ? PLACES_ZH : PLACES_EN;
        const place = places[rng.int(places.length)];
        const needle = lang === 'zh' ? `${place}的门禁密码是${code}。` : `The access code of the ${place} is ${code}.`;
        const sentences = filler(lang, Math.max(0, length - needle.length), rng);
        const at = Math.round(depth * sentences.length);
        sentences.splice(at, 0, needle);
        const context = sentences.join(lang === 'zh' ? '' : ' ');
        const choices = new Set([code]);
        while (choices.size < 4) choices.add(String(1000 + rng.int(9000)));
        const opts = [...choices];
        for (let i = opts.length - 1; i > 0; i--) { const j = rng.int(i + 1); [opts[i], opts[j]] = [opts[j], opts[i]]; }
        docs.push({
          id: `needle-${lang}-${length}-${depth}-${r}`, lang, length, depth, context, answer: code, choices: opts, gold: opts.indexOf(code),
          question: lang === 'zh' ? `${place}的门禁密码是多少？` : `What is the access code of the ${place}?`,
        });
      }
    }
  }
  return docs;
}

registerGenerator('needle', (params) => needleDocs(params as NeedleParams));
