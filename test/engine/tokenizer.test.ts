/**
 * Tokenizer tests: byte alphabet, pre-tokenizers, trainer, encode/decode round trips, special tokens, JSON and HF
 * forms, streaming decode, chat templates. Trains on the law texts in ../shared/data/laws plus English from
 * ../shared/data/llamafactory/c4_demo.jsonl (the shared folder sits beside the repository); skipped without them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { needsShared, shared } from '../shared-data.ts';
import {
  BYTE_TO_CHAR, bytesToSymbols, symbolsToBytes, preSplit, ggufPreName, preFromGgufName, Tokenizer, trainBpe,
  StreamDecoder, toHfTokenizerJson, fromHfTokenizerJson, encodeChat, renderChatText, chatStopIds, CHAT_TEMPLATES,
  IGNORE_INDEX, CHATML_SPECIAL_TOKENS, toGgufTokenizerMetadata, fromGgufTokenizerMetadata, type ChatMessage, type HfTokenizerJson, type TokenizerJSON,
} from '../../src/engine/tokenizer/tokenizer-exports.ts';

// Every test but the first trains on or samples the shared texts: without them it is skipped, naming the file.
const NEED = needsShared('laws', 'llamafactory/c4_demo.jsonl');
const LAWS_DIR = shared('laws');
const laws = NEED.skip ? [] : readdirSync(LAWS_DIR).filter((f) => f.endsWith('.md')).sort().map((f) => readFileSync(join(LAWS_DIR, f), 'utf8'));
const english: string[] = NEED.skip ? [] : readFileSync(shared('llamafactory/c4_demo.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { text: string }).text);
const corpus = [...laws, ...english];
const corpusBytes = corpus.reduce((n, t) => n + Buffer.byteLength(t), 0);

const VOCAB = 4096;
const t0 = performance.now();
// Read only by the tests that run when the shared texts are there.
const tok = NEED.skip ? (null as unknown as Tokenizer) : trainBpe(corpus, { vocabSize: VOCAB, specialTokens: [...CHATML_SPECIAL_TOKENS, '<|pad|>'], eos: '<|im_end|>', pad: '<|pad|>' });
const trainMs = performance.now() - t0;

const SAMPLES: Record<string, string> = {
  chinese: laws[0]?.slice(0, 2000) ?? '',
  english: english[0]?.slice(0, 2000) ?? '',
  code: 'function f(x) {\n\tif (x > 0) {\r\n\t\treturn x * 2;   \n\t}\r\n  return -1; // trailing   \n}\n\n\n',
  emoji: '👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 🇨🇳🇺🇸 flags, 👍🏽 skin tone, ❤️ e\u0301 (combining)',
  mixed: '根据《保险法》第六十五条, the insurer may pay the third party directly. 金额: 1234567.89元 (约 $170k)\r\n',
  whitespace: ' \u00A0\u3000\t\n\r\n\u2028 \uFEFFx  \n  ',
  digits: '0123456789 ١٢٣ ½ 三百',
};

test('byte alphabet: a bijection on 256 bytes with GPT-2 landmarks', () => {
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  assert.equal(BYTE_TO_CHAR[0x20], '\u0120'); // 'Ġ'
  assert.equal(BYTE_TO_CHAR[0x0a], '\u010a'); // 'Ċ'
  assert.equal(BYTE_TO_CHAR[0x41], 'A');
  assert.equal(BYTE_TO_CHAR[0xad], '\u0143'); // the last non-printable byte gets the last extra code point
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(symbolsToBytes(bytesToSymbols(all)), all);
  assert.equal(symbolsToBytes('a b'), null); // a real space is not in the alphabet
});

test('pre-tokenizers: pieces cover the text; qwen2 digits one by one, llama3 by three; contractions any case', NEED, () => {
  for (const pre of ['qwen2', 'llama3', 'gpt2'] as const) {
    for (const s of Object.values(SAMPLES)) assert.equal(preSplit(s, pre).join(''), s);
  }
  assert.deepEqual(preSplit('abc 12345', 'qwen2'), ['abc', ' ', '1', '2', '3', '4', '5']);
  assert.deepEqual(preSplit('abc 12345', 'llama3'), ['abc', ' ', '123', '45']);
  assert.deepEqual(preSplit('abc 12345', 'gpt2'), ['abc', ' 12345']);
  assert.deepEqual(preSplit("I'LL we'Re", 'qwen2'), ['I', "'LL", ' we', "'Re"]);
  assert.deepEqual(preSplit('保险法，第二条。', 'qwen2'), ['保险法', '，第二条', '。']);
  assert.deepEqual(preSplit('a\n\n  b', 'qwen2'), ['a', '\n\n', ' ', ' b']);
  assert.equal(ggufPreName('llama3'), 'llama-bpe');
  for (const pre of ['qwen2', 'llama3', 'gpt2'] as const) assert.equal(preFromGgufName(ggufPreName(pre)), pre);
});

test('trainer: exact vocab size, byte symbols first, specials last, timing', NEED, () => {
  assert.equal(tok.vocabSize, VOCAB);
  assert.equal(tok.mergeCount, VOCAB - 256 - 4);
  for (let b = 0; b < 256; b++) {
    assert.equal(tok.byteId(b), b);
    assert.equal(tok.idToToken(b), BYTE_TO_CHAR[b]);
  }
  assert.deepEqual([...tok.specialTokens.values()], [VOCAB - 4, VOCAB - 3, VOCAB - 2, VOCAB - 1]);
  assert.equal(tok.specialId('<|im_end|>'), VOCAB - 2);
  assert.equal(tok.eosId, VOCAB - 2);
  assert.equal(tok.padId, VOCAB - 1);
  assert.equal(tok.bosId, null);
  assert.throws(() => tok.specialId('<|nope|>'), /no special token/);
  console.log(`trainBpe: ${(corpusBytes / 1e6).toFixed(2)} MB -> ${VOCAB} tokens in ${(trainMs / 1000).toFixed(2)} s ` +
    `(${(corpusBytes / 1e6 / (trainMs / 1000)).toFixed(2)} MB/s)`);
});

test('trainer: deterministic', NEED, () => {
  const texts = [...laws, ...english.slice(0, 200)];
  const a = trainBpe(texts, { vocabSize: 1500, specialTokens: ['<|endoftext|>'] });
  const b = trainBpe(texts, { vocabSize: 1500, specialTokens: ['<|endoftext|>'] });
  assert.deepEqual(a.toJSON(), b.toJSON());
});

test('trainer: special-token text in the corpus is cut out, never merged', NEED, () => {
  const t = trainBpe(['<|im_end|>'.repeat(50), 'ab ab ab'], { vocabSize: 260, specialTokens: ['<|im_end|>'] });
  // only "a b" and "Ġ ab" (pieces "ab", " ab", " ab"); nothing learned from the special token's text
  assert.deepEqual(t.toJSON().merges, ['a b', '\u0120 ab']);
});

test('trainer: common Chinese words become single tokens', NEED, () => {
  for (const w of ['保险', '消费者', '合同', '人民', '规定', '经营者', '保险人', '中华人民共和国']) {
    assert.equal(tok.encode(w).length, 1, `${w} -> ${tok.encode(w)}`);
  }
  // laws alone (88 KB) run out of pairs seen twice before 8192 tokens: fewer tokens, never more
  const small = trainBpe(laws, { vocabSize: 8192 });
  assert.ok(small.vocabSize < 8192 && small.vocabSize > 1000);
  assert.throws(() => trainBpe(laws, { vocabSize: 200 }), /vocabSize/);
});

test('round trip: decode(encode(x)) === x', NEED, () => {
  for (const [name, s] of Object.entries(SAMPLES)) {
    assert.equal(tok.decode(tok.encode(s)), s, name);
    assert.equal(tok.decode(tok.encode(s, { allowSpecial: true })), s, name);
  }
  for (const t of corpus.slice(0, 50)) assert.equal(tok.decode(tok.encode(t)), t);
  assert.deepEqual(tok.encode(''), []);
  assert.equal(tok.decode([]), '');
  assert.equal(tok.decode(tok.encode('\uFEFFbom first')), '\uFEFFbom first'); // a leading BOM survives decode
});

test('lone surrogates are encoded as U+FFFD', NEED, () => {
  const s = 'a\uD800b\uDC00c\uD83D';
  assert.deepEqual(tok.encode(s), tok.encode('a\uFFFDb\uFFFDc\uFFFD'));
  assert.equal(tok.decode(tok.encode(s)), 'a\uFFFDb\uFFFDc\uFFFD');
  assert.equal(tok.decode(tok.encode('ok \uD83D\uDE00')), 'ok \uD83D\uDE00'); // a valid pair is untouched
});

test('special tokens: atomic with allowSpecial, plain text without', NEED, () => {
  const s = 'hi<|im_end|>\n<|im_start|>user';
  const withSpecial = tok.encode(s, { allowSpecial: true });
  assert.ok(withSpecial.includes(tok.specialId('<|im_end|>')));
  assert.ok(withSpecial.includes(tok.specialId('<|im_start|>')));
  assert.deepEqual(tok.encode('<|endoftext|>', { allowSpecial: true }), [tok.specialId('<|endoftext|>')]);
  const plain = tok.encode(s);
  for (const id of tok.specialTokens.values()) assert.ok(!plain.includes(id));
  assert.equal(tok.decode(plain), s);
  assert.equal(tok.decode(withSpecial), s);
  assert.equal(tok.decode(withSpecial, { skipSpecial: true }), 'hi\nuser');
  assert.deepEqual(tok.encode(s), tok.encode(s, { allowSpecial: false }));
  assert.throws(() => tok.encode('x', { addBos: true }), /BOS/);
});

test('toJSON/fromJSON: same ids, stable JSON, validation', NEED, () => {
  const json = JSON.parse(JSON.stringify(tok.toJSON())) as TokenizerJSON;
  const back = Tokenizer.fromJSON(json);
  for (const s of [...Object.values(SAMPLES), ...corpus.slice(0, 20)]) {
    assert.deepEqual(back.encode(s), tok.encode(s));
    assert.deepEqual(back.encode(s, { allowSpecial: true }), tok.encode(s, { allowSpecial: true }));
  }
  assert.deepEqual(back.toJSON(), tok.toJSON());
  assert.equal(back.eosId, tok.eosId);
  assert.throws(() => Tokenizer.fromJSON({ ...json, vocab: json.vocab.slice(1) }), /byte symbol|not vocab|merge/);
  assert.throws(() => Tokenizer.fromJSON({ ...json, merges: ['zz qq'] }), /not in the vocab/);
  assert.throws(() => Tokenizer.fromJSON({ ...json, special: { '<|x|>': 3 } }), /is not vocab\[3\]/);
});

/** GPT-2's original encoder.py loop: merge every occurrence of the lowest-ranked pair, repeat. */
function referenceBpe(t: Tokenizer, piece: string): number[] {
  const ranks = new Map(t.toJSON().merges.map((m, r) => [m, r] as const));
  let word = [...bytesToSymbols(new TextEncoder().encode(piece))];
  for (;;) {
    let best = -1, bestRank = Infinity;
    for (let i = 0; i + 1 < word.length; i++) {
      const r = ranks.get(`${word[i]} ${word[i + 1]}`);
      if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
    }
    if (best < 0) break;
    const [a, b] = [word[best], word[best + 1]];
    const next: string[] = [];
    for (let i = 0; i < word.length; ) {
      if (i + 1 < word.length && word[i] === a && word[i + 1] === b) { next.push(a + b); i += 2; } else next.push(word[i++]);
    }
    word = next;
  }
  return word.map((s) => t.tokenToId(s)!);
}

test('encode matches the reference BPE loop piece by piece', NEED, () => {
  const pieces = new Set<string>();
  for (const s of [...Object.values(SAMPLES), laws[1].slice(0, 5000), english.slice(0, 30).join(' ')]) {
    for (const p of preSplit(s, 'qwen2')) pieces.add(p);
  }
  pieces.add('aaaaaaa').add('ababab').add('的的的的的');
  for (const p of pieces) assert.deepEqual(tok.encode(p), referenceBpe(tok, p), JSON.stringify(p));
});

test('HF tokenizer.json: export then import gives the same ids', NEED, () => {
  const hf = JSON.parse(JSON.stringify(toHfTokenizerJson(tok))) as HfTokenizerJson;
  assert.equal(hf.model.type, 'BPE');
  assert.equal(Object.keys(hf.model.vocab).length, VOCAB - 4);
  assert.equal(hf.added_tokens!.length, 4);
  assert.ok(hf.added_tokens!.every((t) => t.special));
  assert.equal(hf.decoder!.type, 'ByteLevel');
  const back = fromHfTokenizerJson(hf, { eos_token: '<|im_end|>', pad_token: { content: '<|pad|>' } });
  for (const s of Object.values(SAMPLES)) {
    assert.deepEqual(back.encode(s, { allowSpecial: true }), tok.encode(s, { allowSpecial: true }));
  }
  assert.deepEqual(back.toJSON(), tok.toJSON());
});

test('HF tokenizer.json: a Qwen2-style file with array merges, NFC, added and special tokens', NEED, () => {
  const sym = (s: string) => bytesToSymbols(new TextEncoder().encode(s));
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => (vocab[c] = 255 - b)); // byte symbols in a non-byte order, as real files have
  const merges: [string, string][] = [[sym('h'), sym('i')], [sym(' '), sym('hi')], [sym('é')[0], sym('é')[1]]];
  merges.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
  const hf: HfTokenizerJson = {
    added_tokens: [
      { id: 259, content: '<|endoftext|>', special: true },
      { id: 260, content: '<tool_call>', special: false },
    ],
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: toHfTokenizerJson(tok).pre_tokenizer!.pretokenizers![0].pattern!.Regex }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ] },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges },
  };
  const t = fromHfTokenizerJson(hf, { eos_token: '<|endoftext|>' });
  assert.equal(t.pre, 'qwen2');
  assert.equal(t.vocabSize, 261);
  assert.deepEqual(t.encode('hi hi'), [256, 257]);
  assert.deepEqual(t.encode('e\u0301'), [258]); // NFC: e + combining acute -> é, one merged token
  assert.deepEqual(t.encode('<tool_call>x'), [260, 255 - 0x78]); // added tokens are always atomic
  assert.deepEqual(t.encode('<|endoftext|>', { allowSpecial: true }), [259]);
  assert.equal(t.decode([259, 260, 256]), '<|endoftext|><tool_call>hi');
  assert.equal(t.decode([259, 260, 256], { skipSpecial: true }), '<tool_call>hi');
  assert.equal(t.eosId, 259);
  assert.deepEqual(fromHfTokenizerJson(toHfTokenizerJson(t)).encode('hi <tool_call>'), t.encode('hi <tool_call>'));
  assert.throws(() => fromHfTokenizerJson({ ...hf, model: { ...hf.model, byte_fallback: true } }), /byte_fallback/);
  assert.throws(() => fromHfTokenizerJson({ ...hf, pre_tokenizer: { type: 'Metaspace' } }), /Metaspace/);
  assert.throws(() => fromHfTokenizerJson({ ...hf, added_tokens: [{ id: 300, content: '<x>', special: true }] }), /no token has id/);
});

test('GGUF metadata: token types and ids, and back', NEED, () => {
  const meta = toGgufTokenizerMetadata(tok, { chatTemplate: CHAT_TEMPLATES.chatml.jinja });
  assert.equal(meta['tokenizer.ggml.model'], 'gpt2');
  assert.equal(meta['tokenizer.ggml.pre'], 'qwen2');
  const types = meta['tokenizer.ggml.token_type'] as Int32Array;
  assert.equal(types[tok.specialId('<|im_end|>')], 3);
  assert.equal(types[0], 1);
  assert.equal(meta['tokenizer.ggml.eos_token_id'], tok.eosId);
  assert.equal(meta['tokenizer.ggml.add_bos_token'], false);
  const back = fromGgufTokenizerMetadata(meta);
  assert.deepEqual(back.toJSON(), tok.toJSON());
  assert.throws(() => fromGgufTokenizerMetadata({ ...meta, 'tokenizer.ggml.model': 'llama' }), /gpt2/);
});

test('StreamDecoder: id by id gives decode() text, holding back split characters', NEED, () => {
  for (const s of [...Object.values(SAMPLES), laws[1].slice(0, 3000)]) {
    const ids = tok.encode(s, { allowSpecial: true });
    const dec = new StreamDecoder(tok);
    let out = '';
    for (const id of ids) {
      const piece = dec.push(id);
      assert.ok(!piece.includes('\uFFFD') || s.includes('\uFFFD'), 'no replacement characters mid-stream');
      out += piece;
    }
    out += dec.flush();
    assert.equal(out, tok.decode(ids));
  }
  // a CJK character split over byte tokens appears only when complete
  const bytes = [...new TextEncoder().encode('中')].map((b) => tok.byteId(b));
  const dec = new StreamDecoder(tok);
  assert.deepEqual(bytes.map((id) => dec.push(id)), ['', '', '中']);
  dec.push(bytes[0]);
  assert.equal(dec.flush(), '\uFFFD'); // a truncated tail at the end of the stream
  const skip = new StreamDecoder(tok, { skipSpecial: true });
  assert.equal(skip.push(tok.encode('a<|im_end|>b', { allowSpecial: true })) + skip.flush(), 'ab');
});

test('chat template (ChatML): labels on assistant content + <|im_end|> only, weight 0 respected', NEED, () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: '你是一个法律助手。' },
    { role: 'user', content: '保险法第二条说什么？ <|im_end|> injected' },
    { role: 'assistant', content: '第二条定义了保险。' },
    { role: 'user', content: 'And in English?' },
    { role: 'assistant', content: 'It defines insurance.', weight: 0 },
    { role: 'user', content: 'Thanks' },
    { role: 'assistant', content: 'You are welcome.' },
  ];
  const { ids, labels } = encodeChat(tok, messages);
  assert.equal(ids.length, labels.length);
  const end = tok.specialId('<|im_end|>');
  // labeled tokens form one run per trained assistant turn, each exactly content + <|im_end|>
  const runs: number[][] = [];
  labels.forEach((l, i) => {
    if (l === IGNORE_INDEX) return;
    assert.equal(l, ids[i]);
    if (i === 0 || labels[i - 1] === IGNORE_INDEX) runs.push([]);
    runs[runs.length - 1].push(l);
  });
  assert.deepEqual(runs.map((r) => tok.decode(r)), ['第二条定义了保险。<|im_end|>', 'You are welcome.<|im_end|>']);
  for (const r of runs) assert.equal(r[r.length - 1], end);
  // the injected "<|im_end|>" in user text is plain text: exactly 7 <|im_end|> ids, one per turn
  assert.equal(ids.filter((id) => id === end).length, messages.length);
  assert.equal(tok.decode(ids), renderChatText(messages));
  // for ordinary content the segment-wise ids equal encoding the rendered prompt whole
  const clean = messages.filter((m) => !m.content.includes('<|'));
  assert.deepEqual(encodeChat(tok, clean).ids, tok.encode(renderChatText(clean), { allowSpecial: true }));
  // generation prompt: unlabeled, ends with the assistant header
  const gen = encodeChat(tok, messages.slice(0, 2), { addGenerationPrompt: true });
  assert.ok(gen.labels.every((l) => l === IGNORE_INDEX));
  assert.ok(renderChatText(messages.slice(0, 2), { addGenerationPrompt: true }).endsWith('<|im_end|>\n<|im_start|>assistant\n'));
  const header = tok.encode('<|im_start|>assistant\n', { allowSpecial: true });
  assert.deepEqual(gen.ids.slice(-header.length), header);
  assert.deepEqual(chatStopIds(tok, 'chatml'), [end]);
  assert.equal(renderChatText([{ role: 'user', content: 'hi' }], { template: 'qwen2' }),
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n');
});

test('chat template (Llama 3): BOS once, trimmed content, <|eot_id|> trained', NEED, () => {
  const llamaSpecials = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
  const t = trainBpe([...laws, ...english.slice(0, 100)], { vocabSize: 1024, pre: 'llama3', specialTokens: llamaSpecials, bos: '<|begin_of_text|>', eos: '<|eot_id|>' });
  const messages: ChatMessage[] = [{ role: 'user', content: '  hello  ' }, { role: 'assistant', content: ' 你好 \n' }];
  const text = renderChatText(messages, { template: 'llama3' });
  assert.equal(text, '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|>' +
    '<|start_header_id|>assistant<|end_header_id|>\n\n你好<|eot_id|>');
  const { ids, labels } = encodeChat(t, messages, { template: 'llama3' });
  assert.equal(ids[0], t.bosId);
  assert.deepEqual(ids, t.encode(text, { allowSpecial: true }));
  assert.equal(t.decode(labels.filter((l) => l !== IGNORE_INDEX)), '你好<|eot_id|>');
  assert.ok(CHAT_TEMPLATES.llama3.jinja.includes("| trim"));
  assert.throws(() => encodeChat(tok, messages, { template: 'llama3' }), /<\|begin_of_text\|>/);
});

test('encode: the warm cache gives the cold ids; the corpus compresses; speed printed, not asserted', NEED, () => {
  const fresh = Tokenizer.fromJSON(tok.toJSON());
  let n = 0;
  const c0 = performance.now();
  const cold = corpus.map((s) => fresh.encode(s));
  const coldMs = performance.now() - c0;
  for (const ids of cold) n += ids.length;
  const w0 = performance.now();
  const warm = corpus.map((s) => fresh.encode(s));
  const warmMs = performance.now() - w0;
  assert.deepEqual(warm, cold);
  const bytesPerToken = corpusBytes / n;
  // Byte-level BPE with 4,096 tokens trained on this very corpus: well above one byte per token.
  assert.ok(bytesPerToken > 3, `${bytesPerToken.toFixed(2)} bytes/token`);
  console.log(`encode: ${n} tokens (${bytesPerToken.toFixed(2)} bytes/token); ` +
    `cold cache ${(n / (coldMs / 1000) / 1e6).toFixed(2)} M tokens/s, warm ${(n / (warmMs / 1000) / 1e6).toFixed(2)} M tokens/s`);
});
