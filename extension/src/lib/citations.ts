/**
 * Citations in an answer: `[3]`, `[1, 2]`, `[1][4]`, full-width `【2】` and `[2-4]` become cite segments between text
 * segments, so the panel renders each number as a link to its source. Pure functions.
 */

export type Segment = { kind: 'text'; text: string } | { kind: 'cite'; ref: number };

const CITE = /[[【]\s*(\d{1,3}(?:\s*[-–,，、]\s*\d{1,3})*)\s*[\]】]/g;

function refsOf(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(/\s*[,，、]\s*/)) {
    const range = /^(\d+)\s*[-–]\s*(\d+)$/.exec(part);
    if (range) {
      const a = Number(range[1]), b = Number(range[2]);
      if (b >= a && b - a < 20) for (let n = a; n <= b; n++) out.push(n);
    } else if (/^\d+$/.test(part)) out.push(Number(part));
  }
  return out;
}

/** The answer as text and cite segments, in order; refs outside 1..`maxRef` stay text (the model made them up). */
export function parseCitations(answer: string, maxRef = Infinity): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const m of answer.matchAll(CITE)) {
    const refs = refsOf(m[1]!);
    if (!refs.length || refs.some((r) => r < 1 || r > maxRef)) continue;
    if (m.index! > last) out.push({ kind: 'text', text: answer.slice(last, m.index) });
    for (const ref of refs) out.push({ kind: 'cite', ref });
    last = m.index! + m[0].length;
  }
  if (last < answer.length) out.push({ kind: 'text', text: answer.slice(last) });
  return out;
}

/** The distinct refs an answer cites, in the order they first appear. */
export function citedRefs(answer: string, maxRef = Infinity): number[] {
  return [...new Set(parseCitations(answer, maxRef).flatMap((s) => (s.kind === 'cite' ? [s.ref] : [])))];
}
