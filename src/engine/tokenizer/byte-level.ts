/**
 * GPT-2 byte-level alphabet: a bijection between the 256 byte values and 256 printable Unicode characters.
 *
 * Owns: the `bytes_to_unicode` table of GPT-2 (the one HF `ByteLevel` and llama.cpp's `unicode_byte_to_utf8` use):
 * the bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to the character with the same code point; the other 68 bytes
 * (controls, space, 0x7F-0xA0, 0xAD) map, in increasing byte order, to U+0100, U+0101, ... So space is 'Ġ' (U+0120),
 * '\n' is 'Ċ' (U+010A), '\t' is 'ĉ' (U+0109). A BPE token is a string over this alphabet; it never contains a real
 * space, which is why merges can be written as "a b".
 *
 * Guarantees: `bytesToSymbols` and `symbolsToBytes` are exact inverses on every byte sequence. Byte-level tokenizers
 * built here give byte b the id b (ids 0..255 are the 256 byte symbols in byte order); imported tokenizers may order
 * them differently, so code that needs a byte's id asks the tokenizer, never assumes b.
 */

/** BYTE_TO_CHAR[b]: the alphabet character (a one-code-unit string) that stands for byte b. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
})();

/** CHAR_TO_BYTE[c]: the byte for alphabet code unit c, or -1 where c is not in the alphabet (c < 0x144). */
const CHAR_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x144).fill(-1);
  for (let b = 0; b < 256; b++) table[BYTE_TO_CHAR[b].charCodeAt(0)] = b;
  return table;
})();

/** The byte for one alphabet character code, or -1 when the code is not in the alphabet. */
export function charCodeToByte(code: number): number {
  return code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code] : -1;
}

/** Bytes -> alphabet string (one character per byte). */
export function bytesToSymbols(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** Alphabet string -> bytes, or null when the string has a character outside the alphabet (not a byte-level token). */
export function symbolsToBytes(symbols: string): Uint8Array | null {
  const out = new Uint8Array(symbols.length);
  for (let i = 0; i < symbols.length; i++) {
    const b = charCodeToByte(symbols.charCodeAt(i));
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string; lone surrogates become U+FFFD (EF BF BD), as TextEncoder defines. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

/** The string with every lone surrogate replaced by U+FFFD (what `String.prototype.toWellFormed` does). */
export function toWellFormed(text: string): string {
  return ANY_SURROGATE.test(text) ? text.replace(LONE_SURROGATE, '\uFFFD') : text;
}
