/**
 * HF `tokenizer.json` <-> Tokenizer, for byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2 style).
 *
 * Owns: `toHfTokenizerJson` and `fromHfTokenizerJson`. The written file has:
 *   model          BPE: vocab (text -> id, BPE tokens only), merges ("a b" strings, rank order), ignore_merges
 *                  (true for llama3, like Meta's file), no unk token, no byte fallback
 *   added_tokens   every special (special: true) and added (special: false) token, no strip/normalize flags
 *   normalizer     null, or NFC for tokenizers that carry it (Qwen2)
 *   pre_tokenizer  qwen2/llama3: Sequence[Split(pattern, Isolated), ByteLevel(use_regex false)];
 *                  gpt2: ByteLevel(use_regex true), which is GPT-2's own pattern
 *   post_processor ByteLevel (adds no BOS: callers and chat templates add it)
 *   decoder        ByteLevel
 * Reading accepts what Qwen2, Qwen2.5 and Llama 3 ship: merges as "a b" strings or [a, b] arrays, added tokens
 * inside or outside model.vocab, the Sequence or plain ByteLevel pre-tokenizer. It throws, naming the field, on
 * what this engine would tokenize differently (another split pattern, add_prefix_space, byte_fallback, a
 * normalizer other than NFC, holes in the id range); bos/eos/pad come from tokenizer_config.json when given.
 * `model.ignore_merges` is implied by the pre-tokenizer (true for llama3 only), as llama.cpp implies it.
 *
 * Guarantees: fromHfTokenizerJson(toHfTokenizerJson(t)) encodes and decodes exactly like t.
 */
import { ignoresMerges, HF_PATTERNS, preFromHfPattern, type PreTokenizer } from './pretokenize.ts';
import { Tokenizer, type TokenizerJSON } from './tokenizer.ts';

export interface HfAddedToken {
  id: number;
  content: string;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  special?: boolean;
}

/** The parts of tokenizer.json this module reads and writes (others pass through untyped). */
export interface HfTokenizerJson {
  version?: string;
  truncation?: unknown;
  padding?: unknown;
  added_tokens?: HfAddedToken[];
  normalizer?: { type: string; [k: string]: unknown } | null;
  pre_tokenizer?: HfPreTokenizer | null;
  post_processor?: unknown;
  decoder?: { type: string; [k: string]: unknown } | null;
  model: {
    type?: string;
    dropout?: number | null;
    unk_token?: string | null;
    continuing_subword_prefix?: string | null;
    end_of_word_suffix?: string | null;
    fuse_unk?: boolean;
    byte_fallback?: boolean;
    ignore_merges?: boolean;
    vocab: Record<string, number>;
    merges: (string | [string, string])[];
  };
}

type HfPreTokenizer = {
  type: string;
  pretokenizers?: HfPreTokenizer[];
  pattern?: { Regex?: string; String?: string };
  behavior?: string;
  invert?: boolean;
  add_prefix_space?: boolean;
  trim_offsets?: boolean;
  use_regex?: boolean;
};

/** The token fields of tokenizer_config.json (strings or AddedToken objects). */
export interface HfTokenizerConfig {
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  pad_token?: string | { content: string } | null;
}

export function toHfTokenizerJson(tok: Tokenizer): HfTokenizerJson {
  const json = tok.toJSON();
  const atomic = new Set<number>([...Object.values(json.special), ...Object.values(json.added ?? {})]);
  const vocab: Record<string, number> = {};
  json.vocab.forEach((t, id) => {
    if (!atomic.has(id)) vocab[t] = id;
  });
  const added: HfAddedToken[] = [];
  for (const [content, id] of Object.entries(json.special)) added.push(addedToken(id, content, true));
  for (const [content, id] of Object.entries(json.added ?? {})) added.push(addedToken(id, content, false));
  added.sort((a, b) => a.id - b.id);
  const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: useRegex });
  const pre_tokenizer: HfPreTokenizer = json.pre === 'gpt2'
    ? byteLevel(true)
    : {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: HF_PATTERNS[json.pre] }, behavior: 'Isolated', invert: false },
          byteLevel(false),
        ],
      };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: json.normalizer === 'nfc' ? { type: 'NFC' } : null,
    pre_tokenizer,
    post_processor: byteLevel(false),
    decoder: byteLevel(false),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: ignoresMerges(json.pre),
      vocab,
      merges: json.merges.slice(),
    },
  };
}

export function fromHfTokenizerJson(hf: HfTokenizerJson, config: HfTokenizerConfig = {}): Tokenizer {
  const model = hf?.model;
  if (!model || typeof model !== 'object') throw new Error('tokenizer.json: no model');
  if (model.type !== undefined && model.type !== 'BPE') throw new Error(`tokenizer.json: model.type is '${model.type}', only BPE is supported`);
  if (model.byte_fallback) throw new Error('tokenizer.json: model.byte_fallback is set (a SentencePiece-style BPE), not a byte-level one');
  if (model.continuing_subword_prefix || model.end_of_word_suffix) throw new Error('tokenizer.json: subword prefixes/suffixes are not byte-level BPE');
  if (!model.vocab || typeof model.vocab !== 'object' || !Array.isArray(model.merges)) throw new Error('tokenizer.json: model.vocab and model.merges are required');

  const pre = readPreTokenizer(hf.pre_tokenizer ?? null);
  // model.ignore_merges is not read: the pre-tokenizer decides it, as in llama.cpp (the two agree for Qwen2 and Llama 3
  // files; older Llama 3 files lack the field, and HF then merges where llama.cpp and this engine do not)
  let normalizer: 'nfc' | undefined;
  if (hf.normalizer) {
    if (hf.normalizer.type === 'NFC') normalizer = 'nfc';
    else throw new Error(`tokenizer.json: normalizer '${hf.normalizer.type}' is not supported (only NFC)`);
  }
  if (hf.decoder && hf.decoder.type !== 'ByteLevel') throw new Error(`tokenizer.json: decoder '${hf.decoder.type}' is not ByteLevel`);

  const byId = new Map<number, string>();
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!Number.isInteger(id) || id < 0) throw new Error(`tokenizer.json: model.vocab[${JSON.stringify(token)}] = ${id} is not a valid id`);
    if (byId.has(id)) throw new Error(`tokenizer.json: id ${id} is used by ${JSON.stringify(byId.get(id))} and ${JSON.stringify(token)}`);
    byId.set(id, token);
  }
  const special: Record<string, number> = {};
  const added: Record<string, number> = {};
  for (const t of hf.added_tokens ?? []) {
    if (!Number.isInteger(t.id) || t.id < 0 || typeof t.content !== 'string') throw new Error(`tokenizer.json: bad added token ${JSON.stringify(t)}`);
    if (t.lstrip || t.rstrip || t.single_word) throw new Error(`tokenizer.json: added token ${JSON.stringify(t.content)} uses lstrip/rstrip/single_word, which are not supported`);
    byId.set(t.id, t.content); // an added token's text is its literal content
    (t.special ? special : added)[t.content] = t.id;
  }
  let size = 0;
  for (const id of byId.keys()) if (id >= size) size = id + 1;
  const vocab = new Array<string>(size);
  for (let id = 0; id < size; id++) {
    const t = byId.get(id);
    if (t === undefined) throw new Error(`tokenizer.json: no token has id ${id} (ids must be 0..${size - 1} without holes)`);
    vocab[id] = t;
  }
  const merges = model.merges.map((m, rank) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string' && !m[0].includes(' ') && !m[1].includes(' ')) return `${m[0]} ${m[1]}`;
    throw new Error(`tokenizer.json: merge ${rank} ${JSON.stringify(m)} is neither "a b" nor [a, b] of space-free tokens`);
  });

  const json: TokenizerJSON = { version: 1, pre, vocab, merges, special };
  if (Object.keys(added).length > 0) json.added = added;
  if (normalizer) json.normalizer = normalizer;
  for (const [role, value] of [['bos', config.bos_token], ['eos', config.eos_token], ['pad', config.pad_token]] as const) {
    if (value === undefined || value === null) continue;
    const content = typeof value === 'string' ? value : value.content;
    const id = special[content] ?? added[content] ?? model.vocab[content];
    if (id === undefined) throw new Error(`tokenizer_config.json: ${role}_token ${JSON.stringify(content)} is not in the vocab`);
    json[role] = id;
  }
  return new Tokenizer(json);
}

function addedToken(id: number, content: string, special: boolean): HfAddedToken {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

function readPreTokenizer(p: HfPreTokenizer | null): PreTokenizer {
  if (p === null) throw new Error('tokenizer.json: no pre_tokenizer (a byte-level BPE needs ByteLevel)');
  const steps = p.type === 'Sequence' ? p.pretokenizers ?? [] : [p];
  let split: PreTokenizer | null = null;
  let byteLevel: HfPreTokenizer | null = null;
  for (const s of steps) {
    if (s.type === 'Split') {
      const pattern = s.pattern?.Regex;
      const known = pattern === undefined ? null : preFromHfPattern(pattern);
      if (known === null || split !== null || s.invert || (s.behavior !== undefined && s.behavior !== 'Isolated')) {
        throw new Error(`tokenizer.json: Split pre-tokenizer ${JSON.stringify(s)} is not one of the supported patterns (qwen2, llama3)`);
      }
      split = known;
    } else if (s.type === 'ByteLevel') {
      byteLevel = s;
    } else {
      throw new Error(`tokenizer.json: pre-tokenizer step '${s.type}' is not supported`);
    }
  }
  if (byteLevel === null) throw new Error('tokenizer.json: the pre_tokenizer has no ByteLevel step');
  if (byteLevel.add_prefix_space) throw new Error('tokenizer.json: ByteLevel add_prefix_space is not supported');
  const useRegex = byteLevel.use_regex ?? true;
  if (split !== null && !useRegex) return split;
  if (split === null && useRegex) return 'gpt2';
  throw new Error('tokenizer.json: expected either Split + ByteLevel(use_regex false) or ByteLevel(use_regex true)');
}
