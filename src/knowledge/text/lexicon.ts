/**
 * A knowledge base's domain lexicon: user-dictionary words for the segmenter and synonym rules for query expansion.
 * Owns the lexicon text format and the expansion. Format, one rule a line (# starts a comment):
 *     word word ...                  user words (added to jieba's dictionary)
 *     a, b, c                        a synonym group: any member expands to the others
 *     colloquial => formal, other    one-way: the left side expands to the right side (not back)
 *     @intent 词1|词2 => 章名        a question cue: queries containing a cue word boost chunks whose heading path
 *                                    contains the target (e.g. 罚款|处罚 => 法律责任)
 * Guarantees: expansions are matched on the query's analysed words and on raw substrings of the query (so a
 * colloquial phrase jieba splits still fires); an expansion never removes an original term.
 */

export interface IntentRule { cues: string[]; target: string }

/**
 * Every phrase a lexicon text names, once each, in order: user words, both sides of synonym groups and one-way
 * rules, intent cues and targets (what a check of the lexicon's sources looks at).
 */
export function lexiconEntries(text: string): string[] {
  const lex = Lexicon.parse(text);
  return [...new Set([...lex.userWords, ...lex.intents.flatMap((r) => [...r.cues, r.target])])];
}

export class Lexicon {
  readonly userWords = new Set<string>();
  /** term -> expansions */
  readonly expansions = new Map<string, Set<string>>();
  readonly intents: IntentRule[] = [];

  static parse(text: string): Lexicon {
    const lex = new Lexicon();
    lex.addText(text);
    return lex;
  }

  addText(text: string): void {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*$/, '').trim();
      if (!line) continue;
      if (line.startsWith('@intent')) {
        const [l, r] = line.slice(7).split('=>').map((s) => s.trim());
        if (l && r) this.intents.push({ cues: l.split('|').map((s) => s.trim()).filter(Boolean), target: r });
        continue;
      }
      if (line.includes('=>')) {
        const [l, r] = line.split('=>');
        const lefts = l!.split(/[,，]/).map((s) => s.trim()).filter(Boolean);
        const rights = r!.split(/[,，]/).map((s) => s.trim()).filter(Boolean);
        for (const a of lefts) { this.userWords.add(a); for (const b of rights) this.link(a, b); }
        for (const b of rights) this.userWords.add(b);
        continue;
      }
      if (/[,，]/.test(line)) {
        const group = line.split(/[,，]/).map((s) => s.trim()).filter(Boolean);
        for (const a of group) { this.userWords.add(a); for (const b of group) if (a !== b) this.link(a, b); }
        continue;
      }
      for (const w of line.split(/\s+/)) this.userWords.add(w);
    }
  }

  private link(a: string, b: string): void {
    let s = this.expansions.get(a);
    if (!s) this.expansions.set(a, (s = new Set()));
    s.add(b);
  }

  /** Expansion phrases for a query: for every rule whose left side is a query word or a substring of the raw query. */
  expand(query: string, words: string[]): string[] {
    const out = new Set<string>();
    const ws = new Set(words);
    for (const [a, bs] of this.expansions) {
      if (ws.has(a) || (a.length >= 2 && query.includes(a))) for (const b of bs) if (!query.includes(b)) out.add(b);
    }
    return [...out];
  }

  /** Heading-path targets whose cues occur in the query. */
  intentTargets(query: string): string[] {
    return this.intents.filter((r) => r.cues.some((c) => query.includes(c))).map((r) => r.target);
  }
}
