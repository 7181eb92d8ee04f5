/**
 * Incremental detokenization for streaming generation.
 *
 * Owns: `StreamDecoder`. One token can end in the middle of a UTF-8 sequence (a CJK character is 3 bytes, an emoji
 * 4, and byte-level BPE splits them freely), so text is released only up to the last complete character; the held
 * bytes wait for the next token.
 *
 * Guarantees: for any id sequence, the concatenation of every `push` result and the final `flush` equals
 * `tokenizer.decode(ids, opts)`, whether ids come one by one or in batches (WHATWG streaming UTF-8 decoding gives the
 * same code points as one-shot decoding, and a leading BOM is kept as decode keeps it). Bytes that can never complete
 * become U+FFFD as soon as that is certain; `flush` turns a truncated tail into U+FFFD and resets the decoder.
 */
import type { DecodeOptions, Tokenizer } from './tokenizer.ts';

export class StreamDecoder {
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly opts: DecodeOptions = {},
  ) {}

  /** Feed one id or several; returns the text that is now complete (possibly ''). */
  push(ids: number | ArrayLike<number>): string {
    if (typeof ids === 'number') return this.pushOne(ids);
    let out = '';
    for (let i = 0; i < ids.length; i++) out += this.pushOne(ids[i]);
    return out;
  }

  /** End of stream: returns what is held back (an incomplete sequence as U+FFFD) and starts over. */
  flush(): string {
    const out = this.decoder.decode();
    this.decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    return out;
  }

  private pushOne(id: number): string {
    if (this.opts.skipSpecial && this.tokenizer.isSpecial(id)) return '';
    return this.decoder.decode(this.tokenizer.tokenBytes(id), { stream: true });
  }
}
