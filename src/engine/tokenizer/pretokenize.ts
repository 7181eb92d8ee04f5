/**
 * Pre-tokenizers: the regex that cuts text into pieces before BPE runs on each piece on its own.
 *
 * Owns: the named split patterns and their three spellings: the HF `tokenizer.json` one (Oniguruma syntax, written
 * verbatim into exports), the JS one (what encode and the trainer run), and the GGUF `tokenizer.ggml.pre` name.
 *
 *   name     HF / llama.cpp pattern                                                        GGUF pre     ignore_merges
 *   qwen2    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *                                                                                          qwen2        no
 *   llama3   same, but \p{N}{1,3} (digits in groups of up to three)                         llama-bpe    yes
 *   gpt2     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+   gpt-2        no
 *
 * Guarantees: the JS pattern splits exactly like the HF one. JS has no `(?i:...)`, so the contractions are spelled out
 * case by case (as llama.cpp does); `\s`/`\S` become `\p{White_Space}`/`\P{White_Space}` because JS `\s` also matches
 * U+FEFF, which Oniguruma's and Rust's `\s` do not. The pieces of a string concatenate back to the string: every
 * character lands in exactly one piece (the last alternative `\s+` and the class alternatives cover everything).
 * `ignoreMerges` is llama.cpp's per-pre flag (set for llama3): a piece that is itself a vocabulary token is emitted
 * as that token without running the merges; tiktoken and HF (`ignore_merges: true` in Llama 3's tokenizer.json) agree.
 */

export type PreTokenizer = 'qwen2' | 'llama3' | 'gpt2';

export const PRE_TOKENIZERS: readonly PreTokenizer[] = ['qwen2', 'llama3', 'gpt2'];

const CONTRACTIONS_I = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
const CONTRACTIONS_JS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

/** The split pattern as HF tokenizer.json writes it (Split pre-tokenizer, behavior Isolated). */
export const HF_PATTERNS: Readonly<Record<PreTokenizer, string>> = {
  qwen2: `${CONTRACTIONS_I}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
  llama3: `${CONTRACTIONS_I}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
  gpt2: `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`,
};

/** HF syntax -> JS `u`-flag syntax (see the header for why each rewrite). */
function toJsSource(hf: string): string {
  return hf.split(CONTRACTIONS_I).join(CONTRACTIONS_JS).replaceAll('\\s', '\\p{White_Space}').replaceAll('\\S', '\\P{White_Space}');
}

const JS_SOURCES: Readonly<Record<PreTokenizer, string>> = {
  qwen2: toJsSource(HF_PATTERNS.qwen2),
  llama3: toJsSource(HF_PATTERNS.llama3),
  gpt2: toJsSource(HF_PATTERNS.gpt2),
};

/** A fresh global regex for `pre` (callers own its lastIndex). */
export function preTokenizerRegex(pre: PreTokenizer): RegExp {
  const source = JS_SOURCES[pre];
  if (source === undefined) throw new Error(`unknown pre-tokenizer '${pre}' (known: ${PRE_TOKENIZERS.join(', ')})`);
  return new RegExp(source, 'gu');
}

/** The pieces of `text` under `pre`, in order; they concatenate to `text`. */
export function preSplit(text: string, pre: PreTokenizer): string[] {
  const re = preTokenizerRegex(pre);
  const out: string[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push(m[0]);
  return out;
}

/** llama.cpp's ignore_merges for this pre-tokenizer (see header). */
export function ignoresMerges(pre: PreTokenizer): boolean {
  return pre === 'llama3';
}

/** The GGUF `tokenizer.ggml.pre` value llama.cpp maps to the same splitting (what convert_hf_to_gguf.py writes). */
export function ggufPreName(pre: PreTokenizer): string {
  switch (pre) {
    case 'qwen2': return 'qwen2';
    case 'llama3': return 'llama-bpe';
    case 'gpt2': return 'gpt-2';
  }
}

/** The pre-tokenizer for a GGUF `tokenizer.ggml.pre` value; throws for ones this engine does not implement. */
export function preFromGgufName(name: string): PreTokenizer {
  switch (name) {
    case 'qwen2': return 'qwen2';
    case 'llama3': case 'llama-v3': case 'llama-bpe': return 'llama3';
    case 'gpt-2': case 'gpt2': return 'gpt2';
    default: throw new Error(`GGUF tokenizer.ggml.pre '${name}' is not supported (supported: qwen2, llama-bpe, gpt-2)`);
  }
}

/** The pre-tokenizer whose HF pattern is `pattern`, or null. */
export function preFromHfPattern(pattern: string): PreTokenizer | null {
  for (const pre of PRE_TOKENIZERS) if (HF_PATTERNS[pre] === pattern) return pre;
  return null;
}
