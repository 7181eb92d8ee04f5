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
}

export function toGgufTokenizerMetadata(tok: Tokenizer, opts: GgufTokenizerOptions = {}): Record<string, GgufTokenizerValue> {
  const json = tok.toJSON();
  const types = new Int32Array(json.vocab.length).fill(GGUF_TOKEN_TYPE.NORMAL);
  for (const id of Object.values(json.special)) types[id] = GGUF_TOKEN_TYPE.CONTROL;
  for (const id of Object.values(json.added ?? {})) types[id] = GGUF_TOKEN_TYPE.USER_DEFINED;
  const meta: Record<string, GgufTokenizerValue> = {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': ggufPreName(json.pre),
    'tokenizer.ggml.tokens': json.vocab,
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
  const tokens = meta['tokenizer.ggml.tokens'];
  const merges = meta['tokenizer.ggml.merges'];
  if (!Array.isArray(tokens) || !Array.isArray(merges)) throw new Error('GGUF: tokenizer.ggml.tokens and tokenizer.ggml.merges are required');
  const types = (meta['tokenizer.ggml.token_type'] ?? []) as ArrayLike<number>;
  const special: Record<string, number> = {};
  const added: Record<string, number> = {};
  for (let id = 0; id < types.length; id++) {
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
