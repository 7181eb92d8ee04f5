/**
 * The engine's tokenizer: byte-level BPE in the GPT-2 / Llama 3 / Qwen2 style, so that what is trained here exports
 * to GGUF (`tokenizer.ggml.model = "gpt2"`, `tokenizer.ggml.pre` from `ggufPreName`) and HF tokenizer.json, and
 * llama.cpp and HF produce the same ids.
 *
 *   byte-level.ts     the GPT-2 byte <-> character alphabet
 *   pretokenize.ts    the split patterns (qwen2, llama3, gpt2) in HF, JS and GGUF spelling
 *   tokenizer.ts      Tokenizer: encode, decode, JSON form
 *   trainer.ts        trainBpe
 *   stream.ts         StreamDecoder for generation
 *   hf.ts             tokenizer.json in and out
 *   gguf.ts           GGUF tokenizer.* metadata values in and out
 *   chat-template.ts  ChatML / Qwen2 / Llama 3 templates, SFT labels
 */
export { Tokenizer, type TokenizerJSON, type EncodeOptions, type DecodeOptions } from './tokenizer.ts';
export { trainBpe, CHATML_SPECIAL_TOKENS, type TrainBpeOptions } from './trainer.ts';
export { StreamDecoder } from './stream.ts';
export {
  PRE_TOKENIZERS, HF_PATTERNS, preSplit, ggufPreName, preFromGgufName, ignoresMerges, type PreTokenizer,
} from './pretokenize.ts';
export { BYTE_TO_CHAR, bytesToSymbols, symbolsToBytes } from './byte-level.ts';
export {
  toGgufTokenizerMetadata, fromGgufTokenizerMetadata, GGUF_TOKEN_TYPE, type GgufTokenizerOptions, type GgufTokenizerValue,
} from './gguf-metadata.ts';
export { toHfTokenizerJson, fromHfTokenizerJson, type HfTokenizerJson, type HfTokenizerConfig } from './hf-tokenizer-json.ts';
export {
  CHAT_TEMPLATES, IGNORE_INDEX, getChatTemplate, renderChatText, encodeChat, chatStopIds,
  type ChatMessage, type ChatRole, type ChatTemplate, type ChatTemplateName, type ChatRenderOptions, type EncodedChat,
} from './chat-template.ts';
