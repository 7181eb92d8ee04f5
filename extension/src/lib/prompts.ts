/**
 * The panel's prompts, in Chinese and English (the language of the page's text picks them): summaries of a part
 * and of the whole, and translation between Chinese and English. Pure functions returning chat messages.
 */

export interface Message { role: 'system' | 'user' | 'assistant'; content: string }

/** Whether a text is mostly Chinese (Han characters against Latin letters). */
export function isMostlyChinese(text: string): boolean {
  const han = (text.match(/\p{Script=Han}/gu) ?? []).length;
  const latin = (text.match(/[A-Za-z]/g) ?? []).length;
  return han > 0 && han * 2 >= latin;
}

/** One step of a long page's summary: part `i` of `n`. */
export function partSummaryPrompt(title: string, text: string, i: number, n: number, zh: boolean): Message[] {
  return zh
    ? [{ role: 'system', content: '你是摘要助手。只依据给出的文字，用中文写简洁的要点摘要，不要添加原文没有的内容。' },
      { role: 'user', content: `网页「${title}」第 ${i}/${n} 部分：\n\n${text}\n\n请用 3 到 5 个要点概括这一部分。` }]
    : [{ role: 'system', content: 'You summarise text. Use only the text given, write concise bullet points in English, add nothing that is not there.' },
      { role: 'user', content: `Page "${title}", part ${i} of ${n}:\n\n${text}\n\nSummarise this part in 3 to 5 bullet points.` }];
}

/** The last step: the parts' summaries (or a short page's whole text) into one summary. */
export function finalSummaryPrompt(title: string, parts: string[], zh: boolean, whole: boolean): Message[] {
  const body = whole ? parts[0] : parts.map((p, i) => (zh ? `第 ${i + 1} 部分：\n${p}` : `Part ${i + 1}:\n${p}`)).join('\n\n');
  return zh
    ? [{ role: 'system', content: '你是摘要助手。只依据给出的文字，用中文写摘要，不要添加原文没有的内容。' },
      { role: 'user', content: `${whole ? `网页「${title}」的内容` : `网页「${title}」各部分的摘要`}：\n\n${body}\n\n请写一段总体摘要（不超过 200 字），再列出 3 到 5 个要点。` }]
    : [{ role: 'system', content: 'You summarise text. Use only the text given, write in English, add nothing that is not there.' },
      { role: 'user', content: `${whole ? `The text of the page "${title}"` : `Summaries of the parts of the page "${title}"`}:\n\n${body}\n\nWrite a short overall summary (at most 120 words), then 3 to 5 key points.` }];
}

export type Direction = 'zh-en' | 'en-zh';

/** Chinese text goes to English, anything else to Chinese. */
export function autoDirection(text: string): Direction {
  return isMostlyChinese(text) ? 'zh-en' : 'en-zh';
}

export function translatePrompt(text: string, dir: Direction): Message[] {
  return dir === 'zh-en'
    ? [{ role: 'system', content: 'You are a professional translator. Translate the Chinese text the user gives into natural, accurate English. Reply with the translation only.' },
      { role: 'user', content: text }]
    : [{ role: 'system', content: '你是专业翻译。把用户给出的英文（或其他语言）文字准确、自然地译成简体中文。只输出译文。' },
      { role: 'user', content: text }];
}
