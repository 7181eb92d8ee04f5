/**
 * A page summarised in steps: a short page in one call; a long one part by part (groups of passages), then the
 * parts' summaries into one. Progress is reported before each call; the caller's AbortSignal stops between and
 * during calls (the model call receives it), and what was done is kept. The model comes in as a function, so the
 * steps are the same for any chat model.
 */
import { groupForSummary, type Passage } from './passages.ts';
import { finalSummaryPrompt, isMostlyChinese, partSummaryPrompt, type Message } from './prompts.ts';

export type Complete = (messages: Message[], signal: AbortSignal, onText?: (t: string) => void) => Promise<string>;

export interface SummaryProgress {
  /** 1-based step now running, of `total` (the parts, then the final summary). */
  step: number;
  total: number;
  /** 'part' while summarising part `step`, 'final' for the last call. */
  phase: 'part' | 'final';
}

export interface SummaryResult {
  summary: string;
  /** Each part's summary (empty for a short page). */
  parts: string[];
  stopped: boolean;
}

export interface SummaryOptions {
  title: string;
  signal: AbortSignal;
  onProgress?: (p: SummaryProgress) => void;
  /** The final summary's text as it streams. */
  onText?: (t: string) => void;
  /** One call's text budget (default 3000 characters). */
  partChars?: number;
  /** Summarise in Chinese (default: when the page's text is mostly Chinese). */
  zh?: boolean;
}

const aborted = (e: unknown) => (e as { name?: string }).name === 'AbortError';

export async function summariseInSteps(passages: Passage[], complete: Complete, o: SummaryOptions): Promise<SummaryResult> {
  const zh = o.zh ?? isMostlyChinese(passages.map((p) => p.text).join(' ').slice(0, 4000));
  const groups = groupForSummary(passages, o.partChars ?? 3000);
  const parts: string[] = [];
  const total = groups.length > 1 ? groups.length + 1 : 1;
  try {
    if (groups.length > 1) {
      for (let i = 0; i < groups.length; i++) {
        if (o.signal.aborted) return { summary: '', parts, stopped: true };
        o.onProgress?.({ step: i + 1, total, phase: 'part' });
        parts.push((await complete(partSummaryPrompt(o.title, groups[i]!.map((p) => p.text).join('\n'), i + 1, groups.length, zh), o.signal)).trim());
      }
    }
    if (o.signal.aborted) return { summary: '', parts, stopped: true };
    o.onProgress?.({ step: total, total, phase: 'final' });
    const whole = groups.length <= 1;
    const summary = await complete(finalSummaryPrompt(o.title, whole ? [passages.map((p) => p.text).join('\n')] : parts, zh, whole), o.signal, o.onText);
    return { summary: summary.trim(), parts, stopped: false };
  } catch (e) {
    if (aborted(e) || o.signal.aborted) return { summary: '', parts, stopped: true };
    throw e;
  }
}
