/**
 * Tokenizer <-> GGUF `tokenizer.*` metadata values (the keys and values only; the GGUF file format is not here).
 *
 * Owns: the mapping llama.cpp's convert_hf_to_gguf.py uses for byte-level BPE vocabularies:
 *   tokenizer.ggml.model            "gpt2"
 *   tokenizer.ggml.pre              ggufPreName(pre): qwen2 | llama-bpe | gpt-2
 *   tokenizer.ggml.tokens           string[]: vocab by id (byte-alphabet strings; special/added tokens as text)
 *   tokenizer.ggml.token_type       int32[]: 1 NORMAL, 3 CONTROL (special), 4 USER_DEFINED (added)
 *   tokenizer.ggml.merges           string[]: "a b" in rank order
 *   tokenizer.ggml.bos_token_id / eos_token_id / padding_token_id   uint32, only when set
 *   tokenizer.ggml.add_bos_token / add_eos_token                     bool, always written (llama.cpp otherwise
 *                                                                    assumes add_bos for llama-bpe)
 *   tokenizer.chat_template         string, when given
 *
 * Guarantees: fromGgufTokenizerMetadata(toGgufTokenizerMetadata(t)) encodes and decodes exactly like t.
 */
import { ggufPreName, preFromGgufName } from './pretokenize.ts';
import { Tokenizer, type TokenizerJSON } from './tokenizer.ts';

export const GGUF_TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export type GgufTokenizerValue = string | number | boolean | string[] | Int32Array;

export interface GgufTokenizerOptions {
  /** tokenizer.ggml.add_bos_token. Default false (chat templates write BOS themselves). */
  addBos?: boolean;
  /** tokenizer.chat_template (a Jinja string, e.g. CHAT_TEMPLATES.chatml.jinja). */
  chatTemplate?: string;
  /**
   * The model's vocabulary size when its embedding rows outnumber the tokenizer's tokens (padded vocabularies, e.g.
   * Qwen2's 151,936 rows for 151,665 tokens): the list is filled with `[PAD<id>]` entries of type UNUSED, as
   * llama.cpp's own converter does, so the token list matches the rows.
   */
  vocabSize?: number;
}

export function toGgufTokenizerMetadata(tok: Tokenizer, opts: GgufTokenizerOptions = {}): Record<string, GgufTokenizerValue> {
  const json = tok.toJSON();
  const n = opts.vocabSize ?? json.vocab.length;
  if (n < json.vocab.length) throw new Error(`the tokenizer has ${json.vocab.length} tokens, more than the model's ${n} embedding rows`);
  const tokens = n === json.vocab.length ? json.vocab : [...json.vocab, ...Array.from({ length: n - json.vocab.length }, (_, i) => `[PAD${json.vocab.length + i}]`)];
  const types = new Int32Array(n).fill(GGUF_TOKEN_TYPE.NORMAL);
  types.fill(GGUF_TOKEN_TYPE.UNUSED, json.vocab.length);
  for (const id of Object.values(json.special)) types[id] = GGUF_TOKEN_TYPE.CONTROL;
  for (const id of Object.values(json.added ?? {})) types[id] = GGUF_TOKEN_TYPE.USER_DEFINED;
  const meta: Record<string, GgufTokenizerValue> = {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': ggufPreName(json.pre),
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.merges': json.merges,
  };
  if (json.bos !== undefined) meta['tokenizer.ggml.bos_token_id'] = json.bos;
  if (json.eos !== undefined) meta['tokenizer.ggml.eos_token_id'] = json.eos;
  if (json.pad !== undefined) meta['tokenizer.ggml.padding_token_id'] = json.pad;
  meta['tokenizer.ggml.add_bos_token'] = opts.addBos ?? false;
  meta['tokenizer.ggml.add_eos_token'] = false;
  if (opts.chatTemplate !== undefined) meta['tokenizer.chat_template'] = opts.chatTemplate;
  return meta;
}

export function fromGgufTokenizerMetadata(meta: Readonly<Record<string, unknown>>): Tokenizer {
  const model = meta['tokenizer.ggml.model'];
  if (model !== 'gpt2') throw new Error(`GGUF tokenizer.ggml.model is ${JSON.stringify(model)}, only "gpt2" (byte-level BPE) is supported`);
  const pre = preFromGgufName(String(meta['tokenizer.ggml.pre'] ?? 'default'));
  const listed = meta['tokenizer.ggml.tokens'];
  const merges = meta['tokenizer.ggml.merges'];
  if (!Array.isArray(listed) || !Array.isArray(merges)) throw new Error('GGUF: tokenizer.ggml.tokens and tokenizer.ggml.merges are required');
  let tokens: unknown[] = listed;
  const types = (meta['tokenizer.ggml.token_type'] ?? []) as ArrayLike<number>;
  // filler entries of a padded vocabulary (UNUSED at the end) are rows of the model, not tokens of the tokenizer
  let n = tokens.length;
  while (n > 0 && types[n - 1] === GGUF_TOKEN_TYPE.UNUSED) n--;
  if (n < tokens.length) tokens = tokens.slice(0, n);
  const special: Record<string, number> = {};
  const added: Record<string, number> = {};
  for (let id = 0; id < Math.min(types.length, n); id++) {
    if (types[id] === GGUF_TOKEN_TYPE.CONTROL) special[tokens[id] as string] = id;
    else if (types[id] === GGUF_TOKEN_TYPE.USER_DEFINED) added[tokens[id] as string] = id;
  }
  const json: TokenizerJSON = { version: 1, pre, vocab: tokens as string[], merges: merges as string[], special };
  if (Object.keys(added).length > 0) json.added = added;
  const id = (key: string): number | undefined => (typeof meta[key] === 'number' ? (meta[key] as number) : undefined);
  const bos = id('tokenizer.ggml.bos_token_id'), eos = id('tokenizer.ggml.eos_token_id'), pad = id('tokenizer.ggml.padding_token_id');
  if (bos !== undefined) json.bos = bos;
  if (eos !== undefined) json.eos = eos;
  if (pad !== undefined) json.pad = pad;
  return new Tokenizer(json);
}
